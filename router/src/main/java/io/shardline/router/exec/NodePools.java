package io.shardline.router.exec;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.HikariPoolMXBean;
import com.zaxxer.hikari.pool.HikariPool;
import io.shardline.router.SqlStates;
import io.shardline.router.metrics.DriverMetrics;
import io.shardline.topology.Node;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BooleanSupplier;

/**
 * One HikariCP pool per node, created on first use. Physical connections are plain pgjdbc connections to
 * one node; the password is handed to HikariCP only.
 */
public final class NodePools implements AutoCloseable {
    private static final org.postgresql.Driver PROBE_DRIVER = new org.postgresql.Driver();

    private final String database;
    private final String user;
    private final String password;
    private final int poolSize;
    /** How long a borrow waits before it asks again whether the statement still goes to its node. */
    private static final long SLICE_MS = 250;

    private final long connectTimeoutMs;
    private final Properties pgProperties;
    /** pgjdbc's {@code preferQueryMode=simple}: looked up once, asked for every CHAR-typed parameter. */
    private final boolean inlinesParameters;

    private final DriverMetrics metrics;
    /** The names this runtime's pools took ({@link #poolName}), handed back at close. */
    private final List<String> names = new java.util.ArrayList<>();

    private final Map<String, HikariDataSource> pools = new ConcurrentHashMap<>();

    public NodePools(
            String database,
            String user,
            String password,
            int poolSize,
            long connectTimeoutMs,
            Properties pgProperties,
            DriverMetrics metrics) {
        this.database = database;
        this.user = user;
        this.password = password;
        this.poolSize = poolSize;
        this.connectTimeoutMs = connectTimeoutMs;
        this.pgProperties = pgProperties;
        this.inlinesParameters = "simple".equalsIgnoreCase(pgProperties.getProperty("preferQueryMode"));
        this.metrics = metrics;
    }

    /**
     * A physical connection to {@code node}, in autocommit mode.
     *
     * @throws SQLException with SQLState 08001 naming the node when it cannot be reached; 53300 when every connection
     *     of its pool is in use for {@code connectTimeoutMs} (the node is fine: never a reason to eject it)
     */
    public Connection borrow(Node node) throws SQLException {
        return borrow(node, () -> true);
    }

