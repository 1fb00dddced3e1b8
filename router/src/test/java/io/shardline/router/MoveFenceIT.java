package io.shardline.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The driver's side of a cutover, with the move written to ZooKeeper by hand as the rebalancer would: writes to
 * a fenced key range are held and released onto the new ring, other writes are not held, the router
 * acknowledges the fence, a fence held too long fails with 40001, DDL waits for the move; a router cut off from
 * ZooKeeper keeps writing while its session may hold, then holds sharded writes until it routes by the ring ZooKeeper
 * has when it is back.
 */
class MoveFenceIT {
    static final long MOVING_KEY = 42;
    static final long OTHER_KEY = 43;

    private static LocalCluster cluster;
    private static CuratorFramework client;
    private static HashRing ring;
    private static MoveScript moves;

    @BeforeAll
    static void start() throws SQLException {
        cluster =
                LocalCluster.builder().name("fence").shards(2).hubs(1).leaves(0).start();
        ring = RouterClusters.publish(cluster, List.of(new ShardedTable("public", "kv", "k", KeyType.INTEGER)));
        client = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        moves = new MoveScript(client, "fence");
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE kv (k bigint PRIMARY KEY, v text)");
        }
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

    @Test
    void aFencedWriteIsHeldAndLandsOnTheNewOwnerOthersAreNot() throws Exception {
        long hash = KeyHash.hashInt8(MOVING_KEY);
        int from = ring.shardFor(hash);
        int to = 1 - from;
        assertThat(KeyHash.hashInt8(OTHER_KEY))
                .as("outside the moving range [hash, hash]")
                .isNotEqualTo(hash);
        try (Connection writer = DriverManager.getConnection(cluster.shardlineUrl() + "?fenceWaitMs=10000");
                Connection other = DriverManager.getConnection(cluster.shardlineUrl() + "?fenceWaitMs=10000")) {
            moves.writeMove("m1", MoveState.FENCED, new long[] {hash, hash}, from, to);
            await().atMost(Duration.ofSeconds(10)).until(() -> moves.routersHolding("m1") > 0);

            CompletableFuture<Integer> held = CompletableFuture.supplyAsync(() -> insert(writer, MOVING_KEY));
            Thread.sleep(500);
            assertThat(held).as("the write to the moving key is held").isNotDone();
            assertThat(insert(other, OTHER_KEY))
                    .as("a write to another range is not held")
                    .isEqualTo(1);
            SQLException ddl = catchThrowableOfType(
                    SQLException.class, () -> other.createStatement().execute("CREATE INDEX kv_v ON kv (v)"));
            assertThat(ddl.getSQLState()).isEqualTo("55006");
            assertThat(ddl.getMessage()).contains("shard move m1 is running");

            // the cutover: the new ring gives the moving hash to the other shard, then the move says SWITCHED
            moves.switchRange(hash, to);
            moves.writeMove("m1", MoveState.SWITCHED, new long[] {hash, hash}, from, to);
            assertThat(held.get(10, TimeUnit.SECONDS)).isEqualTo(1);
            assertThat(countOn(to, MOVING_KEY))
                    .as("the held write ran on the new owner")
                    .isEqualTo(1);
            assertThat(countOn(from, MOVING_KEY)).isZero();

            moves.writeMove("m1", MoveState.DONE, new long[] {hash, hash}, from, to);
        }
    }

    @Test
    void aWriteHeldLongerThanFenceWaitMsFailsWith40001AndDoesNotRun() throws Exception {
        long key = 4242;
        long hash = KeyHash.hashInt8(key);
        try (ZooKeeperTopologyStore store =
                        ZooKeeperTopologyStore.connect(cluster.zkConnectString(), "fence", Duration.ofSeconds(10));
                Connection c = DriverManager.getConnection(cluster.shardlineUrl() + "?fenceWaitMs=300")) {
            HashRing current = store.snapshot().ring();
            int from = current.shardFor(hash);
            moves.writeMove("m2", MoveState.FENCED, new long[] {hash, hash}, from, 1 - from);
            await().atMost(Duration.ofSeconds(10)).until(() -> moves.routersHolding("m2") > 0);
            SQLException e = catchThrowableOfType(SQLException.class, () -> insertOrThrow(c, key));
            assertThat(e.getSQLState()).isEqualTo("40001");
            assertThat(e.getMessage()).contains("shard move m2", "held 300 ms", "retry it");
            moves.writeMove("m2", MoveState.ABORTED, new long[] {hash, hash}, from, 1 - from);
            assertThat(insertOrThrow(c, key)).isEqualTo(1);
            assertThat(countOn(from, key)).isEqualTo(1);
        }
    }

