package io.shardline.router.jdbc;

import io.shardline.router.SqlStates;
import io.shardline.router.exec.Dispatcher;
import io.shardline.router.exec.Physical;
import io.shardline.router.exec.Session;
import io.shardline.router.route.RoutingState;
import io.shardline.router.sql.Plan;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A statement of a {@link LogicalConnection}: each SQL text is analyzed (cached) and run by its {@link Dispatcher},
 * unchanged, on a physical statement of the chosen node.
 */
class LogicalStatement implements Statement, Dispatcher.Shape {
    final LogicalConnection connection;
    final StatementOptions options;
    final Dispatcher dispatcher;
    private final List<String> batch = new ArrayList<>();
    private boolean closed;
    private boolean closeOnCompletion;
    /** The application's view of the last result set handed out, kept so that the same one gets the same view. */
    private LogicalResultSet lastResult;

    LogicalStatement(LogicalConnection connection, StatementOptions options) {
        this.connection = connection;
        this.options = options;
        this.dispatcher = new Dispatcher(connection.session(), this);
    }

    private <T> T routed(String sql, Dispatcher.Op<T> op, Dispatcher.Handled<T> handled) throws SQLException {
        checkOpen();
        requireSql(sql);
        closeForNextExecution();
        return dispatcher.run(sql, null, op, handled);
    }

    /**
     * As pgjdbc: an execution closes the result set the statement handed out last, also when it was read on another
     * node than the next execution runs on (that physical statement does not close it). Not a close by the
     * application: {@link #closeOnCompletion()} does not close the statement for it.
     */
    void closeForNextExecution() throws SQLException {
        LogicalResultSet last = lastResult;
        if (last != null) {
            lastResult = null;
            last.closeForNextExecution();
        }
    }

    @Override
    public Plan plan(RoutingState r, String sql) {
        Plan plan = r.plan(sql, connection.session().searchPath());
        // an updatable result set writes its rows back through the node that read them
        return updatable() ? plan.readOnPrimary() : plan;
    }

    @Override
    public Statement create(Physical p) throws SQLException {
        Statement s = p.connection().createStatement(options.resultSetType, options.concurrency, options.holdability);
        options.applyTo(s);
        return s;
    }

    @Override
    public Statement create(Physical p, String sql) throws SQLException {
        return create(p);
    }

    @Override
    public boolean generatedKeys() {
        return false;
    }

    @Override
    public void bind(Statement s) throws SQLException {}

    @Override
    public boolean prepared() {
        return false;
    }

    @Override
    public void bindAt(PreparedStatement ps, int index, int original) throws SQLException {
        throw new SQLException("a plain statement has no parameters", "07001");
    }

    @Override
    public int queryTimeout() {
        return options.queryTimeout;
    }

    @Override
    public boolean updatable() {
        return options.concurrency == java.sql.ResultSet.CONCUR_UPDATABLE;
    }

    @Override
    public int resultSetType() {
        return options.resultSetType;
    }

    // ---- Statement -------------------------------------------------------------------------------------

    @Override
    public ResultSet executeQuery(String sql) throws SQLException {
        return view(routed(sql, s -> s.executeQuery(sql), LogicalStatement::resultOrFail));
    }

    static ResultSet resultOrFail(Statement s) throws SQLException {
        ResultSet rs = s == null ? null : s.getResultSet();
        if (rs == null) {
            throw new SQLException("No results were returned by the query.", "02000");
        }
        return rs;
    }

    /** The application's view of a physical result set of this statement (null for none). */
    ResultSet view(ResultSet physical) {
        if (physical == null) {
            return null;
        }
        if (lastResult == null || !lastResult.views(physical)) {
            lastResult = new LogicalResultSet(physical, this);
        }
        return lastResult;
    }

    /**
     * A result set of this statement was closed: so is the statement when {@link #closeOnCompletion()} asked and its
     * current result (another, kept by getMoreResults) is closed too.
     */
    void resultClosed() throws SQLException {
        if (!closeOnCompletion || closed) {
            return;
        }
        Statement current = dispatcher.current();
        ResultSet open = current == null ? null : current.getResultSet();
        if (open == null || open.isClosed()) {
            close();
        }
    }

    /** A physical result set of this statement unwrapped for the application. */
    <T> T unwrapPhysical(ResultSet physical, Class<T> iface) throws SQLException {
        dispatcher.handOut();
        return physical.unwrap(iface);
    }

