package io.shardline.router.exec;

import io.shardline.router.sql.Catalog;
import io.shardline.router.sql.SearchPath;
import io.shardline.topology.Node;
import io.shardline.topology.ShardedTable;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * The catalog of the home shard's primary (every shard has the same sharded tables and schemas), each answer read
 * once and kept until {@link #forget()} — which the runtime calls after DDL runs through the driver. DDL run
 * elsewhere (a migration tool connected to the shards directly) is not seen until then.
 */
final class HomeCatalog implements Catalog {
    private static final String DEFAULT_PATH = "\0default search_path";
    private static final int TIMEOUT_SECONDS = 10;

    private final NodePools pools;
    private final Supplier<Node> home;
    private final Map<String, Object> answers = new ConcurrentHashMap<>();
    /** One lock per question: concurrent analyses wait for one read instead of each opening a connection. */
    private final Map<String, Object> reading = new ConcurrentHashMap<>();

    private final java.util.concurrent.atomic.AtomicLong failures = new java.util.concurrent.atomic.AtomicLong();
    private static final long UNKNOWN_FOR_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
    /** When a read of {@link #ownCollations} last failed. */
    private volatile long unreadableSince = System.nanoTime() - UNKNOWN_FOR_NANOS;

    /** Counts {@link #forget()}s: an answer read before one is not kept after it. */
    private long generation;

    HomeCatalog(NodePools pools, Supplier<Node> home) {
        this.pools = pools;
        this.home = home;
    }

    /** How one question is read from a connection to the home primary. */
    private interface Query<T> {
        T read(Connection c) throws SQLException;
    }

    @Override
    public List<String> columns(ShardedTable table) {
        return columns(table, "");
    }

    /** The columns {@code COPY table FROM STDIN} takes without a column list: those not generated, in order. */
    List<String> copiedColumns(ShardedTable table) {
        return columns(table, " AND a.attgenerated = ''");
    }

    private List<String> columns(ShardedTable table, String filter) {
        return cached("columns" + filter + " " + table.qualifiedName(), c -> {
            List<String> columns = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT a.attname FROM pg_attribute a"
                    + " JOIN pg_class t ON t.oid = a.attrelid JOIN pg_namespace n ON n.oid = t.relnamespace"
                    + " WHERE n.nspname = ? AND t.relname = ? AND a.attnum > 0 AND NOT a.attisdropped" + filter
                    + " ORDER BY a.attnum")) {
                ps.setString(1, table.schema());
                ps.setString(2, table.table());
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        columns.add(rs.getString(1));
                    }
                }
            }
            if (columns.isEmpty()) {
                throw new IllegalStateException(table.qualifiedName() + " does not exist on "
                        + home.get().name());
            }
            return List.copyOf(columns);
        });
    }

    /** Unknown (empty) when the catalog cannot be read: names then resolve as if no other relation shadowed them. */
    @Override
    public Set<String> schemasWith(String relation) {
        try {
            return cached("relation " + relation, c -> {
                Set<String> schemas = new HashSet<>();
                try (PreparedStatement ps = c.prepareStatement("SELECT n.nspname FROM pg_class t"
                        + " JOIN pg_namespace n ON n.oid = t.relnamespace WHERE t.relname = ?")) {
                    ps.setString(1, relation);
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            schemas.add(rs.getString(1));
                        }
                    }
                }
                return Set.copyOf(schemas);
            });
        } catch (IllegalStateException e) {
            return Set.of();
        }
    }

    /** Empty when there is no such view, or the catalog cannot be read. */
    @Override
    public java.util.Optional<View> view(String schema, String name) {
        try {
            return cached("view " + schema + "." + name, c -> {
                try (PreparedStatement ps = c.prepareStatement("SELECT c.relkind = 'm', pg_get_viewdef(c.oid)"
                        + " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                        + " WHERE n.nspname = ? AND c.relname = ? AND c.relkind IN ('v', 'm')")) {
                    ps.setString(1, schema);
                    ps.setString(2, name);
                    try (ResultSet rs = ps.executeQuery()) {
                        return rs.next()
                                ? java.util.Optional.of(new View(rs.getBoolean(1), rs.getString(2)))
                                : java.util.Optional.<View>empty();
                    }
                }
            });
        } catch (IllegalStateException e) {
            return java.util.Optional.empty();
        }
    }

    /** Empty when the table has no primary key, does not exist yet, or the catalog cannot be read. */
    @Override
    public List<String> primaryKey(String schema, String table) {
        try {
            return cached("primary key " + schema + "." + table, c -> {
                List<String> columns = new ArrayList<>();
                try (PreparedStatement ps = c.prepareStatement("SELECT a.attname FROM pg_index i"
                        + " JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace"
                        + " CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)"
                        + " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum"
                        + " WHERE n.nspname = ? AND t.relname = ? AND i.indisprimary ORDER BY k.ord")) {
                    ps.setString(1, schema);
                    ps.setString(2, table);
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            columns.add(rs.getString(1));
                        }
                    }
                }
                return List.copyOf(columns);
            });
        } catch (IllegalStateException e) {
            return List.of();
        }
    }

    /**
     * True (unknown) when the catalog cannot be read — and for {@link #UNKNOWN_FOR_NANOS} after, without asking
     * again: this question is on the path of cross-shard reads, which would each wait for the home primary.
     */
    @Override
    public boolean ownCollations(List<ShardedTable> tables) {
        if (System.nanoTime() - unreadableSince < UNKNOWN_FOR_NANOS) {
            return true;
        }
        List<String> names = new ArrayList<>();
        for (ShardedTable t : tables) {
            names.add(t.schema() + "." + t.table());
        }
        try {
            return cached("own collations of " + names, c -> {
                // 100: the "default" collation; 0: a type without collation
                try (PreparedStatement ps = c.prepareStatement("SELECT EXISTS (SELECT 1 FROM pg_attribute a"
                        + " JOIN pg_class t ON t.oid = a.attrelid JOIN pg_namespace n ON n.oid = t.relnamespace"
                        + " WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attcollation NOT IN (0, 100)"
                        + " AND n.nspname || '.' || t.relname = ANY (?))")) {
                    ps.setArray(1, c.createArrayOf("text", names.toArray()));
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        return rs.getBoolean(1);
                    }
                }
            });
        } catch (IllegalStateException e) {
            unreadableSince = System.nanoTime();
            return true;
        }
    }

    /** Unknown (null) when the catalog cannot be read: an unqualified name then matches a sharded table anywhere. */
    @Override
    public SearchPath defaultSearchPath() {
        try {
            return cached(DEFAULT_PATH, c -> {
                try (PreparedStatement ps = c.prepareStatement("SELECT current_schemas(false)");
                        ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    return new SearchPath(List.of((String[]) rs.getArray(1).getArray()));
                }
            });
        } catch (IllegalStateException e) {
            return null;
        }
    }

    /**
     * The answer to {@code question}, read with {@code query} on the home primary unless known.
     *
     * @throws IllegalStateException saying why it could not be read
     */
    @SuppressWarnings("unchecked")
    private <T> T cached(String question, Query<T> query) {
        Object known = answers.get(question);
        if (known != null) {
            return (T) known;
        }
        synchronized (reading.computeIfAbsent(question, q -> new Object())) {
            known = answers.get(question);
            if (known != null) {
                return (T) known;
            }
            long before;
            synchronized (this) {
                before = generation;
            }
            Node node = home.get();
            T read;
            // not a pooled connection: every one may be lent out to sessions waiting for this very analysis
            try (Connection c = pools.direct(node, TIMEOUT_SECONDS, "shardline-catalog")) {
                read = query.read(c);
            } catch (SQLException | RuntimeException e) {
                failures.incrementAndGet();
                throw new IllegalStateException(
                        "reading the catalog on " + node.name() + " failed: " + e.getMessage(), e);
            }
            synchronized (this) {
                if (generation == before) {
                    answers.put(question, read);
                }
            }
            return read;
        }
    }

    @Override
    public long failures() {
        return failures.get();
    }

    /** Forgets every answer (DDL ran). */
    synchronized void forget() {
        generation++;
        answers.clear();
    }
}
