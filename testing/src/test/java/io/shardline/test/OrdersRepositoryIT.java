package io.shardline.test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.shardline.topology.KeyType;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

// the README's example, as written there (ReadmeExampleTest checks they are the same)
// example:start
@ShardlineCluster(shards = 2, hubs = 1, leaves = 1)
class OrdersRepositoryIT {
    @BeforeAll
    static void schema(ShardlineTestCluster cluster) throws SQLException {
        cluster.shardTable("orders", "order_id", KeyType.INTEGER);
        try (Connection c = cluster.dataSource().getConnection();
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE orders (order_id bigint PRIMARY KEY, customer text NOT NULL)");
        }
    }

    @Test
    void ordersSpreadOverTheShardsAndCountAcrossThem(ShardlineTestCluster cluster, DataSource db) throws SQLException {
        try (Connection c = db.getConnection();
                PreparedStatement insert = c.prepareStatement("INSERT INTO orders VALUES (?, ?)")) {
            for (long id = 1; id <= 100; id++) {
                insert.setLong(1, id);
                insert.setString(2, "customer " + id);
                insert.executeUpdate();
            }
            assertEquals(100, count(c, "SELECT count(*) FROM orders")); // a cross-shard read
        }
        for (int shard = 0; shard < 2; shard++) {
            try (Connection direct = cluster.primary(shard).connect()) {
                assertTrue(count(direct, "SELECT count(*) FROM orders") > 0, "rows on shard " + shard);
            }
        }
    }

    @Test
    void readsGoOnWhenALeafReplicaDies(ShardlineTestCluster cluster, DataSource db) throws SQLException {
        cluster.node("s0-leaf1").kill();
        try (Connection c = db.getConnection()) {
            c.setReadOnly(true);
            for (long id = 1; id <= 20; id++) {
                count(c, "SELECT count(*) FROM orders WHERE order_id = " + id); // routed around the dead leaf
            }
        } finally {
            cluster.node("s0-leaf1").start();
            cluster.awaitReplication(Duration.ofSeconds(30));
        }
    }

    private static long count(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
// example:end
