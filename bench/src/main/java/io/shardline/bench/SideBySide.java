package io.shardline.bench;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.shardline.compose.LocalCluster;
import io.shardline.compose.NodeRole;
import io.shardline.compose.PgNode;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
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
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.LongAdder;

/**
 * Single-shard point SELECT by key, side by side in the same run: through the Shardline driver, and through
 * plain pgjdbc + HikariCP sent straight to a replica of the right shard (the client hashing the key itself).
 * Alternating time slices, the order flipped every pair; reported: the mean rate of each side, the ratio of their
 * totals over all pairs, and the median and range of the per-pair ratios.
 *
 * <p>Run: {@code java -cp bench/target/benchmarks.jar io.shardline.bench.SideBySide [pairs] [sliceMs]}
 */
public final class SideBySide {
    static final String SQL = "SELECT name, email FROM users WHERE user_id = ?";
    static final int ROWS = 10_000;

    /** One client thread's way of running a point select. */
    interface Client extends AutoCloseable {
        void read(long key) throws SQLException;

        @Override
        void close() throws SQLException;
    }

    public static void main(String[] args) throws Exception {
        int pairs = args.length > 0 ? Integer.parseInt(args[0]) : 20;
        int sliceMs = args.length > 1 ? Integer.parseInt(args[1]) : 500;
        try (LocalCluster cluster =
                LocalCluster.builder().name("bench").shards(2).hubs(1).leaves(1).start()) {
            HashRing ring = RouterClusters.publish(
                    cluster, List.of(new ShardedTable("public", "users", "user_id", KeyType.INTEGER)));
            String url = cluster.shardlineUrl() + "?poolSize=16&maxStalenessMs=-1";
            load(url);
            cluster.awaitReplication(Duration.ofSeconds(60));
            List<List<HikariDataSource>> replicaPools = replicaPools(cluster);
            System.out.printf(
                    "point SELECT by key, %d rows, 2 shards x (hub + leaf), %d pairs of %d ms slices%n",
                    ROWS, pairs, sliceMs);
            System.out.println("threads  driver ops/s  direct ops/s  ratio of totals  ratio median  (min - max)");
            for (int threads : new int[] {1, 4}) {
                List<Client> driverClients = new ArrayList<>();
                List<Client> directClients = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    driverClients.add(driverClient(url));
                    directClients.add(directClient(ring, replicaPools));
                }
                compare(threads, driverClients, directClients, pairs, sliceMs);
            }
            replicaPools.forEach(pools -> pools.forEach(HikariDataSource::close));
            ShardlineDriver.closeAll();
        }
    }

    /**
     * Warms both sides with one slice each, runs {@code pairs} alternating pairs of slices (the order flipped every
     * pair), closes the clients and prints a line: the mean rates, the ratio of the totals, the median and range of the
     * per-pair ratios.
     */
    static void compare(int threads, List<Client> driver, List<Client> direct, int pairs, int sliceMs)
            throws Exception {
        slice(driver, sliceMs);
        slice(direct, sliceMs);
        double[] ratios = new double[pairs];
        double[] driverRates = new double[pairs];
        double[] directRates = new double[pairs];
        for (int p = 0; p < pairs; p++) {
            if (p % 2 == 0) {
                driverRates[p] = slice(driver, sliceMs);
                directRates[p] = slice(direct, sliceMs);
            } else {
                directRates[p] = slice(direct, sliceMs);
                driverRates[p] = slice(driver, sliceMs);
            }
            ratios[p] = driverRates[p] / directRates[p];
        }
        for (Client c : driver) {
            c.close();
        }
        for (Client c : direct) {
            c.close();
        }
        double[] sorted = ratios.clone();
        Arrays.sort(sorted);
        System.out.printf(
                "%7d  %12.0f  %12.0f  %15.3f  %12.3f  (%.3f - %.3f)%n",
                threads,
                Arrays.stream(driverRates).average().orElse(0),
                Arrays.stream(directRates).average().orElse(0),
                Arrays.stream(driverRates).sum() / Arrays.stream(directRates).sum(),
                median(ratios),
                sorted[0],
                sorted[pairs - 1]);
    }

    /** Runs every client on its own thread for {@code ms}; returns operations per second. */
    static double slice(List<Client> clients, int ms) throws InterruptedException {
        LongAdder ops = new LongAdder();
        long deadline = System.nanoTime() + ms * 1_000_000L;
        List<Thread> threads = new ArrayList<>();
        long start = System.nanoTime();
        for (Client client : clients) {
            Thread t = new Thread(() -> {
                ThreadLocalRandom random = ThreadLocalRandom.current();
                try {
                    while (System.nanoTime() < deadline) {
                        client.read(random.nextLong(1, ROWS + 1));
                        ops.increment();
                    }
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        return ops.sum() / ((System.nanoTime() - start) / 1e9);
    }

    static Client driverClient(String url) throws SQLException {
        Connection c = DriverManager.getConnection(url);
        PreparedStatement ps = c.prepareStatement(SQL);
        return new Client() {
            @Override
            public void read(long key) throws SQLException {
                ps.setLong(1, key);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    rs.getString(1);
                }
            }

            @Override
            public void close() throws SQLException {
                c.close();
            }
        };
    }

    /** Plain pgjdbc from HikariCP pools, one per replica; the client picks the shard and a replica itself. */
    static Client directClient(HashRing ring, List<List<HikariDataSource>> pools) throws SQLException {
        List<Connection> connections = new ArrayList<>();
        PreparedStatement[][] statements = new PreparedStatement[pools.size()][];
        for (int shard = 0; shard < pools.size(); shard++) {
            statements[shard] = new PreparedStatement[pools.get(shard).size()];
            for (int r = 0; r < pools.get(shard).size(); r++) {
                Connection c = pools.get(shard).get(r).getConnection();
                connections.add(c);
                statements[shard][r] = c.prepareStatement(SQL);
            }
        }
        return new Client() {
            private int turn;

            @Override
            public void read(long key) throws SQLException {
                PreparedStatement[] replicas = statements[ring.shardFor(KeyHash.hashInt8(key))];
                PreparedStatement ps = replicas[Math.floorMod(turn++, replicas.length)];
                ps.setLong(1, key);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    rs.getString(1);
                }
            }

            @Override
            public void close() throws SQLException {
                for (Connection c : connections) {
                    c.close();
                }
            }
        };
    }

    static List<List<HikariDataSource>> replicaPools(LocalCluster cluster) {
        List<List<HikariDataSource>> pools = new ArrayList<>();
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            List<HikariDataSource> shardPools = new ArrayList<>();
            for (PgNode node : cluster.shard(shard)) {
                if (node.role() == NodeRole.PRIMARY) {
                    continue;
                }
                HikariConfig config = new HikariConfig();
                config.setJdbcUrl(node.jdbcUrl());
                config.setUsername("postgres");
                config.setMaximumPoolSize(16);
                config.setPoolName("direct-" + node.name());
                shardPools.add(new HikariDataSource(config));
            }
            pools.add(shardPools);
        }
        return pools;
    }

    static void load(String url) throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE users (user_id bigint PRIMARY KEY, name text, email text)");
            try (PreparedStatement ps =
                    c.prepareStatement("INSERT INTO users (user_id, name, email) VALUES (?, ?, ?)")) {
                for (int i = 1; i <= ROWS; i++) {
                    ps.setLong(1, i);
                    ps.setString(2, "user-" + i);
                    ps.setString(3, "u" + i + "@example.com");
                    ps.addBatch();
                    if (i % 1000 == 0) {
                        ps.executeBatch();
                    }
                }
                ps.executeBatch();
            }
        }
    }

    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
