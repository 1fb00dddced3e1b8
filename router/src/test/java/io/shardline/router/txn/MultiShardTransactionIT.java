package io.shardline.router.txn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.router.exec.ClusterRuntime;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Transactions that write on several shards through the driver (twoPhaseCommit=true): atomic commit and rollback,
 * concurrent transfers keeping the total, clear refusals (2PC off, savepoints across shards), a failed PREPARE
 * rolling back everywhere, and a router that died between the phases resolved by the next router's start.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class MultiShardTransactionIT {
    static final int ACCOUNTS = 200;
    static final long OPENING = 1_000;

    private static LocalCluster cluster;
    private static HashRing ring;
    private static String url;
    /** Two accounts on different shards. */
    private static long a;

    private static long b;

    @BeforeAll
    static void start() throws SQLException {
        cluster =
                LocalCluster.builder().name("bank").shards(2).hubs(0).leaves(0).start();
        ring = RouterClusters.publish(cluster, List.of(new ShardedTable("public", "accounts", "id", KeyType.INTEGER)));
        url = cluster.shardlineUrl() + "?twoPhaseCommit=true";
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL,"
                    + " tag text, CONSTRAINT accounts_tag UNIQUE (tag) DEFERRABLE INITIALLY DEFERRED)");
            try (PreparedStatement insert = c.prepareStatement("INSERT INTO accounts (id, balance) VALUES (?, ?)")) {
                for (long id = 1; id <= ACCOUNTS; id++) {
                    insert.setLong(1, id);
                    insert.setLong(2, OPENING);
                    insert.executeUpdate();
                }
            }
        }
        a = 1;
        b = 2;
        while (shardOf(b) == shardOf(a)) {
            b++;
        }
    }

    @AfterAll
    static void stop() {
        ClusterRuntime.observeTwoPhaseCommits(null);
        ShardlineDriver.closeAll();
        if (cluster != null) {
            cluster.close();
        }
    }

    private static int shardOf(long id) {
        return ring.shardFor(KeyType.INTEGER.hash(id));
    }

    private static void transfer(Connection c, long from, long to, long amount) throws SQLException {
        try (PreparedStatement debit = c.prepareStatement("UPDATE accounts SET balance = balance - ? WHERE id = ?");
                PreparedStatement credit =
                        c.prepareStatement("UPDATE accounts SET balance = balance + ? WHERE id = ?")) {
            debit.setLong(1, amount);
            debit.setLong(2, from);
            assertThat(debit.executeUpdate()).isEqualTo(1);
            credit.setLong(1, amount);
            credit.setLong(2, to);
            assertThat(credit.executeUpdate()).isEqualTo(1);
        }
    }

    private static long balance(long id) {
        return Long.parseLong(
                cluster.primary(shardOf(id)).queryString("SELECT balance FROM accounts WHERE id = " + id));
    }

    private static long total() {
        return Long.parseLong(cluster.primary(0).queryString("SELECT sum(balance) FROM accounts"))
                + Long.parseLong(cluster.primary(1).queryString("SELECT sum(balance) FROM accounts"));
    }

    private static long prepared() {
        return Long.parseLong(cluster.primary(0).queryString("SELECT count(*) FROM pg_prepared_xacts"))
                + Long.parseLong(cluster.primary(1).queryString("SELECT count(*) FROM pg_prepared_xacts"));
    }

    @Test
    void aTransferAcrossShardsCommitsOrRollsBackAsOne() throws SQLException {
        long beforeA = balance(a);
        long beforeB = balance(b);
        try (Connection c = DriverManager.getConnection(url)) {
            c.setAutoCommit(false);
            transfer(c, a, b, 7);
            c.commit();
            assertThat(balance(a)).isEqualTo(beforeA - 7);
            assertThat(balance(b)).isEqualTo(beforeB + 7);
            // read-your-writes on both shards after the commit
            try (PreparedStatement read = c.prepareStatement("SELECT balance FROM accounts WHERE id = ?")) {
                read.setLong(1, b);
                try (ResultSet rs = read.executeQuery()) {
                    rs.next();
                    assertThat(rs.getLong(1)).isEqualTo(beforeB + 7);
                }
            }
            transfer(c, a, b, 100);
            c.rollback();
            assertThat(balance(a)).isEqualTo(beforeA - 7);
            assertThat(balance(b)).isEqualTo(beforeB + 7);
        }
        assertThat(prepared()).isZero();
    }

    /**
     * A transaction-local setting made first (an audit user, a tenant) is set on every shard the transaction reaches
     * (it was set on the home shard alone: a trigger or policy on the other shard read nothing, or failed), and in
     * every snapshot of a read-only REPEATABLE READ transaction's shards.
     */
    @Test
    void aTransactionLocalSettingMadeFirstIsSetOnEveryShardTheTransactionReaches() throws SQLException {
        try (Connection c = DriverManager.getConnection(url)) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.executeQuery("SELECT set_config('app.audit', 'auditor', true)")
                        .close();
                for (long id : new long[] {a, b}) {
                    assertThat(s.executeUpdate("UPDATE accounts SET tag = current_setting('app.audit') || '-" + id
                                    + "' WHERE id = " + id))
                            .isEqualTo(1);
                }
            }
            c.commit();
            for (long id : new long[] {a, b}) {
                assertThat(cluster.primary(shardOf(id)).queryString("SELECT tag FROM accounts WHERE id = " + id))
                        .as("shard %d", shardOf(id))
                        .isEqualTo("auditor-" + id);
            }

            c.setReadOnly(true);
            c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
            try (Statement s = c.createStatement()) {
                s.executeQuery("SELECT set_config('app.audit', 'auditor', true)")
                        .close();
                try (ResultSet rs = s.executeQuery(
                        "SELECT count(*) FROM accounts WHERE tag LIKE current_setting('app.audit') || '-%'")) {
                    rs.next();
                    assertThat(rs.getLong(1)).as("every shard's snapshot").isEqualTo(2);
                }
                try (ResultSet rs = s.executeQuery(
                        "SELECT tag = current_setting('app.audit') || '-' || id FROM accounts WHERE id = " + b)) {
                    rs.next();
                    assertThat(rs.getBoolean(1)).isTrue();
                }
            }
            c.commit();
            c.setReadOnly(false);
            c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
            // set again after the first statement: on the shards reached, and on those reached later
            try (Statement s = c.createStatement()) {
                s.executeQuery("SELECT set_config('app.audit', 'first', true)").close();
                s.executeUpdate(
                        "UPDATE accounts SET tag = current_setting('app.audit') || '-" + a + "' WHERE id = " + a);
                try (PreparedStatement set = c.prepareStatement("SELECT set_config('app.audit', ?, true)")) {
                    set.setString(1, "second");
                    set.executeQuery().close();
                }
                s.executeUpdate(
                        "UPDATE accounts SET tag = current_setting('app.audit') || '-" + b + "' WHERE id = " + b);
                try (ResultSet rs =
                        s.executeQuery("SELECT current_setting('app.audit') FROM accounts WHERE id = " + a)) {
                    rs.next();
                    assertThat(rs.getString(1)).isEqualTo("second");
                }
            }
            c.commit();
            assertThat(cluster.primary(shardOf(b)).queryString("SELECT tag FROM accounts WHERE id = " + b))
                    .as("the shard reached after the second set_config")
                    .isEqualTo("second-" + b);
            c.setAutoCommit(true);
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE accounts SET tag = NULL WHERE id IN (" + a + ", " + b + ")");
            }
        }
    }

    @Test
    void concurrentTransfersKeepTheTotal() throws Exception {
        long before = total();
        AtomicInteger committed = new AtomicInteger();
        AtomicInteger retried = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        List<Future<?>> workers = new ArrayList<>();
        for (int w = 0; w < 4; w++) {
            workers.add(pool.submit(() -> {
                try (Connection c = DriverManager.getConnection(url)) {
                    c.setAutoCommit(false);
                    for (int i = 0; i < 250; i++) {
                        long from = 1 + ThreadLocalRandom.current().nextLong(ACCOUNTS);
                        long to = 1 + ThreadLocalRandom.current().nextLong(ACCOUNTS);
                        if (from == to) {
                            continue;
                        }
                        // lock in id order on each shard, so two transfers never wait on each other in a cycle
                        try {
                            transfer(c, Math.min(from, to), Math.max(from, to), 1);
                            c.commit();
                            committed.incrementAndGet();
                        } catch (SQLException e) {
                            c.rollback();
                            retried.incrementAndGet();
                        }
                    }
                }
                return null;
            }));
        }
        for (Future<?> f : workers) {
            f.get(2, TimeUnit.MINUTES);
        }
        pool.shutdown();
        assertThat(committed.get()).isGreaterThan(900);
        assertThat(total()).isEqualTo(before);
        assertThat(prepared()).isZero();
    }

    @Test
    void aWriteWithoutTheKeyRunsOnEveryShardAsOne() throws SQLException {
        long before = total();
        try (Connection c = DriverManager.getConnection(url)) {
            try (Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("UPDATE accounts SET balance = balance + 1 WHERE balance >= -1000000"))
                        .isEqualTo(ACCOUNTS);
                assertThat(s.getUpdateCount()).isEqualTo(ACCOUNTS);
                assertThat(s.executeUpdate("DELETE FROM accounts WHERE id > 1000000"))
                        .isZero();
            }
            assertThat(total()).isEqualTo(before + ACCOUNTS);
            try (PreparedStatement ps =
                    c.prepareStatement("UPDATE accounts SET balance = balance - ? WHERE balance > ?")) {
                ps.setLong(1, 1);
                ps.setLong(2, -1_000_000);
                assertThat(ps.executeLargeUpdate()).isEqualTo(ACCOUNTS);
            }
            assertThat(total()).isEqualTo(before);
            // inside a transaction it joins every shard and goes with the transaction
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE accounts SET balance = balance + 5 WHERE id = " + a);
                assertThat(s.executeUpdate("UPDATE accounts SET balance = 0 WHERE balance >= -1000000"))
                        .isEqualTo(ACCOUNTS);
            }
            c.rollback();
            assertThat(total()).isEqualTo(before);
            c.setAutoCommit(true);
            assertThat(c.unwrap(io.shardline.router.ShardlineConnection.class)
                            .explainRoute("DELETE FROM accounts WHERE balance < 0"))
                    .hasSize(2)
                    .allSatisfy(e -> assertThat(e.reason()).contains("two-phase-commit transaction"));
            assertThatThrownBy(() ->
                            c.createStatement().executeUpdate("DELETE FROM accounts WHERE balance < 0 RETURNING id"))
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("0A000"));
        }
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            assertThatThrownBy(() -> s.executeUpdate("UPDATE accounts SET balance = balance WHERE balance > 0"))
                    .hasMessageContaining("With twoPhaseCommit=true it runs on every shard")
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("0A000"));
        }
        assertThat(prepared()).isZero();
    }

    @Test
    void withoutTwoPhaseCommitASecondShardIsRefusedClearly() throws SQLException {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl())) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE accounts SET balance = balance WHERE id = " + a);
                assertThatThrownBy(() -> s.executeUpdate("UPDATE accounts SET balance = balance WHERE id = " + b))
                        .isInstanceOf(SQLException.class)
                        .hasMessageContaining("needs twoPhaseCommit=true")
                        .satisfies(e ->
                                assertThat(((SQLException) e).getSQLState()).isEqualTo("0A000"));
            }
            c.rollback();
        }
    }

    @Test
    void savepointsDoNotSpanShards() throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            s.executeUpdate("UPDATE accounts SET balance = balance WHERE id = " + a);
            c.setSavepoint("before");
            assertThatThrownBy(() -> s.executeUpdate("UPDATE accounts SET balance = balance WHERE id = " + b))
                    .hasMessageContaining("SAVEPOINT, SET LOCAL or the like")
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("0A000"));
            c.rollback();
            s.executeUpdate("UPDATE accounts SET balance = balance WHERE id = " + a);
            s.executeUpdate("UPDATE accounts SET balance = balance WHERE id = " + b);
            assertThatThrownBy(() -> s.execute("SAVEPOINT later"))
                    .hasMessageContaining("in a transaction on several shards")
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("0A000"));
            // the refused SAVEPOINT failed the transaction, as a failing SAVEPOINT does in PostgreSQL: nothing of it
            // commits (an application catching the refusal, as Spring's NESTED propagation, and committing)
            assertThatThrownBy(() -> s.executeUpdate("UPDATE accounts SET balance = balance WHERE id = " + a))
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("25P02"));
            assertThatThrownBy(c::commit)
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("40000"));
        }
        assertThat(prepared()).isZero();
    }

    @Test
    void aFailedPrepareRollsBackEveryShard() throws SQLException {
        long beforeA = balance(a);
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.executeUpdate("UPDATE accounts SET tag = 'taken' WHERE id = " + (b + 100));
            c.setAutoCommit(false);
            s.executeUpdate("UPDATE accounts SET balance = balance - 5 WHERE id = " + a);
            long sameShardAsB = b + 1;
            while (shardOf(sameShardAsB) != shardOf(b) || sameShardAsB == b + 100) {
                sameShardAsB++;
            }
            // the deferred unique check fails only at PREPARE (b and b + 100 may share a shard or not: the tag
            // is unique per shard, so put the duplicate where 'taken' is)
            long duplicate = shardOf(b + 100) == shardOf(a) ? a : sameShardAsB;
            s.executeUpdate("UPDATE accounts SET tag = 'taken' WHERE id = " + duplicate);
            s.executeUpdate("UPDATE accounts SET balance = balance + 5 WHERE id = " + b);
            assertThatThrownBy(c::commit)
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("could not be prepared")
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("23505"));
            s.executeUpdate("UPDATE accounts SET tag = NULL WHERE id = " + (b + 100));
        }
        assertThat(balance(a)).isEqualTo(beforeA);
        assertThat(prepared()).isZero();
    }

    @Test
    void theNextRouterResolvesWhatADeadOneLeftPrepared() throws Exception {
        long beforeA = balance(a);
        long beforeB = balance(b);
        ClusterRuntime.observeTwoPhaseCommits(new TwoPhaseCommit.Observer() {
            @Override
            public void decided(String gid, TxnLog.Decision decision) {
                throw new IllegalStateException("router died after the decision");
            }
        });
        try (Connection c = DriverManager.getConnection(url)) {
            c.setAutoCommit(false);
            transfer(c, a, b, 11);
            assertThatThrownBy(c::commit).hasMessageContaining("router died");
        } finally {
            ClusterRuntime.observeTwoPhaseCommits(null);
            ShardlineDriver.closeAll(); // the router's registration goes with its runtime
        }
        assertThat(prepared()).isEqualTo(2);
        assertThat(balance(a)).isEqualTo(beforeA);
        try (Connection c = DriverManager.getConnection(url)) {
            await().atMost(Duration.ofSeconds(30)).until(() -> prepared() == 0);
        }
        assertThat(balance(a)).isEqualTo(beforeA - 11);
        assertThat(balance(b)).isEqualTo(beforeB + 11);
    }
}
