package io.shardline.bench;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.NodeRole;
import io.shardline.compose.PgNode;
import io.shardline.monitor.ReplicationMonitor;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.LagReport;
import io.shardline.topology.LagSnapshot;
import io.shardline.topology.ZooKeeperLagWatcher;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Collectors;

/**
 * The single-primary fleet this project exists for: one shard of a primary, {@code hubs} hub replicas and
 * {@code leaves} leaf replicas streaming from the hubs (default 4 and 46: 50 replicas), small PostgreSQL
 * settings. A replication monitor samples every replica; keyed reads go through the driver with a 1000 ms
 * staleness bound. Reported: how long the cluster took to start, who streams from whom (the primary must feed
 * only its hubs), the age of the lag reports as a router sees them (sampled every 50 ms for every replica:
 * p50, p99, max, and reports missing), the reads each replica served, and the driver's throughput.
 *
 * <p>Run: {@code java -cp bench/target/benchmarks.jar io.shardline.bench.Cascade [hubs] [leaves] [seconds]
 * [sampleMs] [threads]}
 */
public final class Cascade {
    static final int ROWS = 10_000;

    public static void main(String[] args) throws Exception {
        int hubs = args.length > 0 ? Integer.parseInt(args[0]) : 4;
        int leaves = args.length > 1 ? Integer.parseInt(args[1]) : 46;
        int seconds = args.length > 2 ? Integer.parseInt(args[2]) : 60;
        int sampleMs = args.length > 3 ? Integer.parseInt(args[3]) : 100;
        int threads = args.length > 4 ? Integer.parseInt(args[4]) : 4;
        long started = System.nanoTime();
        try (LocalCluster cluster = LocalCluster.builder()
                .name("cascade")
                .shards(1)
                .hubs(hubs)
                .leaves(leaves)
                .setting("shared_buffers", "16MB")
                .setting("max_connections", "60")
                .setting("max_worker_processes", "8")
                .setting("max_logical_replication_workers", "4")
                .setting("wal_keep_size", "64MB")
                .startTimeout(Duration.ofMinutes(10))
                .start()) {
            System.out.printf(
                    "cluster of 1 primary, %d hubs and %d leaves started in %.1f s%n",
                    hubs, leaves, (System.nanoTime() - started) / 1e9);
            // a console can watch it meanwhile: ./shardline console --zk <this> --name cascade
            System.out.println("ZooKeeper at " + cluster.zkConnectString());
            RouterClusters.publish(cluster, List.of());
            load(cluster);
            fanOut(cluster);
            try (ZooKeeperTopologyStore store = ZooKeeperTopologyStore.connect(
                            cluster.zkConnectString(), "cascade", Duration.ofSeconds(10));
                    ReplicationMonitor monitor = new ReplicationMonitor(
                            store, Duration.ofMillis(100), Duration.ofMillis(sampleMs), null, null);
                    ZooKeeperLagWatcher watcher = new ZooKeeperLagWatcher(store.client(), "cascade")) {
                monitor.start();
                watcher.start();
                int replicas = hubs + leaves;
                long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                while (watcher.snapshot().reports().size() < replicas) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("the monitor reported "
                                + watcher.snapshot().reports().size() + " of " + replicas + " replicas within 60 s");
                    }
                    Thread.sleep(50);
                }
                Map<String, Long> scansBefore = scans(cluster);
                run(cluster, watcher, replicas, seconds, threads);
                reads(cluster, scansBefore);
            } finally {
                ShardlineDriver.closeAll();
            }
        }
    }

    private static void load(LocalCluster cluster) throws SQLException {
        try (Connection c = cluster.node("s0-primary").connect();
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE kv (id int PRIMARY KEY, v text NOT NULL)");
            s.execute("INSERT INTO kv SELECT i, md5(i::text) FROM generate_series(1, " + ROWS + ") i");
        }
        cluster.awaitReplication(Duration.ofMinutes(2));
    }

    /** Who streams from whom, from each upstream's {@code pg_stat_replication}. */
    private static void fanOut(LocalCluster cluster) throws SQLException {
        Map<String, Integer> downstreams = new LinkedHashMap<>();
        for (PgNode node : cluster.nodes()) {
            if (node.role() == NodeRole.LEAF) {
                continue;
            }
            try (Connection c = node.connect();
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_stat_replication")) {
                rs.next();
                downstreams.put(node.name(), rs.getInt(1));
            }
        }
        System.out.println("standbys streaming from each upstream: " + downstreams);
    }

    private static void run(LocalCluster cluster, ZooKeeperLagWatcher watcher, int replicas, int seconds, int threads)
            throws Exception {
        AtomicBoolean running = new AtomicBoolean(true);
        LongAdder reads = new LongAdder();
        List<Thread> workers = new ArrayList<>();
        List<Exception> failures = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Thread w = new Thread(
                    () -> {
                        try (Connection c =
                                        DriverManager.getConnection(cluster.shardlineUrl() + "?maxStalenessMs=1000");
                                PreparedStatement ps = c.prepareStatement("SELECT v FROM kv WHERE id = ?")) {
                            while (running.get()) {
                                ps.setInt(1, ThreadLocalRandom.current().nextInt(1, ROWS + 1));
                                try (ResultSet rs = ps.executeQuery()) {
                                    rs.next();
                                }
                                reads.increment();
                            }
                        } catch (SQLException e) {
                            synchronized (failures) {
                                failures.add(e);
                            }
                        }
                    },
                    "reader-" + t);
            w.start();
            workers.add(w);
        }
        // the age of every replica's report as a router holds it, sampled every 50 ms
        long[] ages = new long[seconds * 20 * replicas];
        int n = 0;
        int missing = 0;
        long start = System.nanoTime();
        long end = start + Duration.ofSeconds(seconds).toNanos();
        while (System.nanoTime() < end) {
            LagSnapshot snapshot = watcher.snapshot();
            long now = System.currentTimeMillis();
            missing += Math.max(0, replicas - snapshot.reports().size());
            for (LagReport r : snapshot.reports().values()) {
                if (n < ages.length) {
                    ages[n++] = Math.max(0, now - r.observedAtMillis());
                }
            }
            Thread.sleep(50);
        }
        running.set(false);
        for (Thread w : workers) {
            w.join();
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        if (!failures.isEmpty()) {
            throw failures.get(0);
        }
        long[] sorted = Arrays.copyOf(ages, n);
        Arrays.sort(sorted);
        System.out.printf(
                "lag reports' age as a router holds them (%d samples of %d replicas): p50 %d ms, p99 %d ms, max %d ms;"
                        + " reports missing %d%n",
                n, replicas, pct(sorted, 0.50), pct(sorted, 0.99), sorted.length == 0 ? 0 : sorted[n - 1], missing);
        System.out.printf(
                "keyed reads through the driver (%d threads, maxStalenessMs=1000): %,.0f/s%n",
                threads, reads.sum() / elapsed);
    }

    /** Index scans of kv on every node: the reads each served. */
    private static Map<String, Long> scans(LocalCluster cluster) throws SQLException {
        Map<String, Long> scans = new LinkedHashMap<>();
        for (PgNode node : cluster.nodes()) {
            try (Connection c = node.connect();
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery(
                            "SELECT coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'kv'")) {
                scans.put(node.name(), rs.next() ? rs.getLong(1) : 0);
            }
        }
        return scans;
    }

    private static void reads(LocalCluster cluster, Map<String, Long> before) throws SQLException {
        Map<String, Long> after = scans(cluster);
        Map<String, Long> served = new LinkedHashMap<>();
        for (Map.Entry<String, Long> e : after.entrySet()) {
            served.put(e.getKey(), e.getValue() - before.getOrDefault(e.getKey(), 0L));
        }
        long[] replicaReads = served.entrySet().stream()
                .filter(e -> !e.getKey().endsWith("-primary"))
                .mapToLong(Map.Entry::getValue)
                .sorted()
                .toArray();
        System.out.printf(
                "reads served: primary %d; replicas min %d, median %d, max %d (%d of %d served none)%n",
                served.getOrDefault("s0-primary", 0L),
                replicaReads.length == 0 ? 0 : replicaReads[0],
                replicaReads.length == 0 ? 0 : replicaReads[replicaReads.length / 2],
                replicaReads.length == 0 ? 0 : replicaReads[replicaReads.length - 1],
                Arrays.stream(replicaReads).filter(r -> r == 0).count(),
                replicaReads.length);
        System.out.println("per node: "
                + served.entrySet().stream()
                        .map(e -> e.getKey() + "=" + e.getValue())
                        .collect(Collectors.joining(", ")));
    }

    private static long pct(long[] sorted, double p) {
        if (sorted.length == 0) {
            return 0;
        }
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1)];
    }
}
