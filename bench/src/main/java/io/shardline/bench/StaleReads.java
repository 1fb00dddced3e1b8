package io.shardline.bench;

import com.zaxxer.hikari.HikariDataSource;
import io.shardline.compose.LocalCluster;
import io.shardline.monitor.ReplicationMonitor;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongPredicate;

/**
 * Stale reads side by side, on one cluster (s0-primary -> s0-hub1 -> s0-leaf1, s0-hub2) where s0-hub2 replays
 * 2 s behind: the Shardline driver with {@code maxStalenessMs=1000} and a replication monitor, against plain
 * pgjdbc + HikariCP reading the replicas round-robin. A writer stamps the current time into one row every
 * 5 ms; a read is stale when the stamp it sees is older than the bound (plus the writer's period). A third
 * policy, the driver with {@code maxStalenessMs=-1} (any replica, no lag check), isolates the cost of the
 * check itself. Reported: stale reads per 100k for each policy, and the throughput of lag-aware reads relative
 * to the others (median over rounds of one slice per policy, the order rotated every round).
 *
 * <p>Run: {@code java -cp bench/target/benchmarks.jar io.shardline.bench.StaleReads [rounds] [sliceMs] [threads]}
 */
public final class StaleReads {
    static final long BOUND_MS = 1000;
    static final long WRITE_PERIOD_MS = 5;
    static final String READ = "SELECT ts FROM clock WHERE id = 1";

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 10;
        int sliceMs = args.length > 1 ? Integer.parseInt(args[1]) : 1000;
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : 4;
        try (LocalCluster cluster =
                LocalCluster.builder().name("stale").shards(1).hubs(2).leaves(1).start()) {
            RouterClusters.publish(cluster, List.of());
            try (ZooKeeperTopologyStore store =
                            ZooKeeperTopologyStore.connect(cluster.zkConnectString(), "stale", Duration.ofSeconds(10));
                    ReplicationMonitor monitor =
                            new ReplicationMonitor(store, Duration.ofMillis(100), Duration.ofMillis(100), null, null)) {
                monitor.start();
                run(cluster, monitor, rounds, sliceMs, threads);
            } finally {
                ShardlineDriver.closeAll();
            }
        }
    }

    private static void run(LocalCluster cluster, ReplicationMonitor monitor, int rounds, int sliceMs, int threads)
            throws Exception {
        try (Connection c = cluster.node("s0-primary").connect();
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE clock (id int PRIMARY KEY, ts bigint NOT NULL)");
            s.execute("INSERT INTO clock VALUES (1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)");
        }
        AtomicBoolean writing = new AtomicBoolean(true);
        Thread writer = new Thread(() -> write(cluster, writing), "clock-writer");
        writer.start();
        cluster.node("s0-hub2").setApplyDelay(Duration.ofSeconds(2));
        awaitLag(monitor, lag -> lag >= 1800, "fall 2 s behind");
        List<HikariDataSource> pools = SideBySide.replicaPools(cluster).get(0);
        String url = cluster.shardlineUrl();
        Policy lagAware = new Policy("lag-aware (driver, maxStalenessMs=1000)", rounds);
        Policy roundRobin = new Policy("round-robin (pgjdbc + HikariCP)", rounds);
        Policy unbounded = new Policy("any replica (driver, maxStalenessMs=-1)", rounds);
        List<Policy> policies = List.of(lagAware, roundRobin, unbounded);
        for (int t = 0; t < threads; t++) {
            lagAware.clients.add(driverClient(url + "?maxStalenessMs=" + BOUND_MS, lagAware));
            roundRobin.clients.add(roundRobinClient(pools, roundRobin));
            unbounded.clients.add(driverClient(url + "?maxStalenessMs=-1", unbounded));
        }
        measure(policies, rounds, sliceMs);
        System.out.printf(
                "one replica of three 2 s behind, bound %d ms, %d threads, %d rounds of %d ms slices per policy%n",
                BOUND_MS, threads, rounds, sliceMs);
        report(policies, lagAware, roundRobin, unbounded);

        cluster.node("s0-hub2").setApplyDelay(Duration.ZERO);
        awaitLag(monitor, lag -> lag <= 200, "catch up");
        measure(policies, rounds, sliceMs);
        System.out.printf("%nevery replica caught up (the cost of the lag check alone):%n");
        report(policies, lagAware, roundRobin, unbounded);

        writing.set(false);
        writer.join();
        for (Policy policy : policies) {
            for (SideBySide.Client client : policy.clients) {
                client.close();
            }
        }
        pools.forEach(HikariDataSource::close);
    }

    /** Waits up to 30 s for the monitor to report s0-hub2's lag as {@code wanted}. */
    private static void awaitLag(ReplicationMonitor monitor, LongPredicate wanted, String what)
            throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!monitor.report("s0-hub2").map(r -> wanted.test(r.lagMs())).orElse(false)) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("s0-hub2 did not " + what + " within 30 s");
            }
            Thread.sleep(100);
        }
    }

    /** One warm-up slice per policy, then {@code rounds} rounds of one slice each, the order rotated. */
    private static void measure(List<Policy> policies, int rounds, int sliceMs) throws InterruptedException {
        for (Policy policy : policies) {
            SideBySide.slice(policy.clients, sliceMs);
            policy.reset();
        }
        for (int round = 0; round < rounds; round++) {
            for (int k = 0; k < policies.size(); k++) {
                Policy policy = policies.get((round + k) % policies.size());
                policy.rates[round] = SideBySide.slice(policy.clients, sliceMs);
            }
        }
    }

    private static void report(List<Policy> policies, Policy lagAware, Policy roundRobin, Policy unbounded) {
        System.out.println(
                "policy                                      reads  stale per 100k  worst staleness ms  ops/s median");
        for (Policy policy : policies) {
            policy.print();
        }
        System.out.printf(
                "throughput lag-aware / round-robin: median %.3f; lag-aware / any replica: median %.3f%n",
                lagAware.ratioTo(roundRobin), lagAware.ratioTo(unbounded));
    }

    /** Stamps the primary's clock into the row every {@link #WRITE_PERIOD_MS}. */
    private static void write(LocalCluster cluster, AtomicBoolean writing) {
        try (Connection c = cluster.node("s0-primary").connect();
                PreparedStatement ps = c.prepareStatement(
                        "UPDATE clock SET ts = (extract(epoch FROM clock_timestamp()) * 1000)::bigint WHERE id = 1")) {
            while (writing.get()) {
                ps.executeUpdate();
                Thread.sleep(WRITE_PERIOD_MS);
            }
        } catch (SQLException | InterruptedException e) {
            throw new IllegalStateException("the clock writer stopped", e);
        }
    }

    /** Counts the reads of one policy and those that saw a stamp older than the bound. */
    static final class Policy {
        final String name;
        final List<SideBySide.Client> clients = new ArrayList<>();
        final double[] rates;
        final LongAdder reads = new LongAdder();
        final LongAdder stale = new LongAdder();
        final LongAccumulator worstMs = new LongAccumulator(Math::max, 0);

        Policy(String name, int rounds) {
            this.name = name;
            this.rates = new double[rounds];
        }

        void saw(long stampMillis, long readStartMillis) {
            long age = readStartMillis - stampMillis;
            reads.increment();
            if (age > BOUND_MS + WRITE_PERIOD_MS) {
                stale.increment();
            }
            worstMs.accumulate(age);
        }

        void reset() {
            reads.reset();
            stale.reset();
            worstMs.reset();
        }

        /** The median over rounds of this policy's throughput divided by {@code other}'s in the same round. */
        double ratioTo(Policy other) {
            double[] ratios = new double[rates.length];
            for (int i = 0; i < rates.length; i++) {
                ratios[i] = rates[i] / other.rates[i];
            }
            return SideBySide.median(ratios);
        }

        void print() {
            System.out.printf(
                    "%-42s %8d  %14.0f  %18d  %12.0f%n",
                    name, reads.sum(), 100_000.0 * stale.sum() / reads.sum(), worstMs.get(), SideBySide.median(rates));
        }
    }

    static SideBySide.Client driverClient(String url, Policy policy) throws SQLException {
        Connection c = DriverManager.getConnection(url);
        PreparedStatement ps = c.prepareStatement(READ);
        return new SideBySide.Client() {
            @Override
            public void read(long key) throws SQLException {
                long start = System.currentTimeMillis();
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    policy.saw(rs.getLong(1), start);
                }
            }

            @Override
            public void close() throws SQLException {
                c.close();
            }
        };
    }

    /** Each read on the next replica in turn, whatever its lag: what an application does with a replica list. */
    static SideBySide.Client roundRobinClient(List<HikariDataSource> pools, Policy policy) throws SQLException {
        List<Connection> connections = new ArrayList<>();
        List<PreparedStatement> statements = new ArrayList<>();
        for (HikariDataSource pool : pools) {
            Connection c = pool.getConnection();
            connections.add(c);
            statements.add(c.prepareStatement(READ));
        }
        return new SideBySide.Client() {
            private int turn;

            @Override
            public void read(long key) throws SQLException {
                long start = System.currentTimeMillis();
                try (ResultSet rs =
                        statements.get(Math.floorMod(turn++, statements.size())).executeQuery()) {
                    rs.next();
                    policy.saw(rs.getLong(1), start);
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
}
