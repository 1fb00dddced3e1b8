package io.shardline.router.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Cross-shard reads larger than the heap: past {@code SPILL_ROWS} rows a source goes to a temporary table on the
 * final query's node (its own rows by INSERT ... SELECT, the other shards' by COPY), so 5 million rows are read by
 * a JVM with 256 MB of heap; the COPY text keeps tabs, newlines, backslashes, NULLs, arrays and bytea intact.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class LargeCrossShardReadIT {
    static final int BIG = 5_000_000;
    static final int ODD = 60_000;

    private static LocalCluster cluster;

    @BeforeAll
    static void start() throws SQLException {
        cluster =
                LocalCluster.builder().name("large").shards(2).hubs(0).leaves(0).start();
        HashRing ring = RouterClusters.publish(
                cluster,
                List.of(
                        new ShardedTable("public", "big", "id", KeyType.INTEGER),
                        new ShardedTable("public", "odd", "id", KeyType.INTEGER)));
        for (int shard = 0; shard < 2; shard++) {
            String owned = ring.sqlPredicate(shard, KeyType.INTEGER.sqlHashExpression("g"));
            try (Connection c = cluster.primary(shard).connect();
                    Statement s = c.createStatement()) {
                s.execute("CREATE TABLE big (id bigint PRIMARY KEY, v int NOT NULL, t text NOT NULL)");
                s.execute("INSERT INTO big SELECT g, g % 1000000, 'row ' || g FROM generate_series(1, " + BIG
                        + ") g WHERE " + owned);
                s.execute("CREATE TABLE odd (id bigint PRIMARY KEY, t text, b bytea, a int[], j jsonb)");
                s.execute("INSERT INTO odd SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'a' || chr(9) || 'b'"
                        + " || chr(10) || 'c\\d' || chr(13) || g END, CASE WHEN g % 5 = 0 THEN NULL ELSE"
                        + " decode(lpad(to_hex(g), 8, '0'), 'hex') END, ARRAY[g, NULL, -g], jsonb_build_object('k',"
                        + " 'x\"y\\z', 'n', g) FROM generate_series(1, " + ODD + ") g WHERE " + owned);
            }
        }
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void cancellingASpillingReadEndsItAndLeavesTheConnectionClean() throws Exception {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl() + "?crossShardMaxRows=6000000");
                Statement s = c.createStatement()) {
            CompletableFuture<Object> read = CompletableFuture.supplyAsync(() -> {
                try (ResultSet rs = s.executeQuery("SELECT count(DISTINCT v) FROM big")) {
                    return rs.next();
                } catch (SQLException e) {
                    return e;
                }
            });
            // the spill is streaming the other shard's rows into the final node
            await().atMost(Duration.ofSeconds(60)).until(() -> copying() > 0);
            s.cancel();
            Object outcome = read.get(60, TimeUnit.SECONDS);
            assertThat(outcome).isInstanceOf(SQLException.class);
            assertThat(((SQLException) outcome).getSQLState()).isEqualTo("57014");
            await().atMost(Duration.ofSeconds(10)).until(() -> copying() == 0);
            // the same connection reads again, and no temporary table is left behind
            assertThat(rows(c, "SELECT count(*) FROM odd WHERE id <= 10")).containsExactly("10|");
            assertThat(rows(c, "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_sl\\_spill%'"))
                    .containsExactly("0|");
        }
    }

    /** COPYs into a spill table running on either primary now. */
    private static long copying() {
        String sql =
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'COPY pg_temp._sl_spill%'";
        return Long.parseLong(cluster.primary(0).queryString(sql))
                + Long.parseLong(cluster.primary(1).queryString(sql));
    }

    @Test
    void fiveMillionRowsAreReadWithA256MbHeap() throws Exception {
        // count(DISTINCT) is no partial aggregate: every row of big is shipped to the final query
        String sql = "SELECT count(DISTINCT v), count(*), sum(length(t)) FROM big";
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m",
                "-XX:+ExitOnOutOfMemoryError",
                "-cp",
                System.getProperty("java.class.path"),
                LargeRead.class.getName(),
                cluster.shardlineUrl() + "?crossShardMaxRows=6000000",
                sql));
        Path log = Files.createTempFile("large-read", ".log");
        Process process = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        boolean ended = process.waitFor(3, TimeUnit.MINUTES);
        if (!ended) {
            process.destroyForcibly().waitFor();
        }
        List<String> output = Files.readAllLines(log, StandardCharsets.UTF_8);
        Files.delete(log);
        assertThat(ended)
                .as("the reader ended within 3 minutes; its output: %s", tail(output))
                .isTrue();
        String expectedLength = sum("SELECT sum(length(t)) FROM big");
        assertThat(output)
                .as("the reader's output: %s", tail(output))
                .contains("heap 256 MB", "row 1000000|" + BIG + "|" + expectedLength);
        assertThat(process.exitValue()).isZero();
    }

    private static String tail(List<String> output) {
        return String.join("\n", output.subList(Math.max(0, output.size() - 30), output.size()));
    }

    private static String sum(String sql) {
        return String.valueOf(Long.parseLong(cluster.primary(0).queryString(sql))
                + Long.parseLong(cluster.primary(1).queryString(sql)));
    }

    @Test
    void spilledRowsKeepEveryCharacterAndType() throws SQLException {
        // more rows than SPILL_ROWS, ordered: the rows plan ships them; compared with each shard's own rows
        String columns = "id, t, b, a, j";
        List<String> expected = new ArrayList<>();
        for (int shard = 0; shard < 2; shard++) {
            try (Connection c = cluster.primary(shard).connect()) {
                expected.addAll(rows(c, "SELECT " + columns + " FROM odd"));
            }
        }
        expected.sort(null);
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl())) {
            String read = "SELECT " + columns + " FROM odd WHERE id > 0 ORDER BY id";
            List<String> got = rows(c, read);
            assertThat(got).hasSize(ODD);
            assertThat(got.get(0)).startsWith("1|");
            assertThat(got.get(ODD - 1)).startsWith(ODD + "|");
            got.sort(null);
            assertThat(got).isEqualTo(expected);
            // and the same read again on the same connection: the temporary table was dropped
            List<String> again = rows(c, read);
            again.sort(null);
            assertThat(again).isEqualTo(expected);
            assertThat(rows(c, "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_sl\\_spill%'"))
                    .containsExactly("0|");
        }
    }

    @Test
    void aLargeReadInsideATwoPhaseTransactionLetsItCommit() throws SQLException {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl() + "?twoPhaseCommit=true")) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                // both shards join the transaction, the home shard among them
                for (int id = 1; id <= 8; id++) {
                    s.executeUpdate("UPDATE odd SET t = t WHERE id = " + id);
                }
            }
            // read inside the transaction: no temporary table there, which PREPARE TRANSACTION would refuse
            assertThat(rows(c, "SELECT id, t FROM odd WHERE id > 0")).hasSize(ODD);
            c.commit();
        }
    }

    private static List<String> rows(Connection c, String sql) throws SQLException {
        List<String> out = new ArrayList<>();
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            int n = rs.getMetaData().getColumnCount();
            while (rs.next()) {
                StringBuilder row = new StringBuilder();
                for (int i = 1; i <= n; i++) {
                    row.append(rs.getString(i)).append('|');
                }
                out.add(row.toString());
            }
        }
        return out;
    }
}
