package io.shardline.router.jdbc;

import io.shardline.router.SqlStates;
import io.shardline.router.exec.Dispatcher;
import io.shardline.router.exec.Physical;
import io.shardline.router.route.RoutingState;
import io.shardline.router.sql.Plan;
import io.shardline.router.sql.SearchPath;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.StringReader;
import java.math.BigDecimal;
import java.net.URL;
import java.sql.Array;
import java.sql.Blob;
import java.sql.Clob;
import java.sql.Connection;
import java.sql.Date;
import java.sql.NClob;
import java.sql.ParameterMetaData;
import java.sql.PreparedStatement;
import java.sql.Ref;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.RowId;
import java.sql.SQLException;
import java.sql.SQLType;
import java.sql.SQLXML;
import java.sql.Statement;
import java.sql.Time;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Calendar;
import java.util.List;

/**
 * A prepared statement of a {@link LogicalConnection}. The SQL is analyzed once per routing state (a topology change
 * analyzes it again, so its plan and the ring it is routed by always come from the same snapshot); each execution
 * routes by the current parameter values and replays them on a physical prepared statement of the chosen node,
 * created once per node, so pgjdbc's server-side prepare works as usual.
 */
final class LogicalPreparedStatement extends LogicalStatement implements PreparedStatement {
    /**
     * Sets one parameter on a physical statement: {@code value} is the one kept for routing (null for the types that
     * are no key), which the common setters' shared binders read, so that setting them makes no object.
     */
    interface Binder {
        void bind(PreparedStatement ps, int index, Object value) throws SQLException;
    }

    private static final Binder LONG = (ps, j, v) -> ps.setLong(j, (Long) v);
    private static final Binder INT = (ps, j, v) -> ps.setInt(j, (Integer) v);
    private static final Binder STRING = (ps, j, v) -> ps.setString(j, (String) v);
    private static final Binder OBJECT = (ps, j, v) -> ps.setObject(j, v);

    private record Row(Object[] values, Binder[] binders) {}

    private final String sql;
    private RoutingState planned;
    private SearchPath plannedPath;
    private Plan plan;
    private final List<Row> batch = new ArrayList<>();
    /** Parameter values by index (1-based), for routing; non-key types are stored as null. */
    private final Object[] values;

    private final Binder[] binders;
    private boolean parametersCleared;

    LogicalPreparedStatement(LogicalConnection connection, StatementOptions options, String sql) {
        super(connection, options);
        this.sql = sql;
        this.planned = connection.session().runtime().routing();
        this.plannedPath = connection.session().searchPath();
        this.plan = updatable() ? planned.plan(sql, plannedPath).readOnPrimary() : planned.plan(sql, plannedPath);
        // pgjdbc's count may exceed the analysis' (a JDBC escape it expands, a comment or string it reads otherwise):
        // an index is refused only past every ? of the text
        int count = Math.max(plan.parameterCount(), questionMarks(sql));
        this.values = new Object[count + 1];
        this.binders = new Binder[count + 1];
        // as the JDBC specification and pgjdbc: prepared statements are poolable by default
        options.poolable = true;
    }

    /**
     * The plan by routing state {@code r}: analyzed again only when the topology changed, DDL ran or the session's
     * search path changed since the last one.
     */
    @Override
    public Plan plan(RoutingState r, String text) {
        SearchPath path = connection.session().searchPath();
        if (r != planned || path != plannedPath) {
            plan = updatable() ? r.plan(sql, path).readOnPrimary() : r.plan(sql, path);
            planned = r;
            plannedPath = path;
        }
        return plan;
    }

    private <T> T routedPrepared(Dispatcher.Op<T> op, Dispatcher.Handled<T> handled) throws SQLException {
        checkOpen();
        checkParametersSet();
        closeForNextExecution();
        return dispatcher.run(sql, values, op, handled);
    }

