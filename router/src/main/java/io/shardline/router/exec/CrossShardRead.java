package io.shardline.router.exec;

import io.shardline.router.route.RoutingState;
import io.shardline.router.sql.CrossShardQuery;
import io.shardline.router.sql.SearchPath;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.postgresql.PGStatement;

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
    }

    /** One source's rows from every shard: column names and type names (of the first shard), values as text. */
    private record Rows(List<String> columns, List<String> types, List<String[]> values) {}

    private static final int FETCH_SIZE = 10_000;

    private final RoutingState routing;
    /** The session's search path (null: the default), under which the statement was planned. */
    private final SearchPath searchPath;

    private final ExecutorService pool;
    private final int maxRows;
    private final int queryTimeoutSeconds;
    private final Set<Statement> running;

    /**
     * @param running where the statements running on the shards are kept while they run (for cancel)
     */
    CrossShardRead(
            RoutingState routing,
            SearchPath searchPath,
            ExecutorService pool,
            int maxRows,
            int queryTimeoutSeconds,
            Set<Statement> running) {
        this.routing = routing;
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
     * @param sql the statement's text, described once for its column labels when the shards aggregate
     * @throws SourceFailed a shard's error with its SQLState (54000 past {@code crossShardMaxRows})
     */
    PreparedStatement prepare(
            CrossShardQuery query, String sql, Map<Integer, Physical> sources, Physical home, Parameters parameters)
            throws SQLException {
        AtomicInteger budget = new AtomicInteger(maxRows);
        List<Rows> gathered = new ArrayList<>();
        for (CrossShardQuery.Source source : query.sources()) {
            gathered.add(gather(source, sources, parameters, budget));
        }
        StringBuilder text = new StringBuilder(query.head());
        for (int s = 0; s < gathered.size(); s++) {
            text.append(s == 0 ? "" : ", ");
            cte(text, query.sources().get(s).cteName(), gathered.get(s));
        }
        text.append(query.separator());
        if (query.partial()) {
            Map<String, String> types = new HashMap<>();
            Rows partial = gathered.get(0);
            for (int c = 0; c < partial.columns().size(); c++) {
                types.put(partial.columns().get(c), partial.types().get(c));
            }
            text.append(query.finalBody(types, labels(query, sql, home)));
        } else {
            text.append(query.body());
        }
        PreparedStatement ps = home.connection.prepareStatement(text.toString());
        try {
            if (queryTimeoutSeconds > 0) {
                ps.setQueryTimeout(queryTimeoutSeconds);
            }
            int index = 1;
            for (Rows rows : gathered) {
                for (int c = 0; c < rows.columns().size(); c++) {
                    String[] column = new String[rows.values().size()];
                    for (int r = 0; r < column.length; r++) {
                        column[r] = rows.values().get(r)[c];
                    }
                    ps.setArray(index++, home.connection.createArrayOf("text", column));
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

    /** Appends {@code name(columns) AS (SELECT CAST(c1 AS type1), ... FROM unnest($1::text[], ...))}. */
    private static void cte(StringBuilder text, String name, Rows rows) {
        text.append(name).append('(');
        for (int c = 0; c < rows.columns().size(); c++) {
            text.append(c == 0 ? "" : ", ")
                    .append(CrossShardQuery.quote(rows.columns().get(c)));
        }
        text.append(") AS (SELECT ");
        for (int c = 0; c < rows.columns().size(); c++) {
            String type = rows.types().get(c);
            text.append(c == 0 ? "" : ", ")
                    .append("CAST(_sl_u.c")
                    .append(c + 1)
                    .append(" AS ")
                    .append(type.contains("\"") ? type : CrossShardQuery.quote(type))
                    .append(')');
        }
        text.append(" FROM unnest(");
        for (int c = 0; c < rows.columns().size(); c++) {
            text.append(c == 0 ? "" : ", ").append("CAST(? AS text[])");
        }
        text.append(") AS _sl_u(");
        for (int c = 0; c < rows.columns().size(); c++) {
            text.append(c == 0 ? "" : ", ").append("c").append(c + 1);
        }
        text.append("))");
    }

    /** Runs one source query on every shard at once; the first failure is reported as the shard's. */
    private Rows gather(
            CrossShardQuery.Source source, Map<Integer, Physical> shards, Parameters parameters, AtomicInteger budget)
            throws SQLException {
        List<Future<Rows>> futures = new ArrayList<>();
        List<Physical> order = new ArrayList<>(shards.values());
        for (Physical p : order) {
            futures.add(pool.submit(() -> fetch(p, source, parameters, budget)));
        }
        List<String[]> values = new ArrayList<>();
        Rows first = null;
        SourceFailed failure = null;
        for (int i = 0; i < futures.size(); i++) {
            try {
                Rows rows = futures.get(i).get();
                if (first == null) {
                    first = rows;
                }
                values.addAll(rows.values());
            } catch (ExecutionException e) {
                if (failure == null) {
                    failure = new SourceFailed(
                            order.get(i),
                            e.getCause() instanceof SQLException sql
                                    ? sql
                                    : new SQLException(
                                            "cross-shard read failed on shard " + order.get(i).shard, e.getCause()));
                    // the others stop fetching: their rows would be thrown away
                    budget.set(Integer.MIN_VALUE / 2);
                }
            } catch (InterruptedException e) {
                // the shards' statements are cancelled and waited for: their connections must be free again when the
                // application's next statement uses them
                budget.set(Integer.MIN_VALUE / 2);
                for (Statement s : running) {
                    try {
                        s.cancel();
                    } catch (SQLException ignored) {
                        // it ended meanwhile
                    }
                }
                futures.forEach(CrossShardRead::awaitQuietly);
                Thread.currentThread().interrupt();
                throw new SQLException("interrupted while reading the shards", "57014", e);
            }
        }
        if (failure != null) {
            throw failure;
        }
        return new Rows(first.columns(), first.types(), values);
    }

    private static void awaitQuietly(Future<Rows> f) {
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
     * One shard's rows of a source query, fetched with a cursor in steps of the fetch size: the budget stops the
     * fetch (54000) before more rows than {@code crossShardMaxRows} (plus one step) are held.
     */
    private Rows fetch(Physical p, CrossShardQuery.Source source, Parameters parameters, AtomicInteger budget)
            throws SQLException {
        p.inFlight.incrementAndGet();
        boolean ownTransaction = p.connection.getAutoCommit();
        try {
            if (ownTransaction) {
                // pgjdbc fetches with a cursor only inside a transaction
                p.connection.setAutoCommit(false);
            }
            return query(p, source, parameters, budget);
        } finally {
            if (ownTransaction) {
                try {
                    p.connection.rollback();
                    p.connection.setAutoCommit(true);
                } catch (SQLException e) {
                    // a broken connection: the caller hears of it from the query
                }
            }
            p.inFlight.decrementAndGet();
        }
    }

    private Rows query(Physical p, CrossShardQuery.Source source, Parameters parameters, AtomicInteger budget)
            throws SQLException {
        try (PreparedStatement ps = p.connection.prepareStatement(source.sql())) {
            running.add(ps);
            try {
                ps.unwrap(PGStatement.class).setPrepareThreshold(0);
                ps.setFetchSize(Math.min(FETCH_SIZE, maxRows + 1));
                if (queryTimeoutSeconds > 0) {
                    ps.setQueryTimeout(queryTimeoutSeconds);
                }
                int[] originals = source.parameters();
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
                        types.add(md.getColumnTypeName(c));
                    }
                    List<String[]> values = new ArrayList<>();
                    while (rs.next()) {
                        if (budget.decrementAndGet() < 0) {
                            throw new SQLException(
                                    "the shards returned more than crossShardMaxRows (" + maxRows + ") rows for this"
                                            + " cross-shard read (shard " + p.shard + " was reading "
                                            + source.cteName() + "): narrow it with a WHERE, or raise"
                                            + " crossShardMaxRows",
                                    "54000");
                        }
                        String[] row = new String[n];
                        for (int c = 0; c < n; c++) {
                            row[c] = rs.getString(c + 1);
                        }
                        values.add(row);
                    }
                    return new Rows(columns, types, values);
                }
            } finally {
                running.remove(ps);
            }
        }
    }

    /** The labels PostgreSQL gives the statement's columns: described once on {@code home}, then cached. */
    private List<String> labels(CrossShardQuery query, String sql, Physical home) throws SQLException {
        List<String> labels = routing.crossShardLabels(sql, searchPath);
        if (labels == null) {
            labels = new ArrayList<>();
            try (PreparedStatement ps = home.connection.prepareStatement(sql)) {
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
