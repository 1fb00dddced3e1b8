package io.shardline.router;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * An application of {@link ShadedJarLoggingIT}, run in a JVM of its own beside the self-contained driver jar: it makes
 * the driver and the libraries it bundles log without a database, through JDBC only (it never touches SLF4J).
 *
 * <p>Arguments: a cluster file whose nodes refuse connections, and a port no ZooKeeper listens on.
 */
public final class LoggingApp {
    private LoggingApp() {}

    public static void main(String[] args) {
        // the read goes to the replica: its HikariCP pool starts, the driver ejects it, then the primary refuses too
        try (Connection c = DriverManager.getConnection(
                        "jdbc:shardline:file:" + args[0] + "?connectTimeoutMs=300&maxStalenessMs=-1");
                Statement s = c.createStatement()) {
            s.executeQuery("SELECT 1");
        } catch (SQLException e) {
            System.out.println("file: " + e.getSQLState() + " " + e.getMessage());
        }
        // Curator starts, and ZooKeeper's client logs each refused connection with its exception
        try (Connection c = DriverManager.getConnection(
                "jdbc:shardline:zk://127.0.0.1:" + args[1] + "/shardline/clusters/logs?connectTimeoutMs=1000")) {
            System.out.println("zk: connected to " + c.getMetaData().getURL());
        } catch (SQLException e) {
            System.out.println("zk: " + e.getSQLState() + " " + e.getMessage());
        }
        ShardlineDriver.closeAll();
    }
}
