package io.shardline.router.exec;

import io.shardline.topology.ZooKeeperTopologyStore;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * DDL run through any router of a cluster, seen by all of them: ZooKeeper's {@code /shardline/clusters/<cluster>/schema}
 * is rewritten after DDL runs through the driver, and every runtime watching it forgets what it read from the
 * catalog (column orders, which schemas hold a name) — so an {@code INSERT} without a column list in one application
 * instance follows DDL run through another. DDL run around the driver (a tool connected to the shards) is not seen.
 */
final class SchemaChanges implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SchemaChanges.class);

    private final CuratorFramework client;
    private final String path;
    private final CuratorCache cache;

    SchemaChanges(CuratorFramework client, String cluster, Runnable onChange) {
        this.client = client;
        this.path = ZooKeeperTopologyStore.clusterPath(cluster) + "/schema";
        this.cache = CuratorCache.build(client, path, CuratorCache.Options.SINGLE_NODE_CACHE);
        cache.listenable()
                .addListener(CuratorCacheListener.builder()
                        .forCreatesAndChanges((before, after) -> onChange.run())
                        .afterInitialized()
                        .build());
    }

    void start() {
        cache.start();
    }

    /** Tells every router of the cluster that DDL ran; a ZooKeeper failure is logged (the local catalog is forgotten). */
    void changed() {
        byte[] mark = UUID.randomUUID().toString().getBytes(StandardCharsets.UTF_8);
        try {
            try {
                client.setData().forPath(path, mark);
            } catch (KeeperException.NoNodeException e) {
                client.create().creatingParentsIfNeeded().forPath(path, mark);
            }
        } catch (KeeperException.NodeExistsException e) {
            changed(); // created by another router meanwhile: rewrite it
        } catch (Exception e) {
            LOG.warn(
                    "DDL ran, but other routers could not be told through ZooKeeper ({}): they forget their catalog"
                            + " reads only after DDL through them or a restart",
                    e.toString());
        }
    }

    @Override
    public void close() {
        cache.close();
    }
}
