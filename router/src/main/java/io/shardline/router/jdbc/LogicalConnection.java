package io.shardline.router.jdbc;

import io.shardline.router.ShardlineConnection;
import io.shardline.router.SqlStates;
import io.shardline.router.exec.ClusterRuntime;
import io.shardline.router.exec.Runtimes;
import io.shardline.router.exec.Session;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Array;
import java.sql.Blob;
import java.sql.CallableStatement;
import java.sql.Clob;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.NClob;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLClientInfoException;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.SQLWarning;
import java.sql.SQLXML;
import java.sql.Savepoint;
import java.sql.Statement;
import java.sql.Struct;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import org.postgresql.PGConnection;
import org.postgresql.core.BaseConnection;

/**
 * The logical connection an application holds: the JDBC face of a {@link Session}, which routes every statement
 * and holds the physical connections, the transaction and the session settings.
 */
public final class LogicalConnection implements ShardlineConnection {
    /** The ids of unnamed savepoints made so far (pgjdbc's JDBC_SAVEPOINT_n). */
    private int savepoints;

    private final ClusterRuntime runtime;
    private final Runtimes runtimes;
    private final Session session;
    private final String url;
    private final List<LogicalStatement> statements = new ArrayList<>();
    private final Map<String, String> clientInfo = new LinkedHashMap<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private int holdability = ResultSet.CLOSE_CURSORS_AT_COMMIT;
    private Map<String, Class<?>> typeMap = new HashMap<>();

    /**
     * @param runtimes told when this connection closes (the runtime closes after its last connection)
     * @param url the URL with its password removed
     */
    public LogicalConnection(ClusterRuntime runtime, Runtimes runtimes, String url) {
        this.runtime = runtime;
        this.runtimes = runtimes;
        this.session = new Session(runtime);
        this.url = url;
        // as pgjdbc: what the server was told at connect
        clientInfo.put("ApplicationName", runtime.applicationName());
    }

    Session session() {
        return session;
    }

    // ---- ShardlineConnection ---------------------------------------------------------------------------

    @Override
    public ShardlineConnection forKey(String table, Object key) throws SQLException {
        checkOpen();
        session.forKey(table, key);
        return this;
    }

    @Override
    public void unbind() throws SQLException {
        checkOpen();
        session.unbind();
    }

    @Override
    public String causalToken() throws SQLException {
        checkOpen();
        return session.causalToken();
    }

    @Override
    public ClusterStatus clusterStatus() throws SQLException {
        checkOpen();
        return runtime.status();
    }

    @Override
    public List<RouteExplanation> explainRoute(String sql, Object... parameters) throws SQLException {
        checkOpen();
        try {
            return session.explain(sql, parameters);
        } catch (RuntimeException e) {
            throw SqlStates.internal(e);
        }
    }

    // ---- Connection ------------------------------------------------------------------------------------

    @Override
    public Statement createStatement() throws SQLException {
        return createStatement(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY, holdability);
    }

    @Override
    public Statement createStatement(int resultSetType, int resultSetConcurrency) throws SQLException {
        return createStatement(resultSetType, resultSetConcurrency, holdability);
    }

    @Override
    public Statement createStatement(int type, int concurrency, int holdability) throws SQLException {
        checkOpen();
        LogicalStatement s = new LogicalStatement(this, new StatementOptions(type, concurrency, holdability));
        statements.add(s);
        return s;
    }

    @Override
    public PreparedStatement prepareStatement(String sql) throws SQLException {
        return prepare(sql, new StatementOptions(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY, holdability));
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int type, int concurrency) throws SQLException {
        return prepare(sql, new StatementOptions(type, concurrency, holdability));
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int type, int concurrency, int holdability)
            throws SQLException {
        return prepare(sql, new StatementOptions(type, concurrency, holdability));
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int autoGeneratedKeys) throws SQLException {
        StatementOptions o = new StatementOptions(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY, holdability);
        o.autoGeneratedKeys = autoGeneratedKeys;
        return prepare(sql, o);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int[] columnIndexes) throws SQLException {
        StatementOptions o = new StatementOptions(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY, holdability);
        o.columnIndexes = columnIndexes;
        return prepare(sql, o);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, String[] columnNames) throws SQLException {
        StatementOptions o = new StatementOptions(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY, holdability);
        o.columnNames = columnNames;
        return prepare(sql, o);
    }

