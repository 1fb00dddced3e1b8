package io.shardline.router.jdbc;

import io.shardline.router.exec.Dispatcher;
import java.lang.reflect.Proxy;
import java.sql.SQLException;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyDual;
import org.postgresql.copy.CopyIn;
import org.postgresql.copy.CopyManager;
import org.postgresql.copy.CopyOut;
import org.postgresql.core.BaseConnection;
import org.postgresql.core.Encoding;

/**
 * pgjdbc's COPY API on a logical connection ({@code connection.unwrap(PGConnection.class).getCopyAPI()}): a {@code
 * COPY table FROM STDIN} sends each row to the shard owning its key (every {@code copyIn} overload comes through
 * {@link #copyIn(String)}); a {@code COPY ... TO STDOUT} is routed as the query it runs (a sharded table's rows come
 * from every shard in turn, every {@code copyOut} overload comes through {@link #copyOut(String)}); other COPY
 * statements, and a {@code COPY ... TO STDOUT} on a connection bound by {@code forKey}, run on the connection's
 * binding (the shard of its transaction or key), as pgjdbc's own API would on that connection.
 */
final class ShardlineCopyManager extends CopyManager {
    private final LogicalConnection connection;

    ShardlineCopyManager(LogicalConnection connection) throws SQLException {
        // the base class keeps the connection's encoding (copyIn from a Reader encodes with it: pgjdbc talks UTF-8)
        // and executor; neither is used but by the overridden methods' callers
        super(utf8Only());
        this.connection = connection;
    }

    private static BaseConnection utf8Only() throws SQLException {
        Encoding utf8 = Encoding.getDatabaseEncoding("UTF8");
        return (BaseConnection) Proxy.newProxyInstance(
                BaseConnection.class.getClassLoader(),
                new Class<?>[] {BaseConnection.class},
                (proxy, method, args) -> method.getName().equals("getEncoding") ? utf8 : null);
    }

    @Override
    public CopyIn copyIn(String sql) throws SQLException {
        CopyIn routed = routed((dispatcher, onEnd) -> dispatcher.copyIn(sql, onEnd));
        return routed != null ? routed : bound("copyIn").copyIn(sql);
    }

    @Override
    public CopyOut copyOut(String sql) throws SQLException {
        CopyOut routed = routed((dispatcher, onEnd) -> dispatcher.copyOut(sql, onEnd));
        return routed != null ? routed : bound("copyOut").copyOut(sql);
    }

    /** A routed COPY's start: null when the dispatcher leaves the statement to the connection's binding. */
    @FunctionalInterface
    private interface Start<T> {
        T start(Dispatcher dispatcher, Runnable onEnd) throws SQLException;
    }

    /** The routed COPY {@code start} begins on a statement of its own, closed when the COPY ends; null when none. */
    private <T> T routed(Start<T> start) throws SQLException {
        connection.checkOpen();
        LogicalStatement statement = (LogicalStatement) connection.createStatement();
        T routed;
        try {
            routed = start.start(statement.dispatcher, () -> closeQuietly(statement));
        } catch (SQLException | RuntimeException e) {
            closeQuietly(statement);
            throw e;
        }
        if (routed == null) {
            closeQuietly(statement);
        }
        return routed;
    }

    @Override
    public CopyDual copyDual(String sql) throws SQLException {
        return bound("copyDual").copyDual(sql);
    }

    private CopyManager bound(String what) throws SQLException {
        connection.checkOpen();
        connection.session().checkNotCopying();
        return connection
                .session()
                .boundConnection("COPY through " + what + " (other than COPY table FROM STDIN and COPY ... TO STDOUT)")
                .unwrap(PGConnection.class)
                .getCopyAPI();
    }

    private static void closeQuietly(LogicalStatement statement) {
        try {
            statement.close();
        } catch (SQLException ignored) {
            // a statement that ran nothing of its own: nothing to report
        }
    }
}
