package io.shardline.bench;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.rebalancer.CopyPipe;
import io.shardline.rebalancer.MoveEstimate;
import io.shardline.rebalancer.MovePlan;
import io.shardline.rebalancer.MoveRunner;
import io.shardline.rebalancer.PgDumpSchema;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyType;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperMoveWatcher;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.Watcher;

/**
 * A shard move measured on a local cluster of two shards holding {@code rows} users, filling a third:
 *
 * <ol>
 *   <li><b>Copy throughput</b>: the rows the move copies, per second of its COPYING phase (counting the rows on
 *       the sources, creating the subscriptions, the initial copy, until every table streams), against a raw
 *       {@code COPY (SELECT ... WHERE <moving ranges>) TO STDOUT | COPY ... FROM STDIN} pipe of the same rows
 *       into a table of the same shape on the same target, one pipe per source at once as the move does, each
 *       fed by one thread and scanning without parallel workers as the move's ({@link CopyPipe}). A {@code
 *       CHECKPOINT} on every primary precedes each side. To measure at 1M rows moved, load 3M.
 *   <li><b>Write pause</b>: one application thread writes at a fixed rate through the driver (random keys, a
 *       third of them in the moving ranges) for the whole move; latency is measured from each write's
 *       scheduled start, so writes queued behind a held one count their wait too. Reported: p50/p99/max over
 *       the cutover window (from the fence to the switch, plus 100 ms) and over the whole move, against the
 *       same writer on direct pgjdbc (no move) on the same machine just before.
 * </ol>
 *
 * <p>Run: {@code java -cp bench/target/benchmarks.jar io.shardline.bench.MoveBench [rows] [writesPerSecond]}
 */
public final class MoveBench {
    static final String CLUSTER = "movebench";
    static final ShardedTable USERS = new ShardedTable("public", "users", "user_id", KeyType.INTEGER);
    static final String SHAPE = "(user_id bigint PRIMARY KEY, name text NOT NULL, balance bigint NOT NULL DEFAULT 0)";