    /** Rows of an updatable result set of this statement were written back. */
    void rowsWrittenBack() {
        dispatcher.rowsWrittenBack();
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
    public long executeLargeUpdate(String sql, int autoGeneratedKeys) throws SQLException {
        return routed(sql, s -> s.executeLargeUpdate(sql, autoGeneratedKeys), s -> 0L);
    }

    @Override
    public long executeLargeUpdate(String sql, int[] columnIndexes) throws SQLException {
        return routed(sql, s -> s.executeLargeUpdate(sql, columnIndexes), s -> 0L);
    }

    @Override
    public long executeLargeUpdate(String sql, String[] columnNames) throws SQLException {
        return routed(sql, s -> s.executeLargeUpdate(sql, columnNames), s -> 0L);
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

    /**
     * Runs the batch: in autocommit mode, as one transaction of its own when {@link
     * io.shardline.router.exec.Session#batchAsOneTransaction} says so (as pgjdbc does), else statement by statement,
     * each routed and committed on its own; counts come back in order.
     *
     * @throws BatchUpdateException when a statement fails: every count {@link Statement#EXECUTE_FAILED} when the batch
     *     ran as one transaction (nothing was committed), else the counts of the statements that ran
     */
    @Override
    public int[] executeBatch() throws SQLException {
        checkOpen();
        List<String> statements = List.copyOf(batch);
        batch.clear();
        Session session = connection.session();
        for (int attempt = 1; statements.size() > 1 && session.autoCommit(); attempt++) {
            RoutingState r = session.runtime().routing();
            List<Plan> plans = new ArrayList<>(statements.size());
            for (String sql : statements) {
                plans.add(plan(r, sql));
            }
            if (!session.batchAsOneTransaction(plans)) {
                break;
            }
            int[] counts = inOneTransaction(session, statements, attempt);
            if (counts != null) {
                return counts;
            }
        }
        return oneByOne(statements);
    }

    /**
     * Runs the batch as one transaction.
     *
     * @return the counts, or null when the batch is to run again: refused as read-only by a primary a switchover or a
     *     failover replaced meanwhile (routed before the switchover held writes), rolled back, nothing written
     */
    private int[] inOneTransaction(Session session, List<String> statements, int attempt) throws SQLException {
        int[] counts = new int[statements.size()];
        int i = 0;
        long ring = session.runtime().routing().ring().version();
        session.setAutoCommit(false);
        try {
            for (; i < counts.length; i++) {
                String sql = statements.get(i);
                counts[i] = routed(sql, s -> s.executeUpdate(sql), s -> 0);
            }
            session.commit();
            return counts;
        } catch (SQLException | RuntimeException e) {
            try {
                session.rollback();
            } catch (SQLException suppressed) {
                e.addSuppressed(suppressed);
            }
            if (e instanceof SQLException x
                    && SqlStates.FEATURE_NOT_SUPPORTED.equals(x.getSQLState())
                    && i < counts.length
                    && session.runtime().routing().ring().version() != ring) {
                // a cutover moved a statement's key to another shard while the batch ran: it no longer fits one
                // transaction (without two-phase commit); nothing was committed, run it as such a batch runs
                session.setAutoCommit(true);
                return oneByOne(statements);
            }
            if (e instanceof RuntimeException unchecked) {
                throw unchecked;
            }
            SQLException x = (SQLException) e;
            if (i < counts.length) {
                try {
                    if (dispatcher.rolledBackRefusalPassed(x, attempt)) {
                        return null;
                    }
                } catch (SQLException why) {
                    x = why;
                }
            }
            int[] failed = new int[counts.length];
            Arrays.fill(failed, Statement.EXECUTE_FAILED);
            String what = i < counts.length
                    ? "statement " + (i + 1) + " of the batch failed, none of its statements was committed (an"
                            + " autocommit batch runs as one transaction): "
                    : SqlStates.OUTCOME_UNKNOWN.equals(x.getSQLState())
                            ? "the outcome of the batch's commit is unknown: "
                            : "the batch's commit failed, none of its statements was committed: ";
            throw new BatchUpdateException(what + x.getMessage(), x.getSQLState(), x.getErrorCode(), failed, x);
        } finally {
            session.setAutoCommit(true); // after the commit or the rollback: nothing left to commit
        }
    }

    private int[] oneByOne(List<String> statements) throws SQLException {
        int[] counts = new int[statements.size()];
        int i = 0;
        try {
            for (; i < counts.length; i++) {
                String sql = statements.get(i);
                counts[i] = routed(sql, s -> s.executeUpdate(sql), s -> 0);
            }
        } catch (SQLException e) {
            String state = e.getSQLState();
            String message = "statement " + (i + 1) + " of the batch failed: " + e.getMessage();
            if (i > 0 && connection.session().autoCommit() && state != null && state.startsWith("40")) {
                // "retry it" would run again statements that committed: a retry loop must not take the batch whole
                state = SqlStates.INVALID_TRANSACTION_STATE;
                message = "statement " + (i + 1) + " of the batch failed (" + e.getSQLState() + "), the " + i
                        + " before it were committed, each on its own (the batch could not run as one transaction:"
                        + " over several shards without twoPhaseCommit, or not only writes): run again only the"
                        + " statements from " + (i + 1) + " on. " + e.getMessage();
            }
            throw new BatchUpdateException(message, state, e.getErrorCode(), Arrays.copyOf(counts, i), e);
        }
        return counts;
    }

    @Override
    public long[] executeLargeBatch() throws SQLException {
        return Arrays.stream(executeBatch()).asLongStream().toArray();
    }

    @Override
    public ResultSet getResultSet() throws SQLException {
        checkOpen();
        Statement current = dispatcher.current();
        return current == null ? null : view(current.getResultSet());
    }

    @Override
    public int getUpdateCount() throws SQLException {
        checkOpen();
        Statement current = dispatcher.current();
        return current == null
                ? (int) Math.min(Integer.MAX_VALUE, dispatcher.driverUpdateCount())
                : current.getUpdateCount();
    }

    @Override
    public long getLargeUpdateCount() throws SQLException {
        checkOpen();
        Statement current = dispatcher.current();
        return current == null ? dispatcher.driverUpdateCount() : current.getLargeUpdateCount();
    }

    @Override
    public boolean getMoreResults() throws SQLException {
        dispatcher.clearDriverUpdateCount();
        Statement current = dispatcher.current();
        return current != null && current.getMoreResults();
    }

    @Override
    public boolean getMoreResults(int current) throws SQLException {
        dispatcher.clearDriverUpdateCount();
        Statement s = dispatcher.current();
        return s != null && s.getMoreResults(current);
    }

    @Override
    public ResultSet getGeneratedKeys() throws SQLException {
        checkOpen();
        return view(dispatcher.generatedKeys());
    }

    @Override
    public void close() throws SQLException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            dispatcher.close();
        } finally {
            connection.forget(this);
        }
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
            throw new SQLException("this statement is closed", SqlStates.OBJECT_NOT_IN_STATE);
        }
        connection.checkOpen();
    }

    @Override
    public int getMaxFieldSize() throws SQLException {
        return options.maxFieldSize;
    }

    @Override
    public void setMaxFieldSize(int max) throws SQLException {
        checkOpen();
        if (max < 0) {
            throw new SQLException(
                    "The maximum field size must be a value greater than or equal to 0.", SqlStates.INVALID_PARAMETER);
        }
        options.maxFieldSize = max;
        for (Statement s : dispatcher.statements()) {
            s.setMaxFieldSize(max);
        }
    }

    @Override
    public int getMaxRows() throws SQLException {
        return options.intMaxRows();
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
        checkOpen();
        if (max < 0) {
            throw new SQLException(
                    "the maximum number of rows must be 0 (no limit) or more, not " + max, SqlStates.INVALID_PARAMETER);
        }
        options.maxRows = max;
        for (Statement s : dispatcher.statements()) {
            s.setMaxRows(options.intMaxRows());
        }
    }

    @Override
    public int maxRows() {
        return options.intMaxRows();
    }

    @Override
    public void setEscapeProcessing(boolean enable) throws SQLException {
        checkOpen();
        options.escapeProcessing = enable;
        for (Statement s : dispatcher.statements()) {
            s.setEscapeProcessing(enable);
        }
    }

    @Override
    public int getQueryTimeout() throws SQLException {
        return options.queryTimeout;
    }

    @Override
    public void setQueryTimeout(int seconds) throws SQLException {
        checkOpen();
        if (seconds < 0) {
            throw new SQLException(
                    "Query timeout must be a value greater than or equals to 0.", SqlStates.INVALID_PARAMETER);
        }
        options.queryTimeout = seconds;
        for (Statement s : dispatcher.statements()) {
            s.setQueryTimeout(seconds);
        }
    }

    @Override
    public void cancel() throws SQLException {
        dispatcher.cancel();
    }

    @Override
    public SQLWarning getWarnings() throws SQLException {
        Statement current = dispatcher.current();
        return current == null ? null : current.getWarnings();
    }

    @Override
    public void clearWarnings() throws SQLException {
        Statement current = dispatcher.current();
        if (current != null) {
            current.clearWarnings();
        }
    }

    @Override
    public void setCursorName(String name) throws SQLException {
        checkOpen(); // as pgjdbc: positioned updates are not supported, the name is not used
    }

    @Override
    public void setFetchDirection(int direction) throws SQLException {
        if (direction != ResultSet.FETCH_FORWARD
                && direction != ResultSet.FETCH_REVERSE
                && direction != ResultSet.FETCH_UNKNOWN) {
            throw new SQLException("Invalid fetch direction constant: " + direction + ".", SqlStates.INVALID_PARAMETER);
        }
        options.fetchDirection = direction;
        for (Statement s : dispatcher.statements()) {
            s.setFetchDirection(direction);
        }
    }

    @Override
    public int getFetchDirection() throws SQLException {
        return options.fetchDirection;
    }

    @Override
    public void setFetchSize(int rows) throws SQLException {
        checkOpen();
        if (rows < 0) {
            throw new SQLException(
                    "Fetch size must be a value greater than or equal to 0.", SqlStates.INVALID_PARAMETER);
        }
        options.fetchSize = rows;
        for (Statement s : dispatcher.statements()) {
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
        return dispatcher.handOutCurrent(iface).unwrap(iface);
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) throws SQLException {
        Statement current = dispatcher.current();
        return iface.isInstance(this) || (current != null && current.isWrapperFor(iface));
    }
}
