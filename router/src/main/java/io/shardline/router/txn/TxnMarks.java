package io.shardline.router.txn;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Collection;
import java.util.Map;

/**
 * Marks that let a cross-shard read see every multi-shard transaction whole or not at all.
 *
 * <p>Before {@code PREPARE TRANSACTION}, each participant that wrote gets, inside the transaction, one row of
 * {@value #TABLE} per <em>other</em> participant that wrote: {@code (gid, shard, xid)}, the xid being that other
 * participant's top-level transaction id there. The rows become visible on a shard exactly when the transaction's
 * part there does (they commit with it). A reader holding one snapshot per shard asks each shard, inside its
 * snapshot, for the marks of the other shards with an xid at or after that shard's snapshot {@code xmin}: a mark
 * whose xid the other shard's snapshot does not see as committed ({@link Snapshot#sees}) is a transaction this
 * reader would see half of. An xid below a snapshot's {@code xmin} ended before it, so older marks never matter;
 * the index on {@code (shard, xid)} keeps the question to recent ones.
 */
public final class TxnMarks {
    public static final String TABLE = "shardline.txn_marks";

    /** Created by the driver on a primary before its first two-phase commit there. */
    public static final String CREATE = "CREATE SCHEMA IF NOT EXISTS shardline; CREATE TABLE IF NOT EXISTS " + TABLE
            + " (gid text NOT NULL, shard int NOT NULL, xid xid8 NOT NULL, at timestamptz NOT NULL DEFAULT"
            + " clock_timestamp(), PRIMARY KEY (shard, xid)); GRANT USAGE ON SCHEMA shardline TO PUBLIC;"
            + " GRANT SELECT, INSERT, DELETE ON " + TABLE + " TO PUBLIC";

    /** Whether the table exists, and the snapshot: the first statement of a REPEATABLE READ transaction. */
    public static final String SNAPSHOT =
            "SELECT pg_current_snapshot()::text, to_regclass('" + TABLE + "') IS NOT NULL";

    /**
     * The marks visible in this snapshot whose transaction the other shards' snapshots do not show committed: per
     * other shard, its id, its snapshot's xmin, xmax and running transactions ({@code ?, ?, ?, ?}), at most one
     * mark each (the primary key on {@code (shard, xid)} finds them).
     */
    public static String unseen(int otherShards) {
        StringBuilder sql = new StringBuilder();
        for (int i = 0; i < otherShards; i++) {
            sql.append(i == 0 ? "" : " UNION ALL ")
                    .append("(SELECT gid, shard, xid::text FROM ")
                    .append(TABLE)
                    .append(
                            " WHERE shard = ? AND xid >= ?::xid8 AND (xid >= ?::xid8 OR xid = ANY(?::xid8[])) LIMIT 1)");
        }
        return sql.toString();
    }

    /** How old a mark must be before it is pruned (when its transaction is prepared nowhere). */
    static final String RETENTION = "1 hour";

    private TxnMarks() {}

    /** Creates the table on {@code c} (autocommit), tolerating another router creating it at the same time. */
    public static void create(Connection c) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute(CREATE);
        } catch (SQLException e) {
            // a concurrent CREATE ... IF NOT EXISTS can lose the race on the catalog's unique indexes
            if (!"23505".equals(e.getSQLState()) && !"42P07".equals(e.getSQLState())) {
                throw e;
            }
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT to_regclass('" + TABLE + "') IS NOT NULL")) {
                if (!rs.next() || !rs.getBoolean(1)) {
                    throw e;
                }
            }
        }
    }

    /** This connection's top-level transaction id, or null when its transaction has not written. */
    static String xid(Connection c) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT pg_current_xact_id_if_assigned()::text")) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    /**
     * The statement that records, on participant {@code shard}, the other writing participants' xids — or null
     * when there is none to record.
     */
    static String insert(String gid, int shard, Map<Integer, String> xids) {
        StringBuilder sql = new StringBuilder("INSERT INTO " + TABLE + " (gid, shard, xid, at) VALUES ");
        int rows = 0;
        for (Map.Entry<Integer, String> x : xids.entrySet()) {
            if (x.getKey() == shard) {
                continue;
            }
            sql.append(rows++ == 0 ? "" : ", ")
                    .append("('")
                    .append(Gid.check(gid))
                    .append("', ")
                    .append(x.getKey().intValue())
                    .append(", '")
                    .append(Long.parseUnsignedLong(x.getValue()))
                    .append("', clock_timestamp())");
        }
        return rows == 0 ? null : sql.toString();
    }

    /**
     * Deletes marks older than {@value #RETENTION} whose transaction is prepared nowhere (its every part committed
     * or rolled back, so no snapshot can see half of it any more); returns how many.
     *
     * @param prepared the Shardline transactions prepared on any primary, listed before this call
     */
    public static int prune(Connection c, Collection<String> prepared) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT to_regclass('" + TABLE + "') IS NOT NULL")) {
            if (!rs.next() || !rs.getBoolean(1)) {
                return 0;
            }
        }
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + TABLE + " WHERE at < now() - interval '"
                + RETENTION + "' AND gid <> ALL(?::text[])")) {
            ps.setArray(1, c.createArrayOf("text", prepared.toArray()));
            return ps.executeUpdate();
        }
    }

    /**
     * A shard's snapshot as {@code pg_current_snapshot()} gives it ({@code xmin:xmax:xip,...}).
     *
     * @param xip the transactions in progress when it was taken, sorted
     */
    public record Snapshot(long xmin, long xmax, long[] xip) {
        public static Snapshot parse(String text) {
            String[] parts = text.split(":", -1);
            if (parts.length != 3) {
                throw new IllegalArgumentException("not a snapshot: " + text);
            }
            long[] xip = parts[2].isEmpty()
                    ? new long[0]
                    : java.util.Arrays.stream(parts[2].split(","))
                            .mapToLong(Long::parseUnsignedLong)
                            .sorted()
                            .toArray();
            return new Snapshot(Long.parseUnsignedLong(parts[0]), Long.parseUnsignedLong(parts[1]), xip);
        }

        /**
         * Whether a transaction known to commit ({@code xid}'s part of a transaction another shard shows committed)
         * had committed when this snapshot was taken, as {@code pg_visible_in_snapshot} decides.
         */
        public boolean sees(long xid) {
            return xid < xmin || (xid < xmax && java.util.Arrays.binarySearch(xip, xid) < 0);
        }
    }
}