    private PreparedStatement prepare(String sql, StatementOptions options) throws SQLException {
        checkOpen();
        LogicalStatement.requireSql(sql);
        LogicalPreparedStatement s = new LogicalPreparedStatement(this, options, sql);
        statements.add(s);
        return s;
    }

    void forget(LogicalStatement s) {
        statements.remove(s);
    }

    @Override
    public CallableStatement prepareCall(String sql) throws SQLException {
        return anyConnection().prepareCall(sql);
    }

    @Override
    public CallableStatement prepareCall(String sql, int type, int concurrency) throws SQLException {
        return anyConnection().prepareCall(sql, type, concurrency);
    }

    @Override
    public CallableStatement prepareCall(String sql, int type, int concurrency, int holdability) throws SQLException {
        return anyConnection().prepareCall(sql, type, concurrency, holdability);
    }

    private Connection anyConnection() throws SQLException {
        checkOpen();
        return session.anyConnection();
    }

    /** For calls that make client-side objects or read: no transaction is started for them. */
    private Connection objectConnection() throws SQLException {
        checkOpen();
        return session.objectConnection();
    }

    @Override
    public String nativeSQL(String sql) throws SQLException {
        checkOpen();
        try {
            // pgjdbc's translation of JDBC escapes and placeholders, as every node's connection would send it
            return session.objectConnection().nativeSQL(sql);
        } catch (SQLException e) {
            return sql; // no connection to ask now (a COPY runs, the transaction is lost): the text as given
        }
    }

    @Override
    public void setAutoCommit(boolean autoCommit) throws SQLException {
        checkOpen();
        try {
            session.setAutoCommit(autoCommit);
        } catch (RuntimeException e) {
            throw SqlStates.internal(e);
        }
    }

    @Override
    public boolean getAutoCommit() throws SQLException {
        checkOpen();
        return session.autoCommit();
    }

    @Override
    public void commit() throws SQLException {
        checkOpen();
        checkInTransaction("commit");
        try {
            session.commitByApplication();
        } catch (RuntimeException e) {
            throw SqlStates.internal(e);
        }
    }

    @Override
    public void rollback() throws SQLException {
        checkOpen();
        checkInTransaction("rollback");
        try {
            session.rollbackByApplication();
        } catch (RuntimeException e) {
            throw SqlStates.internal(e);
        }
    }

    /** As pgjdbc: {@code commit()} and {@code rollback()} in autocommit mode are the application's mistake. */
    private void checkInTransaction(String what) throws SQLException {
        if (session.autoCommit()) {
            throw new SQLException("Cannot " + what + " when autoCommit is enabled.", SqlStates.NO_ACTIVE_TRANSACTION);
        }
    }

    @Override
    public Savepoint setSavepoint() throws SQLException {
        return savepoint(new ShardlineSavepoint(++savepoints, null));
    }

    @Override
    public Savepoint setSavepoint(String name) throws SQLException {
        if (name == null) {
            throw new SQLException("a savepoint's name must not be null", SqlStates.INVALID_PARAMETER);
        }
        return savepoint(new ShardlineSavepoint(0, name));
    }

    private Savepoint savepoint(ShardlineSavepoint savepoint) throws SQLException {
        savepointSql("setSavepoint", "SAVEPOINT ", savepoint);
        return savepoint;
    }

    @Override
    public void rollback(Savepoint savepoint) throws SQLException {
        savepointSql("rollback(Savepoint)", "ROLLBACK TO SAVEPOINT ", savepoint);
    }

    @Override
    public void releaseSavepoint(Savepoint savepoint) throws SQLException {
        savepointSql("releaseSavepoint", "RELEASE SAVEPOINT ", savepoint);
        ((ShardlineSavepoint) savepoint).released();
    }

