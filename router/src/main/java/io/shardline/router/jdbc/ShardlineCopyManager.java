package io.shardline.router.jdbc;

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
 * {@link #copyIn(String)}); other COPY statements run on the connection's binding ({@code forKey}, or the shard of
 * its transaction), as pgjdbc's own API would on that connection.
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
        connection.checkOpen();
        LogicalStatement statement = (LogicalStatement) connection.createStatement();
        CopyIn routed;
        try {
            routed = statement.dispatcher.copyIn(sql, () -> closeQuietly(statement));
        } catch (SQLException | RuntimeException e) {
            closeQuietly(statement);
            throw e;
        }
        if (routed != null) {
            return routed;
        }
        closeQuietly(statement);
        return bound("copyIn").copyIn(sql);
    }

    @Override
    public CopyOut copyOut(String sql) throws SQLException {
        return bound("copyOut").copyOut(sql);
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
                .boundConnection("COPY through " + what + " (other than COPY table FROM STDIN)")
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
