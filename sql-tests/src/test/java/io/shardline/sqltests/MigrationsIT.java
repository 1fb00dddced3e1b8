package io.shardline.sqltests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.DistributedFunction;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.ShardedTable;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.TimeUnit;
import liquibase.Liquibase;
import liquibase.database.jvm.JdbcConnection;
import liquibase.resource.ClassLoaderResourceAccessor;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.FlywayException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * Flyway and Liquibase, with their default settings (a migration is one transaction), through the driver on a
 * 2-shard cluster: sharded tables, a reference table, an index, a new column, a view, a distributed function and
 * seed rows on several shards; migrate, validate, migrate again (nothing to do), a migration that fails on one shard
 * only (every shard left as it was), and clean. Each shard's primary is checked directly.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class MigrationsIT {
    private static LocalCluster cluster;
    private static HashRing ring;
    private static String url;

    @BeforeAll
    static void start() {
        cluster = LocalCluster.builder()
                .name("migrations")
                .shards(2)
                .hubs(0)
                .leaves(0)
                .start();
        ring = RouterClusters.publish(
                cluster,
                List.of(
                        new ShardedTable("public", "account", "id", KeyType.INTEGER),
                        new ShardedTable("public", "entry", "account_id", KeyType.INTEGER)),
                List.of(new ReferenceTable("public", "currency")),
                List.of(new DistributedFunction("public", "account_total", 1, KeyType.INTEGER, false)));
        // a migration touches every shard and the tool's history on the home shard: two-phase commit
        url = cluster.shardlineUrl() + "?user=postgres&twoPhaseCommit=true";
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (cluster != null) {
            cluster.close();
        }
    }

    private static long count(int shard, String sql) throws SQLException {
        try (Connection c = cluster.primary(shard).connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static String viaDriver(String sql) throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static void viaDriverUpdate(String sql) throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.executeUpdate(sql);
        }
    }

    /** The first account id from 100 on that lives on {@code shard}. */
    private static long accountOn(int shard) {
        long id = 100;
        while (ring.shardFor(KeyHash.hashInt8(id)) != shard) {
            id++;
        }
        return id;
    }

    /** What the migrations built, on every shard, and the answers through the driver. */
    private static void assertMigrated() throws SQLException {
        for (int shard = 0; shard < 2; shard++) {
            assertThat(count(
                            shard,
                            "SELECT count(*) FROM pg_class WHERE relname IN ('currency', 'account', 'entry',"
                                    + " 'account_balance', 'entry_amount')"))
                    .as("shard %d's tables, index and view", shard)
                    .isEqualTo(5);
            assertThat(count(shard, "SELECT count(*) FROM currency"))
                    .as("shard %d's copy", shard)
                    .isEqualTo(2);
            assertThat(count(shard, "SELECT count(*) FROM pg_proc WHERE proname = 'account_total'"))
                    .isEqualTo(1);
            assertThat(count(
                            shard,
                            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'account'"
                                    + " AND column_name = 'opened'"))
                    .isEqualTo(1);
        }
        for (long id = 1; id <= 6; id++) {
            int home = ring.shardFor(KeyHash.hashInt8(id));
            assertThat(count(home, "SELECT count(*) FROM account WHERE id = " + id))
                    .isEqualTo(1);
            assertThat(count(1 - home, "SELECT count(*) FROM account WHERE id = " + id))
                    .isZero();
        }
        assertThat(count(0, "SELECT count(*) FROM account") + count(1, "SELECT count(*) FROM account"))
                .isEqualTo(6);
        assertThat(viaDriver("SELECT account_total(1)")).isEqualTo("15.50");
        assertThat(viaDriver("SELECT sum(balance) FROM account_balance")).isEqualTo("32.75");
    }

    /** A long owner on one shard only: a CHECK constraint fails there and nowhere else. */
    private static long addLongOwner() throws SQLException {
        long id = accountOn(1);
        viaDriverUpdate("INSERT INTO account (id, owner, currency) VALUES (" + id + ", 'charlotte', 'EUR')");
        return id;
    }

    private static void assertGone() throws SQLException {
        for (int shard = 0; shard < 2; shard++) {
            try (Connection c = cluster.primary(shard).connect();
                    Statement st = c.createStatement();
                    ResultSet rs = st.executeQuery("SELECT coalesce(string_agg(relname, ','), '') FROM pg_class WHERE"
                            + " relname IN ('currency', 'account', 'entry', 'account_balance', 'flyway_schema_history',"
                            + " 'databasechangelog')")) {
                rs.next();
                assertThat(rs.getString(1)).as("shard %d", shard).isEmpty();
            }
            assertThat(count(shard, "SELECT count(*) FROM pg_proc WHERE proname = 'account_total'"))
                    .isZero();
        }
    }

    /**
     * The driver as an application hands it to Flyway: a DataSource (Flyway's own URL lookup knows only the database
     * URLs it ships plugins for; with a DataSource it asks the connection, which says PostgreSQL).
     */
    private static javax.sql.DataSource dataSource() {
        return new javax.sql.DataSource() {
            @Override
            public Connection getConnection() throws SQLException {
                return DriverManager.getConnection(url);
            }

            @Override
            public Connection getConnection(String user, String password) throws SQLException {
                return DriverManager.getConnection(url, user, password);
            }

            @Override
            public java.io.PrintWriter getLogWriter() {
                return null;
            }

            @Override
            public void setLogWriter(java.io.PrintWriter out) {}

            @Override
            public void setLoginTimeout(int seconds) {}

            @Override
            public int getLoginTimeout() {
                return 0;
            }

            @Override
            public java.util.logging.Logger getParentLogger() {
                return java.util.logging.Logger.getGlobal();
            }

            @Override
            public <T> T unwrap(Class<T> iface) throws SQLException {
                throw new SQLException("not a wrapper");
            }

            @Override
            public boolean isWrapperFor(Class<?> iface) {
                return false;
            }
        };
    }

    @Test
    @Order(1)
    void flywayWithItsDefaults() throws SQLException {
        Flyway flyway = Flyway.configure()
                .dataSource(dataSource())
                .locations("classpath:migrations/flyway")
                .cleanDisabled(false) // its only non-default: clean is disabled by default
                .load();
        assertThat(flyway.migrate().migrationsExecuted).isEqualTo(3);
        assertMigrated();
        assertThat(count(0, "SELECT count(*) FROM flyway_schema_history WHERE success"))
                .isEqualTo(3);
        assertThat(count(1, "SELECT count(*) FROM pg_class WHERE relname = 'flyway_schema_history'"))
                .as("the history lives on the home shard")
                .isZero();
        flyway.validate();
        assertThat(flyway.migrate().migrationsExecuted).isZero();

        long charlotte = addLongOwner();
        Flyway failing = Flyway.configure()
                .dataSource(dataSource())
                .locations("classpath:migrations/flyway", "classpath:migrations/flyway-failing")
                .load();
        assertThatThrownBy(failing::migrate).isInstanceOf(FlywayException.class).hasMessageContaining("owner_short");
        for (int shard = 0; shard < 2; shard++) {
            assertThat(count(shard, "SELECT count(*) FROM pg_constraint WHERE conname = 'owner_short'"))
                    .as("shard %d keeps no part of the failed migration", shard)
                    .isZero();
        }
        assertThat(failing.info().pending()).hasSize(1);
        assertThat(count(0, "SELECT count(*) FROM flyway_schema_history WHERE success"))
                .isEqualTo(3);
        viaDriverUpdate("DELETE FROM account WHERE id = " + charlotte);

        flyway.clean();
        assertGone();
    }

    @Test
    @Order(2)
    void liquibaseWithItsDefaults() throws Exception {
        try (Connection c = DriverManager.getConnection(url);
                Liquibase liquibase = new Liquibase(
                        "migrations/liquibase/master.xml", new ClassLoaderResourceAccessor(), new JdbcConnection(c))) {
            liquibase.update();
            assertMigrated();
            assertThat(count(0, "SELECT count(*) FROM databasechangelog")).isEqualTo(4);
            liquibase.validate();
            liquibase.update();
            assertThat(count(0, "SELECT count(*) FROM databasechangelog")).isEqualTo(4);
        }
        long charlotte = addLongOwner();
        try (Connection c = DriverManager.getConnection(url);
                Liquibase failing = new Liquibase(
                        "migrations/liquibase/master-failing.xml",
                        new ClassLoaderResourceAccessor(),
                        new JdbcConnection(c))) {
            assertThatThrownBy(failing::update).hasStackTraceContaining("owner_short");
            for (int shard = 0; shard < 2; shard++) {
                assertThat(count(shard, "SELECT count(*) FROM pg_constraint WHERE conname = 'owner_short'"))
                        .as("shard %d keeps no part of the failed changeset", shard)
                        .isZero();
            }
            assertThat(count(0, "SELECT count(*) FROM databasechangelog")).isEqualTo(4);
        }
        viaDriverUpdate("DELETE FROM account WHERE id = " + charlotte);
        try (Connection c = DriverManager.getConnection(url);
                Liquibase liquibase = new Liquibase(
                        "migrations/liquibase/master.xml", new ClassLoaderResourceAccessor(), new JdbcConnection(c))) {
            liquibase.dropAll();
        }
        // Liquibase's open-source dropAll leaves functions: the same on every shard, dropped like any DDL
        for (int shard = 0; shard < 2; shard++) {
            assertThat(count(shard, "SELECT count(*) FROM pg_proc WHERE proname = 'account_total'"))
                    .isEqualTo(1);
        }
        viaDriverUpdate("DROP FUNCTION account_total(bigint)");
        assertGone();
    }
}
