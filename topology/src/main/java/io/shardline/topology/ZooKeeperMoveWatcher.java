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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.json.JsonMapper;

/**
 * Follows {@code /shardline/clusters/<cluster>/moves/*}: the moves that are not over, for the router's
 * fences, and the cutover positions of every move's targets. {@link #onChange} is told after every change (and threads waiting on this object are
 * notified). Lifecycle as Curator's recipes.
 */
public final class ZooKeeperMoveWatcher implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ZooKeeperMoveWatcher.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();
    /** {@code moves/{id}-abort}: an operator's request to abort move {@code id}. */
    public static final String ABORT_SUFFIX = "-abort";

    private final CuratorCache cache;
    private final String path;
    private final Runnable onChange;
    private volatile List<MoveRecord> active = List.of();
    private volatile MoveRecord latest;
    private volatile Map<Integer, Long> cutoverLsn = Map.of();
    private volatile boolean initialized;

    public ZooKeeperMoveWatcher(CuratorFramework client, String cluster, Runnable onChange) {
        this.path = ZooKeeperTopologyStore.clusterPath(cluster) + "/moves";
        this.cache = CuratorCache.build(client, path);
        this.onChange = onChange;
    }

    public void start() {
        cache.listenable().addListener(new CuratorCacheListener() {
            @Override
            public void event(Type type, ChildData oldData, ChildData data) {
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

    private void refresh() {
        List<MoveRecord> moves = new ArrayList<>();
        cache.stream()
                .filter(d -> d.getPath().startsWith(path + "/") && !d.getPath().endsWith(ABORT_SUFFIX))
                .forEach(d -> read(d, moves));
        Map<Integer, Long> cutovers = new HashMap<>();
        for (MoveRecord move : moves) {
            move.cutoverLsn().forEach((shard, lsn) -> cutovers.merge(shard, Lsn.parse(lsn), Math::max));
        }
        cutoverLsn = Map.copyOf(cutovers);
        active = moves.stream().filter(m -> !m.state().isTerminal()).toList();
        latest = moves.stream()
                .max(Comparator.comparingLong(MoveRecord::startedAtMillis))
                .orElse(null);
        onChange.run();
        synchronized (this) {
            notifyAll();
        }
    }

    private static void read(ChildData data, List<MoveRecord> into) {
        if (data.getData() == null || data.getData().length == 0) {
            return;
        }
        try {
            into.add(JSON.readValue(data.getData(), MoveRecord.class));
        } catch (JacksonException e) {
            LOG.warn("ignoring malformed move at {}: {}", data.getPath(), e.getOriginalMessage());
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
