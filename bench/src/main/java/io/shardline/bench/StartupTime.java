package io.shardline.bench;

import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Fresh JVM, driver connect to first result: starts a cluster, then runs {@link Child} in new JVMs that
 * connect through {@code jdbc:shardline:}, run one keyed SELECT and report the time from before
 * {@code DriverManager.getConnection} to the first row.
 *
 * <p>Run: {@code java -cp bench/target/benchmarks.jar io.shardline.bench.StartupTime [runs]}
 */
public final class StartupTime {
    public static void main(String[] args) throws Exception {
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        try (LocalCluster cluster = LocalCluster.builder()
                .name("startup")
                .shards(2)
                .hubs(1)
                .leaves(1)
                .start()) {
            RouterClusters.publish(cluster, List.of(new ShardedTable("public", "users", "user_id", KeyType.INTEGER)));
            try (Connection c = cluster.primary(0).connect()) {
                c.createStatement().execute("CREATE TABLE users (user_id bigint PRIMARY KEY, name text)");
            }
            try (Connection c = cluster.primary(1).connect()) {
                c.createStatement().execute("CREATE TABLE users (user_id bigint PRIMARY KEY, name text)");
            }
            long[] millis = new long[runs];
            for (int i = 0; i < runs; i++) {
                millis[i] = runChild(cluster.shardlineUrl());
            }
            Arrays.sort(millis);
            System.out.printf(
                    "fresh JVM, connect to first result: median %d ms, min %d ms, max %d ms over %d runs%n",
                    millis[runs / 2], millis[0], millis[runs - 1], runs);
        }
    }

    private static long runChild(String url) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                Child.class.getName(),
                url));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (p.waitFor() != 0) {
            throw new IllegalStateException("child failed: " + out);
        }
        String last = out.substring(out.lastIndexOf('\n') + 1);
        return Long.parseLong(last.trim());
    }

    /** In a fresh JVM: connect, one keyed read, print the milliseconds it took. */
    public static final class Child {
        public static void main(String[] args) throws SQLException {
            long start = System.nanoTime();
            try (Connection c = DriverManager.getConnection(args[0]);
                    PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM users WHERE user_id = ?")) {
                ps.setLong(1, 42);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                }
            }
            long millis = (System.nanoTime() - start) / 1_000_000;
            System.err.println("JVM uptime at first result: "
                    + ManagementFactory.getRuntimeMXBean().getUptime() + " ms");
            System.out.println(millis);
        }
    }
}
