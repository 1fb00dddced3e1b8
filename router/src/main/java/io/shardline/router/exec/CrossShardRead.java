package io.shardline.router.exec;

import io.shardline.router.SqlStates;
import io.shardline.router.metrics.DriverMetrics;
import io.shardline.router.metrics.DriverTracing;
import io.shardline.router.route.RoutingState;
import io.shardline.router.sql.CrossShardQuery;
import io.shardline.router.sql.SearchPath;
import io.shardline.topology.HashRing;
import io.shardline.topology.NodeRole;
import java.nio.charset.StandardCharsets;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.postgresql.PGConnection;
import org.postgresql.PGStatement;
import org.postgresql.copy.CopyIn;
import org.postgresql.core.BaseConnection;

/**
 * Runs a {@link CrossShardQuery} over the sources it is given: every source query on every shard in parallel, then
 * prepares the final query on the home shard's connection with each source's rows as a CTE ({@code unnest} of one
 * text array per column, cast back to the column's type), so the answer is computed by PostgreSQL itself.
 *
 * <p>Each shard's rows are fetched with a cursor ({@code crossShardMaxRows} rows at most, in steps of the fetch
 * size), so the row budget stops a fetch before it fills memory; a source in autocommit mode runs in a short
 * transaction of its own for that. The statements running on the shards are in {@code running} while they run, so
 * {@code Statement.cancel()} reaches them, and each gets the logical statement's query timeout.
 */
final class CrossShardRead {
    /** Binds statement parameter {@code original} (1-based) at position {@code index} of a physical statement. */
    @FunctionalInterface
    interface Parameters {
        void bind(PreparedStatement ps, int index, int original) throws SQLException;
    }

    /** A source query failed on {@link #source}; the cause is the shard's error. */
    static final class SourceFailed extends SQLException {
        final transient Physical source;

        SourceFailed(Physical source, SQLException cause) {
            super(cause.getMessage(), cause.getSQLState(), cause.getErrorCode(), cause);
            this.source = source;
        }

        /** The failure of a task run on {@code source}. */
        static SourceFailed of(Physical source, ExecutionException e) {
            return new SourceFailed(
                    source,
                    e.getCause() instanceof SQLException sql
                            ? sql
                            : new SQLException("cross-shard read failed on shard " + source.shard, e.getCause()));
        }
    }

    /** A shard the ring now gives ranges to is not among the sources: the read must be routed again. */
    static final class Rerouted extends SQLException {
        Rerouted() {
            super("a shard took ranges while this cross-shard read was routed: retry it", SqlStates.RETRY_WRITE);
        }
    }

    /** Which rows of each shard a read takes while a shard move has rows on two shards. */
    interface Ownership {
        /** No shard moves: every shard's rows are its own. */
        Ownership NONE = new Ownership() {
            @Override
            public HashRing moving() {
                return null;
            }

            @Override
            public boolean still(HashRing ring) {
                return true;
            }
        };

        /**
         * The ring each shard's part is limited by while a move runs (null when none does); waits while a cutover is
         * fenced (its ranges are about to switch).
         *
         * @throws SQLException 40001 when a cutover stays fenced past {@code fenceWaitMs}
         */
        HashRing moving() throws SQLException;

        /**
         * Whether parts read by {@code ring} (from {@link #moving()}) since then are what that ring owns now: no move
         * started (when null) and no cutover fenced or switched meanwhile.
         */
        boolean still(HashRing ring);
    }

    /** One source's rows from every shard: column names and type names (of the first shard), values as text. */
    private record Rows(List<String> columns, List<String> types, List<String[]> values, String table) {
        Rows(List<String> columns, List<String> types, List<String[]> values) {
            this(columns, types, values, null);
        }
    }

    /**
     * What one shard's fetch of a source takes: the source's CTE name (for errors), the statement parameters behind
     * its placeholders, the read's row budget and heap budget (null: not counted), where rows go (null: kept), and
     * the most rows a shard returns (-1: not bounded).
     */
    private record Fetch(
            String cteName,
            int[] originals,
            Parameters parameters,
            AtomicInteger budget,
            AtomicInteger memory,
            Consumer<String[]> sink,
            long rowLimit) {
        Fetch(
                CrossShardQuery.Source source,
                Parameters parameters,
                AtomicInteger budget,
                AtomicInteger memory,
                Consumer<String[]> sink) {
            this(source.cteName(), source.parameters(), parameters, budget, memory, sink, source.rowLimit());
        }
    }

    /** Thrown by a fetch that passed {@link #SPILL_ROWS}: the source is read again into a temporary table. */
    private static final class Spill extends SQLException {
        Spill() {
            super("spill", "54000");
        }
    }

    private static final int FETCH_SIZE = 10_000;
    /**
     * Rows of one read held in the heap at most: past this, a source's rows go to a temporary table on the final
     * query's node instead (its own rows by INSERT ... SELECT there, the other shards' streamed in by COPY).
     */
    static final int SPILL_ROWS = 50_000;
    /** Rows waiting between the shards' fetches and the COPY into the final node, at most. */
    private static final int SPILL_QUEUE = 5_000;
    /** How many times a read is retaken when shard moves switch ranges while it runs. */
    private static final int MOVE_ATTEMPTS = 5;
    /** A source bounded by a LIMIT of at most this many rows may run on the final node inside the final query. */
    private static final long INLINE_ROWS = 1_000;
    /** A shard's part that takes longer than this is slow: see {@link #SLOW}. */
    private static final long SLOW_PART_NANOS = TimeUnit.MILLISECONDS.toNanos(2);
    /**
     * Per source, whether a shard's part of its last read was slow: then its parts all run on the pool, in
     * parallel (none on the calling thread, whose interrupt would wait for it; none inside the final query, after the
     * others) until a read of it is quick again. At most {@link #SOURCES_KEPT}, forgotten all at once past that.
     */
    private static final Map<CrossShardQuery.Source, Boolean> SLOW = new ConcurrentHashMap<>();

