package io.shardline.router.jdbc;

import io.shardline.router.SqlStates;
import io.shardline.router.sql.CrossShardQuery;
import io.shardline.router.sql.Plan;
import io.shardline.router.sql.StatementKind;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A statement of a {@link LogicalConnection}: each SQL text is analyzed (cached), routed, and run unchanged
 * on a physical statement of the chosen node.
 */
class LogicalStatement implements Statement {
    /** One JDBC call on a physical statement. */
    interface Op<T> {
        T apply(Statement physical) throws SQLException;
    }

    /** The result of a statement the driver handled itself; {@code physical} is set for SHOW. */
    interface DriverResult<T> {
        T of(Statement physical) throws SQLException;
    }

    final LogicalConnection connection;
    final StatementOptions options;
    private final Map<Physical, Statement> physicalStatements = new IdentityHashMap<>();
    private final List<String> batch = new ArrayList<>();
    private final List<Statement> driverStatements = new ArrayList<>();
    /** The physical statement of the last execution: results, update counts and generated keys come from it. */
    Statement current;
    /** The update count of a statement the driver handled itself (0, as PostgreSQL reports for SET), until read. */
    int driverUpdateCount = -1;

    private boolean closed;
    /** The final query of the last cross-shard read, open while its result set is read. */
    private Statement crossShardStatement;

    private boolean closeOnCompletion;

    LogicalStatement(LogicalConnection connection, StatementOptions options) {
        this.connection = connection;
        this.options = options;
    }

    <T> T routed(String sql, Op<T> op, DriverResult<T> driver) throws SQLException {
        checkOpen();
        requireSql(sql);
        driverUpdateCount = -1;
        Plan plan = connection.routing().plan(sql);
        if (connection.routing().readsEveryShard(plan, null)) {
            return crossShard(sql, false, (ps, index, original) -> {}, driver);
        }
        switch (plan.target()) {
            case DRIVER: {
                Statement s = connection.handle(plan, sql);
                if (s != null) {
                    driverStatements.add(s);
                } else {
                    driverUpdateCount = 0;
                }
                current = s;
                return driver.of(s);
            }
            case BOUND: {
                Physical p = connection.boundTarget(plan, sql);
                if (p == null) {
                    current = null;
                    driverUpdateCount = 0;
                    return driver.of(null);
                }
                return run(p, plan.kind(), op);
            }
            case ALL_PRIMARIES:
                return onAllPrimaries(plan.kind(), op);
            case EVERY_SHARD:
                return onEveryShard(plan, p -> run(p, plan.kind(), op));
            default: {
                Physical p = connection.target(plan, null);
                try {
                    return run(p, plan.kind(), op);
                } catch (SQLException e) {
                    if (!connection.retryElsewhere(p, plan.kind(), e)) {
                        throw e;
                    }
                    return run(connection.target(plan, null), plan.kind(), op);
                }
            }
        }
    }

    private <T> T run(Physical p, StatementKind kind, Op<T> op) throws SQLException {
        Statement s = physicalStatements.get(p);
        if (s == null) {
            s = p.connection.createStatement(options.resultSetType, options.concurrency, options.holdability);
            options.applyTo(s);
            physicalStatements.put(p, s);
        }
        return onPhysical(p, kind, s, op);
    }

    /**
     * Runs {@code op} on {@code s}, a statement of {@code p}: counts it in flight for the replica choice,
     * advances the causal token after a write, and lets the connection judge a failure.
     */
    final <T> T onPhysical(Physical p, StatementKind kind, Statement s, Op<T> op) throws SQLException {
        current = s;
        T result;
        p.inFlight.incrementAndGet();
        try {
            result = op.apply(s);
        } catch (SQLException e) {
            if (ConnectionErrors.isConnectionError(e)) {
                forget(p);
            }
            throw connection.failed(p, kind, e);
        } finally {
            p.inFlight.decrementAndGet();
        }
        connection.executed(p, kind);
        return result;
    }

