package io.shardline.rebalancer;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * The old primary's last fence in a switchover, raised just before its final WAL position is read: every later
 * commit there waits for a synchronous standby that does not exist, so it is never acknowledged. The read-only
 * default set before it is a default: {@code BEGIN READ WRITE}, {@code SET SESSION CHARACTERISTICS AS TRANSACTION
 * READ WRITE}, {@code ALTER ROLE ... SET default_transaction_read_only = off} and a router writing by a lease it holds
 * after leaving ZooKeeper all pass it; a commit acknowledged after the final position would be lost with the old
 * timeline. Only {@code synchronous_commit = local} or {@code off} in that same session passes both.
 *
 * <p>{@code ALTER SYSTEM} writes the old primary's {@code postgresql.auto.conf}, not its WAL: the promoted hub does
 * not inherit it. Lowered (the setting put back) when the switchover gives the shard back.
 */
final class CommitFence {
    /** A standby name no WAL sender has (application names are cut at 63 bytes; this is the fence's own). */
    static final String STANDBY = "shardline_switchover_fence";

    /** The value {@code postgresql.auto.conf} held before, or null when it held none. */
    private final String before;

    private CommitFence(String before) {
        this.before = before;
    }

    /** Raises the fence on the node {@code s} is connected to (a superuser's session) and reloads its settings. */
    static CommitFence raise(Statement s) throws SQLException {
        String before = null;
        try (ResultSet rs = s.executeQuery(
                "SELECT setting, sourcefile FROM pg_settings" + " WHERE name = 'synchronous_standby_names'")) {
            if (rs.next()) {
                String file = rs.getString(2);
                String setting = rs.getString(1);
                if (file != null && file.endsWith("postgresql.auto.conf") && !STANDBY.equals(setting)) {
                    before = setting;
                }
            }
        }
        s.execute("ALTER SYSTEM SET synchronous_standby_names = '" + STANDBY + "'");
        s.execute("SELECT pg_reload_conf()");
        return new CommitFence(before);
    }

    /** Puts the setting back as it was (the caller reloads): the commits waiting on the fence complete. */
    void lower(Statement s) throws SQLException {
        if (before == null) {
            s.execute("ALTER SYSTEM RESET synchronous_standby_names");
        } else {
            s.execute("ALTER SYSTEM SET synchronous_standby_names = " + literal(before));
        }
    }

    static String literal(String value) {
        return "'" + value.replace("'", "''") + "'";
    }
}
