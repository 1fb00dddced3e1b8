package io.shardline.router.txn;

import io.shardline.router.SqlStates;
import io.shardline.router.exec.ConnectionErrors;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.postgresql.core.BaseConnection;
import org.postgresql.core.TransactionState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Commits a transaction that wrote on several shards, with PostgreSQL's two-phase commit:
 *
 * <ol>
 *   <li>{@code PREPARE TRANSACTION 'gid'} on every participant; if one fails, every prepared one is rolled back and
 *       the transaction fails (nothing committed anywhere);
 *   <li>COMMIT recorded in ZooKeeper ({@link TxnLog}) — from here the transaction is committed, whatever happens to
 *       this process;
 *   <li>{@code COMMIT PREPARED 'gid'} on every participant; the decision is dropped once all are done.
 * </ol>
 *
 * A participant left prepared (this process died, a connection broke) is resolved by
 * {@link InDoubtTransactions#recover}: committed when COMMIT was recorded, rolled back otherwise once its
 * coordinator is gone.
 */
public final class TwoPhaseCommit {
    private static final Logger LOG = LoggerFactory.getLogger(TwoPhaseCommit.class);

    /** Sees each step of a commit, for metrics, tracing and fault-injection tests. */
    public interface Observer {
        Observer NONE = new Observer() {};

        default void prepared(String gid, int shard) {}

        default void decided(String gid, TxnLog.Decision decision) {}

        default void committed(String gid, int shard) {}
    }

    /** Marks the phases of one commit (for spans): {@link #phase} starts one, its {@code close()} ends it. */
    @FunctionalInterface
    public interface Phases {
        Phases NONE = name -> () -> {};

        Phase phase(String name);
    }

    /** One phase of a commit, ended by {@link #close()}. */
    @FunctionalInterface
    public interface Phase extends AutoCloseable {
        @Override
        void close();
    }

    /** Makes sure {@link TxnMarks#TABLE} exists on a shard's primary before marks are written there. */
    @FunctionalInterface
    public interface MarkTables {
        void ensure(int shard) throws SQLException;
    }

    private final TxnLog log;
    private final String by;
    private final Observer observer;
    private final Set<String> abandoned;
    private final MarkTables markTables;

    /**
     * @param by who coordinates, as recorded with the decision (e.g. the router id)
     */
    public TwoPhaseCommit(TxnLog log, String by, Observer observer) {
        this(log, by, observer, ConcurrentHashMap.newKeySet());
    }

    /** A coordinator that writes no {@link TxnMarks} (its transactions are not seen whole by cross-shard reads). */
    public TwoPhaseCommit(TxnLog log, String by, Observer observer, Set<String> abandoned) {
        this(log, by, observer, abandoned, null);
    }

    /**
     * @param abandoned where the transactions this coordinator gives up on go (thread-safe); its recovery resolves
     *     them
     * @param markTables creates {@link TxnMarks#TABLE} where it is missing; null writes no marks
     */
    public TwoPhaseCommit(TxnLog log, String by, Observer observer, Set<String> abandoned, MarkTables markTables) {
        this.log = log;
        this.by = by;
        this.observer = observer;
        this.abandoned = abandoned;
        this.markTables = markTables;
    }

    /** The transactions this coordinator gave up on, still to be resolved by recovery. */
    public Set<String> abandoned() {
        return abandoned;
    }

    /**
     * Commits the open transactions of {@code participants} (shard → connection with auto-commit off) as one.
     * The connections are back in auto-commit mode afterwards, whatever the outcome.
     *
     * @throws SQLException 40000 when a statement failed on a participant (rolled back everywhere); with the
     *     participant's SQLState when a PREPARE fails (rolled back everywhere);
     *     40001 when recovery rolled the transaction back first; 08007 when the decision could not be recorded
     *     (this router's recovery resolves the prepared participants within about 10 s: committed if the COMMIT
     *     was recorded after all, else rolled back)
     */
    public void commit(String gid, Map<Integer, Connection> participants) throws SQLException {
        commit(gid, participants, Phases.NONE);
    }

    /** {@link #commit(String, Map)}, its phases (prepare, decide, commit) marked with {@code phases}. */
    public void commit(String gid, Map<Integer, Connection> participants, Phases phases) throws SQLException {
        Gid.check(gid);
        Map<Integer, String> xids;
        try (Phase prepare = phases.phase("shardline.prepare")) {
            xids = prepare(gid, participants);
        }
        TxnLog.Decision decision;
        try (Phase decide = phases.phase("shardline.decide")) {
            decision = decide(gid, participants);
        }
        try (Phase commit = phases.phase("shardline.commit_prepared")) {
            commitPrepared(gid, participants, decision, xids);
        }
    }

    /**
     * Phase one: the marks and PREPARE TRANSACTION on every participant; rolled back everywhere on a failure.
     *
     * @return the writing participants' transaction ids (empty without marks)
     */
    private Map<Integer, String> prepare(String gid, Map<Integer, Connection> participants) throws SQLException {
        for (Map.Entry<Integer, Connection> p : participants.entrySet()) {
            if (failed(p.getValue())) {
                // PostgreSQL would answer PREPARE TRANSACTION there with a silent ROLLBACK: commit nothing anywhere
                abandon(gid, participants, List.of(), false);
                throw new SQLException(
                        "a statement of this transaction failed on shard " + p.getKey() + ", so PostgreSQL rolled the"
                                + " transaction back there: it was rolled back on every shard, nothing was committed",
                        SqlStates.TRANSACTION_ROLLBACK);
            }
        }
        Map<Integer, String> xids = writers(gid, participants);
        List<Map.Entry<Integer, Connection>> prepared = new ArrayList<>();
        for (Map.Entry<Integer, Connection> p : participants.entrySet()) {
            try {
                String marks = xids.containsKey(p.getKey()) ? TxnMarks.insert(gid, p.getKey(), xids) : null;
                execute(p.getValue(), (marks == null ? "" : marks + "; ") + "PREPARE TRANSACTION '" + gid + "'");
                p.getValue().setAutoCommit(true);
                prepared.add(p);
            } catch (SQLException e) {
                // a broken connection may have prepared it anyway: then it is rolled back by recovery
                boolean ambiguous = ConnectionErrors.isConnectionError(e);
                abandon(gid, participants, prepared, ambiguous);
                throw new SQLException(
                        "the transaction could not be prepared on shard " + p.getKey() + ", so it was rolled back on"
                                + " every shard: " + e.getMessage(),
                        // rolled back for certain (ROLLBACK recorded, or left to recovery, which can only roll back)
                        ambiguous ? SqlStates.RETRY_WRITE : e.getSQLState(),
                        e);
            } catch (RuntimeException | Error e) {
                // this thread gives up (whatever it was): none of it may stay prepared, locked, with nobody to end it
                abandon(gid, participants, prepared, true);
                throw e;
            }
            observer.prepared(gid, p.getKey());
        }
        return xids;
    }

    /** The decision recorded in ZooKeeper: COMMIT, or ROLLBACK when recovery decided first. */
    private TxnLog.Decision decide(String gid, Map<Integer, Connection> participants) throws SQLException {
        TxnLog.Decision decision;
        try {
            decision = log.decide(gid, TxnLog.Decision.COMMIT, by);
        } catch (TxnException e) {
            abandoned.add(gid);
            throw new SQLException(
                    "transaction " + gid + " is prepared on shards " + participants.keySet() + " but its commit could"
                            + " not be recorded (" + e.getMessage() + "): its outcome is unknown. This router resolves"
                            + " it within about 10 s: committed if the COMMIT was recorded after all, rolled back"
                            + " otherwise ('./shardline txn in-doubt' shows it meanwhile)",
                    SqlStates.OUTCOME_UNKNOWN,
                    e);
        }
        observer.decided(gid, decision);
        return decision;
    }

    /**
     * Phase two: COMMIT PREPARED on every participant (ROLLBACK PREPARED when recovery decided so). A participant
     * where it failed is left to this router's recovery (within about 10 s) — unless the transaction is not prepared
     * there any more and PostgreSQL says its part was rolled back: recovery rolled it back before this COMMIT was
     * recorded (this router was cut off from ZooKeeper past its session meanwhile, and the ROLLBACK was forgotten),
     * which is reported, never taken for a commit.
     */
    private void commitPrepared(
            String gid, Map<Integer, Connection> participants, TxnLog.Decision decision, Map<Integer, String> xids)
            throws SQLException {
        if (decision == TxnLog.Decision.ROLLBACK) {
            finish(gid, participants, "ROLLBACK PREPARED");
            throw new SQLException(
                    "transaction " + gid + " was rolled back by recovery before it could commit; retry it",
                    SqlStates.RETRY_WRITE);
        }
        Map<Integer, SQLException> failed = finish(gid, participants, "COMMIT PREPARED");
        if (failed.isEmpty()) {
            try {
                log.forget(gid);
            } catch (TxnException e) {
                LOG.warn("transaction {} committed; its decision stays in ZooKeeper: {}", gid, e.getMessage());
            }
            return;
        }
        List<Integer> rolledBack = new ArrayList<>();
        for (Map.Entry<Integer, SQLException> f : failed.entrySet()) {
            String xid = xids.get(f.getKey());
            if (xid != null
                    && "42704".equals(f.getValue().getSQLState())
                    && "aborted".equals(status(participants.get(f.getKey()), xid))) {
                rolledBack.add(f.getKey());
            }
        }
        if (rolledBack.isEmpty()) {
            abandoned.add(gid); // this router's next recovery round finishes it
            return;
        }
        boolean none = rolledBack.size() == xids.size();
        throw new SQLException(
                "transaction " + gid + " was rolled back on shard(s) " + rolledBack + " by recovery before its"
                        + " COMMIT was recorded (this router lost its ZooKeeper session meanwhile)"
                        + (none
                                ? ": nothing was committed; retry it"
                                : ", and committed on the others: the transaction is HALF COMMITTED, check the"
                                        + " shards' rows and repair them"),
                none ? SqlStates.RETRY_WRITE : SqlStates.OUTCOME_UNKNOWN);
    }

    /** PostgreSQL's status of transaction {@code xid} where {@code c} is connected, or null when it cannot tell. */
    private static String status(Connection c, String xid) {
        try (Statement s = c.createStatement();
                java.sql.ResultSet rs = s.executeQuery("SELECT pg_xact_status('" + Long.parseLong(xid) + "'::xid8)")) {
            return rs.next() ? rs.getString(1) : null;
        } catch (SQLException | NumberFormatException e) {
            return null;
        }
    }

    /**
     * The participants that wrote, with their transaction ids (for {@link TxnMarks}); their mark tables made sure
     * of when there are two or more. On a failure nothing is prepared: rolled back everywhere.
     */
    private Map<Integer, String> writers(String gid, Map<Integer, Connection> participants) throws SQLException {
        Map<Integer, String> xids = new LinkedHashMap<>();
        if (markTables == null) {
            return xids;
        }
        int shard = -1;
        try {
            for (Map.Entry<Integer, Connection> p : participants.entrySet()) {
                shard = p.getKey();
                String xid = TxnMarks.xid(p.getValue());
                if (xid != null) {
                    xids.put(p.getKey(), xid);
                }
            }
            if (xids.size() > 1) {
                for (int writer : xids.keySet()) {
                    shard = writer;
                    markTables.ensure(writer);
                }
            }
            return xids;
        } catch (SQLException e) {
            abandon(gid, participants, List.of(), false);
            throw new SQLException(
                    "the transaction could not be prepared on shard " + shard + ", so it was rolled back on every"
                            + " shard: " + e.getMessage(),
                    e.getSQLState(),
                    e);
        }
    }

    /** Runs the second phase on every participant; where it failed (recovery finishes it there). */
    private Map<Integer, SQLException> finish(String gid, Map<Integer, Connection> participants, String command) {
        Map<Integer, SQLException> failed = new LinkedHashMap<>();
        for (Map.Entry<Integer, Connection> p : participants.entrySet()) {
            try {
                execute(p.getValue(), command + " '" + gid + "'");
                if (command.startsWith("COMMIT")) {
                    observer.committed(gid, p.getKey());
                }
            } catch (SQLException e) {
                failed.put(p.getKey(), e);
                LOG.warn(
                        "{} of transaction {} on shard {} failed ({}); recovery finishes it (this router's within about"
                                + " 10 s, or 'txn recover')",
                        command,
                        gid,
                        p.getKey(),
                        e.getMessage());
            }
        }
        return failed;
    }

    /**
     * After a failed PREPARE: the prepared participants rolled back (recorded first, so recovery agrees). When the
     * failure was ambiguous the transaction may be prepared where it failed too: recovery rolls it back there.
     */
    private void abandon(
            String gid,
            Map<Integer, Connection> participants,
            List<Map.Entry<Integer, Connection>> prepared,
            boolean ambiguous) {
        for (Map.Entry<Integer, Connection> p : participants.entrySet()) {
            if (prepared.contains(p)) {
                continue;
            }
            try {
                p.getValue().rollback();
                p.getValue().setAutoCommit(true);
            } catch (SQLException e) {
                LOG.debug("rolling back shard {} of {}: {}", p.getKey(), gid, e.toString());
            }
        }
        if (ambiguous) {
            abandoned.add(gid);
        }
        if (prepared.isEmpty() && !ambiguous) {
            return;
        }
        try {
            log.decide(gid, TxnLog.Decision.ROLLBACK, by);
        } catch (TxnException e) {
            abandoned.add(gid);
            LOG.warn("could not record the rollback of {}: {}; this router's recovery retries", gid, e.getMessage());
        }
        Map<Integer, Connection> rollback = new LinkedHashMap<>();
        prepared.forEach(p -> rollback.put(p.getKey(), p.getValue()));
        // the ROLLBACK decision stays (recovery drops it after an hour): it is what tells a late participant
        finish(gid, rollback, "ROLLBACK PREPARED");
    }

    /** Whether a statement failed in the transaction open on {@code c} (PostgreSQL rolls it back at COMMIT). */
    public static boolean failed(Connection c) throws SQLException {
        return c.isWrapperFor(BaseConnection.class)
                && c.unwrap(BaseConnection.class).getTransactionState() == TransactionState.FAILED;
    }

    private static void execute(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }
}
