package io.shardline.rebalancer;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.Lsn;
import io.shardline.topology.Node;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.ShardedTable;
import java.io.IOException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongConsumer;
import org.postgresql.PGConnection;
import org.postgresql.replication.ReplicationSlotInfo;

/**
 * The data path of one transfer of a move, on PostgreSQL's own logical replication: the sharded tables'
 * schema copied to the target, a publication on the source whose row filter selects the moving hash ranges,
 * a slot whose exported snapshot the rows are copied under (COPY pipes), a subscription on that slot that
 * streams every later change, and the cleanup. Every step checks what exists first, so it can run again
 * after a crash.
 *
 * <p>Names: publication, subscription and replication slot are all {@code shardline_<move>_<source>_<target>}.
 * The cutover's barrier rows live in {@code shardline.move_barrier} on sources and targets while a move runs.
 */
public final class LogicalCopy {
    /** The barrier rows of the cutover (one per copy), on sources and targets while a move runs. */
    static final String BARRIER_TABLE = "shardline.move_barrier";

    private static final String TABLE_EXISTS = "SELECT to_regclass(?) IS NOT NULL";
    /** unique_violation (in the catalog), duplicate_schema, duplicate_table, duplicate_object. */
    private static final Set<String> DUPLICATE_STATES = Set.of("23505", "42P06", "42P07", "42710");
    /** How long a terminated walsender may take to release a stale slot. */
    private static final long SLOT_RELEASE_MS = 5_000;
    /** How long a statement that stops a copy, or reads what it waits for, may wait on its node. */
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);

    private final String name;
    private final MovePlan.Transfer transfer;
    private final ClusterTopology topology;
    private final Node source;
    private final Node target;
    private final MoveEstimate.Connector connector;
    private final SchemaCopier schema;
    /**
     * Whether this is the first copy into a shard that holds no data yet: it gives the target the schema objects,
     * the views over declared tables and the reference tables.
     */
    private final boolean firstIntoNewShard;
    /** The connections of this copy's pipes at work in this process, for {@link #stopPipes} to abort. */
    private final Set<Connection> pipeConnections = ConcurrentHashMap.newKeySet();

    /**
     * @param moveId a short id of the move: letters, digits and underscores
     * @param schema copies a table's DDL from the source to the target (pg_dump)
     */
    public LogicalCopy(
            String moveId,
            MovePlan.Transfer transfer,
            ClusterTopology topology,
            MoveEstimate.Connector connector,
            SchemaCopier schema) {
        this(moveId, transfer, topology, connector, schema, false);
    }

    /**
     * @param firstIntoNewShard whether this copy gives the target the schema objects, views and reference tables:
     *     the target holds no data yet (it owns no range), and this is the first of the move's copies into it
     */
    public LogicalCopy(
            String moveId,
            MovePlan.Transfer transfer,
            ClusterTopology topology,
            MoveEstimate.Connector connector,
            SchemaCopier schema,
            boolean firstIntoNewShard) {
        if (!moveId.matches("[a-z0-9_]{1,32}")) {
            throw new IllegalArgumentException("a move id is 1-32 of a-z, 0-9 and _, not '" + moveId + "'");
        }
        this.name = "shardline_" + moveId + "_" + transfer.source() + "_" + transfer.target();
        this.transfer = transfer;
        this.topology = topology;
        this.source = topology.shard(transfer.source()).primary();
        this.target = topology.shard(transfer.target()).primary();
        this.connector = connector;
        this.schema = schema;
        this.firstIntoNewShard = firstIntoNewShard;
    }

    /** Copies definitions from the source to the target primary. */
    @FunctionalInterface
    public interface SchemaCopier {
        /** A table's or view's definition (columns, keys, indexes, constraints). */
        void copy(String schema, String table, Node from, Node to) throws MoveException;

        /** Every object that is not a relation (types, functions, schemas, extensions...), once per new shard. */
        default void copyObjects(Node from, Node to) throws MoveException {}
    }

    /** Whether this copy gives the target the reference tables' rows (at the cutover). */
    public boolean carriesReferences() {
        return firstIntoNewShard && !topology.referenceTables().isEmpty();
    }

    /** The ranges this copy moves, from which shard to which. */
    public MovePlan.Transfer transfer() {
        return transfer;
    }

    /** The publication's, subscription's and slot's name. */
    public String name() {
        return name;
    }

    /**
     * Checks what logical replication of the moving rows needs, before anything is created.
     *
     * @throws MoveException listing every unmet precondition, each with what to do
     */
    public void checkPreconditions() throws MoveException {
        List<String> problems = new ArrayList<>();
        try (Connection c = connector.connect(source);
                Statement s = c.createStatement()) {
            String walLevel = single(s, "SHOW wal_level");
            if (!walLevel.equals("logical")) {
                problems.add("shard " + transfer.source() + " (" + source.name() + ") runs with wal_level=" + walLevel
                        + ": set wal_level = logical and restart it");
            }
            long freeSlots = Long.parseLong(single(
                    s,
                    "SELECT current_setting('max_replication_slots')::int - (SELECT count(*) FROM"
                            + " pg_replication_slots)"));
            boolean ours = exists(s, "SELECT 1 FROM pg_replication_slots WHERE slot_name = '" + name + "'");
            if (freeSlots < 1 && !ours) {
                problems.add("shard " + transfer.source() + " (" + source.name() + ") has no free replication slot:"
                        + " raise max_replication_slots");
            }
            for (ShardedTable table : topology.tables()) {
                String key = keyProblem(c, table);
                if (key != null) {
                    problems.add(key);
                }
            }
        } catch (SQLException e) {
            throw new MoveException(
                    "checking shard " + transfer.source() + " (" + source.name() + "): " + e.getMessage(), e);
        }
        if (!problems.isEmpty()) {
            throw new MoveException("cannot move shard " + transfer.source() + " -> " + transfer.target() + ": "
                    + String.join("; ", problems));
        }
    }

    private static String keyProblem(Connection c, ShardedTable table) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT EXISTS (SELECT 1 FROM pg_class r JOIN pg_namespace n"
                + " ON n.oid = r.relnamespace WHERE n.nspname = ? AND r.relname = ?),"
                + " EXISTS (SELECT 1 FROM pg_index i JOIN pg_class r ON r.oid = i.indrelid JOIN pg_namespace n ON"
                + " n.oid = r.relnamespace WHERE n.nspname = ? AND r.relname = ? AND i.indisprimary),"
                + " EXISTS (SELECT 1 FROM pg_index i JOIN pg_class r ON r.oid = i.indrelid JOIN pg_namespace n ON"
                + " n.oid = r.relnamespace JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = ANY(i.indkey)"
                + " WHERE n.nspname = ? AND r.relname = ? AND i.indisprimary AND a.attname = ?)")) {
            ps.setString(1, table.schema());
            ps.setString(2, table.table());
            ps.setString(3, table.schema());
            ps.setString(4, table.table());
            ps.setString(5, table.schema());
            ps.setString(6, table.table());
            ps.setString(7, table.keyColumn());
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                if (!rs.getBoolean(1)) {
                    return null; // declared but not created: nothing to copy
                }
                if (!rs.getBoolean(2)) {
                    return table.qualifiedName() + " has no primary key: logical replication needs one to replicate"
                            + " updates and deletes (ALTER TABLE ... ADD PRIMARY KEY (" + table.keyColumn() + ", ...))";
                }
                if (!rs.getBoolean(3)) {
                    return "the primary key of " + table.qualifiedName() + " does not contain its shard key "
                            + table.keyColumn() + ": the publication's row filter can only use replica identity"
                            + " columns";
                }
                return null;
            }
        }
    }

    /**
     * SCHEMA: every sharded table (and reference table, when this copy carries them) that exists on the source and
     * not yet on the target is created there. A table whose foreign key references one not created yet is tried again
     * after the others, so declaration order does not matter; only a cycle of foreign keys fails.
     */
    public void createSchema() throws MoveException {
        List<String[]> declared = new ArrayList<>();
        for (ReferenceTable t : existingReferenceTables()) {
            declared.add(new String[] {t.schema(), t.table()});
        }
        for (ShardedTable t : existingTables()) {
            declared.add(new String[] {t.schema(), t.table()});
        }
        List<String[]> pending = new ArrayList<>();
        for (String[] t : declared) {
            if (!tableExists(target, t[0], t[1])) {
                pending.add(t);
            }
        }
        if (firstIntoNewShard && pending.size() == declared.size() && !declared.isEmpty()) {
            schema.copyObjects(source, target); // a fresh shard: the types and functions the tables may use
        }
        createInOrder(pending);
        if (firstIntoNewShard) {
            createInOrder(viewsToCopy());
        }
    }

    /** Creates each of {@code pending} from the source; one that needs another not created yet is tried after it. */
    private void createInOrder(List<String[]> pending) throws MoveException {
        while (!pending.isEmpty()) {
            MoveException last = null;
            List<String[]> failed = new ArrayList<>();
            for (String[] t : pending) {
                try {
                    schema.copy(t[0], t[1], source, target);
                } catch (MoveException e) {
                    last = e;
                    failed.add(t);
                }
            }
            if (failed.size() == pending.size()) {
                throw last; // no progress: a missing dependency that is not ours, or a cycle
            }
            pending = failed;
        }
    }

    /**
     * The cutover, while every router holds writes to reference tables and no older transaction runs on the source:
     * the target's reference tables become the source's, in one transaction on the target, their sequences set as the
     * source's. Foreign keys and triggers do not fire (the rows are a copy, and a cascading delete of the old copy
     * must not touch the rows just moved): that needs a superuser, as the subscription does. Nothing when this copy
     * does not carry them. The tables are read whole into memory: reference tables are small.
     *
     * @param from a connection to the source, in autocommit mode
     * @param to a connection to the target, in autocommit mode
     * @param timeoutMs how long each statement may take (the cutover's deadline)
     * @return the rows copied
     * @throws SQLException naming what failed; the target is left as it was
     */
    public long copyReferenceTables(Connection from, Connection to, long timeoutMs) throws SQLException {
        if (!carriesReferences()) {
            return 0;
        }
        long rows = 0;
        to.setAutoCommit(false);
        try (Statement s = to.createStatement();
                Statement f = from.createStatement()) {
            f.execute("SET statement_timeout = " + Math.max(1, timeoutMs));
            s.execute("SET LOCAL statement_timeout = " + Math.max(1, timeoutMs));
            try {
                s.execute("SET LOCAL session_replication_role = replica");
            } catch (SQLException e) {
                throw new SQLException(
                        "the rebalancer's user cannot set session_replication_role (it must be a superuser, as"
                                + " logical replication needs): " + e.getMessage(),
                        e.getSQLState(),
                        e);
            }
            for (ReferenceTable t : topology.referenceTables()) {
                String table = qualified(t.schema(), t.table());
                if (!"true"
                        .equals(single(
                                f, "SELECT (to_regclass('" + table.replace("'", "''") + "') IS NOT NULL)::text"))) {
                    continue;
                }
                String columns = single(
                        f,
                        "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid"
                                + " = '" + table.replace("'", "''") + "'::regclass AND attnum > 0 AND NOT attisdropped"
                                + " AND attgenerated = ''");
                s.execute("DELETE FROM " + table);
                byte[] data;
                try (var out = new java.io.ByteArrayOutputStream()) {
                    from.unwrap(PGConnection.class)
                            .getCopyAPI()
                            .copyOut("COPY (SELECT " + columns + " FROM " + table + ") TO STDOUT", out);
                    data = out.toByteArray();
                } catch (IOException e) {
                    throw new SQLException("reading " + table + " from " + source.name() + ": " + e.getMessage(), e);
                }
                try {
                    rows += to.unwrap(PGConnection.class)
                            .getCopyAPI()
                            .copyIn(
                                    "COPY " + table + " (" + columns + ") FROM STDIN",
                                    new java.io.ByteArrayInputStream(data));
                } catch (IOException e) {
                    throw new SQLException("writing " + table + " to " + target.name() + ": " + e.getMessage(), e);
                }
                copySequences(f, s, table);
            }
            to.commit();
        } finally {
            if (!to.getAutoCommit()) {
                to.rollback();
                to.setAutoCommit(true);
            }
            try (Statement f = from.createStatement()) {
                f.execute("RESET statement_timeout");
            }
        }
        return rows;
    }

    /**
     * Raises the target's sequences of the sharded tables' columns (serial, identity; ascending ones) to the values the
     * source drew: the moved rows hold values of the source's sequences, and the target's own would hand them out
     * again to the rows inserted for the moved keys after the switch (a duplicate key, or an upsert that overwrites).
     * Run while writes to the moving ranges are held, once the target applied them all; a target's sequence that is
     * ahead already stays. Returns how many were raised.
     */
    int raiseSequences(Statement from, Statement to) throws SQLException {
        List<String> tables = new ArrayList<>();
        for (ShardedTable t : topology.tables()) {
            tables.add("to_regclass('" + qualified(t).replace("'", "''") + "')");
        }
        if (tables.isEmpty()) {
            return 0;
        }
        Map<String, Long> drawn = new LinkedHashMap<>();
        try (ResultSet rs = from.executeQuery("SELECT sc.oid::regclass::text, pg_sequence_last_value(sc.oid)"
                + " FROM pg_depend d JOIN pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S'"
                + " JOIN pg_sequence q ON q.seqrelid = sc.oid AND q.seqincrement > 0"
                + " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
                + " AND d.deptype IN ('a', 'i') AND d.refobjid = ANY (ARRAY[" + String.join(", ", tables) + "])")) {
            while (rs.next()) {
                long last = rs.getLong(2);
                if (!rs.wasNull()) {
                    drawn.put(rs.getString(1), last);
                }
            }
        }
        int raised = 0;
        for (Map.Entry<String, Long> e : drawn.entrySet()) {
            try (ResultSet rs = to.executeQuery("SELECT setval(r, " + e.getValue() + ") FROM (SELECT to_regclass('"
                    + e.getKey().replace("'", "''") + "') AS r) s WHERE r IS NOT NULL AND "
                    + e.getValue() + " > coalesce(pg_sequence_last_value(r), 0)")) {
                if (rs.next()) {
                    raised++;
                }
            }
        }
        return raised;
    }

    /** Sets the target's sequences of {@code table}'s columns (serial, identity) as the source's are. */
    private static void copySequences(Statement from, Statement to, String table) throws SQLException {
        List<String> sequences = new ArrayList<>();
        try (ResultSet rs = from.executeQuery("SELECT pg_get_serial_sequence('" + table.replace("'", "''")
                + "', attname) FROM pg_attribute WHERE attrelid = '" + table.replace("'", "''") + "'::regclass"
                + " AND attnum > 0 AND NOT attisdropped")) {
            while (rs.next()) {
                if (rs.getString(1) != null) {
                    sequences.add(rs.getString(1));
                }
            }
        }
        for (String sequence : sequences) {
            String literal = "'" + sequence.replace("'", "''") + "'";
            String value;
            try (ResultSet rs =
                    from.executeQuery("SELECT last_value::text || ',' || is_called::text FROM " + sequence)) {
                rs.next();
                value = rs.getString(1);
            }
            String[] parts = value.split(",");
            boolean called = "true".equals(parts[1]);
            to.execute("SELECT setval(" + literal + ", " + Long.parseLong(parts[0]) + ", " + called + ")");
        }
    }

    /**
     * Copied rows are not checked again on the target, as logical replication's apply does not check them: foreign
     * keys and triggers do not fire (a pipe of one table may commit before the pipe of the table it references).
     * Needs a superuser, as the subscription does; without one the rows are checked (a foreign key to a table not
     * copied yet then fails the copy).
     */
    private static void asReplica(Statement s) throws SQLException {
        s.execute("DO $$ BEGIN SET LOCAL session_replication_role = replica;"
                + " EXCEPTION WHEN insufficient_privilege THEN NULL; END $$");
    }

    /** The reference tables this copy carries that exist on the source (none when it carries none). */
    private List<ReferenceTable> existingReferenceTables() throws MoveException {
        List<ReferenceTable> existing = new ArrayList<>();
        if (firstIntoNewShard) {
            for (ReferenceTable t : topology.referenceTables()) {
                if (tableExists(source, t.schema(), t.table())) {
                    existing.add(t);
                }
            }
        }
        return existing;
    }

    /**
     * COPYING, first: the publication on the source, its row filter selecting the moving ranges (and this copy's
     * barrier row); idempotent.
     *
     * @return false when the source has none of the sharded tables (nothing to copy)
     */
    public boolean publish() throws MoveException {
        try (Links links = links()) {
            return publish(links);
        }
    }

    /** {@link #publish()} over {@code links}. */
    private boolean publish(Links links) throws MoveException {
        List<ShardedTable> tables = links.tables();
        if (tables.isEmpty()) {
            return false;
        }
        try (Statement s = links.source().createStatement()) {
            if (!exists(s, "SELECT 1 FROM pg_publication WHERE pubname = '" + name + "'")) {
                createBarrierTable(s);
                List<String> members = new ArrayList<>();
                for (ShardedTable t : tables) {
                    String hash = t.keyType().sqlHashExpression(MoveEstimate.quote(t.keyColumn()));
                    members.add(qualified(t) + " WHERE (" + transfer.sqlPredicate(hash) + ")");
                }
                members.add(BARRIER_TABLE + " WHERE (copy = '" + name + "')");
                s.execute("CREATE PUBLICATION " + name + " FOR TABLE " + String.join(", ", members)
                        + " WITH (publish = 'insert, update, delete, truncate')");
            }
        } catch (SQLException e) {
            throw new MoveException("creating publication " + name + " on " + source.name() + ": " + e.getMessage(), e);
        }
        try (Statement s = links.target().createStatement()) {
            createBarrierTable(s);
        } catch (SQLException e) {
            throw new MoveException("creating " + BARRIER_TABLE + " on " + target.name() + ": " + e.getMessage(), e);
        }
        return true;
    }

    /**
     * The source's views (and materialized views) the target lacks whose tables are all declared tables or such views:
     * those a statement routed to the target may read.
     */
    private List<String[]> viewsToCopy() throws MoveException {
        Set<String> declared = new HashSet<>();
        topology.tables().forEach(t -> declared.add(t.schema() + "\0" + t.table()));
        topology.referenceTables().forEach(t -> declared.add(t.schema() + "\0" + t.table()));
        Map<String, Set<String>> views = new LinkedHashMap<>();
        try (Connection c = connector.connect(source);
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT v.nspname, vc.relname, t.nspname, tc.relname"
                        + " FROM pg_class vc JOIN pg_namespace v ON v.oid = vc.relnamespace"
                        + " JOIN pg_rewrite r ON r.ev_class = vc.oid"
                        + " JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass"
                        + " AND d.refclassid = 'pg_class'::regclass"
                        + " JOIN pg_class tc ON tc.oid = d.refobjid AND tc.oid <> vc.oid"
                        + " JOIN pg_namespace t ON t.oid = tc.relnamespace"
                        + " WHERE vc.relkind IN ('v', 'm') AND v.nspname NOT IN ('pg_catalog', 'information_schema',"
                        + " 'shardline') AND v.nspname NOT LIKE 'pg_toast%'")) {
            while (rs.next()) {
                views.computeIfAbsent(rs.getString(1) + "\0" + rs.getString(2), k -> new HashSet<>())
                        .add(rs.getString(3) + "\0" + rs.getString(4));
            }
        } catch (SQLException e) {
            throw new MoveException("listing the views of " + source.name() + ": " + e.getMessage(), e);
        }
        // a view qualifies when every relation it reads is declared, or a view that qualifies
        Set<String> copied = new HashSet<>();
        for (boolean more = true; more; ) {
            more = false;
            for (Map.Entry<String, Set<String>> v : views.entrySet()) {
                if (!copied.contains(v.getKey())
                        && v.getValue().stream().allMatch(r -> declared.contains(r) || copied.contains(r))) {
                    copied.add(v.getKey());
                    more = true;
                }
            }
        }
        List<String[]> missing = new ArrayList<>();
        for (String view : copied) {
            String[] name = view.split("\0", 2);
            if (!tableExists(target, name[0], name[1])) {
                missing.add(name);
            }
        }
        return missing;
    }

    /** Whether the target subscribes already: the rows were copied. */
    public boolean subscribed() throws MoveException {
        try (Links links = links()) {
            return subscribed(links);
        }
    }

    private boolean subscribed(Links links) throws MoveException {
        try (Statement s = links.target().createStatement()) {
            return exists(s, "SELECT 1 FROM pg_subscription WHERE subname = '" + name + "'");
        } catch (SQLException e) {
            throw new MoveException("reading the subscriptions of " + target.name() + ": " + e.getMessage(), e);
        }
    }

    /**
     * The slot of a copy, held with the snapshot it exported: the rows as of the slot's start. Closing it ends
     * the snapshot; the slot stays for the subscription.
     */
    public static final class Snapshot implements AutoCloseable {
        private final Connection replication;
        private final String name;

        Snapshot(Connection replication, String name) {
            this.replication = replication;
            this.name = name;
        }

        @Override
        public void close() {
            try {
                replication.close();
            } catch (SQLException e) {
                // the snapshot ends with the connection either way
            }
        }
    }

    /**
     * COPYING, second: takes this copy over for {@code epoch} (pipes of an older runner that are still at
     * work are ended, later ones refuse to commit), removes what an interrupted copy left (the slot on the
     * source, the rows on the target), and creates the slot with an exported snapshot.
     *
     * @return the slot's snapshot, or null when the copy is subscribed already (an older runner's pipes all
     *     committed and subscribed it just before the takeover)
     */
    public Snapshot openSnapshot(long epoch) throws MoveException {
        try (Links links = links()) {
            return openSnapshot(links, epoch);
        }
    }

    private Snapshot openSnapshot(Links links, long epoch) throws MoveException {
        Connection c = links.target();
        try (Statement s = c.createStatement()) {
            createBarrierTable(s);
            s.execute("SET lock_timeout = '2s'");
            String claim = "INSERT INTO " + BARRIER_TABLE + " (copy, seq) VALUES ('" + fenceKey() + "', " + epoch
                    + ") ON CONFLICT (copy) DO UPDATE SET seq = greatest(" + BARRIER_TABLE + ".seq, EXCLUDED.seq)"
                    + " RETURNING seq";
            long owner;
            while (true) {
                // a stopped older runner's pipe of this copy would hold its lock on the fence row forever: end
                // it, and only it (the pipes of the other copies into this target are at work)
                s.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '"
                        + pipeName() + "' AND pid <> pg_backend_pid()");
                try {
                    owner = Long.parseLong(single(s, claim));
                    break;
                } catch (SQLException e) {
                    if (!"55P03".equals(e.getSQLState())) {
                        throw e;
                    }
                }
            }
            if (owner != epoch) {
                throw new MoveException("copy " + name + " belongs to a newer rebalancer (epoch " + owner + ")");
            }
            if (exists(s, "SELECT 1 FROM pg_subscription WHERE subname = '" + name + "'")) {
                // an older runner's last pipe committed and subscribed before the claim above (which waited for it)
                return null;
            }
            for (ShardedTable t : links.tables()) {
                boolean onTarget;
                try (PreparedStatement ps = c.prepareStatement(TABLE_EXISTS)) {
                    onTarget = tableExists(ps, t.schema(), t.table());
                }
                if (onTarget) {
                    String hash = t.keyType().sqlHashExpression(MoveEstimate.quote(t.keyColumn()));
                    s.execute("DELETE FROM " + qualified(t) + " WHERE " + transfer.sqlPredicate(hash));
                }
            }
        } catch (SQLException e) {
            throw new MoveException("preparing " + target.name() + " for copy " + name + ": " + e.getMessage(), e);
        }
        try (Statement s = links.source().createStatement()) {
            s.execute("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '" + name
                    + "' AND active_pid IS NOT NULL");
            if (exists(s, "SELECT 1 FROM pg_replication_slots WHERE slot_name = '" + name + "'")) {
                awaitSlotReleased(s);
                s.execute("SELECT pg_drop_replication_slot('" + name + "')");
            }
        } catch (SQLException e) {
            throw new MoveException(
                    "dropping the stale slot " + name + " on " + source.name() + ": " + e.getMessage(), e);
        }
        Connection replication = null;
        try {
            replication = connector.connectForReplication(source);
            ReplicationSlotInfo slot = replication
                    .unwrap(PGConnection.class)
                    .getReplicationAPI()
                    .createReplicationSlot()
                    .logical()
                    .withSlotName(name)
                    .withOutputPlugin("pgoutput")
                    .make();
            return new Snapshot(replication, slot.getSnapshotName());
        } catch (SQLException e) {
            if (replication != null) {
                try {
                    replication.close();
                } catch (SQLException ignored) {
                    // reporting the first failure
                }
            }
            throw new MoveException("creating slot " + name + " on " + source.name() + ": " + e.getMessage(), e);
        }
    }

    /**
     * COPYING, third: one pipe per sharded table, each a {@code COPY ... TO STDOUT} of the moving rows of the
     * source under {@code snapshot} into a {@code COPY ... FROM STDIN} of the target, committed only while
     * {@code epoch} owns the copy. Each returns its rows and tells {@code copied} of them.
     */
    public List<Callable<Long>> pipes(Snapshot snapshot, long epoch, LongConsumer copied) throws MoveException {
        List<Callable<Long>> pipes = new ArrayList<>();
        for (ShardedTable t : existingTables()) {
            String columns = columns(qualified(t));
            String hash = t.keyType().sqlHashExpression(MoveEstimate.quote(t.keyColumn()));
            // one scan of the table for all its moving ranges: the hash is not indexed, a pipe per range
            // would scan the whole table again
            String select = "SELECT " + columns + " FROM " + qualified(t) + " WHERE " + transfer.sqlPredicate(hash);
            String into = "COPY " + qualified(t) + " (" + columns + ") FROM STDIN";
            pipes.add(() -> {
                long rows = pipe(snapshot.name, epoch, select, into);
                copied.accept(rows);
                return rows;
            });
        }
        return pipes;
    }

    private long pipe(String snapshot, long epoch, String select, String into) throws Exception {
        try (Connection from = connector.connect(source);
                Connection to = connector.connect(target)) {
            pipeConnections.add(from);
            pipeConnections.add(to);
            try (Statement s = from.createStatement()) {
                // parallel workers would only queue the rows for the one leader that writes the COPY stream (seen
                // waiting in MessageQueueSend), and take CPU from the targets' COPY FROM
                s.execute("SET max_parallel_workers_per_gather = 0");
            }
            from.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
            from.setAutoCommit(false);
            try (Statement s = from.createStatement()) {
                s.execute("SET TRANSACTION SNAPSHOT '" + snapshot + "'");
            }
            to.setAutoCommit(false);
            try (Statement s = to.createStatement()) {
                s.execute("SET application_name = '" + pipeName() + "'"); // before the lock: see openSnapshot
                asReplica(s);
                String owner =
                        single(s, "SELECT seq FROM " + BARRIER_TABLE + " WHERE copy = '" + fenceKey() + "' FOR SHARE");
                if (Long.parseLong(owner) != epoch) {
                    throw new MoveException("copy " + name + " belongs to a newer rebalancer (epoch " + owner + ")");
                }
            }
            long rows = CopyPipe.transfer(from, "COPY (" + select + ") TO STDOUT", to, into);
            to.commit();
            from.commit();
            return rows;
        } finally {
            pipeConnections.removeIf(LogicalCopy::closed);
        }
    }

    private static boolean closed(Connection c) {
        try {
            return c.isClosed();
        } catch (SQLException e) {
            return true;
        }
    }

    /** The columns COPY carries, in the source's order (generated columns are computed on the target). */
    private String columns(String table) throws MoveException {
        try (Connection c = connector.connect(source);
                PreparedStatement ps =
                        c.prepareStatement("SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum)"
                                + " FROM pg_attribute WHERE attrelid = to_regclass(?) AND attnum > 0 AND NOT attisdropped AND"
                                + " attgenerated = ''")) {
            ps.setString(1, table);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getString(1);
            }
        } catch (SQLException e) {
            throw new MoveException("reading the columns of " + table + ": " + e.getMessage(), e);
        }
    }

    /**
     * COPYING, last: the subscription on the copy's slot, without a copy of its own (the pipes did it),
     * created disabled while {@code epoch} owns the copy; {@link #enable} starts it streaming every change after the
     * snapshot. A subscription says the copy's rows are all on the target: a runner superseded after its pipes
     * committed must not make one after the next runner took the copy over (and deleted those rows).
     *
     * @param sourceConnInfo how the target reaches the source, e.g. {@code host=... port=... dbname=... user=...}
     */
    public void subscribe(String sourceConnInfo, long epoch) throws MoveException {
        try (Connection c = connector.connect(target);
                Statement s = c.createStatement()) {
            pipeConnections.add(c); // CREATE SUBSCRIPTION connects to the source, which may hang: an abort ends it
            s.execute("SET application_name = '" + pipeName() + "'"); // a newer runner's takeover ends it too
            c.setAutoCommit(false);
            // FOR SHARE, held to the commit: a newer runner's claim of the copy waits for it, then finds the
            // subscription (openSnapshot)
            String owner;
            try (ResultSet rs = s.executeQuery(
                    "SELECT seq FROM " + BARRIER_TABLE + " WHERE copy = '" + fenceKey() + "' FOR SHARE")) {
                owner = rs.next() ? rs.getString(1) : null;
            }
            if (owner == null || Long.parseLong(owner) != epoch) {
                throw new MoveException("copy " + name + " is not owned by epoch " + epoch + " (its owner: "
                        + (owner == null ? "none" : "epoch " + owner) + "): not subscribing");
            }
            if (!exists(s, "SELECT 1 FROM pg_subscription WHERE subname = '" + name + "'")) {
                s.execute("CREATE SUBSCRIPTION " + name + " CONNECTION '" + sourceConnInfo.replace("'", "''")
                        + "' PUBLICATION " + name + " WITH (create_slot = false, slot_name = '" + name
                        + "', copy_data = false, enabled = false)");
            }
            c.commit();
        } catch (SQLException e) {
            throw new MoveException(
                    "creating subscription " + name + " on " + target.name() + ": " + e.getMessage(), e);
        } finally {
            pipeConnections.removeIf(LogicalCopy::closed);
        }
    }

    /**
     * Ends the pipes at work on the target (their rows roll back), this process's by closing their connections too:
     * for an abort.
     */
    public void stopPipes() throws MoveException {
        // this process's pipes may wait on their source (a lock, a hung server) and see the target's end only at
        // their next write: their sockets are closed under them
        for (Connection c : pipeConnections) {
            try {
                c.abort(Runnable::run);
            } catch (SQLException e) {
                // its pipe fails either way, and says why
            }
        }
        try (Connection c = connector.connect(target);
                Statement s = c.createStatement()) {
            s.execute("SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.relation = to_regclass('"
                    + BARRIER_TABLE + "') AND l.mode = 'RowShareLock' AND l.pid <> pg_backend_pid()");
        } catch (SQLException e) {
            throw new MoveException("stopping the copy into " + target.name() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Ends the creation of this copy's slot on the source, when one is under way (its walsender waits for the
     * source's transactions older than it to end): PostgreSQL drops a slot that did not finish, so none is left
     * behind. For an abort.
     */
    public void stopSlotCreation() throws MoveException {
        try (Connection c = connector.connect(source, STOP_TIMEOUT);
                Statement s = c.createStatement()) {
            s.execute("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '" + name
                    + "' AND active_pid IS NOT NULL");
            awaitSlotReleased(s); // the walsender drops an unfinished slot on its way out: then the abort drops none
        } catch (SQLException e) {
            throw new MoveException(
                    "stopping the slot of copy " + name + " on " + source.name() + ": " + e.getMessage(), e);
        }
    }

    /**
     * The source's oldest transactions holding a transaction id (at most three: process id, application name, how
     * long open, state), which a slot being created waits for; for the log, never failing.
     */
    public String oldestSourceTransactions() {
        try (Connection c = connector.connect(source, STOP_TIMEOUT);
                Statement s = c.createStatement()) {
            // a prepared transaction (two-phase commit, maybe in doubt) has no session: it is named by its gid
            String oldest = single(
                    s,
                    "SELECT string_agg(what, '; ' ORDER BY since) FROM (SELECT * FROM (SELECT format('pid %s (%s)"
                            + " open for %s s, %s', pid, coalesce(nullif(application_name, ''), 'no application"
                            + " name'), extract(epoch FROM now() - xact_start)::bigint, state) AS what, xact_start AS"
                            + " since FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
                            + " UNION ALL SELECT format('prepared transaction %s, prepared %s s ago', gid,"
                            + " extract(epoch FROM now() - prepared)::bigint), prepared FROM pg_prepared_xacts) t"
                            + " ORDER BY since LIMIT 3) oldest");
            return oldest == null ? "none now" : oldest;
        } catch (SQLException e) {
            return "unknown (" + e.getMessage() + ")";
        }
    }

    private String fenceKey() {
        return name + "#epoch";
    }

    /** The application name of this copy's pipes on the target (PostgreSQL keeps its first 63 bytes). */
    private String pipeName() {
        String pipe = "shardline pipe " + name;
        return pipe.length() > 63 ? pipe.substring(0, 63) : pipe;
    }

    /** Waits (up to {@link #SLOT_RELEASE_MS}) until the terminated walsender has let go of the slot as it exits. */
    private void awaitSlotReleased(Statement s) throws SQLException, MoveException {
        long deadline = System.nanoTime() + SLOT_RELEASE_MS * 1_000_000;
        while (exists(
                s, "SELECT 1 FROM pg_replication_slots WHERE slot_name = '" + name + "' AND active_pid IS NOT NULL")) {
            if (System.nanoTime() > deadline) {
                throw new MoveException("the stale slot " + name + " is still in use " + SLOT_RELEASE_MS
                        + " ms after its walsender was terminated");
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new MoveException("interrupted", e);
            }
        }
    }

    /** Creates the barrier table unless it exists, through {@code s} in autocommit; safe run concurrently. */
    private static void createBarrierTable(Statement s) throws SQLException {
        createIfMissing(s, "CREATE SCHEMA IF NOT EXISTS shardline");
        createIfMissing(
                s, "CREATE TABLE IF NOT EXISTS " + BARRIER_TABLE + " (copy text PRIMARY KEY, seq bigint NOT NULL)");
    }

    /**
     * Runs a {@code CREATE ... IF NOT EXISTS}, which races with itself: the copies into and out of one primary run it
     * at once, and the one that loses sees the winner's row in the catalog (a duplicate key, or the object or its
     * type existing) instead of the notice. Run again, it finds the object.
     */
    private static void createIfMissing(Statement s, String ddl) throws SQLException {
        try {
            s.execute(ddl);
        } catch (SQLException e) {
            if (!DUPLICATE_STATES.contains(e.getSQLState())) {
                throw e;
            }
            s.execute(ddl);
        }
    }

    /**
     * FENCED: writes this copy's barrier row on the source, through {@code source} (a statement on the source
     * primary, autocommit, {@code synchronous_commit = on}). The target applies the source's transactions in
     * commit order, so once it shows the row ({@link #barrierApplied}) it has applied every transaction that
     * committed on the source before.
     *
     * @return the barrier's number, or -1 when this copy replicates nothing (no sharded table on the source)
     */
    public long placeBarrier(Statement source) throws SQLException {
        if (!exists(source, "SELECT 1 FROM pg_publication WHERE pubname = '" + name + "'")) {
            return -1;
        }
        return Long.parseLong(single(
                source,
                "INSERT INTO " + BARRIER_TABLE + " (copy, seq) VALUES ('" + name + "', 1) ON CONFLICT (copy) DO"
                        + " UPDATE SET seq = " + BARRIER_TABLE + ".seq + 1 RETURNING seq"));
    }

    /** Whether the target (a statement on its primary) has applied barrier {@code seq} of this copy. */
    public boolean barrierApplied(Statement target, long seq) throws SQLException {
        return Long.parseLong(single(
                        target,
                        "SELECT coalesce((SELECT seq FROM " + BARRIER_TABLE + " WHERE copy = '" + name + "'), 0)"))
                >= seq;
    }

    /**
     * Checks that each target of {@code copies} can run their logical replication workers at once: one apply
     * worker per subscription for the whole move. Fewer, and some subscription would never start (PostgreSQL
     * waits for a free worker slot without saying so).
     *
     * @throws MoveException naming each target short of workers and the setting to raise
     */
    public static void checkWorkers(List<LogicalCopy> copies, MoveEstimate.Connector connector) throws MoveException {
        Map<Node, List<String>> byTarget = new LinkedHashMap<>();
        for (LogicalCopy copy : copies) {
            byTarget.computeIfAbsent(copy.target, t -> new ArrayList<>()).add("'" + copy.name + "'");
        }
        List<String> problems = new ArrayList<>();
        for (Map.Entry<Node, List<String>> e : byTarget.entrySet()) {
            Node target = e.getKey();
            try (Connection c = connector.connect(target);
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT current_setting('max_logical_replication_workers')::int,"
                            + " (SELECT count(*) FROM pg_stat_subscription WHERE pid IS NOT NULL AND subname <> ALL"
                            + " (ARRAY[" + String.join(", ", e.getValue()) + "]))")) {
                rs.next();
                int max = rs.getInt(1);
                int busy = rs.getInt(2);
                int needed = e.getValue().size();
                if (max - busy < needed) {
                    problems.add(target.name() + " allows " + max + " logical replication workers and " + busy
                            + " are busy, but this move needs " + needed + " there (an apply worker for each of its"
                            + " source shards): raise"
                            + " max_logical_replication_workers (and max_worker_processes with it) to at least "
                            + (busy + needed) + " and restart it");
                }
            } catch (SQLException ex) {
                throw new MoveException("checking " + target.name() + ": " + ex.getMessage(), ex);
            }
        }
        if (!problems.isEmpty()) {
            throw new MoveException("cannot start the move: " + String.join("; ", problems));
        }
    }

    /**
     * Enables the disabled subscriptions of {@code copies} in one transaction per target: PostgreSQL's launcher
     * then starts all their apply workers at once, where subscriptions enabled one by one would each wait out
     * {@code wal_retrieve_retry_interval} (5 s by default) after the previous one.
     */
    public static void enable(List<LogicalCopy> copies, MoveEstimate.Connector connector) throws MoveException {
        Map<Node, List<LogicalCopy>> byTarget = new LinkedHashMap<>();
        for (LogicalCopy copy : copies) {
            byTarget.computeIfAbsent(copy.target, t -> new ArrayList<>()).add(copy);
        }
        for (Map.Entry<Node, List<LogicalCopy>> e : byTarget.entrySet()) {
            try (Connection c = connector.connect(e.getKey());
                    Statement s = c.createStatement()) {
                c.setAutoCommit(false);
                for (LogicalCopy copy : e.getValue()) {
                    if (exists(
                            s,
                            "SELECT 1 FROM pg_subscription WHERE subname = '" + copy.name + "' AND NOT subenabled")) {
                        s.execute("ALTER SUBSCRIPTION " + copy.name + " ENABLE");
                    }
                }
                c.commit();
            } catch (SQLException ex) {
                throw new MoveException(
                        "enabling the subscriptions on " + e.getKey().name() + ": " + ex.getMessage(), ex);
            }
        }
    }

    /**
     * Per qualified table name, about how many rows this copy moves: the source's row count as the planner
     * knows it ({@code reltuples}) times the moving part of the source's hash space, or a count where the table
     * was never analyzed.
     *
     * @param sourceShare the source's share of the hash space before the move
     */
    private Map<String, Long> estimateRows(Links links, double sourceShare) throws MoveException {
        Map<String, Long> rows = new LinkedHashMap<>();
        Connection c = links.source();
        try (PreparedStatement ps =
                c.prepareStatement("SELECT reltuples::bigint FROM pg_class WHERE oid =" + " to_regclass(?)")) {
            for (ShardedTable t : links.tables()) {
                ps.setString(1, qualified(t));
                long tuples;
                try (ResultSet rs = ps.executeQuery()) {
                    tuples = rs.next() ? rs.getLong(1) : -1;
                }
                if (tuples >= 0) {
                    rows.put(qualified(t), Math.round(tuples * Math.min(1, transfer.share() / sourceShare)));
                } else {
                    String hash = t.keyType().sqlHashExpression(MoveEstimate.quote(t.keyColumn()));
                    try (Statement s = c.createStatement()) {
                        rows.put(
                                qualified(t),
                                Long.parseLong(single(
                                        s,
                                        "SELECT count(*) FROM " + qualified(t) + " WHERE "
                                                + transfer.sqlPredicate(hash))));
                    }
                }
            }
        } catch (SQLException e) {
            throw new MoveException("estimating the rows to copy from " + source.name() + ": " + e.getMessage(), e);
        }
        return rows;
    }

    /** The source's current WAL position: after a fence, the target must apply up to here. */
    public long sourceLsn() throws MoveException {
        try (Connection c = connector.connect(source);
                Statement s = c.createStatement()) {
            return Lsn.parse(single(s, "SELECT pg_current_wal_lsn()::text"));
        } catch (SQLException e) {
            throw new MoveException("reading the WAL position of " + source.name() + ": " + e.getMessage(), e);
        }
    }

    /** Whether the target has applied and confirmed the source's WAL up to {@code lsn}. */
    public boolean appliedUpTo(long lsn) throws MoveException {
        return confirmedLsn() >= lsn;
    }

    /** WAL of the source the target has not confirmed yet; -1 before the slot exists. */
    public long lag() throws MoveException {
        long confirmed = confirmedLsn();
        return confirmed < 0 ? -1 : Math.max(0, sourceLsn() - confirmed);
    }

    /**
     * Whether an apply worker streams from this copy's slot now. Until the target's worker has started (it can take
     * seconds after the subscription is enabled) or while it restarts, the slot shows no lag and nothing applies: a
     * cutover then would hold writes for its whole barrier time and fail.
     */
    public boolean streaming() throws MoveException {
        try (Connection c = connector.connect(source);
                Statement s = c.createStatement()) {
            return exists(s, "SELECT 1 FROM pg_replication_slots WHERE slot_name = '" + name + "' AND active");
        } catch (SQLException e) {
            throw new MoveException("reading slot " + name + " on " + source.name() + ": " + e.getMessage(), e);
        }
    }

    private long confirmedLsn() throws MoveException {
        try (Connection c = connector.connect(source);
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE"
                        + " slot_name = '" + name + "'")) {
            return rs.next() && rs.getString(1) != null ? Lsn.parse(rs.getString(1)) : -1;
        } catch (SQLException e) {
            throw new MoveException("reading slot " + name + " on " + source.name() + ": " + e.getMessage(), e);
        }
    }

    /** Drops the subscription (and with it the slot on the source) and the publication; idempotent. */
    public void dropReplication() throws MoveException {
        try (Connection c = connector.connect(target);
                Statement s = c.createStatement()) {
            if (exists(s, "SELECT 1 FROM pg_subscription WHERE subname = '" + name + "'")) {
                s.execute("DROP SUBSCRIPTION " + name);
            }
        } catch (SQLException e) {
            throw new MoveException(
                    "dropping subscription " + name + " on " + target.name() + ": " + e.getMessage(), e);
        }
        try (Connection c = connector.connect(source);
                Statement s = c.createStatement()) {
            s.execute("DROP PUBLICATION IF EXISTS " + name);
            if (exists(s, "SELECT 1 FROM pg_replication_slots WHERE slot_name = '" + name + "'")) {
                // its subscription is gone: a walsender still on it holds a snapshot just closed, or is creating it
                s.execute("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '" + name
                        + "' AND active_pid IS NOT NULL");
                awaitSlotReleased(s);
                s.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '"
                        + name + "'"); // an unfinished one is dropped by its walsender on its way out
            }
            dropBarrier(s);
        } catch (SQLException e) {
            throw new MoveException("dropping publication " + name + " on " + source.name() + ": " + e.getMessage(), e);
        }
        try (Connection c = connector.connect(target);
                Statement s = c.createStatement()) {
            dropBarrier(s);
        } catch (SQLException e) {
            throw new MoveException(
                    "dropping the barrier of " + name + " on " + target.name() + ": " + e.getMessage(), e);
        }
    }

    /** Deletes this copy's barrier row, and the barrier table once no move uses it. */
    private void dropBarrier(Statement s) throws SQLException {
        if (exists(s, "SELECT 1 WHERE to_regclass('" + BARRIER_TABLE + "') IS NOT NULL")) {
            s.execute("DELETE FROM " + BARRIER_TABLE + " WHERE copy IN ('" + name + "', '" + fenceKey() + "')");
            if (!exists(s, "SELECT 1 FROM " + BARRIER_TABLE)) {
                s.execute("DROP TABLE " + BARRIER_TABLE);
                // the schema stays while something else lives in it (the replication monitor's heartbeat table)
                if (!exists(s, "SELECT 1 FROM pg_class WHERE relnamespace = 'shardline'::regnamespace")
                        && !exists(s, "SELECT 1 FROM pg_proc WHERE pronamespace = 'shardline'::regnamespace")) {
                    s.execute("DROP SCHEMA IF EXISTS shardline");
                }
            }
        }
    }

    /**
     * Deletes the rows of the moving ranges from {@code node} (the source after the switch, or the target when
     * a move is aborted), {@code batch} rows per statement and at most {@code rowsPerSecond}, so the node and its
     * replicas keep up; tells {@code progress} the rows deleted so far after each batch; returns how many.
     */
    public long deleteMovingRows(Node node, int batch, double rowsPerSecond, LongConsumer progress)
            throws MoveException {
        long deleted = 0;
        long started = System.nanoTime();
        try (Connection c = connector.connect(node)) {
            try (Statement s = c.createStatement()) {
                // the rows moved, they were not deleted: no foreign-key check (a parent table declared before its
                // child would fail every batch with 23503, the move stuck in CLEANING) and no user trigger fires
                s.execute("SET session_replication_role = replica");
            }
            for (ShardedTable t : existingTables()) {
                if (!tableExists(node, t)) {
                    continue; // an abort before the schema step created it on the target: no rows there
                }
                String key = MoveEstimate.quote(t.keyColumn());
                String predicate = transfer.sqlPredicate(t.keyType().sqlHashExpression(key));
                String sql = "DELETE FROM " + qualified(t) + " WHERE ctid = ANY (ARRAY(SELECT ctid FROM " + qualified(t)
                        + " WHERE " + predicate + " LIMIT " + batch + "))";
                try (Statement s = c.createStatement()) {
                    int n;
                    do {
                        n = s.executeUpdate(sql);
                        deleted += n;
                        progress.accept(deleted);
                        long due = started + (long) (deleted * 1e9 / rowsPerSecond);
                        long wait = due - System.nanoTime();
                        if (n > 0 && wait > 0) {
                            Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                        }
                    } while (n > 0);
                }
            }
        } catch (SQLException e) {
            throw new MoveException("deleting moved rows on " + node.name() + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MoveException("interrupted while deleting moved rows on " + node.name(), e);
        }
        return deleted;
    }

    /** The sharded tables the source has, looked up on one connection. */
    private List<ShardedTable> existingTables() throws MoveException {
        try (Connection c = connector.connect(source)) {
            return existingTables(c);
        } catch (SQLException e) {
            throw new MoveException("looking up the sharded tables on " + source.name() + ": " + e.getMessage(), e);
        }
    }

    private List<ShardedTable> existingTables(Connection c) throws MoveException {
        List<ShardedTable> existing = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(TABLE_EXISTS)) {
            for (ShardedTable t : topology.tables()) {
                if (tableExists(ps, t.schema(), t.table())) {
                    existing.add(t);
                }
            }
        } catch (SQLException e) {
            throw new MoveException("looking up the sharded tables on " + source.name() + ": " + e.getMessage(), e);
        }
        return existing;
    }

    /**
     * A copy about to open: publication, subscription check, row estimate and slot in turn, over one connection to
     * the source and one to the target (each of those steps opening its own made the opening of a move from many
     * sources take seconds), the sharded tables on the source looked up once.
     */
    public Opening opening() throws MoveException {
        return new Opening(links());
    }

    /** {@link #publish}, {@link #subscribed}, {@link #estimateRows} and {@link #openSnapshot} over shared links. */
    public final class Opening implements AutoCloseable {
        private final Links links;

        private Opening(Links links) {
            this.links = links;
        }

        public boolean publish() throws MoveException {
            return LogicalCopy.this.publish(links);
        }

        public boolean subscribed() throws MoveException {
            return LogicalCopy.this.subscribed(links);
        }

        public Map<String, Long> estimateRows(double sourceShare) throws MoveException {
            return LogicalCopy.this.estimateRows(links, sourceShare);
        }

        public Snapshot openSnapshot(long epoch) throws MoveException {
            return LogicalCopy.this.openSnapshot(links, epoch);
        }

        @Override
        public void close() {
            links.close();
        }
    }

    /** A connection to the source and one to the target, each opened when first used; the source's tables. */
    private final class Links implements AutoCloseable {
        private Connection source;
        private Connection target;
        private List<ShardedTable> tables;

        Connection source() throws MoveException {
            if (source == null) {
                source = open(LogicalCopy.this.source);
            }
            return source;
        }

        Connection target() throws MoveException {
            if (target == null) {
                target = open(LogicalCopy.this.target);
            }
            return target;
        }

        List<ShardedTable> tables() throws MoveException {
            if (tables == null) {
                tables = existingTables(source());
            }
            return tables;
        }

        private Connection open(Node node) throws MoveException {
            try {
                return connector.connect(node);
            } catch (SQLException e) {
                throw new MoveException(
                        "connecting to " + node.name() + " for copy " + name + ": " + e.getMessage(), e);
            }
        }

        @Override
        public void close() {
            for (Connection c : new Connection[] {source, target}) {
                if (c != null) {
                    try {
                        c.close();
                    } catch (SQLException e) {
                        // nothing of it is needed any more
                    }
                }
            }
        }
    }

    private Links links() {
        return new Links();
    }

    private boolean tableExists(Node node, ShardedTable t) throws MoveException {
        return tableExists(node, t.schema(), t.table());
    }

    private boolean tableExists(Node node, String schemaName, String table) throws MoveException {
        try (Connection c = connector.connect(node);
                PreparedStatement ps = c.prepareStatement(TABLE_EXISTS)) {
            return tableExists(ps, schemaName, table);
        } catch (SQLException e) {
            throw new MoveException(
                    "looking up " + schemaName + "." + table + " on " + node.name() + ": " + e.getMessage(), e);
        }
    }

    private static boolean tableExists(PreparedStatement ps, String schemaName, String table) throws SQLException {
        ps.setString(1, qualified(schemaName, table));
        try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getBoolean(1);
        }
    }

    static String qualified(ShardedTable t) {
        return qualified(t.schema(), t.table());
    }

    static String qualified(String schemaName, String table) {
        return MoveEstimate.quote(schemaName) + "." + MoveEstimate.quote(table);
    }

    private static String single(Statement s, String sql) throws SQLException {
        try (ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1).toLowerCase(Locale.ROOT);
        }
    }

    private static boolean exists(Statement s, String sql) throws SQLException {
        try (ResultSet rs = s.executeQuery(sql)) {
            return rs.next();
        }
    }
}
