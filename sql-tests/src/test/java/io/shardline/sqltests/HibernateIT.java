package io.shardline.sqltests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.assertj.core.api.Assertions.within;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineConnection;
import io.shardline.router.ShardlineDriver;
import io.shardline.router.ShardlineExceptionOverride;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.ShardedTable;
import jakarta.persistence.CascadeType;
import jakarta.persistence.Column;
import jakarta.persistence.Embeddable;
import jakarta.persistence.EmbeddedId;
import jakarta.persistence.Entity;
import jakarta.persistence.EntityManager;
import jakarta.persistence.EntityTransaction;
import jakarta.persistence.FetchType;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import jakarta.persistence.JoinColumn;
import jakarta.persistence.LockModeType;
import jakarta.persistence.LockTimeoutException;
import jakarta.persistence.ManyToOne;
import jakarta.persistence.MapsId;
import jakarta.persistence.OneToMany;
import jakarta.persistence.OptimisticLockException;
import jakarta.persistence.PersistenceException;
import jakarta.persistence.PessimisticLockException;
import jakarta.persistence.RollbackException;
import jakarta.persistence.SequenceGenerator;
import jakarta.persistence.Table;
import jakarta.persistence.Version;
import jakarta.persistence.criteria.CriteriaBuilder;
import jakarta.persistence.criteria.CriteriaQuery;
import jakarta.persistence.criteria.Root;
import java.io.Serializable;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.LocalDateTime;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.StringJoiner;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import org.hibernate.Hibernate;
import org.hibernate.Session;
import org.hibernate.SessionFactory;
import org.hibernate.StaleStateException;
import org.hibernate.StatelessSession;
import org.hibernate.Transaction;
import org.hibernate.cfg.AvailableSettings;
import org.hibernate.dialect.Dialect;
import org.hibernate.dialect.PostgreSQLDialect;
import org.hibernate.engine.spi.SessionFactoryImplementor;
import org.hibernate.jpa.HibernatePersistenceConfiguration;
import org.hibernate.resource.jdbc.spi.StatementInspector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * Hibernate ORM 7 itself (JPA 3.2, bootstrapped the JPA way without persistence.xml, as Spring's
 * {@code LocalContainerEntityManagerFactoryBean} does) over a HikariCP pool of the driver, on a 2-shard cluster with
 * two-phase commit: Hibernate detects the dialect and creates the schema through the driver (sharded tables, a
 * reference table, foreign keys to it and between co-located sharded tables, a sequence) and validates it through
 * {@code DatabaseMetaData}; then entities are persisted, loaded, queried, locked, merged and removed as an application
 * does, each result checked as Hibernate returns it and each row on the primary of its key's shard (and on no other).
 *
 * <p>Each test uses keys of its own (the 1000s, 2000s...), so they do not depend on one another; {@link Order} only
 * keeps the log readable. Hibernate's SQL texts (DDL aside) are printed at the end, to see what was sent when one
 * fails.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HibernateIT {
    private static final String[] CODES = {"DE", "FR", "NL", "PT"};
    private static final Map<String, String> COUNTRY_NAMES =
            Map.of("DE", "Germany", "FR", "France", "NL", "Netherlands", "PT", "Portugal");
    private static final LocalDateTime BASE = LocalDateTime.of(2024, 1, 1, 12, 0);
    /** Every SQL text Hibernate prepared (its DDL does not pass the inspector). */
    private static final Set<String> SQL_SEEN = ConcurrentHashMap.newKeySet();

    private static LocalCluster cluster;
    private static HashRing ring;
    private static HikariDataSource dataSource;
    private static SessionFactory sf;

    // ---------------------------------------------------------------------------------------------------------------
    // The mapping: a reference table, a table sharded by id, its orders sharded by customer_id (co-located, the
    // foreign key holding the shard key), and a table sharded by a SEQUENCE-generated id.
    // ---------------------------------------------------------------------------------------------------------------

    /** A reference table: every shard holds every row. */
    @Entity(name = "Country")
    @Table(name = "country")
    public static class Country {
        @Id
        @Column(length = 2)
        private String code;

        @Column(nullable = false, length = 64)
        private String name;

        protected Country() {}

        Country(String code, String name) {
            this.code = code;
            this.name = name;
        }

        public String getCode() {
            return code;
        }

        public String getName() {
            return name;
        }

        public void setName(String name) {
            this.name = name;
        }
    }

    /** Sharded by {@code id}, assigned by the application (the key decides the shard). */
    @Entity(name = "Customer")
    @Table(name = "customer")
    public static class Customer {
        @Id
        private Long id;

        @Column(nullable = false, length = 64)
        private String name;

        @Version
        private long version;

        @ManyToOne(optional = false)
        @JoinColumn(name = "country_code", nullable = false)
        private Country country;

        @OneToMany(mappedBy = "customer", cascade = CascadeType.ALL, orphanRemoval = true)
        private List<PurchaseOrder> orders = new ArrayList<>();

        protected Customer() {}

        Customer(long id, String name, Country country) {
            this.id = id;
            this.name = name;
            this.country = country;
        }

        public Long getId() {
            return id;
        }

        public String getName() {
            return name;
        }

        public void setName(String name) {
            this.name = name;
        }

        public long getVersion() {
            return version;
        }

        public Country getCountry() {
            return country;
        }

        public List<PurchaseOrder> getOrders() {
            return orders;
        }

        public PurchaseOrder addOrder(int orderNo, BigDecimal amount, String status, LocalDateTime created) {
            PurchaseOrder order = new PurchaseOrder(this, orderNo, amount, status, created);
            orders.add(order);
            return order;
        }
    }

    /** The key of an order: its customer's id (the shard key) and its number. */
    @Embeddable
    public static class OrderId implements Serializable {
        private static final long serialVersionUID = 1L;

        private Long customerId;

        @Column(name = "order_no")
        private Integer orderNo;

        protected OrderId() {}

        OrderId(long customerId, int orderNo) {
            this.customerId = customerId;
            this.orderNo = orderNo;
        }

        public Long getCustomerId() {
            return customerId;
        }

        public Integer getOrderNo() {
            return orderNo;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof OrderId other
                    && Objects.equals(customerId, other.customerId)
                    && Objects.equals(orderNo, other.orderNo);
        }

        @Override
        public int hashCode() {
            return Objects.hash(customerId, orderNo);
        }
    }

    /**
     * Sharded by {@code customer_id}, on its customer's shard: the primary key and the foreign key to
     * {@code customer} both hold the shard key ({@code @MapsId}).
     */
    @Entity(name = "PurchaseOrder")
    @Table(name = "purchase_order")
    public static class PurchaseOrder {
        @EmbeddedId
        private OrderId id;

        @MapsId("customerId")
        @ManyToOne(fetch = FetchType.LAZY, optional = false)
        @JoinColumn(name = "customer_id")
        private Customer customer;

        @Column(nullable = false, precision = 12, scale = 2)
        private BigDecimal amount;

        @Column(nullable = false, length = 16)
        private String status;

        @Column(nullable = false)
        private LocalDateTime created;

        protected PurchaseOrder() {}

        PurchaseOrder(Customer customer, int orderNo, BigDecimal amount, String status, LocalDateTime created) {
            this.id = new OrderId(customer.getId(), orderNo);
            this.customer = customer;
            this.amount = amount;
            this.status = status;
            this.created = created;
        }

        public OrderId getId() {
            return id;
        }

        public Customer getCustomer() {
            return customer;
        }

        public BigDecimal getAmount() {
            return amount;
        }

        public String getStatus() {
            return status;
        }

        public void setStatus(String status) {
            this.status = status;
        }

        public LocalDateTime getCreated() {
            return created;
        }
    }

    /** Sharded by an id Hibernate takes from a sequence (pooled optimizer: one nextval per 20 ids). */
    @Entity(name = "Ticket")
    @Table(name = "ticket")
    public static class Ticket {
        @Id
        @GeneratedValue(strategy = GenerationType.SEQUENCE, generator = "ticket_ids")
        @SequenceGenerator(name = "ticket_ids", sequenceName = "ticket_seq", allocationSize = 20)
        private Long id;

        @Column(nullable = false, length = 64)
        private String subject;

        @ManyToOne(fetch = FetchType.LAZY)
        @JoinColumn(name = "country_code")
        private Country country;

        protected Ticket() {}

        Ticket(String subject, Country country) {
            this.subject = subject;
            this.country = country;
        }

        public Long getId() {
            return id;
        }

        public String getSubject() {
            return subject;
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Cluster, pool and Hibernate
    // ---------------------------------------------------------------------------------------------------------------

    @BeforeAll
    static void start() {
        cluster = LocalCluster.builder()
                .name("hibernate")
                .shards(2)
                .hubs(1)
                .leaves(0)
                .start();
        // published before Hibernate's DDL runs: the driver must know the sharded tables (and their keys) and the
        // reference table when CREATE TABLE and the foreign keys go out
        ring = RouterClusters.publish(
                cluster,
                List.of(
                        new ShardedTable("public", "customer", "id", KeyType.INTEGER),
                        new ShardedTable("public", "purchase_order", "customer_id", KeyType.INTEGER),
                        new ShardedTable("public", "ticket", "id", KeyType.INTEGER)),
                List.of(new ReferenceTable("public", "country")));
        HikariConfig pool = new HikariConfig();
        pool.setJdbcUrl(cluster.shardlineUrl() + "?user=postgres&twoPhaseCommit=true");
        pool.setDriverClassName(ShardlineDriver.class.getName());
        pool.setPoolName("hibernate-it");
        pool.setMaximumPoolSize(10);
        pool.setMinimumIdle(2);
        // as the README says for an application's own pool: a statement the driver refuses (0A000) is not a broken
        // connection (HikariCP would evict it, and the test's rollback after a refusal failed: "Connection is closed")
        pool.setExceptionOverrideClassName(ShardlineExceptionOverride.class.getName());
        dataSource = new HikariDataSource(pool);
        // the dialect from DatabaseMetaData, the schema dropped and created by Hibernate through the driver; a DDL
        // statement the driver refuses stops the start (Hibernate would otherwise log it and go on)
        sf = factory("shardline", "create");
        RouterClusters.awaitTable(cluster.nodes(), "purchase_order");
        RouterClusters.awaitTable(cluster.nodes(), "ticket");
        // reference rows written through Hibernate: a batch on every shard, in one two-phase commit
        sf.inTransaction(s -> COUNTRY_NAMES.forEach((code, name) -> s.persist(new Country(code, name))));
    }

    /** A JPA bootstrap over the pool; {@code schemaAction} is {@code hibernate.hbm2ddl.auto}. */
    private static SessionFactory factory(String unit, String schemaAction) {
        StatementInspector inspector = sql -> {
            SQL_SEEN.add(sql);
            return sql;
        };
        return new HibernatePersistenceConfiguration(unit)
                .managedClasses(Country.class, Customer.class, PurchaseOrder.class, Ticket.class)
                .property(AvailableSettings.JAKARTA_NON_JTA_DATASOURCE, dataSource)
                .property(AvailableSettings.HBM2DDL_AUTO, schemaAction)
                .property(AvailableSettings.HBM2DDL_HALT_ON_ERROR, "true")
                .property(AvailableSettings.STATEMENT_BATCH_SIZE, "25")
                .property(AvailableSettings.ORDER_INSERTS, "true")
                .property(AvailableSettings.ORDER_UPDATES, "true")
                .statementInspector(inspector)
                .createEntityManagerFactory();
    }

    @AfterAll
    static void stop() {
        SQL_SEEN.stream().sorted().forEach(sql -> System.out.println("hibernate sql: " + sql));
        if (sf != null) {
            sf.close();
        }
        if (dataSource != null) {
            dataSource.close();
        }
        ShardlineDriver.closeAll();
        if (cluster != null) {
            cluster.close();
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // The data each test writes, computed again in Java for the expectations
    // ---------------------------------------------------------------------------------------------------------------

    private static String countryOf(long id) {
        return CODES[(int) (id % CODES.length)];
    }

    private static String name(long id) {
        return "c-" + id;
    }

    /** 1 to 3 orders per customer. */
    private static int orderCount(long id) {
        return (int) (id % 3) + 1;
    }

    /** 0.00 to 999.99. */
    private static BigDecimal amount(long id, int orderNo) {
        return BigDecimal.valueOf((id * 7919 + orderNo * 104_729L) % 100_000, 2);
    }

    private static String status(int orderNo) {
        return orderNo % 2 == 0 ? "PAID" : "NEW";
    }

    private static LocalDateTime created(long id, int orderNo) {
        return BASE.plusMinutes(id).plusSeconds(orderNo);
    }

    /** A new customer {@code id} of its country with its orders (not persisted). */
    private static Customer newCustomer(EntityManager em, long id) {
        return newCustomer(em, id, countryOf(id));
    }

    private static Customer newCustomer(EntityManager em, long id, String countryCode) {
        Customer c = new Customer(id, name(id), em.getReference(Country.class, countryCode));
        for (int n = 1; n <= orderCount(id); n++) {
            c.addOrder(n, amount(id, n), status(n), created(id, n));
        }
        return c;
    }

    /** Customers [from, to] with their orders, persisted by Hibernate in one transaction (both shards). */
    private static void seed(long from, long to) {
        sf.inTransaction(s -> {
            for (long id = from; id <= to; id++) {
                s.persist(newCustomer(s, id));
            }
        });
    }

    private static int shardOf(long id) {
        return ring.shardFor(KeyHash.hashInt8(id));
    }

    /** The ids of [from, to] whose shard is {@code shard}. */
    private static List<Long> idsOn(int shard, long from, long to) {
        return LongStream.rangeClosed(from, to)
                .filter(id -> shardOf(id) == shard)
                .boxed()
                .toList();
    }

    private static long idOn(int shard, long from, long to) {
        return idsOn(shard, from, to).stream()
                .findFirst()
                .orElseThrow(() -> new IllegalStateException("no id of [" + from + ", " + to + "] on shard " + shard));
    }

    private static List<Long> range(long from, long to) {
        return LongStream.rangeClosed(from, to).boxed().toList();
    }

    /** The orders of customer {@code id} as the test wrote them: "no|amount|status". */
    private static List<String> expectedOrderRows(long id) {
        return IntStream.rangeClosed(1, orderCount(id))
                .mapToObj(n -> n + "|" + amount(id, n).toPlainString() + "|" + status(n))
                .toList();
    }

    /** Orders as Hibernate returned them: "no|amount|status|created", by number. */
    private static List<String> describe(List<PurchaseOrder> orders) {
        return orders.stream()
                .sorted(Comparator.comparing(o -> o.getId().getOrderNo()))
                .map(o -> o.getId().getOrderNo() + "|" + o.getAmount().toPlainString() + "|" + o.getStatus() + "|"
                        + o.getCreated())
                .toList();
    }

    private static List<String> expectedDescribed(long id) {
        return IntStream.rangeClosed(1, orderCount(id))
                .mapToObj(n -> n + "|" + amount(id, n).toPlainString() + "|" + status(n) + "|" + created(id, n))
                .toList();
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Reading the shards' primaries directly (plain pgjdbc, around the driver)
    // ---------------------------------------------------------------------------------------------------------------

    /** The rows of {@code sql} on shard {@code shard}'s primary, each row's columns joined by '|'. */
    private static List<String> rowsOn(int shard, String sql) throws SQLException {
        List<String> rows = new ArrayList<>();
        try (Connection c = cluster.primary(shard).connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            int columns = rs.getMetaData().getColumnCount();
            while (rs.next()) {
                StringJoiner row = new StringJoiner("|");
                for (int i = 1; i <= columns; i++) {
                    row.add(String.valueOf(rs.getString(i)));
                }
                rows.add(row.toString());
            }
        }
        return rows;
    }

    /** Customer {@code id} as "name|country|version" on its shard's primary, or null; no other primary has it. */
    private static String customerOnItsShard(long id) throws SQLException {
        String sql = "SELECT name, country_code, version FROM customer WHERE id = " + id;
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            if (shard != shardOf(id)) {
                assertThat(rowsOn(shard, sql))
                        .as("customer %d on shard %d", id, shard)
                        .isEmpty();
            }
        }
        List<String> rows = rowsOn(shardOf(id), sql);
        return rows.isEmpty() ? null : rows.get(0);
    }

    /** Customer {@code id}'s orders as "no|amount|status" on its shard's primary; no other primary has any. */
    private static List<String> ordersOnItsShard(long id) throws SQLException {
        String sql = "SELECT order_no, amount, status FROM purchase_order WHERE customer_id = " + id + " ORDER BY 1";
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            if (shard != shardOf(id)) {
                assertThat(rowsOn(shard, sql))
                        .as("orders of %d on shard %d", id, shard)
                        .isEmpty();
            }
        }
        return rowsOn(shardOf(id), sql);
    }

    /** Customer {@code id} and its orders are as {@link #seed} wrote them. */
    private static void assertUntouched(long id) throws SQLException {
        assertThat(customerOnItsShard(id)).as("customer %d", id).isEqualTo(name(id) + "|" + countryOf(id) + "|0");
        assertThat(ordersOnItsShard(id)).as("orders of %d", id).isEqualTo(expectedOrderRows(id));
    }

    /** Each customer of [from, to] on its shard's primary, and on no other. */
    private static void assertCustomersPlaced(long from, long to) throws SQLException {
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            assertThat(rowsOn(shard, "SELECT id FROM customer WHERE id BETWEEN " + from + " AND " + to + " ORDER BY 1"))
                    .as("customers on shard %d", shard)
                    .isEqualTo(
                            idsOn(shard, from, to).stream().map(String::valueOf).toList());
        }
    }

    /** Each order of the customers [from, to], as written, on its customer's shard's primary, and on no other. */
    private static void assertOrdersPlaced(long from, long to) throws SQLException {
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            List<String> expected = new ArrayList<>();
            for (long id : idsOn(shard, from, to)) {
                expectedOrderRows(id).forEach(row -> expected.add(id + "|" + row));
            }
            assertThat(rowsOn(
                            shard,
                            "SELECT customer_id, order_no, amount, status FROM purchase_order WHERE customer_id BETWEEN "
                                    + from + " AND " + to + " ORDER BY 1, 2"))
                    .as("orders on shard %d", shard)
                    .isEqualTo(expected);
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Errors as Hibernate surfaces them
    // ---------------------------------------------------------------------------------------------------------------

    /** Every SQLException in {@code t}'s causes, suppressed exceptions and next-exception chains. */
    private static List<SQLException> sqlExceptions(Throwable t) {
        List<SQLException> found = new ArrayList<>();
        Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        Deque<Throwable> todo = new ArrayDeque<>();
        todo.add(t);
        while (!todo.isEmpty()) {
            Throwable x = todo.poll();
            if (!seen.add(x)) {
                continue;
            }
            if (x instanceof SQLException sql) {
                found.add(sql);
                if (sql.getNextException() != null) {
                    todo.add(sql.getNextException());
                }
            }
            if (x.getCause() != null) {
                todo.add(x.getCause());
            }
            Collections.addAll(todo, x.getSuppressed());
        }
        return found;
    }

    private static List<String> sqlStates(Throwable t) {
        return sqlExceptions(t).stream()
                .map(SQLException::getSQLState)
                .filter(Objects::nonNull)
                .toList();
    }

    /** {@code t} carries the driver's refusal: {@code sqlState} with {@code fragment} in its message. */
    private static void assertRefused(Throwable t, String sqlState, String fragment) {
        assertThat(t).as("the refusal").isNotNull();
        assertThat(sqlExceptions(t)).as("SQLExceptions of %s", t).anySatisfy(e -> {
            assertThat(e.getSQLState()).isEqualTo(sqlState);
            assertThat(e.getMessage()).contains(fragment);
        });
    }

    /** BigDecimal without trailing zeros, other values as text: for comparing aggregate rows. */
    private static String text(Object value) {
        return value instanceof BigDecimal d ? d.stripTrailingZeros().toPlainString() : String.valueOf(value);
    }

    private static String row(Object... values) {
        return Arrays.stream(values).map(HibernateIT::text).collect(Collectors.joining("|"));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // The tests
    // ---------------------------------------------------------------------------------------------------------------

    /**
     * Hibernate took the PostgreSQL dialect and the server's version from the driver's DatabaseMetaData, its DDL
     * created every table on both primaries (with the foreign keys: sharded to reference, and order to customer on the
     * paired shard keys), the sequence on the home shard, and schema validation (DatabaseMetaData and
     * information_schema.sequences read through the driver) finds the schema as mapped.
     */
    @Test
    @Order(1)
    void hibernateDetectsPostgresqlCreatesTheSchemaOnEveryShardAndValidatesIt() {
        Dialect dialect =
                sf.unwrap(SessionFactoryImplementor.class).getJdbcServices().getDialect();
        assertThat(dialect).isInstanceOf(PostgreSQLDialect.class);
        int major = Integer.parseInt(cluster.primary(0).queryString("SHOW server_version_num")) / 10_000;
        assertThat(dialect.getVersion().getDatabaseMajorVersion()).isEqualTo(major);
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            PgNode primary = cluster.primary(shard);
            for (String table : List.of("country", "customer", "purchase_order", "ticket")) {
                assertThat(primary.queryString("SELECT to_regclass('" + table + "') IS NOT NULL"))
                        .as("%s on shard %d", table, shard)
                        .isEqualTo("t");
            }
            for (String table : List.of("customer", "purchase_order", "ticket")) {
                assertThat(primary.queryString("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = '"
                                + table + "'::regclass"))
                        .as("foreign keys of %s on shard %d", table, shard)
                        .isEqualTo("1");
            }
            assertThat(primary.queryString("SELECT confrelid::regclass::text FROM pg_constraint WHERE contype = 'f'"
                            + " AND conrelid = 'purchase_order'::regclass"))
                    .isEqualTo("customer");
            assertThat(primary.queryString("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'p'"
                            + " AND conrelid = 'purchase_order'::regclass"))
                    .contains("customer_id")
                    .contains("order_no");
            assertThat(primary.queryString("SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                            + " WHERE attrelid = 'purchase_order'::regclass AND attname = 'amount'"))
                    .isEqualTo("numeric(12,2)");
        }
        // the home shard (0) holds the sequence Hibernate created
        assertThat(cluster.primary(0)
                        .queryString(
                                "SELECT count(*) FROM pg_class WHERE relkind = 'S'" + " AND relname = 'ticket_seq'"))
                .isEqualTo("1");
        // CREATE SEQUENCE puts the sequence on the home shard only (README): ids are taken there
        assertThat(cluster.primary(1)
                        .queryString(
                                "SELECT count(*) FROM pg_class WHERE relkind = 'S'" + " AND relname = 'ticket_seq'"))
                .isEqualTo("0");
        // throws SchemaManagementException naming what differs
        sf.getSchemaManager().validateMappedObjects();
    }

    /**
     * 100 customers over both shards and their orders, persisted in one transaction: Hibernate's batched inserts (25 a
     * batch, ordered) split by the driver per shard and committed with two-phase commit. Each row is on its key's
     * primary and no other; the reference rows are on both primaries; counts across shards through Hibernate agree.
     */
    @Test
    @Order(2)
    void aHundredCustomersWithTheirOrdersPersistedInOneTransactionLandOnTheirShards() throws SQLException {
        long from = 1000;
        long to = 1099;
        seed(from, to);
        assertCustomersPlaced(from, to);
        assertOrdersPlaced(from, to);
        assertThat(idsOn(0, from, to)).as("keys on shard 0").isNotEmpty();
        assertThat(idsOn(1, from, to)).as("keys on shard 1").isNotEmpty();
        List<String> countries = new TreeMap<>(COUNTRY_NAMES)
                .entrySet().stream().map(e -> e.getKey() + "|" + e.getValue()).toList();
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            assertThat(rowsOn(
                            shard, "SELECT code, name FROM country WHERE code IN ('DE', 'FR', 'NL', 'PT') ORDER BY 1"))
                    .as("countries on shard %d", shard)
                    .isEqualTo(countries);
        }
        assertThat(rowsOn(0, "SELECT code, name FROM country ORDER BY 1"))
                .as("the two copies of the reference table")
                .isEqualTo(rowsOn(1, "SELECT code, name FROM country ORDER BY 1"));
        long customers = sf.fromTransaction(
                s -> s.createQuery("select count(c) from Customer c where c.id between :a and :b", Long.class)
                        .setParameter("a", from)
                        .setParameter("b", to)
                        .getSingleResult());
        assertThat(customers).isEqualTo(100);
        long orders = sf.fromTransaction(s -> s.createQuery(
                        "select count(*) from PurchaseOrder o where o.id.customerId between :a and :b", Long.class)
                .setParameter("a", from)
                .setParameter("b", to)
                .getSingleResult());
        assertThat(orders)
                .isEqualTo(LongStream.rangeClosed(from, to)
                        .map(id -> orderCount(id))
                        .sum());
    }

    /**
     * Reads by key and optimistic locking: {@code find} (with its eager country from the reference table), lazy
     * loading of the orders, a JOIN FETCH; a dirty-checked update bumps the version; updates on both shards in one
     * transaction; a stale writer (a second EntityManager committed in between) gets OptimisticLockException from the
     * batched versioned update (the driver's update count is what Hibernate checks) and the row keeps the other value.
     */
    @Test
    @Order(3)
    void findLazyLoadingJoinFetchAndOptimisticLocking() throws SQLException {
        long from = 2000;
        long to = 2019;
        seed(from, to);
        long a = idOn(0, from, to);
        long b = idOn(1, from, to);
        for (long id : List.of(a, b)) {
            try (EntityManager em = sf.createEntityManager()) {
                Customer c = em.find(Customer.class, id);
                assertThat(c.getName()).isEqualTo(name(id));
                assertThat(c.getVersion()).isZero();
                assertThat(c.getCountry().getCode()).isEqualTo(countryOf(id));
                assertThat(c.getCountry().getName()).isEqualTo(COUNTRY_NAMES.get(countryOf(id)));
                assertThat(Hibernate.isInitialized(c.getOrders()))
                        .as("orders not loaded yet")
                        .isFalse();
                assertThat(describe(c.getOrders())).isEqualTo(expectedDescribed(id));
                assertThat(em.find(Customer.class, id + 1_000_000))
                        .as("no such key")
                        .isNull();
            }
            try (EntityManager em = sf.createEntityManager()) {
                Customer c = em.createQuery(
                                "select c from Customer c join fetch c.orders where c.id = :id", Customer.class)
                        .setParameter("id", id)
                        .getSingleResult();
                assertThat(Hibernate.isInitialized(c.getOrders()))
                        .as("orders fetched with the customer")
                        .isTrue();
                assertThat(describe(c.getOrders())).isEqualTo(expectedDescribed(id));
            }
        }
        // dirty checking: one update, version 0 -> 1, on a's shard only
        sf.inTransaction(s -> s.find(Customer.class, a).setName("renamed"));
        assertThat(customerOnItsShard(a)).isEqualTo("renamed|" + countryOf(a) + "|1");
        // updates of a customer on one shard and an order on the other in one transaction (batched, 2PC)
        sf.inTransaction(s -> {
            s.find(Customer.class, b).setName("renamed too");
            s.find(Customer.class, a).getOrders().stream()
                    .filter(o -> o.getId().getOrderNo() == 1)
                    .findFirst()
                    .orElseThrow()
                    .setStatus("SHIPPED");
        });
        assertThat(customerOnItsShard(b)).isEqualTo("renamed too|" + countryOf(b) + "|1");
        assertThat(ordersOnItsShard(a).get(0)).isEqualTo("1|" + amount(a, 1).toPlainString() + "|SHIPPED");
        // a stale writer: it read version 1, another EntityManager committed version 2 meanwhile
        try (EntityManager first = sf.createEntityManager()) {
            EntityTransaction tx = first.getTransaction();
            tx.begin();
            Customer mine = first.find(Customer.class, b);
            assertThat(mine.getVersion()).isEqualTo(1);
            sf.inTransaction(s -> s.find(Customer.class, b).setName("second writer"));
            mine.setName("first writer");
            assertThatThrownBy(first::flush)
                    .isInstanceOf(OptimisticLockException.class)
                    .hasCauseInstanceOf(StaleStateException.class);
            assertThat(tx.getRollbackOnly()).isTrue();
            tx.rollback();
        }
        assertThat(customerOnItsShard(b)).isEqualTo("second writer|" + countryOf(b) + "|2");
    }

    /**
     * Queries across shards, each compared with what the test wrote: pagination (OFFSET/FETCH), an aggregate over
     * customers joined with their orders grouped by country, IN lists over both shards, count(distinct), EXISTS and
     * NOT EXISTS subqueries correlated on the key, a join with the reference table, Criteria queries, min/max/avg/sum,
     * and Hibernate's own multi-id load.
     */
    @Test
    @Order(4)
    void jpqlAndCriteriaQueriesAcrossShards() {
        long from = 3000;
        long to = 3059;
        seed(from, to);
        List<Long> ids = range(from, to);
        BigDecimal threshold = new BigDecimal("700.00");
        try (EntityManager em = sf.createEntityManager()) {
            // pagination: ... order by c1_0.id offset ? rows fetch first ? rows only
            assertThat(em
                            .createQuery(
                                    "select c from Customer c where c.id between :a and :b order by c.id",
                                    Customer.class)
                            .setParameter("a", from)
                            .setParameter("b", to)
                            .setFirstResult(10)
                            .setMaxResults(5)
                            .getResultList()
                            .stream()
                            .map(Customer::getId)
                            .toList())
                    .containsExactly(3010L, 3011L, 3012L, 3013L, 3014L);
            // the names are all as long, so text order is number order whatever the collation
            assertThat(em.createQuery(
                                    "select c.name from Customer c where c.id between :a and :b order by c.name desc",
                                    String.class)
                            .setParameter("a", from)
                            .setParameter("b", to)
                            .setFirstResult(7)
                            .setMaxResults(7)
                            .getResultList())
                    .containsExactly("c-3052", "c-3051", "c-3050", "c-3049", "c-3048", "c-3047", "c-3046");
            assertThat(em.createQuery(
                                    "select c.id from Customer c where c.id between :a and :b order by c.id desc",
                                    Long.class)
                            .setParameter("a", from)
                            .setParameter("b", to)
                            .setMaxResults(3)
                            .getResultList())
                    .containsExactly(3059L, 3058L, 3057L);

            // customers joined with their orders on the shard key, grouped by country
            Map<String, Long> counts = new TreeMap<>();
            Map<String, BigDecimal> sums = new TreeMap<>();
            for (long id : ids) {
                for (int n = 1; n <= orderCount(id); n++) {
                    counts.merge(countryOf(id), 1L, Long::sum);
                    sums.merge(countryOf(id), amount(id, n), BigDecimal::add);
                }
            }
            List<String> expectedGroups = counts.keySet().stream()
                    .map(code -> row(code, counts.get(code), sums.get(code)))
                    .toList();
            assertThat(em
                            .createQuery(
                                    "select c.country.code, count(c), sum(o.amount) from Customer c join c.orders o"
                                            + " where c.id between :a and :b group by c.country.code"
                                            + " order by c.country.code",
                                    Object[].class)
                            .setParameter("a", from)
                            .setParameter("b", to)
                            .getResultList()
                            .stream()
                            .map(HibernateIT::row)
                            .toList())
                    .isEqualTo(expectedGroups);

            // an IN list whose keys are on both shards
            List<Long> wanted = new ArrayList<>(List.of(from + 1, idOn(0, from + 20, to), idOn(1, from + 20, to), to));
            List<Long> sortedWanted = wanted.stream().distinct().sorted().toList();
            assertThat(em.createQuery("select c.id from Customer c where c.id in :ids order by c.id", Long.class)
                            .setParameter("ids", wanted)
                            .getResultList())
                    .isEqualTo(sortedWanted);
            assertThat(em
                            .createQuery("select c from Customer c where c.id in :ids", Customer.class)
                            .setParameter("ids", wanted)
                            .getResultList()
                            .stream()
                            .map(Customer::getName)
                            .sorted()
                            .toList())
                    .isEqualTo(sortedWanted.stream()
                            .map(HibernateIT::name)
                            .sorted()
                            .toList());

            // count(distinct) of the shard key, and of another column
            assertThat(em.createQuery(
                                    "select count(distinct o.id.customerId) from PurchaseOrder o"
                                            + " where o.id.customerId between :a and :b and o.status = 'PAID'",
                                    Long.class)
                            .setParameter("a", from)
                            .setParameter("b", to)
                            .getSingleResult())
                    .isEqualTo(ids.stream().filter(id -> orderCount(id) >= 2).count());
            assertThat(em.createQuery(
                                    "select count(distinct o.status) from PurchaseOrder o"
                                            + " where o.id.customerId between :a and :b",
                                    Long.class)
                            .setParameter("a", from)
                            .setParameter("b", to)
                            .getSingleResult())
                    .isEqualTo(2);

            // EXISTS / NOT EXISTS correlated on the shard key
            List<Long> rich = ids.stream()
                    .filter(id -> IntStream.rangeClosed(1, orderCount(id))
                            .anyMatch(n -> amount(id, n).compareTo(threshold) > 0))
                    .toList();
            assertThat(rich).isNotEmpty().hasSizeLessThan(ids.size());
            assertThat(em.createQuery(
                                    "select c.id from Customer c where c.id between :a and :b and exists"
                                            + " (select 1 from PurchaseOrder o where o.customer = c and o.amount > :x)"
                                            + " order by c.id",
                                    Long.class)
                            .setParameter("a", from)
                            .setParameter("b", to)
                            .setParameter("x", threshold)
                            .getResultList())
                    .isEqualTo(rich);
            assertThat(em.createQuery(
                                    "select c.id from Customer c where c.id between :a and :b and not exists"
                                            + " (select 1 from PurchaseOrder o where o.customer = c and o.amount > :x)"
                                            + " order by c.id",
                                    Long.class)
                            .setParameter("a", from)
                            .setParameter("b", to)
                            .setParameter("x", threshold)
                            .getResultList())
                    .isEqualTo(ids.stream().filter(id -> !rich.contains(id)).toList());

            // a join with the reference table, across shards
            assertThat(em
                            .createQuery(
                                    "select c.id, co.name from Customer c join c.country co"
                                            + " where c.id between :a and :b and co.code = 'NL' order by c.id",
                                    Object[].class)
                            .setParameter("a", from)
                            .setParameter("b", to)
                            .getResultList()
                            .stream()
                            .map(HibernateIT::row)
                            .toList())
                    .isEqualTo(ids.stream()
                            .filter(id -> countryOf(id).equals("NL"))
                            .map(id -> id + "|Netherlands")
                            .toList());

            // min, max, avg, sum of the orders across shards
            List<BigDecimal> amounts = ids.stream()
                    .flatMap(id -> IntStream.rangeClosed(1, orderCount(id)).mapToObj(n -> amount(id, n)))
                    .toList();
            BigDecimal total = amounts.stream().reduce(BigDecimal.ZERO, BigDecimal::add);
            Object[] aggregates = em.createQuery(
                            "select min(o.amount), max(o.amount), avg(o.amount), sum(o.amount) from PurchaseOrder o"
                                    + " where o.id.customerId between :a and :b",
                            Object[].class)
                    .setParameter("a", from)
                    .setParameter("b", to)
                    .getSingleResult();
            assertThat((BigDecimal) aggregates[0])
                    .isEqualByComparingTo(
                            amounts.stream().min(BigDecimal::compareTo).orElseThrow());
            assertThat((BigDecimal) aggregates[1])
                    .isEqualByComparingTo(
                            amounts.stream().max(BigDecimal::compareTo).orElseThrow());
            assertThat(((Number) aggregates[2]).doubleValue())
                    .isCloseTo(total.doubleValue() / amounts.size(), within(1e-6));
            assertThat((BigDecimal) aggregates[3]).isEqualByComparingTo(total);
            // count of an entity with a composite id (Spring Data's count query of such an entity): Hibernate 7.4
            // renders it count(*)
            assertThat(em.createQuery(
                                    "select count(o) from PurchaseOrder o where o.id.customerId between :a and :b",
                                    Long.class)
                            .setParameter("a", from)
                            .setParameter("b", to)
                            .getSingleResult())
                    .isEqualTo(amounts.size());

            // Criteria API: predicates and ordering across shards
            CriteriaBuilder cb = em.getCriteriaBuilder();
            CriteriaQuery<Customer> q = cb.createQuery(Customer.class);
            Root<Customer> c = q.from(Customer.class);
            q.select(c)
                    .where(
                            cb.between(c.<Long>get("id"), from, to),
                            cb.equal(c.get("country").get("code"), "NL"),
                            cb.greaterThanOrEqualTo(c.<String>get("name"), "c-3020"))
                    .orderBy(cb.desc(c.get("name")));
            assertThat(em.createQuery(q).getResultList().stream()
                            .map(Customer::getId)
                            .toList())
                    .isEqualTo(ids.stream()
                            .filter(id -> countryOf(id).equals("NL") && id >= 3020)
                            .sorted(Comparator.reverseOrder())
                            .toList());
            CriteriaQuery<Long> n = cb.createQuery(Long.class);
            Root<PurchaseOrder> o = n.from(PurchaseOrder.class);
            n.select(cb.count(o.get("id").get("orderNo")))
                    .where(
                            cb.between(o.get("id").<Long>get("customerId"), from, to),
                            cb.greaterThan(o.<BigDecimal>get("amount"), threshold));
            assertThat(em.createQuery(n).getSingleResult())
                    .isEqualTo(amounts.stream()
                            .filter(x -> x.compareTo(threshold) > 0)
                            .count());
        }
        // Hibernate's multi-id load: where c1_0.id = any (?) with an array of keys on both shards
        try (Session s = sf.openSession()) {
            long on0 = idOn(0, from, to);
            long on1 = idOn(1, from, to);
            List<Customer> found = s.findMultiple(Customer.class, List.of(on1, on0, 9_999_999L));
            // Hibernate 7's findMultiple keeps the order of the ids and gives null for a missing one; and the
            // driver's cross-shard read of "where c1_0.id = any (?)" with a bigint[] parameter (README: = ANY(?) is
            // read across shards; an array parameter through the cross-shard plan is not shown there)
            assertThat(found).hasSize(3);
            assertThat(found.get(0).getId()).isEqualTo(on1);
            assertThat(found.get(1).getId()).isEqualTo(on0);
            assertThat(found.get(2)).isNull();
        }
    }

    /**
     * Bulk JPQL statements without a key run on every shard in one two-phase-commit transaction with the update counts
     * summed; a native count across shards comes back as a Number; a bulk delete rolled back leaves every shard as it
     * was; changing a shard key with a native update is refused (0A000) as documented.
     */
    @Test
    @Order(5)
    void bulkUpdatesAndDeletesOverBothShardsAndNativeQueries() throws SQLException {
        long from = 4000;
        long to = 4039;
        seed(from, to);
        int renamed = sf.fromTransaction(
                s -> s.createMutationQuery("update Customer c set c.name = :n where c.id between :a and :b")
                        .setParameter("n", "bulk")
                        .setParameter("a", from + 5)
                        .setParameter("b", from + 24)
                        .executeUpdate());
        assertThat(renamed).isEqualTo(20);
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            assertThat(rowsOn(
                            shard,
                            "SELECT id, name FROM customer WHERE id BETWEEN " + from + " AND " + to + " ORDER BY 1"))
                    .isEqualTo(idsOn(shard, from, to).stream()
                            .map(id -> id + "|" + (id >= from + 5 && id <= from + 24 ? "bulk" : name(id)))
                            .toList());
        }
        int marked = sf.fromTransaction(s -> s.createMutationQuery("update PurchaseOrder o set o.status = 'X'"
                        + " where o.id.customerId between :a and :b and o.id.orderNo = 1")
                .setParameter("a", from)
                .setParameter("b", to)
                .executeUpdate());
        assertThat(marked).isEqualTo(40);
        // a bulk delete, rolled back: nothing deleted anywhere
        try (EntityManager em = sf.createEntityManager()) {
            em.getTransaction().begin();
            assertThat((long) em.createQuery("delete from PurchaseOrder o where o.id.customerId between :a and :b")
                            .setParameter("a", from)
                            .setParameter("b", to)
                            .executeUpdate())
                    .isEqualTo(LongStream.rangeClosed(from, to)
                            .map(id -> orderCount(id))
                            .sum());
            em.getTransaction().rollback();
        }
        long ordersInRange =
                LongStream.rangeClosed(from, to).map(id -> orderCount(id)).sum();
        try (EntityManager em = sf.createEntityManager()) {
            Object inRange = em.createNativeQuery(
                            "select count(*) from purchase_order where customer_id between :a and :b")
                    .setParameter("a", from)
                    .setParameter("b", to)
                    .getSingleResult();
            assertThat(inRange).isInstanceOf(Number.class);
            assertThat(((Number) inRange).longValue()).isEqualTo(ordersInRange);
        }
        // the keyless delete: only this test writes status 'X'
        int deleted = sf.fromTransaction(s -> s.createMutationQuery("delete from PurchaseOrder o where o.status = 'X'")
                .executeUpdate());
        assertThat(deleted).isEqualTo(40);
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            List<String> expected = new ArrayList<>();
            for (long id : idsOn(shard, from, to)) {
                for (int n = 2; n <= orderCount(id); n++) {
                    expected.add(id + "|" + n + "|" + status(n));
                }
            }
            assertThat(rowsOn(
                            shard,
                            "SELECT customer_id, order_no, status FROM purchase_order WHERE customer_id BETWEEN " + from
                                    + " AND " + to + " ORDER BY 1, 2"))
                    .as("orders left on shard %d", shard)
                    .isEqualTo(expected);
        }
        // a native count of the whole table, as a Number: every shard's rows once
        long onShards = 0;
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            onShards += Long.parseLong(cluster.primary(shard).queryString("SELECT count(*) FROM purchase_order"));
        }
        try (EntityManager em = sf.createEntityManager()) {
            Object nativeCount =
                    em.createNativeQuery("select count(*) from purchase_order").getSingleResult();
            assertThat(nativeCount).isInstanceOf(Number.class);
            assertThat(((Number) nativeCount).longValue()).isEqualTo(onShards);
        }
        // changing a shard key is refused (0A000), and the row stays where it was
        long moved = idOn(0, from, to);
        try (EntityManager em = sf.createEntityManager()) {
            em.getTransaction().begin();
            Throwable refused =
                    catchThrowable(() -> em.createNativeQuery("update customer set id = :nid where id = :id")
                            .setParameter("nid", moved + 1_000_000)
                            .setParameter("id", moved)
                            .executeUpdate());
            assertThat(refused).isInstanceOf(PersistenceException.class);
            assertRefused(refused, "0A000", "changing the shard key id");
            em.getTransaction().rollback();
        }
        assertThat(customerOnItsShard(moved)).isNotNull();
        assertThat(customerOnItsShard(moved + 1_000_000)).isNull();
    }

    /**
     * What we care most about: no transaction is ever partly committed. Writes on both shards flushed then rolled back
     * leave nothing; a second flush failing on a duplicate key (a row that exists, not loaded) after a first flush
     * wrote on both shards gives the constraint's SQLState and leaves nothing of either flush; the same failure inside
     * {@code commit()} gives RollbackException and leaves nothing either.
     */
    @Test
    @Order(6)
    void rolledBackOrFailedTransactionsLeaveNothingOnAnyShard() throws SQLException {
        long from = 5000;
        long to = 5029;
        seed(from, to);
        List<Long> zero = idsOn(0, from, to);
        List<Long> one = idsOn(1, from, to);
        long new0 = idOn(0, 5100, 5199);
        long new1 = idOn(1, 5100, 5199);

        // 1. updates on both shards and an insert, flushed, then rolled back by the application
        try (EntityManager em = sf.createEntityManager()) {
            EntityTransaction tx = em.getTransaction();
            tx.begin();
            em.find(Customer.class, zero.get(0)).setName("rolled back");
            em.find(Customer.class, one.get(0)).setName("rolled back");
            em.persist(newCustomer(em, new0));
            em.flush();
            // a read across shards inside the transaction sees its own writes on both
            assertThat(em.createQuery("select count(c) from Customer c where c.name = 'rolled back'", Long.class)
                            .getSingleResult())
                    .isEqualTo(2);
            tx.rollback();
        }
        assertUntouched(zero.get(0));
        assertUntouched(one.get(0));
        assertThat(customerOnItsShard(new0)).isNull();
        assertThat(ordersOnItsShard(new0)).isEmpty();

        // 2. a first flush writes on both shards; the second fails on a duplicate key
        long dup = one.get(1);
        try (EntityManager em = sf.createEntityManager()) {
            EntityTransaction tx = em.getTransaction();
            tx.begin();
            em.find(Customer.class, zero.get(1)).setName("partial");
            em.persist(newCustomer(em, new1));
            em.flush();
            em.persist(newCustomer(em, dup)); // exists on shard 1, not in this persistence context
            Throwable failure = catchThrowable(em::flush);
            // persist assumes a new entity (no lookup by id): the INSERT reaches the shard, which refuses it (23505)
            assertThat(failure).isInstanceOf(PersistenceException.class);
            assertThat(sqlStates(failure)).as("SQLStates of %s", failure).contains("23505");
            assertThat(tx.getRollbackOnly()).isTrue();
            tx.rollback();
        }
        assertUntouched(zero.get(1));
        assertUntouched(dup);
        assertThat(customerOnItsShard(new1)).isNull();
        assertThat(ordersOnItsShard(new1)).isEmpty();

        // 3. the same inside commit(): its flush fails on shard 0 after a flush on shard 1
        long writer = one.get(2);
        long dupOwner = zero.get(2);
        try (EntityManager em = sf.createEntityManager()) {
            EntityTransaction tx = em.getTransaction();
            tx.begin();
            Customer w = em.find(Customer.class, writer);
            w.setName("lost");
            em.persist(new PurchaseOrder(w, 99, new BigDecimal("1.00"), "LOST", BASE));
            em.flush();
            em.persist(new PurchaseOrder(
                    em.getReference(Customer.class, dupOwner), 1, new BigDecimal("2.00"), "DUP", BASE));
            Throwable failure = catchThrowable(tx::commit);
            assertThat(failure).isInstanceOf(RollbackException.class);
            assertThat(sqlStates(failure)).as("SQLStates of %s", failure).contains("23505");
            assertThat(tx.isActive()).isFalse();
        }
        assertUntouched(writer);
        assertUntouched(dupOwner);
    }

    /**
     * A StatelessSession's batched inserts (customers and orders over both shards in one transaction), its versioned
     * update and delete; {@code doWork} with the raw JDBC connection inside a Hibernate transaction: it is the driver's
     * connection, in the transaction (sees Hibernate's flushed insert, its update commits and rolls back with it).
     */
    @Test
    @Order(7)
    void statelessSessionBatchesAndRawJdbcWorkInsideHibernateTransactions() throws SQLException {
        long from = 6000;
        long to = 6049;
        try (StatelessSession ss = sf.openStatelessSession()) {
            ss.setJdbcBatchSize(25);
            Transaction tx = ss.beginTransaction();
            Map<String, Country> countries = new LinkedHashMap<>();
            for (String code : CODES) {
                countries.put(code, ss.get(Country.class, code));
            }
            List<Customer> customers = new ArrayList<>();
            List<PurchaseOrder> orders = new ArrayList<>();
            for (long id = from; id <= to; id++) {
                Customer c = new Customer(id, name(id), countries.get(countryOf(id)));
                customers.add(c);
                for (int n = 1; n <= orderCount(id); n++) {
                    orders.add(new PurchaseOrder(c, n, amount(id, n), status(n), created(id, n)));
                }
            }
            ss.insertMultiple(customers);
            ss.insertMultiple(orders);
            tx.commit();
        }
        assertCustomersPlaced(from, to);
        assertOrdersPlaced(from, to);
        long a = idOn(0, from, to);
        long b = idOn(1, from, to);
        try (StatelessSession ss = sf.openStatelessSession()) {
            Transaction tx = ss.beginTransaction();
            Customer ca = ss.get(Customer.class, a);
            ca.setName("stateless");
            ss.update(ca);
            ss.delete(ss.get(PurchaseOrder.class, new OrderId(b, 1)));
            tx.commit();
        }
        assertThat(customerOnItsShard(a)).isEqualTo("stateless|" + countryOf(a) + "|1");
        assertThat(ordersOnItsShard(b)).isEqualTo(expectedOrderRows(b).subList(1, orderCount(b)));

        // raw JDBC inside a Hibernate transaction, committed
        long x = idOn(0, 6100, 6199);
        try (Session s = sf.openSession()) {
            Transaction tx = s.beginTransaction();
            s.persist(newCustomer(s, x));
            s.flush();
            s.doWork(conn -> {
                assertThat(conn.getAutoCommit())
                        .as("inside Hibernate's transaction")
                        .isFalse();
                assertThat(conn.isWrapperFor(ShardlineConnection.class)).isTrue();
                try (PreparedStatement ps = conn.prepareStatement("UPDATE customer SET name = ? WHERE id = ?")) {
                    ps.setString(1, "raw jdbc");
                    ps.setLong(2, b);
                    assertThat(ps.executeUpdate()).isEqualTo(1);
                }
                try (PreparedStatement ps = conn.prepareStatement("SELECT name FROM customer WHERE id = ?")) {
                    ps.setLong(1, x);
                    try (ResultSet rs = ps.executeQuery()) {
                        assertThat(rs.next())
                                .as("Hibernate's flushed insert, seen in the transaction")
                                .isTrue();
                        assertThat(rs.getString(1)).isEqualTo(name(x));
                    }
                }
            });
            tx.commit();
        }
        assertThat(customerOnItsShard(x)).isEqualTo(name(x) + "|" + countryOf(x) + "|0");
        assertThat(customerOnItsShard(b)).isEqualTo("raw jdbc|" + countryOf(b) + "|0");

        // raw JDBC inside a Hibernate transaction, rolled back with it
        long y = idOn(1, 6100, 6199);
        try (Session s = sf.openSession()) {
            Transaction tx = s.beginTransaction();
            s.persist(newCustomer(s, y));
            s.flush();
            s.doWork(conn -> {
                try (PreparedStatement ps = conn.prepareStatement("UPDATE customer SET name = ? WHERE id = ?")) {
                    ps.setString(1, "not kept");
                    ps.setLong(2, a);
                    assertThat(ps.executeUpdate()).isEqualTo(1);
                }
            });
            tx.rollback();
        }
        assertThat(customerOnItsShard(y)).isNull();
        assertThat(ordersOnItsShard(y)).isEmpty();
        assertThat(customerOnItsShard(a)).isEqualTo("stateless|" + countryOf(a) + "|1");
    }

    /**
     * Pessimistic locks by key: {@code find(..., PESSIMISTIC_WRITE)} locks the row on its shard's primary (another
     * EntityManager's NOWAIT attempt fails with 55P03), the update commits; a JPQL query by key with PESSIMISTIC_WRITE
     * and PESSIMISTIC_READ; a locking query without the key is refused with 0A000 (README: FOR UPDATE without the key).
     */
    @Test
    @Order(8)
    void pessimisticLocksByKey() throws Exception {
        long from = 7000;
        long to = 7019;
        seed(from, to);
        long a = idOn(0, from, to);
        long b = idOn(1, from, to);
        long c = idsOn(1, from, to).get(1);
        ExecutorService other = Executors.newSingleThreadExecutor();
        try (EntityManager holder = sf.createEntityManager()) {
            EntityTransaction tx = holder.getTransaction();
            tx.begin();
            Customer locked = holder.find(Customer.class, a, LockModeType.PESSIMISTIC_WRITE);
            assertThat(holder.getLockMode(locked)).isEqualTo(LockModeType.PESSIMISTIC_WRITE);
            Callable<Throwable> attempt = () -> {
                try (EntityManager em = sf.createEntityManager()) {
                    em.getTransaction().begin();
                    try {
                        // lock timeout 0: ... for no key update nowait
                        em.find(
                                Customer.class,
                                a,
                                LockModeType.PESSIMISTIC_WRITE,
                                Map.<String, Object>of("jakarta.persistence.lock.timeout", 0));
                        return null;
                    } catch (RuntimeException e) {
                        return e;
                    } finally {
                        if (em.getTransaction().isActive()) {
                            em.getTransaction().rollback();
                        }
                    }
                }
            };
            Future<Throwable> refused = other.submit(attempt);
            Throwable failure = refused.get(60, TimeUnit.SECONDS);
            // Hibernate 7.4 maps 55P03 to its LockTimeoutException, surfaced as either JPA class by the lock options
            assertThat(failure)
                    .as("a second writer's NOWAIT lock of the same row")
                    .isInstanceOfAny(PessimisticLockException.class, LockTimeoutException.class);
            assertThat(sqlStates(failure)).contains("55P03");
            locked.setName("locked update");
            tx.commit();
        } finally {
            other.shutdownNow();
        }
        assertThat(customerOnItsShard(a)).isEqualTo("locked update|" + countryOf(a) + "|1");

        sf.inTransaction(s -> s.createQuery("select c from Customer c where c.id = :id", Customer.class)
                .setParameter("id", b)
                .setLockMode(LockModeType.PESSIMISTIC_WRITE)
                .getSingleResult()
                .setName("locked by query"));
        assertThat(customerOnItsShard(b)).isEqualTo("locked by query|" + countryOf(b) + "|1");
        String shared =
                sf.fromTransaction(s -> s.createQuery("select c from Customer c where c.id = :id", Customer.class)
                        .setParameter("id", c)
                        .setLockMode(LockModeType.PESSIMISTIC_READ)
                        .getSingleResult()
                        .getName());
        assertThat(shared).isEqualTo(name(c));

        // a row lock without the key is a write without a key: refused, nothing locked anywhere
        try (EntityManager em = sf.createEntityManager()) {
            em.getTransaction().begin();
            Throwable refused = catchThrowable(
                    () -> em.createQuery("select c from Customer c where c.id between :a and :b", Customer.class)
                            .setParameter("a", from)
                            .setParameter("b", to)
                            .setLockMode(LockModeType.PESSIMISTIC_WRITE)
                            .getResultList());
            assertThat(refused).isInstanceOf(PersistenceException.class);
            assertRefused(refused, "0A000", "no usable value for its shard key id");
            em.getTransaction().rollback();
        }
    }

    /**
     * Detached entities and cascades: merge of a detached customer (renamed, an order added while detached) updates it
     * and inserts the order on its shard; merging the now stale copy fails on its version; orphan removal deletes the
     * removed order on its shard; removing customers on both shards in one transaction cascades to their orders and
     * leaves their neighbours alone.
     */
    @Test
    @Order(9)
    void mergeOfDetachedEntitiesOrphanRemovalAndCascadingRemove() throws SQLException {
        long from = 8000;
        long to = 8019;
        seed(from, to);
        List<Long> zero = idsOn(0, from, to);
        List<Long> one = idsOn(1, from, to);
        long a = zero.get(0);
        long b = one.get(0);
        long c = zero.get(1);
        long d = one.get(1);

        Customer detached;
        try (EntityManager em = sf.createEntityManager()) {
            detached = em.find(Customer.class, a);
            Hibernate.initialize(detached.getOrders());
        }
        detached.setName("merged");
        detached.addOrder(50, new BigDecimal("12.34"), "NEW", BASE);
        Customer copy = detached;
        Customer merged = sf.fromTransaction(s -> s.merge(copy));
        assertThat(merged.getVersion()).isEqualTo(1);
        assertThat(customerOnItsShard(a)).isEqualTo("merged|" + countryOf(a) + "|1");
        assertThat(ordersOnItsShard(a)).contains("50|12.34|NEW").hasSize(orderCount(a) + 1);
        // the same detached copy still says version 0: stale
        copy.setName("stale");
        assertThatThrownBy(() -> sf.inTransaction(s -> s.merge(copy)))
                .isInstanceOfAny(OptimisticLockException.class, StaleStateException.class);
        assertThat(customerOnItsShard(a)).isEqualTo("merged|" + countryOf(a) + "|1");

        // orphan removal: the order taken out of the collection is deleted on its shard
        sf.inTransaction(s ->
                s.find(Customer.class, b).getOrders().removeIf(o -> o.getId().getOrderNo() == 1));
        assertThat(ordersOnItsShard(b)).isEqualTo(expectedOrderRows(b).subList(1, orderCount(b)));

        // removal with cascade, customers on both shards in one transaction
        sf.inTransaction(s -> {
            s.remove(s.find(Customer.class, c));
            s.remove(s.find(Customer.class, d));
        });
        for (long gone : List.of(c, d)) {
            assertThat(customerOnItsShard(gone)).as("customer %d", gone).isNull();
            assertThat(ordersOnItsShard(gone)).as("orders of %d", gone).isEmpty();
        }
        for (long left : range(from, to)) {
            if (left != a && left != b && left != c && left != d) {
                assertUntouched(left);
            }
        }
    }

    /**
     * SEQUENCE ids through the pooled optimizer: {@code select nextval('ticket_seq')} runs on the home shard, also
     * inside a transaction that started on shard 1; a second SessionFactory (another application instance, booted with
     * {@code hbm2ddl.auto=validate}, so validating the schema through the driver) draws its own blocks. All ids are
     * unique and every row is on its id's shard, and rows are on both shards.
     */
    @Test
    @Order(10)
    void sequenceIdsAreUniqueAcrossFactoriesAndEachRowIsOnItsKeysShard() throws SQLException {
        seed(9500, 9519);
        long remote = idOn(1, 9500, 9519);
        List<Long> ids = new ArrayList<>();
        // the transaction's first statement is on shard 1, then keys come from the home shard's sequence
        sf.inTransaction(s -> {
            assertThat(s.find(Customer.class, remote)).isNotNull();
            for (int i = 0; i < 60; i++) {
                Ticket t = new Ticket("first-" + i, s.getReference(Country.class, countryOf(i)));
                s.persist(t);
                ids.add(t.getId());
            }
        });
        try (SessionFactory second = factory("validating", "validate")) {
            second.inTransaction(s -> {
                for (int i = 0; i < 60; i++) {
                    Ticket t = new Ticket("second-" + i, null);
                    s.persist(t);
                    ids.add(t.getId());
                }
            });
        }
        sf.inTransaction(s -> {
            for (int i = 0; i < 30; i++) {
                Ticket t = new Ticket("third-" + i, null);
                s.persist(t);
                ids.add(t.getId());
            }
        });
        assertThat(ids)
                .hasSize(150)
                .doesNotHaveDuplicates()
                .allSatisfy(id -> assertThat(id).isPositive());
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            int s = shard;
            List<String> expected = ids.stream()
                    .filter(id -> shardOf(id) == s)
                    .sorted()
                    .map(String::valueOf)
                    .toList();
            assertThat(expected).as("ids of shard %d", shard).isNotEmpty();
            assertThat(rowsOn(shard, "SELECT id FROM ticket ORDER BY 1"))
                    .as("tickets on shard %d", shard)
                    .isEqualTo(expected);
        }
        try (EntityManager em = sf.createEntityManager()) {
            // Hibernate renders "t1_0.subject like 'second-%' escape ''" (an empty ESCAPE) in a cross-shard
            // read
            assertThat(em.createQuery("select count(t) from Ticket t where t.subject like 'second-%'", Long.class)
                            .getSingleResult())
                    .isEqualTo(60);
        }
    }

    /**
     * Writes to the reference table through Hibernate: a new country persisted with customers on both shards in one
     * transaction, renamed with a dirty check in a transaction that also updates customers on both shards (every copy
     * changes), renamed again and rolled back (no copy changes); a read by key joins the copy on the key's shard.
     */
    @Test
    @Order(11)
    void referenceRowsWrittenThroughHibernateChangeEveryCopyOrNone() throws SQLException {
        long from = 9000;
        long to = 9019;
        sf.inTransaction(s -> {
            s.persist(new Country("BE", "Belgium"));
            for (long id = from; id <= to; id++) {
                s.persist(newCustomer(s, id, "BE"));
            }
        });
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            assertThat(rowsOn(shard, "SELECT name FROM country WHERE code = 'BE'"))
                    .as("shard %d", shard)
                    .containsExactly("Belgium");
        }
        assertCustomersPlaced(from, to);
        long a = idOn(0, from, to);
        long b = idOn(1, from, to);
        sf.inTransaction(s -> {
            s.find(Country.class, "BE").setName("Belgique");
            s.find(Customer.class, a).setName("a in BE");
            s.find(Customer.class, b).setName("b in BE");
        });
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            assertThat(rowsOn(shard, "SELECT name FROM country WHERE code = 'BE'"))
                    .as("shard %d", shard)
                    .containsExactly("Belgique");
        }
        assertThat(customerOnItsShard(a)).isEqualTo("a in BE|BE|1");
        assertThat(customerOnItsShard(b)).isEqualTo("b in BE|BE|1");
        try (EntityManager em = sf.createEntityManager()) {
            em.getTransaction().begin();
            em.find(Country.class, "BE").setName("Belgie");
            em.find(Customer.class, b).setName("not kept");
            em.flush();
            em.getTransaction().rollback();
        }
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            assertThat(rowsOn(shard, "SELECT name FROM country WHERE code = 'BE'"))
                    .as("shard %d", shard)
                    .containsExactly("Belgique");
        }
        assertThat(customerOnItsShard(b)).isEqualTo("b in BE|BE|1");
        try (EntityManager em = sf.createEntityManager()) {
            for (long id : List.of(a, b)) {
                assertThat(em.createQuery("select c.country.name from Customer c where c.id = :id", String.class)
                                .setParameter("id", id)
                                .getSingleResult())
                        .isEqualTo("Belgique");
            }
        }
    }
}