    /**
     * The JDBC savepoint calls, as the SQL statements they stand for: routed, kept for the transaction's first
     * statement, and followed (the settings a rollback to the savepoint undoes) as the SQL is.
     *
     * @throws SQLException 25P01 in autocommit mode; 22023 for a savepoint this driver did not make; 3B001 for one not
     *     set in this transaction
     */
    private void savepointSql(String what, String command, Savepoint savepoint) throws SQLException {
        checkOpen();
        if (session.autoCommit()) {
            throw new SQLException(
                    what + " needs a transaction: call setAutoCommit(false) first", SqlStates.NO_ACTIVE_TRANSACTION);
        }
        if (!(savepoint instanceof ShardlineSavepoint ours)) {
            throw new SQLException(
                    what + " was given a savepoint this driver did not make: " + savepoint,
                    SqlStates.INVALID_PARAMETER);
        }
        if (!command.startsWith("SAVEPOINT") && !session.hasSavepoint(ours.pgName())) {
            // not sent: kept for the next transaction's first statement, it would fail that transaction instead
            throw new SQLException(
                    what + ": the savepoint " + ours.sqlName() + " was not set in this transaction", "3B001");
        }
        try (Statement s = createStatement()) {
            s.execute(command + ours.sqlName());
        }
    }

    /**
     * Closes its statements, rolls back an open transaction and hands every physical connection back to its pool,
     * reset for the next borrower; the runtime closes shortly after its last connection.
     */
    @Override
    public void close() throws SQLException {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        session.cancelCopy();
        SQLException failure = null;
        for (LogicalStatement s : new ArrayList<>(statements)) {
            try {
                s.close();
            } catch (SQLException e) {
                failure = failure == null ? e : failure;
            }
        }
        SQLException released = session.close();
        runtimes.release(runtime);
        failure = failure == null ? released : failure;
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public boolean isClosed() {
        return closed.get();
    }

    /**
     * pgjdbc's metadata, but for the connection and the URL. The driver's name is pgjdbc's own ("PostgreSQL JDBC
     * Driver"): frameworks take pgjdbc's paths by it (Spring binds a null without asking the parameter's type — a
     * round trip to a primary per null otherwise; Hibernate takes pgjdbc's PGobject types); {@link #getURL} tells it
     * is Shardline.
     */
    @Override
    public DatabaseMetaData getMetaData() throws SQLException {
        DatabaseMetaData physical = objectConnection().getMetaData();
        return (DatabaseMetaData) Proxy.newProxyInstance(
                DatabaseMetaData.class.getClassLoader(),
                new Class<?>[] {DatabaseMetaData.class},
                (proxy, method, args) -> {
                    switch (method.getName()) {
                        case "getConnection":
                            return this;
                        case "getURL":
                            return url;
                        default:
                            try {
                                return method.invoke(physical, args);
                            } catch (InvocationTargetException e) {
                                throw e.getCause();
                            }
                    }
                });
    }

    @Override
    public void setReadOnly(boolean readOnly) throws SQLException {
        checkOpen();
        session.setReadOnly(readOnly);
    }

    @Override
    public boolean isReadOnly() throws SQLException {
        checkOpen();
        return session.readOnly();
    }

    @Override
    public void setCatalog(String catalog) throws SQLException {
        checkOpen();
    }

    @Override
    public String getCatalog() throws SQLException {
        return runtime.routing().snapshot().topology().database();
    }

    @Override
    public void setTransactionIsolation(int level) throws SQLException {
        checkOpen();
        if (level == Connection.TRANSACTION_NONE) {
            throw new SQLException(
                    "transaction isolation level NONE is not supported: PostgreSQL always runs in a transaction",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        if (level != Connection.TRANSACTION_READ_UNCOMMITTED
                && level != Connection.TRANSACTION_READ_COMMITTED
                && level != Connection.TRANSACTION_REPEATABLE_READ
                && level != Connection.TRANSACTION_SERIALIZABLE) {
            // as pgjdbc refuses it, at the call: kept, it failed at a later transaction's first statement
            throw new SQLException(
                    "transaction isolation level " + level + " is not a JDBC level (1, 2, 4 or 8)",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        session.setTransactionIsolation(level);
    }

    @Override
    public int getTransactionIsolation() throws SQLException {
        checkOpen();
        return session.transactionIsolation();
    }

    @Override
    public SQLWarning getWarnings() throws SQLException {
        checkOpen();
        return null;
    }

    @Override
    public void clearWarnings() throws SQLException {
        checkOpen();
    }

    @Override
    public Map<String, Class<?>> getTypeMap() throws SQLException {
        return typeMap;
    }

    @Override
    public void setTypeMap(Map<String, Class<?>> map) throws SQLException {
        typeMap = map;
    }

    @Override
    public void setHoldability(int holdability) throws SQLException {
        this.holdability = holdability;
    }

    @Override
    public int getHoldability() throws SQLException {
        return holdability;
    }

    @Override
    public Clob createClob() throws SQLException {
        throw largeObjects("createClob");
    }

    @Override
    public Blob createBlob() throws SQLException {
        throw largeObjects("createBlob");
    }

    @Override
    public NClob createNClob() throws SQLException {
        throw largeObjects("createNClob");
    }

    /** As pgjdbc, which does not implement them: a large object would live on one node only. */
    private SQLFeatureNotSupportedException largeObjects(String method) throws SQLException {
        checkOpen();
        return new SQLFeatureNotSupportedException(
                method + " is not supported (pgjdbc does not implement it): bind the value with setBytes/setString or"
                        + " a stream",
                SqlStates.FEATURE_NOT_SUPPORTED);
    }

    @Override
    public SQLXML createSQLXML() throws SQLException {
        return objectConnection().createSQLXML();
    }

    @Override
    public boolean isValid(int timeout) throws SQLException {
        if (timeout < 0) {
            throw new SQLException(
                    "isValid's timeout must be 0 or more seconds, not " + timeout, SqlStates.INVALID_PARAMETER);
        }
        if (closed.get() || session.bindingBroken() || session.copying()) {
            return false; // a COPY left open keeps its connections busy
        }
        try {
            return session.validate(timeout);
        } catch (SQLException | RuntimeException e) {
            return false; // a connection used by another thread meanwhile included
        }
    }

    @Override
    public void setClientInfo(String name, String value) throws SQLClientInfoException {
        if ("ApplicationName".equals(name)) {
            // as pgjdbc does: the server's application_name, here on every node the connection uses (set also when
            // it seems unchanged: a SQL SET may have changed it since)
            try (Statement s = createStatement()) {
                s.execute("SET application_name = "
                        + io.shardline.router.exec.Session.literal(value == null ? "" : value));
            } catch (SQLException e) {
                throw new SQLClientInfoException(
                        "ApplicationName could not be set: " + e.getMessage(),
                        e.getSQLState(),
                        Map.of(name, java.sql.ClientInfoStatus.REASON_UNKNOWN),
                        e);
            }
        }
        clientInfo.put(name, value);
    }

    @Override
    public void setClientInfo(Properties properties) throws SQLClientInfoException {
        for (String name : properties.stringPropertyNames()) {
            setClientInfo(name, properties.getProperty(name));
        }
    }

    @Override
    public String getClientInfo(String name) throws SQLException {
        checkOpen();
        if ("ApplicationName".equals(name)) {
            return applicationName();
        }
        return clientInfo.get(name);
    }

    /** The session's {@code application_name} (a SQL SET may have changed it), as pgjdbc answers it from the server. */
    private String applicationName() {
        try (Statement s = createStatement();
                ResultSet rs = s.executeQuery("SHOW application_name")) {
            if (rs.next()) {
                return rs.getString(1);
            }
        } catch (SQLException e) {
            // a failed transaction refuses SHOW: what was set through the client info
        }
        return clientInfo.get("ApplicationName");
    }

    @Override
    public Properties getClientInfo() throws SQLException {
        checkOpen();
        Properties p = new Properties();
        clientInfo.forEach((k, v) -> {
            if (v != null) {
                p.setProperty(k, v);
            }
        });
        p.setProperty("ApplicationName", applicationName());
        return p;
    }

    @Override
    public Array createArrayOf(String typeName, Object[] elements) throws SQLException {
        return objectConnection().createArrayOf(typeName, elements);
    }

    @Override
    public Struct createStruct(String typeName, Object[] attributes) throws SQLException {
        return objectConnection().createStruct(typeName, attributes);
    }

    @Override
    public void setSchema(String schema) throws SQLException {
        checkOpen();
        if (schema == null) {
            // as pgjdbc: the default path
            session.applyToSession("RESET", "search_path", "RESET search_path", false);
            return;
        }
        String sql = "SET search_path TO \"" + schema.replace("\"", "\"\"") + "\"";
        session.applyToSession("SET", "search_path", sql, false);
    }

    @Override
    public String getSchema() throws SQLException {
        return objectConnection().getSchema();
    }

    @Override
    public void abort(Executor executor) throws SQLException {
        if (executor == null) {
            throw new SQLException("abort: the executor is null", "22023");
        }
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        // from any thread, while a statement may run: its physical connections are cut, not reset and handed back
        session.abort(executor);
        runtimes.release(runtime);
    }

    @Override
    public void setNetworkTimeout(Executor executor, int milliseconds) throws SQLException {
        checkOpen();
        if (milliseconds < 0) {
            throw new SQLException(
                    "setNetworkTimeout: the timeout is 0 (none) or more milliseconds, not " + milliseconds, "22023");
        }
        session.setNetworkTimeout(executor, milliseconds);
    }

    @Override
    public int getNetworkTimeout() throws SQLException {
        checkOpen();
        int set = session.networkTimeout();
        return set >= 0 ? set : session.defaultNetworkTimeout();
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        if (iface.isInstance(this)) {
            return iface.cast(this);
        }
        checkOpen();
        if (iface == PGConnection.class) {
            return iface.cast(pgConnection());
        }
        return session.boundConnection("unwrap(" + iface.getSimpleName() + ")").unwrap(iface);
    }

    /**
     * pgjdbc's {@link PGConnection} of this logical connection: its COPY API ({@link ShardlineCopyManager}) sends the
     * rows of {@code COPY table FROM STDIN} to their shards; every other method runs on the connection's binding
     * ({@code forKey}, or the shard of its transaction) and fails without one. It is also a {@link BaseConnection}
     * (and so a {@link Connection}), as pgjdbc's own is: code casts it so.
     */
    private PGConnection pgConnection() {
        return (PGConnection) Proxy.newProxyInstance(
                BaseConnection.class.getClassLoader(), new Class<?>[] {BaseConnection.class}, (proxy, method, args) -> {
                    switch (method.getName()) {
                        case "getCopyAPI":
                            return new ShardlineCopyManager(this);
                        case "equals":
                            return proxy == args[0];
                        case "hashCode":
                            return System.identityHashCode(proxy);
                        case "toString":
                            return "PGConnection of " + this;
                        default:
                            checkOpen();
                            BaseConnection bound;
                            try {
                                bound = session.boundConnection(
                                                "PGConnection." + method.getName() + " through unwrap(PGConnection)")
                                        .unwrap(BaseConnection.class);
                            } catch (SQLException e) {
                                if (java.util.Arrays.asList(method.getExceptionTypes())
                                        .contains(SQLException.class)) {
                                    throw e;
                                }
                                throw new IllegalStateException(e.getMessage(), e); // as getBackendPID() cannot say
                            }
                            try {
                                return method.invoke(bound, args);
                            } catch (InvocationTargetException e) {
                                throw e.getCause();
                            }
                    }
                });
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) throws SQLException {
        return iface.isInstance(this) || (!closed.get() && (iface == PGConnection.class || session.boundWraps(iface)));
    }

    void checkOpen() throws SQLException {
        if (closed.get()) {
            throw new SQLException("this Shardline connection is closed", SqlStates.CONNECTION_DOES_NOT_EXIST);
        }
    }
}
