package io.shardline.chaos;

import io.shardline.compose.PgNode;
import io.shardline.rebalancer.MoveRunner;
import io.shardline.topology.HashRing;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperMoveWatcher;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chaos rounds on one {@link ChaosCluster}: each round adds an empty shard, runs the workload while the nemesis
 * injects faults on the round's seed and a move fills the new shard part way through, then heals everything,
 * waits until the move is over and no transaction is in doubt, and checks the history against the primaries.
 *
 * <p>{@code java -cp ... io.shardline.chaos.ChaosRun SECONDS FIRST_SEED [ROUND_SECONDS]} runs rounds of
 * {@code ROUND_SECONDS} (default 300) with seeds {@code FIRST_SEED}, {@code FIRST_SEED + 1}, ... for
 * {@code SECONDS} in all, prints each round's report and the sum, and exits with 1 when a guarantee was
 * violated, naming the failing seeds. One seed replays a round's schedule of faults (the timing of the
 * operations around them is the machine's).
 */
public final class ChaosRun implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ChaosRun.class);
    private static final long IDS_PER_ROUND = 1_000_000_000L;

    private final ChaosCluster cluster;
    private final AtomicReference<History> current = new AtomicReference<>(new History());
    private int round;

    private ChaosRun(Path dir) throws Exception {
        this.cluster = ChaosCluster.start(dir, this::bankLine);
    }

    /** Starts the cluster in {@code dir}; {@link #close} stops it. */
    static ChaosRun start(Path dir) throws Exception {
        return new ChaosRun(dir);
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: ChaosRun SECONDS FIRST_SEED [ROUND_SECONDS]");
            System.exit(2);
        }
        long seconds = Long.parseLong(args[0]);
        long seed = Long.parseLong(args[1]);
        long roundSeconds = args.length > 2 ? Long.parseLong(args[2]) : 300;
        Path dir = Files.createTempDirectory("shardline-chaos-");
        Report total = new Report();
        List<Long> failing = new ArrayList<>();
        long start = System.nanoTime();
        try (ChaosRun run = start(dir)) {
            do {
                try {
                    Report report = run.round(seed, Duration.ofSeconds(roundSeconds), Nemesis.Kind.scheduled(), true);
                    System.out.println("---- round with seed " + seed + " ----\n" + report.table());
                    if (!report.ok()) {
                        failing.add(seed);
                    }
                    total.merge(report);
                } catch (Exception e) {
                    System.out.println("---- round with seed " + seed + " failed: " + e);
                    e.printStackTrace(System.out);
                    failing.add(seed);
                    break; // the cluster may be left in any state
                }
                seed++;
            } while (System.nanoTime() - start < Duration.ofSeconds(seconds).toNanos());
        } catch (Exception e) {
            System.out.println("---- the cluster failed to start or stop: " + e);
            e.printStackTrace(System.out);
            failing.add(seed);
        } finally {
            System.out.printf(
                    "---- all rounds, %d s (processes' logs in %s) ----%n%s",
                    (System.nanoTime() - start) / 1_000_000_000L, dir, total.table());
            System.out.println(failing.isEmpty() ? "no guarantee violated" : "FAILING SEEDS: " + failing);
            System.out.flush();
            Runtime.getRuntime().halt(failing.isEmpty() ? 0 : 1);
        }
    }

    /**
     * One round: faults from {@code kinds} drawn by {@code seed}, for {@code length}; then the checks. The rebalancer
     * is killed or stopped in every phase of the round's move ({@code everyPhase}), or in one drawn by the seed.
     */
    Report round(long seed, Duration length, List<Nemesis.Kind> kinds, boolean everyPhase) throws Exception {
        round++;
        LOG.info("chaos round {} with seed {}: {} s", round, seed, length.toSeconds());
        cluster.addEmptyShard();
        Map<Long, Long> countersBefore = perKey("SELECT k, n FROM counters");
        Map<Long, Long> touchedBefore = perKey("SELECT k, touched FROM marks");
        long firstId = round * IDS_PER_ROUND;
        History history = new History();
        current.set(history);
        ChaosWorkload workload = new ChaosWorkload(cluster, history, firstId, round * IDS_PER_ROUND * 1_000);
        Nemesis nemesis = new Nemesis(cluster, history, seed, kinds);
        Random random = new Random(seed);
        // in the round's second half: the first half's ZooKeeper outages happen outside a move
        long moveAt = length.toMillis() / 2 + random.nextInt((int) (length.toMillis() / 6));
        List<MoveState> phases = List.of(
                MoveState.COPYING, MoveState.CATCHING_UP, MoveState.FENCED, MoveState.SWITCHED, MoveState.CLEANING);
        if (!everyPhase) {
            phases = List.of(phases.get(random.nextInt(phases.size())));
        }
        MoveTracker move = new MoveTracker(moveAt, phases, random, history);
        String moveId;
        long prepared;
        // an application instance that stays: its router resolves what dead routers left in doubt
        try (Connection router = DriverManager.getConnection(cluster.routerUrl("twoPhaseCommit=true"))) {
            try {
                workload.start();
                nemesis.start();
                move.start();
                Thread.sleep(length.toMillis());
            } finally {
                try {
                    nemesis.stop();
                } finally {
                    workload.stop();
                    stopBank();
                }
            }
            moveId = move.awaitOver(Duration.ofMinutes(3));
            history.moveWindow(move.plannedAt, move.overAt);
            prepared = awaitNoPreparedTransactions(Duration.ofSeconds(90));
        }
        FinalState state = new FinalState(
                itemCopies(firstId),
                countersBefore,
                perKey("SELECT k, n FROM counters"),
                touchedBefore,
                perKey("SELECT k, touched FROM marks"),
                sum("SELECT coalesce(sum(balance), 0) FROM accounts"),
                sum("SELECT count(*) FROM accounts"),
                prepared,
                move.state == MoveState.DONE ? 1 : 0,
                move.state == MoveState.ABORTED ? 1 : 0,
                moveProblems(moveId, move.state));
        Report report = Checker.check(history, state, seed);
        cluster.bank.start();
        return report;
    }

    private void bankLine(String line) {
        String[] f = line.split(" ");
        if (f.length == 4 && f[0].equals("op")) {
            long invoked = Long.parseLong(f[2]);
            long completed = Long.parseLong(f[3]);
            current.get()
                    .add(new Op(-1, Op.Kind.TRANSFER, 0, 0, invoked, completed, Op.Outcome.valueOf(f[1]), 0, 0, null));
        }
    }

    private void stopBank() throws Exception {
        if (cluster.bank.isAlive()) {
            cluster.bank.tell("stop");
            if (!cluster.bank.awaitExit(20_000)) {
                cluster.bank.kill();
            }
        }
    }

    /** Plans the round's move at its time, and follows it until it is over. */
    private final class MoveTracker {
        private final long atMs;
        private final List<MoveState> phases;
        private final Random random;
        private final History history;
        private final Thread thread;
        private volatile String id;
        private volatile long plannedAt;
        private volatile long overAt = Long.MAX_VALUE;
        private volatile MoveState state;

        MoveTracker(long atMs, List<MoveState> phases, Random random, History history) {
            this.atMs = atMs;
            this.phases = phases;
            this.random = random;
            this.history = history;
            this.thread = new Thread(this::plan, "chaos-move");
        }

        void start() {
            thread.start();
        }

        private void plan() {
            try {
                Thread.sleep(atMs);
                long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
                while (id == null && System.nanoTime() < deadline) {
                    try {
                        plannedAt = System.currentTimeMillis();
                        id = MoveRunner.plan(cluster.client, ChaosCluster.NAME, 0);
                        LOG.info("move {} planned", id);
                    } catch (Exception e) {
                        // ZooKeeper may be out now (the nemesis): plan again
                        LOG.info("planning the move: {}", e.getMessage());
                        Thread.sleep(500);
                    }
                }
                for (int i = 0; id != null && i < phases.size(); i++) {
                    hitInPhase(phases.get(i));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        /**
         * The first time the move is seen in {@code phase} (polled every 2 ms: the fenced and switched phases last
         * tens of milliseconds), kills the rebalancer and starts it again a second later, or stops it (SIGSTOP) for
         * 2 to 12 s, past its ZooKeeper session at times, drawn from the seed. A move that passes the phase unseen
         * is logged, not counted.
         */
        private void hitInPhase(MoveState phase) throws InterruptedException {
            boolean kill = random.nextBoolean();
            long pauseMs = 2_000 + random.nextInt(10_000);
            String path = ZooKeeperTopologyStore.clusterPath(ChaosCluster.NAME) + "/moves/" + id;
            long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
            while (System.nanoTime() < deadline) {
                MoveState now;
                try {
                    now = ZooKeeperMoveWatcher.fromJson(cluster.client.getData().forPath(path), path)
                            .state();
                } catch (Exception e) {
                    Thread.sleep(50); // ZooKeeper out (the nemesis)
                    continue;
                }
                if (now == phase) {
                    long start = System.currentTimeMillis();
                    if (kill) {
                        try {
                            cluster.rebalancer.kill();
                            Thread.sleep(1_000);
                        } finally {
                            cluster.rebalancer.start();
                        }
                    } else {
                        cluster.rebalancer.pause();
                        try {
                            Thread.sleep(pauseMs);
                        } finally {
                            cluster.rebalancer.resume();
                        }
                    }
                    history.add(new Fault(
                            kill ? Nemesis.Kind.REBALANCER_KILL_IN_PHASE : Nemesis.Kind.REBALANCER_PAUSE_IN_PHASE,
                            "rebalancer (move " + now.name().toLowerCase(Locale.ROOT) + ")",
                            start,
                            System.currentTimeMillis(),
                            0));
                    LOG.info("rebalancer {} with the move {}", kill ? "killed" : "stopped", now);
                    return;
                }
                if (now.isTerminal() || now.ordinal() > phase.ordinal()) {
                    LOG.info("the move passed {} unseen: the rebalancer was not hit in it", phase);
                    return;
                }
                Thread.sleep(2);
            }
        }

        /** Waits until the move is planned and over; returns its id (null when it could not be planned). */
        String awaitOver(Duration timeout) throws Exception {
            thread.join();
            if (id == null) {
                return null;
            }
            long deadline = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < deadline) {
                try {
                    MoveRecord m = MoveRunner.moves(cluster.client, ChaosCluster.NAME).stream()
                            .filter(r -> r.id().equals(id))
                            .findFirst()
                            .orElseThrow();
                    state = m.state();
                    if (state.isTerminal()) {
                        overAt = Math.min(overAt, m.updatedAtMillis());
                        LOG.info("move {} is {}", id, state);
                        return id;
                    }
                } catch (Exception e) {
                    LOG.info("reading the move: {}", e.getMessage());
                }
                Thread.sleep(200);
            }
            return id;
        }
    }

    private long awaitNoPreparedTransactions(Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        long prepared;
        do {
            prepared = sum("SELECT count(*) FROM pg_prepared_xacts");
            if (prepared == 0) {
                return 0;
            }
            Thread.sleep(500);
        } while (System.nanoTime() < deadline);
        return prepared;
    }

    private List<String> moveProblems(String id, MoveState state) throws Exception {
        List<String> problems = new ArrayList<>();
        if (id == null) {
            problems.add("the round's move could not be planned within 2 minutes (see the log)");
        } else if (state == null || !state.isTerminal()) {
            problems.add("move " + id + " is " + state + " 3 minutes after the round");
        }
        HashRing ring = TopologyCodec.ringFromJson(
                cluster.client.getData().forPath(ZooKeeperTopologyStore.clusterPath(ChaosCluster.NAME) + "/ring"),
                "ring");
        for (PgNode primary : cluster.primaries()) {
            long left = Long.parseLong(primary.queryString("SELECT (SELECT count(*) FROM pg_publication)"
                    + " + (SELECT count(*) FROM pg_subscription)"
                    + " + (SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'logical')"));
            if (left > 0) {
                problems.add(left + " publications, subscriptions or logical slots left on " + primary.name());
            }
            if (!"t".equals(primary.queryString("SELECT to_regclass('shardline.move_barrier') IS NULL"))) {
                problems.add("the cutover's barrier table left on " + primary.name());
            }
            for (ShardedTable table : ChaosCluster.TABLES) {
                if (!"t".equals(primary.queryString("SELECT to_regclass('" + table.table() + "') IS NOT NULL"))) {
                    continue;
                }
                String hash = table.keyType().sqlHashExpression(table.keyColumn());
                long misplaced = Long.parseLong(primary.queryString("SELECT count(*) FROM " + table.table()
                        + " WHERE NOT (" + ring.sqlPredicate(primary.shard(), hash) + ")"));
                if (misplaced > 0) {
                    problems.add(misplaced + " rows of " + table.table() + " on " + primary.name()
                            + ", which the ring gives to other shards");
                }
            }
        }
        return problems;
    }

    private Map<Long, Integer> itemCopies(long firstId) throws SQLException {
        Map<Long, Integer> copies = new HashMap<>();
        for (long[] row : rows("SELECT id, 1 FROM items WHERE id >= " + firstId)) {
            copies.merge(row[0], 1, Integer::sum);
        }
        return copies;
    }

    /** {@code key -> value} summed over every primary (a key has one row, on one shard). */
    private Map<Long, Long> perKey(String sql) throws SQLException {
        Map<Long, Long> values = new HashMap<>();
        for (long[] row : rows(sql)) {
            values.merge(row[0], row[1], Long::sum);
        }
        return values;
    }

    private long sum(String sql) throws SQLException {
        return rows(sql).stream().mapToLong(r -> r[0]).sum();
    }

    /** The rows of a query of two bigint columns (or one) on every primary that has its table. */
    private List<long[]> rows(String sql) throws SQLException {
        List<long[]> rows = new ArrayList<>();
        for (PgNode primary : cluster.primaries()) {
            try (Connection c = primary.connect();
                    Statement s = c.createStatement()) {
                if (sql.contains(" FROM ") && !sql.contains("pg_prepared_xacts")) {
                    String table = sql.substring(sql.indexOf(" FROM ") + 6).split(" ")[0];
                    try (ResultSet rs = s.executeQuery("SELECT to_regclass('" + table + "') IS NOT NULL")) {
                        rs.next();
                        if (!rs.getBoolean(1)) {
                            continue; // a shard that has not got its tables yet (its move did not reach it)
                        }
                    }
                }
                try (ResultSet rs = s.executeQuery(sql)) {
                    int columns = rs.getMetaData().getColumnCount();
                    while (rs.next()) {
                        long[] row = new long[columns];
                        for (int i = 0; i < columns; i++) {
                            row[i] = rs.getLong(i + 1);
                        }
                        rows.add(row);
                    }
                }
            }
        }
        return rows;
    }

    @Override
    public void close() throws Exception {
        cluster.close();
    }
}
