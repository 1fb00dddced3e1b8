package io.shardline.router.jdbc;

import io.shardline.router.SqlStates;
import io.shardline.router.route.RoutingState;
import io.shardline.router.sql.Plan;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.RouterRegistration;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperMoveWatcher;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.SQLException;
import java.util.List;
import java.util.function.Supplier;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The router's side of a shard move's cutover. It follows {@code moves/}, holds writes whose shard key falls in
 * a range being moved while the move is fenced (and until this router routes by the move's new ring), and
 * acknowledges each fence in its {@code routers/{id}} node. When its ZooKeeper session is suspended or lost it
 * fails closed: writes to sharded tables wait (then fail) until it is connected again with the current ring.
 *
 * <p>Cost when no move runs: one volatile read per keyed write.
 */
final class MoveFences implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(MoveFences.class);

    private final ZooKeeperMoveWatcher watcher;
    private final RouterRegistration registration;
    private final Supplier<RoutingState> routing;
    private final CuratorFramework client;
    private final String ringPath;
    private volatile boolean disconnected;
    /** The ring version ZooKeeper had when this router last reconnected: writes wait until it routes by it. */
    private volatile long requiredRingVersion;

    MoveFences(CuratorFramework client, String cluster, Supplier<RoutingState> routing) {
        this.client = client;
        this.ringPath = ZooKeeperTopologyStore.clusterPath(cluster) + "/ring";
        this.routing = routing;
        this.registration = new RouterRegistration(client, cluster);
        this.watcher = new ZooKeeperMoveWatcher(client, cluster, this::publishState);
        client.getConnectionStateListenable().addListener((c, state) -> onConnectionState(state));
    }

    /** This router's id in ZooKeeper {@code routers/}. */
    String routerId() {
        return registration.id();
    }

    void start() {
        registration.start();
        watcher.start();
    }

    private void onConnectionState(ConnectionState state) {
        if (!state.isConnected()) {
            if (!disconnected) {
                LOG.warn("ZooKeeper connection {}: writes to sharded tables wait until it is back", state);
            }
            disconnected = true;
        } else if (disconnected) {
            // a move may have switched while this router was away, and its caches resync in the background:
            // writes resume once it routes by a ring at least as new as the one ZooKeeper has now
            try {
                client.getData()
                        .inBackground((c, event) -> {
                            if (event.getResultCode() != KeeperException.Code.OK.intValue()) {
                                LOG.warn(
                                        "reading {} after reconnecting failed ({}): sharded writes still wait",
                                        ringPath,
                                        KeeperException.Code.get(event.getResultCode()));
                                return;
                            }
                            requiredRingVersion = TopologyCodec.ringFromJson(event.getData(), ringPath)
                                    .version();
                            disconnected = false;
                            LOG.info(
                                    "ZooKeeper connection {}: writes to sharded tables resume on ring version {} or later",
                                    state,
                                    requiredRingVersion);
                            publishState();
                        })
                        .forPath(ringPath);
            } catch (Exception e) {
                LOG.warn("reading {} after reconnecting failed: {}; sharded writes still wait", ringPath, e.toString());
            }
        }
    }

    /** Tells ZooKeeper this router's ring version and the fences it holds (its acknowledgement). */
    void publishState() {
        List<String> held = watcher.active().stream()
                .filter(m -> m.state() == MoveState.FENCED || m.state() == MoveState.SWITCHED)
                .map(MoveRecord::id)
                .toList();
        registration.update(routing.get().snapshot().ring().version(), held);
    }

    /** The position the replicas of {@code shard} must have replayed since a move made it a target (0: none). */
    long cutoverLsn(int shard) {
        return watcher.cutoverLsn(shard);
    }

    /** Whether a move is past planning: DDL on sharded tables would break its logical replication. */
    String activeMove() {
        List<MoveRecord> active = watcher.active();
        return active.stream()
                .filter(m -> m.state() != MoveState.PLANNED)
                .map(MoveRecord::id)
                .findFirst()
                .orElse(null);
    }

    /**
     * Waits while a write of {@code plan} with these parameters must not run: its key is in a fenced range, or
     * ZooKeeper is unreachable. Returns at once when no move runs.
     *
     * @throws SQLException 40001 after {@code waitMs}, saying why and that the write can be retried
     */
    void awaitWritable(Plan plan, Object[] parameters, long waitMs) throws SQLException {
        if (!disconnected
                && watcher.active().isEmpty()
                && routing.get().snapshot().ring().version() >= requiredRingVersion) {
            return;
        }
        long deadline = System.nanoTime() + waitMs * 1_000_000;
        while (true) {
            String why = blockedBy(plan, parameters);
            if (why == null) {
                return;
            }
            if (System.nanoTime() - deadline >= 0) {
                throw new SQLException(
                        why + "; the write was held " + waitMs + " ms (fenceWaitMs) and not run: retry it",
                        SqlStates.RETRY_WRITE);
            }
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SQLException("interrupted while a shard move held this write", "57014", e);
            }
        }
    }

    private String blockedBy(Plan plan, Object[] parameters) throws SQLException {
        if (disconnected) {
            return "this router lost its ZooKeeper connection and cannot know the current ring";
        }
        RoutingState r = routing.get();
        long ringVersion = r.snapshot().ring().version();
        if (ringVersion < requiredRingVersion) {
            return "this router reconnected to ZooKeeper and waits for ring version " + requiredRingVersion
                    + " (it routes by " + ringVersion + ")";
        }
        for (MoveRecord move : watcher.active()) {
            boolean holding = move.state() == MoveState.FENCED
                    || (move.state().ordinal() >= MoveState.SWITCHED.ordinal() && ringVersion < move.toRingVersion());
            if (holding && r.anyKeyHash(plan, parameters, move::moves)) {
                return "shard move " + move.id() + " is switching this key's range to another shard";
            }
        }
        return null;
    }

    @Override
    public void close() throws Exception {
        watcher.close();
        registration.close();
    }
}
