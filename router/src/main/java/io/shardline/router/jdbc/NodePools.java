package io.shardline.router.jdbc;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.shardline.router.SqlStates;
import io.shardline.topology.Node;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One HikariCP pool per node, created on first use. Physical connections are plain pgjdbc connections to
 * one node; the password is handed to HikariCP only.
 */
public final class NodePools implements AutoCloseable {
    private final String database;
    private final String user;
    private final String password;
    private final int poolSize;
    private final long connectTimeoutMs;
    private final Properties pgProperties;
    private final Map<String, HikariDataSource> pools = new ConcurrentHashMap<>();

    public NodePools(
            String database,
            String user,
            String password,
            int poolSize,
            long connectTimeoutMs,
            Properties pgProperties) {
        this.database = database;
        this.user = user;
        this.password = password;
        this.poolSize = poolSize;
        this.connectTimeoutMs = connectTimeoutMs;
        this.pgProperties = pgProperties;
    }

    /**
     * A physical connection to {@code node}, in autocommit mode.
     *
     * @throws SQLException with SQLState 08001 naming the node when it cannot be reached
     */
    public Connection borrow(Node node) throws SQLException {
        HikariDataSource pool = pools.computeIfAbsent(node.name() + "@" + node.address(), k -> newPool(node));
        try {
            return pool.getConnection();
        } catch (SQLException e) {
            throw new SQLException(
                    "cannot connect to node " + node.name() + " (" + node.address() + "): " + e.getMessage(),
                    e.getSQLState() == null ? SqlStates.CONNECTION_UNABLE : e.getSQLState(),
                    e);
        }
    }

    private HikariDataSource newPool(Node node) {
        HikariConfig config = new HikariConfig();
        config.setPoolName("shardline-" + node.name());
        config.setJdbcUrl("jdbc:postgresql://" + node.address() + "/" + database);
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
        config.addDataSourceProperty("ApplicationName", "shardline");
        pgProperties.forEach((k, v) -> config.addDataSourceProperty((String) k, v));
        return new HikariDataSource(config);
    }

    @Override
    public void close() {
        pools.values().forEach(HikariDataSource::close);
        pools.clear();
    }
}
