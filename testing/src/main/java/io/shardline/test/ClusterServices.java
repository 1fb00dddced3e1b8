package io.shardline.test;

import io.shardline.monitor.ReplicationMonitor;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyType;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.Shard;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import org.apache.curator.framework.CuratorFramework;

/**
 * What a test cluster runs besides its servers, whatever runs those (local processes, or containers): the topology
 * and an even ring written to ZooKeeper, a ZooKeeper session for declaring tables, and a replication monitor.
 */
public final class ClusterServices implements AutoCloseable {
    private static final Duration REPORTS_WITHIN = Duration.ofSeconds(30);

    private final String cluster;
    private final ZooKeeperTopologyStore store;
    private final ReplicationMonitor monitor;

    private ClusterServices(String cluster, ZooKeeperTopologyStore store, ReplicationMonitor monitor) {
        this.cluster = cluster;
        this.store = store;
        this.monitor = monitor;
    }

    /**
     * Publishes {@code shards} (nodes at the addresses this JVM reaches them by) as cluster {@code cluster} of
     * database {@code database} (user {@code postgres}) to the ZooKeeper at {@code zk}, and with {@code monitor}
     * starts a replication monitor and waits until it measured every replica.
     */
    public static ClusterServices start(
            String zk, String cluster, String database, List<Shard> shards, boolean monitor) {
        ClusterTopology topology = new ClusterTopology(cluster, 1, database, "postgres", 0, shards, List.of());
        try (CuratorFramework client = ZooKeeperTopologyStore.newClient(zk, Duration.ofSeconds(10))) {
            ZooKeeperTopologyStore.initialize(
                    client, topology, HashRing.even(topology.shardIds(), HashRing.DEFAULT_RANGES_PER_SHARD));
        }
        ZooKeeperTopologyStore store = ZooKeeperTopologyStore.connect(zk, cluster, Duration.ofSeconds(10));
        ReplicationMonitor replicationMonitor = null;
        try {
            if (monitor) {
                replicationMonitor =
                        new ReplicationMonitor(store, Duration.ofMillis(100), Duration.ofMillis(200), null, null);
                replicationMonitor.start();
                long replicas =
                        shards.stream().mapToLong(s -> s.replicas().size()).sum();
                awaitReports(replicationMonitor, replicas);
            }
            return new ClusterServices(cluster, store, replicationMonitor);
        } catch (RuntimeException | Error e) {
            if (replicationMonitor != null) {
                replicationMonitor.close();
            }
            store.close();
            throw e;
        }
    }

    private static void awaitReports(ReplicationMonitor monitor, long replicas) {
        long deadline = System.nanoTime() + REPORTS_WITHIN.toNanos();
        while (monitor.reports().size() < replicas || !monitor.isLeader()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(
                        "the replication monitor measured " + monitor.reports().size() + " of " + replicas
                                + " replicas within " + REPORTS_WITHIN.toSeconds() + " s");
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the first lag reports", e);
            }
        }
    }

    /** Declares {@code table} sharded by {@code keyColumn} (see {@link ShardlineTestCluster#shardTable}). */
    public void shardTable(String table, String keyColumn, KeyType keyType) {
        String[] name = qualified(table);
        ZooKeeperTopologyStore.updateTopology(
                store.client(),
                cluster,
                t -> t.withTable(new ShardedTable(name[0], name[1], keyColumn.toLowerCase(Locale.ROOT), keyType)));
    }

    /** Declares {@code table} a reference table. */
    public void referenceTable(String table) {
        String[] name = qualified(table);
        ZooKeeperTopologyStore.updateTopology(
                store.client(), cluster, t -> t.withReferenceTable(new ReferenceTable(name[0], name[1])));
    }

    static String[] qualified(String table) {
        if (table == null || !table.matches("([A-Za-z_][A-Za-z0-9_]*\\.)?[A-Za-z_][A-Za-z0-9_]*")) {
            throw new IllegalArgumentException("not a table name: " + table + " (name or schema.name, unquoted; for"
                    + " other names declare the table with ./shardline table shard)");
        }
        String lower = table.toLowerCase(Locale.ROOT);
        int dot = lower.indexOf('.');
        return dot < 0
                ? new String[] {"public", lower}
                : new String[] {lower.substring(0, dot), lower.substring(dot + 1)};
    }

    /** Stops the monitor and the ZooKeeper session. */
    @Override
    public void close() {
        if (monitor != null) {
            monitor.close();
        }
        store.close();
    }
}
