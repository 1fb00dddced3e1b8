package io.shardline.test;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.monitor.ReplicationMonitor;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyType;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.Shard;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.logging.Logger;
import javax.sql.DataSource;
import org.apache.curator.framework.CuratorFramework;

/**
 * A running local Shardline cluster for tests: its {@code jdbc:shardline:} URL and a {@link DataSource}, the
 * declaration of sharded and reference tables, and its nodes for fault tests ({@link #node(String)}: {@code kill},
 * {@code stop}, {@code start}, {@code pauseReplay}, {@code resumeReplay}, {@code setApplyDelay}...). Made by
 * {@link ShardlineCluster}, or {@link #start} for code outside JUnit.
 */
public final class ShardlineTestCluster implements AutoCloseable {
    private static final Duration REPORTS_WITHIN = Duration.ofSeconds(15);

    private final LocalCluster cluster;
    private final ZooKeeperTopologyStore store;
    private final ReplicationMonitor monitor;

    private ShardlineTestCluster(LocalCluster cluster, ZooKeeperTopologyStore store, ReplicationMonitor monitor) {
        this.cluster = cluster;
        this.store = store;
        this.monitor = monitor;
    }

    /** Starts a cluster of {@code shape} named {@code name} (its ZooKeeper path is /shardline/clusters/NAME). */
    public static ShardlineTestCluster start(String name, ShardlineCluster shape) {
        return start(name, shape.shards(), shape.hubs(), shape.leaves(), shape.monitor());
    }

