package io.shardline.topology;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
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

    private final CuratorCache cache;
    private final String path;
    private final AtomicReference<LagSnapshot> snapshot = new AtomicReference<>(LagSnapshot.EMPTY);

    public ZooKeeperLagWatcher(CuratorFramework client, String cluster) {
        this.path = ZooKeeperTopologyStore.clusterPath(cluster) + "/lag";
        this.cache = CuratorCache.build(client, path);
    }

    public void start() {
        cache.listenable().addListener((type, oldData, data) -> refresh());
        cache.start();
    }

    /** The newest lag of every replica; {@link LagSnapshot#EMPTY} until the monitor has published. */
    public LagSnapshot snapshot() {
        return snapshot.get();
    }

    private void refresh() {
        Map<String, LagReport> reports = new HashMap<>();
        cache.stream().filter(d -> d.getPath().startsWith(path + "/")).forEach(d -> read(d, reports));
        snapshot.set(new LagSnapshot(reports));
    }

    private static void read(ChildData data, Map<String, LagReport> into) {
        if (data.getData() == null || data.getData().length == 0) {
            return;
        }
        try {
            LagReport report = JSON.readValue(data.getData(), LagReport.class);
            into.put(report.node(), report);
        } catch (JacksonException e) {
            LOG.warn("ignoring malformed lag report at {}: {}", data.getPath(), e.getOriginalMessage());
        }
    }

    @Override
    public void close() {
        cache.close();
    }
}
