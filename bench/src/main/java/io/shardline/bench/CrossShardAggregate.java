package io.shardline.bench;

import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineConnection;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A cross-shard {@code count/sum ... GROUP BY} through the driver over {@code rows} rows on 2 shards, against
 * the same query on one PostgreSQL holding every row, in the same run: each shard groups its half, the driver
 * combines the partial groups. The two are timed alternately ({@code runs} times each, after a warm-up) and
 * their answers compared; reported: median latencies and their ratio, and the same for a query that ships rows
 * ({@code count(DISTINCT ...)}, which partial aggregates cannot combine) over a 1% slice.
 *
 * <p>Run: {@code java -cp bench/target/benchmarks.jar io.shardline.bench.CrossShardAggregate [rows] [runs]}
 */
public final class CrossShardAggregate {
    static final String AGGREGATE =
            "SELECT region, count(*), sum(amount), avg(amount) FROM sales GROUP BY region" + " ORDER BY region";
    static final String ROWS = "SELECT region, count(DISTINCT customer) FROM sales WHERE sale_id % 100 = 0"
            + " GROUP BY region ORDER BY region";
    /** A join of two sharded tables on their shard key, with a filter: each shard joins its own rows. */
    static final String JOIN = "SELECT s.sale_id, s.amount, l.qty FROM sales s JOIN sale_lines l ON l.sale_id ="
            + " s.sale_id WHERE s.region = 'region-3' AND l.qty > 4 ORDER BY s.sale_id";

    public static void main(String[] args) throws Exception {
        int rows = args.length > 0 ? Integer.parseInt(args[0]) : 1_000_000;
        int runs = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        try (LocalCluster cluster = LocalCluster.builder()
                        .name("xshard")
                        .shards(2)
                        .hubs(0)
                        .leaves(0)
                        .start();
                LocalCluster single = LocalCluster.builder()
                        .name("single")
                        .shards(1)
                        .hubs(0)
                        .leaves(0)
                        .start()) {
            ShardedTable sales = new ShardedTable("public", "sales", "sale_id", KeyType.INTEGER);
            HashRing ring = RouterClusters.publish(
                    cluster, List.of(sales, new ShardedTable("public", "sale_lines", "sale_id", KeyType.INTEGER)));
            String ddl = "CREATE TABLE sales (sale_id bigint PRIMARY KEY, region text NOT NULL, customer int NOT NULL,"
                    + " amount numeric(12,2) NOT NULL)";
            String generate = "INSERT INTO sales SELECT g, 'region-' || (g % 16), g % 50000, (g % 1000) / 4.0"
                    + " FROM generate_series(1, " + rows + ") g";
            String linesDdl = "CREATE TABLE sale_lines (sale_id bigint NOT NULL, line int NOT NULL, qty int NOT NULL,"
                    + " PRIMARY KEY (sale_id, line))";
            String lines = "INSERT INTO sale_lines SELECT g, 1, g % 10 FROM generate_series(1, " + rows + ") g";
            long start = System.nanoTime();
            try (Connection c = single.primary(0).connect();
                    Statement s = c.createStatement()) {
                s.execute(ddl);
                s.execute(generate);
                s.execute(linesDdl);
                s.execute(lines);
                s.execute("VACUUM ANALYZE sales");
                s.execute("VACUUM ANALYZE sale_lines");
            }
            for (int shard = 0; shard < 2; shard++) {
                String owned = ring.sqlPredicate(shard, KeyType.INTEGER.sqlHashExpression("g"));
                try (Connection c = cluster.primary(shard).connect();
                        Statement s = c.createStatement()) {
                    s.execute(ddl);
                    s.execute(generate + " WHERE " + owned);
                    s.execute(linesDdl);
                    s.execute(lines + " WHERE " + owned);
                    s.execute("VACUUM ANALYZE sales");
                    s.execute("VACUUM ANALYZE sale_lines");
                }
            }
            System.out.printf("loaded %,d rows (2 shards and the single PostgreSQL) in %.1f s%n", rows, seconds(start));
            try (Connection driver = DriverManager.getConnection(cluster.shardlineUrl() + "?maxStalenessMs=-1");
                    Connection plain = single.primary(0).connect()) {
                compare("count/sum/avg GROUP BY (partial aggregates)", AGGREGATE, driver, plain, runs);
                compare("count(DISTINCT) GROUP BY over 1% (rows shipped)", ROWS, driver, plain, runs);
                System.out.println("join plan: "
                        + driver.unwrap(ShardlineConnection.class)
                                .explainRoute(JOIN)
                                .get(0)
                                .reason());
                compare(
                        "join of sales and sale_lines on the key with a filter (joined on each shard)",
                        JOIN,
                        driver,
                        plain,
                        runs);
            } finally {
                ShardlineDriver.closeAll();
            }
        }
    }

    private static void compare(String what, String sql, Connection driver, Connection plain, int runs)
            throws SQLException {
        List<String> expected = run(plain, sql);
        List<String> actual = run(driver, sql);
        if (!expected.equals(actual)) {
            throw new IllegalStateException(
                    "different answers for " + sql + "\n driver: " + actual + "\n plain:  " + expected);
        }
        for (int i = 0; i < 3; i++) {
            run(driver, sql);
            run(plain, sql);
        }
        long[] viaDriver = new long[runs];
        long[] direct = new long[runs];
        for (int i = 0; i < runs; i++) {
            long t = System.nanoTime();
            run(driver, sql);
            viaDriver[i] = System.nanoTime() - t;
            t = System.nanoTime();
            run(plain, sql);
            direct[i] = System.nanoTime() - t;
        }
        double d = median(viaDriver) / 1e6;
        double p = median(direct) / 1e6;
        System.out.printf(
                "%s: driver over 2 shards %.1f ms, one PostgreSQL %.1f ms (medians of %d): ratio %.2fx, ratio of"
                        + " totals %.2fx; answers equal (%d rows)%n",
                what,
                d,
                p,
                runs,
                d / p,
                (double) Arrays.stream(viaDriver).sum() / Arrays.stream(direct).sum(),
                expected.size());
    }

    private static List<String> run(Connection c, String sql) throws SQLException {
        List<String> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(sql);
                ResultSet rs = ps.executeQuery()) {
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

    private static double median(long[] values) {
        long[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    private static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }
}
