package io.shardline.bench;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.shardline.compose.LocalCluster;
import io.shardline.compose.NodeRole;
import io.shardline.compose.PgNode;
import io.shardline.monitor.ReplicationMonitor;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.lang.management.ManagementFactory;
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
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;

/**
 * The common paths side by side in the same run, on a 2-shard cluster (primary, hub, leaf per shard) with a
 * replication monitor publishing lag every 100 ms: through the Shardline driver with its defaults (bounded staleness
 * 1000 ms, read-your-writes), and through plain pgjdbc + HikariCP sent by hand to the nodes the driver would use (the
 * client hashing the key itself: reads to a replica of the key's shard in turn, writes and read-write transactions to
 * its primary). Each thread holds one connection (the driver) or one per node (pgjdbc) for the whole run, as an
 * application's pool would. Alternating time slices, the order flipped every pair.
 *
 * <p>Reported per path: each side's rate, the <b>ratio of the totals</b> (all the driver's operations over all the
 * direct side's, the two sides having run equally long), and the median, interquartile range and range of the
 * per-pair ratios — the spread says how far one pair can be trusted.
 *
 * <p>Run: {@code java -cp bench/target/benchmarks.jar io.shardline.bench.SideBySide [pairs] [sliceMs] [paths] [properties]},
 * paths
 * a comma-separated list of {@link Path} names (default all), then driver properties, e.g. {@code 40 500
 * select1,select4,update metrics=false}.
 */
public final class SideBySide {
    static final String SQL = "SELECT name, email FROM users WHERE user_id = ?";
    static final String UPDATE = "UPDATE users SET visits = visits + 1 WHERE user_id = ?";
    static final int ROWS = 10_000;

    /** One client thread's way of running one operation of a path. */
    interface Client extends AutoCloseable {
        void read(long key) throws SQLException;

        @Override
        void close() throws SQLException;
    }

    /** What one operation of each path is, and on how many threads it runs. */
    enum Path {
        SELECT1("point SELECT by key", 1),
        SELECT4("point SELECT by key", 4),
        UPDATE("autocommit UPDATE by key", 4),
        TRANSACTION("transaction: SELECT, UPDATE, UPDATE by key, COMMIT (isolation set once per connection)", 4),
        READONLY("read-only transaction: SELECT, SELECT by key, COMMIT", 4),
        MIX(
                "50/50 point SELECT / autocommit UPDATE by key (read-your-writes sends a read after a write to the primary)",
                4),
        MIXNORYW(
                "the same, driver readYourWrites=false (its reads on replicas, as the direct side's)",
                4,
                "readYourWrites=false");

        final String what;
        final int threads;
        /** Driver properties of this path, on top of the run's. */
        final String properties;

        Path(String what, int threads) {
            this(what, threads, "");
        }

        Path(String what, int threads, String properties) {
            this.what = what;
            this.threads = threads;
            this.properties = properties;
        }

        /** Sets a connection up for this path, once. */
        void setUp(Connection c) throws SQLException {
            if (this == TRANSACTION) {
                c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
                c.setAutoCommit(false);
            } else if (this == READONLY) {
                c.setReadOnly(true);
                c.setAutoCommit(false);
            }
        }

        /** Whether the operation (on {@code key}'s shard) runs on a replica. */
        boolean onReplica(boolean updateNow) {
            return this == SELECT1
                    || this == SELECT4
                    || this == READONLY
                    || ((this == MIX || this == MIXNORYW) && !updateNow);
        }

        /** One operation on the connection its statements are on. */
        void run(PreparedStatement select, PreparedStatement update, long key, boolean updateNow) throws SQLException {
            switch (this) {
                case SELECT1, SELECT4 -> select(select, key);
                case UPDATE -> update(update, key);
                case TRANSACTION -> {
                    select(select, key);
                    update(update, key);
                    update(update, key);
                    select.getConnection().commit();
                }
                case READONLY -> {
                    select(select, key);
                    select(select, key);
                    select.getConnection().commit();
                }
                case MIX, MIXNORYW -> {
                    if (updateNow) {
                        update(update, key);
                    } else {
                        select(select, key);
                    }
                }
            }
        }
    }