    private static final int SOURCES_KEPT = 10_000;

    private final RoutingState routing;
    /** The session's search path (null: the default), under which the statement was planned. */
    private final SearchPath searchPath;

    private final ExecutorService pool;
    private final int maxRows;
    private final int queryTimeoutSeconds;
    private final Set<Cancellable> running;
    /** The warnings (RAISE NOTICE...) of the shards' parts, each part's chain. */
    private final Queue<SQLWarning> warnings = new ConcurrentLinkedQueue<>();

    private final DriverMetrics metrics;
    /** The statement's span: each shard's part is a child of it. */
    private final DriverTracing.Span span;
    /**
     * The application's transaction's kept settings ({@code SET LOCAL ...}, see {@code Transaction#keepSetting}), set
     * in the snapshots an atomic read takes apart from it; or null.
     */
    private final String settings;
    /** The sources in this read's atomic snapshot transactions, ended by {@link #finish()}. */
    private final List<Physical> inSnapshot = new ArrayList<>();
    /** The temporary tables sources spilled into on {@link #spillNode}, dropped by {@link #finish()}. */
    private final List<String> spilled = new ArrayList<>();

    /** Tests: runs once the shards' parts were read and found still owned, before the final query is made. */
    static volatile Runnable afterGathering;

    private Physical spillNode;
    /**
     * Whether a source's part on the final node runs inside the final query ({@link #inlinable}), and the ring that
     * part was limited by: {@link #confirm()} checks, after the final query ran, that it still owns those rows.
     */
    private boolean inlined;

    private HashRing inlinedRing;
    private Ownership inlinedOwnership = Ownership.NONE;

    /** The final query's result set type: the application's statement's (a scrollable one scrolls across shards). */
    private final int resultSetType;

    /**
     * @param running where the statements running on the shards are kept while they run (for cancel)
     * @param settings the transaction's kept settings, set in an atomic read's snapshots; null: none
     */
    CrossShardRead(
            int resultSetType,
            RoutingState routing,
            SearchPath searchPath,
            ExecutorService pool,
            int maxRows,
            int queryTimeoutSeconds,
            Set<Cancellable> running,
            DriverMetrics metrics,
            DriverTracing.Span span,
            String settings) {
        this.resultSetType = resultSetType;
        this.settings = settings;
        this.routing = routing;
        this.metrics = metrics;
        this.span = span;
        this.searchPath = searchPath;
        this.pool = pool;
        this.maxRows = maxRows;
        this.queryTimeoutSeconds = queryTimeoutSeconds;
        this.running = running;
    }