    /** Drops the physical statements of a physical connection that broke. */
    void forget(Physical p) {
        physicalStatements.remove(p);
    }

    /**
     * Runs a write without a shard key on every shard's primary in one transaction: the connection's, or (in
     * autocommit mode) one of its own committed with two-phase commit at once. The update count is the sum.
     */
    @SuppressWarnings("unchecked")
    <T> T onEveryShard(Plan plan, OnPhysical<T> runner) throws SQLException {
        boolean implicit = connection.autoCommit();
        List<Physical> shards = connection.everyShard(plan);
        long count = 0;
        T result = null;
        try {
            for (Physical p : shards) {
                result = runner.run(p);
                count += Math.max(0, current.getLargeUpdateCount());
            }
            if (implicit) {
                connection.commit();
            }
        } catch (SQLException e) {
            if (implicit) {
                try {
                    connection.rollback();
                } catch (SQLException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
        current = null;
        driverUpdateCount = (int) Math.min(Integer.MAX_VALUE, count);
        if (result instanceof Integer) {
            return (T) Integer.valueOf(driverUpdateCount);
        }
        if (result instanceof Long) {
            return (T) Long.valueOf(count);
        }
        return result;
    }

    /**
     * Answers a read no single shard can answer (see {@link CrossShardRead}); the final query's statement becomes
     * {@link #current}, closed at the next execution or with this statement.
     */
    <T> T crossShard(String sql, boolean prepared, CrossShardRead.Parameters parameters, DriverResult<T> driver)
            throws SQLException {
        CrossShardQuery query = connection.routing().crossShard(sql, prepared);
        closeCrossShardStatement();
        crossShardStatement = connection.crossShardRead().run(query, sql, parameters, this);
        return driver.of(crossShardStatement);
    }

    /** Whether {@code s} is the final query of a cross-shard read (its parameters are not the statement's). */
    final boolean isCrossShard(Statement s) {
        return s != null && s == crossShardStatement;
    }

    private void closeCrossShardStatement() throws SQLException {
        if (crossShardStatement != null) {
            Statement s = crossShardStatement;
            crossShardStatement = null;
            if (current == s) {
                current = null;
            }
            s.close();
        }
    }

    /** Runs a statement on one physical connection (plain or prepared). */
    @FunctionalInterface
    interface OnPhysical<T> {
        T run(Physical p) throws SQLException;
    }

    /** Runs on every primary; a failure on some shards is reported naming them, after all were tried. */
    <T> T onAllPrimaries(StatementKind kind, Op<T> op) throws SQLException {
        List<Physical> primaries = connection.allPrimaries();
        T result = null;
        List<Integer> ok = new ArrayList<>();
        List<String> failed = new ArrayList<>();
        SQLException first = null;
        for (Physical p : primaries) {
            try {
                result = run(p, kind, op);
                ok.add(p.shard);
            } catch (SQLException e) {
                failed.add("shard " + p.shard + " (" + p.node.name() + "): " + e.getMessage());
                first = first == null ? e : first;
            }
        }
        if (first != null) {
            SQLException e = new SQLException(
                    "the statement failed on " + failed.size() + " of " + primaries.size() + " shards: "
                            + String.join("; ", failed) + (ok.isEmpty() ? "" : ". It succeeded on shards " + ok),
                    first.getSQLState(),
                    first);
            throw e;
        }
        return result;
    }

    // ---- Statement -------------------------------------------------------------------------------------

    @Override
    public ResultSet executeQuery(String sql) throws SQLException {
        return routed(sql, s -> s.executeQuery(sql), LogicalStatement::resultOrFail);
    }

    static ResultSet resultOrFail(Statement s) throws SQLException {
        ResultSet rs = s == null ? null : s.getResultSet();
        if (rs == null) {
            throw new SQLException("No results were returned by the query.", "02000");
        }
        return rs;
    }

    @Override
    public int executeUpdate(String sql) throws SQLException {
        return routed(sql, s -> s.executeUpdate(sql), s -> 0);
    }

    @Override
    public long executeLargeUpdate(String sql) throws SQLException {
        return routed(sql, s -> s.executeLargeUpdate(sql), s -> 0L);
    }

    @Override
    public boolean execute(String sql) throws SQLException {
        return routed(sql, s -> s.execute(sql), s -> s != null && s.getResultSet() != null);
    }

    @Override
    public int executeUpdate(String sql, int autoGeneratedKeys) throws SQLException {
        return routed(sql, s -> s.executeUpdate(sql, autoGeneratedKeys), s -> 0);
    }

    @Override
    public int executeUpdate(String sql, int[] columnIndexes) throws SQLException {
        return routed(sql, s -> s.executeUpdate(sql, columnIndexes), s -> 0);
    }

    @Override
    public int executeUpdate(String sql, String[] columnNames) throws SQLException {
        return routed(sql, s -> s.executeUpdate(sql, columnNames), s -> 0);
    }

    @Override
    public boolean execute(String sql, int autoGeneratedKeys) throws SQLException {
        return routed(sql, s -> s.execute(sql, autoGeneratedKeys), s -> false);
    }

    @Override
    public boolean execute(String sql, int[] columnIndexes) throws SQLException {
        return routed(sql, s -> s.execute(sql, columnIndexes), s -> false);
    }

    @Override
    public boolean execute(String sql, String[] columnNames) throws SQLException {
        return routed(sql, s -> s.execute(sql, columnNames), s -> false);
    }

    @Override
    public void addBatch(String sql) throws SQLException {
        checkOpen();
        batch.add(sql);
    }

    @Override
    public void clearBatch() throws SQLException {
        batch.clear();
    }

    /** Runs the batch statement by statement, each routed on its own; counts come back in order. */
    @Override
    public int[] executeBatch() throws SQLException {
        checkOpen();
        int[] counts = new int[batch.size()];
        try {
            for (int i = 0; i < counts.length; i++) {
                String sql = batch.get(i);
                counts[i] = routed(sql, s -> s.executeUpdate(sql), s -> 0);
            }
        } finally {
            batch.clear();
        }
        return counts;
    }

    @Override
    public ResultSet getResultSet() throws SQLException {
        checkOpen();
        return current == null ? null : current.getResultSet();
    }

    @Override
    public int getUpdateCount() throws SQLException {
        checkOpen();
        return current == null ? driverUpdateCount : current.getUpdateCount();
    }

    @Override
    public long getLargeUpdateCount() throws SQLException {
        checkOpen();
        return current == null ? driverUpdateCount : current.getLargeUpdateCount();
    }

    @Override
    public boolean getMoreResults() throws SQLException {
        driverUpdateCount = -1;
        return current != null && current.getMoreResults();
    }

    @Override
    public boolean getMoreResults(int current) throws SQLException {
        return this.current != null && this.current.getMoreResults(current);
    }

    @Override
    public ResultSet getGeneratedKeys() throws SQLException {
        checkOpen();
        if (current == null) {
            throw new SQLException("no statement has run yet", SqlStates.INVALID_TRANSACTION_STATE);
        }
        return current.getGeneratedKeys();
    }

    @Override
    public void close() throws SQLException {
        if (closed) {
            return;
        }
        closed = true;
        SQLException failure = null;
        try {
            closeCrossShardStatement();
        } catch (SQLException e) {
            failure = e;
        }
        for (Statement s : physicalStatements.values()) {
            try {
                s.close();
            } catch (SQLException e) {
                failure = e;
            }
        }
        for (Statement s : driverStatements) {
            try {
                s.close();
            } catch (SQLException e) {
                failure = e;
            }
        }
        physicalStatements.clear();
        connection.forget(this);
        if (failure != null) {
            throw failure;
        }
    }

    Map<Physical, Statement> physicalStatements() {
        return physicalStatements;
    }

    @Override
    public boolean isClosed() {
        return closed;
    }

    static void requireSql(String sql) throws SQLException {
        if (sql == null || sql.isBlank()) {
            throw new SQLException("the SQL statement is " + (sql == null ? "null" : "empty"), "42601");
        }
    }

    void checkOpen() throws SQLException {
        if (closed) {
            throw new SQLException("this statement is closed", SqlStates.INVALID_TRANSACTION_STATE);
        }
        connection.checkOpen();
    }

    @Override
    public int getMaxFieldSize() throws SQLException {
        return options.maxFieldSize;
    }

    @Override
    public void setMaxFieldSize(int max) throws SQLException {
        options.maxFieldSize = max;
        for (Statement s : physicalStatements.values()) {
            s.setMaxFieldSize(max);
        }
    }

    @Override
    public int getMaxRows() throws SQLException {
        return (int) options.maxRows;
    }

    @Override
    public void setMaxRows(int max) throws SQLException {
        setLargeMaxRows(max);
    }

    @Override
    public long getLargeMaxRows() throws SQLException {
        return options.maxRows;
    }

    @Override
    public void setLargeMaxRows(long max) throws SQLException {
        options.maxRows = max;
        for (Statement s : physicalStatements.values()) {
            s.setLargeMaxRows(max);
        }
    }

    @Override
    public void setEscapeProcessing(boolean enable) throws SQLException {
        options.escapeProcessing = enable;
        for (Statement s : physicalStatements.values()) {
            s.setEscapeProcessing(enable);
        }
    }

    @Override
    public int getQueryTimeout() throws SQLException {
        return options.queryTimeout;
    }

    @Override
    public void setQueryTimeout(int seconds) throws SQLException {
        options.queryTimeout = seconds;
        for (Statement s : physicalStatements.values()) {
            s.setQueryTimeout(seconds);
        }
    }

    @Override
    public void cancel() throws SQLException {
        if (current != null) {
            current.cancel();
        }
    }

    @Override
    public SQLWarning getWarnings() throws SQLException {
        return current == null ? null : current.getWarnings();
    }

    @Override
    public void clearWarnings() throws SQLException {
        if (current != null) {
            current.clearWarnings();
        }
    }

    @Override
    public void setCursorName(String name) throws SQLException {
        throw new SQLException("setCursorName is not supported", SqlStates.FEATURE_NOT_SUPPORTED);
    }

    @Override
    public void setFetchDirection(int direction) throws SQLException {
        options.fetchDirection = direction;
        for (Statement s : physicalStatements.values()) {
            s.setFetchDirection(direction);
        }
    }

    @Override
    public int getFetchDirection() throws SQLException {
        return options.fetchDirection;
    }

    @Override
    public void setFetchSize(int rows) throws SQLException {
        options.fetchSize = rows;
        for (Statement s : physicalStatements.values()) {
            s.setFetchSize(rows);
        }
    }

    @Override
    public int getFetchSize() throws SQLException {
        return options.fetchSize;
    }

    @Override
    public int getResultSetConcurrency() throws SQLException {
        return options.concurrency;
    }

    @Override
    public int getResultSetType() throws SQLException {
        return options.resultSetType;
    }

    @Override
    public int getResultSetHoldability() throws SQLException {
        return options.holdability;
    }

    @Override
    public Connection getConnection() throws SQLException {
        return connection;
    }

    @Override
    public void setPoolable(boolean poolable) throws SQLException {
        options.poolable = poolable;
    }

    @Override
    public boolean isPoolable() throws SQLException {
        return options.poolable;
    }

    @Override
    public void closeOnCompletion() throws SQLException {
        closeOnCompletion = true;
    }

    @Override
    public boolean isCloseOnCompletion() throws SQLException {
        return closeOnCompletion;
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        if (iface.isInstance(this)) {
            return iface.cast(this);
        }
        if (current != null) {
            return current.unwrap(iface);
        }
        throw new SQLException("cannot unwrap to " + iface.getName() + " before the statement has run");
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) throws SQLException {
        return iface.isInstance(this) || (current != null && current.isWrapperFor(iface));
    }
}
