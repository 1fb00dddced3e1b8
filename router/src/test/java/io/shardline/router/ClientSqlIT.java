package io.shardline.router;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The SQL loaders and ORMs emit, run through the driver on a real 2-shard cluster and checked on each shard's primary
 * directly: a benchmark kit's loader writing {@code INSERT INTO t VALUES (?, ...)} batches puts every row on its
 * shard, and the column order it relies on follows DDL run through the driver.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ClientSqlIT {
    private static LocalCluster cluster;
    private static HashRing ring;
    private static String url;

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder()
                .name("clients")
                .shards(2)
                .hubs(1)
                .leaves(0)
                .start();
        ring = RouterClusters.publish(
                cluster,
                List.of(
                        new ShardedTable("public", "stock", "s_w_id", KeyType.INTEGER),
                        new ShardedTable("public", "swap", "id", KeyType.INTEGER)));
        url = cluster.shardlineUrl() + "?user=postgres";
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            // the key is not the first column: a loader's VALUES are matched to the columns by position
            s.execute("CREATE TABLE stock (s_i_id int NOT NULL, s_w_id int NOT NULL, s_quantity int,"
                    + " s_data text, PRIMARY KEY (s_w_id, s_i_id))");
        }
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (cluster != null) {
            cluster.close();
        }
    }

    private static int shardOf(long key) {
        return ring.shardFor(KeyHash.hashInt8(key));
    }

    /** The keys of {@code column} in {@code table} on shard {@code shard}'s primary, read directly. */
    private static List<Long> keysOn(int shard, String table, String column) throws SQLException {
        PgNode primary = cluster.primary(shard);
        try (Connection c = primary.connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT " + column + " FROM " + table)) {
            List<Long> keys = new java.util.ArrayList<>();
            while (rs.next()) {
                keys.add(rs.getLong(1));
            }
            return keys;
        }
    }

    @Test
    void aLoadersBatchesWithoutAColumnListPutEveryRowOnItsShard() throws SQLException {
        int warehouses = 20;
        int items = 100;
        try (Connection c = DriverManager.getConnection(url)) {
            // as the kit's loader does: a transaction per warehouse, committed every 50 rows
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO stock VALUES (?, ?, ?, ?)")) {
                for (int w = 1; w <= warehouses / 2; w++) {
                    for (int i = 1; i <= items; i++) {
                        ps.setInt(1, i);
                        ps.setInt(2, w);
                        ps.setInt(3, 10 + i % 90);
                        ps.setString(4, "data-" + w + "-" + i);
                        ps.addBatch();
                        if (i % 50 == 0) {
                            ps.executeBatch();
                            c.commit();
                        }
                    }
                }
            }
            // autocommit batches mixing warehouses: each shard's rows go as one physical batch
            c.setAutoCommit(true);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO stock VALUES (?, ?, ?, ?)")) {
                for (int i = 1; i <= items; i++) {
                    for (int w = warehouses / 2 + 1; w <= warehouses; w++) {
                        ps.setInt(1, i);
                        ps.setInt(2, w);
                        ps.setInt(3, 10 + i % 90);
                        ps.setString(4, "data-" + w + "-" + i);
                        ps.addBatch();
                    }
                    if (i % 10 == 0) {
                        int[] counts = ps.executeBatch();
                        assertThat(counts).hasSize(10 * warehouses / 2).containsOnly(1);
                    }
                }
            }
            // one multi-row statement per warehouse (all its rows on one shard)
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO stock VALUES (?, ?, 1, 'x'), (?, ?, 2, 'y')")) {
                for (int w = 1; w <= warehouses; w++) {
                    ps.setInt(1, items + 1);
                    ps.setInt(2, w);
                    ps.setInt(3, items + 2);
                    ps.setInt(4, w);
                    ps.addBatch();
                }
                ps.executeBatch();
            }
        }
        int total = 0;
        for (int shard = 0; shard < 2; shard++) {
            List<Long> keys = keysOn(shard, "stock", "s_w_id");
            for (long w : keys) {
                assertThat(shardOf(w))
                        .as("warehouse %d stored on shard %d", w, shard)
                        .isEqualTo(shard);
            }
            total += keys.size();
        }
        assertThat(total).isEqualTo(warehouses * (items + 2));
    }

    @Test
    void theColumnOrderFollowsDdlRunThroughTheDriver() throws SQLException {
        long key = 7;
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE swap (id bigint PRIMARY KEY, v text)");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO swap VALUES (?, 'first')")) {
                ps.setLong(1, key);
                ps.executeUpdate();
            }
            assertThat(keysOn(shardOf(key), "swap", "id")).containsExactly(key);

            // the key moves to the second column: the cached order must not route by the first
            s.execute("DROP TABLE swap");
            s.execute("CREATE TABLE swap (v text, id bigint PRIMARY KEY)");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO swap VALUES ('second', ?)")) {
                ps.setLong(1, key);
                ps.executeUpdate();
            }
            assertThat(keysOn(shardOf(key), "swap", "id")).containsExactly(key);

            // a column added before nothing, one dropped before the key
            s.execute("ALTER TABLE swap ADD COLUMN w int");
            s.execute("ALTER TABLE swap DROP COLUMN v");
            s.execute("DELETE FROM swap WHERE id = " + key);
            long other = key + 1;
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO swap VALUES (?, 3)")) {
                ps.setLong(1, other);
                ps.executeUpdate();
            }
            assertThat(keysOn(shardOf(other), "swap", "id")).containsExactly(other);
            assertThat(keysOn(1 - shardOf(other), "swap", "id")).isEmpty();
        }
    }
}
