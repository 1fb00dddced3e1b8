package io.shardline.router.exec;

import io.shardline.router.route.CausalToken;
import io.shardline.topology.Lsn;
import io.shardline.topology.Node;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A physical connection a logical connection holds to one node, with the session state it has applied and whether
 * it is a participant of the logical connection's transaction.
 */
public final class Physical {
    private static final Logger LOG = LoggerFactory.getLogger(Physical.class);

    final Node node;
    final int shard;
    final Connection connection;
    /**
     * Requests in flight on this replica, across all logical connections (for the replica choice); null for a primary,
     * which no choice counts.
     */
    private final LongAdder inFlight;
    /** The node's ejection count when this connection was borrowed. */
    final int ejections;
    /** The {@link SessionState} version applied on this connection. */
    int sessionVersion;
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
    /** Whether a {@code forKey} binding holds it: it is not replaced while bound. */
    boolean pinned;

    private PreparedStatement currentLsn;
    private PreparedStatement replayLsn;

    Physical(Node node, int shard, Connection connection, LongAdder inFlight, int ejections) {
        this.ejections = ejections;
        this.node = node;
        this.shard = shard;
        this.connection = connection;
        this.inFlight = inFlight;
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
     * {@link CausalToken#UNKNOWN} when it cannot be read, so that no replica is trusted with the session's writes.
     */
    long currentLsn() {
        try {
            if (currentLsn == null) {
                currentLsn = connection.prepareStatement("SELECT pg_current_wal_insert_lsn()::text");
            }
            return queryLsn(currentLsn);
        } catch (SQLException | IllegalArgumentException e) {
            LOG.warn(
                    "could not read the WAL position of {} for this session's writes; its reads on shard {} go to"
                            + " the primary until its next write: {}",
                    node.name(),
                    shard,
                    e.toString());
            return CausalToken.UNKNOWN;
        }
    }

    /** A replica's replay position now. */
    long replayLsn() throws SQLException {
        if (replayLsn == null) {
            replayLsn = connection.prepareStatement("SELECT pg_last_wal_replay_lsn()::text");
        }
        try {
            return queryLsn(replayLsn);
        } catch (IllegalArgumentException e) {
            return 0;
        }
    }

    private static long queryLsn(PreparedStatement ps) throws SQLException {
        try (ResultSet rs = ps.executeQuery()) {
            return rs.next() && rs.getString(1) != null ? Lsn.parse(rs.getString(1)) : 0;
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
