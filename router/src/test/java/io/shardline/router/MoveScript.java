package io.shardline.router;

import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.RouterRegistration;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperMoveWatcher;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.util.List;
import java.util.Map;
import org.apache.curator.framework.CuratorFramework;

/**
 * Plays the rebalancer's part of a move by hand, for tests of the driver's side: writes move records and rings to a
 * cluster's ZooKeeper and reads the routers' acknowledgements.
 */
public final class MoveScript {
    private final CuratorFramework client;
    private final String root;

    public MoveScript(CuratorFramework client, String cluster) {
        this.client = client;
        this.root = ZooKeeperTopologyStore.clusterPath(cluster);
    }

    /** The ring in ZooKeeper now. */
    public HashRing ring() throws Exception {
        return TopologyCodec.ringFromJson(client.getData().forPath(root + "/ring"), "ring");
    }

    /** Writes {@code ring} with the next version. */
    public void publish(HashRing ring) throws Exception {
        long version = ring().version() + 1;
        long[] starts = ring.ranges().stream().mapToLong(HashRing.Range::start).toArray();
        int[] owners = ring.ranges().stream().mapToInt(HashRing.Range::shard).toArray();
        client.setData().forPath(root + "/ring", TopologyCodec.ringToJson(HashRing.of(version, starts, owners)));
    }

    /** The ring range holding {@code key}'s hash, as {@code [start, end]}. */
    public long[] rangeOf(long key) throws Exception {
        long hash = KeyHash.hashInt8(key);
        HashRing.Range r = ring().ranges().stream()
                .filter(x -> x.contains(hash))
                .findFirst()
                .orElseThrow();
        return new long[] {r.start(), r.endInclusive()};
    }

    /** The current ring, with the next version and the range holding {@code hash} given to {@code newOwner}. */
    public HashRing moved(long hash, int newOwner) throws Exception {
        HashRing current = ring();
        List<HashRing.Range> ranges = current.ranges();
        long[] starts = new long[ranges.size()];
        int[] owners = new int[ranges.size()];
        for (int i = 0; i < ranges.size(); i++) {
            starts[i] = ranges.get(i).start();
            owners[i] = ranges.get(i).contains(hash) ? newOwner : ranges.get(i).shard();
        }
        return HashRing.of(current.version() + 1, starts, owners);
    }

    /** Publishes {@link #moved}: the cutover of that range. */
    public HashRing switchRange(long hash, int newOwner) throws Exception {
        HashRing next = moved(hash, newOwner);
        client.setData().forPath(root + "/ring", TopologyCodec.ringToJson(next));
        return next;
    }

    /**
     * Writes move {@code id} moving {@code range} ({@code [start, end]}) from {@code from} to {@code to} in {@code
     * state}: a FENCED move switches to the next ring version, a later one has switched to the current one.
     */
    public MoveRecord writeMove(String id, MoveState state, long[] range, int from, int to) throws Exception {
        return writeMove(id, state, range, from, to, Map.of());
    }

    /** As {@link #writeMove(String, MoveState, long[], int, int)}, with the targets' cutover positions. */
    public MoveRecord writeMove(
            String id, MoveState state, long[] range, int from, int to, Map<Integer, String> cutover) throws Exception {
        return writeMove(id, state, range, from, to, cutover, ring().version());
    }

    /**
     * As {@link #writeMove(String, MoveState, long[], int, int, Map)}, relative to ring version {@code version}
     * instead of the current one.
     */
    public MoveRecord writeMove(
            String id, MoveState state, long[] range, int from, int to, Map<Integer, String> cutover, long version)
            throws Exception {
        boolean before = state.ordinal() < MoveState.SWITCHED.ordinal();
        MoveRecord move = new MoveRecord(
                id,
                1,
                state,
                before ? version : version - 1,
                before ? version + 1 : version,
                List.of(new MoveRecord.Transfer(from, to, List.of(range))),
                cutover,
                MoveRecord.Progress.NONE,
                null,
                System.currentTimeMillis(),
                System.currentTimeMillis());
        String path = root + "/moves/" + id;
        if (client.checkExists().forPath(path) == null) {
            client.create().creatingParentsIfNeeded().forPath(path, ZooKeeperMoveWatcher.toJson(move));
        } else {
            client.setData().forPath(path, ZooKeeperMoveWatcher.toJson(move));
        }
        return move;
    }

    /** Removes every move record. */
    public void deleteMoves() throws Exception {
        if (client.checkExists().forPath(root + "/moves") != null) {
            for (String move : client.getChildren().forPath(root + "/moves")) {
                client.delete().forPath(root + "/moves/" + move);
            }
        }
    }

    /** How many routers acknowledge holding the fence of {@code moveId}. */
    public long routersHolding(String moveId) throws Exception {
        if (client.checkExists().forPath(root + "/routers") == null) {
            return 0;
        }
        long holding = 0;
        for (String child : client.getChildren().forPath(root + "/routers")) {
            byte[] data = client.getData().forPath(root + "/routers/" + child);
            if (RouterRegistration.read(data, child).holdsAnyFenceOf(moveId)) {
                holding++;
            }
        }
        return holding;
    }

    /** How many routers acknowledge this very fence attempt of {@code move} ({@link RouterRegistration#fenceToken}). */
    public long routersAcknowledging(MoveRecord move) throws Exception {
        if (client.checkExists().forPath(root + "/routers") == null) {
            return 0;
        }
        long acks = 0;
        for (String child : client.getChildren().forPath(root + "/routers")) {
            byte[] data = client.getData().forPath(root + "/routers/" + child);
            if (RouterRegistration.read(data, child).fencesHeld().contains(RouterRegistration.fenceToken(move))) {
                acks++;
            }
        }
        return acks;
    }

    /** How many routers are registered. */
    public int routers() throws Exception {
        return client.checkExists().forPath(root + "/routers") == null
                ? 0
                : client.getChildren().forPath(root + "/routers").size();
    }
}
