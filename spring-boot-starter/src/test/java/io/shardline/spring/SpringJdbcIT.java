package io.shardline.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.HikariPoolMXBean;
import io.shardline.router.ShardlineConnection;
import io.shardline.router.ShardlineConnection.RouteExplanation;
import io.shardline.router.ShardlineExceptionOverride;
import io.shardline.test.ShardlineCluster;
import io.shardline.test.ShardlineTestCluster;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyType;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import javax.sql.DataSource;
import org.assertj.core.api.recursive.comparison.RecursiveComparisonConfiguration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Import;
import org.springframework.dao.CannotAcquireLockException;
import org.springframework.dao.DataAccessException;
import org.springframework.dao.DataIntegrityViolationException;
import org.springframework.dao.DuplicateKeyException;
import org.springframework.dao.EmptyResultDataAccessException;
import org.springframework.dao.PessimisticLockingFailureException;
import org.springframework.jdbc.UncategorizedSQLException;
import org.springframework.jdbc.core.BatchPreparedStatementSetter;
import org.springframework.jdbc.core.ConnectionCallback;
import org.springframework.jdbc.core.DataClassRowMapper;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.core.namedparam.BeanPropertySqlParameterSource;
import org.springframework.jdbc.core.namedparam.MapSqlParameterSource;
import org.springframework.jdbc.core.namedparam.NamedParameterJdbcTemplate;
import org.springframework.jdbc.core.namedparam.SqlParameterSource;
import org.springframework.jdbc.core.namedparam.SqlParameterSourceUtils;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.jdbc.core.simple.SimpleJdbcInsert;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.jdbc.support.GeneratedKeyHolder;
import org.springframework.jdbc.support.KeyHolder;
import org.springframework.transaction.CannotCreateTransactionException;
import org.springframework.transaction.PlatformTransactionManager;
import org.springframework.transaction.TransactionDefinition;
import org.springframework.transaction.TransactionException;
import org.springframework.transaction.annotation.Isolation;
import org.springframework.transaction.annotation.Propagation;
import org.springframework.transaction.annotation.Transactional;
import org.springframework.transaction.support.TransactionSynchronizationManager;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Spring's JDBC layer as a Spring Boot application uses it — {@link JdbcTemplate}, {@link NamedParameterJdbcTemplate},
 * {@link SimpleJdbcInsert}, {@link JdbcClient}, {@code @Transactional} services (commit, rollback, {@code
 * REQUIRES_NEW}, {@code NESTED} savepoints, isolation, read-only) and {@link TransactionTemplate} — through the
 * starter's auto-configured HikariCP pool over the driver, on a 2-shard cluster with two-phase commit: each result as
 * Spring returns it, each row on the primary of its key's shard (and on no other), refusals surfacing as Spring's
 * {@link DataAccessException}s with the driver's SQLState, and the pool keeping its connections through them.
 *
 * <p>The application ({@link JdbcApplication}) is not a component (no {@code @SpringBootApplication}): {@code
 * PetClinicApplication}, in the same package, scans it and must not pick up this application's beans or its JPA
 * exclusions, nor this one PetClinic's entities. JPA is excluded, so Boot configures a {@link
 * org.springframework.jdbc.support.JdbcTransactionManager} (a {@link DataSourceTransactionManager}), which nests
 * transactions with JDBC savepoints.
 */