    public static void main(String[] args) throws Exception {
        int pairs = args.length > 0 ? Integer.parseInt(args[0]) : 30;
        int sliceMs = args.length > 1 ? Integer.parseInt(args[1]) : 500;
        List<Path> paths = args.length > 2
                ? Arrays.stream(args[2].split(","))
                        .map(p -> Path.valueOf(p.trim().toUpperCase(Locale.ROOT)))
                        .toList()
                : List.of(Path.values());
        try (LocalCluster cluster =
                LocalCluster.builder().name("bench").shards(2).hubs(1).leaves(1).start()) {
            HashRing ring = RouterClusters.publish(
                    cluster, List.of(new ShardedTable("public", "users", "user_id", KeyType.INTEGER)));
            String url = cluster.shardlineUrl() + "?poolSize=16" + (args.length > 3 ? "&" + args[3] : "");
            load(url);
            cluster.awaitReplication(Duration.ofSeconds(60));
            try (ZooKeeperTopologyStore store = ZooKeeperTopologyStore.connect(
                            cluster.zkConnectString(), cluster.name(), Duration.ofSeconds(10));
                    ReplicationMonitor monitor =
                            new ReplicationMonitor(store, Duration.ofMillis(100), Duration.ofMillis(100), null, null)) {
                monitor.start();
                List<List<HikariDataSource>> replicaPools = replicaPools(cluster);
                List<HikariDataSource> primaryPools = primaryPools(cluster);
                System.out.printf(
                        "%d rows, 2 shards x (primary, hub, leaf), a monitor every 100 ms, %d pairs of %d ms slices;"
                                + " driver %s%n",
                        ROWS, pairs, sliceMs, url.substring(url.indexOf('?') + 1));
                header();
                for (Path path : paths) {
                    List<Client> driver = new ArrayList<>();
                    List<Client> direct = new ArrayList<>();
                    for (int t = 0; t < path.threads; t++) {
                        driver.add(driverClient(url, path));
                        direct.add(directClient(ring, replicaPools, primaryPools, path));
                    }
                    compare(
                            path.name().toLowerCase(Locale.ROOT) + " " + path.what,
                            path.threads,
                            driver,
                            direct,
                            pairs,
                            sliceMs);
                    driver.clear();
                    direct.clear();
                    for (int t = 0; t < path.threads; t++) {
                        driver.add(driverClient(url, path));
                        direct.add(directClient(ring, replicaPools, primaryPools, path));
                    }
                    interleaved(path.threads, driver, direct, pairs * sliceMs);
                }
                replicaPools.forEach(pools -> pools.forEach(HikariDataSource::close));
                primaryPools.forEach(HikariDataSource::close);
            } finally {
                ShardlineDriver.closeAll();
            }
        }
    }

    static void header() {
        System.out.println(
                "path  threads  driver ops/s  direct ops/s  ratio of totals  median  (p25 - p75)  (min - max)");
    }

    /**
     * Warms both sides with one slice each, runs {@code pairs} alternating pairs of slices (the order flipped every
     * pair), closes the clients and prints a line: the mean rates, the ratio of the totals, the median, interquartile
     * range and range of the per-pair ratios.
     */
    static void compare(String label, int threads, List<Client> driver, List<Client> direct, int pairs, int sliceMs)
            throws Exception {
        timed(driver, sliceMs);
        timed(direct, sliceMs);
        double[] ratios = new double[pairs];
        // per pair: the driver's operations and nanoseconds, the direct side's
        long[][] perPair = new long[4][pairs];
        long driverOps = 0;
        long directOps = 0;
        long driverNanos = 0;
        long directNanos = 0;
        long driverCpu = 0;
        long directCpu = 0;
        long driverAllocated = 0;
        long directAllocated = 0;
        long driverSlowest = 0;
        long directSlowest = 0;
        for (int p = 0; p < pairs; p++) {
            long[] a;
            long[] b;
            if (p % 2 == 0) {
                a = timed(driver, sliceMs);
                b = timed(direct, sliceMs);
            } else {
                b = timed(direct, sliceMs);
                a = timed(driver, sliceMs);
            }
            driverCpu += a[2];
            directCpu += b[2];
            driverAllocated += a[4];
            directAllocated += b[4];
            driverSlowest = Math.max(driverSlowest, a[3]);
            directSlowest = Math.max(directSlowest, b[3]);
            driverOps += a[0];
            driverNanos += a[1];
            directOps += b[0];
            directNanos += b[1];
            ratios[p] = ((double) a[0] / a[1]) / ((double) b[0] / b[1]);
            perPair[0][p] = a[0];
            perPair[1][p] = a[1];
            perPair[2][p] = b[0];
            perPair[3][p] = b[1];
        }
        for (Client c : driver) {
            c.close();
        }
        for (Client c : direct) {
            c.close();
        }
        double driverRate = driverOps / (driverNanos / 1e9);
        double directRate = directOps / (directNanos / 1e9);
        double[] sorted = ratios.clone();
        Arrays.sort(sorted);
        System.out.printf(
                "%s%n      %7d  %12.0f  %12.0f  %15.3f  %6.3f  (%.3f - %.3f)  (%.3f - %.3f)%n",
                label,
                threads,
                driverRate,
                directRate,
                driverRate / directRate,
                quantile(sorted, 0.5),
                quantile(sorted, 0.25),
                quantile(sorted, 0.75),
                sorted[0],
                sorted[pairs - 1]);
        double[] interval = bootstrap(perPair, x -> ((double) x[0] / x[1]) / ((double) x[2] / x[3]));
        System.out.printf(
                "      95 %% interval of the ratio of totals (the pairs resampled 2,000 times): %.3f - %.3f%n",
                interval[0], interval[1]);
        System.out.printf(
                "      client threads' CPU per operation (user + system): driver %.1f us, direct %.1f us; slowest"
                        + " operation: driver %.1f ms, direct %.1f ms; allocated per operation: driver %,d B, direct %,d B%n",
                driverCpu / 1e3 / driverOps,
                directCpu / 1e3 / directOps,
                driverSlowest / 1e6,
                directSlowest / 1e6,
                driverAllocated / driverOps,
                directAllocated / directOps);
    }

