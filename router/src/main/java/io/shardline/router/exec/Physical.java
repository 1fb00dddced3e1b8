package io.shardline.router.exec;

import io.shardline.router.route.ReplicaHealth;
import io.shardline.topology.LagReport;
import io.shardline.topology.LagSnapshot;
import io.shardline.topology.Lsn;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.concurrent.atomic.LongAdder;

/**
 * A physical connection a logical connection holds to one node, with the session state it has applied and whether
 * it is a participant of the logical connection's transaction.
 */
public final class Physical {
    private static final String CURRENT_LSN = "SELECT pg_current_wal_insert_lsn()::text";

    final Node node;
    final int shard;
    final Connection connection;
    /**
     * Requests in flight on this replica, across all logical connections (for the replica choice); null for a primary,
     * which no choice counts.
     */
    private final LongAdder inFlight;
    /** The node's state (its breaker, its lag report), and its breaker's ejection count when this was borrowed. */
    private final ReplicaHealth.NodeState state;

    private final int ejections;
    /** The {@link SessionState} version applied on this connection. */
    int sessionVersion;
    /**
     * Whether it may hold settings the session no longer has (a SET of a transaction that rolled back, a SET that
     * failed on another node): they are reset before the session's settings are replayed on it.
     */
    boolean resync;
    /** Whether the current transaction runs on this connection (its autocommit is off). */
    boolean inTransaction;
    /**
     * Whether a transaction of the dispatcher's own runs on it (DDL all or nothing without two-phase commit): what
     * runs there commits only when the dispatcher commits it.
     */
    boolean ownTransaction;
    /** Whether a statement may have left state in the database session that RESET ALL does not clear. */
    boolean sessionDirty;
    /**
     * The isolation level the driver last set on it with {@code setTransactionIsolation} (a session setting: it
     * outlives transactions), -1 when unknown. A {@code SET}, {@code RESET} or {@code DISCARD} replayed on it makes
     * it unknown again (it may change {@code default_transaction_isolation}).
     */
    int isolation = -1;
    /**
     * On a standby: whether the session's default isolation is serializable, which the standby runs as repeatable
     * read (see {@code Attachments#notSerializableOnStandby}).
     */
    boolean serializableDefault;
    /** When a statement last took it ({@link System#nanoTime()}). */
    long attachedAt;
    /** Whether a {@code forKey} binding holds it: it is not replaced while bound. */
    boolean pinned;

    private PreparedStatement currentLsn;
    private PreparedStatement replayLsn;

    /**
     * @param ejections {@code state}'s breaker's ejection count read before the connection was borrowed (an ejection
     *     while it was borrowed makes it stale at once)
     */
    Physical(Node node, int shard, Connection connection, ReplicaHealth.NodeState state, int ejections) {
        this.state = state;
        this.ejections = ejections;
        this.node = node;
        this.shard = shard;
        this.connection = connection;
        this.inFlight = node.role() == NodeRole.PRIMARY ? null : state.inFlight();
    }

    /** Whether its node was ejected since it was borrowed: it is not reused then. */
    boolean ejectedSince() {
        return state.breaker().ejections() != ejections;
    }

    /** Its node's report in {@code lag} (null: none). */
    LagReport lag(LagSnapshot lag) {
        return state.report(lag);
    }

    /** A statement starts on it. */
    void running() {
        if (inFlight != null) {
            inFlight.increment();
        }
    }

    /** A statement {@link #running} ended. */
    void done() {
        if (inFlight != null) {
            inFlight.decrement();
        }
    }

    /**
     * The primary's WAL insert position now: at or after every commit made on it so far (read-your-writes).
     *
     * @throws SQLException when it cannot be read
     */
    long currentLsn() throws SQLException {
        if (currentLsn == null) {
            currentLsn = connection.prepareStatement(CURRENT_LSN);
        }
        return queryLsn(currentLsn);
    }

    /** {@link #currentLsn()} on a connection of the caller's. */
    static long currentLsn(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(CURRENT_LSN)) {
            return queryLsn(ps);
        }
    }

    /**
     * A statement ran that may have changed the database session beyond what the driver follows (LISTEN, a function
     * calling {@code set_config}, several statements in one string...): the connection is reset with {@code DISCARD
     * ALL} before reuse, and its isolation level is set again before the next transaction.
     */
    void sessionMayHaveChanged() {
        sessionDirty = true;
        isolation = -1;
    }

    /** A replica's replay position now. */
    long replayLsn() throws SQLException {
        if (replayLsn == null) {
            replayLsn = connection.prepareStatement("SELECT pg_last_wal_replay_lsn()::text");
        }
        return queryLsn(replayLsn);
    }

    private static long queryLsn(PreparedStatement ps) throws SQLException {
        try (ResultSet rs = ps.executeQuery()) {
            String lsn = rs.next() ? rs.getString(1) : null;
            if (lsn == null) {
                return 0;
            }
            try {
                return Lsn.parse(lsn);
            } catch (IllegalArgumentException e) {
                throw new SQLException("not a WAL position: " + lsn, "XX000", e);
            }
        }
    }

    public Node node() {
        return node;
    }

    public int shard() {
        return shard;
    }

    public Connection connection() {
        return connection;
    }
}