    /**
     * Starts a cluster: the servers, ZooKeeper, the topology with an even ring, and (with {@code monitor}) a
     * replication monitor, returning once the monitor has measured every replica.
     */
    public static ShardlineTestCluster start(String name, int shards, int hubs, int leaves, boolean monitor) {
        LocalCluster cluster = LocalCluster.builder()
                .name(name)
                .shards(shards)
                .hubs(hubs)
                .leaves(leaves)
                .start();
        ZooKeeperTopologyStore store = null;
        ReplicationMonitor replicationMonitor = null;
        try {
            ClusterTopology topology = topology(cluster);
            try (CuratorFramework client =
                    ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10))) {
                ZooKeeperTopologyStore.initialize(
                        client, topology, HashRing.even(topology.shardIds(), HashRing.DEFAULT_RANGES_PER_SHARD));
            }
            store = ZooKeeperTopologyStore.connect(cluster.zkConnectString(), name, Duration.ofSeconds(10));
            if (monitor) {
                replicationMonitor =
                        new ReplicationMonitor(store, Duration.ofMillis(100), Duration.ofMillis(200), null, null);
                replicationMonitor.start();
                awaitReports(replicationMonitor, cluster);
            }
            return new ShardlineTestCluster(cluster, store, replicationMonitor);
        } catch (RuntimeException | Error e) {
            if (replicationMonitor != null) {
                replicationMonitor.close();
            }
            if (store != null) {
                store.close();
            }
            cluster.close();
            throw e;
        }
    }

    private static void awaitReports(ReplicationMonitor monitor, LocalCluster cluster) {
        long replicas = cluster.nodes().stream()
                .filter(n -> n.role() != io.shardline.compose.NodeRole.PRIMARY)
                .count();
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

    private static ClusterTopology topology(LocalCluster cluster) {
        List<Shard> shards = new ArrayList<>();
        for (int s = 0; s < cluster.shardCount(); s++) {
            List<Node> nodes = cluster.shard(s).stream()
                    .map(n -> new Node(
                            n.name(),
                            NodeRole.valueOf(n.role().name().toUpperCase(Locale.ROOT)),
                            n.host(),
                            n.port(),
                            n.upstream().map(PgNode::name).orElse(null)))
                    .toList();
            shards.add(new Shard(s, nodes));
        }
        return new ClusterTopology(cluster.name(), 1, cluster.database(), "postgres", 0, shards, List.of());
    }

    /** {@code jdbc:shardline:zk://127.0.0.1:PORT/shardline/clusters/NAME}: user {@code postgres}, no password. */
    public String url() {
        return cluster.shardlineUrl();
    }

    /** {@link #url()} with driver properties, e.g. {@code url("twoPhaseCommit=true&maxStalenessMs=500")}. */
    public String url(String properties) {
        if (properties == null || properties.isBlank()) {
            return url();
        }
        return url() + (properties.startsWith("?") ? properties : "?" + properties);
    }

    /** A {@link DataSource} of {@link #url()}: each {@code getConnection()} opens a logical connection. */
    public DataSource dataSource() {
        return new UrlDataSource(url());
    }

    /**
     * Declares {@code table} ({@code name} or {@code schema.name}, unquoted) sharded by {@code keyColumn}: create it
     * through the driver afterwards, and its rows go to the shard their key hashes to.
     */
    public ShardlineTestCluster shardTable(String table, String keyColumn, KeyType keyType) {
        String[] name = qualified(table);
        ZooKeeperTopologyStore.updateTopology(
                store.client(),
                cluster.name(),
                t -> t.withTable(new ShardedTable(name[0], name[1], keyColumn.toLowerCase(Locale.ROOT), keyType)));
        return this;
    }

    /** Declares {@code table} a reference table: every shard holds all its rows. */
    public ShardlineTestCluster referenceTable(String table) {
        String[] name = qualified(table);
        ZooKeeperTopologyStore.updateTopology(
                store.client(), cluster.name(), t -> t.withReferenceTable(new ReferenceTable(name[0], name[1])));
        return this;
    }

    private static String[] qualified(String table) {
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

    /** The underlying local cluster: its nodes, shards, ZooKeeper. */
    public LocalCluster local() {
        return cluster;
    }

    /** A node by name: {@code s0-primary}, {@code s0-hub1}, {@code s0-leaf1}, {@code s1-primary}... */
    public PgNode node(String name) {
        return cluster.node(name);
    }

    /** The primary of {@code shard}. */
    public PgNode primary(int shard) {
        return cluster.primary(shard);
    }

    /** Waits until every replica has replayed everything its primary has written. */
    public void awaitReplication(Duration timeout) {
        cluster.awaitReplication(timeout);
    }

    /** Stops the monitor, the ZooKeeper session, the servers and ZooKeeper, and deletes the data. */
    @Override
    public void close() {
        if (monitor != null) {
            monitor.close();
        }
        store.close();
        cluster.close();
    }

    @Override
    public String toString() {
        return "Shardline test cluster " + cluster.name() + " (" + url() + ")";
    }

    /** A minimal {@link DataSource} over the driver's URL; pool it (HikariCP) in the application as usual. */
    private static final class UrlDataSource implements DataSource {
        private final String url;
        private PrintWriter log;
        private int loginTimeout;

        UrlDataSource(String url) {
            this.url = url;
        }

        @Override
        public Connection getConnection() throws SQLException {
            return DriverManager.getConnection(url);
        }

        @Override
        public Connection getConnection(String user, String password) throws SQLException {
            java.util.Properties props = new java.util.Properties();
            props.setProperty("user", user);
            if (password != null) {
                props.setProperty("password", password);
            }
            return DriverManager.getConnection(url, props);
        }

        @Override
        public PrintWriter getLogWriter() {
            return log;
        }

        @Override
        public void setLogWriter(PrintWriter out) {
            log = out;
        }

        @Override
        public void setLoginTimeout(int seconds) {
            loginTimeout = seconds;
        }

        @Override
        public int getLoginTimeout() {
            return loginTimeout;
        }

        @Override
        public Logger getParentLogger() throws SQLFeatureNotSupportedException {
            throw new SQLFeatureNotSupportedException("the Shardline driver logs through SLF4J");
        }

        @Override
        public <T> T unwrap(Class<T> iface) throws SQLException {
            if (iface.isInstance(this)) {
                return iface.cast(this);
            }
            throw new SQLException("not a wrapper of " + iface.getName());
        }

        @Override
        public boolean isWrapperFor(Class<?> iface) {
            return iface.isInstance(this);
        }
    }
}