    public static void main(String[] args) throws Exception {
        long rows = args.length > 0 ? Long.parseLong(args[0]) : 1_000_000;
        int rate = args.length > 1 ? Integer.parseInt(args[1]) : 200;
        try (LocalCluster cluster = LocalCluster.builder()
                        .name(CLUSTER)
                        .shards(2)
                        .hubs(1)
                        .leaves(0)
                        .start();
                CuratorFramework client =
                        ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10))) {
            HashRing ring = RouterClusters.publish(cluster, List.of(USERS));
            load(cluster, ring, rows);
            int target = cluster.addShard().get(0).shard();
            ZooKeeperTopologyStore.updateTopology(
                    client, CLUSTER, t -> t.withShard(RouterClusters.shard(cluster, target)));
            MovePlan plan = MovePlan.fillEmptyShards(ring, List.of(target));

            List<Pipe> pipes = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                pipes.add(pipe(cluster, plan, target));
            }
            pipes.sort(Comparator.comparingDouble(Pipe::seconds));
            Pipe pipe = pipes.get(1); // the median of three
            Latencies direct = new Latencies();
            try (Connection c = cluster.primary(0).connect()) {
                writeFor(direct, Duration.ofSeconds(5), rate, rows, key -> update(c, key), null);
            }
            Run move = move(cluster, client, rate, rows);

            double pipeRate = pipe.rows / pipe.seconds;
            double copySeconds = (move.seen.get(MoveState.CATCHING_UP) - move.seen.get(MoveState.COPYING)) / 1e9;
            double copyRate = pipe.rows / copySeconds; // the same rows: the moving ranges of the sources
            System.out.printf(
                    "%nCopy: the move copied %,d rows in %.2f s (%,.0f rows/s); the raw COPY pipe %,d rows in %.2f s"
                            + " (%,.0f rows/s, median of 3): ratio %.2f%n",
                    pipe.rows, copySeconds, copyRate, pipe.rows, pipe.seconds, pipeRate, copyRate / pipeRate);
            long fenced = move.seen.get(MoveState.FENCED);
            long switched = move.seen.get(MoveState.SWITCHED);
            System.out.printf(
                    "Writes at %d/s: direct pgjdbc, no move: %s%n",
                    rate, direct.summary(Long.MIN_VALUE, Long.MAX_VALUE));
            System.out.printf(
                    "  driver, cutover window (%.0f ms from fence to switch, +100 ms): %s%n",
                    (switched - fenced) / 1e6, move.writes.summary(fenced, switched + 100_000_000L));
            System.out.printf(
                    "  driver, whole move (%.1f s): %s; %d errors%n",
                    (move.seen.get(MoveState.DONE) - move.seen.get(MoveState.PLANNED)) / 1e9,
                    move.writes.summary(move.seen.get(MoveState.PLANNED), move.seen.get(MoveState.DONE)),
                    move.errors.get());
            List<MoveState> phases = Arrays.stream(MoveState.values())
                    .filter(move.seen::containsKey)
                    .toList();
            for (int i = 0; i + 1 < phases.size(); i++) {
                long from = move.seen.get(phases.get(i));
                long to = move.seen.get(phases.get(i + 1));
                System.out.printf(
                        "    %-11s (%.2f s): %s%n", phases.get(i), (to - from) / 1e9, move.writes.summary(from, to));
            }
            ShardlineDriver.closeAll(); // before ZooKeeper stops
        }
    }

    /** Creates users on every primary and fills each with the keys the ring gives it. */
    private static void load(LocalCluster cluster, HashRing ring, long rows) throws SQLException {
        long t0 = System.nanoTime();
        String hash = USERS.keyType().sqlHashExpression("g");
        for (int shard : ring.shards()) {
            String owned = ring.sqlPredicate(shard, hash);
            try (Connection c = cluster.primary(shard).connect();
                    Statement s = c.createStatement()) {
                s.execute("CREATE TABLE users " + SHAPE);
                s.execute("INSERT INTO users SELECT g, md5(g::text) || md5((g + 1)::text), 0 FROM generate_series(1, "
                        + rows + ") g WHERE " + owned);
                s.execute("VACUUM ANALYZE users");
            }
        }
        System.out.printf("loaded %,d users in %.1f s%n", rows, (System.nanoTime() - t0) / 1e9);
    }

    private record Pipe(long rows, double seconds) {}

    /** The raw pipe of every transfer's rows into a scratch table of the same shape on the target, at once. */
    private static Pipe pipe(LocalCluster cluster, MovePlan plan, int target) throws Exception {
        PgNode to = cluster.primary(target);
        try (Connection c = to.connect();
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE users_pipe " + SHAPE);
        }
        checkpoint(cluster);
        long t0 = System.nanoTime();
        List<CompletableFuture<Long>> pipes = new ArrayList<>();
        for (MovePlan.Transfer t : plan.transfers()) {
            String select = "SELECT * FROM users WHERE "
                    + t.sqlPredicate(USERS.keyType().sqlHashExpression("user_id"));
            PgNode from = cluster.primary(t.source());
            pipes.add(CompletableFuture.supplyAsync(() -> copy(from, to, select)));
        }
        long rows = 0;
        for (CompletableFuture<Long> p : pipes) {
            rows += p.get();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        try (Connection c = to.connect();
                Statement s = c.createStatement()) {
            s.execute("DROP TABLE users_pipe");
        }
        return new Pipe(rows, seconds);
    }

    /**
     * A checkpoint on every primary before each measure, so that neither side pays for the other's dirty buffers
     * (each pipe writes hundreds of MB of WAL into the target; a checkpoint due during a run slows it).
     */
    private static void checkpoint(LocalCluster cluster) throws SQLException {
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            try (Connection c = cluster.primary(shard).connect();
                    Statement s = c.createStatement()) {
                s.execute("CHECKPOINT");
            }
        }
    }

    private static long copy(PgNode from, PgNode to, String select) {
        try (Connection out = from.connect();
                Connection in = to.connect();
                Statement s = out.createStatement()) {
            s.execute("SET max_parallel_workers_per_gather = 0"); // as the move's pipes
            return CopyPipe.transfer(out, "COPY (" + select + ") TO STDOUT", in, "COPY users_pipe FROM STDIN");
        } catch (SQLException e) {
            throw new IllegalStateException("the COPY pipe: " + e.getMessage(), e);
        }
    }

    private record Run(MoveRecord record, Map<MoveState, Long> seen, Latencies writes, AtomicLong errors) {}

    /** Runs the move with the writer going, noting when each state was first seen. */
    private static Run move(LocalCluster cluster, CuratorFramework client, int rate, long rows) throws Exception {
        String base = ZooKeeperTopologyStore.clusterPath(CLUSTER);
        ClusterTopology topology =
                TopologyCodec.topologyFromJson(client.getData().forPath(base + "/topology"), "topology");
        MoveEstimate.Connector connect = MoveEstimate.Connector.to("shardline", "postgres", null, "movebench");
        MoveRunner runner = new MoveRunner(
                client,
                CLUSTER,
                1,
                connect,
                new PgDumpSchema(PgDumpSchema.locatePgDump(), topology, null, connect),
                source -> "host=" + source.host() + " port=" + source.port() + " dbname=shardline user=postgres",
                MoveRunner.Settings.DEFAULT,
                () -> true);
        Latencies writes = new Latencies();
        AtomicLong errors = new AtomicLong();
        AtomicBoolean moving = new AtomicBoolean(true);
        Map<MoveState, Long> seen = new EnumMap<>(MoveState.class);
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                PreparedStatement update =
                        c.prepareStatement("UPDATE users SET balance = balance + 1 WHERE user_id = ?")) {
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> writeFor(
                    writes,
                    Duration.ofHours(1),
                    rate,
                    rows,
                    key -> {
                        try {
                            update.setLong(1, key);
                            update.executeUpdate();
                        } catch (SQLException e) {
                            errors.incrementAndGet();
                        }
                    },
                    moving));
            checkpoint(cluster);
            Thread.sleep(2000);
            String id = MoveRunner.plan(client, CLUSTER, 1);
            CompletableFuture<MoveState> run = CompletableFuture.supplyAsync(() -> {
                try {
                    return runner.run(id);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            MoveRecord record;
            do {
                // woken by each change of the record (a poll every few ms would take CPU from the move it measures)
                CountDownLatch changed = new CountDownLatch(1);
                byte[] data = client.getData()
                        .usingWatcher((Watcher) e -> changed.countDown())
                        .forPath(base + "/moves/" + id);
                record = ZooKeeperMoveWatcher.fromJson(data, id);
                seen.putIfAbsent(record.state(), System.nanoTime());
                changed.await(100, TimeUnit.MILLISECONDS);
            } while (!record.state().isTerminal() && !run.isDone());
            run.get();
            Thread.sleep(1000);
            moving.set(false);
            writer.get();
            MoveState[] states = MoveState.values();
            for (int i = states.length - 2; i >= 0; i--) {
                // a state passed between two polls counts from the next one seen (from the end: several in a row)
                if (states[i] != MoveState.ABORTED && seen.get(states[i + 1]) != null) {
                    seen.putIfAbsent(states[i], seen.get(states[i + 1]));
                }
            }
            return new Run(record, seen, writes, errors);
        }
    }

    @FunctionalInterface
    interface Write {
        void run(long key) throws SQLException;
    }

    private static void update(Connection c, long key) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE users SET balance = balance + 1 WHERE user_id = ?")) {
            ps.setLong(1, key);
            ps.executeUpdate();
        }
    }

    /** Open loop: write i is due at start + i / rate; its latency runs from then to its end. */
    private static void writeFor(
            Latencies into, Duration length, int rate, long rows, Write write, AtomicBoolean keepGoing) {
        long start = System.nanoTime();
        long end = start + length.toNanos();
        long period = 1_000_000_000L / rate;
        for (long i = 0; ; i++) {
            long due = start + i * period;
            if (due > end || (keepGoing != null && !keepGoing.get())) {
                return;
            }
            long wait = due - System.nanoTime();
            if (wait > 0) {
                try {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
            try {
                write.run(ThreadLocalRandom.current().nextLong(1, rows + 1));
            } catch (SQLException e) {
                throw new IllegalStateException(e);
            }
            into.add(due, System.nanoTime() - due);
        }
    }

    /** {@code [due, latency]} of every write. */
    static final class Latencies {
        private final ConcurrentLinkedQueue<long[]> all = new ConcurrentLinkedQueue<>();

        void add(long due, long latency) {
            all.add(new long[] {due, latency});
        }

        String summary(long from, long to) {
            long[] sorted = all.stream()
                    .filter(l -> l[0] >= from && l[0] <= to)
                    .mapToLong(l -> l[1])
                    .sorted()
                    .toArray();
            if (sorted.length == 0) {
                return "no writes";
            }
            return String.format(
                    "%d writes, p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                    sorted.length,
                    sorted[sorted.length / 2] / 1e6,
                    sorted[Math.min(sorted.length - 1, (int) (sorted.length * 0.99))] / 1e6,
                    sorted[sorted.length - 1] / 1e6);
        }
    }
}