    /**
     * Gathers every source's rows and prepares the final query on {@code home}: the caller executes it (its result
     * set is the answer) and closes it.
     *
     * <p>{@code atomic}: the sources (autocommit connections to the primaries) are read, and the final query runs,
     * inside one REPEATABLE READ snapshot per shard in which every multi-shard transaction is whole ({@link
     * #snapshots}); the caller runs {@link #finish()} once it executed the final query.
     *
     * @param sql the statement's text, described once for its column labels when the shards aggregate
     * @param prepared whether it is a prepared statement's (else a plain statement's, whose text may change with
     *     every run)
     * @throws SourceFailed a shard's error with its SQLState (54000 past {@code crossShardMaxRows})
     */
    PreparedStatement prepare(
            CrossShardQuery query,
            String sql,
            Map<Integer, Physical> sources,
            Physical home,
            Parameters parameters,
            boolean prepared,
            boolean atomic,
            Ownership ownership)
            throws SQLException {
        List<Rows> gathered = new ArrayList<>();
        // per source: the part home runs inside the final query (null: home's rows were gathered too)
        List<String> homeParts = new ArrayList<>();
        Map<Integer, Physical> others = new LinkedHashMap<>(sources);
        others.remove(home.shard);
        for (int attempt = 1; ; attempt++) {
            HashRing ring = ownership.moving();
            if (ring != null
                    && (ring.version() != routing.ring().version()
                            || !sources.keySet().containsAll(ring.shards()))) {
                // the nodes were chosen by another ring (a replica of a new owner may not have replayed the cutover)
                throw new Rerouted();
            }
            if (atomic) {
                snapshots(sources);
            }
            AtomicInteger budget = new AtomicInteger(maxRows);
            // the final query's node can take spilled rows when it is a primary (a replica has no temporary tables)
            // outside the application's transaction (a temporary table would keep it from PREPARE TRANSACTION)
            AtomicInteger memory = new AtomicInteger(
                    home.node.role() == NodeRole.PRIMARY && !home.inTransaction ? SPILL_ROWS : Integer.MAX_VALUE);
            for (CrossShardQuery.Source source : query.sources()) {
                Rows rows;
                String homePart = null;
                int left = budget.get();
                try {
                    if (inlinable(query, source, sources, home)) {
                        rows = gather(source, others, parameters, budget, memory, ring);
                        homePart = source.sql(ring == null ? null : owned(ring, home.shard, source));
                    } else {
                        rows = gather(source, sources, parameters, budget, memory, ring);
                    }
                } catch (Spill s) {
                    budget.set(left);
                    rows = spill(source, sources, home, parameters, budget, ring);
                    homePart = null;
                }
                gathered.add(rows);
                homeParts.add(homePart);
            }
            if (ownership.still(ring)) {
                metrics.rowsShipped(maxRows - (long) budget.get());
                if (homeParts.stream().anyMatch(Objects::nonNull)) {
                    inlined = true;
                    inlinedRing = ring;
                    inlinedOwnership = ownership;
                }
                break;
            }
            // a move started, or a cutover switched ranges, while the shards were read: read them again
            gathered.clear();
            homeParts.clear();
            finish();
            if (attempt == MOVE_ATTEMPTS) {
                throw new SQLException(
                        "shard moves switched ranges during each of " + MOVE_ATTEMPTS + " tries of this cross-shard"
                                + " read: retry it",
                        SqlStates.RETRY_WRITE);
            }
            metrics.retry(DriverMetrics.Retry.CROSS_SHARD_MOVED);
        }
        Runnable hook = afterGathering;
        if (hook != null) {
            hook.run();
        }
        // many statements share one final text (the WHERE runs on the shards), and pgjdbc switches a text to a
        // server-prepared statement, with binary results, after 5 runs of it: a prepared statement's own text marks
        // its final query, which then switches after 5 runs of that statement, as the statement itself would when
        // sent directly; a plain statement's final query (its text changes with the literals) is never prepared
        StringBuilder text = new StringBuilder();
        if (prepared) {
            text.append("/* shardline ")
                    .append(Integer.toHexString(sql.hashCode()))
                    .append(" */ ");
        }
        text.append(query.head());
        for (int s = 0; s < gathered.size(); s++) {
            text.append(s == 0 ? "" : ", ");
            Rows rows = gathered.get(s);
            CrossShardQuery.Source source = query.sources().get(s);
            cte(
                    text,
                    source.cteName(),
                    rows,
                    homeParts.get(s),
                    rows.table() == null ? collations(source, rows.types(), home, parameters) : null);
        }
        text.append(query.separator());
        if (query.partial()) {
            Map<String, String> types = new HashMap<>();
            Rows partial = gathered.get(0);
            for (int c = 0; c < partial.columns().size(); c++) {
                types.put(partial.columns().get(c), partial.types().get(c));
            }
            text.append(query.finalBody(types, labels(query, sql, home, parameters)));
        } else {
            text.append(query.body());
        }
        PreparedStatement ps =
                home.connection.prepareStatement(text.toString(), resultSetType, ResultSet.CONCUR_READ_ONLY);
        try {
            // fetched whole: an atomic read's snapshot transaction ends right after it runs
            ps.setFetchSize(0);
            if (!prepared) {
                ps.unwrap(PGStatement.class).setPrepareThreshold(0);
            }
            if (queryTimeoutSeconds > 0) {
                ps.setQueryTimeout(queryTimeoutSeconds);
            }
            int index = 1;
            for (int s = 0; s < gathered.size(); s++) {
                Rows rows = gathered.get(s);
                for (int c = 0; rows.table() == null && c < rows.columns().size(); c++) {
                    String[] column = new String[rows.values().size()];
                    for (int r = 0; r < column.length; r++) {
                        column[r] = rows.values().get(r)[c];
                    }
                    ps.setArray(index++, home.connection.createArrayOf("text", column));
                }
                if (homeParts.get(s) != null) {
                    for (int original : query.sources().get(s).parameters()) {
                        parameters.bind(ps, index++, original);
                    }
                }
            }
            for (int original : query.bodyParameters()) {
                parameters.bind(ps, index++, original);
            }
            return ps;
        } catch (SQLException | RuntimeException e) {
            ps.close();
            throw e;
        }
    }

    private static boolean slow(CrossShardQuery.Source source) {
        return SLOW.getOrDefault(source, Boolean.FALSE);
    }

    /** Records whether a shard's part of {@code source} was slow this time. */
    private static void slow(CrossShardQuery.Source source, boolean slow) {
        if (SLOW.getOrDefault(source, Boolean.FALSE) != slow) {
            if (SLOW.size() >= SOURCES_KEPT) {
                SLOW.clear();
            }
            SLOW.put(source, slow);
        }
    }

    /**
     * Whether {@code home}'s part of {@code source} can run inside the final query rather than be read and shipped
     * back to the same node: one statement and round trip fewer, and no rows through the client. Only for a source
     * whose shards return a few rows (a constant LIMIT: the row budget is no matter) and read them quickly (a slow
     * part would run after the others rather than beside them: {@link #SLOW}), and without {@code WITH RECURSIVE}
     * (there, the statement's own CTEs are visible inside ours and could hide a table the part reads).
     */
    private static boolean inlinable(
            CrossShardQuery query, CrossShardQuery.Source source, Map<Integer, Physical> sources, Physical home) {
        return source.rowLimit() >= 0
                && source.rowLimit() <= INLINE_ROWS
                && !slow(source)
                && !query.head().toUpperCase(Locale.ROOT).contains("RECURSIVE")
                && sources.size() > 1
                && sources.get(home.shard) == home;
    }

    /**
     * After the final query ran: when a source's part ran inside it (after the other shards' parts were read), that
     * no move started or switched ranges meanwhile — else the answer may hold rows twice or miss some, and the read
     * is routed again.
     *
     * @throws Rerouted when the ring that part was limited by no longer holds
     */
    void confirm() throws Rerouted {
        if (inlined && !inlinedOwnership.still(inlinedRing)) {
            throw new Rerouted();
        }
    }

