package io.shardline.rebalancer;

import java.nio.charset.StandardCharsets;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HexFormat;
import java.util.List;

/**
 * The old primary's last fence in a switchover, raised just before its final WAL position is read: every later
 * commit there waits for a synchronous standby that does not exist, so it is never acknowledged. The read-only
 * default set before it is a default: {@code BEGIN READ WRITE}, {@code SET SESSION CHARACTERISTICS AS TRANSACTION
 * READ WRITE}, {@code ALTER ROLE ... SET default_transaction_read_only = off} and a router writing by a lease it holds
 * after leaving ZooKeeper all pass it; a commit acknowledged after the final position would be lost with the old
 * timeline. Only {@code synchronous_commit = local} or {@code off} in that same session passes both.
 *
 * <p>{@code ALTER SYSTEM} writes the old primary's {@code postgresql.auto.conf}, not its WAL: the promoted hub does
 * not inherit it. The standby name carries the value {@code postgresql.auto.conf} held before (hex), so a switchover
 * run again after one that died with the fence up still puts the operator's setting back when it gives the shard
 * back ({@link #lower}).
 */
final class CommitFence {
    /** The fence's standby name, or its prefix when it carries a value to restore. */
    static final String STANDBY = "shardline_switchover_fence";

    /** The value {@code postgresql.auto.conf} held before, or null when it held none. */
    private final String before;
    /** The setting that raises the fence. */
    private final String value;

    private CommitFence(String before) {
        this.before = before;
        this.value = before == null
                ? STANDBY
                : '"' + STANDBY + ':' + HexFormat.of().formatHex(before.getBytes(StandardCharsets.UTF_8)) + '"';
    }

    /**
     * The fence for the node {@code s} is connected to (a superuser's session): what to restore read from its
     * setting, or from the fence an earlier run left up.
     */
    static CommitFence of(Statement s) throws SQLException {
        try (ResultSet rs = s.executeQuery(
                "SELECT setting, sourcefile FROM pg_settings" + " WHERE name = 'synchronous_standby_names'")) {
            if (!rs.next()) {
                return new CommitFence(null);
            }
            String setting = rs.getString(1);
            String file = rs.getString(2);
            String left = restoredFrom(setting);
            if (left != null) {
                return new CommitFence(left.isEmpty() ? null : left);
            }
            return new CommitFence(file != null && file.endsWith("postgresql.auto.conf") ? setting : null);
        }
    }

    /**
     * What a fence left up in {@code setting} restores: the value it carries, "" for none, or null when {@code
     * setting} is no fence.
     */
    static String restoredFrom(String setting) {
        if (setting == null) {
            return null;
        }
        String name = setting.strip();
        if (name.startsWith("\"") && name.endsWith("\"") && name.length() > 1) {
            name = name.substring(1, name.length() - 1);
        }
        if (name.equals(STANDBY)) {
            return "";
        }
        if (!name.startsWith(STANDBY + ":")) {
            return null;
        }
        try {
            return new String(HexFormat.of().parseHex(name.substring(STANDBY.length() + 1)), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** The {@code synchronous_standby_names} the node's {@code postgresql.auto.conf} held before, or null. */
    String before() {
        return before;
    }

    /** Raises the fence and reloads the node's settings. */
    void raise(Statement s) throws SQLException {
        s.execute("ALTER SYSTEM SET synchronous_standby_names = " + literal(value));
        s.execute("SELECT pg_reload_conf()");
    }

    /**
     * What keeps the fence from holding commits on the node, read once the reload took effect (empty when it holds):
     * a {@code synchronous_standby_names} given on the server's command line (it wins over {@code
     * postgresql.auto.conf}), or {@code synchronous_commit} set to {@code local} or {@code off} for the server.
     */
    List<String> weaknesses(Statement s) throws SQLException {
        List<String> weak = new java.util.ArrayList<>();
        try (ResultSet rs = s.executeQuery(
                "SELECT current_setting('synchronous_standby_names')," + " current_setting('synchronous_commit')")) {
            rs.next();
            if (restoredFrom(rs.getString(1)) == null) {
                weak.add("synchronous_standby_names is '" + rs.getString(1) + "' (set where ALTER SYSTEM does not"
                        + " win: the server's command line?)");
            }
            if (List.of("local", "off").contains(rs.getString(2))) {
                weak.add("synchronous_commit is " + rs.getString(2) + " for the server");
            }
        }
        return weak;
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
