package io.shardline.test;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.topology.KeyType;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.Shard;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import javax.sql.DataSource;

/**
 * A running local Shardline cluster for tests: its {@code jdbc:shardline:} URL and a {@link DataSource}, the
 * declaration of sharded and reference tables, and its nodes for fault tests ({@link #node(String)}: {@code kill},
 * {@code stop}, {@code start}, {@code pauseReplay}, {@code resumeReplay}, {@code setApplyDelay}...). Made by
 * {@link ShardlineCluster}, or {@link #start} for code outside JUnit.
 */
public final class ShardlineTestCluster implements AutoCloseable {
    private final LocalCluster cluster;
    private final ClusterServices services;

    private ShardlineTestCluster(LocalCluster cluster, ClusterServices services) {
        this.cluster = cluster;
        this.services = services;
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
        try {
            return new ShardlineTestCluster(
                    cluster,
                    ClusterServices.start(
                            cluster.zkConnectString(), name, cluster.database(), shards(cluster), monitor));
        } catch (RuntimeException | Error e) {
            cluster.close();
            throw e;
        }
    }

    private static List<Shard> shards(LocalCluster cluster) {
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
        return shards;
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
        services.shardTable(table, keyColumn, keyType);
        return this;
    }

    /** Declares {@code table} a reference table: every shard holds all its rows. */
    public ShardlineTestCluster referenceTable(String table) {
        services.referenceTable(table);
        return this;
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
        try {
            services.close();
        } finally {
            cluster.close();
        }
    }

    @Override
    public String toString() {
        return "Shardline test cluster " + cluster.name() + " (" + url() + ")";
    }
}