    /**
     * Appends {@code name(columns) AS (SELECT CAST(c1 AS type1), ... FROM unnest($1::text[], ...))}, followed by
     * {@code UNION ALL (homePart)} when the final node's own part runs there, or for spilled rows {@code
     * name(columns) AS (SELECT * FROM pg_temp.table)}. A column with a {@code collations} entry gets that collation.
     */
    private static void cte(StringBuilder text, String name, Rows rows, String homePart, List<String> collations) {
        text.append(name).append('(');
        for (int c = 0; c < rows.columns().size(); c++) {
            text.append(c == 0 ? "" : ", ")
                    .append(CrossShardQuery.quote(rows.columns().get(c)));
        }
        if (rows.table() != null) {
            text.append(") AS (SELECT * FROM pg_temp.").append(rows.table()).append(')');
            return;
        }
        text.append(") AS (SELECT ");
        for (int c = 0; c < rows.columns().size(); c++) {
            String type = rows.types().get(c);
            text.append(c == 0 ? "" : ", ")
                    .append("CAST(_sl_u.c")
                    .append(c + 1)
                    .append(" AS ")
                    .append(typeSql(type))
                    .append(')');
            if (collations != null && collations.get(c) != null) {
                text.append(" COLLATE ").append(collations.get(c));
            }
        }
        text.append(" FROM unnest(");
        for (int c = 0; c < rows.columns().size(); c++) {
            text.append(c == 0 ? "" : ", ").append("CAST(? AS text[])");
        }
        text.append(") AS _sl_u(");
        for (int c = 0; c < rows.columns().size(); c++) {
            text.append(c == 0 ? "" : ", ").append("c").append(c + 1);
        }
        text.append(')');
        if (homePart != null) {
            text.append(" UNION ALL (").append(homePart).append(')');
        }
        text.append(')');
    }

