package io.shardline.router;

import io.shardline.router.exec.ClusterRuntime;
import io.shardline.router.exec.Runtimes;
import io.shardline.router.jdbc.LogicalConnection;
import java.sql.Connection;
import java.sql.Driver;
import java.sql.DriverManager;
import java.sql.DriverPropertyInfo;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.Properties;
import java.util.logging.Logger;

/**
 * The {@code jdbc:shardline:} JDBC driver. An application changes {@code jdbc:postgresql:} to
 * {@code jdbc:shardline:zk://host:2181/shardline/clusters/NAME} (or {@code jdbc:shardline:file:PATH}) and
 * keeps its SQL: single-shard statements reach PostgreSQL unchanged.
 *
 * <p>Connections to the same cluster with the same properties and credentials share one {@link ClusterRuntime}: the
 * topology (kept current by ZooKeeper watches) and one connection pool per node. It closes {@code idleCloseMs} after
 * its last connection closed.
 */
public final class ShardlineDriver implements Driver {
    private static final Runtimes RUNTIMES = new Runtimes();

    static {
        try {
            DriverManager.registerDriver(new ShardlineDriver());
        } catch (SQLException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * Opens a logical connection.
     *
     * @return null when the URL is not a {@code jdbc:shardline:} URL (as {@link Driver} requires)
     * @throws SQLException 22023 for a malformed URL or unknown/bad property (naming it), 08001 when
     *     ZooKeeper is unreachable within {@code connectTimeoutMs} (naming its address) or the cluster is unknown
     */
    @Override
    public Connection connect(String url, Properties info) throws SQLException {
        if (!acceptsURL(url)) {
            return null;
        }
        ShardlineUrl parsed = ShardlineUrl.parse(url);
        Properties props = new Properties();
        props.putAll(parsed.properties());
        if (info != null) {
            info.forEach((k, v) -> props.setProperty(String.valueOf(k), String.valueOf(v)));
        }
        ShardlineProperty.checkKnown(props);
        ClusterRuntime runtime = RUNTIMES.acquire(parsed, props);
        return new LogicalConnection(runtime, RUNTIMES, ShardlineUrl.redact(url));
    }

    @Override
    public boolean acceptsURL(String url) {
        return url != null && url.startsWith(ShardlineUrl.PREFIX);
    }

    @Override
    public DriverPropertyInfo[] getPropertyInfo(String url, Properties info) {
        ShardlineProperty[] all = ShardlineProperty.values();
        DriverPropertyInfo[] result = new DriverPropertyInfo[all.length];
        for (int i = 0; i < all.length; i++) {
            result[i] =
                    new DriverPropertyInfo(all[i].getName(), info == null ? null : info.getProperty(all[i].getName()));
            result[i].description = all[i].getDescription();
        }
        return result;
    }

    @Override
    public int getMajorVersion() {
        return 0;
    }

    @Override
    public int getMinorVersion() {
        return 1;
    }

    @Override
    public boolean jdbcCompliant() {
        return false;
    }

    @Override
    public Logger getParentLogger() throws SQLFeatureNotSupportedException {
        throw new SQLFeatureNotSupportedException("Shardline logs through SLF4J");
    }

    /** Closes every cluster runtime (ZooKeeper sessions, pools) now; open logical connections stop working. */
    public static void closeAll() {
        RUNTIMES.closeAll();
    }

    /** How many cluster runtimes are open in this process. */
    public static int openRuntimes() {
        return RUNTIMES.size();
    }
}