    /**
     * As pgjdbc, a parameter never set is the application's error, found before anything runs (22023): routed, its
     * key would be taken for NULL, and a refusal there would fail the application's transaction.
     */
    private void checkParametersSet() throws SQLException {
        int count = Math.min(plan.parameterCount(), binders.length - 1);
        for (int i = 1; i <= count; i++) {
            if (binders[i] == null) {
                throw new SQLException("No value specified for parameter " + i + ".", SqlStates.INVALID_PARAMETER);
            }
        }
    }

    @Override
    public Statement create(Physical p) throws SQLException {
        return create(p, sql);
    }

    @Override
    public Statement create(Physical p, String sql) throws SQLException {
        Connection c = p.connection();
        PreparedStatement ps;
        if (options.columnIndexes != null) {
            ps = c.prepareStatement(sql, options.columnIndexes);
        } else if (options.columnNames != null) {
            ps = c.prepareStatement(sql, options.columnNames);
        } else if (options.autoGeneratedKeys != Statement.NO_GENERATED_KEYS) {
            ps = c.prepareStatement(sql, options.autoGeneratedKeys);
        } else {
            ps = c.prepareStatement(sql, options.resultSetType, options.concurrency, options.holdability);
        }
        options.applyTo(ps);
        return ps;
    }

    @Override
    public boolean generatedKeys() {
        // empty column lists ask for nothing, as pgjdbc takes them
        return options.columnIndexes != null && options.columnIndexes.length > 0
                || options.columnNames != null && options.columnNames.length > 0
                || options.autoGeneratedKeys != Statement.NO_GENERATED_KEYS;
    }

    @Override
    public void bind(Statement s) throws SQLException {
        bind((PreparedStatement) s, values, binders);
    }

    @Override
    public boolean prepared() {
        return true;
    }

    private void bind(PreparedStatement ps, Object[] vs, Binder[] bs) throws SQLException {
        if (parametersCleared) {
            ps.clearParameters();
        }
        for (int i = 1; i < bs.length; i++) {
            if (bs[i] != null) {
                bs[i].bind(ps, i, vs[i]);
            }
        }
    }

    /** Binds this statement's parameter {@code original} at {@code index} of another statement (cross-shard). */
    @Override
    public void bindAt(PreparedStatement ps, int index, int original) throws SQLException {
        Binder b = original < binders.length ? binders[original] : null;
        if (b == null) {
            throw new SQLException("no value specified for parameter " + original, "22023");
        }
        b.bind(ps, index, values[original]);
    }

    /**
     * A copy of a value the application may change after setting it (a buffer it refills, a {@code Timestamp} it
     * reuses): pgjdbc turns them into their wire form when set, while this statement binds them when it runs, on
     * each node it runs on, and for every row of a batch.
     */
    @SuppressWarnings("unchecked")
    private static <T> T kept(T x) {
        if (x instanceof byte[] b) {
            return (T) b.clone();
        } else if (x instanceof java.util.Date d) {
            return (T) d.clone();
        } else if (x instanceof Calendar c) {
            return (T) c.clone();
        } else if (x instanceof Object[] a) {
            return (T) a.clone();
        } else if (x instanceof int[] a) {
            return (T) a.clone();
        } else if (x instanceof long[] a) {
            return (T) a.clone();
        } else if (x instanceof short[] a) {
            return (T) a.clone();
        } else if (x instanceof double[] a) {
            return (T) a.clone();
        } else if (x instanceof float[] a) {
            return (T) a.clone();
        } else if (x instanceof boolean[] a) {
            return (T) a.clone();
        }
        return x;
    }

    /** Binds a stream parameter's contents, read when it was set, as a new stream on each physical statement. */
    private interface StreamBinder<S> {
        void bind(PreparedStatement ps, int index, S contents) throws SQLException;
    }

    /** The length of a stream parameter read to its end. */
    private static final long UNTIL_END = -1;