    /**
     * A statement's query timeout bounds how long a fence holds it too (Spring's {@code @Transactional(timeout)} sets
     * it): shorter than {@code fenceWaitMs}, it ends the wait with 57014, the write not run; a batch likewise.
     */
    @Test
    void aWriteHeldByAFenceFailsAtItsQueryTimeoutWhenThatComesBeforeFenceWaitMs() throws Exception {
        long key = 440_000;
        long hash = KeyHash.hashInt8(key);
        try (ZooKeeperTopologyStore store =
                        ZooKeeperTopologyStore.connect(cluster.zkConnectString(), "fence", Duration.ofSeconds(10));
                Connection c = DriverManager.getConnection(cluster.shardlineUrl() + "?fenceWaitMs=30000")) {
            int from = store.snapshot().ring().shardFor(hash);
            moves.writeMove("m8", MoveState.FENCED, new long[] {hash, hash}, from, 1 - from);
            await().atMost(Duration.ofSeconds(10)).until(() -> moves.routersHolding("m8") > 0);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO kv (k, v) VALUES (?, 'x')")) {
                ps.setQueryTimeout(1);
                ps.setLong(1, key);
                long started = System.nanoTime();
                SQLException e = catchThrowableOfType(SQLException.class, ps::executeUpdate);
                long heldMs = Duration.ofNanos(System.nanoTime() - started).toMillis();
                assertThat(e.getSQLState()).as(e.getMessage()).isEqualTo("57014");
                assertThat(e.getMessage())
                        .contains("shard move m8", "held 1000 ms, its query timeout (1 s)", "not run");
                assertThat(heldMs)
                        .as("held up to its query timeout, not fenceWaitMs (30 s)")
                        .isLessThan(15_000);

                ps.setLong(1, key);
                ps.addBatch();
                SQLException batch = catchThrowableOfType(SQLException.class, ps::executeBatch);
                assertThat(batch.getSQLState()).as(batch.getMessage()).isEqualTo("57014");
            }
            // without a timeout, Statement.cancel() ends the hold
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO kv (k, v) VALUES (?, 'x')")) {
                ps.setLong(1, key);
                CompletableFuture<SQLException> held = CompletableFuture.supplyAsync(
                        () -> catchThrowableOfType(SQLException.class, ps::executeUpdate));
                Thread.sleep(500);
                assertThat(held).as("the write is held").isNotDone();
                ps.cancel();
                SQLException canceled = held.get(10, TimeUnit.SECONDS);
                assertThat(canceled.getSQLState()).as(canceled.getMessage()).isEqualTo("57014");
                assertThat(canceled.getMessage()).contains("shard move m8", "canceled (Statement.cancel)", "not run");
            }
            moves.writeMove("m8", MoveState.ABORTED, new long[] {hash, hash}, from, 1 - from);
            assertThat(countOn(0, key) + countOn(1, key))
                    .as("the held writes ran nowhere")
                    .isZero();
            assertThat(insertOrThrow(c, key)).isEqualTo(1);
        }
    }

    /**
     * A plain {@code Statement} batch in autocommit mode runs as one transaction, as pgjdbc runs it: a statement held
     * at a fence past {@code fenceWaitMs} fails the batch with 40001 and leaves none of the others committed, so that
     * running the batch again (what a retry template does on 40001) writes each row once. Over two shards without
     * two-phase commit the statements commit one by one: the failure then does not say 40001.
     */
    @Test
    void aStatementBatchHeldAtAFenceCommitsNoneOfItsStatements() throws Exception {
        long key = 4343;
        long hash = KeyHash.hashInt8(key);
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl() + "?fenceWaitMs=300");
                Connection twoPhase =
                        DriverManager.getConnection(cluster.shardlineUrl() + "?fenceWaitMs=300&twoPhaseCommit=true")) {
            HashRing current = moves.ring();
            int from = current.shardFor(hash);
            long sameShard = keyOn(current, from, 5000);
            long otherShard = keyOn(current, 1 - from, 6000);
            moves.writeMove("m5", MoveState.FENCED, new long[] {hash, hash}, from, 1 - from);
            await().atMost(Duration.ofSeconds(10)).until(() -> moves.routersHolding("m5") > 0);

            for (Connection conn : List.of(c, twoPhase)) {
                long first = conn == c ? sameShard : otherShard;
                Statement s = conn.createStatement();
                s.addBatch("INSERT INTO kv VALUES (" + first + ", 'first')");
                s.addBatch("INSERT INTO kv VALUES (" + key + ", 'held')");
                BatchUpdateException e = catchThrowableOfType(BatchUpdateException.class, s::executeBatch);
                assertThat(e.getSQLState()).isEqualTo("40001");
                assertThat(e.getMessage()).contains("statement 2 of the batch", "none of its statements was committed");
                assertThat(e.getUpdateCounts()).containsExactly(Statement.EXECUTE_FAILED, Statement.EXECUTE_FAILED);
                assertThat(conn.getAutoCommit()).isTrue();
                assertThat(countOn(0, first) + countOn(1, first))
                        .as("the batch's first statement was rolled back")
                        .isZero();
            }

            Statement s = c.createStatement();
            s.addBatch("INSERT INTO kv VALUES (" + otherShard + ", 'first')");
            s.addBatch("INSERT INTO kv VALUES (" + key + ", 'held')");
            BatchUpdateException e = catchThrowableOfType(BatchUpdateException.class, s::executeBatch);
            assertThat(e.getSQLState())
                    .as("not 40001: the first statement committed on its own, the batch must not run again whole")
                    .isEqualTo("25000");
            assertThat(e.getMessage()).contains("the 1 before it were committed", "40001");
            assertThat(e.getUpdateCounts()).containsExactly(1);
            assertThat(countOn(1 - from, otherShard)).isEqualTo(1);

            moves.writeMove("m5", MoveState.ABORTED, new long[] {hash, hash}, from, 1 - from);
            s.addBatch("INSERT INTO kv VALUES (" + sameShard + ", 'first')");
            s.addBatch("INSERT INTO kv VALUES (" + key + ", 'second')");
            assertThat(s.executeBatch()).containsExactly(1, 1);
            assertThat(countOn(from, sameShard) + countOn(from, key)).isEqualTo(2);

            long fresh = keyOn(current, from, 7000);
            s.addBatch("INSERT INTO kv VALUES (" + fresh + ", 'new')");
            s.addBatch("INSERT INTO kv VALUES (" + key + ", 'duplicate')");
            e = catchThrowableOfType(BatchUpdateException.class, s::executeBatch);
            assertThat(e.getSQLState()).isEqualTo("23505");
            assertThat(countOn(from, fresh))
                    .as("a batch on one shard is all or nothing, as with pgjdbc")
                    .isZero();
            assertThat(c.getAutoCommit()).isTrue();

            // a statement the driver cannot route (a key that is no integer) fails the batch before anything stays
            s.addBatch("INSERT INTO kv VALUES (" + fresh + ", 'new')");
            s.addBatch("INSERT INTO kv VALUES ('twelve', 'bad key')");
            e = catchThrowableOfType(BatchUpdateException.class, s::executeBatch);
            assertThat(e.getSQLState()).isEqualTo("22P02");
            assertThat(e.getUpdateCounts()).containsExactly(Statement.EXECUTE_FAILED, Statement.EXECUTE_FAILED);
            assertThat(countOn(from, fresh)).isZero();

            // a connection set read-only writes in autocommit mode, as with pgjdbc (which ignores it there)
            c.setReadOnly(true);
            s.addBatch("INSERT INTO kv VALUES (" + fresh + ", 'read-only connection')");
            s.addBatch("DELETE FROM kv WHERE k = " + fresh);
            assertThat(s.executeBatch()).containsExactly(1, 1);
            c.setReadOnly(false);
        }
    }

    /**
     * A REPEATABLE READ transaction that read a key on its old owner may not write it on the new one after the switch:
     * its snapshot there would be taken after another transaction's update of the key (a lost update PostgreSQL
     * refuses with 40001 on one node).
     */
    @Test
    void aRepeatableReadTransactionDoesNotWriteAKeyItReadAfterTheKeyMoved() throws Exception {
        long key = 4444;
        long hash = KeyHash.hashInt8(key);
        try (Connection t1 = DriverManager.getConnection(cluster.shardlineUrl() + "?twoPhaseCommit=true");
                Connection t2 = DriverManager.getConnection(cluster.shardlineUrl())) {
            int from = moves.ring().shardFor(hash);
            direct(from, "INSERT INTO kv VALUES (" + key + ", '100')");
            t1.setAutoCommit(false);
            t1.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
            try (ResultSet rs = t1.createStatement().executeQuery("SELECT v FROM kv WHERE k = " + key)) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("100");
            }
            direct(1 - from, "INSERT INTO kv VALUES (" + key + ", '100')"); // what the move's copy did
            moves.switchRange(hash, 1 - from);
            moves.writeMove("m6", MoveState.SWITCHED, new long[] {hash, hash}, from, 1 - from);
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> t2.createStatement().executeUpdate("UPDATE kv SET v = '70' WHERE k = " + key) == 1
                            && countOn(1 - from, key, "70") == 1);
            SQLException e = catchThrowableOfType(
                    SQLException.class,
                    () -> t1.createStatement().executeUpdate("UPDATE kv SET v = '150' WHERE k = " + key));
            assertThat(e.getSQLState()).isEqualTo("40001");
            assertThat(e.getMessage()).contains("REPEATABLE READ", "shard " + (1 - from), "run the transaction again");
            t1.rollback();
            assertThat(countOn(1 - from, key, "70"))
                    .as("the other transaction's update stands")
                    .isEqualTo(1);
            moves.writeMove("m6", MoveState.DONE, new long[] {hash, hash}, from, 1 - from);
            moves.switchRange(hash, from);
            direct(1 - from, "DELETE FROM kv WHERE k = " + key);
        }
    }

    /**
     * The ring of a cutover reaches the router before the move's SWITCHED record, which holds the position the
     * target's replicas must have replayed: meanwhile a read of a moved key goes to the target's primary, not to a
     * replica that has not replayed the moved rows (paused here).
     */
    @Test
    void aReadOfAMovedKeyGoesToThePrimaryUntilTheMovesRecordSaysSwitched() throws Exception {
        long key = 4545;
        long hash = KeyHash.hashInt8(key);
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl() + "?maxStalenessMs=-1")) {
            int from = moves.ring().shardFor(hash);
            int to = 1 - from;
            PgNode hub = cluster.node("s" + to + "-hub1");
            moves.writeMove("m7", MoveState.FENCED, new long[] {hash, hash}, from, to);
            hub.queryString("SELECT pg_wal_replay_pause()::text");
            try {
                direct(to, "INSERT INTO kv VALUES (" + key + ", 'moved')"); // what the copy applied
                moves.switchRange(hash, to); // the ring, without the SWITCHED record
                await().atMost(Duration.ofSeconds(10)).until(() -> {
                    try (ResultSet rs = c.createStatement().executeQuery("SELECT v FROM kv WHERE k = " + key)) {
                        return rs.next() && "moved".equals(rs.getString(1));
                    }
                });
                assertThat(c.unwrap(ShardlineConnection.class)
                                .explainRoute("SELECT v FROM kv WHERE k = ?", key)
                                .get(0)
                                .node())
                        .isEqualTo("s" + to + "-primary");
            } finally {
                hub.queryString("SELECT pg_wal_replay_resume()::text");
                moves.writeMove("m7", MoveState.DONE, new long[] {hash, hash}, from, to);
                moves.switchRange(hash, from);
                direct(to, "DELETE FROM kv WHERE k = " + key);
            }
        }
    }

    private static void direct(int shard, String sql) throws SQLException {
        try (Connection c = cluster.primary(shard).connect()) {
            c.createStatement().execute(sql);
        }
    }

    private static long countOn(int shard, long key, String v) throws SQLException {
        try (Connection c = cluster.primary(shard).connect();
                ResultSet rs = c.createStatement()
                        .executeQuery("SELECT count(*) FROM kv WHERE k = " + key + " AND v = '" + v + "'")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static long keyOn(HashRing ring, int shard, long from) {
        long k = from;
        while (ring.shardFor(KeyHash.hashInt8(k)) != shard) {
            k++;
        }
        return k;
    }

    @Test
    void aRouterCutOffFromZooKeeperPastItsLeaseHoldsShardedWritesAndResumesOnTheCurrentRing() throws Exception {
        long before = 777;
        long during = 100_000;
        long after = 779;
        ShardlineDriver.closeAll();
        await("this test's router is then the only one")
                .atMost(Duration.ofSeconds(30))
                .until(() -> moves.routers() == 0);
        try (TcpProxy proxy = new TcpProxy(cluster.zkConnectString());
                Connection c = DriverManager.getConnection("jdbc:shardline:zk://" + proxy.address()
                        + ZooKeeperTopologyStore.clusterPath("fence") + "?fenceWaitMs=500")) {
            assertThat(insertOrThrow(c, before)).isEqualTo(1);
            assertThat(moves.routers()).isEqualTo(1);

            proxy.cut();
            // writes go on while the session may hold (its 10 s timeout and the rebalancers' grace, less a margin),
            // then wait: each tries a new key
            long[] next = {during};
            SQLException held = await().atMost(Duration.ofSeconds(20))
                    .pollInterval(Duration.ofMillis(100))
                    .until(
                            () -> catchThrowableOfType(SQLException.class, () -> insertOrThrow(c, next[0]++)),
                            e -> e != null);
            long heldKey = next[0] - 1;
            assertThat(held.getSQLState()).isEqualTo("40001");
            // its lease ran out, or Curator gave the session up first (a session timeout after it was cut off)
            assertThat(held.getMessage())
                    .containsAnyOf("no answer from ZooKeeper", "lost its ZooKeeper session")
                    .contains("retry it");
            try (ResultSet rs = c.createStatement().executeQuery("SELECT v FROM kv WHERE k = " + before)) {
                assertThat(rs.next()).as("reads go on").isTrue();
            }

            // its session expires, so a move may switch without it: the range of the next key goes to the other shard
            await().atMost(Duration.ofSeconds(30)).until(() -> moves.routers() == 0);
            long hash = KeyHash.hashInt8(after);
            int from = moves.ring().shardFor(hash);
            moves.switchRange(hash, 1 - from);
            proxy.restore();
            await().atMost(Duration.ofSeconds(20))
                    .pollInterval(Duration.ofMillis(50))
                    .ignoreExceptionsMatching(e -> e instanceof SQLException sql && "40001".equals(sql.getSQLState()))
                    .until(() -> insertOrThrow(c, after) == 1);
            assertThat(countOn(1 - from, after))
                    .as("the first write after the reconnect used the new ring")
                    .isEqualTo(1);
            assertThat(countOn(from, after)).isZero();
            assertThat(countOn(0, heldKey) + countOn(1, heldKey))
                    .as("the held write did not run")
                    .isZero();
            moves.switchRange(hash, from);
            ShardlineDriver.closeAll(); // while the proxy forwards: its node goes at once
        }
    }

    /**
     * Past its lease, a router cut off from ZooKeeper may be routing by a topology a failover replaced: writes to
     * unsharded tables, {@code nextval} and the COMMIT of a transaction that wrote are held like sharded writes
     * (they went to the home primary whatever happened), and reads go on.
     */
    @Test
    void aRouterCutOffFromZooKeeperPastItsLeaseHoldsUnshardedWritesSequencesAndCommitsToo() throws Exception {
        try (Connection setup = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = setup.createStatement()) {
            s.execute("CREATE TABLE notes (id bigint PRIMARY KEY)");
            s.execute("CREATE SEQUENCE note_ids");
        }
        try (TcpProxy proxy = new TcpProxy(cluster.zkConnectString());
                Connection c = DriverManager.getConnection("jdbc:shardline:zk://" + proxy.address()
                        + ZooKeeperTopologyStore.clusterPath("fence") + "?fenceWaitMs=500");
                Connection open = DriverManager.getConnection("jdbc:shardline:zk://" + proxy.address()
                        + ZooKeeperTopologyStore.clusterPath("fence") + "?fenceWaitMs=500")) {
            open.setAutoCommit(false);
            open.createStatement().execute("INSERT INTO notes (id) VALUES (1)");
            assertThat(c.createStatement().executeUpdate("INSERT INTO notes (id) VALUES (2)"))
                    .isEqualTo(1);

            proxy.cut();
            long[] next = {1_000};
            SQLException held = await().atMost(Duration.ofSeconds(25))
                    .pollInterval(Duration.ofMillis(100))
                    .until(
                            () -> catchThrowableOfType(
                                    SQLException.class,
                                    () -> c.createStatement()
                                            .executeUpdate("INSERT INTO notes (id) VALUES (" + next[0]++ + ")")),
                            e -> e != null);
            long heldId = next[0] - 1;
            assertThat(held.getSQLState()).isEqualTo("40001");
            assertThat(held.getMessage())
                    .containsAnyOf("no answer from ZooKeeper", "lost its ZooKeeper session")
                    .contains("this write was held 500 ms (fenceWaitMs) and not sent: retry it");
            SQLException sequence = catchThrowableOfType(
                    SQLException.class, () -> c.createStatement().executeQuery("SELECT nextval('note_ids')"));
            assertThat(sequence.getSQLState()).isEqualTo("40001");
            SQLException commit = catchThrowableOfType(SQLException.class, open::commit);
            assertThat(commit.getSQLState()).isEqualTo("40001");
            assertThat(commit.getMessage()).contains("the transaction was rolled back, nothing was committed");
            try (ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM notes WHERE id = 2")) {
                assertThat(rs.next()).as("reads go on").isTrue();
                assertThat(rs.getLong(1)).isEqualTo(1);
            }

            proxy.restore();
            await().atMost(Duration.ofSeconds(30))
                    .pollInterval(Duration.ofMillis(50))
                    .ignoreExceptionsMatching(e -> e instanceof SQLException sql && "40001".equals(sql.getSQLState()))
                    .until(() -> c.createStatement().executeUpdate("INSERT INTO notes (id) VALUES (3)") == 1);
            try (Connection home = cluster.primary(0).connect();
                    ResultSet rs = home.createStatement()
                            .executeQuery(
                                    "SELECT string_agg(id::text, ',' ORDER BY id) FROM notes WHERE id IN (1, 2, 3, "
                                            + heldId + ")")) {
                rs.next();
                assertThat(rs.getString(1))
                        .as("the transaction's row and the held write are not there")
                        .isEqualTo("2,3");
            }
            ShardlineDriver.closeAll(); // while the proxy forwards: its node goes at once
        }
    }

    @Test
    void aZooKeeperOutageShorterThanTheSessionTimeoutHoldsNoWrite() throws Exception {
        try (TcpProxy proxy = new TcpProxy(cluster.zkConnectString());
                Connection c = DriverManager.getConnection(
                        "jdbc:shardline:zk://" + proxy.address() + ZooKeeperTopologyStore.clusterPath("fence"))) {
            long key = 200_000;
            long worstMs = 0;
            int writes = 0;
            long cutAt = System.nanoTime() + Duration.ofSeconds(1).toNanos();
            // 8 s of the 10 s session timeout: its session holds, so no move can switch without this router
            long restoreAt = cutAt + Duration.ofSeconds(8).toNanos();
            long end = restoreAt + Duration.ofSeconds(2).toNanos();
            boolean cut = false;
            boolean restored = false;
            while (System.nanoTime() < end) {
                if (!cut && System.nanoTime() > cutAt) {
                    proxy.cut();
                    cut = true;
                }
                if (!restored && System.nanoTime() > restoreAt) {
                    proxy.restore();
                    restored = true;
                }
                long t0 = System.nanoTime();
                assertThat(insertOrThrow(c, key++)).as("write %d", writes).isEqualTo(1);
                worstMs = Math.max(
                        worstMs, Duration.ofNanos(System.nanoTime() - t0).toMillis());
                writes++;
                Thread.sleep(10);
            }
            System.out.printf("8 s ZooKeeper outage: %d writes, none failed, slowest %d ms%n", writes, worstMs);
            assertThat(worstMs).as("slowest write across the outage").isLessThan(500);
            ShardlineDriver.closeAll(); // while the proxy forwards: its node goes at once
        }
    }

    /**
     * The lease is checked again just before a write is sent: one let in while it held, that waited for a pooled
     * connection until past it (a cutover may have gone on without this router meanwhile), is not run.
     */
    @Test
    void aWriteThatReachesItsConnectionAfterTheLeaseRanOutIsNotRun() throws Exception {
        long first = 400_000;
        long late = keyAfter(first, true);
        ShardlineDriver.closeAll();
        try (TcpProxy proxy = new TcpProxy(cluster.zkConnectString())) {
            String url = "jdbc:shardline:zk://" + proxy.address() + ZooKeeperTopologyStore.clusterPath("fence")
                    + "?poolSize=1&connectTimeoutMs=60000";
            Connection holder = DriverManager.getConnection(url);
            try (Connection writer = DriverManager.getConnection(url)) {
                holder.setAutoCommit(false);
                assertThat(insertOrThrow(holder, first)).isEqualTo(1); // the pool's only connection to that primary
                CompletableFuture<Integer> waiting = CompletableFuture.supplyAsync(() -> insert(writer, late));
                Thread.sleep(500);
                assertThat(waiting).as("the write waits for a connection").isNotDone();
                proxy.cut();
                Thread.sleep(12_000); // past the lease (or Curator's session timeout)
                holder.rollback();
                holder.close();
                assertThat(waiting)
                        .failsWithin(Duration.ofSeconds(30))
                        .withThrowableOfType(java.util.concurrent.ExecutionException.class)
                        .havingRootCause()
                        .isInstanceOf(SQLException.class)
                        .withMessageContaining("lease ran out before the write reached");
                assertThat(countOn(0, late) + countOn(1, late))
                        .as("the late write ran nowhere")
                        .isZero();
            } finally {
                holder.close();
                proxy.restore();
                ShardlineDriver
                        .closeAll(); // while the proxy is there: else closing waits on a ZooKeeper it cannot reach
            }
        } finally {
            ShardlineDriver.closeAll();
        }
    }

    @Test
    void aWriteInATransactionThatReachesItsConnectionAfterTheLeaseRanOutAbortsTheTransaction() throws Exception {
        long first = 410_000;
        long late = keyAfter(first, true);
        long elsewhere = keyAfter(late, false);
        ShardlineDriver.closeAll();
        try (TcpProxy proxy = new TcpProxy(cluster.zkConnectString())) {
            String url = "jdbc:shardline:zk://" + proxy.address() + ZooKeeperTopologyStore.clusterPath("fence")
                    + "?poolSize=1&connectTimeoutMs=60000&twoPhaseCommit=true";
            Connection holder = DriverManager.getConnection(url);
            try (Connection writer = DriverManager.getConnection(url)) {
                holder.setAutoCommit(false);
                assertThat(insertOrThrow(holder, first)).isEqualTo(1); // the pool's only connection to that primary
                writer.setAutoCommit(false);
                assertThat(insertOrThrow(writer, elsewhere)).isEqualTo(1); // the transaction's first leg, on the other
                CompletableFuture<Integer> waiting = CompletableFuture.supplyAsync(() -> insert(writer, late));
                Thread.sleep(500);
                assertThat(waiting)
                        .as("the transaction's second write waits for a connection: %s", outcome(waiting))
                        .isNotDone();
                proxy.cut();
                Thread.sleep(12_000); // past the lease (or Curator's session timeout)
                holder.rollback();
                holder.close();
                assertThat(waiting)
                        .failsWithin(Duration.ofSeconds(30))
                        .withThrowableOfType(java.util.concurrent.ExecutionException.class)
                        .havingRootCause()
                        .isInstanceOf(SQLException.class)
                        .withMessageContaining("the transaction is aborted");
                SQLException commit = catchThrowableOfType(SQLException.class, writer::commit);
                assertThat((Object) commit)
                        .as("the aborted transaction's COMMIT fails")
                        .isNotNull();
                writer.rollback();
                assertThat(countOn(0, elsewhere) + countOn(1, elsewhere))
                        .as("the transaction's first leg was not committed")
                        .isZero();
                assertThat(countOn(0, late) + countOn(1, late))
                        .as("the late write ran nowhere")
                        .isZero();
            } finally {
                holder.close();
                proxy.restore();
                ShardlineDriver.closeAll(); // while the proxy is there: closing resolves in-doubt transactions first
            }
        } finally {
            ShardlineDriver.closeAll();
        }
    }

    /** The first key after {@code key} on its shard ({@code same}) or on another. */
    private static long keyAfter(long key, boolean same) throws Exception {
        int shard = moves.ring().shardFor(KeyHash.hashInt8(key));
        long next = key + 1;
        while ((moves.ring().shardFor(KeyHash.hashInt8(next)) == shard) != same) {
            next++;
        }
        return next;
    }

    private static String outcome(CompletableFuture<Integer> f) {
        if (!f.isDone()) {
            return "still waiting";
        }
        try {
            return "done with " + f.join();
        } catch (RuntimeException e) {
            return "failed: " + e;
        }
    }

    /**
     * A driver whose ZooKeeper went away closes without waiting for it — refused connections (Curator's guaranteed
     * delete of the router's node retried for its connection timeout several times: 10-20 s) or a network that drops
     * the packets (ZooKeeper's own close waited for its timeouts: 7-10 s): the node goes with the session.
     */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void aDriverCutOffFromZooKeeperClosesWithoutWaitingForIt(boolean refused) throws Exception {
        String routers = ZooKeeperTopologyStore.clusterPath("fence") + "/routers";
        ShardlineDriver.closeAll();
        await().atMost(Duration.ofSeconds(20))
                .until(() -> client.getChildren().forPath(routers).isEmpty());
        try (TcpProxy proxy = new TcpProxy(cluster.zkConnectString())) {
            try (Connection c = DriverManager.getConnection(
                    "jdbc:shardline:zk://" + proxy.address() + ZooKeeperTopologyStore.clusterPath("fence"))) {
                assertThat(insertOrThrow(c, refused ? 430_000 : 430_001)).isEqualTo(1);
            }
            assertThat(client.getChildren().forPath(routers)).hasSize(1);
            if (refused) {
                proxy.close();
            } else {
                proxy.hold();
            }
            long started = System.nanoTime();
            ShardlineDriver.closeAll();
            long tookMs = Duration.ofNanos(System.nanoTime() - started).toMillis();
            System.out.printf(
                    "closing a driver cut off from ZooKeeper (%s) took %d ms%n",
                    refused ? "connections refused" : "packets dropped", tookMs);
            assertThat(tookMs)
                    .as("closing waits at most about 3 s for ZooKeeper")
                    .isLessThan(6_000);
            await("the router's node goes with its session")
                    .atMost(Duration.ofSeconds(30))
                    .until(() -> client.getChildren().forPath(routers).isEmpty());
            proxy.cut();
            proxy.release(); // the held forwarders end on the cut sockets
        }
    }

    @Test
    void aRouterWhoseRegistrationIsGoneHoldsShardedWrites() throws Exception {
        String routers = ZooKeeperTopologyStore.clusterPath("fence") + "/routers";
        ShardlineDriver.closeAll();
        await().atMost(Duration.ofSeconds(20))
                .until(() -> client.getChildren().forPath(routers).isEmpty());
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl() + "?fenceWaitMs=1000")) {
            assertThat(insertOrThrow(c, 300_000)).isEqualTo(1);
            List<String> registered = client.getChildren().forPath(routers);
            assertThat(registered).hasSize(1);
            // the node goes, and the router may not put it back (as on a cluster whose ACLs keep it out)
            client.setACL()
                    .withACL(new java.util.ArrayList<>(List.of(new ACL(
                            ZooDefs.Perms.READ | ZooDefs.Perms.DELETE | ZooDefs.Perms.ADMIN,
                            ZooDefs.Ids.ANYONE_ID_UNSAFE))))
                    .forPath(routers);
            try {
                client.delete().forPath(routers + "/" + registered.get(0));
                // within a lease renewal (about a second) the router sees its node gone; each try a new key
                long[] key = {300_001};
                SQLException held = await().atMost(Duration.ofSeconds(15))
                        .until(
                                () -> catchThrowableOfType(SQLException.class, () -> insertOrThrow(c, ++key[0])),
                                e -> e != null);
                assertThat(held.getSQLState()).as(held.getMessage()).isEqualTo("40001");
                assertThat(countOn(0, key[0]) + countOn(1, key[0]))
                        .as("the held write ran nowhere")
                        .isZero();
                assertThat(key[0] - 300_001)
                        .as("writes that went through before the router saw it")
                        .isLessThan(200);
            } finally {
                client.setACL().withACL(ZooDefs.Ids.OPEN_ACL_UNSAFE).forPath(routers);
            }
        } finally {
            ShardlineDriver.closeAll();
        }
    }

    private static int insert(Connection c, long key) {
        try {
            return insertOrThrow(c, key);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static int insertOrThrow(Connection c, long key) throws SQLException {
        try (Statement s = c.createStatement()) {
            return s.executeUpdate("INSERT INTO kv (k, v) VALUES (" + key + ", 'x')");
        }
    }

    private static long countOn(int shard, long key) throws SQLException {
        try (Connection c = cluster.primary(shard).connect();
                ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM kv WHERE k = " + key)) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
