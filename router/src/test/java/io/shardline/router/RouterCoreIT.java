package io.shardline.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.NodeRole;
import io.shardline.compose.PgNode;
import io.shardline.router.ShardlineConnection.RouteExplanation;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.RouterRegistration;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The router core's guarantees on a real 2-shard cluster (primary, hub, leaf per shard), each tried the way it used
 * to break: a failed COMMIT must leave no transaction open, an unsharded table in a transaction is decided once,
 * pool exhaustion is not a node failure, runtimes do not outlive their connections, a cross-shard read's memory and
 * duration are bounded, a pooled connection's next user gets a clean session, and {@code explainRoute} names the
 * node execution uses.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class RouterCoreIT {
    private static LocalCluster cluster;
    private static HashRing ring;
    private static String base;
    private static Map<Integer, PgNode> byPort;
    private static CuratorFramework client;

    @BeforeAll
    static void start() throws Exception {
        cluster =
                LocalCluster.builder().name("core").shards(2).hubs(1).leaves(1).start();
        ring = RouterClusters.publish(
                cluster,
                List.of(
                        new ShardedTable("public", "accounts", "id", KeyType.INTEGER),
                        new ShardedTable("public", "big", "k", KeyType.INTEGER),
                        new ShardedTable("public", "slow", "k", KeyType.INTEGER)));
        client = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        base = cluster.shardlineUrl() + "?user=postgres";
        byPort = cluster.nodes().stream().collect(Collectors.toMap(PgNode::port, Function.identity()));
        try (Connection c = DriverManager.getConnection(base);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL DEFAULT 0, code int,"
                    + " CONSTRAINT accounts_code UNIQUE (code) DEFERRABLE INITIALLY DEFERRED)");
            s.execute("CREATE TABLE countries (code text PRIMARY KEY, name text)");
            s.execute("CREATE TABLE dedup (id bigint PRIMARY KEY, code int,"
                    + " CONSTRAINT dedup_code UNIQUE (code) DEFERRABLE INITIALLY DEFERRED)");
            s.execute("CREATE TABLE ser (g int, v int)");
        }
        try (Connection direct = cluster.primary(0).connect();
                Statement s = direct.createStatement()) {
            s.execute("CREATE ROLE core_reader");
        }
        for (int shard = 0; shard < 2; shard++) {
            // "sharded tables" computed as they are read: a counter shows how many rows each shard produced
            try (Connection direct = cluster.primary(shard).connect();
                    Statement s = direct.createStatement()) {
                s.execute("CREATE SEQUENCE produced");
                s.execute("CREATE VIEW big AS SELECT g AS k, nextval('produced') AS n"
                        + " FROM generate_series(1, 1000000) g");
                s.execute("CREATE VIEW slow AS SELECT g AS k FROM generate_series(1, 100000) g"
                        + " WHERE pg_sleep(0.01) IS NOT NULL");
            }
        }
        // reads may go to any replica: each must have replayed the tables (the unsharded ones live on shard 0)
        RouterClusters.awaitTable(cluster.nodes(), "accounts");
        RouterClusters.awaitTable(cluster.shard(0), "ser");
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (client != null) {
            client.close();
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    private static int shardOf(long key) {
        return ring.shardFor(KeyHash.hashInt8(key));
    }

    /** The first key from {@code from} on that lives on {@code shard}. */
    private static long keyOn(int shard, long from) {
        long k = from;
        while (shardOf(k) != shard) {
            k++;
        }
        return k;
    }

    private static long count(PgNode node, String sql) throws SQLException {
        return Long.parseLong(node.queryString(sql));
    }

    // ---- a failed COMMIT leaves no transaction open ------------------------------------------------------------

    @Test
    void aCommitFailingOnADeferredConstraintLeavesTheConnectionInAutocommit() throws Exception {
        try (Connection c = DriverManager.getConnection(base)) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.executeUpdate("INSERT INTO dedup VALUES (1, 7)");
                s.executeUpdate("INSERT INTO dedup VALUES (2, 7)");
            }
            SQLException e = catchThrowableOfType(SQLException.class, c::commit);
            assertThat(e.getSQLState()).isEqualTo("23505");
            c.setAutoCommit(true);
            assertThat(c.getAutoCommit()).isTrue();
            try (Statement s = c.createStatement()) {
                s.executeUpdate("INSERT INTO dedup VALUES (3, 8)");
            }
            assertThat(count(cluster.primary(0), "SELECT count(*) FROM dedup WHERE id = 3"))
                    .as("the row written after the failed commit is committed, visible to other sessions")
                    .isEqualTo(1);
            assertThat(count(cluster.primary(0), "SELECT count(*) FROM dedup WHERE id IN (1, 2)"))
                    .isZero();
        }
    }

    @Test
    void aCommitFailingOnAShardedTableLeavesNoTransactionOpenOnItsShard() throws Exception {
        long a = keyOn(1, 100);
        long b = keyOn(1, a + 1);
        long after = keyOn(1, b + 1);
        try (Connection c = DriverManager.getConnection(base);
                PreparedStatement insert = c.prepareStatement("INSERT INTO accounts (id, code) VALUES (?, ?)")) {
            c.setAutoCommit(false);
            insert.setLong(1, a);
            insert.setInt(2, 70);
            insert.executeUpdate();
            insert.setLong(1, b);
            insert.setInt(2, 70);
            insert.executeUpdate();
            assertThat(catchThrowableOfType(SQLException.class, c::commit).getSQLState())
                    .isEqualTo("23505");
            c.setAutoCommit(true);
            insert.setLong(1, after);
            insert.setInt(2, 71);
            insert.executeUpdate();
            assertThat(count(cluster.primary(1), "SELECT count(*) FROM accounts WHERE id = " + after))
                    .isEqualTo(1);
        }
    }

    @Test
    void aSerializationFailureAtCommitLeavesTheConnectionInAutocommit() throws Exception {
        try (Connection one = DriverManager.getConnection(base);
                Connection two = DriverManager.getConnection(base)) {
            for (Connection c : List.of(one, two)) {
                c.setAutoCommit(false);
                c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
            }
            // write skew: each reads what the other writes
            query(one, "SELECT count(*) FROM ser WHERE g = 1");
            query(two, "SELECT count(*) FROM ser WHERE g = 2");
            update(one, "INSERT INTO ser VALUES (2, 1)");
            update(two, "INSERT INTO ser VALUES (1, 1)");
            one.commit();
            SQLException e = catchThrowableOfType(SQLException.class, two::commit);
            assertThat(e.getSQLState()).isEqualTo("40001");
            two.setAutoCommit(true);
            update(two, "INSERT INTO ser VALUES (3, 3)");
            assertThat(count(cluster.primary(0), "SELECT count(*) FROM ser WHERE g = 3"))
                    .as("written after the failed commit, and committed")
                    .isEqualTo(1);
        }
    }

    /**
     * Spring's {@code @Transactional(readOnly = true)} at its default isolation, without two-phase commit: reads of
     * two shards in one read-only READ COMMITTED transaction, committed on each; a write in it is PostgreSQL's
     * 25006; the same reads in a read-write transaction join the other shard READ ONLY, and a write there is refused
     * naming the property.
     */
    @Test
    void aReadOnlyTransactionReadsTwoShardsWithoutTwoPhaseCommit() throws Exception {
        long a = keyOn(0, 10_000);
        long b = keyOn(1, 10_000);
        try (Connection setup = DriverManager.getConnection(base)) {
            update(setup, "INSERT INTO accounts (id, balance) VALUES (" + a + ", 5)");
            update(setup, "INSERT INTO accounts (id, balance) VALUES (" + b + ", 7)");
        }
        cluster.awaitReplication(Duration.ofSeconds(10)); // the reads may go to replicas
        try (Connection c = DriverManager.getConnection(base + "&twoPhaseCommit=false")) {
            c.setReadOnly(true);
            c.setAutoCommit(false);
            assertThat(string(c, "SELECT balance FROM accounts WHERE id = " + a))
                    .isEqualTo("5");
            assertThat(string(c, "SELECT balance FROM accounts WHERE id = " + b))
                    .isEqualTo("7");
            assertThat(string(c, "SELECT count(*) FROM countries")).isNotNull();
            // a call in it cannot write either (PostgreSQL enforces READ ONLY): it does not make the commit two-phase
            c.prepareCall("{call pg_sleep(0)}").close();
            c.commit();
            assertThat(string(c, "SELECT balance FROM accounts WHERE id = " + b))
                    .isEqualTo("7");
            SQLException write = catchThrowableOfType(
                    SQLException.class, () -> update(c, "UPDATE accounts SET balance = 0 WHERE id = " + b));
            assertThat(write.getSQLState()).isEqualTo("25006");
            c.rollback();

            c.setReadOnly(false);
            assertThat(string(c, "SELECT balance FROM accounts WHERE id = " + a))
                    .isEqualTo("5");
            // a read-write transaction reads the other shard too (joined READ ONLY), and may not write there
            assertThat(string(c, "SELECT balance FROM accounts WHERE id = " + b))
                    .isEqualTo("7");
            SQLException refused = catchThrowableOfType(
                    SQLException.class, () -> update(c, "UPDATE accounts SET balance = 0 WHERE id = " + b));
            assertThat(refused.getSQLState()).isEqualTo("0A000");
            assertThat(refused.getMessage()).contains("twoPhaseCommit=true");
            c.rollback();
        }
    }

    /**
     * A pool whose default isolation is SERIALIZABLE (HikariCP's {@code transactionIsolation}) and a read-only
     * transaction that asks for REPEATABLE READ runs on a replica; the replica's connection must not keep
     * SERIALIZABLE as its default, which a standby takes and then refuses every query under (0A000 "cannot use
     * serializable mode in a hot standby") — the autocommit reads after it on the same replicas must work.
     */
    @Test
    void aReplicaReadInTransactionUnderASerializableDefaultLeavesTheReplicaUsable() throws Exception {
        long a = keyOn(0, 10_200);
        try (Connection setup = DriverManager.getConnection(base)) {
            update(setup, "INSERT INTO accounts (id, balance) VALUES (" + a + ", 3)");
        }
        cluster.awaitReplication(Duration.ofSeconds(10));
        String read = "SELECT inet_server_port() || ':' || pg_backend_pid() FROM accounts WHERE id = " + a;
        // each node's pool holds one connection: one that failed a query would be replaced (another backend)
        Map<String, Set<String>> backends = new HashMap<>();
        try (Connection c =
                DriverManager.getConnection(base + "&crossShardConsistency=relaxed&poolSize=1&maxStalenessMs=-1")) {
            c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
            for (int round = 0; round < 4; round++) {
                c.setAutoCommit(false);
                c.setReadOnly(true);
                update(c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
                String[] inTransaction = string(c, read).split(":");
                backends.computeIfAbsent(inTransaction[0], k -> new HashSet<>()).add(inTransaction[1]);
                c.commit();
                c.setReadOnly(false);
                c.setAutoCommit(true);
                for (int i = 0; i < 4; i++) {
                    String[] autocommit = string(c, read).split(":");
                    backends.computeIfAbsent(autocommit[0], k -> new HashSet<>())
                            .add(autocommit[1]);
                }
            }
        }
        assertThat(backends.keySet())
                .as("a replica served the transactions")
                .anyMatch(port -> byPort.get(Integer.parseInt(port)).role() != NodeRole.PRIMARY);
        assertThat(backends)
                .as("one backend per node throughout: none failed a query and was replaced")
                .allSatisfy((port, pids) -> assertThat(pids).hasSize(1));
    }

    /**
     * A table changed by a migration under a server-prepared {@code SELECT *} (pgjdbc prepares it on the 5th run):
     * its next run in a transaction fails with PostgreSQL's "cached plan must not change result type", after which
     * the driver's pool closes that connection. The application's rollback must end the transaction quietly (it
     * threw "Connection is closed", and Spring reported that instead of the real error), and the connection works on.
     */
    @Test
    void aRollbackAfterAnErrorThatClosedTheConnectionEndsTheTransactionQuietly() throws Exception {
        try (Connection setup = DriverManager.getConnection(base);
                Statement s = setup.createStatement()) {
            s.execute("CREATE TABLE migrated (k int PRIMARY KEY, v int)");
            s.execute("INSERT INTO migrated VALUES (1, 1)");
        }
        try (Connection c = DriverManager.getConnection(base + "&readFrom=primary");
                PreparedStatement ps = c.prepareStatement("SELECT * FROM migrated WHERE k = ?")) {
            for (int i = 0; i < 6; i++) {
                ps.setInt(1, 1);
                ps.executeQuery().close();
            }
            try (Connection direct = cluster.primary(0).connect();
                    Statement s = direct.createStatement()) {
                s.execute("ALTER TABLE migrated ADD COLUMN w int");
            }
            c.setAutoCommit(false);
            update(c, "UPDATE migrated SET v = 2 WHERE k = 1");
            ps.setInt(1, 1);
            SQLException changed = catchThrowableOfType(SQLException.class, ps::executeQuery);
            assertThat((Object) changed).as("the cached plan's error").isNotNull();
            c.rollback();
            c.setAutoCommit(true);
            assertThat(string(c, "SELECT v::text FROM migrated WHERE k = 1")).isEqualTo("1");
            ps.setInt(1, 1);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getMetaData().getColumnCount()).isEqualTo(3);
            }
        }
    }

    @Test
    void aReadOnlyTransactionOnTwoShardsWhoseCommitFailsLeavesNoTransactionOpen() throws Exception {
        long a = keyOn(0, 300);
        long b = keyOn(1, 300);
        try (Connection c = DriverManager.getConnection(base + "&twoPhaseCommit=true&readFrom=primary")) {
            c.setAutoCommit(false);
            c.setReadOnly(true);
            query(c, "SELECT count(*) FROM accounts WHERE id = " + a);
            query(c, "SELECT count(*) FROM accounts WHERE id = " + b);
            SQLException failed = catchThrowableOfType(
                    SQLException.class, () -> query(c, "SELECT 1 / 0 FROM accounts WHERE id = " + b));
            assertThat((Object) failed).isNotNull();
            try {
                c.commit();
            } catch (SQLException e) {
                // pgjdbc may report the failed transaction's rollback here: either way it is over
            }
            c.setReadOnly(false);
            c.setAutoCommit(true);
            update(c, "INSERT INTO accounts (id) VALUES (" + b + ")");
            assertThat(count(cluster.primary(1), "SELECT count(*) FROM accounts WHERE id = " + b))
                    .isEqualTo(1);
        }
    }

    @Test
    void aTransactionOnTwoShardsWithAFailedStatementCommitsNothing() throws Exception {
        long a = keyOn(0, 1200);
        long b = keyOn(1, 1200);
        try (Connection setup = DriverManager.getConnection(base)) {
            update(setup, "INSERT INTO accounts (id) VALUES (" + b + ")");
        }
        try (Connection c = DriverManager.getConnection(base + "&twoPhaseCommit=true")) {
            c.setAutoCommit(false);
            update(c, "INSERT INTO accounts (id) VALUES (" + a + ")");
            // the application catches the duplicate and goes on, as "insert, ignore duplicates" code does
            SQLException duplicate = catchThrowableOfType(
                    SQLException.class, () -> update(c, "INSERT INTO accounts (id) VALUES (" + b + ")"));
            assertThat(duplicate.getSQLState()).isEqualTo("23505");
            SQLException e = catchThrowableOfType(SQLException.class, c::commit);
            assertThat(e.getSQLState()).isEqualTo("40000");
            assertThat(e.getMessage()).contains("failed on shard 1", "nothing was committed");
        }
        assertThat(count(cluster.primary(0), "SELECT count(*) FROM accounts WHERE id = " + a))
                .as("the other shard's write was not committed")
                .isZero();
        assertThat(count(cluster.primary(0), "SELECT count(*) FROM pg_prepared_xacts")
                        + count(cluster.primary(1), "SELECT count(*) FROM pg_prepared_xacts"))
                .isZero();
    }

    @Test
    void aSessionReadingReplicasChangesItsTransactionDefaultsWhileItsHomePrimaryIsDown() throws Exception {
        long key = keyOn(0, 9_100);
        try (Connection c = DriverManager.getConnection(
                        base + "&maxStalenessMs=-1&readYourWrites=false&connectTimeoutMs=500");
                Statement s = c.createStatement();
                PreparedStatement read = c.prepareStatement("SELECT inet_server_port() FROM accounts WHERE id = ?")) {
            read.setLong(1, key);
            read.executeQuery().close();
            PgNode primary = cluster.primary(0);
            primary.kill();
            try {
                // before, the SET took effect on the replica and then failed reading the defaults back from the primary
                s.execute("SET default_transaction_isolation = 'serializable'");
                assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_SERIALIZABLE);
                try (ResultSet rs = read.executeQuery()) {
                    assertThat(rs.next()).isFalse(); // the replica answers under its repeatable read default
                }
                s.execute("RESET ALL");
                assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_READ_COMMITTED);
                s.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ");
                assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_REPEATABLE_READ);
            } finally {
                primary.start();
            }
        }
    }

    @Test
    void aTransactionWhosePrimaryTheTopologyNoLongerNamesIsNotCommittedThere() throws Exception {
        long key = keyOn(0, 9_300);
        PgNode primary = cluster.primary(0);
        try (Connection c = DriverManager.getConnection(base);
                PreparedStatement insert = c.prepareStatement("INSERT INTO accounts (id, balance) VALUES (?, 1)")) {
            c.setAutoCommit(false);
            insert.setLong(1, key);
            insert.executeUpdate();
            long version = c.unwrap(ShardlineConnection.class).clusterStatus().topologyVersion();
            // another node published as shard 0's primary (a failover; here the same server at another address,
            // which this transaction's node no longer is): a commit on the node it runs on would be lost
            publishPrimaryPort(primary.port() < 65_535 ? primary.port() + 1 : primary.port() - 1);
            try {
                await().atMost(Duration.ofSeconds(10))
                        .until(() -> c.unwrap(ShardlineConnection.class)
                                        .clusterStatus()
                                        .topologyVersion()
                                > version);
                SQLException e = catchThrowableOfType(SQLException.class, c::commit);
                assertThat(e.getSQLState()).isEqualTo("40001");
                assertThat(e.getMessage()).contains("primary of shard 0 changed", "nothing was committed");
                assertThat(c.getAutoCommit()).isFalse();
            } finally {
                publishPrimaryPort(primary.port());
            }
        }
        assertThat(count(primary, "SELECT count(*) FROM accounts WHERE id = " + key))
                .isZero();
    }

    private static void publishPrimaryPort(int port) {
        ZooKeeperTopologyStore.updateTopology(client, "core", t -> {
            io.shardline.topology.Shard shard = t.shard(0);
            return t.withShardReplaced(new io.shardline.topology.Shard(
                    0,
                    shard.nodes().stream()
                            .map(n -> n.role() == io.shardline.topology.NodeRole.PRIMARY
                                    ? new io.shardline.topology.Node(n.name(), n.role(), n.host(), port, n.upstream())
                                    : n)
                            .toList()));
        });
    }

    @Test
    void aSetLocalBeforeTheFirstStatementKeepsTheTransactionOnOneShard() throws Exception {
        long a = keyOn(0, 1300);
        long b = keyOn(1, 1300);
        try (Connection c = DriverManager.getConnection(base + "&twoPhaseCommit=true")) {
            c.setAutoCommit(false);
            update(c, "SET LOCAL statement_timeout = '5s'");
            update(c, "INSERT INTO accounts (id) VALUES (" + a + ")");
            SQLException e = catchThrowableOfType(
                    SQLException.class, () -> update(c, "INSERT INTO accounts (id) VALUES (" + b + ")"));
            assertThat(e.getSQLState()).isEqualTo("0A000");
            assertThat(e.getMessage()).contains("SET LOCAL");
            c.rollback();
        }
    }

    @Test
    void sqlRollbackEndsATransactionWhoseConnectionBroke() throws Exception {
        long a = keyOn(0, 1400);
        try (Connection c = DriverManager.getConnection(base + "&readFrom=primary")) {
            update(c, "BEGIN");
            String backend = string(c, "SELECT pg_backend_pid()::text");
            cluster.primary(0).queryString("SELECT pg_terminate_backend(" + backend + ")::text");
            assertThat((Object) catchThrowableOfType(
                            SQLException.class, () -> query(c, "SELECT 1 FROM accounts WHERE id = " + a)))
                    .isNotNull();
            assertThat(catchThrowableOfType(
                                    SQLException.class, () -> query(c, "SELECT 2 FROM accounts WHERE id = " + a))
                            .getSQLState())
                    .isEqualTo("25P02");
            update(c, "ROLLBACK");
            assertThat(c.getAutoCommit()).isTrue();
            update(c, "INSERT INTO accounts (id) VALUES (" + a + ")");
            assertThat(count(cluster.primary(0), "SELECT count(*) FROM accounts WHERE id = " + a))
                    .isEqualTo(1);
        }
    }

    /**
     * A transaction begun with SQL {@code BEGIN} and ended by {@code Connection.commit()} (or {@code rollback()})
     * returns to autocommit, as its SQL {@code COMMIT} would: the next write commits on its own, not in a transaction
     * nobody commits.
     */
    @Test
    void aSqlBeginEndedByTheJdbcCommitReturnsToAutocommit() throws Exception {
        long a = keyOn(1, 1700);
        long b = keyOn(1, a + 1);
        long c2 = keyOn(1, b + 1);
        try (Connection c = DriverManager.getConnection(base)) {
            update(c, "BEGIN");
            assertThat(c.getAutoCommit()).isFalse();
            update(c, "INSERT INTO accounts (id) VALUES (" + a + ")");
            c.commit();
            assertThat(c.getAutoCommit()).as("after commit()").isTrue();
            update(c, "INSERT INTO accounts (id) VALUES (" + b + ")");
            assertThat(count(cluster.primary(1), "SELECT count(*) FROM accounts WHERE id = " + b))
                    .as("the next write committed on its own")
                    .isEqualTo(1);
            update(c, "BEGIN");
            update(c, "INSERT INTO accounts (id) VALUES (" + c2 + ")");
            c.rollback();
            assertThat(c.getAutoCommit()).as("after rollback()").isTrue();
        }
        assertThat(count(cluster.primary(1), "SELECT count(*) FROM accounts WHERE id IN (" + a + ", " + c2 + ")"))
                .isEqualTo(1);
    }

    /**
     * A transaction begun with SQL {@code BEGIN} whose commit by {@code setAutoCommit(true)} fails (a deferred unique
     * constraint) stays a transaction, as pgjdbc leaves autocommit off after a failed commit — and its SQL {@code
     * ROLLBACK} still returns the connection to autocommit: the next write commits on its own (before: it ran in a
     * transaction nobody committed).
     */
    @Test
    void aSqlBeginWhoseCommitBySetAutoCommitFailsReturnsToAutocommitAtItsSqlRollback() throws Exception {
        long a = keyOn(1, 1750);
        long b = keyOn(1, a + 1);
        long next = keyOn(1, b + 1);
        try (Connection c = DriverManager.getConnection(base)) {
            update(c, "BEGIN");
            update(c, "INSERT INTO accounts (id, code) VALUES (" + a + ", 1750)");
            update(c, "INSERT INTO accounts (id, code) VALUES (" + b + ", 1750)");
            assertThatThrownBy(() -> c.setAutoCommit(true))
                    .isInstanceOf(SQLException.class)
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("23505"));
            assertThat(c.getAutoCommit())
                    .as("a failed commit leaves autocommit off")
                    .isFalse();
            update(c, "ROLLBACK");
            assertThat(c.getAutoCommit()).as("after the SQL ROLLBACK").isTrue();
            update(c, "INSERT INTO accounts (id) VALUES (" + next + ")");
        }
        assertThat(count(cluster.primary(1), "SELECT count(*) FROM accounts WHERE id = " + next))
                .as("the next write committed on its own")
                .isEqualTo(1);
    }

    /**
     * {@code createArrayOf} (Hibernate binds arrays with it) and metadata calls in a transaction do not start it on
     * the home shard: its first statement still chooses the shard.
     */
    @Test
    void createArrayOfInATransactionLeavesItsShardToItsFirstStatement() throws Exception {
        long k = keyOn(1, 1800);
        try (Connection c = DriverManager.getConnection(base)) {
            c.setAutoCommit(false);
            java.sql.Array codes = c.createArrayOf("int4", new Object[] {1, 2});
            c.getMetaData().getDatabaseProductName();
            try (PreparedStatement ps =
                    c.prepareStatement("INSERT INTO accounts (id, balance) VALUES (?, cardinality(?::int4[]))")) {
                ps.setLong(1, k);
                ps.setArray(2, codes);
                assertThat(ps.executeUpdate()).isEqualTo(1);
            }
            c.commit();
        }
        assertThat(count(cluster.primary(1), "SELECT balance FROM accounts WHERE id = " + k))
                .isEqualTo(2);
    }

    /** A network timeout set on the logical connection holds on the connections of nodes it uses later too. */
    @Test
    void theNetworkTimeoutHoldsOnConnectionsAttachedLater() throws Exception {
        long k = keyOn(1, 1900);
        try (Connection c = DriverManager.getConnection(base)) {
            c.setNetworkTimeout(Runnable::run, 4321);
            assertThat(c.getNetworkTimeout()).isEqualTo(4321);
            update(c, "INSERT INTO accounts (id) VALUES (" + k + ")"); // shard 1's primary, attached now
            c.unwrap(ShardlineConnection.class).forKey("accounts", k);
            Connection raw = (Connection) c.unwrap(org.postgresql.PGConnection.class);
            assertThat(raw.getNetworkTimeout()).isEqualTo(4321);
            assertThat(catchThrowableOfType(SQLException.class, () -> c.setNetworkTimeout(Runnable::run, -1))
                            .getMessage())
                    .contains("setNetworkTimeout");
        }
    }

    /**
     * When the connection a forKey binding holds breaks, the statements after it fail until forKey or unbind, as
     * pgjdbc's do on a broken connection: none goes to another shard unnoticed.
     */
    @Test
    void aBrokenForKeyBindingFailsTheNextStatementsUntilBoundAgain() throws Exception {
        long k = keyOn(1, 2000);
        try (Connection c = DriverManager.getConnection(base)) {
            ShardlineConnection sc = c.unwrap(ShardlineConnection.class);
            sc.forKey("accounts", k);
            String pid;
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
                rs.next();
                pid = rs.getString(1);
            }
            count(cluster.primary(1), "SELECT count(*) FROM (SELECT pg_terminate_backend(" + pid + ")) t");
            assertThat((Object) catchThrowableOfType(SQLException.class, () -> update(c, "SELECT 1")))
                    .as("the statement on the broken connection")
                    .isNotNull();
            SQLException next = catchThrowableOfType(SQLException.class, () -> update(c, "SELECT 1"));
            assertThat(next.getSQLState()).isEqualTo("08003");
            assertThat(next.getMessage()).contains("forKey(...)", "broke");
            assertThat(c.isValid(2)).as("a pool's validation").isFalse();
            assertThat(catchThrowableOfType(SQLException.class, () -> c.prepareCall("CALL p()"))
                            .getSQLState())
                    .isEqualTo("08003");
            sc.forKey("accounts", k);
            assertThat(c.isValid(2)).isTrue();
            update(c, "INSERT INTO accounts (id) VALUES (" + k + ")");
            assertThat(count(cluster.primary(1), "SELECT count(*) FROM accounts WHERE id = " + k))
                    .isEqualTo(1);
        }
    }

    @Test
    void aForKeyBindingBreaksOnceAShardMoveGivesItsKeyToAnotherShard() throws Exception {
        long k = keyOn(1, 9_700);
        MoveScript script = new MoveScript(client, "core");
        HashRing before = script.ring();
        try (Connection c = DriverManager.getConnection(base)) {
            ShardlineConnection sc = c.unwrap(ShardlineConnection.class);
            sc.forKey("accounts", k);
            c.prepareCall("SELECT 1").close();
            script.switchRange(KeyHash.hashInt8(k), 0);
            try {
                await().atMost(Duration.ofSeconds(10))
                        .until(() -> sc.clusterStatus().ringVersion() > before.version());
                // a procedure through the binding would write the key's rows on shard 1, which no longer has them
                SQLException e = catchThrowableOfType(SQLException.class, () -> c.prepareCall("CALL p()"));
                assertThat(e.getSQLState()).isEqualTo("08003");
                assertThat(e.getMessage()).contains("lives on shard 0 now", "forKey(...) again");
                sc.forKey("accounts", k);
                assertThat(sc.explainRoute("SELECT 1").get(0).node()).isEqualTo("s0-primary");
            } finally {
                script.publish(before);
            }
        }
    }

    @Test
    void aWriteHungOnOneShardDoesNotKeepTheRouterFromAcknowledgingAnotherShardsSwitchover() throws Exception {
        long k = keyOn(0, 9_900);
        try (Connection c = DriverManager.getConnection(base);
                Statement s = c.createStatement()) {
            s.execute("INSERT INTO accounts (id) VALUES (" + k + ") ON CONFLICT (id) DO NOTHING");
        }
        ExecutorService background = java.util.concurrent.Executors.newSingleThreadExecutor();
        try (Connection lock = cluster.primary(0).connect();
                Connection writer = DriverManager.getConnection(base)) {
            lock.setAutoCommit(false);
            lock.createStatement().execute("SELECT * FROM accounts WHERE id = " + k + " FOR UPDATE");
            // a sharded write of this router waits on the lock: it stays in flight
            Future<Integer> hung = background.submit(
                    () -> writer.createStatement().executeUpdate("UPDATE accounts SET balance = 1 WHERE id = " + k));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> count(cluster.primary(0), "SELECT count(*) FROM pg_locks WHERE NOT granted") > 0);
            String token = RouterRegistration.switchoverToken("s1 s1-hub1");
            ZooKeeperTopologyStore.updateTopology(
                    client, "core", t -> t.withShardReplaced(t.shard(1).withSwitchover("s1 s1-hub1")));
            try {
                long marked = System.nanoTime();
                await().atMost(Duration.ofSeconds(5))
                        .until(() -> RouterRegistration.notAcknowledged(client, "core", token)
                                .isEmpty());
                System.out.printf(
                        "a switchover of shard 1 acknowledged in %d ms with a write hung on shard 0%n",
                        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - marked));
                assertThat(hung).as("the hung write").isNotDone();
            } finally {
                ZooKeeperTopologyStore.updateTopology(
                        client, "core", t -> t.withShardReplaced(t.shard(1).withSwitchover(null)));
                lock.rollback();
            }
            assertThat(hung.get(10, TimeUnit.SECONDS)).isEqualTo(1);
        } finally {
            background.shutdownNow();
        }
    }

    /**
     * A write hung for good (here: on a row lock) stays counted after a switchover's bounded drain gave up on it; a
     * move's fence of its range then waits for it — it may not be acknowledged — but once that attempt is given up,
     * the router acknowledges the next switchover again (the move's drain held the one acknowledging thread for as
     * long as the write hung).
     */
    @Test
    void aMoveFenceWaitingForAHungWriteDoesNotKeepTheNextSwitchoverFromBeingAcknowledged() throws Exception {
        long k = keyOn(0, 10_300);
        try (Connection c = DriverManager.getConnection(base);
                Statement s = c.createStatement()) {
            s.execute("INSERT INTO accounts (id) VALUES (" + k + ") ON CONFLICT (id) DO NOTHING");
        }
        MoveScript script = new MoveScript(client, "core");
        ExecutorService background = java.util.concurrent.Executors.newSingleThreadExecutor();
        try (Connection lock = cluster.primary(0).connect();
                Connection writer = DriverManager.getConnection(base)) {
            lock.setAutoCommit(false);
            lock.createStatement().execute("SELECT * FROM accounts WHERE id = " + k + " FOR UPDATE");
            Future<Integer> hung = background.submit(
                    () -> writer.createStatement().executeUpdate("UPDATE accounts SET balance = 2 WHERE id = " + k));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> count(cluster.primary(0), "SELECT count(*) FROM pg_locks WHERE NOT granted") > 0);
            try {
                markAndAwaitAcknowledged("s1 s1-hub1 first");
                var attempt = script.writeMove("m-hung", MoveState.FENCED, script.rangeOf(k), 0, 1);
                await().during(Duration.ofMillis(1500))
                        .atMost(Duration.ofSeconds(5))
                        .alias("the router with the hung write does not acknowledge the move's fence")
                        .until(() -> script.routersAcknowledging(attempt) < script.routers());
                script.writeMove("m-hung", MoveState.CATCHING_UP, script.rangeOf(k), 0, 1);
                markAndAwaitAcknowledged("s1 s1-hub1 second");
                assertThat(hung).as("the hung write").isNotDone();
            } finally {
                script.writeMove("m-hung", MoveState.ABORTED, script.rangeOf(k), 0, 1);
                lock.rollback();
                script.deleteMoves();
            }
            assertThat(hung.get(10, TimeUnit.SECONDS)).isEqualTo(1);
        } finally {
            background.shutdownNow();
        }
    }

    /** Marks shard 1 for a switchover {@code id}, waits until every router acknowledged it, then unmarks it. */
    private static void markAndAwaitAcknowledged(String id) throws Exception {
        String token = RouterRegistration.switchoverToken(id);
        ZooKeeperTopologyStore.updateTopology(
                client, "core", t -> t.withShardReplaced(t.shard(1).withSwitchover(id)));
        try {
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> RouterRegistration.notAcknowledged(client, "core", token)
                            .isEmpty());
        } finally {
            ZooKeeperTopologyStore.updateTopology(
                    client, "core", t -> t.withShardReplaced(t.shard(1).withSwitchover(null)));
        }
    }

    @Test
    void aBatchWaitingForAConnectionToAPrimaryASwitchoverHoldsIsRoutedAgainAndRuns() throws Exception {
        long a = keyOn(0, 9_600);
        long b = keyOn(0, a + 1);
        String url = base + "&poolSize=1&connectTimeoutMs=8000&fenceWaitMs=5000";
        ExecutorService background = java.util.concurrent.Executors.newSingleThreadExecutor();
        try (Connection holder = DriverManager.getConnection(url);
                Connection batcher = DriverManager.getConnection(url);
                PreparedStatement ps = batcher.prepareStatement("INSERT INTO accounts (id, balance) VALUES (?, 7)")) {
            // the only connection of shard 0's primary pool is in holder's transaction
            holder.setAutoCommit(false);
            holder.createStatement().execute("SELECT 1 FROM accounts WHERE id = " + a);
            ps.setLong(1, a);
            ps.addBatch();
            ps.setLong(1, b);
            ps.addBatch();
            Future<int[]> batch = background.submit(ps::executeBatch);
            Thread.sleep(500);
            assertThat(batch).as("waiting for the pool's connection").isNotDone();
            // a switchover holds shard 0: the batch gives its wait up (nothing sent) and goes back to the gate
            ZooKeeperTopologyStore.updateTopology(
                    client, "core", t -> t.withShardReplaced(t.shard(0).withSwitchover("s0 s0-hub1")));
            try {
                Thread.sleep(1_000);
                holder.close(); // its physical connection goes back to the pool, while the hold lasts
                Thread.sleep(1_000);
                // before, the batch took that connection and wrote through the hold (its wait never asked again)
                assertThat(batch).as("held by the switchover").isNotDone();
                assertThat(count(cluster.primary(0), "SELECT count(*) FROM accounts WHERE id = " + a))
                        .isZero();
            } finally {
                ZooKeeperTopologyStore.updateTopology(
                        client, "core", t -> t.withShardReplaced(t.shard(0).withSwitchover(null)));
                holder.close();
            }
            assertThat(batch.get(10, TimeUnit.SECONDS)).containsExactly(1, 1);
        } finally {
            background.shutdownNow();
        }
        assertThat(count(
                        cluster.primary(0),
                        "SELECT count(*) FROM accounts WHERE balance = 7 AND id IN (" + a + ", " + b + ")"))
                .isEqualTo(2);
    }

    @Test
    void aBatchPartThatFailsWhileBindingLeavesNothingForTheNextBatch() throws Exception {
        long a = keyOn(0, 1500);
        long b = keyOn(0, a + 1);
        long third = keyOn(0, b + 1);
        try (Connection c = DriverManager.getConnection(base);
                PreparedStatement ps = c.prepareStatement("INSERT INTO accounts (id, balance) VALUES (?, ?)")) {
            ps.setLong(1, a);
            ps.setLong(2, 1);
            ps.addBatch();
            ps.setLong(1, b);
            ps.setObject(2, new Object(), Types.BIGINT);
            ps.addBatch();
            assertThat((Object) catchThrowableOfType(SQLException.class, ps::executeBatch))
                    .isNotNull();
            ps.setLong(1, third);
            ps.setLong(2, 3);
            ps.addBatch();
            assertThat(ps.executeBatch()).containsExactly(1);
        }
        assertThat(count(cluster.primary(0), "SELECT count(*) FROM accounts WHERE id IN (" + a + ", " + b + ")"))
                .as("rows of the failed batch")
                .isZero();
        assertThat(count(cluster.primary(0), "SELECT count(*) FROM accounts WHERE id = " + third))
                .isEqualTo(1);
    }

    /**
     * pgjdbc runs an autocommit batch as one implicit transaction: a batch whose rows are on several shards is all
     * or nothing too — one two-phase-commit transaction, or without it a transaction on each shard, all committed
     * once every part ran.
     */
    @Test
    void anAutocommitBatchOnSeveralShardsWritesAllItsRowsOrNone() throws Exception {
        long a = keyOn(0, 1600);
        long b = keyOn(1, 1600);
        long taken = keyOn(1, b + 1);
        String insert = "INSERT INTO accounts (id, balance) VALUES (?, ?)";
        try (Connection c = DriverManager.getConnection(base)) {
            update(c, "INSERT INTO accounts (id, balance) VALUES (" + taken + ", 0)");
        }
        try (Connection c = DriverManager.getConnection(base + "&twoPhaseCommit=true");
                PreparedStatement ps = c.prepareStatement(insert)) {
            addRows(ps, a, b, taken);
            BatchUpdateException failed = catchThrowableOfType(BatchUpdateException.class, ps::executeBatch);
            assertThat(failed.getSQLState()).isEqualTo("23505");
            assertThat(failed.getMessage()).contains("no row was written");
            assertThat(failed.getUpdateCounts())
                    .containsExactly(Statement.EXECUTE_FAILED, Statement.EXECUTE_FAILED, Statement.EXECUTE_FAILED);
            assertThat(count(cluster.primary(0), "SELECT count(*) FROM accounts WHERE id = " + a))
                    .as("shard 0's part, sent before shard 1's failed")
                    .isZero();
            assertThat(count(cluster.primary(1), "SELECT count(*) FROM accounts WHERE id = " + b))
                    .isZero();
            assertThat(count(cluster.primary(0), "SELECT count(*) FROM pg_prepared_xacts")
                            + count(cluster.primary(1), "SELECT count(*) FROM pg_prepared_xacts"))
                    .isZero();

            addRows(ps, a, b);
            assertThat(ps.executeBatch()).containsExactly(1, 1);
            assertThat(c.getAutoCommit()).isTrue();
            assertThat(count(cluster.primary(0), "SELECT count(*) FROM accounts WHERE id = " + a))
                    .as("committed: seen by another session")
                    .isEqualTo(1);
            assertThat(count(cluster.primary(1), "SELECT count(*) FROM accounts WHERE id = " + b))
                    .isEqualTo(1);
        }
        long c0 = keyOn(0, a + 1);
        long c1 = keyOn(1, taken + 1);
        try (Connection c = DriverManager.getConnection(base);
                PreparedStatement ps = c.prepareStatement(insert)) {
            addRows(ps, c0, taken);
            BatchUpdateException failed = catchThrowableOfType(BatchUpdateException.class, ps::executeBatch);
            assertThat(failed.getMessage()).contains("no row was written");
            assertThat(failed.getUpdateCounts()).containsExactly(Statement.EXECUTE_FAILED, Statement.EXECUTE_FAILED);
            assertThat(count(cluster.primary(0), "SELECT count(*) FROM accounts WHERE id = " + c0))
                    .as("without two-phase commit too")
                    .isZero();

            addRows(ps, c0, c1);
            assertThat(ps.executeBatch()).containsExactly(1, 1);
            assertThat(count(cluster.primary(0), "SELECT count(*) FROM accounts WHERE id = " + c0))
                    .isEqualTo(1);
            assertThat(count(cluster.primary(1), "SELECT count(*) FROM accounts WHERE id = " + c1))
                    .isEqualTo(1);
            try (ResultSet rs = c.createStatement().executeQuery("SELECT balance FROM accounts WHERE id = " + c1)) {
                assertThat(rs.next())
                        .as("read back through the same connection")
                        .isTrue();
            }
            update(c, "UPDATE accounts SET balance = 8 WHERE id = " + c0);
            assertThat(count(cluster.primary(0), "SELECT balance FROM accounts WHERE id = " + c0))
                    .as("the connection is in autocommit again")
                    .isEqualTo(8);

            // a deferred unique constraint broken on shard 1 only: checked before any shard commits
            long d0 = keyOn(0, c0 + 1);
            long d1 = keyOn(1, c1 + 1);
            long d2 = keyOn(1, d1 + 1);
            try (PreparedStatement coded =
                    c.prepareStatement("INSERT INTO accounts (id, balance, code) VALUES (?, 0, ?)")) {
                long[][] batch = {{d0, 9100}, {d1, 9101}, {d2, 9101}};
                for (long[] row : batch) {
                    coded.setLong(1, row[0]);
                    coded.setLong(2, row[1]);
                    coded.addBatch();
                }
                BatchUpdateException deferred = catchThrowableOfType(BatchUpdateException.class, coded::executeBatch);
                assertThat(deferred.getSQLState()).isEqualTo("23505");
                assertThat(deferred.getUpdateCounts()).containsOnly(Statement.EXECUTE_FAILED);
            }
            assertThat(count(cluster.primary(0), "SELECT count(*) FROM accounts WHERE id = " + d0))
                    .as("shard 0's part, whose COMMIT would have come first")
                    .isZero();
        }
    }

    // ---- an unsharded table in a transaction -------------------------------------------------------------------

    @Test
    void anUnshardedTableInATransactionOnAnotherShardIsReadReadOnlyAndWrittenOnlyWithTwoPhaseCommit() throws Exception {
        long k = keyOn(1, 500);
        try (Connection c = DriverManager.getConnection(base)) {
            ShardlineConnection sc = c.unwrap(ShardlineConnection.class);
            c.setAutoCommit(false);
            update(c, "INSERT INTO accounts (id) VALUES (" + k + ")");
            // a read joins the home primary READ ONLY (no two-phase commit needed: the transaction writes on one shard)
            List<RouteExplanation> read = sc.explainRoute("SELECT name FROM countries");
            assertThat(read).hasSize(1);
            assertThat(read.get(0).node()).isEqualTo(cluster.primary(0).name());
            assertThat(read.get(0).reason()).contains("joins the transaction to read only");
            assertThat(node(c, "SELECT inet_server_port() FROM countries LIMIT 1"))
                    .isEqualTo(cluster.primary(0));
            String write = "INSERT INTO countries VALUES ('zx', 'nowhere')";
            List<RouteExplanation> explained = sc.explainRoute(write);
            assertThat(explained.get(0).reason()).startsWith("refused (0A000)").contains("joined to read only");
            SQLException e = catchThrowableOfType(SQLException.class, () -> update(c, write));
            assertThat(e.getSQLState()).isEqualTo("0A000");
            assertThat(e.getMessage()).contains("joined to read only", "twoPhaseCommit=true");
            // the refusal failed the transaction, as an error fails a PostgreSQL transaction
            assertThat(catchThrowableOfType(SQLException.class, () -> node(c, "SELECT inet_server_port()"))
                            .getSQLState())
                    .isEqualTo("25P02");
            c.rollback();
            update(c, "INSERT INTO accounts (id) VALUES (" + k + ")");
            // a statement naming no table runs in the transaction, on its shard
            assertThat(node(c, "SELECT inet_server_port()")).isEqualTo(cluster.primary(1));
            assertThat(sc.explainRoute("SELECT inet_server_port()").get(0).node())
                    .isEqualTo(cluster.primary(1).name());
            c.rollback();
        }
    }

    @Test
    void anUnshardedTableInATransactionOnAnotherShardJoinsTheHomePrimaryWithTwoPhaseCommit() throws Exception {
        long k = keyOn(1, 600);
        try (Connection c = DriverManager.getConnection(base + "&twoPhaseCommit=true")) {
            ShardlineConnection sc = c.unwrap(ShardlineConnection.class);
            c.setAutoCommit(false);
            update(c, "INSERT INTO accounts (id) VALUES (" + k + ")");
            RouteExplanation explained = sc.explainRoute("INSERT INTO countries VALUES ('nl', 'Netherlands')")
                    .get(0);
            assertThat(explained.node()).isEqualTo(cluster.primary(0).name());
            assertThat(explained.reason()).contains("joins the transaction");
            update(c, "INSERT INTO countries VALUES ('nl', 'Netherlands')");
            c.commit();
        }
        assertThat(count(cluster.primary(0), "SELECT count(*) FROM countries WHERE code = 'nl'"))
                .isEqualTo(1);
        assertThat(count(cluster.primary(1), "SELECT count(*) FROM accounts WHERE id = " + k))
                .isEqualTo(1);
    }

    // ---- pool exhaustion is not a node failure ---------------------------------------------------------------

    @Test
    void anExhaustedPoolFailsWith53300AndEjectsNothing() throws Exception {
        String url = base + "&poolSize=1&connectTimeoutMs=500&maxStalenessMs=-1&replicaWeights=s0-leaf1:0,s1-leaf1:0";
        long k = keyOn(0, 700);
        String keyed = "SELECT inet_server_port(), count(*) FROM accounts WHERE id = " + k;
        try (Connection holder = DriverManager.getConnection(url);
                Connection waiter = DriverManager.getConnection(url)) {
            assertThat(node(holder, keyed)).isEqualTo(cluster.node("s0-hub1"));
            SQLException e = catchThrowableOfType(SQLException.class, () -> node(waiter, keyed));
            assertThat(e.getSQLState()).isEqualTo("53300");
            assertThat(e.getMessage()).contains("s0-hub1", "poolSize=1", "1 active", "0 idle");
            holder.close();
            assertThat(node(waiter, keyed))
                    .as("the hub was not ejected: it serves the read once a connection is free")
                    .isEqualTo(cluster.node("s0-hub1"));
        }
    }

    // ---- runtimes close with their last connection ------------------------------------------------------------

    @Test
    void aRuntimePerPasswordClosesAfterItsLastConnection() throws Exception {
        ShardlineDriver.closeAll();
        String routers = ZooKeeperTopologyStore.clusterPath("core") + "/routers";
        for (int i = 0; i < 5; i++) {
            // trust authentication on loopback: any password works, each is a rotation
            try (Connection c = DriverManager.getConnection(base + "&idleCloseMs=100&password=rotated-" + i)) {
                query(c, "SELECT 1");
                assertThat(ShardlineDriver.openRuntimes()).isGreaterThanOrEqualTo(1);
            }
        }
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            assertThat(ShardlineDriver.openRuntimes()).isZero();
            assertThat(client.getChildren().forPath(routers))
                    .as("routers registered in ZooKeeper")
                    .isEmpty();
        });
        try (Connection one = DriverManager.getConnection(base + "&idleCloseMs=100");
                Connection two = DriverManager.getConnection(base + "&idleCloseMs=100")) {
            one.close();
            Thread.sleep(300);
            assertThat(ShardlineDriver.openRuntimes())
                    .as("a runtime with a connection open stays")
                    .isEqualTo(1);
            query(two, "SELECT 1");
        }
    }

    // ---- cross-shard reads: bounded memory, timeout and cancel ------------------------------------------------

    @Test
    void theRowBudgetStopsEachShardsFetch() throws Exception {
        try (Connection c = DriverManager.getConnection(base + "&crossShardMaxRows=1000&readFrom=primary")) {
            SQLException e =
                    catchThrowableOfType(SQLException.class, () -> query(c, "SELECT k, n FROM big ORDER BY k"));
            assertThat(e.getSQLState()).isEqualTo("54000");
        }
        for (int shard = 0; shard < 2; shard++) {
            assertThat(count(cluster.primary(shard), "SELECT last_value FROM produced"))
                    .as("rows shard %d produced for a read allowed 1,000 (of 1,000,000)", shard)
                    .isLessThan(50_000);
        }
    }

    @Test
    void cancelReachesEveryShardOfACrossShardRead() throws Exception {
        try (Connection c = DriverManager.getConnection(base + "&readFrom=primary");
                Statement s = c.createStatement()) {
            CompletableFuture<Object> read = CompletableFuture.supplyAsync(() -> {
                try (ResultSet rs = s.executeQuery("SELECT count(*) FROM slow")) {
                    return rs.next();
                } catch (SQLException e) {
                    return e;
                }
            });
            await().atMost(Duration.ofSeconds(10)).until(() -> running("slow") == 2);
            s.cancel();
            Object outcome = read.get(30, TimeUnit.SECONDS);
            assertThat(outcome).isInstanceOf(SQLException.class);
            assertThat(((SQLException) outcome).getSQLState()).isEqualTo("57014");
            await().atMost(Duration.ofSeconds(10)).until(() -> running("slow") == 0);
            query(c, "SELECT 1");
        }
    }

    @Test
    void theQueryTimeoutReachesEveryShardOfACrossShardRead() throws Exception {
        try (Connection c = DriverManager.getConnection(base + "&readFrom=primary");
                Statement s = c.createStatement()) {
            s.setQueryTimeout(1);
            CompletableFuture<SQLException> read = CompletableFuture.supplyAsync(
                    () -> catchThrowableOfType(SQLException.class, () -> s.executeQuery("SELECT count(*) FROM slow")));
            SQLException e;
            try {
                e = read.get(30, TimeUnit.SECONDS);
            } catch (ExecutionException x) {
                throw new AssertionError(x);
            }
            assertThat(e.getSQLState()).isEqualTo("57014");
            await().atMost(Duration.ofSeconds(10)).until(() -> running("slow") == 0);
        }
    }

    /** Statements reading {@code view} running on the shards' primaries. */
    private static long running(String view) throws SQLException {
        long n = 0;
        for (int shard = 0; shard < 2; shard++) {
            n += count(
                    cluster.primary(shard),
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%" + view
                            + "%' AND query NOT LIKE '%pg_stat_activity%'");
        }
        return n;
    }

    // ---- a pooled connection's next user gets a clean session ------------------------------------------------

    /**
     * {@code RESET ALL} after {@code SET ROLE} leaves the role, as PostgreSQL does: a shard reached only afterwards
     * runs as that role too, not as the login user (row-level security and grants alike on every shard).
     */
    @Test
    void aShardReachedAfterResetAllRunsAsTheRoleSetBeforeIt() throws Exception {
        long a = keyOn(0, 10_100);
        long b = keyOn(1, 10_100);
        for (int shard = 0; shard < 2; shard++) {
            try (Connection direct = cluster.primary(shard).connect();
                    Statement s = direct.createStatement()) {
                s.execute("CREATE ROLE core_tenant");
                s.execute("GRANT SELECT ON accounts TO core_tenant");
            }
        }
        try (Connection setup = DriverManager.getConnection(base)) {
            update(setup, "INSERT INTO accounts (id) VALUES (" + a + ")");
            update(setup, "INSERT INTO accounts (id) VALUES (" + b + ")");
        }
        try (Connection c = DriverManager.getConnection(base + "&readFrom=primary")) {
            assertThat(string(c, "SELECT current_user::text FROM accounts WHERE id = " + a))
                    .isEqualTo("postgres");
            update(c, "SET ROLE core_tenant");
            update(c, "RESET ALL");
            assertThat(string(c, "SELECT current_user::text FROM accounts WHERE id = " + a))
                    .as("the shard the SET ROLE ran on")
                    .isEqualTo("core_tenant");
            assertThat(string(c, "SELECT current_user::text FROM accounts WHERE id = " + b))
                    .as("a shard reached after the RESET ALL")
                    .isEqualTo("core_tenant");
            update(c, "RESET ROLE");
            assertThat(string(c, "SELECT current_user::text FROM accounts WHERE id = " + b))
                    .isEqualTo("postgres");
        }
    }

    @Test
    void theNextBorrowerOfAPhysicalConnectionSeesNoneOfTheLastOnesSessionState() throws Exception {
        String url = base + "&poolSize=1&readFrom=primary";
        String pid;
        try (Connection c = DriverManager.getConnection(url);
                PreparedStatement ps = c.prepareStatement("SELECT ?::int + 1")) {
            pid = string(c, "SELECT pg_backend_pid()::text");
            string(c, "SELECT set_config('app.tenant', 'acme', false)");
            string(c, "SELECT pg_advisory_lock(4242)::text");
            update(c, "CREATE TEMP TABLE scratch (a int)");
            update(c, "LISTEN jobs");
            update(c, "SET ROLE core_reader");
            update(c, "DISCARD TEMP");
            // a statement that fails after taking a session lock keeps the lock
            assertThat((Object) catchThrowableOfType(
                            SQLException.class, () -> string(c, "SELECT pg_advisory_lock(4343), 1 / 0")))
                    .isNotNull();
            for (int i = 0; i < 10; i++) {
                ps.setInt(1, i);
                ps.executeQuery().close();
            }
        }
        try (Connection c = DriverManager.getConnection(url);
                PreparedStatement ps = c.prepareStatement("SELECT ?::int + 1")) {
            assertThat(string(c, "SELECT pg_backend_pid()::text"))
                    .as("the same physical connection (pool of one)")
                    .isEqualTo(pid);
            assertThat(string(c, "SELECT coalesce(current_setting('app.tenant', true), '')"))
                    .isEmpty();
            assertThat(string(
                            c,
                            "SELECT count(*)::text FROM pg_locks WHERE locktype = 'advisory'"
                                    + " AND pid = pg_backend_pid()"))
                    .isEqualTo("0");
            assertThat(string(c, "SELECT current_user::text")).isEqualTo("postgres");
            assertThat(string(c, "SELECT coalesce(to_regclass('pg_temp.scratch')::text, '')"))
                    .isEmpty();
            assertThat(string(c, "SELECT count(*)::text FROM pg_listening_channels()"))
                    .isEqualTo("0");
            for (int i = 0; i < 10; i++) {
                ps.setInt(1, i);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    assertThat(rs.getInt(1))
                            .as("server-prepared statements still work")
                            .isEqualTo(i + 1);
                }
            }
        }
    }

    // ---- explainRoute ----------------------------------------------------------------------------------------

    @Test
    void explainReturnsARefusalForAKeyedWriteOnTwoShardsAsExecutionRefusesIt() throws Exception {
        long a = keyOn(0, 800);
        long b = keyOn(1, 800);
        String sql = "INSERT INTO accounts (id) VALUES (?), (?)";
        try (Connection c = DriverManager.getConnection(base)) {
            List<RouteExplanation> rows = c.unwrap(ShardlineConnection.class).explainRoute(sql, a, b);
            assertThat(rows).hasSize(1);
            assertThat(rows.get(0).reason()).startsWith("refused (0A000)").contains("map to shards");
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                ps.setLong(1, a);
                ps.setLong(2, b);
                SQLException e = catchThrowableOfType(SQLException.class, ps::executeUpdate);
                assertThat(e.getSQLState()).isEqualTo("0A000");
                assertThat(rows.get(0).reason()).contains(e.getMessage());
            }
        }
    }

    @Test
    void explainNamesTheNodeExecutionUsesInEveryMode() throws Exception {
        long a = keyOn(0, 900);
        long b = keyOn(1, 900);
        String weights = "&replicaWeights=s0-leaf1:0,s1-leaf1:0";
        String read = "SELECT inet_server_port() FROM accounts WHERE id = ?";
        String write = "UPDATE accounts SET balance = balance WHERE id = ? RETURNING inet_server_port()";
        try (Connection c = DriverManager.getConnection(base + "&maxStalenessMs=-1" + weights)) {
            update(c, "INSERT INTO accounts (id) VALUES (" + a + ") ON CONFLICT (id) DO NOTHING");
            update(c, "INSERT INTO accounts (id) VALUES (" + b + ") ON CONFLICT (id) DO NOTHING");
            sameNode(c, read, a);
            sameNode(c, write, a);
            // read-only transaction: a replica; read-write transaction: the primary
            c.setAutoCommit(false);
            c.setReadOnly(true);
            sameNode(c, read, a);
            c.commit();
            c.setReadOnly(false);
            sameNode(c, read, a);
            sameNode(c, write, a);
            c.rollback();
            c.setAutoCommit(true);
            // a forKey binding
            c.unwrap(ShardlineConnection.class).forKey("accounts", b);
            sameNode(c, read, b);
            assertThat(explainState(c, read, a)).isEqualTo("0A000");
            c.unwrap(ShardlineConnection.class).unbind();
        }
        // an unsharded table in a transaction on shard 1: the home primary joins it (two-phase commit)
        try (Connection c = DriverManager.getConnection(base + "&twoPhaseCommit=true" + weights)) {
            c.setAutoCommit(false);
            assertThat(nodeOf(c, write, b)).isEqualTo(cluster.primary(1));
            String unsharded = "SELECT inet_server_port(), count(*) FROM countries";
            RouteExplanation e = explain(c, unsharded);
            assertThat(e.node()).isEqualTo(cluster.primary(0).name());
            assertThat(node(c, unsharded).name()).isEqualTo(e.node());
            c.rollback();
        }
        // fallback=error with no lag reports (no monitor here): refused by both
        try (Connection c = DriverManager.getConnection(base + "&maxStalenessMs=1000&fallback=error" + weights)) {
            assertThat(explainState(c, read, a)).isEqualTo("55000");
            assertThat(catchThrowableOfType(SQLException.class, () -> nodeOf(c, read, a))
                            .getSQLState())
                    .isEqualTo("55000");
        }
        // read-your-writes with rywWaitMs: the replica it waits for
        try (Connection c = DriverManager.getConnection(base + "&maxStalenessMs=-1&rywWaitMs=5000" + weights)) {
            update(c, "UPDATE accounts SET balance = balance + 1 WHERE id = " + a);
            RouteExplanation e = explain(c, read, a);
            assertThat(e.reason()).contains("rywWaitMs");
            assertThat(nodeOf(c, read, a).name()).isEqualTo(e.node());
        }
        // a move's cutover position on shard 1: its replicas read only once they replayed it; a cross-shard read
        // keeps to the rows each shard owns and answers
        String count;
        try (Connection c = DriverManager.getConnection(base + "&maxStalenessMs=-1" + weights)) {
            count = string(c, "SELECT count(*) FROM accounts");
        }
        new MoveScript(client, "core")
                .writeMove("core-m", MoveState.CLEANING, new long[] {0, 0}, 0, 1, Map.of(1, "FFFF/0"));
        try (Connection c = DriverManager.getConnection(base + "&maxStalenessMs=-1" + weights)) {
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> nodeOf(c, read, b).equals(cluster.primary(1)));
            assertThat(explainState(c, "SELECT count(*) FROM accounts")).isEqualTo("ok");
            assertThat(string(c, "SELECT count(*) FROM accounts")).isEqualTo(count);
            sameNode(c, read, b);
            assertThat(nodeOf(c, read, b)).isEqualTo(cluster.primary(1));
        } finally {
            client.delete().forPath(ZooKeeperTopologyStore.clusterPath("core") + "/moves/core-m");
        }
    }

    private static void sameNode(Connection c, String sql, long key) throws SQLException {
        RouteExplanation e = explain(c, sql, key);
        assertThat(e.node()).as("explained %s: %s", sql, e.reason()).isNotNull();
        assertThat(nodeOf(c, sql, key).name()).as("%s (%s)", sql, e.reason()).isEqualTo(e.node());
    }

    private static RouteExplanation explain(Connection c, String sql, Object... params) throws SQLException {
        List<RouteExplanation> rows = c.unwrap(ShardlineConnection.class).explainRoute(sql, params);
        assertThat(rows).hasSize(1);
        return rows.get(0);
    }

    /** The SQLState of a refused route's explanation, or "ok". */
    private static String explainState(Connection c, String sql, Object... params) throws SQLException {
        List<RouteExplanation> rows = c.unwrap(ShardlineConnection.class).explainRoute(sql, params);
        String reason = rows.get(0).reason();
        return reason.startsWith("refused (") ? reason.substring(9, 14) : "ok";
    }

    private static PgNode nodeOf(Connection c, String sql, long key) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setLong(1, key);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).as("%s returned a row", sql).isTrue();
                return byPort.get(rs.getInt(1));
            }
        }
    }

    // ---- helpers ----------------------------------------------------------------------------------------------

    private static PgNode node(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            assertThat(rs.next()).isTrue();
            return byPort.get(rs.getInt(1));
        }
    }

    private static void query(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            while (rs.next()) {
                rs.getObject(1);
            }
        }
    }

    private static String string(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            assertThat(rs.next()).isTrue();
            return rs.getString(1);
        }
    }

    /** Adds a batch row (id, balance 7) for each id. */
    private static void addRows(PreparedStatement ps, long... ids) throws SQLException {
        for (long id : ids) {
            ps.setLong(1, id);
            ps.setLong(2, 7);
            ps.addBatch();
        }
    }

    private static void update(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }
}