    private static long checkedLength(int index, long length) throws SQLException {
        if (length < 0) {
            throw new SQLException("invalid stream length " + length + " for parameter " + index, "22023");
        }
        if (length > Integer.MAX_VALUE - 8) {
            throw new SQLException(
                    "the stream of parameter " + index + " is too large to send (" + length + " bytes)", "54000");
        }
        return length;
    }

    /**
     * Sets a stream parameter, read in full now: the statement may run on several nodes (a reference table's copies,
     * a two-phase write) or again (a batch replayed at a move's cutover), and a stream can be read once. pgjdbc reads a
     * character stream in full when it is set too. The declared length goes to pgjdbc unchanged, so a stream shorter
     * than it fails there as it would with pgjdbc.
     */
    private void setStream(int index, InputStream x, long length, StreamBinder<InputStream> binder)
            throws SQLException {
        checkIndex(index);
        if (x == null) {
            set(index, null, (ps, j, v) -> binder.bind(ps, j, null));
            return;
        }
        byte[] contents;
        try {
            contents = length == UNTIL_END ? x.readAllBytes() : x.readNBytes((int) length);
        } catch (IOException e) {
            throw unreadable(index, e);
        }
        set(index, null, (ps, j, v) -> binder.bind(ps, j, new ByteArrayInputStream(contents)));
    }

    /** {@link #setStream} for a character stream. */
    private void setReader(int index, Reader x, long length, StreamBinder<Reader> binder) throws SQLException {
        checkIndex(index);
        if (x == null) {
            set(index, null, (ps, j, v) -> binder.bind(ps, j, null));
            return;
        }
        StringBuilder read = new StringBuilder();
        char[] buffer = new char[8192];
        long left = length == UNTIL_END ? Long.MAX_VALUE : length;
        try {
            int n;
            while (left > 0 && (n = x.read(buffer, 0, (int) Math.min(buffer.length, left))) != -1) {
                read.append(buffer, 0, n);
                left -= n;
            }
        } catch (IOException e) {
            throw unreadable(index, e);
        }
        String contents = read.toString();
        set(index, null, (ps, j, v) -> binder.bind(ps, j, new StringReader(contents)));
    }

    /** A setter pgjdbc does not implement: refused when called, as pgjdbc refuses it, before its stream is read. */
    private SQLException notInPgjdbc(String method, String instead) throws SQLException {
        checkOpen();
        return new java.sql.SQLFeatureNotSupportedException(
                method + " is not implemented by pgjdbc: use " + instead, SqlStates.FEATURE_NOT_SUPPORTED);
    }

    private static SQLException unreadable(int index, IOException e) {
        return new SQLException(
                "the stream of parameter " + index + " could not be read: " + e.getMessage(), "58030", e);
    }

    /** As pgjdbc: an index outside the statement's {@code ?} placeholders is refused when set (22023). */
    private void checkIndex(int index) throws SQLException {
        checkOpen();
        int count = binders.length - 1;
        if (index < 1 || index > count) {
            throw new SQLException(
                    "The column index is out of range: " + index + ", number of columns: " + count + ".",
                    SqlStates.INVALID_PARAMETER);
        }
    }

    private void set(int index, Object keyValue, Binder binder) throws SQLException {
        checkIndex(index);
        values[index] = keyValue;
        binders[index] = binder;
    }

    @Override
    public ResultSet executeQuery() throws SQLException {
        return view(routedPrepared(s -> ((PreparedStatement) s).executeQuery(), LogicalStatement::resultOrFail));
    }

    @Override
    public int executeUpdate() throws SQLException {
        return routedPrepared(s -> ((PreparedStatement) s).executeUpdate(), LogicalStatement::noRows);
    }

    @Override
    public long executeLargeUpdate() throws SQLException {
        return routedPrepared(s -> ((PreparedStatement) s).executeLargeUpdate(), LogicalStatement::noLargeRows);
    }

    @Override
    public boolean execute() throws SQLException {
        return routedPrepared(s -> ((PreparedStatement) s).execute(), LogicalStatement::returnedRows);
    }

