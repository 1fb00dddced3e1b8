package io.shardline.router.jdbc;

import io.shardline.router.sql.CrossShardQuery;
import io.shardline.router.sql.StatementKind;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.postgresql.PGStatement;

/**
 * Runs a {@link CrossShardQuery}: every source query on every shard in parallel, then the final query on the
 * home shard's connection with each source's rows as a CTE ({@code unnest} of one text array per column, cast
 * back to the column's type), so the answer is computed by PostgreSQL itself.
 */
final class CrossShardRead {
    /** Binds statement parameter {@code original} (1-based) at position {@code index} of a physical statement. */
    @FunctionalInterface
    interface Parameters {
        void bind(PreparedStatement ps, int index, int original) throws SQLException;
    }

    /** One source's rows from every shard: column names and type names (of the first shard), values as text. */
    private record Rows(List<String> columns, List<String> types, List<String[]> values) {}

    private final LogicalConnection connection;
    private final ClusterRuntime runtime;

    CrossShardRead(LogicalConnection connection, ClusterRuntime runtime) {
        this.connection = connection;
        this.runtime = runtime;
    }

    /**
     * Runs the read and returns the executed final statement (its result set is the answer); the caller closes
     * it.
     *
     * @param sql the statement's text, described once for its column labels when the shards aggregate
     * @throws SQLException a shard's error with its SQLState; 54000 past {@code crossShardMaxRows}
     */
    PreparedStatement run(CrossShardQuery query, String sql, Parameters parameters, LogicalStatement statement)
            throws SQLException {
        Map<Integer, Physical> shards = connection.crossShardSources();
        Physical home = shards.get(connection.routing().homeShard());
        AtomicInteger budget = new AtomicInteger(runtime.crossShardMaxRows());
        List<Rows> gathered = new ArrayList<>();
        for (CrossShardQuery.Source source : query.sources()) {
            gathered.add(gather(source, shards, parameters, budget));
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
            statement.onPhysical(home, StatementKind.READ, ps, s -> ((PreparedStatement) s).execute());
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
            futures.add(runtime.crossShardPool().submit(() -> fetch(p, source, parameters, budget)));
        }
        List<String[]> values = new ArrayList<>();
        Rows first = null;
        SQLException failure = null;
        Physical failed = null;
        for (int i = 0; i < futures.size(); i++) {
            try {
                Rows rows = futures.get(i).get();
                if (first == null) {
                    first = rows;
                }
                values.addAll(rows.values());
            } catch (ExecutionException e) {
                if (failure == null) {
                    failed = order.get(i);
                    failure = e.getCause() instanceof SQLException sql
                            ? sql
                            : new SQLException("cross-shard read failed on shard " + order.get(i).shard, e.getCause());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                futures.forEach(f -> f.cancel(true));
                throw new SQLException("interrupted while reading the shards", "57014", e);
            }
        }
        if (failure != null) {
            throw connection.failed(failed, StatementKind.READ, failure);
        }
        return new Rows(first.columns(), first.types(), values);
    }

    private static Rows fetch(Physical p, CrossShardQuery.Source source, Parameters parameters, AtomicInteger budget)
            throws SQLException {
        p.inFlight.incrementAndGet();
        try (PreparedStatement ps = p.connection.prepareStatement(source.sql())) {
            ps.unwrap(PGStatement.class).setPrepareThreshold(0);
            ps.setFetchSize(10_000);
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
                                "the shards returned more than crossShardMaxRows rows for this cross-shard read"
                                        + " (shard " + p.shard + " was reading " + source.cteName() + "): narrow it"
                                        + " with a WHERE, or raise crossShardMaxRows",
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
            p.inFlight.decrementAndGet();
        }
    }

    /** The labels PostgreSQL gives the statement's columns: described once on {@code home}, then cached. */
    private List<String> labels(CrossShardQuery query, String sql, Physical home) throws SQLException {
        List<String> labels = connection.routing().crossShardLabels(sql);
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
            connection.routing().crossShardLabels(sql, labels);
        }
        return labels;
    }
}