    /**
     * Opens a REPEATABLE READ transaction (rolled back at the end, as every cross-shard read's) on every source and
     * takes one {@link Snapshots checked snapshot} per shard in them.
     */
    private void snapshots(Map<Integer, Physical> sources) throws SQLException {
        List<Physical> order = new ArrayList<>(sources.values());
        inSnapshot.addAll(order);
        for (Physical p : order) {
            p.connection.setAutoCommit(false);
        }
        new Snapshots(pool, running, queryTimeoutSeconds, metrics)
                .take(
                        order,
                        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ" + (settings != null ? "; " + settings : ""));
    }

    /**
     * Ends the snapshot transactions of an atomic read (rolled back: they only read), leaving the connections in
     * autocommit mode. A broken connection is left to the caller's failure handling.
     */
    /** The warnings the shards' parts raised, each part's chain. */
    List<SQLWarning> warnings() {
        return List.copyOf(warnings);
    }

    void finish() {
        endSnapshots(inSnapshot, null);
        inSnapshot.clear();
        dropSpilled();
    }

    /**
     * Rolls back the snapshot transactions of {@code connections} (they only read) and puts them back in autocommit
     * mode; a failure (a broken connection, which the statement's failure reports) is added to {@code failure} when
     * one is given.
     */
    static void endSnapshots(Collection<Physical> connections, Throwable failure) {
        for (Physical p : connections) {
            try {
                p.connection.rollback();
                p.connection.setAutoCommit(true);
            } catch (SQLException e) {
                if (failure != null) {
                    failure.addSuppressed(e);
                }
            }
        }
    }

    /** Drops the temporary tables of spilled sources (those made in a snapshot transaction went with it). */
    private void dropSpilled() {
        for (String table : spilled) {
            try (Statement s = spillNode.connection.createStatement()) {
                s.execute("DROP TABLE IF EXISTS pg_temp." + table);
            } catch (SQLException e) {
                // its session is reset when it goes back to the pool
                spillNode.sessionDirty = true;
            }
        }
        spilled.clear();
    }

    /**
     * Reads {@code source} into a temporary table on {@code home} (a primary): its columns as the shards' query
     * describes them there; {@code home}'s own rows by {@code INSERT ... SELECT} (they never leave the server), the
     * other shards' fetched with cursors and streamed in by {@code COPY FROM STDIN} through a bounded queue — so
     * the heap holds a few thousand rows whatever the source's size. The budget ({@code crossShardMaxRows}) still
     * counts every row.
     */
    private Rows spill(
            CrossShardQuery.Source source,
            Map<Integer, Physical> shards,
            Physical home,
            Parameters parameters,
            AtomicInteger budget,
            HashRing ring)
            throws SQLException {
        String homeSql = source.sql(ring == null ? null : owned(ring, home.shard, source));
        List<String> columns = new ArrayList<>();
        List<String> types = new ArrayList<>();
        try (PreparedStatement ps = home.connection.prepareStatement(homeSql)) {
            int[] originals = source.parameters();
            for (int i = 0; i < originals.length; i++) {
                parameters.bind(ps, i + 1, originals[i]); // described with the types it runs with
            }
            ResultSetMetaData md = ps.getMetaData();
            for (int c = 1; c <= md.getColumnCount(); c++) {
                columns.add(md.getColumnName(c));
                // the home shard's modifier is not every shard's (a column altered on some so far): the table of
                // every shard's rows takes none
                types.add(withoutModifier(castable(home, md, c)));
            }
        }
        List<String> collations = collations(source, types, home, parameters);
        String table = "_sl_spill_" + (spilled.size() + 1);
        StringBuilder create =
                new StringBuilder("DROP TABLE IF EXISTS pg_temp." + table + "; CREATE TEMP TABLE " + table + " (");
        for (int c = 0; c < columns.size(); c++) {
            String type = types.get(c);
            create.append(c == 0 ? "" : ", ")
                    .append(CrossShardQuery.quote("c" + (c + 1)))
                    .append(' ')
                    .append(typeSql(type));
            if (collations != null && collations.get(c) != null) {
                create.append(" COLLATE ").append(collations.get(c));
            }
        }
        create.append(')');
        spillNode = home;
        spilled.add(table);
        try (Statement s = home.connection.createStatement()) {
            s.execute(create.toString());
        }
        BlockingQueue<Object> queue = new ArrayBlockingQueue<>(SPILL_QUEUE);
        List<Future<Rows>> futures = new ArrayList<>();
        List<Physical> others = new ArrayList<>();
        for (Physical p : shards.values()) {
            if (p != home) {
                others.add(p);
                String sql = source.sql(ring == null ? null : owned(ring, p.shard, source));
                futures.add(pool.submit(() -> {
                    try {
                        return fetch(p, sql, new Fetch(source, parameters, budget, null, row -> put(queue, row)));
                    } finally {
                        // the end, unless nobody takes it any more (the COPY failed and left)
                        queue.offer(END, 1, TimeUnit.SECONDS);
                    }
                }));
            }
        }
        try {
            try (PreparedStatement insert =
                    home.connection.prepareStatement("INSERT INTO pg_temp." + table + " " + homeSql)) {
                Cancellable cancel = insert::cancel;
                running.add(cancel);
                try {
                    if (queryTimeoutSeconds > 0) {
                        insert.setQueryTimeout(queryTimeoutSeconds);
                    }
                    int[] originals = source.parameters();
                    for (int i = 0; i < originals.length; i++) {
                        parameters.bind(insert, i + 1, originals[i]);
                    }
                    if (budget.addAndGet(-insert.executeUpdate()) < 0) {
                        throw tooMany(home.shard, source.cteName());
                    }
                } finally {
                    running.remove(cancel);
                }
            }
            copyIn(home, table, queue, futures);
        } catch (SQLException | RuntimeException e) {
            budget.set(Integer.MIN_VALUE / 2);
            cancelRunning();
            queue.clear();
            futures.forEach(CrossShardRead::awaitQuietly);
            throw e;
        }
        for (int i = 0; i < futures.size(); i++) {
            try {
                futures.get(i).get();
            } catch (ExecutionException e) {
                throw SourceFailed.of(others.get(i), e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SQLException("interrupted while reading the shards", "57014", e);
            }
        }
        return new Rows(columns, types, List.of(), table);
    }

    /** The end of one shard's rows in a spill queue. */
    private static final Object END = new Object();

    /** Queues a fetched row; an interrupted fetch fails rather than drop it. */
    private static void put(BlockingQueue<Object> queue, Object item) {
        try {
            queue.put(item);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while reading the shards", e);
        }
    }

    /**
     * Streams the queued rows of the shards' fetches ({@code producers}) into {@code table} on {@code home} with
     * COPY until each queued its end; a fetch that failed (and so may not queue its end) fails it.
     */
    private void copyIn(Physical home, String table, BlockingQueue<Object> queue, List<Future<Rows>> producers)
            throws SQLException {
        PGConnection pg = home.connection.unwrap(PGConnection.class);
        CopyIn in = pg.getCopyAPI().copyIn("COPY pg_temp." + table + " FROM STDIN");
        Cancellable cancel = pg::cancelQuery;
        running.add(cancel);
        try {
            StringBuilder line = new StringBuilder(256);
            int ended = 0;
            while (ended < producers.size()) {
                Object item = queue.poll(100, TimeUnit.MILLISECONDS);
                if (item == null) {
                    for (Future<Rows> f : producers) {
                        if (f.isDone()) {
                            try {
                                f.get();
                            } catch (ExecutionException e) {
                                throw e.getCause() instanceof SQLException sql
                                        ? sql
                                        : new SQLException("cross-shard read failed: " + e.getCause(), e.getCause());
                            }
                        }
                    }
                    continue;
                }
                if (item == END) {
                    ended++;
                    continue;
                }
                line.setLength(0);
                String[] row = (String[]) item;
                for (int c = 0; c < row.length; c++) {
                    if (c > 0) {
                        line.append('\t');
                    }
                    copyText(line, row[c]);
                }
                line.append('\n');
                byte[] bytes = line.toString().getBytes(StandardCharsets.UTF_8);
                in.writeToCopy(bytes, 0, bytes.length);
            }
            in.endCopy();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SQLException("interrupted while reading the shards", "57014", e);
        } finally {
            running.remove(cancel);
            if (in.isActive()) {
                try {
                    in.cancelCopy();
                } catch (SQLException e) {
                    // the connection reports its state to the next statement
                }
            }
        }
    }

    /** {@code value} in COPY's text format: NULL as {@code \N}, backslash, tab, newline and return escaped. */
    static void copyText(StringBuilder out, String value) {
        if (value == null) {
            out.append("\\N");
            return;
        }
        for (int i = 0; i < value.length(); i++) {
            char ch = value.charAt(i);
            switch (ch) {
                case '\\' -> out.append("\\\\");
                case '\t' -> out.append("\\t");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                default -> out.append(ch);
            }
        }
    }

    /**
     * Starts every task at once: with {@code runHere} the first on the calling thread, the others on {@code pool}. A
     * short part (a point read, a LIMIT) takes less than handing it to a pool thread and waiting to be woken by it
     * again — two thread wake-ups, hundreds of microseconds on a busy host — so the caller reads one shard itself
     * while the others run; its interrupt is seen once that part ended. Returns every task's future in order.
     */
    static <T> List<Future<T>> fanOut(ExecutorService pool, List<Callable<T>> tasks, boolean runHere) {
        List<Future<T>> futures = new ArrayList<>(tasks.size());
        FutureTask<T> own = runHere && !tasks.isEmpty() ? new FutureTask<>(tasks.get(0)) : null;
        if (own != null) {
            futures.add(own);
        }
        for (int i = own != null ? 1 : 0; i < tasks.size(); i++) {
            futures.add(pool.submit(tasks.get(i)));
        }
        if (own != null) {
            own.run();
        }
        return futures;
    }

    /** Runs one source query on every shard at once; the first failure is reported as the shard's. */
    private Rows gather(
            CrossShardQuery.Source source,
            Map<Integer, Physical> shards,
            Parameters parameters,
            AtomicInteger budget,
            AtomicInteger memory,
            HashRing ring)
            throws SQLException {
        List<Physical> order = new ArrayList<>(shards.values());
        List<Callable<Rows>> tasks = new ArrayList<>(order.size());
        for (Physical p : order) {
            String sql = source.sql(ring == null ? null : owned(ring, p.shard, source));
            tasks.add(() -> {
                long started = System.nanoTime();
                try {
                    return fetch(p, sql, new Fetch(source, parameters, budget, memory, null));
                } finally {
                    slow(source, System.nanoTime() - started > SLOW_PART_NANOS);
                }
            });
        }
        List<Future<Rows>> futures = fanOut(pool, tasks, !slow(source));
        boolean spill = false;
        List<String[]> values = new ArrayList<>();
        Rows first = null;
        List<String> types = null;
        SourceFailed failure = null;
        for (int i = 0; i < futures.size(); i++) {
            try {
                Rows rows = futures.get(i).get();
                if (first == null) {
                    first = rows;
                }
                types = types == null ? rows.types() : agreed(types, rows.types());
                values.addAll(rows.values());
            } catch (ExecutionException e) {
                if (e.getCause() instanceof Spill) {
                    // too many rows for the heap: the others stop, and the source is read again into a table
                    spill = true;
                    memory.set(Integer.MIN_VALUE / 2);
                } else if (failure == null) {
                    failure = SourceFailed.of(order.get(i), e);
                    // the others stop fetching: their rows would be thrown away
                    budget.set(Integer.MIN_VALUE / 2);
                }
            } catch (InterruptedException e) {
                // the shards' statements are cancelled and waited for: their connections must be free again when the
                // application's next statement uses them
                budget.set(Integer.MIN_VALUE / 2);
                cancelRunning();
                futures.forEach(CrossShardRead::awaitQuietly);
                Thread.currentThread().interrupt();
                throw new SQLException("interrupted while reading the shards", "57014", e);
            }
        }
        if (failure != null) {
            throw failure;
        }
        if (spill) {
            throw new Spill();
        }
        return new Rows(first.columns(), types, values);
    }

    /**
     * The built-in types with a collation (and their arrays): a column of another type has none, or takes it from
     * its type when cast back to it (a domain declared with a collation).
     */
    private static final Set<String> COLLATABLE = Set.of("text", "varchar", "bpchar", "name", "citext");

    private static boolean collatable(String type) {
        int modifier = type.indexOf('(');
        String name = modifier < 0 ? type : type.substring(0, modifier);
        return COLLATABLE.contains(name.startsWith("_") ? name.substring(1) : name);
    }

    /** A type as {@link #castable} names it, in SQL: a built-in name quoted, its modifier after it. */
    static String typeSql(String type) {
        if (type.indexOf('"') >= 0) {
            return type;
        }
        int modifier = type.indexOf('(');
        return modifier < 0
                ? CrossShardQuery.quote(type)
                : CrossShardQuery.quote(type.substring(0, modifier)) + type.substring(modifier);
    }

    /**
     * The collation of each column of {@code source}'s rows, asked of PostgreSQL once per source (and cached with
     * the plan) when a sharded table has columns with a collation of their own or the source names a {@code
     * COLLATE}: null where a column has the default
     * collation or none, and null altogether when every column does. The rows travel as text and are cast back to
     * their types in the final query, which gives them their type's collation, the default: a column declared
     * {@code COLLATE "C"} (or with a nondeterministic collation) would be ordered, compared and grouped otherwise
     * than on one PostgreSQL.
     */
    private List<String> collations(
            CrossShardQuery.Source source, List<String> types, Physical node, Parameters parameters)
            throws SQLException {
        if (types.stream().noneMatch(CrossShardRead::collatable)) {
            return null;
        }
        String sql = source.sql(null);
        if (!routing.ownCollations() && !collates(sql)) {
            return null;
        }
        List<String> known = routing.crossShardCollations(sql, searchPath);
        if (known == null) {
            int n = types.size();
            StringBuilder probe = new StringBuilder("SELECT ");
            StringBuilder names = new StringBuilder();
            for (int c = 1; c <= n; c++) {
                // pg_collation_for fails on a type without collations
                probe.append(c == 1 ? "" : ", ")
                        .append(collatable(types.get(c - 1)) ? "pg_collation_for(_sl_q.c" + c + ")" : "NULL");
                names.append(c == 1 ? "" : ", ").append('c').append(c);
            }
            // one row (the outer join's), whose columns carry the source columns' collations
            probe.append(" FROM (SELECT 1) AS _sl_d LEFT JOIN (SELECT * FROM (")
                    .append(sql)
                    .append(") AS _sl_i LIMIT 0) AS _sl_q(")
                    .append(names)
                    .append(") ON true");
            List<String> read = new ArrayList<>(n);
            try (PreparedStatement ps = node.connection.prepareStatement(probe.toString())) {
                Cancellable cancel = ps::cancel;
                running.add(cancel);
                try {
                    ps.unwrap(PGStatement.class).setPrepareThreshold(0);
                    if (queryTimeoutSeconds > 0) {
                        ps.setQueryTimeout(queryTimeoutSeconds);
                    }
                    int[] originals = source.parameters();
                    for (int i = 0; i < originals.length; i++) {
                        parameters.bind(ps, i + 1, originals[i]);
                    }
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        for (int c = 1; c <= n; c++) {
                            String collation = rs.getString(c);
                            read.add(collation == null || collation.equals("\"default\"") ? null : collation);
                        }
                    }
                } finally {
                    running.remove(cancel);
                }
            } catch (SQLException e) {
                throw new SourceFailed(node, e);
            }
            routing.crossShardCollations(sql, searchPath, read);
            known = read;
        }
        return known.stream().allMatch(Objects::isNull) ? null : known;
    }

    /** Whether {@code sql} names a collation (an ad hoc {@code COLLATE}, which a column of the shards' rows keeps). */
    private static boolean collates(String sql) {
        for (int i = 0; i + 7 <= sql.length(); i++) {
            if (sql.regionMatches(true, i, "COLLATE", 0, 7)) {
                return true;
            }
        }
        return false;
    }

    /** What the logical statement's {@code cancel()} stops: a statement on a shard, or a COPY into the final node. */
    @FunctionalInterface
    interface Cancellable {
        void cancel() throws SQLException;
    }

    /** Types of the database's own (enums, domains, composites) by node and oid: their schema-qualified names. */
    private static final Map<String, String> QUALIFIED_TYPES = new ConcurrentHashMap<>();

    /** The first oid of an object made after initdb: below it, built-in types, named the same everywhere. */
    private static final int FIRST_NORMAL_OBJECT_ID = 16384;

    /**
     * Column {@code c}'s type as the final node's cast names it, whatever its search path: a type of the database's
     * own schema-qualified. pgjdbc names such a type as it found it first on that connection (unqualified while its
     * schema was on the search path, and kept so after a {@code SET search_path} without it).
     */
    private static String castable(Physical source, ResultSetMetaData md, int c) throws SQLException {
        String name = castable(md.getColumnTypeName(c));
        if (name.indexOf('"') >= 0 || !source.connection.isWrapperFor(BaseConnection.class)) {
            return name; // qualified already
        }
        int oid = source.connection.unwrap(BaseConnection.class).getTypeInfo().getPGType(name);
        if (oid < FIRST_NORMAL_OBJECT_ID) {
            return name + modifier(name, md, c);
        }
        String key = source.node.name() + "/" + oid;
        String qualified = QUALIFIED_TYPES.get(key);
        if (qualified != null) {
            return qualified;
        }
        try (PreparedStatement ps = source.connection.prepareStatement("SELECT n.nspname, t.typname FROM"
                + " pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = ?")) {
            ps.setInt(1, oid);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return name;
                }
                qualified = CrossShardQuery.quote(rs.getString(1)) + "." + CrossShardQuery.quote(rs.getString(2));
            }
        }
        if (QUALIFIED_TYPES.size() > 10_000) {
            QUALIFIED_TYPES.clear();
        }
        QUALIFIED_TYPES.put(key, qualified);
        return qualified;
    }

    /**
     * A {@code numeric} column's type modifier ({@code (10,2)}), from the row description: the final query's columns
     * keep it as the shards' do (a recursive query whose parts differ in it is refused as PostgreSQL refuses it, and
     * the result's metadata says it). Empty for another type, or a column without one (an expression's). Not the
     * length of {@code varchar} or {@code char}: pgjdbc reports a column without one as its {@code unknownLength}
     * setting, which would then cut values.
     */
    static String modifier(String name, ResultSetMetaData md, int c) throws SQLException {
        if (!"numeric".equals(name)) {
            return "";
        }
        int precision = md.getPrecision(c);
        // pgjdbc gives the scale's 11 bits as they are: a negative scale (numeric(5,-2)) reads as 2046
        int scale = ((md.getScale(c) & 0x7ff) ^ 1024) - 1024;
        return precision > 0 && precision <= 1000 ? "(" + precision + "," + scale + ")" : "";
    }

    /** {@code type} without its modifier. */
    static String withoutModifier(String type) {
        int modifier = type.indexOf('(');
        return modifier < 0 || type.indexOf('"') >= 0 ? type : type.substring(0, modifier);
    }

    /**
     * The column types of parts read from different shards: where two differ only in a modifier (a column altered on
     * some shards so far), none, so that no shard's values are cast to another's precision.
     */
    static List<String> agreed(List<String> types, List<String> more) {
        if (types.equals(more)) {
            return types;
        }
        List<String> out = new ArrayList<>(types.size());
        for (int c = 0; c < types.size(); c++) {
            String type = types.get(c);
            out.add(c < more.size() && type.equals(more.get(c)) ? type : withoutModifier(type));
        }
        return out;
    }

    /**
     * A column's type as a cast can name it: pgjdbc reports a column with a sequence default as {@code serial} or
     * {@code bigserial}, which are no types.
     */
    static String castable(String typeName) {
        return switch (typeName) {
            case "serial" -> "int4";
            case "bigserial" -> "int8";
            case "smallserial" -> "int2";
            default -> typeName;
        };
    }

    /** The predicate keeping the source's rows that {@code ring} gives {@code shard} ({@code false}: none). */
    static String owned(HashRing ring, int shard, CrossShardQuery.Source source) {
        return ring.sqlPredicate(shard, source.table().keyType().sqlHashExpression(source.keyReference()));
    }

    /** Cancels the statements running on the shards (they end with 57014). */
    private void cancelRunning() {
        for (Cancellable c : running) {
            try {
                c.cancel();
            } catch (SQLException ignored) {
                // it ended meanwhile
            }
        }
    }

    static void awaitQuietly(Future<?> f) {
        boolean interrupted = false;
        while (true) {
            try {
                f.get();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            } catch (ExecutionException | RuntimeException e) {
                break;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * One shard's rows of a source query, fetched with a cursor in steps of the fetch size (inside a transaction of
     * its own when the connection is in autocommit mode, as pgjdbc needs): each row is counted against {@code budget}
     * (54000 past it: the fetch stops before more than {@code crossShardMaxRows} rows, plus one step, are held) and
     * {@code memory} ({@link Spill} past it; null: not counted), and kept in the returned rows, or handed to {@code
     * sink} when one is given.
     */
    private Rows fetch(Physical p, String sql, Fetch f) throws SQLException {
        // a cursor (and so a transaction) bounds what one fetch brings into memory; a shard's LIMIT within one fetch
        // bounds it already, without the transaction's round trip to end it
        boolean ownTransaction = p.connection.getAutoCommit()
                && (f.rowLimit() < 0 || f.rowLimit() >= Math.min(FETCH_SIZE, maxRows + 1L));
        DriverTracing.Span part = span.child("shardline.shard", p.shard, p.node);
        p.running();
        try {
            if (ownTransaction) {
                p.connection.setAutoCommit(false);
            }
            return query(p, sql, f);
        } catch (SQLException | RuntimeException e) {
            part.failed(e);
            throw e;
        } finally {
            part.close();
            if (ownTransaction) {
                try {
                    p.connection.rollback();
                    p.connection.setAutoCommit(true);
                } catch (SQLException e) {
                    // a broken connection: the caller hears of it from the query
                }
            }
            p.done();
        }
    }

    private Rows query(Physical p, String sql, Fetch f) throws SQLException {
        String cteName = f.cteName();
        int[] originals = f.originals();
        Parameters parameters = f.parameters();
        AtomicInteger budget = f.budget();
        AtomicInteger memory = f.memory();
        Consumer<String[]> sink = f.sink();
        try (PreparedStatement ps = p.connection.prepareStatement(sql)) {
            Cancellable cancel = ps::cancel;
            running.add(cancel);
            try {
                ps.unwrap(PGStatement.class).setPrepareThreshold(0);
                ps.setFetchSize(Math.min(FETCH_SIZE, maxRows + 1));
                if (queryTimeoutSeconds > 0) {
                    ps.setQueryTimeout(queryTimeoutSeconds);
                }
                for (int i = 0; i < originals.length; i++) {
                    parameters.bind(ps, i + 1, originals[i]);
                }
                try (ResultSet rs = ps.executeQuery()) {
                    ResultSetMetaData md = rs.getMetaData();
                    int n = md.getColumnCount();
                    List<String> columns = new ArrayList<>(n);
                    List<String> types = new ArrayList<>(n);
                    for (int c = 1; c <= n; c++) {
                        columns.add(md.getColumnName(c));
                        types.add(castable(p, md, c));
                    }
                    List<String[]> values = new ArrayList<>();
                    Consumer<String[]> to = sink != null ? sink : values::add;
                    while (rs.next()) {
                        if (budget.decrementAndGet() < 0) {
                            throw tooMany(p.shard, cteName);
                        }
                        if (memory != null && memory.decrementAndGet() < 0) {
                            throw new Spill();
                        }
                        String[] row = new String[n];
                        for (int c = 0; c < n; c++) {
                            row[c] = rs.getString(c + 1);
                        }
                        to.accept(row);
                    }
                    SQLWarning notices = ps.getWarnings();
                    if (notices != null) {
                        warnings.add(notices);
                    }
                    return new Rows(columns, types, values);
                }
            } finally {
                running.remove(cancel);
            }
        }
    }

    /**
     * The final query's 42803 ("must appear in the GROUP BY clause") for a statement grouping by {@code table}'s
     * primary key, said for what it is: the rows the shards shipped have no primary key, so PostgreSQL does not let
     * the key stand for the table's other columns.
     */
    static SQLException ungrouped(String table, SQLException e) {
        return new SQLException(
                "this cross-shard read groups by the primary key of " + table + ", whose rows the shards ship"
                        + " without that key: PostgreSQL does not let it stand for the table's other columns here ("
                        + e.getMessage() + "). List those columns in the GROUP BY too, or group by the shard key"
                        + " with the columns named one by one (each shard then computes its groups whole)",
                "42803",
                e);
    }

    private SQLException tooMany(int shard, String cteName) {
        return new SQLException(
                "the shards returned more than crossShardMaxRows (" + maxRows + ") rows for this cross-shard read"
                        + " (shard " + shard + " was reading " + cteName + "): narrow it with a WHERE, or raise"
                        + " crossShardMaxRows",
                "54000");
    }

    /** The labels PostgreSQL gives the statement's columns: described once on {@code home}, then cached. */
    private List<String> labels(CrossShardQuery query, String sql, Physical home, Parameters parameters)
            throws SQLException {
        List<String> labels = routing.crossShardLabels(sql, searchPath);
        if (labels == null) {
            labels = new ArrayList<>();
            try (PreparedStatement ps = home.connection.prepareStatement(sql)) {
                // described with the parameters' types, as the statement runs: untyped, ARRAY[?, ?] would be text[]
                int count = query.bodyParameters().length == 0
                        ? 0
                        : java.util.Arrays.stream(query.bodyParameters()).max().getAsInt();
                for (CrossShardQuery.Source source : query.sources()) {
                    for (int original : source.parameters()) {
                        count = Math.max(count, original);
                    }
                }
                for (int i = 1; i <= count; i++) {
                    parameters.bind(ps, i, i);
                }
                ResultSetMetaData md = ps.getMetaData();
                for (int c = 1; c <= md.getColumnCount(); c++) {
                    labels.add(md.getColumnLabel(c));
                }
            }
            if (labels.size() != query.labelCount()) {
                throw new SQLException(
                        "the cross-shard read expected " + query.labelCount() + " columns, PostgreSQL describes "
                                + labels.size(),
                        "XX000");
            }
            routing.crossShardLabels(sql, searchPath, labels);
        }
        return labels;
    }
}