    /**
     * {@link #borrow(Node)} that gives up as soon as {@code wanted} says the statement no longer goes to {@code node}
     * (asked every {@link #SLICE_MS} ms while no connection to it comes: a dead primary replaced meanwhile, or one a
     * switchover holds while its pool's connections are all lent out).
     *
     * @throws Abandoned then: nothing was sent, the statement may be routed again
     */
    public Connection borrow(Node node, BooleanSupplier wanted) throws SQLException {
        HikariDataSource pool = pools.computeIfAbsent(key(node), k -> newPool(node));
        try {
            if (pool.isClosed() || !(pool.getHikariPoolMXBean() instanceof HikariPool sliced)) {
                return pool.getConnection(); // closed: its own error
            }
            long deadline = System.nanoTime() + connectTimeoutMs * 1_000_000;
            while (true) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                try {
                    return sliced.getConnection(Math.max(1, Math.min(SLICE_MS, left)));
                } catch (SQLTransientConnectionException slow) {
                    // every connection lent out (no cause), or none can be made (the node may be dead): either way the
                    // node may have been replaced meanwhile (a failover, a switchover holding it)
                    if (!wanted.getAsBoolean()) {
                        throw new Abandoned(node);
                    }
                    if (left <= SLICE_MS) {
                        throw slow;
                    }
                }
            }
        } catch (Abandoned e) {
            throw e;
        } catch (SQLException e) {
            if (e instanceof SQLTransientConnectionException && e.getCause() == null) {
                // HikariCP's timeout without a connection failure behind it: every connection is lent out
                HikariPoolMXBean counts = pool.getHikariPoolMXBean();
                throw new SQLException(
                        "no connection to node " + node.name() + " was free within " + connectTimeoutMs + " ms"
                                + " (connectTimeoutMs): its pool (poolSize=" + poolSize + ") has "
                                + counts.getActiveConnections() + " active, " + counts.getIdleConnections() + " idle, "
                                + counts.getThreadsAwaitingConnection() + " waiting. A logical connection holds one"
                                + " physical connection per node it used until it closes: raise poolSize, or close"
                                + " connections sooner",
                        SqlStates.TOO_MANY_CONNECTIONS,
                        e);
            }
            throw new SQLException(
                    "cannot connect to node " + node.name() + " (" + node.address() + "): " + e.getMessage(),
                    e.getSQLState() == null ? SqlStates.CONNECTION_UNABLE : e.getSQLState(),
                    e);
        }
    }

    /** A borrow given up because the statement no longer goes to the node: nothing was sent. */
    public static final class Abandoned extends SQLException {
        public Abandoned(Node node) {
            super(
                    "not sent: no connection to " + node.name() + " came, and the statement no longer goes there (the"
                            + " topology changed, or the replica fell behind the staleness bound meanwhile)",
                    SqlStates.CONNECTION_UNABLE);
        }
    }

    /**
     * Closes a connection of {@code node} that must not be reused (it broke, or it was opened before the node
     * was ejected and may be a dead socket): the pool drops it instead of lending it out again.
     */
    public void evict(Node node, Connection connection) {
        HikariDataSource pool = pools.get(key(node));
        if (pool != null) {
            pool.evictConnection(connection);
        }
    }

    /**
     * Closes {@code node}'s idle pooled connections and marks those lent out to be closed when handed back (they
     * are never lent again).
     */
    public void evictAll(Node node) {
        HikariDataSource pool = pools.get(key(node));
        if (pool != null && pool.getHikariPoolMXBean() != null) {
            pool.getHikariPoolMXBean().softEvictConnections();
        }
    }

    private static String key(Node node) {
        return node.name() + "@" + node.address();
    }

    /**
     * Whether {@code node} answers {@code SELECT 1} on a new connection within {@code timeoutSeconds}: the
     * half-open probe of an ejected replica. Outside the pools, so a dead node never holds up a borrow.
     */
    public boolean probe(Node node, int timeoutSeconds) {
        try (Connection c = direct(node, timeoutSeconds, "shardline-probe");
                Statement s = c.createStatement()) {
            s.execute("SELECT 1");
            return true;
        } catch (SQLException e) {
            return false;
        }
    }

    /**
     * Whether pgjdbc sends parameters inlined in the query text ({@code preferQueryMode=simple}), untyped: a
     * {@code CHAR} parameter is then a plain literal, not a {@code bpchar}.
     */
    public boolean inlinesParameters() {
        return inlinesParameters;
    }

    /** The {@code application_name} the pooled connections start with: pgjdbc's {@code ApplicationName}, else ours. */
    public String applicationName() {
        return pgProperties.getProperty("ApplicationName", "shardline");
    }

    /**
     * A connection to {@code node} outside its pool (the caller closes it), with the pool's settings and a connect
     * and socket timeout: never waits for a free pooled connection.
     */
    public Connection direct(Node node, int timeoutSeconds, String applicationName) throws SQLException {
        Properties props = new Properties();
        pgProperties.forEach(props::put);
        props.setProperty("user", user);
        if (password != null) {
            props.setProperty("password", password);
        }
        props.setProperty("connectTimeout", Integer.toString(timeoutSeconds));
        props.setProperty("socketTimeout", Integer.toString(timeoutSeconds));
        props.setProperty("ApplicationName", applicationName);
        return PROBE_DRIVER.connect(url(node), props);
    }

    /**
     * The network timeout a new physical connection starts with, in milliseconds: pgjdbc's {@code socketTimeout}
     * ({@code pg.socketTimeout}), 0 when none.
     */
    int defaultNetworkTimeoutMs() {
        String seconds = pgProperties.getProperty("socketTimeout");
        try {
            return seconds == null ? 0 : Math.multiplyExact(Integer.parseInt(seconds.trim()), 1000);
        } catch (NumberFormatException | ArithmeticException e) {
            return 0; // pgjdbc refuses such a value when it connects, naming it
        }
    }

    private String url(Node node) {
        return "jdbc:postgresql://" + node.address() + "/" + database;
    }

    private HikariDataSource newPool(Node node) {
        HikariConfig config = new HikariConfig();
        config.setPoolName(poolName("shardline-" + node.name()));
        config.setJdbcUrl(url(node));
        config.setDriverClassName("org.postgresql.Driver");
        config.setUsername(user);
        if (password != null) {
            config.setPassword(password);
        }
        config.setMaximumPoolSize(poolSize);
        config.setMinimumIdle(0);
        config.setConnectionTimeout(Math.max(250, connectTimeoutMs));
        config.setInitializationFailTimeout(-1);
        config.setAutoCommit(true);
        config.addDataSourceProperty("ApplicationName", applicationName());
        // pgjdbc sends application_name at connect only to a server it may assume is 9.0 or later; else it SETs it
        // after, and the RESET ALL a connection gets before reuse took it back to '' (one round trip less, too)
        config.addDataSourceProperty("assumeMinServerVersion", "9.0");
        pgProperties.forEach((k, v) -> config.addDataSourceProperty((String) k, v));
        config.setExceptionOverride(new com.zaxxer.hikari.SQLExceptionOverride() {
            @java.lang.Override
            public com.zaxxer.hikari.SQLExceptionOverride.Override adjudicate(SQLException e) {
                return NodePools.adjudicate(e);
            }
        });
        metrics.pool(config);
        return new HikariDataSource(config);
    }

    /**
     * HikariCP takes SQLState 0A000 for a broken connection; PostgreSQL raises it for a statement it does not support
     * (a locking read with an aggregate...) on a connection that goes on, and evicting it lost the application's
     * transaction there (a savepoint set before it could not be rolled back to). Kept, but for the 0A000s that do
     * leave a connection unusable: a cached plan whose result type changed, a standby refusing serializable mode.
     */
    static com.zaxxer.hikari.SQLExceptionOverride.Override adjudicate(SQLException e) {
        if (!SqlStates.FEATURE_NOT_SUPPORTED.equals(e.getSQLState())) {
            return com.zaxxer.hikari.SQLExceptionOverride.Override.CONTINUE_EVICT;
        }
        String routine = e instanceof org.postgresql.util.PSQLException pg && pg.getServerErrorMessage() != null
                ? pg.getServerErrorMessage().getRoutine()
                : null;
        String message = String.valueOf(e.getMessage());
        // HikariCP stops at the first exception of the chain kept: a connection error further down still evicts
        boolean connectionError = false;
        for (SQLException next = e.getNextException(); next != null; next = next.getNextException()) {
            connectionError |= next.getSQLState() != null && next.getSQLState().startsWith("08");
        }
        boolean broken = connectionError
                || "RevalidateCachedQuery".equals(routine)
                || "GetSerializableTransactionSnapshot".equals(routine)
                || message.contains("cached plan must not change result type")
                || message.contains("serializable mode in a hot standby");
        return broken
                ? com.zaxxer.hikari.SQLExceptionOverride.Override.CONTINUE_EVICT
                : com.zaxxer.hikari.SQLExceptionOverride.Override.DO_NOT_EVICT;
    }

    @Override
    public void close() {
        try {
            pools.values().forEach(HikariDataSource::close);
        } finally {
            pools.clear();
            synchronized (NAMES) {
                NAMES.removeAll(names);
            }
            names.clear();
        }
    }

    /** The pool names in use in this JVM: a pool's meters are tagged with its name. */
    private static final java.util.Set<String> NAMES = new java.util.HashSet<>();

    /**
     * {@code base} when no pool of this JVM has that name, else {@code base-2}, {@code base-3}... (runtimes of other
     * users or properties, other clusters with the same node names), so that pools' meters never collide.
     */
    private String poolName(String base) {
        synchronized (NAMES) {
            String name = base;
            for (int n = 2; !NAMES.add(name); n++) {
                name = base + "-" + n;
            }
            names.add(name);
            return name;
        }
    }
}
