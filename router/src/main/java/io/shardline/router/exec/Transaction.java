package io.shardline.router.exec;

import io.shardline.router.SqlStates;
import io.shardline.router.txn.TwoPhaseCommit;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
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
    private final List<String> pending = new ArrayList<>();
    private boolean wrote;
    private boolean bound;
    private String lost;
    private boolean readOnly;
    private int isolation = Connection.TRANSACTION_READ_COMMITTED;
    private boolean isolationSet;

    Transaction(Attachments attachments) {
        this.attachments = attachments;
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

    List<Physical> participants() {
        return List.copyOf(participants);
    }

    boolean onSeveralShards() {
        return participants.size() > 1;
    }

    boolean isBound() {
        return bound;
    }

    boolean isReadOnly() {
        return readOnly;
    }

    int isolation() {
        return isolation;
    }

    /** Starts the transaction on {@code p}, running the statements kept until now. */
    void begin(Physical p) throws SQLException {
        enlist(p);
        // SET LOCAL, SET TRANSACTION, SAVEPOINT kept until now apply to this shard only
        bound |= !pending.isEmpty();
        try (Statement s = p.connection.createStatement()) {
            for (String sql : pending) {
                s.execute(sql);
            }
        } finally {
            pending.clear();
        }
    }

    /** Adds another shard's connection (the commit becomes two-phase). */
    void join(Physical p) throws SQLException {
        enlist(p);
    }

    private void enlist(Physical p) throws SQLException {
        participants.add(p);
        p.inTransaction = true;
        p.connection.setAutoCommit(false);
        if (isolationSet) {
            p.connection.setTransactionIsolation(isolation);
        }
        p.connection.setReadOnly(readOnly);
    }

    /** Keeps SET TRANSACTION, SAVEPOINT and the like until the first statement chooses the shard. */
    void defer(String sql) {
        pending.add(sql);
    }

    void markWrote() {
        wrote = true;
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
                            + ") is not supported: savepoints and SET LOCAL would apply to one shard only",
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
    List<Physical> commit(TwoPhaseCommit twoPhase, Supplier<String> gid) throws SQLException {
        pending.clear();
        boolean didWrite = wrote;
        List<Physical> all = take();
        if (lost != null) {
            String why = lost;
            lost = null;
            throw new SQLException(why + ": nothing was committed", SqlStates.TRANSACTION_ROLLBACK);
        }
        if (all.size() > 1 && !readOnly) {
            Map<Integer, Connection> byShard = new LinkedHashMap<>();
            all.forEach(p -> byShard.put(p.shard, p.connection));
            try {
                twoPhase.commit(gid.get(), byShard);
            } finally {
                all.forEach(this::restore);
            }
        } else {
            SQLException failure = end(all, true);
            if (failure != null) {
                throw failure;
            }
        }
        return didWrite ? all : List.of();
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
        wrote = false;
        bound = false;
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
                p.connection.setAutoCommit(true);
            }
        } catch (SQLException e) {
            attachments.detach(p);
        }
    }
}