    @Override
    public void clearParameters() throws SQLException {
        checkOpen();
        Arrays.fill(values, null);
        Arrays.fill(binders, null);
        parametersCleared = true;
    }

    @Override
    public void addBatch() throws SQLException {
        checkOpen();
        batch.add(new Row(values.clone(), binders.clone()));
    }

    @Override
    public void clearBatch() throws SQLException {
        batch.clear();
    }

    /**
     * Routes every row by one routing state and sends each node's rows as one physical batch (see {@link
     * Dispatcher#batch}); the counts come back in the order the rows were added.
     */
    @Override
    public int[] executeBatch() throws SQLException {
        checkOpen();
        closeForNextExecution();
        try {
            List<Object[]> rows = new ArrayList<>(batch.size());
            batch.forEach(row -> rows.add(row.values()));
            return dispatcher.batch(
                    sql,
                    rows,
                    (ps, row) ->
                            bind(ps, batch.get(row).values(), batch.get(row).binders()));
        } finally {
            batch.clear();
        }
    }

    @Override
    public ResultSetMetaData getMetaData() throws SQLException {
        return metadataStatement().getMetaData();
    }

    @Override
    public ParameterMetaData getParameterMetaData() throws SQLException {
        return metadataStatement().getParameterMetaData();
    }

    /** A physical statement to describe the SQL: the routed one if it ran, else the home primary's. */
    private PreparedStatement metadataStatement() throws SQLException {
        checkOpen();
        return dispatcher.describer();
    }

    @Override
    public ResultSet executeQuery(String sql) throws SQLException {
        throw new SQLException("executeQuery(String) cannot be called on a PreparedStatement", "42809");
    }

    @Override
    public int executeUpdate(String sql) throws SQLException {
        throw new SQLException("executeUpdate(String) cannot be called on a PreparedStatement", "42809");
    }

    @Override
    public boolean execute(String sql) throws SQLException {
        throw new SQLException("execute(String) cannot be called on a PreparedStatement", "42809");
    }

    @Override
    public long executeLargeUpdate(String sql) throws SQLException {
        throw notOnPrepared("executeLargeUpdate");
    }

    @Override
    public int executeUpdate(String sql, int autoGeneratedKeys) throws SQLException {
        throw notOnPrepared("executeUpdate");
    }

    @Override
    public int executeUpdate(String sql, int[] columnIndexes) throws SQLException {
        throw notOnPrepared("executeUpdate");
    }

    @Override
    public int executeUpdate(String sql, String[] columnNames) throws SQLException {
        throw notOnPrepared("executeUpdate");
    }

    @Override
    public boolean execute(String sql, int autoGeneratedKeys) throws SQLException {
        throw notOnPrepared("execute");
    }

    @Override
    public boolean execute(String sql, int[] columnIndexes) throws SQLException {
        throw notOnPrepared("execute");
    }

    @Override
    public boolean execute(String sql, String[] columnNames) throws SQLException {
        throw notOnPrepared("execute");
    }

    @Override
    public long executeLargeUpdate(String sql, int autoGeneratedKeys) throws SQLException {
        throw notOnPrepared("executeLargeUpdate");
    }

    @Override
    public long executeLargeUpdate(String sql, int[] columnIndexes) throws SQLException {
        throw notOnPrepared("executeLargeUpdate");
    }

    @Override
    public long executeLargeUpdate(String sql, String[] columnNames) throws SQLException {
        throw notOnPrepared("executeLargeUpdate");
    }

    /** JDBC: the SQL-taking methods of Statement are refused on a PreparedStatement (its own SQL would be routed). */
    private static SQLException notOnPrepared(String method) {
        return new SQLException(method + "(String, ...) cannot be called on a PreparedStatement", "42809");
    }

    @Override
    public void addBatch(String sql) throws SQLException {
        throw new SQLException("addBatch(String) cannot be called on a PreparedStatement", "42809");
    }

