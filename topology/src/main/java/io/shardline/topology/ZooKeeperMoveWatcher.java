package io.shardline.topology;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.json.JsonMapper;

/**
 * Follows {@code /shardline/clusters/<cluster>/moves/*}: the moves that are not over, for the router's
 * fences, and the cutover positions of every move's targets. {@link #onChange} is told after every change (and
 * threads waiting on this object are notified). Lifecycle as Curator's recipes.
 *
 * <p>The cache may lag ZooKeeper (after a reconnect it re-reads in the background); {@link #reloadFromServer()} reads
 * every move directly, and of the two views each move's newer record (by node version) wins, so a stale cache never
 * hides a state read since.
 */
public final class ZooKeeperMoveWatcher implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ZooKeeperMoveWatcher.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();
    /** {@code moves/{id}-abort}: an operator's request to abort move {@code id}. */
    public static final String ABORT_SUFFIX = "-abort";

    /** A move's record and the version of its node. */
    private record Versioned(MoveRecord move, int version) {}

    private final CuratorFramework client;
    private final CuratorCache cache;
    private final String path;
    private final Runnable onChange;
    /** The moves as last read straight from ZooKeeper, by node path. */
    private volatile Map<String, Versioned> reloaded = Map.of();

    private volatile List<MoveRecord> active = List.of();
    private volatile MoveRecord latest;
    private volatile Map<Integer, Long> cutoverLsn = Map.of();
    private volatile long switchedRingVersion;
    private volatile Map<Integer, Long> awaitedSwitch = Map.of();
    private volatile boolean initialized;

    public ZooKeeperMoveWatcher(CuratorFramework client, String cluster, Runnable onChange) {
        this.client = client;
        this.path = ZooKeeperTopologyStore.clusterPath(cluster) + "/moves";
        this.cache = CuratorCache.build(client, path);
        this.onChange = onChange;
    }

    public void start() {
        cache.listenable().addListener(new CuratorCacheListener() {
            @Override
            public void event(Type type, ChildData oldData, ChildData data) {
                if (type == Type.NODE_DELETED && oldData != null && reloaded.containsKey(oldData.getPath())) {
                    Map<String, Versioned> rest = new HashMap<>(reloaded);
                    rest.remove(oldData.getPath());
                    reloaded = Map.copyOf(rest);
                }
                if (initialized) {
                    refresh();
                }
            }

            @Override
            public void initialized() {
                initialized = true;
                refresh();
            }
        });
        cache.start();
    }

    /**
     * Whether the moves in ZooKeeper when {@link #start()} was called are loaded: until then {@link #active()} is
     * empty because nothing was read yet, not because no move runs.
     */
    public boolean isInitialized() {
        return initialized;
    }

    /**
     * Reads every move straight from ZooKeeper (blocking), so that what this watcher says is at least as new as
     * ZooKeeper was when this was called, whatever its cache still holds.
     *
     * @throws TopologyException when ZooKeeper cannot be read
     */
    public void reloadFromServer() {
        Map<String, Versioned> read = new HashMap<>();
        try {
            if (client.checkExists().forPath(path) != null) {
                for (String child : client.getChildren().forPath(path)) {
                    if (child.endsWith(ABORT_SUFFIX)) {
                        continue;
                    }
                    Stat stat = new Stat();
                    byte[] data;
                    try {
                        data = client.getData().storingStatIn(stat).forPath(path + "/" + child);
                    } catch (KeeperException.NoNodeException gone) {
                        continue;
                    }
                    List<MoveRecord> one = new ArrayList<>(1);
                    read(path + "/" + child, data, one);
                    if (!one.isEmpty()) {
                        read.put(path + "/" + child, new Versioned(one.get(0), stat.getVersion()));
                    }
                }
            }
        } catch (Exception e) {
            throw new TopologyException("could not read the moves at " + path + ": " + e.getMessage(), e);
        }
        reloaded = Map.copyOf(read);
        refresh();
    }

    /** The moves in progress (not done, not aborted); usually none. */
    public List<MoveRecord> active() {
        return active;
    }

    /** The move started last, over or not; null when there is none. */
    public MoveRecord latest() {
        return latest;
    }

    /**
     * The highest cutover position of {@code shard} as a move's target (0 if none): its replicas serve reads
     * only once they have replayed that far, so moved rows never look missing on them.
     */
    public long cutoverLsn(int shard) {
        Long lsn = cutoverLsn.get(shard);
        return lsn == null ? 0 : lsn;
    }

    /**
     * The newest ring version a move has switched to (SWITCHED or later, not aborted), 0 if none: a router routing by
     * an older ring would send the moved ranges to their former shard.
     */
    public long switchedRingVersion() {
        return switchedRingVersion;
    }

    /**
     * The lowest ring version a move in progress that gives {@code shard} ranges will switch to, and has not said
     * SWITCHED for yet ({@link Long#MAX_VALUE} if none). A ring at or past it came before the move's own record (the
     * ring and the record are one ZooKeeper transaction, seen through two caches): the position the shard's replicas
     * must replay is not known yet.
     */
    public long awaitedSwitch(int shard) {
        Long version = awaitedSwitch.get(shard);
        return version == null ? Long.MAX_VALUE : version;
    }

    private synchronized void refresh() {
        Map<String, Versioned> byPath = new HashMap<>(reloaded);
        cache.stream()
                .filter(d -> d.getPath().startsWith(path + "/") && !d.getPath().endsWith(ABORT_SUFFIX))
                .forEach(d -> {
                    List<MoveRecord> one = new ArrayList<>(1);
                    read(d.getPath(), d.getData(), one);
                    int version = d.getStat() == null ? -1 : d.getStat().getVersion();
                    Versioned known = byPath.get(d.getPath());
                    if (!one.isEmpty() && (known == null || version >= known.version())) {
                        byPath.put(d.getPath(), new Versioned(one.get(0), version));
                    }
                });
        List<MoveRecord> moves = byPath.values().stream().map(Versioned::move).toList();
        Map<Integer, Long> cutovers = new HashMap<>();
        long switched = 0;
        for (MoveRecord move : moves) {
            move.cutoverLsn().forEach((shard, lsn) -> cutovers.merge(shard, Lsn.parse(lsn), Math::max));
            if (move.state().ordinal() >= MoveRecord.MoveState.SWITCHED.ordinal()
                    && move.state() != MoveRecord.MoveState.ABORTED) {
                switched = Math.max(switched, move.toRingVersion());
            }
        }
        cutoverLsn = Map.copyOf(cutovers);
        switchedRingVersion = switched;
        Map<Integer, Long> awaited = new HashMap<>();
        for (MoveRecord move : moves) {
            if (move.state().ordinal() < MoveRecord.MoveState.SWITCHED.ordinal()) {
                for (MoveRecord.Transfer t : move.transfers()) {
                    awaited.merge(t.target(), move.toRingVersion(), Math::min);
                }
            }
        }
        awaitedSwitch = Map.copyOf(awaited);
        active = moves.stream().filter(m -> !m.state().isTerminal()).toList();
        latest = moves.stream()
                .max(Comparator.comparingLong(MoveRecord::startedAtMillis))
                .orElse(null);
        onChange.run();
        notifyAll();
    }

    private static void read(String nodePath, byte[] data, List<MoveRecord> into) {
        if (data == null || data.length == 0) {
            return;
        }
        try {
            into.add(JSON.readValue(data, MoveRecord.class));
        } catch (JacksonException e) {
            LOG.warn("ignoring malformed move at {}: {}", nodePath, e.getOriginalMessage());
        }
    }

    /** The JSON of a move, as this watcher reads it. */
    public static byte[] toJson(MoveRecord move) {
        return JSON.writeValueAsBytes(move);
    }

    /** @throws TopologyException naming {@code source} when the bytes are not a move */
    public static MoveRecord fromJson(byte[] json, String source) {
        try {
            return JSON.readValue(json, MoveRecord.class);
        } catch (JacksonException e) {
            throw new TopologyException(source + " is not a move: " + e.getOriginalMessage(), e);
        }
    }

    @Override
    public void close() {
        cache.close();
    }
}
