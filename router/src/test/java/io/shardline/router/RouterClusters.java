package io.shardline.router;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.DistributedFunction;
import io.shardline.topology.HashRing;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.Shard;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import org.apache.curator.framework.CuratorFramework;
import org.awaitility.Awaitility;

/**
 * Publishes a {@link LocalCluster}'s topology and an even ring to its ZooKeeper, as {@code cluster up} does.
 * Shared (as the router's test-jar) with sql-tests and bench.
 */
public final class RouterClusters {
    private RouterClusters() {}

    public static ClusterTopology topology(LocalCluster cluster, List<ShardedTable> tables) {
        List<Shard> shards = new ArrayList<>();
        for (int s = 0; s < cluster.shardCount(); s++) {
            shards.add(shard(cluster, s));
        }
        return new ClusterTopology(cluster.name(), 1, cluster.database(), "postgres", 0, shards, tables);
    }

    /** Shard {@code s} of a local cluster as the topology describes it. */
    public static Shard shard(LocalCluster cluster, int s) {
        List<Node> nodes = cluster.shard(s).stream()
                .map(n -> new Node(
                        n.name(),
                        NodeRole.valueOf(n.role().name().toUpperCase(Locale.ROOT)),
                        n.host(),
                        n.port(),
                        n.upstream().map(PgNode::name).orElse(null)))
                .toList();
        return new Shard(s, nodes);
    }

    /** Waits until each of {@code nodes} has {@code table}: its creation replayed there. */
    public static void awaitTable(Collection<PgNode> nodes, String table) {
        for (PgNode node : nodes) {
            Awaitility.await()
                    .atMost(Duration.ofSeconds(30))
                    .until(() -> "t".equals(node.queryString("SELECT to_regclass('" + table + "') IS NOT NULL")));
        }
    }

    public static HashRing publish(LocalCluster cluster, List<ShardedTable> tables) {
        return publish(cluster, tables, List.of());
    }

    /** Publishes the topology with these sharded and reference tables, and an even ring. */
    public static HashRing publish(
            LocalCluster cluster, List<ShardedTable> tables, List<ReferenceTable> referenceTables) {
        return publish(cluster, tables, referenceTables, List.of());
    }

    /** Publishes the topology with these sharded and reference tables and distributed functions, and an even ring. */
    public static HashRing publish(
            LocalCluster cluster,
            List<ShardedTable> tables,
            List<ReferenceTable> referenceTables,
            List<DistributedFunction> functions) {
        ClusterTopology t = topology(cluster, tables);
        ClusterTopology topology = new ClusterTopology(
                t.cluster(),
                t.version(),
                t.database(),
                t.user(),
                t.homeShard(),
                t.shards(),
                t.tables(),
                referenceTables,
                functions);
        HashRing ring = HashRing.even(topology.shardIds(), HashRing.DEFAULT_RANGES_PER_SHARD);
        try (CuratorFramework client =
                ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10))) {
            ZooKeeperTopologyStore.initialize(client, topology, ring);
        }
        return ring;
    }
}