    @Override
    public void setNull(int i, int sqlType) throws SQLException {
        set(i, null, (ps, j, v) -> ps.setNull(j, sqlType));
    }

    @Override
    public void setNull(int i, int sqlType, String typeName) throws SQLException {
        set(i, null, (ps, j, v) -> ps.setNull(j, sqlType, typeName));
    }

    @Override
    public void setBoolean(int i, boolean x) throws SQLException {
        set(i, x, (ps, j, v) -> ps.setBoolean(j, x));
    }

    @Override
    public void setByte(int i, byte x) throws SQLException {
        set(i, x, (ps, j, v) -> ps.setByte(j, x));
    }

    @Override
    public void setShort(int i, short x) throws SQLException {
        set(i, x, (ps, j, v) -> ps.setShort(j, x));
    }

    @Override
    public void setInt(int i, int x) throws SQLException {
        set(i, x, INT);
    }

    @Override
    public void setLong(int i, long x) throws SQLException {
        set(i, x, LONG);
    }

    @Override
    public void setFloat(int i, float x) throws SQLException {
        set(i, x, (ps, j, v) -> ps.setFloat(j, x));
    }

    @Override
    public void setDouble(int i, double x) throws SQLException {
        set(i, x, (ps, j, v) -> ps.setDouble(j, x));
    }

    @Override
    public void setBigDecimal(int i, BigDecimal x) throws SQLException {
        set(i, x, (ps, j, v) -> ps.setBigDecimal(j, x));
    }

    @Override
    public void setString(int i, String x) throws SQLException {
        set(i, x, STRING);
    }

    @Override
    public void setNString(int i, String x) throws SQLException {
        set(i, x, (ps, j, v) -> ps.setNString(j, x));
    }

    @Override
    public void setBytes(int i, byte[] x) throws SQLException {
        byte[] copy = kept(x);
        set(i, null, (ps, j, v) -> ps.setBytes(j, copy));
    }

    @Override
    public void setDate(int i, Date x) throws SQLException {
        Date copy = kept(x);
        set(i, null, (ps, j, v) -> ps.setDate(j, copy));
    }

    @Override
    public void setDate(int i, Date x, Calendar cal) throws SQLException {
        Date copy = kept(x);
        Calendar calendar = kept(cal);
        set(i, null, (ps, j, v) -> ps.setDate(j, copy, calendar));
    }

    @Override
    public void setTime(int i, Time x) throws SQLException {
        Time copy = kept(x);
        set(i, null, (ps, j, v) -> ps.setTime(j, copy));
    }

    @Override
    public void setTime(int i, Time x, Calendar cal) throws SQLException {
        Time copy = kept(x);
        Calendar calendar = kept(cal);
        set(i, null, (ps, j, v) -> ps.setTime(j, copy, calendar));
    }

    @Override
    public void setTimestamp(int i, Timestamp x) throws SQLException {
        Timestamp copy = kept(x);
        set(i, null, (ps, j, v) -> ps.setTimestamp(j, copy));
    }

    @Override
    public void setTimestamp(int i, Timestamp x, Calendar cal) throws SQLException {
        Timestamp copy = kept(x);
        Calendar calendar = kept(cal);
        set(i, null, (ps, j, v) -> ps.setTimestamp(j, copy, calendar));
    }

    @Override
    public void setAsciiStream(int i, InputStream x, int length) throws SQLException {
        setStream(i, x, checkedLength(i, length), (ps, j, contents) -> ps.setAsciiStream(j, contents, length));
    }

    @Override
    public void setAsciiStream(int i, InputStream x, long length) throws SQLException {
        throw notInPgjdbc("setAsciiStream(int, InputStream, long)", "setAsciiStream(int, InputStream, int)");
    }

    @Override
    public void setAsciiStream(int i, InputStream x) throws SQLException {
        throw notInPgjdbc("setAsciiStream(int, InputStream)", "setAsciiStream(int, InputStream, int)");
    }

