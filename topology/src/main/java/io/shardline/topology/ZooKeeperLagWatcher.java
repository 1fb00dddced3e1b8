package io.shardline.topology;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.json.JsonMapper;

/**
 * Follows {@code /shardline/clusters/<cluster>/lag/*}, where the replication monitor publishes each
 * replica's lag, and keeps the newest {@link LagSnapshot} in memory. Lifecycle as Curator's recipes.
 */
public final class ZooKeeperLagWatcher implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ZooKeeperLagWatcher.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();
    /** How far ahead of this host's clock a report may be dated before the clocks' difference is logged. */
    private static final long SKEW_WARNING_MS = 500;

    private final CuratorCache cache;
    private final String path;
    private final AtomicReference<LagSnapshot> snapshot = new AtomicReference<>(LagSnapshot.EMPTY);
    /** The reports by their znode's name; guarded by this. */
    private final Map<String, LagReport> byChild = new HashMap<>();
    /** Whether a report dated ahead of this host's clock was logged; guarded by this. */
    private boolean skewWarned;

    public ZooKeeperLagWatcher(CuratorFramework client, String cluster) {
        this.path = ZooKeeperTopologyStore.clusterPath(cluster) + "/lag";
        this.cache = CuratorCache.build(client, path);
    }

    public void start() {
        cache.listenable().addListener(this::changed);
        cache.start();
    }

    /** The newest lag of every replica; {@link LagSnapshot#EMPTY} until the monitor has published. */
    public LagSnapshot snapshot() {
        return snapshot.get();
    }

    /**
     * One report changed: only it is read. The monitor writes every replica's report each sample, so reading them
     * all on each change would parse n² reports per sample (2,500 every 100 ms with 50 replicas).
     */
    private synchronized void changed(CuratorCacheListener.Type type, ChildData before, ChildData after) {
        ChildData data = after != null ? after : before;
        if (data == null || !data.getPath().startsWith(path + "/")) {
            return;
        }
        String child = data.getPath().substring(path.length() + 1);
        LagReport report = type == CuratorCacheListener.Type.NODE_DELETED ? null : read(after);
        if (report != null) {
            long now = System.currentTimeMillis();
            if (report.observedAtMillis() > now + SKEW_WARNING_MS && !skewWarned) {
                skewWarned = true;
                LOG.warn(
                        "the lag report of {} is dated {} ms ahead of this host's clock: the replication monitor's"
                                + " clock is ahead; its reports count as made when they arrive (synchronise the"
                                + " clocks, e.g. with NTP)",
                        report.node(),
                        report.observedAtMillis() - now);
            }
            // not later than ZooKeeper wrote it: a router starting long after the monitor stopped reads the report
            // as old as it is, not as made on its arrival
            long written = after.getStat() != null && after.getStat().getMtime() > 0
                    ? after.getStat().getMtime()
                    : now;
            report = report.receivedAt(Math.min(now, written));
        }
        if (report == null ? byChild.remove(child) == null : report.equals(byChild.put(child, report))) {
            return;
        }
        Map<String, LagReport> reports = new HashMap<>();
        for (LagReport r : byChild.values()) {
            reports.put(r.node(), r);
        }
        snapshot.set(new LagSnapshot(reports));
    }

    private static LagReport read(ChildData data) {
        if (data == null || data.getData() == null || data.getData().length == 0) {
            return null;
        }
        try {
            LagReport report = JSON.readValue(data.getData(), LagReport.class);
            if (report.node() == null || report.observedAtMillis() <= 0 || report.lagMs() < -1) {
                LOG.warn("ignoring lag report at {}: no node, no time or a negative lag", data.getPath());
                return null;
            }
            return report;
        } catch (JacksonException e) {
            LOG.warn("ignoring malformed lag report at {}: {}", data.getPath(), e.getOriginalMessage());
            return null;
        }
    }

    @Override
    public void close() {
        cache.close();
    }
}