    /**
     * Every thread alternates one operation of its driver client and one of its direct client for {@code ms},
     * timing each: noise of the machine falls on both sides alike, operation by operation. Prints the ratio of the
     * total times (direct / driver: a throughput ratio) and its spread over blocks of 1,000 pairs.
     */
    static void interleaved(int threads, List<Client> driver, List<Client> direct, int ms) throws Exception {
        interleaved(threads, driver, direct, ms, 1000);
    }

    /** As {@link #interleaved(int, List, List, int)}, the spread taken over blocks of {@code block} pairs. */
    static void interleaved(int threads, List<Client> driver, List<Client> direct, int ms, int block) throws Exception {
        long deadline = System.nanoTime() + ms * 1_000_000L;
        List<Double> blocks = new ArrayList<>();
        // per block: the driver's nanoseconds, the direct side's
        List<long[]> blockNanos = new ArrayList<>();
        long[] totals = new long[3];
        List<Thread> running = new ArrayList<>();
        List<Throwable> failures = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Client d = driver.get(t);
            Client p = direct.get(t);
            Thread thread = new Thread(() -> {
                ThreadLocalRandom random = ThreadLocalRandom.current();
                long driverNanos = 0;
                long directNanos = 0;
                long blockDriver = 0;
                long blockDirect = 0;
                int n = 0;
                List<Double> mine = new ArrayList<>();
                List<long[]> mineNanos = new ArrayList<>();
                try {
                    while (System.nanoTime() < deadline) {
                        boolean driverFirst = (n & 1) == 0;
                        long a = System.nanoTime();
                        (driverFirst ? d : p).read(random.nextLong(1, ROWS + 1));
                        long b = System.nanoTime();
                        (driverFirst ? p : d).read(random.nextLong(1, ROWS + 1));
                        long c = System.nanoTime();
                        blockDriver += driverFirst ? b - a : c - b;
                        blockDirect += driverFirst ? c - b : b - a;
                        if (++n % block == 0) {
                            mine.add((double) blockDirect / blockDriver);
                            mineNanos.add(new long[] {blockDriver, blockDirect});
                            driverNanos += blockDriver;
                            directNanos += blockDirect;
                            blockDriver = 0;
                            blockDirect = 0;
                        }
                    }
                } catch (SQLException | RuntimeException e) {
                    synchronized (failures) {
                        failures.add(e);
                    }
                }
                synchronized (totals) {
                    totals[0] += driverNanos;
                    totals[1] += directNanos;
                    totals[2] += n - n % block;
                    blocks.addAll(mine);
                    blockNanos.addAll(mineNanos);
                }
            });
            running.add(thread);
            thread.start();
        }
        for (Thread thread : running) {
            thread.join();
        }
        for (Client c : driver) {
            c.close();
        }
        for (Client c : direct) {
            c.close();
        }
        if (!failures.isEmpty()) {
            throw new IllegalStateException("a client failed", failures.get(0));
        }
        double[] sorted =
                blocks.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        System.out.printf(
                "      interleaved, %d pairs of operations: driver %.1f us, direct %.1f us per operation; ratio of the"
                        + " total times %.3f, median of %d blocks %.3f (p25 - p75 %.3f - %.3f)%n",
                totals[2],
                totals[0] / 1e3 / totals[2],
                totals[1] / 1e3 / totals[2],
                (double) totals[1] / totals[0],
                sorted.length,
                quantile(sorted, 0.5),
                quantile(sorted, 0.25),
                quantile(sorted, 0.75));
        long[][] columns = new long[2][blockNanos.size()];
        for (int i = 0; i < blockNanos.size(); i++) {
            columns[0][i] = blockNanos.get(i)[0];
            columns[1][i] = blockNanos.get(i)[1];
        }
        double[] interval = bootstrap(columns, x -> (double) x[1] / x[0]);
        System.out.printf(
                "      95 %% interval of the interleaved ratio (the blocks resampled 2,000 times): %.3f - %.3f%n",
                interval[0], interval[1]);
    }

    /**
     * The 2.5th and 97.5th percentiles of {@code ratio} of the columns' sums over 2,000 resamplings of the rows (pairs
     * or blocks, drawn with replacement): how far the ratio of totals would move over another run of as many.
     */
    static double[] bootstrap(long[][] columns, java.util.function.ToDoubleFunction<long[]> ratio) {
        int n = columns[0].length;
        if (n == 0) {
            return new double[] {Double.NaN, Double.NaN};
        }
        java.util.Random random = new java.util.Random(1);
        double[] ratios = new double[2000];
        long[] sums = new long[columns.length];
        for (int r = 0; r < ratios.length; r++) {
            Arrays.fill(sums, 0);
            for (int i = 0; i < n; i++) {
                int row = random.nextInt(n);
                for (int c = 0; c < columns.length; c++) {
                    sums[c] += columns[c][row];
                }
            }
            ratios[r] = ratio.applyAsDouble(sums);
        }
        Arrays.sort(ratios);
        return new double[] {quantile(ratios, 0.025), quantile(ratios, 0.975)};
    }

    /** Runs every client on its own thread for {@code ms}; returns operations per second. */
    static double slice(List<Client> clients, int ms) throws InterruptedException {
        long[] done = timed(clients, ms);
        return done[0] / (done[1] / 1e9);
    }

    private static final com.sun.management.ThreadMXBean CPU =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    /**
     * Runs every client on its own thread for {@code ms}; returns the operations, the nanoseconds taken and the CPU
     * time the client threads used (user and system, nanoseconds).
     */
    static long[] timed(List<Client> clients, int ms) throws InterruptedException {
        LongAdder ops = new LongAdder();
        LongAdder cpu = new LongAdder();
        LongAdder allocated = new LongAdder();
        LongAccumulator slowest = new LongAccumulator(Math::max, 0);
        long deadline = System.nanoTime() + ms * 1_000_000L;
        List<Thread> threads = new ArrayList<>();
        List<Throwable> failures = new ArrayList<>();
        long start = System.nanoTime();
        for (Client client : clients) {
            Thread t = new Thread(() -> {
                ThreadLocalRandom random = ThreadLocalRandom.current();
                long cpuAtStart = CPU.getCurrentThreadCpuTime();
                long allocatedAtStart = CPU.getCurrentThreadAllocatedBytes();
                try {
                    long before = System.nanoTime();
                    while (before < deadline) {
                        client.read(random.nextLong(1, ROWS + 1));
                        ops.increment();
                        long after = System.nanoTime();
                        slowest.accumulate(after - before);
                        before = after;
                    }
                } catch (SQLException | RuntimeException e) {
                    synchronized (failures) {
                        failures.add(e);
                    }
                }
                cpu.add(CPU.getCurrentThreadCpuTime() - cpuAtStart);
                allocated.add(CPU.getCurrentThreadAllocatedBytes() - allocatedAtStart);
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        if (!failures.isEmpty()) {
            throw new IllegalStateException("a client failed", failures.get(0));
        }
        return new long[] {ops.sum(), System.nanoTime() - start, cpu.sum(), slowest.get(), allocated.sum()};
    }

    static Client driverClient(String url) throws SQLException {
        return driverClient(url, Path.SELECT4);
    }

    static Client driverClient(String url, Path path) throws SQLException {
        Connection c = DriverManager.getConnection(path.properties.isEmpty() ? url : url + "&" + path.properties);
        path.setUp(c);
        PreparedStatement select = c.prepareStatement(SQL);
        PreparedStatement update = c.prepareStatement(UPDATE);
        return new Client() {
            @Override
            public void read(long key) throws SQLException {
                path.run(select, update, key, ThreadLocalRandom.current().nextBoolean());
            }

            @Override
            public void close() throws SQLException {
                c.close();
            }
        };
    }

    /** Plain pgjdbc from HikariCP pools, one per replica; the client picks the shard and a replica itself. */
    static Client directClient(HashRing ring, List<List<HikariDataSource>> pools) throws SQLException {
        return directClient(ring, pools, null, Path.SELECT4);
    }

    /**
     * Plain pgjdbc from HikariCP pools: a connection to every replica and (unless {@code primaryPools} is null) to
     * every primary, each set up for {@code path}; the client picks the shard and the node itself.
     */
    static Client directClient(
            HashRing ring, List<List<HikariDataSource>> pools, List<HikariDataSource> primaryPools, Path path)
            throws SQLException {
        List<Connection> connections = new ArrayList<>();
        PreparedStatement[][] selects = new PreparedStatement[pools.size()][];
        PreparedStatement[][] updates = new PreparedStatement[pools.size()][];
        PreparedStatement[] primarySelects = new PreparedStatement[pools.size()];
        PreparedStatement[] primaryUpdates = new PreparedStatement[pools.size()];
        for (int shard = 0; shard < pools.size(); shard++) {
            selects[shard] = new PreparedStatement[pools.get(shard).size()];
            updates[shard] = new PreparedStatement[pools.get(shard).size()];
            for (int r = 0; r < pools.get(shard).size(); r++) {
                Connection c = pools.get(shard).get(r).getConnection();
                connections.add(c);
                path.setUp(c);
                selects[shard][r] = c.prepareStatement(SQL);
                updates[shard][r] = c.prepareStatement(UPDATE);
            }
            if (primaryPools != null) {
                Connection c = primaryPools.get(shard).getConnection();
                connections.add(c);
                path.setUp(c);
                primarySelects[shard] = c.prepareStatement(SQL);
                primaryUpdates[shard] = c.prepareStatement(UPDATE);
            }
        }
        return new Client() {
            private int turn;

            @Override
            public void read(long key) throws SQLException {
                int shard = ring.shardFor(KeyHash.hashInt8(key));
                boolean updateNow = ThreadLocalRandom.current().nextBoolean();
                if (path.onReplica(updateNow)) {
                    int r = Math.floorMod(turn++, selects[shard].length);
                    path.run(selects[shard][r], updates[shard][r], key, updateNow);
                } else {
                    path.run(primarySelects[shard], primaryUpdates[shard], key, updateNow);
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

    static void select(PreparedStatement ps, long key) throws SQLException {
        ps.setLong(1, key);
        try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            rs.getString(1);
        }
    }

    static void update(PreparedStatement ps, long key) throws SQLException {
        ps.setLong(1, key);
        ps.executeUpdate();
    }

    static List<List<HikariDataSource>> replicaPools(LocalCluster cluster) {
        List<List<HikariDataSource>> pools = new ArrayList<>();
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            List<HikariDataSource> shardPools = new ArrayList<>();
            for (PgNode node : cluster.shard(shard)) {
                if (node.role() != NodeRole.PRIMARY) {
                    shardPools.add(pool(node));
                }
            }
            pools.add(shardPools);
        }
        return pools;
    }

    static List<HikariDataSource> primaryPools(LocalCluster cluster) {
        List<HikariDataSource> pools = new ArrayList<>();
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            pools.add(pool(cluster.primary(shard)));
        }
        return pools;
    }

    private static HikariDataSource pool(PgNode node) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(node.jdbcUrl());
        config.setUsername("postgres");
        config.setMaximumPoolSize(16);
        config.setPoolName("direct-" + node.name());
        return new HikariDataSource(config);
    }

    static void load(String url) throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE users (user_id bigint PRIMARY KEY, name text, email text, visits bigint NOT NULL"
                    + " DEFAULT 0)");
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

    /** The {@code q} quantile of sorted values, interpolated. */
    static double quantile(double[] sorted, double q) {
        double at = q * (sorted.length - 1);
        int below = (int) Math.floor(at);
        int above = Math.min(sorted.length - 1, below + 1);
        return sorted[below] + (sorted[above] - sorted[below]) * (at - below);
    }

    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return quantile(sorted, 0.5);
    }
}