    @Override
    public void setBinaryStream(int i, InputStream x, int length) throws SQLException {
        setStream(i, x, checkedLength(i, length), (ps, j, contents) -> ps.setBinaryStream(j, contents, length));
    }

    @Override
    public void setBinaryStream(int i, InputStream x, long length) throws SQLException {
        setStream(i, x, checkedLength(i, length), (ps, j, contents) -> ps.setBinaryStream(j, contents, length));
    }

    @Override
    public void setBinaryStream(int i, InputStream x) throws SQLException {
        setStream(i, x, UNTIL_END, (ps, j, contents) -> ps.setBinaryStream(j, contents));
    }

    @Override
    public void setCharacterStream(int i, Reader x, int length) throws SQLException {
        setReader(i, x, checkedLength(i, length), (ps, j, contents) -> ps.setCharacterStream(j, contents, length));
    }

    @Override
    public void setCharacterStream(int i, Reader x, long length) throws SQLException {
        throw notInPgjdbc("setCharacterStream(int, Reader, long)", "setCharacterStream(int, Reader, int)");
    }

    @Override
    public void setCharacterStream(int i, Reader x) throws SQLException {
        setReader(i, x, UNTIL_END, (ps, j, contents) -> ps.setCharacterStream(j, contents));
    }

    @Override
    public void setNCharacterStream(int i, Reader x, long length) throws SQLException {
        throw notInPgjdbc("setNCharacterStream(int, Reader, long)", "setCharacterStream(int, Reader, int)");
    }

    @Override
    public void setNCharacterStream(int i, Reader x) throws SQLException {
        throw notInPgjdbc("setNCharacterStream(int, Reader)", "setCharacterStream(int, Reader)");
    }

    @Override
    public void setObject(int i, Object x, int targetSqlType) throws SQLException {
        Object copy = kept(x);
        set(i, routingValue(copy, targetSqlType), (ps, j, v) -> ps.setObject(j, copy, targetSqlType));
    }

    /**
     * The value a key parameter set with a target SQL type has on the server, as pgjdbc converts it: a number with a
     * fraction sent as an integer type is truncated ({@code Number.longValue()}), a {@code double} sent as {@code
     * NUMERIC} is that decimal (rounded half away from zero into a bigint, not half to even as a float8); a string
     * sent as {@code CHAR} is a {@code bpchar} ({@code bpchar} false: an untyped literal, inlined), whose trailing
     * blanks PostgreSQL drops as it becomes the key's text.
     */
    static Object routingValue(Object x, int targetSqlType, boolean bpchar) {
        if (bpchar && targetSqlType == Types.CHAR && x instanceof String text) {
            int end = text.length();
            while (end > 0 && text.charAt(end - 1) == ' ') {
                end--;
            }
            return text.substring(0, end);
        }
        if (!(x instanceof Number n)
                || x instanceof Long
                || x instanceof Integer
                || x instanceof Short
                || x instanceof Byte
                || x instanceof java.math.BigInteger) {
            return x;
        }
        switch (targetSqlType) {
            case Types.BIGINT:
            case Types.INTEGER:
            case Types.SMALLINT:
            case Types.TINYINT:
                return n.longValue();
            case Types.NUMERIC:
            case Types.DECIMAL:
                return x instanceof java.math.BigDecimal ? x : new java.math.BigDecimal(n.toString());
            default:
                return x;
        }
    }

    private Object routingValue(Object x, int targetSqlType) {
        return routingValue(x, targetSqlType, targetSqlType == Types.CHAR && bpchar());
    }

    private Object routingValue(Object x, SQLType targetSqlType) {
        return targetSqlType instanceof java.sql.JDBCType t && t.getVendorTypeNumber() != null
                ? routingValue(x, t.getVendorTypeNumber())
                : x;
    }

    /** Whether a {@code CHAR} parameter reaches the server as a {@code bpchar} (not inlined by the simple protocol). */
    private boolean bpchar() {
        return !connection.session().runtime().inlinesParameters();
    }

