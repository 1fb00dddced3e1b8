package io.shardline.chaos;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The application: client threads going through the driver, each operation recorded in a {@link History} with its
 * outcome. Keyed inserts and increments, a clock per row written in order and read back from replicas within a
 * staleness bound, sessions reading their own writes, keyless updates of every shard (two-phase commit), and
 * atomic cross-shard reads of the bank (whose transfers run in the bank's own router JVM) and of the keyless
 * column. A thread whose operation fails opens a new connection (a new session) for its next one.
 */
final class ChaosWorkload {
    /** SQLStates after which the operation is known not to have been applied. */
    private static final Set<String> DEFINITE =
            Set.of("40001", "40P01", "55006", "55000", "55P03", "0A000", "P0002", "25006");

    private static final AtomicLong SESSIONS = new AtomicLong();

    private final ChaosCluster cluster;
    private final History history;
    private final long firstId;
    private final AtomicLong clockValue;
    private final List<Thread> threads = new ArrayList<>();
    private volatile boolean running;

    /**
     * @param firstId the first id this round inserts (rounds do not share ids)
     * @param clockStart a value above every clock value written before
     */
    ChaosWorkload(ChaosCluster cluster, History history, long firstId, long clockStart) {
        this.cluster = cluster;
        this.history = history;
        this.firstId = firstId;
        this.clockValue = new AtomicLong(clockStart);
    }

    /**
     * Whether an error says for sure that the statement (or transaction) was not applied: a refusal, a conflict, or
     * an error in the statement itself (classes 22, 23, 42: PostgreSQL rolled it back before any commit).
     */
    static boolean definite(SQLException e) {
        String state = e.getSQLState();
        return state != null
                && (DEFINITE.contains(state)
                        || state.startsWith("22")
                        || state.startsWith("23")
                        || state.startsWith("42"));
    }

    void start() {
        String writes = cluster.routerUrl("twoPhaseCommit=true");
        String bounded = cluster.routerUrl("readYourWrites=false&maxStalenessMs=" + ChaosCluster.BOUND_MS
                + "&lagFreshnessMs=" + ChaosCluster.FRESHNESS_MS);
        String anyReplica = cluster.routerUrl("maxStalenessMs=-1");
        running = true;
        AtomicLong ids = new AtomicLong(firstId);
        thread("inserts", writes, 2, c -> {
            long id = ids.getAndIncrement();
            return write(c, Op.Kind.INSERT, id, id, "INSERT INTO items (id, v) VALUES (?, ?)", id, id);
        });
        thread("increments", writes, 2, c -> {
            long k = 1 + ThreadLocalRandom.current().nextLong(ChaosCluster.COUNTERS);
            return write(c, Op.Kind.INCREMENT, k, 1, "UPDATE counters SET n = n + 1 WHERE k = ?", k);
        });
        AtomicLong clockKey = new AtomicLong();
        thread("clock-writes", writes, 5, c -> {
            long k = 1 + clockKey.getAndIncrement() % ChaosCluster.CLOCKS;
            long v = clockValue.incrementAndGet();
            return write(c, Op.Kind.CLOCK_WRITE, k, v, "UPDATE clock SET v = ? WHERE k = ?", v, k);
        });
        thread("bounded-reads", bounded, 1, c -> {
            long k = 1 + ThreadLocalRandom.current().nextLong(ChaosCluster.CLOCKS);
            return read(c, Op.Kind.CLOCK_READ, k, ChaosCluster.BOUND_MS, "SELECT v, 0 FROM clock WHERE k = ?", k);
        });
        for (int t = 0; t < 2; t++) {
            long k = 1 + t;
            AtomicLong v = new AtomicLong(clockStart());
            thread("ryw-" + t, anyReplica, 2, c -> {
                long value = v.incrementAndGet();
                boolean ok = write(
                        c,
                        Op.Kind.RYW_WRITE,
                        k,
                        value,
                        "INSERT INTO ryw (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                        k,
                        value);
                return ok && read(c, Op.Kind.RYW_READ, k, 0, "SELECT v, 0 FROM ryw WHERE k = ?", k);
            });
        }
        thread(
                "keyless",
                writes,
                250,
                c -> write(c, Op.Kind.KEYLESS_UPDATE, 0, 1, "UPDATE marks SET touched = touched + 1"));
        thread(
                "atomic-reads",
                writes,
                50,
                c -> read(c, Op.Kind.ATOMIC_READ, 1, 0, "SELECT sum(balance), count(*) FROM accounts")
                        && read(c, Op.Kind.ATOMIC_READ, 2, 0, "SELECT min(touched), max(touched) FROM marks"));
    }

    private long clockStart() {
        return clockValue.get();
    }

    void stop() throws InterruptedException {
        running = false;
        for (Thread t : threads) {
            t.join();
        }
        threads.clear();
    }

    @FunctionalInterface
    private interface Step {
        /** Runs one step; false when the connection should be replaced. */
        boolean run(Session c) throws SQLException;
    }

    /** A connection and its session id. */
    private record Session(Connection connection, long id) {}

    private void thread(String name, String url, long pauseMs, Step step) {
        Thread t = new Thread(
                () -> {
                    Session session = null;
                    while (running) {
                        try {
                            if (session == null) {
                                session = new Session(DriverManager.getConnection(url), SESSIONS.incrementAndGet());
                            }
                            if (!step.run(session)) {
                                closeQuietly(session.connection());
                                session = null;
                            }
                        } catch (SQLException e) {
                            // could not connect: the next try opens one again
                            pause(100);
                            continue;
                        } catch (RuntimeException e) {
                            // not an SQLException: the driver broke its contract; recorded, and the thread goes on
                            history.crash(name + ": " + e);
                            session = null;
                        }
                        pause(pauseMs);
                    }
                    if (session != null) {
                        closeQuietly(session.connection());
                    }
                },
                "chaos-" + name);
        threads.add(t);
        t.start();
    }

    private boolean write(Session s, Op.Kind kind, long key, long value, String sql, long... params) {
        long invoked = System.currentTimeMillis();
        try (PreparedStatement ps = prepare(s, sql, params)) {
            int count = ps.executeUpdate();
            history.add(new Op(
                    s.id(), kind, key, value, invoked, System.currentTimeMillis(), Op.Outcome.OK, count, 0, null));
            return true;
        } catch (SQLException e) {
            Op.Outcome outcome = definite(e) ? Op.Outcome.FAILED : Op.Outcome.UNKNOWN;
            history.add(
                    new Op(s.id(), kind, key, value, invoked, System.currentTimeMillis(), outcome, 0, 0, describe(e)));
            return false;
        }
    }

    private boolean read(Session s, Op.Kind kind, long key, long value, String sql, long... params) {
        long invoked = System.currentTimeMillis();
        try (PreparedStatement ps = prepare(s, sql, params)) {
            try (ResultSet rs = ps.executeQuery()) {
                // no row (the row exists from the start, or since the session's first write): a read that saw
                // none of the writes, older than every one of them
                boolean row = rs.next();
                history.add(new Op(
                        s.id(),
                        kind,
                        key,
                        value,
                        invoked,
                        System.currentTimeMillis(),
                        Op.Outcome.OK,
                        row ? rs.getLong(1) : Long.MIN_VALUE,
                        row ? rs.getLong(2) : Long.MIN_VALUE,
                        row ? null : "no row"));
                return true;
            }
        } catch (SQLException e) {
            history.add(new Op(
                    s.id(),
                    kind,
                    key,
                    value,
                    invoked,
                    System.currentTimeMillis(),
                    Op.Outcome.FAILED,
                    0,
                    0,
                    describe(e)));
            return false;
        }
    }

    private static PreparedStatement prepare(Session s, String sql, long... params) throws SQLException {
        PreparedStatement ps = s.connection().prepareStatement(sql);
        for (int i = 0; i < params.length; i++) {
            ps.setLong(i + 1, params[i]);
        }
        return ps;
    }

    private static String describe(SQLException e) {
        return e.getSQLState() + " " + e.getMessage();
    }

    private static void closeQuietly(Connection c) {
        try {
            c.close();
        } catch (SQLException e) {
            // a broken connection: gone either way
        }
    }

    private static void pause(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
