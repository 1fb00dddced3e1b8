package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.KeyType;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Promotions made by another tool ({@code pg_promote()}, as Patroni or {@code pg_ctl promote} would), followed by
 * the leading rebalancer when the cluster says so: a dead primary's promoted hub is published and the driver writes
 * to it without a restart; a hub promoted while its primary still takes writes is not followed (never fought).
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ExternalPromotionIT {
    private static final List<ShardedTable> TABLES =
            List.of(new ShardedTable("public", "items", "id", KeyType.INTEGER));

    @Test
    void aDeadPrimarysPromotedHubIsFollowedAndASplitIsNot() throws Exception {
        try (LocalCluster cluster = LocalCluster.builder()
                        .name("promotions")
                        .shards(2)
                        .hubs(1)
                        .leaves(1)
                        .start();
                CuratorFramework client =
                        ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10))) {
            RouterClusters.publish(cluster, TABLES);
            // one logical connection open from before the promotion to the writes after it: no restart
            Connection app = DriverManager.getConnection(cluster.shardlineUrl());
            try (Statement s = app.createStatement()) {
                s.execute("CREATE TABLE items (id bigint PRIMARY KEY)");
            }
            ExternalPromotions.enable(client, "promotions", true);
            assertThat(AutoFailover.enabled(client, "promotions")).isFalse();
            try (Rebalancer rebalancer = Rebalancer.forCluster(client, "promotions", null)) {
                rebalancer.start();

                // shard 0: its hub promoted while the primary lives: two primaries, none followed
                promote(cluster, "s0-hub1");
                long before = topology(client).version();
                Thread.sleep(3_000);
                assertThat(topology(client).shard(0).primary().name()).isEqualTo("s0-primary");
                assertThat(topology(client).version()).as("nothing published").isEqualTo(before);

                // shard 1: the primary dies, its hub is promoted by someone else
                cluster.node("s1-primary").kill();
                promote(cluster, "s1-hub1");
                await().atMost(Duration.ofSeconds(20))
                        .until(() -> topology(client).shard(1).primary().name().equals("s1-hub1"));
                List<Node> shard1 = topology(client).shard(1).nodes();
                assertThat(shard1)
                        .extracting(Node::name, Node::role, Node::upstream)
                        .containsExactly(
                                org.assertj.core.groups.Tuple.tuple("s1-hub1", NodeRole.PRIMARY, null),
                                org.assertj.core.groups.Tuple.tuple("s1-leaf1", NodeRole.HUB, "s1-hub1"));
                assertThat(topology(client).shard(0).primary().name()).isEqualTo("s0-primary");
            }
            // the driver, started before, writes to the promoted hub: every key, both shards
            int written = 0;
            try (app;
                    PreparedStatement insert = app.prepareStatement("INSERT INTO items VALUES (?)")) {
                for (long id = 1; id <= 40; id++) {
                    insert.setLong(1, id);
                    written += insertWithin(insert, Duration.ofSeconds(15));
                }
            }
            assertThat(written).isEqualTo(40);
            try (Connection c = cluster.node("s1-hub1").connect();
                    ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM items")) {
                rs.next();
                assertThat(rs.getLong(1)).as("rows on the promoted hub").isPositive();
            }
        } finally {
            ShardlineDriver.closeAll();
        }
    }

    /** Inserts, retrying while the driver still has the old primary in mind (08xxx); 1 when it went in. */
    private static int insertWithin(PreparedStatement insert, Duration bound) throws Exception {
        long deadline = System.nanoTime() + bound.toNanos();
        while (true) {
            try {
                return insert.executeUpdate();
            } catch (SQLException e) {
                if (System.nanoTime() > deadline
                        || e.getSQLState() == null
                        || !e.getSQLState().startsWith("08")) {
                    throw e;
                }
                Thread.sleep(200);
            }
        }
    }

    private static void promote(LocalCluster cluster, String node) throws SQLException {
        try (Connection c = cluster.node(node).connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT pg_promote(true, 60)")) {
            rs.next();
            assertThat(rs.getBoolean(1)).as("%s promoted", node).isTrue();
        }
    }

    private static ClusterTopology topology(CuratorFramework client) throws Exception {
        String path = ZooKeeperTopologyStore.clusterPath("promotions") + "/topology";
        return TopologyCodec.topologyFromJson(client.getData().forPath(path), path);
    }
}