    /** The {@code ?} in {@code sql}: made for every statement prepared (kits prepare one per execution). */
    private static int questionMarks(String sql) {
        int count = 0;
        for (int i = sql.indexOf('?'); i >= 0; i = sql.indexOf('?', i + 1)) {
            count++;
        }
        return count;
    }

    @Override
    public void setObject(int i, Object x) throws SQLException {
        set(i, kept(x), OBJECT);
    }

    @Override
    public void setObject(int i, Object x, int targetSqlType, int scaleOrLength) throws SQLException {
        Object copy = kept(x);
        set(i, routingValue(copy, targetSqlType), (ps, j, v) -> ps.setObject(j, copy, targetSqlType, scaleOrLength));
    }

    @Override
    public void setObject(int i, Object x, SQLType targetSqlType, int scaleOrLength) throws SQLException {
        Object copy = kept(x);
        set(i, routingValue(copy, targetSqlType), (ps, j, v) -> ps.setObject(j, copy, targetSqlType, scaleOrLength));
    }

    @Override
    public void setObject(int i, Object x, SQLType targetSqlType) throws SQLException {
        Object copy = kept(x);
        set(i, routingValue(copy, targetSqlType), (ps, j, v) -> ps.setObject(j, copy, targetSqlType));
    }

    @Override
    public void setRef(int i, Ref x) throws SQLException {
        set(i, null, (ps, j, v) -> ps.setRef(j, x));
    }

    @Override
    public void setBlob(int i, Blob x) throws SQLException {
        set(i, null, (ps, j, v) -> ps.setBlob(j, x));
    }

    @Override
    public void setBlob(int i, InputStream x, long length) throws SQLException {
        setStream(i, x, checkedLength(i, length), (ps, j, contents) -> ps.setBlob(j, contents, length));
    }

    @Override
    public void setBlob(int i, InputStream x) throws SQLException {
        setStream(i, x, UNTIL_END, (ps, j, contents) -> ps.setBlob(j, contents));
    }

    @Override
    public void setClob(int i, Clob x) throws SQLException {
        set(i, null, (ps, j, v) -> ps.setClob(j, x));
    }

    @Override
    public void setClob(int i, Reader x, long length) throws SQLException {
        throw notInPgjdbc("setClob(int, Reader, long)", "setCharacterStream(int, Reader, int)");
    }

    @Override
    public void setClob(int i, Reader x) throws SQLException {
        throw notInPgjdbc("setClob(int, Reader)", "setCharacterStream(int, Reader)");
    }

    @Override
    public void setNClob(int i, NClob x) throws SQLException {
        set(i, null, (ps, j, v) -> ps.setNClob(j, x));
    }

    @Override
    public void setNClob(int i, Reader x, long length) throws SQLException {
        throw notInPgjdbc("setNClob(int, Reader, long)", "setCharacterStream(int, Reader, int)");
    }

    @Override
    public void setNClob(int i, Reader x) throws SQLException {
        throw notInPgjdbc("setNClob(int, Reader)", "setCharacterStream(int, Reader)");
    }

    @Override
    public void setArray(int i, Array x) throws SQLException {
        set(i, null, (ps, j, v) -> ps.setArray(j, x));
    }

    @Override
    public void setURL(int i, URL x) throws SQLException {
        set(i, null, (ps, j, v) -> ps.setURL(j, x));
    }

    @Override
    public void setRowId(int i, RowId x) throws SQLException {
        set(i, null, (ps, j, v) -> ps.setRowId(j, x));
    }

    @Override
    public void setSQLXML(int i, SQLXML x) throws SQLException {
        set(i, null, (ps, j, v) -> ps.setSQLXML(j, x));
    }

    @Override
    @Deprecated
    public void setUnicodeStream(int i, InputStream x, int length) throws SQLException {
        throw new SQLException(
                "setUnicodeStream is deprecated and not supported; use setCharacterStream",
                SqlStates.FEATURE_NOT_SUPPORTED);
    }
}
