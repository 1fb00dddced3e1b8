package io.shardline.sqltests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.jooq.impl.DSL.count;
import static org.jooq.impl.DSL.excluded;
import static org.jooq.impl.DSL.field;
import static org.jooq.impl.DSL.name;
import static org.jooq.impl.DSL.sum;
import static org.jooq.impl.DSL.table;

import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.ShardedTable;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;
import org.apache.ibatis.annotations.Insert;
import org.apache.ibatis.annotations.Options;
import org.apache.ibatis.annotations.Param;
import org.apache.ibatis.annotations.Select;
import org.apache.ibatis.annotations.Update;
import org.apache.ibatis.datasource.unpooled.UnpooledDataSource;
import org.apache.ibatis.executor.BatchResult;
import org.apache.ibatis.mapping.Environment;
import org.apache.ibatis.session.ExecutorType;
import org.apache.ibatis.session.RowBounds;
import org.apache.ibatis.session.SqlSession;
import org.apache.ibatis.session.SqlSessionFactory;
import org.apache.ibatis.session.SqlSessionFactoryBuilder;
import org.apache.ibatis.transaction.jdbc.JdbcTransactionFactory;
import org.jooq.Cursor;
import org.jooq.DSLContext;
import org.jooq.Field;
import org.jooq.Record;
import org.jooq.Record2;
import org.jooq.SQLDialect;
import org.jooq.Table;
import org.jooq.impl.DSL;
import org.jooq.impl.SQLDataType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * jOOQ and MyBatis, which build their own SQL and make their own JDBC calls (multi-row inserts, RETURNING and
 * generated keys, upserts, batches, lazy cursors, metadata, transactions), through the driver on a 2-shard cluster
 * with two-phase commit: each result as the library returns it, and each row on the primary of its key's shard.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ClientLibrariesIT {
    private static final Table<Record> ACCOUNT = table(name("account"));
    private static final Field<Long> ID = field(name("id"), SQLDataType.BIGINT);
    private static final Field<String> OWNER = field(name("owner"), SQLDataType.VARCHAR);
    private static final Field<BigDecimal> BALANCE = field(name("balance"), SQLDataType.NUMERIC);

    private static LocalCluster cluster;
    private static HashRing ring;
    private static String url;

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder()
                .name("libraries")
                .shards(2)
                .hubs(1)
                .leaves(0)
                .start();
        ring = RouterClusters.publish(
                cluster,
                List.of(
                        new ShardedTable("public", "account", "id", KeyType.INTEGER),
                        new ShardedTable("public", "entry", "account_id", KeyType.INTEGER)),
                List.of(new ReferenceTable("public", "currency")));
        url = cluster.shardlineUrl() + "?user=postgres&twoPhaseCommit=true";
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE account (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(12, 2))");
            s.execute("CREATE TABLE entry (account_id bigint NOT NULL, seq bigserial, note text,"
                    + " PRIMARY KEY (account_id, seq))");
        }
        RouterClusters.awaitTable(cluster.nodes(), "entry");
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (cluster != null) {
            cluster.close();
        }
    }

    private static int shardOf(long id) {
        return ring.shardFor(KeyHash.hashInt8(id));
    }

    /** The ids of {@code table} whose {@code column} lies in [from, to] on shard {@code shard}'s primary, read there. */
    private static List<Long> idsOn(int shard, String table, String column, long from, long to) throws SQLException {
        List<Long> ids = new ArrayList<>();
        try (Connection c = cluster.primary(shard).connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT " + column + " FROM " + table + " WHERE " + column + " BETWEEN "
                        + from + " AND " + to + " ORDER BY 1")) {
            while (rs.next()) {
                ids.add(rs.getLong(1));
            }
        }
        return ids;
    }

    /** Each of [from, to] on its shard's primary, and on no other. */
    private static void assertPlaced(long from, long to) throws SQLException {
        for (int shard = 0; shard < 2; shard++) {
            int s = shard;
            assertThat(idsOn(shard, "account", "id", from, to))
                    .as("shard %d", shard)
                    .isEqualTo(LongStream.rangeClosed(from, to)
                            .filter(id -> shardOf(id) == s)
                            .boxed()
                            .toList());
        }
    }

    private static BigDecimal money(long cents) {
        return BigDecimal.valueOf(cents, 2);
    }

    @Test
    void jooqsStatementsRunAsOnOnePostgresql() throws SQLException {
        try (Connection c = DriverManager.getConnection(url)) {
            DSLContext ctx = DSL.using(c, SQLDialect.POSTGRES);
            // one multi-row INSERT whose rows belong to both shards
            var insert = ctx.insertInto(ACCOUNT, ID, OWNER, BALANCE);
            for (long id = 1; id <= 20; id++) {
                insert = insert.values(id, "jooq-" + id, money(id * 100));
            }
            assertThat(insert.execute()).isEqualTo(20);
            assertPlaced(1, 20);
            Record2<Long, String> returned = ctx.insertInto(ACCOUNT, ID, OWNER, BALANCE)
                    .values(100L, "returning", money(500))
                    .returningResult(ID, OWNER)
                    .fetchOne();
            assertThat(returned.value1()).isEqualTo(100L);
            assertThat(returned.value2()).isEqualTo("returning");
            // an upsert of that row, as jOOQ renders ON CONFLICT
            assertThat(ctx.insertInto(ACCOUNT, ID, OWNER, BALANCE)
                            .values(100L, "upserted", money(1))
                            .onConflict(ID)
                            .doUpdate()
                            .set(OWNER, excluded(OWNER))
                            .execute())
                    .isEqualTo(1);
            assertThat(ctx.select(OWNER).from(ACCOUNT).where(ID.eq(100L)).fetchOne(OWNER))
                    .isEqualTo("upserted");
            // a batch of one statement with bind values for both shards
            var batch = ctx.batch(ctx.insertInto(ACCOUNT, ID, OWNER, BALANCE).values((Long) null, null, null));
            for (long id = 21; id <= 30; id++) {
                batch = batch.bind(id, "batch-" + id, money(id));
            }
            assertThat(batch.execute()).hasSize(10).containsOnly(1);
            assertPlaced(21, 30);
            // reads: by key, an IN list over both shards, a page of the ordered table, aggregates (the other test's
            // rows are from 201 on)
            assertThat(ctx.select(OWNER).from(ACCOUNT).where(ID.eq(7L)).fetchOne(OWNER))
                    .isEqualTo("jooq-7");
            assertThat(ctx.select(ID)
                            .from(ACCOUNT)
                            .where(ID.in(2L, 3L, 15L, 29L))
                            .orderBy(ID)
                            .fetch(ID))
                    .containsExactly(2L, 3L, 15L, 29L);
            assertThat(ctx.select(ID)
                            .from(ACCOUNT)
                            .orderBy(ID)
                            .limit(5)
                            .offset(3)
                            .fetch(ID))
                    .containsExactly(4L, 5L, 6L, 7L, 8L);
            Record2<Integer, BigDecimal> totals = ctx.select(count(), sum(BALANCE))
                    .from(ACCOUNT)
                    .where(ID.lt(200L))
                    .fetchOne();
            assertThat(totals.value1()).isEqualTo(31);
            // 100 * (1 + ... + 20) cents, 21 + ... + 30 cents, 1 cent (the upsert kept the balance: 500)
            assertThat(totals.value2()).isEqualByComparingTo(money(21_000 + 255 + 500));
            // a lazy cursor over every shard, fetched a few rows at a time
            int seen = 0;
            try (Cursor<Record> cursor = ctx.selectFrom(ACCOUNT)
                    .where(ID.lt(200L))
                    .orderBy(ID)
                    .fetchSize(4)
                    .fetchLazy()) {
                for (Record r : cursor) {
                    assertThat(r.get(ID)).isPositive();
                    seen++;
                }
            }
            assertThat(seen).isEqualTo(31);
            // metadata, as jOOQ reads it through DatabaseMetaData
            assertThat(ctx.meta().getTables("account"))
                    .singleElement()
                    .satisfies(t -> assertThat(t.fields()).hasSize(3));
            // a transaction over both shards commits both updates, and one that throws neither
            long a = 1;
            long b = LongStream.rangeClosed(2, 20)
                    .filter(id -> shardOf(id) != shardOf(a))
                    .findFirst()
                    .orElseThrow();
            ctx.transaction(cfg -> {
                DSL.using(cfg)
                        .update(ACCOUNT)
                        .set(BALANCE, BALANCE.minus(money(50)))
                        .where(ID.eq(a))
                        .execute();
                DSL.using(cfg)
                        .update(ACCOUNT)
                        .set(BALANCE, BALANCE.plus(money(50)))
                        .where(ID.eq(b))
                        .execute();
            });
            assertThatThrownBy(() -> ctx.transaction(cfg -> {
                        DSL.using(cfg)
                                .update(ACCOUNT)
                                .set(BALANCE, money(0))
                                .where(ID.eq(a))
                                .execute();
                        DSL.using(cfg)
                                .update(ACCOUNT)
                                .set(BALANCE, money(0))
                                .where(ID.eq(b))
                                .execute();
                        throw new IllegalStateException("the application gives up");
                    }))
                    .hasMessageContaining("gives up");
            assertThat(ctx.select(BALANCE).from(ACCOUNT).where(ID.eq(a)).fetchOne(BALANCE))
                    .isEqualByComparingTo(money(a * 100 - 50));
            assertThat(ctx.select(BALANCE).from(ACCOUNT).where(ID.eq(b)).fetchOne(BALANCE))
                    .isEqualByComparingTo(money(b * 100 + 50));
            assertThat(c.getAutoCommit()).isTrue();
        }
    }

    /** A row of {@code account} as MyBatis maps it. */
    public static class Account {
        public Long id;
        public String owner;
        public BigDecimal balance;

        public Account() {}

        Account(long id, String owner, BigDecimal balance) {
            this.id = id;
            this.owner = owner;
            this.balance = balance;
        }
    }

    /** A row of {@code entry}: its seq is generated on its shard. */
    public static class Entry {
        public Long accountId;
        public Long seq;
        public String note;
    }

    /** The statements as a MyBatis application declares them. */
    public interface AccountMapper {
        @Insert("INSERT INTO account (id, owner, balance) VALUES (#{id}, #{owner}, #{balance})")
        int insert(Account account);

        @Insert({
            "<script>INSERT INTO account (id, owner, balance) VALUES",
            "<foreach collection='list' item='a' separator=','>(#{a.id}, #{a.owner}, #{a.balance})</foreach>",
            "</script>"
        })
        int insertAll(@Param("list") List<Account> accounts);

        @Select("SELECT id, owner, balance FROM account WHERE id = #{id}")
        Account byId(long id);

        @Select("SELECT id, owner, balance FROM account WHERE owner LIKE #{prefix} ORDER BY id")
        List<Account> byOwner(String prefix, RowBounds page);

        @Update("UPDATE account SET balance = balance + #{delta} WHERE id = #{id}")
        int credit(@Param("id") long id, @Param("delta") BigDecimal delta);

        @Insert("INSERT INTO entry (account_id, note) VALUES (#{accountId}, #{note})")
        @Options(useGeneratedKeys = true, keyProperty = "seq", keyColumn = "seq")
        int addEntry(Entry entry);
    }

    @Test
    void myBatisMappersRunAsOnOnePostgresql() throws SQLException {
        UnpooledDataSource source = new UnpooledDataSource(ShardlineDriver.class.getName(), url, null);
        org.apache.ibatis.session.Configuration configuration = new org.apache.ibatis.session.Configuration(
                new Environment("shardline", new JdbcTransactionFactory(), source));
        configuration.addMapper(AccountMapper.class);
        SqlSessionFactory factory = new SqlSessionFactoryBuilder().build(configuration);
        // foreach's multi-row INSERT over both shards, committed
        try (SqlSession session = factory.openSession()) {
            List<Account> accounts = new ArrayList<>();
            for (long id = 201; id <= 220; id++) {
                accounts.add(new Account(id, "mybatis-" + id, money(id)));
            }
            assertThat(session.getMapper(AccountMapper.class).insertAll(accounts))
                    .isEqualTo(20);
            session.commit();
        }
        assertPlaced(201, 220);
        // the batch executor: one physical batch per shard, flushed and committed
        try (SqlSession session = factory.openSession(ExecutorType.BATCH)) {
            AccountMapper mapper = session.getMapper(AccountMapper.class);
            for (long id = 221; id <= 230; id++) {
                mapper.insert(new Account(id, "batched-" + id, money(id)));
            }
            List<BatchResult> results = session.flushStatements();
            assertThat(results)
                    .singleElement()
                    .satisfies(r -> assertThat(r.getUpdateCounts()).hasSize(10).containsOnly(1));
            session.commit();
        }
        assertPlaced(221, 230);
        long a = 201;
        long b = LongStream.rangeClosed(202, 230)
                .filter(id -> shardOf(id) != shardOf(a))
                .findFirst()
                .orElseThrow();
        try (SqlSession session = factory.openSession()) {
            AccountMapper mapper = session.getMapper(AccountMapper.class);
            Account read = mapper.byId(205);
            assertThat(read.owner).isEqualTo("mybatis-205");
            assertThat(read.balance).isEqualByComparingTo(money(205));
            // RowBounds pages on the client over a read of both shards
            assertThat(mapper.byOwner("batched-%", new RowBounds(2, 3)))
                    .extracting(x -> x.id)
                    .containsExactly(223L, 224L, 225L);
            // a transfer over both shards, committed; another rolled back
            assertThat(mapper.credit(a, money(-100))).isEqualTo(1);
            assertThat(mapper.credit(b, money(100))).isEqualTo(1);
            session.commit();
            mapper.credit(a, money(-999));
            mapper.credit(b, money(999));
            session.rollback();
            assertThat(mapper.byId(a).balance).isEqualByComparingTo(money(a - 100));
            assertThat(mapper.byId(b).balance).isEqualByComparingTo(money(b + 100));
            // a key generated on the row's shard, handed back as MyBatis asks for it
            Entry entry = new Entry();
            entry.accountId = b;
            entry.note = "opened";
            assertThat(mapper.addEntry(entry)).isEqualTo(1);
            session.commit();
            assertThat(entry.seq).isNotNull().isPositive();
            assertThat(idsOn(shardOf(b), "entry", "seq", entry.seq, entry.seq)).containsExactly(entry.seq);
        }
    }
}