@ShardlineCluster(shards = 2, hubs = 1, leaves = 0)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class SpringJdbcIT {
    /** HikariCP's maximum pool size: small, so that an evicted connection would show (a new one per refusal). */
    private static final int POOL = 4;
    /** Each test's keys: [n * RANGE, (n + 1) * RANGE). */
    private static final long RANGE = 100_000;

    private static final String INSERT_ACCOUNT =
            "INSERT INTO sj_account (id, owner, balance, currency) VALUES (?, ?, ?, ?)";
    /** Where a keyed read ran: a replica or a primary, which server (by port), under which isolation. */
    private static final String WHERE_AM_I = "SELECT pg_is_in_recovery() AS replica, inet_server_port() AS port,"
            + " current_setting('transaction_isolation') AS isolation FROM sj_account WHERE id = ?";

    private static ShardlineTestCluster cluster;
    private static ConfigurableApplicationContext app;
    private static HashRing ring;
    private static JdbcTemplate jdbc;
    private static NamedParameterJdbcTemplate named;
    private static HikariDataSource pool;

    // ---------------------------------------------------------------------------------------------------------------
    // The application
    // ---------------------------------------------------------------------------------------------------------------

    /** A Boot application of JDBC services: auto-configuration (DataSource, JdbcTemplate, JdbcClient, transactions). */
    @EnableAutoConfiguration(
            excludeName = {
                "org.springframework.boot.hibernate.autoconfigure.HibernateJpaAutoConfiguration",
                "org.springframework.boot.data.jpa.autoconfigure.DataJpaRepositoriesAutoConfiguration"
            })
    @Import({Ledger.class, Inner.class, Reads.class})
    public static class JdbcApplication {}

    /** An account as a JavaBean, for {@link BeanPropertySqlParameterSource} and {@link SimpleJdbcInsert}. */
    public static class AccountBean {
        private final long id;
        private final String owner;
        private final BigDecimal balance;
        private final String currency;

        public AccountBean(long id, String owner, BigDecimal balance, String currency) {
            this.id = id;
            this.owner = owner;
            this.balance = balance;
            this.currency = currency;
        }

        public long getId() {
            return id;
        }

        public String getOwner() {
            return owner;
        }

        public BigDecimal getBalance() {
            return balance;
        }

        public String getCurrency() {
            return currency;
        }
    }

    /** An account as read back with {@link DataClassRowMapper}. */
    public record Account(long id, String owner, BigDecimal balance, String currency) {}

    /** The transactional service under test: every method opens accounts through {@link JdbcTemplate}. */
    public static class Ledger {
        private final JdbcTemplate jdbc;
        private final NamedParameterJdbcTemplate named;
        private final Inner inner;

        public Ledger(JdbcTemplate jdbc, NamedParameterJdbcTemplate named, Inner inner) {
            this.jdbc = jdbc;
            this.named = named;
            this.inner = inner;
        }

        void open(long id, String owner) {
            jdbc.update(INSERT_ACCOUNT, id, owner, BigDecimal.TEN, "EUR");
        }

        /**
         * Opens {@code ids} and audits {@code note} (home shard) in one transaction; returns how many of them the
         * transaction sees, by a cross-shard read inside it (its own uncommitted writes).
         */
        @Transactional
        public long openAll(String note, List<Long> ids) {
            assertThat(TransactionSynchronizationManager.isActualTransactionActive())
                    .isTrue();
            for (long id : ids) {
                open(id, note);
            }
            jdbc.update("INSERT INTO sj_audit (what) VALUES (?)", note);
            return named.queryForObject(
                    "SELECT count(*) FROM sj_account WHERE id IN (:ids)", Map.of("ids", ids), Long.class);
        }

        @Transactional
        public void openAllThenFail(String note, List<Long> ids) {
            for (long id : ids) {
                open(id, note);
            }
            jdbc.update("INSERT INTO sj_audit (what) VALUES (?)", note);
            throw new IllegalStateException("failed after writing on both shards");
        }

        /** Opens {@code outerA}, has {@code innerB} opened in a transaction of its own, opens {@code outerC}, fails. */
        @Transactional
        public void requiresNewInsideAFailingOuter(long outerA, long innerB, long outerC) {
            open(outerA, "outer");
            inner.openCommitted(innerB);
            open(outerC, "outer");
            throw new IllegalStateException("the outer transaction fails");
        }

        /** All on one shard: the outer write, a nested one that fails (rolled back to its savepoint), another. */
        @Transactional
        public void nestedFailureOnOneShard(long first, long nested, long last) {
            open(first, "outer");
            try {
                inner.openThenFail(nested);
            } catch (IllegalStateException expected) {
                // the nested transaction rolled back to its savepoint
            }
            open(last, "outer");
        }

        /** The nested transaction first: Spring sets its savepoint before the transaction's first statement. */
        @Transactional
        public void nestedBeforeTheFirstStatement(long nested, long last) {
            try {
                inner.openThenFail(nested);
            } catch (IllegalStateException expected) {
                // rolled back to the savepoint set before the transaction's first statement
            }
            open(last, "outer");
        }

        /** A nested transaction that succeeds (its savepoint released) between two outer writes on one shard. */
        @Transactional
        public void nestedSuccessOnOneShard(long first, long nested, long last) {
            open(first, "outer");
            inner.openNested(nested);
            open(last, "outer");
        }

        /** Writes on two shards, then asks for a nested transaction (a savepoint): refused, propagated. */
        @Transactional
        public void nestedAfterTwoShards(long a, long b, long nested) {
            open(a, "outer");
            open(b, "outer");
            inner.openNested(nested);
        }

        /** As {@link #nestedAfterTwoShards}, but catching the refusal and returning (Spring then commits). */
        @Transactional
        public RuntimeException nestedAfterTwoShardsCaught(long a, long b, long nested) {
            open(a, "outer");
            open(b, "outer");
            try {
                inner.openNested(nested);
                return null;
            } catch (RuntimeException refused) {
                return refused;
            }
        }

        /**
         * One shard, then a nested transaction whose write is for the other shard: a transaction that set a savepoint
         * cannot reach a second shard; the nested one rolls back to its savepoint and the outer one goes on.
         */
        @Transactional
        public RuntimeException nestedReachingASecondShard(long first, long otherShard, long last) {
            open(first, "outer");
            RuntimeException refused = null;
            try {
                inner.openNested(otherShard);
            } catch (RuntimeException e) {
                refused = e;
            }
            open(last, "outer");
            return refused;
        }

        @Transactional(isolation = Isolation.SERIALIZABLE)
        public Map<String, Object> whereSerializable(long id) {
            return jdbc.queryForMap(WHERE_AM_I, id);
        }

        @Transactional(isolation = Isolation.REPEATABLE_READ)
        public Map<String, Object> whereRepeatableRead(long id) {
            return jdbc.queryForMap(WHERE_AM_I, id);
        }

        @Transactional
        public Map<String, Object> whereDefault(long id) {
            return jdbc.queryForMap(WHERE_AM_I, id);
        }

        /**
         * Opens {@code id} and then tries to change its shard key: refused (0A000). Records the pooled logical
         * connection the transaction ran on in {@code seen}.
         */
        @Transactional
        public void openThenRenumber(long id, long newId, Set<Object> seen) {
            seen.add(jdbc.execute((ConnectionCallback<ShardlineConnection>) c -> c.unwrap(ShardlineConnection.class)));
            open(id, "renumbered");
            jdbc.update("UPDATE sj_account SET id = ? WHERE id = ?", newId, id);
        }

        /** Opens {@code fresh}, then {@code existing} again: 23505. */
        @Transactional
        public void openThenDuplicate(long fresh, long existing) {
            open(fresh, "fresh");
            open(existing, "again");
        }
    }

    /** The inner transactions (another bean, so that Spring's proxy sees the calls). */
    public static class Inner {
        private final JdbcTemplate jdbc;

        public Inner(JdbcTemplate jdbc) {
            this.jdbc = jdbc;
        }

        @Transactional(propagation = Propagation.REQUIRES_NEW)
        public void openCommitted(long id) {
            jdbc.update(INSERT_ACCOUNT, id, "inner", BigDecimal.ONE, "USD");
        }

        @Transactional(propagation = Propagation.NESTED)
        public void openNested(long id) {
            jdbc.update(INSERT_ACCOUNT, id, "nested", BigDecimal.ONE, "USD");
        }

        @Transactional(propagation = Propagation.NESTED)
        public void openThenFail(long id) {
            jdbc.update(INSERT_ACCOUNT, id, "nested", BigDecimal.ONE, "USD");
            throw new IllegalStateException("the nested transaction fails");
        }
    }

    /** Read-only transactional reads. */
    public static class Reads {
        private final JdbcTemplate jdbc;

        public Reads(JdbcTemplate jdbc) {
            this.jdbc = jdbc;
        }

        @Transactional(readOnly = true)
        public Map<String, Object> whereKeyedReadRan(long id) {
            assertThat(TransactionSynchronizationManager.isCurrentTransactionReadOnly())
                    .isTrue();
            return jdbc.queryForMap(WHERE_AM_I, id);
        }

        @Transactional(readOnly = true)
        public long count(long from, long to) {
            return jdbc.queryForObject(
                    "SELECT count(*) FROM sj_account WHERE id BETWEEN ? AND ?", Long.class, from, to);
        }

        /** A read-only REPEATABLE READ transaction: every shard's primary, one checked snapshot (atomic). */
        @Transactional(readOnly = true, isolation = Isolation.REPEATABLE_READ)
        public List<Object> atomicRead(long a, long b, long from, long to) {
            return List.of(
                    jdbc.queryForMap(WHERE_AM_I, a),
                    jdbc.queryForMap(WHERE_AM_I, b),
                    jdbc.queryForObject(
                            "SELECT count(*) FROM sj_account WHERE id BETWEEN ? AND ?", Long.class, from, to));
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Lifecycle
    // ---------------------------------------------------------------------------------------------------------------

    @BeforeAll
    static void start(ShardlineTestCluster shardline) throws Exception {
        cluster = shardline;
        cluster.shardTable("sj_account", "id", KeyType.INTEGER)
                .shardTable("sj_entry", "account_id", KeyType.INTEGER)
                .referenceTable("sj_currency");
        // sj_audit is not declared: it lives on the home shard (shard 0)
        app = new SpringApplicationBuilder(JdbcApplication.class)
                .properties(
                        "spring.datasource.url=" + cluster.url(),
                        "spring.datasource.username=postgres",
                        "spring.datasource.hikari.maximum-pool-size=" + POOL,
                        "shardline.max-staleness-ms=5000",
                        "shardline.two-phase-commit=true",
                        // a read after the session's own write waits (up to 3 s) for a replica to replay it
                        "shardline.ryw-wait-ms=3000",
                        "spring.main.web-application-type=none")
                .run();
        jdbc = app.getBean(JdbcTemplate.class);
        named = app.getBean(NamedParameterJdbcTemplate.class);
        pool = (HikariDataSource) app.getBean(DataSource.class);

        // the schema, through the driver (DDL of sharded and reference tables runs on every shard's primary)
        jdbc.execute("CREATE TABLE sj_currency (code text PRIMARY KEY, name text NOT NULL)");
        jdbc.execute("CREATE TABLE sj_account (id bigint PRIMARY KEY, owner text NOT NULL,"
                + " balance numeric(12, 2) NOT NULL DEFAULT 0, currency text REFERENCES sj_currency (code))");
        jdbc.execute("CREATE TABLE sj_entry (account_id bigint NOT NULL, seq bigserial, note text,"
                + " PRIMARY KEY (account_id, seq))");
        jdbc.execute("CREATE TABLE sj_audit (id bigserial PRIMARY KEY, what text NOT NULL)");
        // a reference table's write: every shard's copy, one two-phase-commit transaction
        assertThat(jdbc.update("INSERT INTO sj_currency (code, name) VALUES (?, ?)", "EUR", "Euro"))
                .isEqualTo(1);
        assertThat(jdbc.update("INSERT INTO sj_currency (code, name) VALUES (?, ?)", "USD", "US dollar"))
                .isEqualTo(1);
        cluster.awaitReplication(Duration.ofSeconds(30));

        // the ring the driver routes by, as the extension published it
        try (ZooKeeperTopologyStore store = ZooKeeperTopologyStore.connect(
                cluster.local().zkConnectString(), cluster.local().name(), Duration.ofSeconds(10))) {
            ring = store.snapshot().ring();
        }
        assertThat(ring.shards()).containsExactlyInAnyOrder(0, 1);
    }

    @AfterAll
    static void stop() {
        if (app != null) {
            app.close();
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // JdbcTemplate
    // ---------------------------------------------------------------------------------------------------------------

    @Test
    void theStarterConfiguresTheJdbcStack() throws Exception {
        assertThat(pool.getJdbcUrl()).startsWith("jdbc:shardline:");
        assertThat(pool.getExceptionOverrideClassName()).isEqualTo(ShardlineExceptionOverride.class.getName());
        assertThat(app.getBean(PlatformTransactionManager.class)).isInstanceOf(DataSourceTransactionManager.class);
        assertThat(app.getBeanNamesForType(jakarta.persistence.EntityManagerFactory.class))
                .as("JPA excluded: a JDBC-only application")
                .isEmpty();
        // Spring's translators, SimpleJdbcInsert's metadata provider and its null handling read these
        try (Connection c = pool.getConnection()) {
            assertThat(c.getMetaData().getDatabaseProductName()).isEqualTo("PostgreSQL");
            // pgjdbc's own name: Spring binds a null by it without asking the parameter's type (a round trip)
            assertThat(c.getMetaData().getDriverName()).isEqualTo("PostgreSQL JDBC Driver");
            assertThat(c.getMetaData().getURL()).startsWith("jdbc:shardline:");
            assertThat(c.getMetaData().supportsSavepoints()).isTrue();
            assertThat(c.getMetaData().supportsGetGeneratedKeys()).isTrue();
            assertThat(c.getMetaData().supportsBatchUpdates()).isTrue();
        }
    }

    @Test
    void updatesAndBatchesLandOnTheirShards() throws Exception {
        long base = 1 * RANGE;
        long a = keyOn(0, base);
        long b = keyOn(1, base);
        assertThat(jdbc.update(INSERT_ACCOUNT, a, "a", new BigDecimal("1.50"), "EUR"))
                .isEqualTo(1);
        assertThat(jdbc.update(INSERT_ACCOUNT, b, "b", new BigDecimal("2.50"), "USD"))
                .isEqualTo(1);

        // batchUpdate(String, List<Object[]>): one PreparedStatement batch over both shards (one 2PC transaction)
        List<Long> listed = LongStream.range(base + 1000, base + 1020).boxed().toList();
        assertThat(listed.stream().map(SpringJdbcIT::shardOf).distinct()).containsExactlyInAnyOrder(0, 1);
        List<Object[]> rows = listed.stream()
                .map(id -> new Object[] {id, "listed " + id, BigDecimal.valueOf(id % 100), "EUR"})
                .toList();
        int[] listedCounts = jdbc.batchUpdate(INSERT_ACCOUNT, rows);
        // each row's count is 1 (pgjdbc's per-row counts, put back in the order the rows were added), not
        // SUCCESS_NO_INFO (-2)
        assertThat(listedCounts).hasSize(20).containsOnly(1);

        // batchUpdate(String, BatchPreparedStatementSetter)
        List<Long> set = LongStream.range(base + 2000, base + 2020).boxed().toList();
        int[] setCounts = jdbc.batchUpdate(INSERT_ACCOUNT, new BatchPreparedStatementSetter() {
            @Override
            public void setValues(PreparedStatement ps, int i) throws SQLException {
                ps.setLong(1, set.get(i));
                ps.setString(2, "set " + set.get(i));
                ps.setBigDecimal(3, BigDecimal.valueOf(i, 2));
                ps.setString(4, "USD");
            }

            @Override
            public int getBatchSize() {
                return set.size();
            }
        });
        assertThat(setCounts).hasSize(20).containsOnly(1);

        // an UPDATE batch over both shards, two of its rows missing: the counts in the rows' order
        long missing0 = keyOn(0, base + 90_000);
        long missing1 = keyOn(1, base + 90_000);
        int[] updated = jdbc.batchUpdate(
                "UPDATE sj_account SET balance = balance + ? WHERE id = ?",
                List.of(
                        new Object[] {new BigDecimal("1.00"), a},
                        new Object[] {new BigDecimal("1.00"), missing1},
                        new Object[] {new BigDecimal("1.00"), b},
                        new Object[] {new BigDecimal("1.00"), missing0}));
        assertThat(updated).containsExactly(1, 0, 1, 0);

        // an UPDATE without the key over both shards: with two-phase commit it runs on every shard, counts summed
        assertThat(jdbc.update(
                        "UPDATE sj_account SET owner = owner || '!' WHERE id BETWEEN ? AND ?",
                        base + 2000,
                        base + 2019))
                .isEqualTo(20);

        // a null parameter: Spring 7 skips getParameterMetaData() only for a driver named "PostgreSQL...", so with
        // "Shardline (over PostgreSQL JDBC Driver)" it asks the driver for the parameter's type (a describe on the
        // home primary) before the insert runs on shard 1
        // getParameterMetaData() of a statement not yet run works (the home primary's describe)
        long nullCurrency = keyOn(1, base + 3000);
        assertThat(jdbc.update(INSERT_ACCOUNT, nullCurrency, "no currency", BigDecimal.ZERO, null))
                .isEqualTo(1);

        List<Long> all = new ArrayList<>(List.of(a, b, nullCurrency));
        all.addAll(listed);
        all.addAll(set);
        assertAccountsPlaced(base, base + RANGE - 1, all);
        assertThat(balanceOnItsPrimary(a)).isEqualByComparingTo("2.50");
        assertThat(balanceOnItsPrimary(b)).isEqualByComparingTo("3.50");
        assertThat(ownerOnItsPrimary(set.get(7))).isEqualTo("set " + set.get(7) + "!");
        assertThat(currencyOnItsPrimary(nullCurrency)).isNull();
    }

    @Test
    void aReferenceTableWrittenThroughJdbcTemplateChangesEveryCopy() throws Exception {
        int[] counts = jdbc.batchUpdate(
                "INSERT INTO sj_currency (code, name) VALUES (?, ?)",
                List.of(new Object[] {"GBP", "Pound"}, new Object[] {"CHF", "Franc"}));
        // a batch on a reference table reports one copy's counts
        assertThat(counts).containsExactly(1, 1);
        assertThat(jdbc.update("UPDATE sj_currency SET name = ? WHERE code = ?", "Swiss franc", "CHF"))
                .as("one copy's count")
                .isEqualTo(1);
        for (int shard = 0; shard < 2; shard++) {
            try (Connection c = cluster.primary(shard).connect();
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery(
                            "SELECT code, name FROM sj_currency WHERE code IN ('GBP', 'CHF') ORDER BY code")) {
                Map<String, String> names = new LinkedHashMap<>();
                while (rs.next()) {
                    names.put(rs.getString(1), rs.getString(2));
                }
                assertThat(names)
                        .as("shard %d's copy", shard)
                        .containsExactly(Map.entry("CHF", "Swiss franc"), Map.entry("GBP", "Pound"));
            }
        }
    }

    @Test
    void queriesAcrossShards() throws Exception {
        long base = 2 * RANGE;
        long from = base;
        long to = base + 29;
        List<Account> accounts = LongStream.rangeClosed(from, to)
                .mapToObj(id -> new Account(id, "owner " + id, BigDecimal.valueOf(id % 7 * 100 + 25, 2), currency(id)))
                .toList();
        jdbc.batchUpdate(
                INSERT_ACCOUNT,
                accounts.stream()
                        .map(x -> new Object[] {x.id(), x.owner(), x.balance(), x.currency()})
                        .toList());
        assertAccountsPlaced(
                base, base + RANGE - 1, accounts.stream().map(Account::id).toList());
        // keyed reads go to replicas: another pooled connection than the writer's has no read-your-writes token
        cluster.awaitReplication(Duration.ofSeconds(30));

        // query with a RowMapper (DataClassRowMapper onto a record), ORDER BY, LIMIT/OFFSET as placeholders
        // the README names a placeholder LIMIT for the pushed-down plan; OFFSET as a placeholder too
        List<Account> page = jdbc.query(
                "SELECT id, owner, balance, currency FROM sj_account WHERE id BETWEEN ? AND ?"
                        + " ORDER BY id DESC LIMIT ? OFFSET ?",
                new DataClassRowMapper<>(Account.class),
                from,
                to,
                5,
                3);
        assertThat(page).extracting(Account::id).containsExactly(to - 3, to - 4, to - 5, to - 6, to - 7);
        assertThat(page)
                .usingRecursiveFieldByFieldElementComparator(RecursiveComparisonConfiguration.builder()
                        .withComparatorForType(BigDecimal::compareTo, BigDecimal.class)
                        .build())
                .containsExactly(
                        accounts.get(26), accounts.get(25), accounts.get(24), accounts.get(23), accounts.get(22));

        // a lambda RowMapper over a join with the reference table
        List<String> joined = jdbc.query(
                "SELECT a.id, c.name FROM sj_account a JOIN sj_currency c ON c.code = a.currency"
                        + " WHERE a.id BETWEEN ? AND ? ORDER BY a.id",
                (rs, i) -> rs.getLong(1) + ":" + rs.getString(2),
                from,
                to);
        assertThat(joined)
                .containsExactlyElementsOf(accounts.stream()
                        .filter(x -> x.currency() != null)
                        .map(x -> x.id() + ":" + ("EUR".equals(x.currency()) ? "Euro" : "US dollar"))
                        .toList());

        // queryForObject: a cross-shard count and sum, a keyed read, and none found
        assertThat(jdbc.queryForObject(
                        "SELECT count(*) FROM sj_account WHERE id BETWEEN ? AND ?", Long.class, from, to))
                .isEqualTo(30);
        assertThat(jdbc.queryForObject(
                        "SELECT sum(balance) FROM sj_account WHERE id BETWEEN ? AND ?", BigDecimal.class, from, to))
                .isEqualByComparingTo(accounts.stream().map(Account::balance).reduce(BigDecimal.ZERO, BigDecimal::add));
        assertThat(jdbc.queryForObject("SELECT owner FROM sj_account WHERE id = ?", String.class, from + 7))
                .isEqualTo("owner " + (from + 7));
        assertThat(catchThrowable(
                        () -> jdbc.queryForObject("SELECT owner FROM sj_account WHERE id = ?", String.class, to + 1)))
                .isInstanceOf(EmptyResultDataAccessException.class);

        // queryForList: one column, and rows as maps (a grouped cross-shard aggregate)
        assertThat(jdbc.queryForList(
                        "SELECT id FROM sj_account WHERE id BETWEEN ? AND ? AND currency = ? ORDER BY id",
                        Long.class,
                        from,
                        to,
                        "USD"))
                .containsExactlyElementsOf(accounts.stream()
                        .filter(x -> "USD".equals(x.currency()))
                        .map(Account::id)
                        .toList());
        List<Map<String, Object>> groups = jdbc.queryForList(
                "SELECT currency, count(*) AS n, sum(balance) AS total FROM sj_account WHERE id BETWEEN ? AND ?"
                        + " GROUP BY currency ORDER BY currency NULLS LAST",
                from,
                to);
        assertThat(groups).extracting(m -> m.get("currency")).containsExactly("EUR", "USD", null);
        for (Map<String, Object> g : groups) {
            List<Account> of = accounts.stream()
                    .filter(x -> Objects.equals(x.currency(), g.get("currency")))
                    .toList();
            assertThat(((Number) g.get("n")).longValue()).isEqualTo(of.size());
            assertThat((BigDecimal) g.get("total"))
                    .isEqualByComparingTo(of.stream().map(Account::balance).reduce(BigDecimal.ZERO, BigDecimal::add));
        }

        // queryForMap: one row of a cross-shard aggregate
        Map<String, Object> range = jdbc.queryForMap(
                "SELECT count(*) AS n, min(id) AS lo, max(id) AS hi FROM sj_account WHERE id BETWEEN ? AND ?",
                from,
                to);
        assertThat(range).containsEntry("n", 30L).containsEntry("lo", from).containsEntry("hi", to);

        // queryForStream holds its pooled connection until the stream is closed
        HikariPoolMXBean mx = pool.getHikariPoolMXBean();
        assertThat(mx.getActiveConnections()).isZero();
        try (Stream<Long> ids = jdbc.queryForStream(
                "SELECT id FROM sj_account WHERE id BETWEEN ? AND ? ORDER BY id", (rs, i) -> rs.getLong(1), from, to)) {
            assertThat(mx.getActiveConnections()).as("held by the open stream").isEqualTo(1);
            assertThat(ids.toList())
                    .containsExactlyElementsOf(
                            LongStream.rangeClosed(from, to).boxed().toList());
        }
        assertThat(mx.getActiveConnections())
                .as("given back when the stream closed")
                .isZero();
        try (Stream<Account> firstThree = jdbc.queryForStream(
                "SELECT id, owner, balance, currency FROM sj_account WHERE id BETWEEN ? AND ? ORDER BY id",
                new DataClassRowMapper<>(Account.class),
                from,
                to)) {
            assertThat(firstThree.limit(3).map(Account::id)).containsExactly(from, from + 1, from + 2);
        }
        assertThat(mx.getActiveConnections())
                .as("a stream closed before its end")
                .isZero();
    }

    @Test
    void aConnectionCallbackUnwrapsTheShardlineConnection() throws Exception {
        long base = 3 * RANGE;
        long a = keyOn(0, base);
        long b = keyOn(1, base);
        jdbc.update(INSERT_ACCOUNT, a, "a", BigDecimal.ONE, "EUR");
        jdbc.update(INSERT_ACCOUNT, b, "b", BigDecimal.ONE, "EUR");

        List<RouteExplanation> read = jdbc.execute((ConnectionCallback<List<RouteExplanation>>) c -> {
            assertThat(c.isWrapperFor(ShardlineConnection.class)).isTrue();
            return c.unwrap(ShardlineConnection.class).explainRoute("SELECT owner FROM sj_account WHERE id = ?", a);
        });
        assertThat(read).isNotEmpty().allSatisfy(e -> assertThat(e.shard()).isEqualTo(shardOf(a)));

        List<RouteExplanation> write =
                jdbc.execute((ConnectionCallback<List<RouteExplanation>>) c -> c.unwrap(ShardlineConnection.class)
                        .explainRoute("UPDATE sj_account SET owner = ? WHERE id = ?", "x", b));
        assertThat(write).singleElement().satisfies(e -> {
            assertThat(e.shard()).isEqualTo(shardOf(b));
            assertThat(e.role()).isEqualTo("primary");
            assertThat(e.node()).isEqualTo(cluster.primary(shardOf(b)).name());
        });

        // forKey binds the pooled connection to the key's primary; unbind before giving it back
        for (long key : List.of(a, b)) {
            Map<String, Object> bound = jdbc.execute((ConnectionCallback<Map<String, Object>>) c -> {
                ShardlineConnection sc = c.unwrap(ShardlineConnection.class).forKey("sj_account", key);
                try (Statement s = sc.createStatement();
                        ResultSet rs = s.executeQuery("SELECT inet_server_port(), pg_is_in_recovery()")) {
                    rs.next();
                    return Map.of("port", rs.getInt(1), "replica", rs.getBoolean(2));
                } finally {
                    sc.unbind();
                }
            });
            assertThat(bound)
                    .containsEntry("port", cluster.primary(shardOf(key)).port())
                    .containsEntry("replica", false);
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // NamedParameterJdbcTemplate, JdbcClient, generated keys
    // ---------------------------------------------------------------------------------------------------------------

    @Test
    void namedParametersWithInListsOverBothShards() throws Exception {
        long base = 4 * RANGE;
        List<AccountBean> beans = LongStream.range(base, base + 24)
                .mapToObj(id -> new AccountBean(id, "named " + id, BigDecimal.valueOf(id % 10), "EUR"))
                .toList();
        int[] counts = named.batchUpdate(
                "INSERT INTO sj_account (id, owner, balance, currency) VALUES (:id, :owner, :balance, :currency)",
                SqlParameterSourceUtils.createBatch(beans));
        assertThat(counts).hasSize(24).containsOnly(1);
        assertAccountsPlaced(
                base, base + RANGE - 1, beans.stream().map(AccountBean::getId).toList());

        // BeanPropertySqlParameterSource for one row
        AccountBean single = new AccountBean(keyOn(1, base + 100), "bean", new BigDecimal("9.99"), "USD");
        assertThat(named.update(
                        "INSERT INTO sj_account (id, owner, balance, currency)"
                                + " VALUES (:id, :owner, :balance, :currency)",
                        new BeanPropertySqlParameterSource(single)))
                .isEqualTo(1);
        assertThat(ownerOnItsPrimary(single.getId())).isEqualTo("bean");

        cluster.awaitReplication(Duration.ofSeconds(30));

        // IN (:ids) expanded to a list spanning both shards: a cross-shard read
        List<Long> spanning = new ArrayList<>();
        for (long id : keysOn(0, base + 3, 2)) {
            spanning.add(id);
        }
        for (long id : keysOn(1, base + 3, 3)) {
            spanning.add(id);
        }
        assertThat(spanning).allMatch(id -> id < base + 24);
        assertThat(named.queryForList(
                        "SELECT id FROM sj_account WHERE id IN (:ids) ORDER BY id",
                        new MapSqlParameterSource("ids", spanning),
                        Long.class))
                .containsExactlyElementsOf(spanning.stream().sorted().toList());
        // ... all on one shard: stays there
        List<Long> oneShard = beans.stream()
                .map(AccountBean::getId)
                .filter(id -> shardOf(id) == 1)
                .limit(4)
                .toList();
        assertThat(named.queryForObject(
                        "SELECT sum(balance) FROM sj_account WHERE id IN (:ids)",
                        Map.of("ids", oneShard),
                        BigDecimal.class))
                .isEqualByComparingTo(BigDecimal.valueOf(
                        oneShard.stream().mapToLong(id -> id % 10).sum()));

        // an UPDATE and a DELETE with IN (:ids) over both shards: every shard, one 2PC transaction, counts summed
        assertThat(named.update(
                        "UPDATE sj_account SET owner = :owner WHERE id IN (:ids)",
                        new MapSqlParameterSource("owner", "renamed").addValue("ids", spanning)))
                .isEqualTo(spanning.size());
        for (long id : spanning) {
            assertThat(ownerOnItsPrimary(id)).isEqualTo("renamed");
        }
        List<Long> deleted = beans.stream()
                .map(AccountBean::getId)
                .filter(id -> !spanning.contains(id))
                .limit(5)
                .toList();
        assertThat(deleted.stream().map(SpringJdbcIT::shardOf).distinct()).containsExactlyInAnyOrder(0, 1);
        assertThat(named.update("DELETE FROM sj_account WHERE id IN (:ids)", Map.of("ids", deleted)))
                .isEqualTo(deleted.size());
        List<Long> left = new ArrayList<>(beans.stream().map(AccountBean::getId).toList());
        left.removeAll(deleted);
        left.add(single.getId());
        assertAccountsPlaced(base, base + RANGE - 1, left);
    }

    @Test
    void generatedKeysThroughAKeyHolder() throws Exception {
        long base = 5 * RANGE;
        long a = keyOn(0, base);
        long b = keyOn(1, base);
        String insert = "INSERT INTO sj_entry (account_id, note) VALUES (:account, :note)";
        String[] seqColumn = {"seq"};
        String[] keyAndSeqColumns = {"account_id", "seq"};

        // the key is given (account_id), seq is drawn from the shard's own sequence and returned
        KeyHolder first = new GeneratedKeyHolder();
        assertThat(named.update(insert, entry(a, "a1"), first, seqColumn)).isEqualTo(1);
        long seqA1 = first.getKey().longValue();
        KeyHolder second = new GeneratedKeyHolder();
        named.update(insert, entry(a, "a2"), second, seqColumn);
        long seqA2 = second.getKey().longValue();
        assertThat(seqA2).isGreaterThan(seqA1);
        KeyHolder both = new GeneratedKeyHolder();
        named.update(insert, entry(b, "b1"), both, keyAndSeqColumns);
        assertThat(both.getKeys()).containsEntry("account_id", b).containsKey("seq");
        long seqB1 = ((Number) both.getKeys().get("seq")).longValue();
        // KeyHolder without column names (pgjdbc's RETURN_GENERATED_KEYS: RETURNING *) on one shard
        KeyHolder all = new GeneratedKeyHolder();
        named.update(insert, entry(b, "b2"), all);
        assertThat(all.getKeys())
                .containsEntry("account_id", b)
                .containsEntry("note", "b2")
                .containsKey("seq");
        long seqB2 = ((Number) all.getKeys().get("seq")).longValue();

        assertThat(entriesOn(shardOf(a), a)).containsExactly(seqA1, seqA2);
        assertThat(entriesOn(1 - shardOf(a), a)).isEmpty();
        assertThat(entriesOn(shardOf(b), b)).containsExactly(seqB1, seqB2);
        assertThat(entriesOn(1 - shardOf(b), b)).isEmpty();

        // a batch with a KeyHolder on ONE shard gives every row's key, in order
        List<Long> sameShard = LongStream.range(base + 100, base + 200)
                .filter(id -> shardOf(id) == 1)
                .limit(3)
                .boxed()
                .toList();
        KeyHolder batchKeys = new GeneratedKeyHolder();
        SqlParameterSource[] batch =
                sameShard.stream().map(id -> entry(id, "batch")).toArray(SqlParameterSource[]::new);
        assertThat(named.batchUpdate(insert, batch, batchKeys, keyAndSeqColumns))
                .containsOnly(1);
        assertThat(batchKeys.getKeyList())
                .extracting(m -> ((Number) m.get("account_id")).longValue())
                .containsExactlyElementsOf(sameShard);

        // ... over both shards: getGeneratedKeys() is refused (0A000); inside a transaction nothing stays written
        List<Long> spanning = List.of(keyOn(0, base + 300), keyOn(1, base + 300));
        SqlParameterSource[] spanningBatch =
                spanning.stream().map(id -> entry(id, "spanning")).toArray(SqlParameterSource[]::new);
        TransactionTemplate tx = new TransactionTemplate(app.getBean(PlatformTransactionManager.class));
        Throwable refused = catchThrowable(() -> tx.executeWithoutResult(
                status -> named.batchUpdate(insert, spanningBatch, new GeneratedKeyHolder(), seqColumn)));
        assertThat(refused).isInstanceOf(DataAccessException.class);
        assertThat(firstSqlState(refused)).isEqualTo("0A000");
        for (long id : spanning) {
            assertThat(entriesOn(shardOf(id), id))
                    .as("rolled back with the transaction")
                    .isEmpty();
        }
        // in autocommit too, refused before any row is written (before, the batch committed and getGeneratedKeys
        // was refused: Spring reported a failure for rows that were written)
        List<Long> autocommit = List.of(keyOn(0, base + 400), keyOn(1, base + 400));
        SqlParameterSource[] autocommitBatch =
                autocommit.stream().map(id -> entry(id, "autocommit")).toArray(SqlParameterSource[]::new);
        Throwable refusedAfterWriting =
                catchThrowable(() -> named.batchUpdate(insert, autocommitBatch, new GeneratedKeyHolder(), seqColumn));
        assertThat(firstSqlState(refusedAfterWriting)).isEqualTo("0A000");
        for (long id : autocommit) {
            assertThat(entriesOn(shardOf(id), id)).as("nothing written").isEmpty();
        }
    }

    @Test
    void jdbcClient() throws Exception {
        long base = 6 * RANGE;
        JdbcClient client = app.getBean(JdbcClient.class);
        long a = keyOn(0, base);
        long b = keyOn(1, base);
        for (long id : List.of(a, b)) {
            assertThat(client.sql("INSERT INTO sj_account (id, owner, balance, currency)"
                                    + " VALUES (:id, :owner, :balance, :currency)")
                            .paramSource(new AccountBean(id, "client " + id, BigDecimal.ONE, "USD"))
                            .update())
                    .isEqualTo(1);
        }
        assertAccountsPlaced(base, base + RANGE - 1, List.of(a, b));
        cluster.awaitReplication(Duration.ofSeconds(30));
        assertThat(client.sql("SELECT owner FROM sj_account WHERE id IN (:ids) ORDER BY id")
                        .param("ids", List.of(a, b))
                        .query(String.class)
                        .list())
                .containsExactlyElementsOf(List.of(a, b).stream()
                        .sorted()
                        .map(id -> "client " + id)
                        .toList());
        assertThat(client.sql("SELECT id, owner, balance, currency FROM sj_account WHERE id = ?")
                        .param(b)
                        .query(Account.class)
                        .single()
                        .owner())
                .isEqualTo("client " + b);
        KeyHolder key = new GeneratedKeyHolder();
        client.sql("INSERT INTO sj_entry (account_id, note) VALUES (:account, 'client')")
                .param("account", b)
                .update(key, "seq");
        assertThat(entriesOn(shardOf(b), b)).containsExactly(key.getKey().longValue());
    }

    // ---------------------------------------------------------------------------------------------------------------
    // SimpleJdbcInsert
    // ---------------------------------------------------------------------------------------------------------------

    @Test
    void simpleJdbcInsertReadsTheTablesMetadata() throws Exception {
        long base = 7 * RANGE;
        // an unsharded table (home shard) with a generated key
        SimpleJdbcInsert audit =
                new SimpleJdbcInsert(jdbc).withTableName("sj_audit").usingGeneratedKeyColumns("id");
        long first =
                audit.executeAndReturnKey(Map.of("what", "simple insert 1")).longValue();
        long second =
                audit.executeAndReturnKey(Map.of("what", "simple insert 2")).longValue();
        assertThat(second).isGreaterThan(first);
        assertThat(audit.getInsertString())
                .contains("sj_audit")
                .contains("what")
                .doesNotContain("id");
        try (Connection c = cluster.primary(0).connect();
                PreparedStatement ps = c.prepareStatement("SELECT what FROM sj_audit WHERE id IN (?, ?) ORDER BY id")) {
            ps.setLong(1, first);
            ps.setLong(2, second);
            try (ResultSet rs = ps.executeQuery()) {
                List<String> whats = new ArrayList<>();
                while (rs.next()) {
                    whats.add(rs.getString(1));
                }
                assertThat(whats).containsExactly("simple insert 1", "simple insert 2");
            }
        }
        assertThat(tableExistsOn(1, "sj_audit"))
                .as("an undeclared table lives on the home shard only")
                .isFalse();

        // a sharded table: the key given, the generated non-key column returned
        long a = keyOn(1, base);
        SimpleJdbcInsert entries =
                new SimpleJdbcInsert(jdbc).withTableName("sj_entry").usingGeneratedKeyColumns("seq");
        long seq = entries.executeAndReturnKey(Map.of("account_id", a, "note", "simple"))
                .longValue();
        assertThat(entries.getInsertString())
                .contains("account_id")
                .contains("note")
                .doesNotContain("seq");
        assertThat(entries.getInsertTypes()).hasSize(2);
        assertThat(entries.getJdbcTemplate()).isSameAs(jdbc);
        assertThat(entriesOn(shardOf(a), a)).containsExactly(seq);
        assertThat(entriesOn(1 - shardOf(a), a)).isEmpty();

        // executeBatch over both shards, columns read from the table's metadata, values from beans
        SimpleJdbcInsert accounts = new SimpleJdbcInsert(jdbc).withTableName("sj_account");
        List<AccountBean> beans = LongStream.range(base + 1000, base + 1016)
                .mapToObj(id -> new AccountBean(id, "batch " + id, BigDecimal.valueOf(id % 5), "EUR"))
                .toList();
        int[] counts = accounts.executeBatch(SqlParameterSourceUtils.createBatch(beans));
        assertThat(counts).hasSize(16).containsOnly(1);
        assertThat(accounts.getInsertString())
                .contains("sj_account")
                .contains("id")
                .contains("owner")
                .contains("balance")
                .contains("currency");
        assertAccountsPlaced(
                base + 1000, base + 1999, beans.stream().map(AccountBean::getId).toList());
        assertThat(balanceOnItsPrimary(base + 1003)).isEqualByComparingTo(BigDecimal.valueOf((base + 1003) % 5));
        // executeBatch on a sharded table with a generated column, one row per shard
        int[] entryCounts = entries.executeBatch(
                new MapSqlParameterSource("account_id", keyOn(0, base + 2000)).addValue("note", "m0"),
                new MapSqlParameterSource("account_id", keyOn(1, base + 2000)).addValue("note", "m1"));
        assertThat(entryCounts).containsExactly(1, 1);
        assertThat(entriesOn(0, keyOn(0, base + 2000))).hasSize(1);
        assertThat(entriesOn(1, keyOn(1, base + 2000))).hasSize(1);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // @Transactional and TransactionTemplate
    // ---------------------------------------------------------------------------------------------------------------

    @Test
    void aTransactionalMethodCommitsOnBothShards() throws Exception {
        long base = 8 * RANGE;
        Ledger ledger = app.getBean(Ledger.class);
        long[] on0 = keysOn(0, base, 2);
        long[] on1 = keysOn(1, base, 2);
        List<Long> ids = List.of(on0[0], on1[0], on0[1], on1[1]);
        assertThat(ledger.openAll("commit " + base, ids))
                .as("its own writes, read inside it")
                .isEqualTo(4);
        assertAccountsPlaced(base, base + RANGE - 1, ids);
        assertThat(auditedOnHome("commit " + base)).isEqualTo(1);
    }

    @Test
    void aRuntimeExceptionRollsBackBothShards() throws Exception {
        long base = 9 * RANGE;
        Ledger ledger = app.getBean(Ledger.class);
        List<Long> ids = List.of(keyOn(0, base), keyOn(1, base));
        assertThat(catchThrowable(() -> ledger.openAllThenFail("rollback " + base, ids)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("failed after writing on both shards");
        assertAccountsPlaced(base, base + RANGE - 1, List.of());
        assertThat(auditedOnHome("rollback " + base)).isZero();
    }

    @Test
    void requiresNewCommitsWhileTheOuterRollsBack() throws Exception {
        long base = 10 * RANGE;
        long outerA = keyOn(0, base);
        long innerB = keyOn(1, base);
        long outerC = keysOn(1, base, 2)[1];
        assertThat(catchThrowable(
                        () -> app.getBean(Ledger.class).requiresNewInsideAFailingOuter(outerA, innerB, outerC)))
                .isInstanceOf(IllegalStateException.class);
        assertAccountsPlaced(base, base + RANGE - 1, List.of(innerB));
        assertThat(ownerOnItsPrimary(innerB)).isEqualTo("inner");
    }

    @Test
    void nestedTransactionsOnOneShardRollBackToTheirSavepoint() throws Exception {
        long base = 11 * RANGE;
        Ledger ledger = app.getBean(Ledger.class);
        for (int shard = 0; shard < 2; shard++) {
            long from = base + shard * 10_000;
            long[] k = keysOn(shard, from, 8);
            ledger.nestedFailureOnOneShard(k[0], k[1], k[2]);
            ledger.nestedSuccessOnOneShard(k[3], k[4], k[5]);
            // the savepoint Spring sets before the transaction's first statement waits for that statement
            // (the nested write on this shard), and the rollback to it recovers the transaction
            ledger.nestedBeforeTheFirstStatement(k[6], k[7]);
            assertAccountsPlaced(from, from + 9_999, List.of(k[0], k[2], k[3], k[4], k[5], k[7]));
            assertThat(ownerOnItsPrimary(k[2])).isEqualTo("outer");
            assertThat(ownerOnItsPrimary(k[4])).isEqualTo("nested");
            assertThat(ownerOnItsPrimary(k[7])).isEqualTo("outer");
        }
    }

    @Test
    void aNestedTransactionAfterWritesOnTwoShardsIsRefused() throws Exception {
        long base = 12 * RANGE;
        Ledger ledger = app.getBean(Ledger.class);
        long a = keyOn(0, base);
        long b = keyOn(1, base);
        long c = keysOn(0, base, 2)[1];

        // the refusal propagates: Spring could not create the savepoint; the outer transaction rolls back
        Throwable refused = catchThrowable(() -> ledger.nestedAfterTwoShards(a, b, c));
        assertThat(refused).isInstanceOf(CannotCreateTransactionException.class).hasMessageContaining("savepoint");
        assertThat(firstSqlState(refused)).isEqualTo("0A000");
        assertThat(sqlCause(refused).getMessage()).contains("several shards");
        assertAccountsPlaced(base, base + 9_999, List.of());

        // caught, and the method returns: the refusal failed the transaction, so Spring's commit reports that nothing
        // was committed on either shard
        long a2 = keyOn(0, base + 20_000);
        long b2 = keyOn(1, base + 20_000);
        long c2 = keysOn(1, base + 20_000, 2)[1];
        Throwable commit = catchThrowable(() -> ledger.nestedAfterTwoShardsCaught(a2, b2, c2));
        // the SAVEPOINT refusal fails the transaction ("a statement the driver refuses"), and commit() of a
        // failed transaction on several shards reports 40000 (JdbcTransactionManager translates it: class 40 ->
        // PessimisticLockingFailureException)
        assertThat(commit).isInstanceOfAny(DataAccessException.class, TransactionException.class);
        assertThat(sqlStates(commit)).contains("40000");
        assertAccountsPlaced(base + 20_000, base + 29_999, List.of());

        // a transaction that set a savepoint on one shard cannot reach the other: the nested write is refused, rolled
        // back to its savepoint, and the outer transaction commits its own writes
        long first = keyOn(0, base + 40_000);
        long other = keyOn(1, base + 40_000);
        long last = keysOn(0, base + 40_000, 2)[1];
        // the refused statement inside the nested transaction is recovered by Spring's ROLLBACK TO SAVEPOINT
        RuntimeException nestedRefusal = ledger.nestedReachingASecondShard(first, other, last);
        assertThat(nestedRefusal).isInstanceOf(DataAccessException.class);
        assertThat(firstSqlState(nestedRefusal)).isEqualTo("0A000");
        assertAccountsPlaced(base + 40_000, base + 49_999, List.of(first, last));
    }

    @Test
    void isolationLevelsAreAppliedAndThePooledConnectionsRestored() throws Exception {
        long base = 13 * RANGE;
        Ledger ledger = app.getBean(Ledger.class);
        for (int shard = 0; shard < 2; shard++) {
            jdbc.update(INSERT_ACCOUNT, keyOn(shard, base), "isolation", BigDecimal.ONE, "EUR");
        }
        cluster.awaitReplication(Duration.ofSeconds(30));
        for (int shard = 0; shard < 2; shard++) {
            long k = keyOn(shard, base);
            Map<String, Object> serializable = ledger.whereSerializable(k);
            assertThat(serializable).containsEntry("isolation", "serializable").containsEntry("replica", false);
            assertThat(((Number) serializable.get("port")).intValue())
                    .as("a read-write transaction: the key's primary")
                    .isEqualTo(cluster.primary(shard).port());
            assertThat(ledger.whereRepeatableRead(k)).containsEntry("isolation", "repeatable read");
            assertThat(ledger.whereDefault(k)).containsEntry("isolation", "read committed");
            assertThat(jdbc.queryForMap(WHERE_AM_I, k))
                    .as("a plain keyed read afterwards")
                    .containsEntry("isolation", "read committed");
        }
        // every pooled connection back at the default, in and out of transactions
        long k = keyOn(1, base);
        List<Connection> borrowed = new ArrayList<>();
        try {
            for (int i = 0; i < POOL; i++) {
                borrowed.add(pool.getConnection());
            }
            for (Connection c : borrowed) {
                assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_READ_COMMITTED);
                try (PreparedStatement ps = c.prepareStatement(WHERE_AM_I)) {
                    ps.setLong(1, k);
                    try (ResultSet rs = ps.executeQuery()) {
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getString("isolation")).isEqualTo("read committed");
                    }
                }
            }
        } finally {
            for (Connection c : borrowed) {
                c.close();
            }
        }
    }

    @Test
    void readOnlyTransactionsReadReplicasOrOneSnapshotOfThePrimaries() throws Exception {
        long base = 14 * RANGE;
        Reads reads = app.getBean(Reads.class);
        long a = keyOn(0, base);
        long b = keyOn(1, base);
        jdbc.update(INSERT_ACCOUNT, a, "ro", BigDecimal.ONE, "EUR");
        jdbc.update(INSERT_ACCOUNT, b, "ro", BigDecimal.ONE, "EUR");
        cluster.awaitReplication(Duration.ofSeconds(30));
        for (long k : List.of(a, b)) {
            Map<String, Object> where = reads.whereKeyedReadRan(k);
            assertThat(where).as("served by the shard's hub").containsEntry("replica", true);
            assertThat(((Number) where.get("port")).intValue())
                    .isEqualTo(cluster.node("s" + shardOf(k) + "-hub1").port());
        }
        assertThat(reads.count(base, base + RANGE - 1)).isEqualTo(2);

        // read-only REPEATABLE READ: every shard's primary in one checked snapshot (crossShardConsistency=atomic)
        List<Object> atomic = reads.atomicRead(a, b, base, base + RANGE - 1);
        for (int i = 0; i < 2; i++) {
            @SuppressWarnings("unchecked")
            Map<String, Object> where = (Map<String, Object>) atomic.get(i);
            long key = i == 0 ? a : b;
            assertThat(where).containsEntry("replica", false).containsEntry("isolation", "repeatable read");
            assertThat(((Number) where.get("port")).intValue())
                    .isEqualTo(cluster.primary(shardOf(key)).port());
        }
        assertThat(atomic.get(2)).isEqualTo(2L);
    }

    @Test
    void transactionTemplateCommitsAndRollsBack() throws Exception {
        long base = 15 * RANGE;
        TransactionTemplate tx = new TransactionTemplate(app.getBean(PlatformTransactionManager.class));
        long a = keyOn(0, base);
        long b = keyOn(1, base);
        Long seen = tx.execute(status -> {
            jdbc.update(INSERT_ACCOUNT, a, "template", BigDecimal.ONE, "EUR");
            jdbc.update(INSERT_ACCOUNT, b, "template", BigDecimal.ONE, "EUR");
            return jdbc.queryForObject(
                    "SELECT count(*) FROM sj_account WHERE id BETWEEN ? AND ?", Long.class, base, base + 9_999);
        });
        assertThat(seen).isEqualTo(2);
        assertAccountsPlaced(base, base + 9_999, List.of(a, b));

        long c = keyOn(0, base + 10_000);
        long d = keyOn(1, base + 10_000);
        tx.executeWithoutResult(status -> {
            jdbc.update(INSERT_ACCOUNT, c, "template", BigDecimal.ONE, "EUR");
            jdbc.update(INSERT_ACCOUNT, d, "template", BigDecimal.ONE, "EUR");
            status.setRollbackOnly();
        });
        assertAccountsPlaced(base + 10_000, base + 19_999, List.of());

        // a read-only template: a keyed read on the hub
        cluster.awaitReplication(Duration.ofSeconds(30));
        TransactionTemplate readOnly = new TransactionTemplate(app.getBean(PlatformTransactionManager.class));
        readOnly.setReadOnly(true);
        Map<String, Object> where = readOnly.execute(status -> jdbc.queryForMap(WHERE_AM_I, b));
        assertThat(where).containsEntry("replica", true);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Errors as Spring translates them
    // ---------------------------------------------------------------------------------------------------------------

    @Test
    void aDuplicateKeyIsADuplicateKeyException() throws Exception {
        long base = 16 * RANGE;
        long a = keyOn(0, base);
        long b = keyOn(1, base);
        jdbc.update(INSERT_ACCOUNT, a, "first", BigDecimal.ONE, "EUR");
        Throwable duplicate = catchThrowable(() -> jdbc.update(INSERT_ACCOUNT, a, "again", BigDecimal.ONE, "EUR"));
        assertThat(duplicate).isInstanceOf(DuplicateKeyException.class);
        assertThat(firstSqlState(duplicate)).isEqualTo("23505");

        // in a transaction on two shards: the fresh row on the other shard is rolled back with it
        Throwable inTransaction = catchThrowable(() -> app.getBean(Ledger.class).openThenDuplicate(b, a));
        assertThat(inTransaction).isInstanceOf(DuplicateKeyException.class);
        assertAccountsPlaced(base, base + 9_999, List.of(a));
        assertThat(ownerOnItsPrimary(a)).isEqualTo("first");

        // a batch over both shards with one duplicate row writes no row anywhere
        List<Long> fresh = List.of(keyOn(0, base + 10_000), keyOn(1, base + 10_000));
        Throwable batch = catchThrowable(() -> jdbc.batchUpdate(
                INSERT_ACCOUNT,
                List.of(
                        new Object[] {fresh.get(0), "batch", BigDecimal.ONE, "EUR"},
                        new Object[] {fresh.get(1), "batch", BigDecimal.ONE, "EUR"},
                        new Object[] {a, "duplicate", BigDecimal.ONE, "EUR"})));
        // the BatchUpdateException carries 23505 (itself or as its next exception), which Spring translates
        // to a DataIntegrityViolationException (DuplicateKeyException)
        assertThat(batch).isInstanceOf(DataIntegrityViolationException.class);
        assertThat(sqlStates(batch)).contains("23505");
        assertAccountsPlaced(base + 10_000, base + 19_999, List.of());
    }

    @Test
    void aRefusedStatementIsADataAccessExceptionAndThePoolKeepsItsConnections() throws Exception {
        long base = 17 * RANGE;
        Ledger ledger = app.getBean(Ledger.class);
        HikariPoolMXBean mx = pool.getHikariPoolMXBean();
        Set<Object> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (int i = 0; i < 3 * POOL; i++) {
            long id = base + i;
            Throwable refused = catchThrowable(() -> ledger.openThenRenumber(id, id + 50_000, seen));
            // the refusal itself, not the rollback's "Connection is closed" (a TransactionSystemException, or with
            // JdbcTransactionManager a DataAccessException of 08003 hiding it)
            assertThat(refused).isInstanceOf(DataAccessException.class).isNotInstanceOf(TransactionException.class);
            assertThat(firstSqlState(refused)).as(stackTrace(refused)).isEqualTo("0A000");
            assertThat(stackTrace(refused)).doesNotContain("Connection is closed");
        }
        assertThat(seen)
                .as("HikariCP evicted no connection for a refusal (else a new one per refusal)")
                .hasSizeBetween(1, POOL);
        assertAccountsPlaced(base, base + RANGE - 1, List.of());

        // refused outside transactions too: a locking read without the key, several statements in one string
        // a keyless FOR UPDATE is refused in autocommit too (StarterIT checks it inside a transaction)
        Throwable lockingRead = catchThrowable(() -> jdbc.queryForList("SELECT id FROM sj_account FOR UPDATE"));
        assertThat(lockingRead).isInstanceOf(DataAccessException.class);
        assertThat(firstSqlState(lockingRead)).isEqualTo("0A000");
        Throwable twoStatements = catchThrowable(() -> jdbc.execute("UPDATE sj_account SET owner = 'x' WHERE id = "
                + base + "; UPDATE sj_account SET owner = 'y' WHERE id = " + (base + 1)));
        assertThat(twoStatements).isInstanceOf(DataAccessException.class);
        assertThat(firstSqlState(twoStatements)).isEqualTo("0A000");

        assertThat(mx.getTotalConnections()).isLessThanOrEqualTo(POOL);
        assertThat(mx.getActiveConnections()).isZero();
        assertThat(mx.getThreadsAwaitingConnection()).isZero();

        // the same service keeps working on the same connections
        List<Long> ids = List.of(keyOn(0, base + 60_000), keyOn(1, base + 60_000));
        assertThat(ledger.openAll("after refusals", ids)).isEqualTo(2);
        assertAccountsPlaced(base + 60_000, base + 69_999, ids);
        Set<Object> after = Collections.newSetFromMap(new IdentityHashMap<>());
        for (int i = 0; i < POOL; i++) {
            after.add(jdbc.execute((ConnectionCallback<ShardlineConnection>) c -> c.unwrap(ShardlineConnection.class)));
        }
        assertThat(mx.getTotalConnections()).isLessThanOrEqualTo(POOL);
        assertThat(after)
                .allSatisfy(c -> assertThat(((Connection) c).isClosed()).isFalse());
        Set<Object> everySeen = Collections.newSetFromMap(new IdentityHashMap<>());
        everySeen.addAll(seen);
        everySeen.addAll(after);
        assertThat(everySeen)
                .as("the pool's own connections throughout: none replaced")
                .hasSizeLessThanOrEqualTo(POOL);
    }

    @Test
    void serializationFailureAndLockNotAvailableAreTranslated() throws Exception {
        long base = 18 * RANGE;
        PlatformTransactionManager tm = app.getBean(PlatformTransactionManager.class);
        long k = keyOn(1, base);
        jdbc.update(INSERT_ACCOUNT, k, "contended", new BigDecimal("100.00"), "EUR");

        // 40001: a REPEATABLE READ transaction updates a row another transaction changed after its snapshot
        TransactionTemplate repeatable = new TransactionTemplate(tm);
        repeatable.setIsolationLevel(TransactionDefinition.ISOLATION_REPEATABLE_READ);
        TransactionTemplate requiresNew = new TransactionTemplate(tm);
        requiresNew.setPropagationBehavior(TransactionDefinition.PROPAGATION_REQUIRES_NEW);
        Throwable serialization = catchThrowable(() -> repeatable.executeWithoutResult(status -> {
            jdbc.queryForObject("SELECT balance FROM sj_account WHERE id = ?", BigDecimal.class, k); // the snapshot
            requiresNew.executeWithoutResult(
                    inner -> jdbc.update("UPDATE sj_account SET balance = balance + 1 WHERE id = ?", k));
            jdbc.update("UPDATE sj_account SET balance = balance + 10 WHERE id = ?", k);
        }));
        // Spring 7's SQLState translation: 40001 -> CannotAcquireLockException, a PessimisticLockingFailureException
        assertThat(serialization).isInstanceOf(PessimisticLockingFailureException.class);
        assertThat(firstSqlState(serialization)).isEqualTo("40001");
        assertThat(balanceOnItsPrimary(k)).isEqualByComparingTo("101.00");

        // 55P03: FOR UPDATE NOWAIT on a row another transaction has locked
        // the driver parses FOR UPDATE NOWAIT and routes it by its key like FOR UPDATE (the key's primary)
        TransactionTemplate tx = new TransactionTemplate(tm);
        CountDownLatch locked = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        ExecutorService holder = Executors.newSingleThreadExecutor();
        try {
            Future<?> holding = holder.submit(() -> tx.executeWithoutResult(status -> {
                jdbc.queryForList("SELECT id FROM sj_account WHERE id = ? FOR UPDATE", Long.class, k);
                locked.countDown();
                try {
                    release.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }));
            assertThat(locked.await(30, TimeUnit.SECONDS)).isTrue();
            Throwable noWait = catchThrowable(
                    () -> jdbc.queryForList("SELECT id FROM sj_account WHERE id = ? FOR UPDATE NOWAIT", Long.class, k));
            // Spring's default translator (no sql-error-codes.xml: SQLState classes) does not map 55P03, so
            // it is an UncategorizedSQLException; with the PostgreSQL error codes it is a CannotAcquireLockException
            assertThat(noWait).isInstanceOfAny(CannotAcquireLockException.class, UncategorizedSQLException.class);
            assertThat(firstSqlState(noWait)).isEqualTo("55P03");
            release.countDown();
            holding.get(30, TimeUnit.SECONDS);
        } finally {
            release.countDown();
            holder.shutdownNow();
        }
        assertThat(jdbc.queryForList("SELECT id FROM sj_account WHERE id = ? FOR UPDATE NOWAIT", Long.class, k))
                .containsExactly(k);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------------------------

    private static int shardOf(long key) {
        return ring.shardFor(KeyType.INTEGER.hash(key));
    }

    /** The first key at or after {@code from} on {@code shard}. */
    private static long keyOn(int shard, long from) {
        return keysOn(shard, from, 1)[0];
    }

    /** The first {@code n} keys at or after {@code from} on {@code shard}. */
    private static long[] keysOn(int shard, long from, int n) {
        return LongStream.iterate(from, k -> k + 1)
                .filter(k -> shardOf(k) == shard)
                .limit(n)
                .toArray();
    }

    private static SqlParameterSource entry(long account, String note) {
        return new MapSqlParameterSource("account", account).addValue("note", note);
    }

    private static String currency(long id) {
        return switch ((int) (id % 3)) {
            case 0 -> null;
            case 1 -> "EUR";
            default -> "USD";
        };
    }

    /** Ids of sj_account in [from, to] as shard {@code shard}'s primary holds them. */
    private static List<Long> accountIdsOn(int shard, long from, long to) throws SQLException {
        try (Connection c = cluster.primary(shard).connect();
                PreparedStatement ps =
                        c.prepareStatement("SELECT id FROM sj_account WHERE id BETWEEN ? AND ? ORDER BY id")) {
            ps.setLong(1, from);
            ps.setLong(2, to);
            List<Long> ids = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ids.add(rs.getLong(1));
                }
            }
            return ids;
        }
    }

    /** Exactly {@code expected} of [from, to] exist, each on its key's shard's primary and on no other. */
    private static void assertAccountsPlaced(long from, long to, Collection<Long> expected) throws SQLException {
        for (int shard = 0; shard < 2; shard++) {
            int s = shard;
            assertThat(accountIdsOn(shard, from, to))
                    .as("sj_account rows in [%d, %d] on shard %d's primary", from, to, shard)
                    .containsExactlyElementsOf(expected.stream()
                            .filter(id -> shardOf(id) == s)
                            .sorted()
                            .collect(Collectors.toList()));
        }
    }

    private static Object columnOnItsPrimary(long id, String column) throws SQLException {
        try (Connection c = cluster.primary(shardOf(id)).connect();
                PreparedStatement ps = c.prepareStatement("SELECT " + column + " FROM sj_account WHERE id = ?")) {
            ps.setLong(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next())
                        .as("account %d on shard %d's primary", id, shardOf(id))
                        .isTrue();
                return rs.getObject(1);
            }
        }
    }

    private static BigDecimal balanceOnItsPrimary(long id) throws SQLException {
        return (BigDecimal) columnOnItsPrimary(id, "balance");
    }

    private static String ownerOnItsPrimary(long id) throws SQLException {
        return (String) columnOnItsPrimary(id, "owner");
    }

    private static String currencyOnItsPrimary(long id) throws SQLException {
        return (String) columnOnItsPrimary(id, "currency");
    }

    /** The seq values of account {@code account}'s entries on shard {@code shard}'s primary. */
    private static List<Long> entriesOn(int shard, long account) throws SQLException {
        try (Connection c = cluster.primary(shard).connect();
                PreparedStatement ps =
                        c.prepareStatement("SELECT seq FROM sj_entry WHERE account_id = ? ORDER BY seq")) {
            ps.setLong(1, account);
            List<Long> seqs = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    seqs.add(rs.getLong(1));
                }
            }
            return seqs;
        }
    }

    private static long auditedOnHome(String what) throws SQLException {
        try (Connection c = cluster.primary(0).connect();
                PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM sj_audit WHERE what = ?")) {
            ps.setString(1, what);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    private static boolean tableExistsOn(int shard, String table) throws SQLException {
        try (Connection c = cluster.primary(shard).connect();
                PreparedStatement ps = c.prepareStatement("SELECT to_regclass(?) IS NOT NULL")) {
            ps.setString(1, "public." + table);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }

    /** The first SQLException in {@code t}'s causes (what Spring wrapped). */
    private static SQLException sqlCause(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof SQLException e) {
                return e;
            }
        }
        return null;
    }

    private static String firstSqlState(Throwable t) {
        SQLException e = sqlCause(t);
        if (e == null) {
            throw new AssertionError("no SQLException under " + stackTrace(t));
        }
        return e.getSQLState();
    }

    /** Every SQLState in {@code t}'s causes, next exceptions and suppressed exceptions. */
    private static List<String> sqlStates(Throwable t) {
        List<String> states = new ArrayList<>();
        Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        Deque<Throwable> todo = new ArrayDeque<>();
        todo.push(t);
        while (!todo.isEmpty()) {
            Throwable c = todo.pop();
            if (!seen.add(c)) {
                continue;
            }
            if (c instanceof SQLException e) {
                states.add(e.getSQLState());
                if (e.getNextException() != null) {
                    todo.push(e.getNextException());
                }
            }
            if (c.getCause() != null) {
                todo.push(c.getCause());
            }
            for (Throwable s : c.getSuppressed()) {
                todo.push(s);
            }
        }
        return states;
    }

    private static String stackTrace(Throwable t) {
        if (t == null) {
            return "(nothing thrown)";
        }
        StringWriter out = new StringWriter();
        t.printStackTrace(new PrintWriter(out));
        return out.toString();
    }
}
