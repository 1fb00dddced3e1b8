package io.shardline.router.jdbc;

import io.shardline.router.ShardlineProperty;
import io.shardline.router.ShardlineUrl;
import io.shardline.router.SqlStates;
import io.shardline.router.route.RoutingState;
import io.shardline.topology.FileTopologyStore;
import io.shardline.topology.TopologyException;
import io.shardline.topology.TopologyStore;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Properties;

/**
 * What every logical connection to one cluster (with one set of credentials) shares: the topology store,
 * the current {@link RoutingState} and the node pools. Created at the first connect and kept for the life of
 * the JVM (or until {@code ShardlineDriver.closeAll()}).
 */
public final class ClusterRuntime implements AutoCloseable {
    private final ShardlineUrl url;
    private final TopologyStore store;
    private final NodePools pools;
    private final String readFrom;
    private final int cacheSize;
    private volatile RoutingState routing;

    private ClusterRuntime(ShardlineUrl url, TopologyStore store, NodePools pools, String readFrom, int cacheSize) {
        this.url = url;
        this.store = store;
        this.pools = pools;
        this.readFrom = readFrom;
        this.cacheSize = cacheSize;
        this.routing = new RoutingState(store.snapshot(), cacheSize);
        store.addListener(snapshot -> this.routing = new RoutingState(snapshot, this.cacheSize));
    }

    /**
     * Connects to the topology source and prepares the pools.
     *
     * @throws SQLException 08001 naming ZooKeeper's address or the unknown cluster; 22023 for bad properties
     */
    public static ClusterRuntime open(ShardlineUrl url, Properties props) throws SQLException {
        int timeoutMs = ShardlineProperty.CONNECT_TIMEOUT_MS.getPositiveInt(props);
        int poolSize = ShardlineProperty.POOL_SIZE.getPositiveInt(props);
        int cacheSize = ShardlineProperty.ANALYSIS_CACHE_SIZE.getPositiveInt(props);
        TopologyStore store;
        try {
            store = url.file() != null
                    ? FileTopologyStore.open(url.file())
                    : ZooKeeperTopologyStore.connect(
                            url.zkConnectString(), url.cluster(), Duration.ofMillis(timeoutMs));
        } catch (TopologyException e) {
            throw new SQLException(e.getMessage(), SqlStates.CONNECTION_UNABLE, e);
        }
        String user = ShardlineProperty.USER.get(props);
        if (user == null) {
            user = store.snapshot().topology().user();
        }
        Properties pg = new Properties();
        for (String key : props.stringPropertyNames()) {
            if (key.startsWith(ShardlineProperty.PGJDBC_PREFIX)) {
                pg.setProperty(key.substring(ShardlineProperty.PGJDBC_PREFIX.length()), props.getProperty(key));
            }
        }
        NodePools pools = new NodePools(
                store.snapshot().topology().database(),
                user,
                ShardlineProperty.PASSWORD.get(props),
                poolSize,
                timeoutMs,
                pg);
        return new ClusterRuntime(url, store, pools, ShardlineProperty.READ_FROM.get(props), cacheSize);
    }

    /** The routing state of the current topology. */
    public RoutingState routing() {
        return routing;
    }

    public NodePools pools() {
        return pools;
    }

    public ShardlineUrl url() {
        return url;
    }

    /** The default of {@code readFrom}: {@code replica} or {@code primary}. */
    public String readFrom() {
        return readFrom;
    }

    @Override
    public void close() {
        pools.close();
        store.close();
    }
}
