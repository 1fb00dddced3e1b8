package io.shardline.router.exec;

import io.shardline.router.SqlStates;
import io.shardline.router.metrics.DriverMetrics;
import io.shardline.router.metrics.DriverTracing;
import io.shardline.router.sql.TransactionModes;
import io.shardline.router.txn.TwoPhaseCommit;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The transaction of one logical connection: the physical connections it reached (its first shard's first), its
 * isolation and read-only mode, whether it wrote, whether it is bound to its first shard (SAVEPOINT, SET LOCAL), the
 * statements kept until its first statement chooses a shard, and why it was lost when a connection broke.
 *
 * <p>Every way it ends goes through one loop ({@link #end}): each participant commits or rolls back and is put back
 * in autocommit mode whatever happened, so after a failed COMMIT or ROLLBACK no physical connection is left in an
 * open transaction (one that cannot be put back is evicted from its pool).
 */
final class Transaction {
    private final Attachments attachments;
    private final List<Physical> participants = new ArrayList<>(2);
    /**
     * The participants a read-write transaction without two-phase commit joined to read only (READ ONLY there, which
     * PostgreSQL enforces): its COMMIT there loses nothing, so it needs no two-phase commit.
     */
    private final List<Physical> joinedToRead = new ArrayList<>(1);
    /** See {@link #mayHaveCommitted()}. */
    private List<Physical> mayHaveCommitted = List.of();

    private final List<String> pending = new ArrayList<>();
    /**
     * The settings made before its first statement, for every shard it reaches: {@code SET LOCAL ...} by lower-case
     * name (the values in {@link #settingValues}).
     */
    private final Map<String, String> settings = new LinkedHashMap<>();

    private final Map<String, String> settingValues = new HashMap<>();

    private boolean wrote;
    /** See {@link #changed()}. */
    private boolean changed;

    private boolean bound;
    private String lost;

    private boolean readOnly;
    /** {@code default_transaction_read_only} of the session (the server's, then {@code SET}). */
    private boolean defaultReadOnly;
    /** The isolation level set by JDBC's {@code setTransactionIsolation} (applied on each participant). */
    private int isolation = Connection.TRANSACTION_READ_COMMITTED;

    private boolean isolationSet;
    /** {@code default_transaction_isolation} of the session (the server's, then {@code SET}). */
    private int defaultIsolation = Connection.TRANSACTION_READ_COMMITTED;
    /** Whether it was read-only when it started (PostgreSQL keeps that for the transaction's life), or null. */
    private Boolean startedReadOnly;
    /** The level the transaction started with (at its first participant), or -1 before. */
    private int startedIsolation = -1;
    /** This transaction's own modes ({@code BEGIN ...}, {@code SET TRANSACTION ...} before its first statement). */
    private TransactionModes modes = TransactionModes.NONE;
    /**
     * The ring version under which this transaction took one checked snapshot on every shard ({@link
     * #beginSnapshot}), or -1.
     */
    private long snapshotRing = -1;

    /** Told when the statements kept for the transaction's first statement ran (savepoints among them). */
    private final Runnable keptRan;

    Transaction(Attachments attachments, Runnable keptRan) {
        this.attachments = attachments;
        this.keptRan = keptRan;
    }

    /** Whether a statement started it on a node. */
    boolean isActive() {
        return !participants.isEmpty();
    }

    /** The connection it started on, or null. */
    Physical first() {
        return participants.isEmpty() ? null : participants.get(0);
    }

    /** Its connection on {@code shard}, or null. */
    Physical participant(int shard) {
        for (int i = 0; i < participants.size(); i++) {
            if (participants.get(i).shard == shard) {
                return participants.get(i);
            }
        }
        return null;
    }

    /** Whether one of its connections is to {@code node}. */
    boolean holds(io.shardline.topology.Node node) {
        for (int i = 0; i < participants.size(); i++) {
            if (participants.get(i).node.name().equals(node.name())) {
                return true;
            }
        }
        return false;
    }

    /**
     * The participants of a transaction that wrote and whose {@link #commit} ended with an unknown outcome (08007): it
     * may have committed there. Empty after any other outcome.
     */
    List<Physical> mayHaveCommitted() {
        return mayHaveCommitted;
    }

    /**
     * Whether a statement failed on a participant, so that PostgreSQL will answer its COMMIT with a rollback (true
     * when one cannot tell: its connection is gone, and the COMMIT cannot succeed there either).
     */
    boolean failedSomewhere() {
        for (Physical p : participants) {
            try {
                if (TwoPhaseCommit.failed(p.connection)) {
                    return true;
                }
            } catch (SQLException e) {
                return true;
            }
        }
        return false;
    }

    /**
     * A participant on a node that was its shard's primary when the transaction reached it and that the topology no
     * longer names so (a failover published meanwhile), or whose shard a failover holds now (its primary may be
     * stalled, not dead: a COMMIT sent there could complete once it resumes, after the promotion), or null.
     */
    Physical onFormerPrimary(io.shardline.router.route.RoutingState r) {
        for (Physical p : participants) {
            if (p.node.role() == io.shardline.topology.NodeRole.PRIMARY
                    && (!p.node.equals(r.primary(p.shard)) || r.failingOver(p.shard))) {
                return p;
            }
        }
        return null;
    }

    boolean onSeveralShards() {
        return participants.size() > 1;
    }

    boolean isBound() {
        return bound;
    }

    /** Whether this transaction is read-only: as it started, else its own mode, else the connection's. */
    boolean isReadOnly() {
        if (startedReadOnly != null) {
            return startedReadOnly;
        }
        return modes.readOnly() != null ? modes.readOnly() : readOnly || defaultReadOnly;
    }

    /** The connection's isolation level (JDBC's {@code getTransactionIsolation}). */
    int isolation() {
        return isolationSet ? isolation : defaultIsolation;
    }

    /**
     * This transaction's isolation level: as it started (PostgreSQL keeps it when the session's default changes
     * meanwhile), else its own, else the connection's.
     */
    int effectiveIsolation() {
        if (startedIsolation >= 0) {
            return startedIsolation;
        }
        return modes.isolation() >= 0 ? modes.isolation() : isolation();
    }

    boolean wrote() {
        return wrote;
    }

    /** Whether statements are kept until the first one chooses the shard (they will bind the transaction there). */
    boolean hasPending() {
        return !pending.isEmpty();
    }

    /** Whether it holds one checked snapshot on every shard ({@link #beginSnapshot}). */
    boolean holdsSnapshot() {
        return snapshotRing >= 0;
    }

    /**
     * The modes of a transaction chained to this one ({@code COMMIT AND CHAIN}): its isolation level, access mode and
     * deferrable mode if it was given; the level and access mode given even where they are the session's (a rollback
     * may restore session defaults a SET in the transaction changed: the chained transaction keeps this one's).
     */
    TransactionModes chainedModes() {
        return new TransactionModes(effectiveIsolation(), isReadOnly(), modes.deferrable());
    }

    /**
     * Adds modes given before the transaction's first statement ({@code BEGIN ...}, {@code SET TRANSACTION ...}):
     * they apply on every shard it reaches.
     */
    void modes(TransactionModes given) {
        modes = modes.with(given);
    }

    /**
     * {@code SET TRANSACTION} ran where the transaction already is (the node of a {@code forKey} binding): the modes it
     * gave are the transaction's from now on.
     */
    void modesRan(TransactionModes given) {
        if (given.isolation() >= 0) {
            startedIsolation = given.isolation();
        }
        if (given.readOnly() != null) {
            startedReadOnly = given.readOnly();
        }
    }

    /**
     * The session's defaults changed ({@code SET default_transaction_isolation}, {@code SET SESSION CHARACTERISTICS},
     * {@code RESET ALL}): the levels read back from a node.
     */
    void sessionDefaults(int isolation, boolean readOnly) {
        this.defaultIsolation = isolation;
        this.defaultReadOnly = readOnly;
    }

    /**
     * The level {@code Connection.setTransactionIsolation} set, or -1: SQL that sets the session's default after it
     * ({@code SET SESSION CHARACTERISTICS ...}) replaces it ({@link #jdbcIsolation(int)} with -1), as with pgjdbc,
     * where both set the same session characteristic and the last one wins.
     */
    int jdbcIsolation() {
        return isolationSet ? isolation : -1;
    }

    /** Restores (or, with -1, drops) the level {@link #jdbcIsolation()} gave. */
    void jdbcIsolation(int level) {
        isolationSet = level >= 0;
        if (isolationSet) {
            isolation = level;
        }
    }

    int defaultIsolation() {
        return defaultIsolation;
    }

    boolean defaultReadOnly() {
        return defaultReadOnly;
    }

    /** Starts the transaction on {@code p}, running the statements kept until now. */
    void begin(Physical p) throws SQLException {
        enlist(p, false);
        // SET LOCAL, SET TRANSACTION, SAVEPOINT kept until now apply to this shard only
        if (pending.isEmpty()) {
            return;
        }
        bound = true;
        try (Statement s = p.connection.createStatement()) {
            for (String sql : pending) {
                s.execute(sql);
            }
            keptRan.run();
        } finally {
            pending.clear();
        }
    }

    /** Adds another shard's connection (the commit becomes two-phase). */
    void join(Physical p) throws SQLException {
        enlist(p, false);
    }

    /** Adds another shard's connection to read only ({@code READ ONLY}): the commit stays one-phase. */
    void joinToRead(Physical p) throws SQLException {
        enlist(p, true);
        joinedToRead.add(p);
    }

    /** Whether PostgreSQL failed the transaction on {@code p} (a statement failed there). */
    private static boolean failedThere(Physical p) {
        try {
            return TwoPhaseCommit.failed(p.connection);
        } catch (SQLException e) {
            return false; // its connection is gone: what it read was answered, and nothing was written there
        }
    }

    /** Whether its connection on {@code shard} joined to read only ({@link #joinToRead}). */
    boolean joinedToRead(int shard) {
        for (Physical p : joinedToRead) {
            if (p.shard == shard) {
                return true;
            }
        }
        return false;
    }

    /**
     * An autocommit statement is about to run on {@code p}: the isolation level the application set applies to it as
     * pgjdbc's {@code SET SESSION CHARACTERISTICS} would (else {@code p} keeps the level an earlier transaction left
     * on it: after {@code setTransactionIsolation(SERIALIZABLE)}, a transaction, then {@code READ_COMMITTED}, its
     * autocommit statements ran serializable). Sent only when it changes.
     */
    void applyIsolation(Physical p) throws SQLException {
        // not on a standby: it takes the SET, then refuses every query under SERIALIZABLE (its reads need none)
        if (isolationSet
                && p.isolation != isolation
                && !p.inTransaction
                && p.node.role() == io.shardline.topology.NodeRole.PRIMARY) {
            p.connection.setTransactionIsolation(isolation);
            p.isolation = isolation;
        }
    }

    /** @param toRead whether {@code p} joins to read only (READ ONLY whatever the transaction's access mode) */
    private void enlist(Physical p, boolean toRead) throws SQLException {
        // a shard joining after the session's default level changed (SQL SET in the transaction) runs at the
        // level the transaction started with, as PostgreSQL keeps it
        boolean keepLevel = false;
        if (participants.isEmpty()) {
            startedReadOnly = isReadOnly();
            startedIsolation = effectiveIsolation();
        } else {
            keepLevel = modes.isolation() < 0 && startedIsolation >= 0 && isolation() != startedIsolation;
        }
        participants.add(p);
        p.inTransaction = true;
        p.connection.setAutoCommit(false);
        // pgjdbc sends SET SESSION CHARACTERISTICS each time: only when it changes; never SERIALIZABLE on a standby,
        // which would take it as its session's default and refuse every later query (a transaction routed to one
        // runs at its own level, set below)
        if (isolationSet
                && p.isolation != isolation
                && (isolation != Connection.TRANSACTION_SERIALIZABLE
                        || p.node.role() == io.shardline.topology.NodeRole.PRIMARY)) {
            p.connection.setTransactionIsolation(isolation);
            p.isolation = isolation;
        }
        p.connection.setReadOnly(readOnly || toRead);
        String kept = settings();
        if (!modes.isEmpty() || keepLevel || kept != null || toRead) {
            try (Statement s = p.connection.createStatement()) {
                if (!modes.isEmpty()) {
                    s.execute("SET TRANSACTION " + modes.sql());
                }
                if (toRead) {
                    // said, not left to pgjdbc's BEGIN READ ONLY (not sent before a COPY), and after the
                    // transaction's own READ WRITE if it gave one
                    s.execute("SET TRANSACTION READ ONLY, NOT DEFERRABLE");
                }
                if (keepLevel) {
                    s.execute("SET TRANSACTION ISOLATION LEVEL " + TransactionModes.isolationName(startedIsolation));
                }
                if (kept != null) {
                    s.execute(kept);
                }
            }
        }
    }

    /**
     * Starts this read-only transaction on every one of {@code all} at once, in one snapshot per shard in which every
     * multi-shard transaction is whole ({@link Snapshots}); its statements then read that one moment everywhere. On
     * failure it has started nowhere.
     *
     * @param ringVersion the ring the shards' parts are read by: a later statement under another ring is refused
     */
    void beginSnapshot(List<Physical> all, Snapshots snapshots, long ringVersion) throws SQLException {
        startedReadOnly = true;
        startedIsolation = effectiveIsolation();
        try {
            for (Physical p : all) {
                participants.add(p);
                p.inTransaction = true;
                p.connection.setAutoCommit(false);
            }
            snapshots.take(
                    all,
                    "SET TRANSACTION ISOLATION LEVEL " + TransactionModes.isolationName(effectiveIsolation())
                            + ", READ ONLY" + (Boolean.TRUE.equals(modes.deferrable()) ? ", DEFERRABLE" : "")
                            + (settings.isEmpty() ? "" : "; " + settings()));
        } catch (SQLException | RuntimeException e) {
            abort("this read-only transaction could not take its snapshot of every shard (" + e.getMessage() + ")");
            throw e;
        }
        snapshotRing = ringVersion;
    }

    /**
     * Ends the transaction on every participant after a failure that PostgreSQL would have left it aborted by:
     * statements fail with 25P02 until rollback(), as they would there.
     */
    /** Whether a broken connection or a statement's partial failure lost this transaction (statements fail). */
    boolean isLost() {
        return lost != null;
    }

    void abort(String why) {
        end(take(), false);
        lost = why;
    }

    /**
     * @throws SQLException 40001 when this transaction holds one snapshot on every shard taken under another ring
     *     (a shard move switched ranges since: its snapshot of the new owner may lack the moved rows)
     */
    void checkRing(long ringVersion) throws SQLException {
        if (snapshotRing >= 0 && ringVersion != snapshotRing) {
            throw new SQLException(
                    "a shard move switched ranges since this read-only transaction took its snapshot of every shard"
                            + " (ring version " + snapshotRing + ", now " + ringVersion + "): the snapshot may not show"
                            + " moved rows where the ring now puts them; roll back and run the transaction again",
                    SqlStates.RETRY_WRITE);
        }
    }

    /**
     * Keeps a transaction-local setting made before its first statement ({@code SET LOCAL name TO value}): it is set
     * on every shard the transaction reaches, and in the snapshots a cross-shard read in it takes apart.
     */
    void keepSetting(String name, String value, String sql) {
        String key = name.toLowerCase(Locale.ROOT);
        settings.remove(key);
        settings.put(key, sql);
        settingValues.put(key, value);
    }

    /**
     * Forgets the kept setting {@code name} ({@code "all"}: every one): the session set or reset it since, and that
     * is what the transaction's shards must see.
     */
    void forgetSetting(String name) {
        if ("all".equals(name)) {
            settings.clear();
            settingValues.clear();
        } else if (name != null) {
            settings.remove(name);
            settingValues.remove(name);
        }
    }

    /** Its connections, a copy. */
    List<Physical> participants() {
        return new ArrayList<>(participants);
    }

    /** Whether it joined a shard to read only ({@link #joinToRead}). */
    boolean joinedToReadAny() {
        return !joinedToRead.isEmpty();
    }

    /** The value of the kept setting {@code name} (lower case), or null. */
    String keptValue(String name) {
        return settingValues.get(name);
    }

    /** Whether it keeps settings for the shards it reaches ({@link #keepSetting}). */
    boolean hasSettings() {
        return !settings.isEmpty();
    }

    /** The kept settings' {@code SET LOCAL} statements (one string), or null when none. */
    String settings() {
        return settings.isEmpty() ? null : String.join("; ", settings.values());
    }

    /** Keeps SET TRANSACTION, SAVEPOINT and the like until the first statement chooses the shard. */
    void defer(String sql) {
        pending.add(sql);
    }

    void markWrote() {
        wrote = true;
    }

    /** A statement that may change data (not only a transaction-local setting) ran in the transaction. */
    void markChanged() {
        changed = true;
    }

    /** Whether a statement that may change data ran in the transaction (its COMMIT needs the lease). */
    boolean changed() {
        return changed;
    }

    /**
     * Binds the transaction to its one shard (SAVEPOINT, SET LOCAL).
     *
     * @throws SQLException 0A000 when it is on several shards already
     */
    void bind(String what) throws SQLException {
        if (onSeveralShards()) {
            throw new SQLException(
                    what + " in a transaction on several shards ("
                            + participants.stream().map(p -> p.shard).toList()
                            + ") is not supported: savepoints and SET LOCAL would apply to one shard only"
                            + (holdsSnapshot()
                                    ? " (a read-only REPEATABLE READ or SERIALIZABLE transaction reads every shard with"
                                            + " crossShardConsistency=atomic)"
                                    : ""),
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        bound = true;
    }

    /** @throws SQLException from the participants (pgjdbc refuses it mid-transaction); nothing changes then */
    void setReadOnly(boolean readOnly) throws SQLException {
        for (Physical p : participants) {
            p.connection.setReadOnly(readOnly);
        }
        this.readOnly = readOnly;
    }

    /** @throws SQLException from the participants (pgjdbc refuses it mid-transaction); nothing changes then */
    void setIsolation(int level) throws SQLException {
        for (Physical p : participants) {
            p.connection.setTransactionIsolation(level);
            p.isolation = level;
        }
        isolation = level;
        isolationSet = true;
    }

    /** @throws SQLException 25P02 when a broken connection lost the transaction: statements fail until rollback() */
    void checkNotLost() throws SQLException {
        if (lost != null) {
            throw new SQLException(
                    lost + ": call rollback() and run the transaction again", SqlStates.IN_FAILED_TRANSACTION);
        }
    }

    /**
     * The connection {@code broken} of the transaction broke: the transaction is rolled back everywhere (PostgreSQL
     * rolled it back there) and statements fail with 25P02 until rollback().
     */
    void lose(Physical broken, SQLException cause) {
        List<Physical> rest = take();
        rest.remove(broken);
        end(rest, false);
        lost = "the transaction on " + broken.node.name() + " was rolled back when its connection broke ("
                + cause.getMessage() + ")" + (rest.isEmpty() ? "" : ", and on the other shards it reached");
    }

    /**
     * Commits: one participant (or a read-only transaction) with COMMIT on each; several with two-phase commit.
     *
     * @return the participants whose writes committed (for read-your-writes); empty when it wrote nothing
     * @throws SQLException 40000 when a broken connection lost it; 08007 when the connection broke during COMMIT
     *     (the outcome is unknown); the commit's own error otherwise (the transaction is over either way)
     */
    List<Physical> commit(
            TwoPhaseCommit twoPhase,
            Supplier<String> gid,
            DriverMetrics metrics,
            DriverTracing tracing,
            DriverTracing.Span statement)
            throws SQLException {
        mayHaveCommitted = List.of();
        pending.clear();
        boolean didWrite = wrote;
        // read-only as PostgreSQL enforced it on every participant, and nothing written the driver saw
        boolean onlyRead = snapshotRing >= 0 || (isReadOnly() && !wrote);
        List<Physical> readers = joinedToRead.isEmpty() ? List.of() : new ArrayList<>(joinedToRead);
        List<Physical> all = take();
        List<Physical> writable = all;
        if (!readers.isEmpty()) {
            writable = new ArrayList<>(all);
            writable.removeAll(readers);
        }
        if (lost != null) {
            String why = lost;
            lost = null;
            throw new SQLException(why + ": nothing was committed", SqlStates.TRANSACTION_ROLLBACK);
        }
        if (writable.size() > 1 && !onlyRead) {
            if (twoPhase == null) {
                all.forEach(this::restore);
                throw new SQLException(
                        "a transaction that may have written on several shards needs twoPhaseCommit=true to commit"
                                + " them all or none: it was rolled back",
                        SqlStates.TRANSACTION_ROLLBACK);
            }
            Map<Integer, Connection> byShard = new LinkedHashMap<>();
            all.forEach(p -> byShard.put(p.shard, p.connection));
            long started = System.nanoTime();
            DriverMetrics.Outcome outcome = DriverMetrics.Outcome.ROLLED_BACK;
            DriverTracing.Span span = tracing.operation("shardline.two_phase_commit", statement);
            try {
                twoPhase.commit(gid.get(), byShard, phase -> span.child(phase, -1, null)::close);
                outcome = DriverMetrics.Outcome.COMMITTED;
            } catch (SQLException e) {
                span.failed(e);
                if (SqlStates.OUTCOME_UNKNOWN.equals(e.getSQLState())) {
                    outcome = DriverMetrics.Outcome.UNKNOWN;
                    mayHaveCommitted = didWrite ? all : List.of();
                }
                throw e;
            } finally {
                all.forEach(this::restore);
                span.close();
                metrics.twoPhaseCommit(outcome, System.nanoTime() - started);
            }
        } else {
            if (!readers.isEmpty()) {
                for (Physical p : readers) {
                    if (failedThere(p)) {
                        // a statement failed where it read: PostgreSQL would commit nothing of the transaction
                        end(all, false);
                        if (!didWrite) {
                            return List.of();
                        }
                        throw new SQLException(
                                "a statement of this transaction failed on " + p.node.name() + ", which it read: it was"
                                        + " rolled back on every shard, nothing was committed",
                                SqlStates.TRANSACTION_ROLLBACK);
                    }
                }
                // the shards joined to read first, their failures not reported: they only read (PostgreSQL saw to it)
                end(readers, false);
            }
            SQLException failure = end(writable, true);
            if (failure != null) {
                if (didWrite && SqlStates.OUTCOME_UNKNOWN.equals(failure.getSQLState())) {
                    mayHaveCommitted = writable;
                }
                throw failure;
            }
        }
        return didWrite ? writable : List.of();
    }

    /**
     * Rolls back on every participant. A connection that broke meanwhile rolled back with it, so its error is not
     * reported; other errors are, after every participant was tried.
     */
    void rollback() throws SQLException {
        pending.clear();
        lost = null;
        SQLException failure = end(take(), false);
        if (failure != null) {
            throw failure;
        }
    }

    /** Ends the transaction here without a word to the participants (the logical connection closes). */
    void abandon() {
        pending.clear();
        lost = null;
        end(take(), false);
    }

    /** The participants, the transaction state cleared. */
    private List<Physical> take() {
        List<Physical> all = new ArrayList<>(participants);
        participants.clear();
        joinedToRead.clear();
        wrote = false;
        changed = false;
        bound = false;
        modes = TransactionModes.NONE;
        forgetSetting("all");
        snapshotRing = -1;
        startedReadOnly = null;
        startedIsolation = -1;
        return all;
    }

    /**
     * The one end-everywhere loop: COMMIT or ROLLBACK on each connection, then back to autocommit mode whatever
     * happened. A broken connection is evicted; a COMMIT it broke becomes 08007 (outcome unknown).
     *
     * @return the first failure (later ones suppressed), or null
     */
    private SQLException end(List<Physical> all, boolean commit) {
        SQLException failure = null;
        for (Physical p : all) {
            try {
                if (p.connection.isClosed() || Attachments.cut(p)) {
                    // its pool closed it after an error in it (a cached plan whose result type changed): PostgreSQL
                    // rolled the transaction back there
                    attachments.detach(p);
                    if (!commit) {
                        continue;
                    }
                    throw new SQLException(
                            "the transaction on " + p.node.name() + " was rolled back: its connection was closed (after"
                                    + " an error in it, or cut by a failover of its primary) before the COMMIT",
                            SqlStates.TRANSACTION_ROLLBACK);
                }
                if (commit) {
                    p.connection.commit();
                } else {
                    p.connection.rollback();
                }
            } catch (SQLException e) {
                SQLException reported = e;
                if (ConnectionErrors.isConnectionError(e)) {
                    attachments.detach(p);
                    if (!commit) {
                        continue; // PostgreSQL rolls back a transaction whose connection is gone
                    }
                    reported = new SQLException(
                            "the outcome of COMMIT on " + p.node.name() + " is unknown: the connection broke while it"
                                    + " ran (" + e.getMessage() + "), so the transaction may or may not have"
                                    + " committed. Shardline does not retry it; check whether it took effect before"
                                    + " running it again",
                            SqlStates.OUTCOME_UNKNOWN,
                            e);
                }
                if (failure == null) {
                    failure = reported;
                } else {
                    failure.addSuppressed(reported);
                }
            } finally {
                restore(p);
            }
        }
        return failure;
    }

    /** Puts a connection back in autocommit mode with no transaction open, or evicts it. */
    private void restore(Physical p) {
        p.inTransaction = false;
        try {
            if (!p.connection.isClosed() && !p.connection.getAutoCommit()) {
                p.connection.rollback();
                if (p.connection.isReadOnly()) {
                    // (a transaction of its own on it later, a batch's or DDL's, would begin READ ONLY)
                    p.connection.setReadOnly(false);
                }
                p.connection.setAutoCommit(true);
            }
        } catch (SQLException e) {
            attachments.detach(p);
        }
    }
}
