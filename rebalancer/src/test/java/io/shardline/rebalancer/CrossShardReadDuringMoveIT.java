package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.compose.LocalCluster;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.MoveRecord.MoveState;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Cross-shard reads keep answering through a whole shard move — copy, cutover, cleanup — with the answer one
 * PostgreSQL holding every row gives: each shard's part is the rows its ring owns, so rows copied to the target and
 * rows not yet cleaned from the source are counted once.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class CrossShardReadDuringMoveIT {
    static final int ROWS = 30_000;
    /** Partial aggregates, the rows plan (a join on the key), a rows plan with a WHERE pushed down, groups of the key. */
    static final List<String> READS = List.of(
            "SELECT count(*), sum(amount), min(order_id), max(order_id) FROM orders",
            "SELECT user_id % 7 AS g, count(*), sum(amount) FROM orders GROUP BY 1 ORDER BY 1",
            "SELECT count(*), sum(o.amount) FROM orders o JOIN users u ON u.user_id = o.order_id WHERE u.name <> 'x'",
            "SELECT sum(public.orders.amount), count(*) FROM public.orders WHERE public.orders.amount > 5",
            "SELECT o.order_id, u.name FROM orders o JOIN users u ON u.user_id = o.order_id WHERE o.amount % 1000 = 3"
                    + " ORDER BY o.order_id DESC LIMIT 7",
            // a short scan: the final node's part runs inside the final query, after the other shard's was read
            "SELECT order_id, amount FROM orders WHERE order_id >= 1000 ORDER BY order_id LIMIT 10",
            // distinct keys counted on each shard and added up: each key's rows counted on one shard only
            "SELECT count(DISTINCT order_id), count(*) FROM orders WHERE amount > 3",
            // grouped by the key on each shard, each shard's first groups shipped
            "SELECT o.order_id, u.name, count(*), sum(o.amount) FROM orders o JOIN users u ON u.user_id = o.order_id"
                    + " GROUP BY o.order_id, u.name HAVING sum(o.amount) > 1 ORDER BY 4 DESC, 1 LIMIT 5",
            "SELECT count(DISTINCT user_id), string_agg(order_id::text, ',' ORDER BY order_id) FILTER (WHERE"
                    + " order_id % 997 = 0) FROM orders WHERE amount > 10");

    private static LocalCluster cluster;
    private static CuratorFramework client;

    @BeforeAll
    static void start() throws SQLException {
        cluster =
                LocalCluster.builder().name("xmove").shards(2).hubs(0).leaves(0).start();
        client = MoveWorkload.loadedWithEmptyShard(cluster, "xmove", ROWS);
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (client != null) {
            client.close();
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    private static String answer(Connection c, String sql) throws SQLException {
        StringBuilder text = new StringBuilder();
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            while (rs.next()) {
                for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
                    text.append(rs.getString(i)).append('|');
                }
                text.append('\n');
            }
        }
        return text.toString();
    }

    /**
     * The rows of a {@code COPY ... TO STDOUT} of the sharded table, sorted, after its one header line: each shard's
     * part is the rows its ring owns, as a read's.
     */
    private static String exported(Connection c) throws Exception {
        java.io.StringWriter out = new java.io.StringWriter();
        long rows = c.unwrap(org.postgresql.PGConnection.class)
                .getCopyAPI()
                .copyOut("COPY orders (order_id, amount) TO STDOUT WITH (FORMAT csv, HEADER)", out);
        List<String> lines = new ArrayList<>(List.of(out.toString().split("\n")));
        String header = lines.remove(0);
        java.util.Collections.sort(lines);
        return header + " " + rows + " " + lines.size() + " "
                + String.join(";", lines).hashCode();
    }

    @Test
    void aggregatesAndJoinsAnswerRightThroughAWholeMove() throws Exception {
        Map<String, String> expected = new TreeMap<>();
        String copied;
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl())) {
            for (String sql : READS) {
                expected.put(sql, answer(c, sql));
            }
            copied = exported(c);
        }
        assertThat(copied).startsWith("order_id,amount " + ROWS + " " + ROWS + " ");
        assertThat(expected.get(READS.get(0))).startsWith(ROWS + "|");

        AtomicBoolean moving = new AtomicBoolean(true);
        ExecutorService threads = Executors.newFixedThreadPool(2);
        List<Future<int[]>> readers = new ArrayList<>();
        for (String properties : List.of("", "?crossShardConsistency=relaxed&maxStalenessMs=-1")) {
            readers.add(threads.submit(() -> {
                int answers = 0;
                int refused = 0;
                int copies = 0;
                List<String> wrong = new ArrayList<>();
                try (Connection c = DriverManager.getConnection(cluster.shardlineUrl() + properties)) {
                    while (moving.get()) {
                        for (String sql : READS) {
                            try {
                                String got = answer(c, sql);
                                if (!got.equals(expected.get(sql)) && wrong.size() < 5) {
                                    wrong.add(sql + " -> " + got);
                                }
                                answers++;
                            } catch (SQLException e) {
                                refused++;
                                if (wrong.size() < 5) {
                                    wrong.add(sql + " -> " + e.getSQLState() + " " + e.getMessage());
                                }
                            }
                        }
                        // a COPY TO STDOUT that a cutover switched ranges under fails at its end (40001), else is whole
                        try {
                            String got = exported(c);
                            if (!got.equals(copied) && wrong.size() < 5) {
                                wrong.add("COPY orders TO STDOUT -> " + got);
                            }
                            copies++;
                        } catch (SQLException e) {
                            if (!"40001".equals(e.getSQLState()) && wrong.size() < 5) {
                                wrong.add("COPY orders TO STDOUT -> " + e.getSQLState() + " " + e.getMessage());
                            }
                        }
                    }
                }
                assertThat(wrong)
                        .as("answers unlike the reference, with " + properties)
                        .isEmpty();
                return new int[] {answers, refused, copies};
            }));
        }
        MoveRunner runner = new MoveRunner(
                client,
                "xmove",
                1,
                LogicalCopyIT.CONNECT,
                new PgDumpSchema(
                        PgDumpSchema.locatePgDump(),
                        MoveWorkload.topology(client, "xmove"),
                        null,
                        LogicalCopyIT.CONNECT),
                source -> "host=" + source.host() + " port=" + source.port() + " dbname=shardline user=postgres",
                MoveRunner.Settings.DEFAULT,
                () -> true);
        MoveState end;
        try {
            end = runner.run(MoveRunner.plan(client, "xmove", 1));
            Thread.sleep(500);
        } finally {
            moving.set(false);
        }
        assertThat(end).isEqualTo(MoveState.DONE);
        for (Future<int[]> reader : readers) {
            int[] counts = reader.get(60, TimeUnit.SECONDS);
            System.out.printf(
                    "cross-shard reads through a move: %d answers, %d refused, %d whole COPY TO STDOUT%n",
                    counts[0], counts[1], counts[2]);
            assertThat(counts[1]).as("reads refused").isZero();
            assertThat(counts[2]).as("COPY TO STDOUT answered during the move").isPositive();
            assertThat(counts[0]).as("reads answered during the move").isGreaterThan(READS.size() * 5);
        }
        threads.shutdown();
        // the rows are now on three shards, and every read still gives the reference
        assertThat(Long.parseLong(cluster.primary(2).queryString("SELECT count(*) FROM orders")))
                .isPositive();
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl())) {
            for (String sql : READS) {
                assertThat(answer(c, sql)).isEqualTo(expected.get(sql));
            }
            assertThat(exported(c)).isEqualTo(copied);
        }
    }
}
