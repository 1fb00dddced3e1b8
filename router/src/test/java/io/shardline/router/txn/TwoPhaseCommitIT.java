package io.shardline.router.txn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Two-phase commit over real primaries and a real ZooKeeper: commit, a PREPARE that fails, a coordinator that
 * "dies" (an observer throws) after PREPARE or after the decision, a coordinator still alive, and recovery racing
 * a coordinator.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class TwoPhaseCommitIT {
    private static LocalCluster cluster;
    private static CuratorFramework client;
    private static ClusterTopology topology;
    private static TxnLog log;
    private static InDoubtTransactions recovery;

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder().name("txn").shards(2).hubs(0).leaves(0).start();
        RouterClusters.publish(cluster, List.of());
        client = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        topology = RouterClusters.topology(cluster, List.of());
        log = new TxnLog(client, "txn");
        recovery = new InDoubtTransactions(
                client, "txn", n -> cluster.node(n.name()).connect());
        for (int s = 0; s < 2; s++) {
            try (Connection c = cluster.primary(s).connect();
                    Statement st = c.createStatement()) {
                st.execute("CREATE TABLE t (id int PRIMARY KEY, v text,"
                        + " CONSTRAINT t_v UNIQUE (v) DEFERRABLE INITIALLY DEFERRED)");
            }
        }
    }

    @AfterAll
    static void stop() {
        if (client != null) {
            client.close();
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    @AfterEach
    void clean() throws SQLException {
        for (int s = 0; s < 2; s++) {
            sql(s, "TRUNCATE t");
        }
    }

    private static void sql(int shard, String statement) throws SQLException {
        try (Connection c = cluster.primary(shard).connect();
                Statement st = c.createStatement()) {
            st.execute(statement);
        }
    }

    /** Opens a transaction on each shard that inserts {@code id} (and {@code v}). */
    private static Map<Integer, Connection> write(int id, String v) throws SQLException {
        Map<Integer, Connection> participants = new LinkedHashMap<>();
        for (int s = 0; s < 2; s++) {
            Connection c = cluster.primary(s).connect();
            c.setAutoCommit(false);
            try (Statement st = c.createStatement()) {
                st.execute("INSERT INTO t VALUES (" + id + ", '" + v + "')");
            }
            participants.put(s, c);
        }
        return participants;
    }

    private static void close(Map<Integer, Connection> participants) throws SQLException {
        for (Connection c : participants.values()) {
            c.close();
        }
    }

    private static long rows(int shard) {
        return Long.parseLong(cluster.primary(shard).queryString("SELECT count(*) FROM t"));
    }

    private static long prepared() {
        return Long.parseLong(cluster.primary(0).queryString("SELECT count(*) FROM pg_prepared_xacts"))
                + Long.parseLong(cluster.primary(1).queryString("SELECT count(*) FROM pg_prepared_xacts"));
    }

    /** A router id whose registration node exists: its coordinator runs (the node's path: {@link #routerNode}). */
    private static String liveRouter() throws Exception {
        String router = UUID.randomUUID().toString();
        client.create()
                .creatingParentsIfNeeded()
                .withMode(CreateMode.EPHEMERAL)
                .forPath(routerNode(router), new byte[0]);
        return router;
    }

    private static String routerNode(String router) {
        return ZooKeeperTopologyStore.clusterPath("txn") + "/routers/" + router;
    }

    private static String deadCoordinatorGid() {
        return new Gid("txn", UUID.randomUUID().toString()).next();
    }

    @Test
    void commitsOnEveryShardAndLeavesNothingBehind() throws SQLException {
        Map<Integer, Connection> p = write(1, "a");
        String gid = deadCoordinatorGid();
        new TwoPhaseCommit(log, "test", TwoPhaseCommit.Observer.NONE).commit(gid, p);
        assertThat(rows(0)).isEqualTo(1);
        assertThat(rows(1)).isEqualTo(1);
        assertThat(prepared()).isZero();
        assertThat(log.find(gid)).isEmpty();
        assertThat(p.get(0).getAutoCommit()).isTrue();
        close(p);
    }

    @Test
    void aFailedPrepareRollsBackEveryShard() throws SQLException {
        sql(1, "INSERT INTO t VALUES (100, 'taken')");
        Map<Integer, Connection> p = write(2, "taken"); // shard 1's deferred unique check fails at PREPARE
        String gid = deadCoordinatorGid();
        assertThatThrownBy(() -> new TwoPhaseCommit(log, "test", TwoPhaseCommit.Observer.NONE).commit(gid, p))
                .isInstanceOf(SQLException.class)
                .hasMessageContaining("could not be prepared on shard 1")
                .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("23505"));
        assertThat(rows(0)).isZero();
        assertThat(rows(1)).isEqualTo(1);
        assertThat(prepared()).isZero();
        assertThat(log.find(gid))
                .hasValueSatisfying(r -> assertThat(r.decision()).isEqualTo(TxnLog.Decision.ROLLBACK));
        close(p);
    }

    @Test
    void aCoordinatorThatDiesAfterPrepareIsRolledBackByRecovery() throws SQLException {
        Map<Integer, Connection> p = write(3, "c");
        String gid = deadCoordinatorGid();
        assertThatThrownBy(() -> new TwoPhaseCommit(log, "test", crashAt("prepared", 1)).commit(gid, p))
                .hasMessage("crash");
        close(p);
        assertThat(prepared()).isEqualTo(2);
        List<InDoubtTransactions.InDoubt> inDoubt = recovery.list(topology);
        assertThat(inDoubt).extracting(InDoubtTransactions.InDoubt::gid).containsOnly(gid);
        assertThat(inDoubt).allSatisfy(t -> {
            assertThat(t.decision()).isNull();
            assertThat(t.coordinatorAlive()).isFalse();
        });
        InDoubtTransactions.Report report = recovery.recover(topology);
        assertThat(report.rolledBack()).isEqualTo(2);
        assertThat(report.committed()).isZero();
        assertThat(rows(0) + rows(1)).isZero();
        assertThat(prepared()).isZero();
    }

    @Test
    void aCoordinatorThatDiesAfterTheDecisionIsCommittedByRecovery() throws SQLException {
        Map<Integer, Connection> p = write(4, "d");
        String gid = deadCoordinatorGid();
        assertThatThrownBy(() -> new TwoPhaseCommit(log, "test", crashAt("decided", -1)).commit(gid, p))
                .hasMessage("crash");
        close(p);
        assertThat(recovery.list(topology))
                .allSatisfy(t -> assertThat(t.decision()).isEqualTo("COMMIT"));
        InDoubtTransactions.Report report = recovery.recover(topology);
        assertThat(report.committed()).isEqualTo(2);
        assertThat(rows(0)).isEqualTo(1);
        assertThat(rows(1)).isEqualTo(1);
        assertThat(prepared()).isZero();
        assertThat(log.find(gid)).as("a finished commit's decision is dropped").isEmpty();
    }

    @Test
    void aLiveCoordinatorsUndecidedTransactionIsLeftUntilItIsGone() throws Exception {
        String router = liveRouter();
        String node = routerNode(router);
        Map<Integer, Connection> p = write(5, "e");
        String gid = new Gid("txn", router).next();
        assertThatThrownBy(() -> new TwoPhaseCommit(log, "test", crashAt("prepared", 1)).commit(gid, p))
                .hasMessage("crash");
        close(p);
        InDoubtTransactions.Report report = recovery.recover(topology);
        assertThat(report.left()).isEqualTo(2);
        assertThat(prepared()).isEqualTo(2);
        client.delete().forPath(node);
        report = recovery.recover(topology);
        assertThat(report.rolledBack()).isEqualTo(2);
        assertThat(prepared()).isZero();
    }

    @Test
    void aCoordinatorThatFindsRecoveryDecidedFirstRollsBack() throws SQLException {
        Map<Integer, Connection> p = write(6, "f");
        String gid = deadCoordinatorGid();
        TwoPhaseCommit.Observer recoveryFirst = new TwoPhaseCommit.Observer() {
            @Override
            public void prepared(String g, int shard) {
                if (shard == 1) {
                    log.decide(g, TxnLog.Decision.ROLLBACK, "recovery");
                }
            }
        };
        assertThatThrownBy(() -> new TwoPhaseCommit(log, "test", recoveryFirst).commit(gid, p))
                .isInstanceOf(SQLException.class)
                .hasMessageContaining("rolled back by recovery")
                .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("40001"));
        assertThat(rows(0) + rows(1)).isZero();
        assertThat(prepared()).isZero();
        close(p);
    }

    @Test
    void aTransactionWhoseDecisionCannotBeRecordedIsResolvedByItsLiveCoordinator() throws Exception {
        String router = liveRouter();
        String node = routerNode(router);
        Map<Integer, Connection> p = write(7, "g");
        String gid = new Gid("txn", router).next();
        // ZooKeeper unreachable for the coordinator when it records COMMIT
        CuratorFramework cutOff = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        cutOff.close();
        Set<String> abandoned = ConcurrentHashMap.newKeySet();
        SQLException e = catchThrowableOfType(
                SQLException.class,
                () -> new TwoPhaseCommit(new TxnLog(cutOff, "txn"), "test", TwoPhaseCommit.Observer.NONE, abandoned)
                        .commit(gid, p));
        assertThat(e.getSQLState()).isEqualTo("08007");
        assertThat(e.getMessage()).contains("This router resolves it").doesNotContain("it will be rolled back");
        close(p);
        assertThat(prepared()).isEqualTo(2);
        assertThat(abandoned).containsExactly(gid);
        assertThat(recovery.recover(topology).left())
                .as("another router's recovery leaves a live coordinator's transaction")
                .isEqualTo(2);
        InDoubtTransactions.Report report = recovery.recover(topology, abandoned);
        assertThat(report.rolledBack()).as("its own recovery resolves it").isEqualTo(2);
        assertThat(prepared()).isZero();
        recovery.recover(topology, abandoned);
        assertThat(abandoned).isEmpty();
        client.delete().forPath(node);
    }

    @Test
    void recoveryLeavesADecidedTransactionToItsLiveCoordinator() throws Exception {
        String router = liveRouter();
        String node = routerNode(router);
        Map<Integer, Connection> p = write(8, "h");
        String gid = new Gid("txn", router).next();
        // the coordinator recorded COMMIT and is about to run COMMIT PREPARED: recovery must not race it
        assertThatThrownBy(() -> new TwoPhaseCommit(log, "test", crashAt("decided", -1)).commit(gid, p))
                .hasMessage("crash");
        close(p);
        assertThat(recovery.recover(topology).left()).isEqualTo(2);
        assertThat(prepared()).isEqualTo(2);
        client.delete().forPath(node);
        assertThat(recovery.recover(topology).committed()).isEqualTo(2);
        assertThat(rows(0) + rows(1)).isEqualTo(2);
    }

    @Test
    void recoveryLeavesATransactionWhoseCoordinatorFinishedItSinceItWasListed() throws Exception {
        String router = liveRouter();
        String node = routerNode(router);
        Map<Integer, Connection> p = write(9, "i");
        String gid = new Gid("txn", router).next();
        assertThatThrownBy(() -> new TwoPhaseCommit(log, "test", crashAt("decided", -1)).commit(gid, p))
                .hasMessage("crash");
        close(p);
        // listed with its COMMIT; then its live coordinator finishes and forgets the decision (here only the
        // forgetting, so what recovery does to the participants shows): recovery must not COMMIT PREPARED it again
        recovery.afterListing(() -> log.forget(gid));
        try {
            InDoubtTransactions.Report report = recovery.recover(topology);
            assertThat(report.committed()).isZero();
            assertThat(report.errors()).isEmpty();
            assertThat(prepared()).isEqualTo(2);
        } finally {
            recovery.afterListing(() -> {});
            client.delete().forPath(node);
        }
        assertThat(recovery.recover(topology).rolledBack())
                .as("no decision, coordinator gone")
                .isEqualTo(2);
        assertThat(prepared()).isZero();
    }

    /**
     * The coordinator loses its ZooKeeper session between its PREPAREs and its decision (a pause): recovery rolls the
     * transaction back, its ROLLBACK is forgotten (an hour later, or by routers' clocks apart), the coordinator comes
     * back and records COMMIT. COMMIT PREPARED finds nothing: reported as rolled back (40001), never as a commit.
     */
    @Test
    void aCommitRecordedAfterRecoveryRolledBackAndForgotIsReportedNotTakenForACommit() throws Exception {
        String router = liveRouter();
        String node = routerNode(router);
        Map<Integer, Connection> p = write(9, "j");
        String gid = new Gid("txn", router).next();
        TwoPhaseCommit.Observer pausedPastItsSession = new TwoPhaseCommit.Observer() {
            @Override
            public void prepared(String g, int shard) {
                if (shard != 1) {
                    return;
                }
                try {
                    client.delete().forPath(node);
                    assertThat(recovery.recover(topology).rolledBack()).isEqualTo(2);
                    log.forget(g);
                    client.create().withMode(CreateMode.EPHEMERAL).forPath(node, new byte[0]);
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            }
        };
        try {
            assertThatThrownBy(() -> marking(pausedPastItsSession).commit(gid, p))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining(
                            "was rolled back on shard(s) [0, 1] by recovery before its COMMIT was recorded")
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("40001"));
            assertThat(rows(0) + rows(1)).isZero();
        } finally {
            close(p);
            client.delete().quietly().forPath(node);
            log.forget(gid);
        }
    }

    /**
     * COMMIT PREPARED fails on one shard (its session ended): the coordinator reports the commit (it is decided) and
     * its own recovery round finishes the shard at once, not after the 30 s it leaves a coordinator at work.
     */
    @Test
    void aCommitPreparedThatFailedIsFinishedByTheCoordinatorsNextRecoveryRound() throws Exception {
        String router = liveRouter();
        String node = routerNode(router);
        Map<Integer, Connection> p = write(10, "k");
        String gid = new Gid("txn", router).next();
        TwoPhaseCommit.Observer endsShard1 = new TwoPhaseCommit.Observer() {
            @Override
            public void committed(String g, int shard) {
                if (shard == 0) {
                    cluster.primary(1).queryString("SELECT pg_terminate_backend(" + pid(p.get(1)) + ")::text");
                }
            }
        };
        Set<String> abandoned = ConcurrentHashMap.newKeySet();
        try {
            new TwoPhaseCommit(log, "test", endsShard1, abandoned).commit(gid, p);
            assertThat(rows(0)).isEqualTo(1);
            assertThat(prepared()).isEqualTo(1);
            assertThat(abandoned).containsExactly(gid);
            InDoubtTransactions.Report report = recovery.recover(topology, abandoned);
            assertThat(report.committed()).isEqualTo(1);
            assertThat(rows(1)).isEqualTo(1);
            assertThat(prepared()).isZero();
        } finally {
            close(p);
            client.delete().quietly().forPath(node);
        }
    }

    /**
     * A live coordinator that never decides (its PREPARE on another shard hangs, its thread died) does not hold its
     * prepared shards for as long as it lives: past the bound recovery rolls them back, and the coordinator, if it
     * comes to decide, finds ROLLBACK.
     */
    @Test
    void aLiveCoordinatorsTransactionUndecidedPastTheBoundIsRolledBack() throws Exception {
        String router = liveRouter();
        String node = routerNode(router);
        Map<Integer, Connection> p = write(11, "l");
        String gid = new Gid("txn", router).next();
        try {
            assertThatThrownBy(() -> new TwoPhaseCommit(log, "test", crashAt("prepared", 1)).commit(gid, p))
                    .hasMessage("crash");
            assertThat(recovery.recover(topology).left())
                    .as("young: left to its coordinator")
                    .isEqualTo(2);
            recovery.undecidedAfter(100);
            // left to its coordinator until the transaction is 100 ms old, rolled back from then
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> recovery.recover(topology).rolledBack() == 2);
            assertThat(prepared()).isZero();
            assertThat(log.decide(gid, TxnLog.Decision.COMMIT, "test"))
                    .as("what the coordinator finds")
                    .isEqualTo(TxnLog.Decision.ROLLBACK);
        } finally {
            recovery.undecidedAfter(InDoubtTransactions.UNDECIDED_MS);
            close(p);
            client.delete().quietly().forPath(node);
            log.forget(gid);
        }
    }

    /**
     * Another cluster over the same databases (a second name registered over the same servers) does not take this
     * cluster's prepared transactions for its own: its recovery, which knows none of this cluster's routers, would
     * roll them back as if their coordinators were gone.
     */
    @Test
    void anotherClustersRecoveryLeavesThisClustersTransactionsAlone() throws Exception {
        Map<Integer, Connection> p = write(13, "n");
        String gid = deadCoordinatorGid();
        InDoubtTransactions other = new InDoubtTransactions(
                client, "other", n -> cluster.node(n.name()).connect());
        try {
            assertThatThrownBy(() -> new TwoPhaseCommit(log, "test", crashAt("prepared", 1)).commit(gid, p))
                    .hasMessage("crash");
            assertThat(other.list(topology)).isEmpty();
            assertThat(other.recover(topology).rolledBack()).isZero();
            // but its marks stay for them: pruning keeps the marks of every cluster's prepared transactions
            assertThat(other.preparedOfAnyCluster(topology)).contains(gid);
            assertThat(prepared()).isEqualTo(2);
            assertThat(recovery.recover(topology).rolledBack())
                    .as("its own cluster's recovery: coordinator gone")
                    .isEqualTo(2);
        } finally {
            close(p);
        }
    }

    /** A coordinator that writes marks (as the driver's does), its mark tables made on the primaries. */
    private static TwoPhaseCommit marking(TwoPhaseCommit.Observer observer) {
        return new TwoPhaseCommit(log, "test", observer, ConcurrentHashMap.newKeySet(), shard -> {
            try (Connection c = cluster.primary(shard).connect()) {
                TxnMarks.create(c);
            }
        });
    }

    private static int pid(Connection c) {
        try (Statement st = c.createStatement();
                java.sql.ResultSet rs = st.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            return rs.getInt(1);
        } catch (SQLException e) {
            throw new AssertionError(e);
        }
    }

    /** An observer that throws (the coordinator "dies") at a step: "prepared" on a shard, or "decided". */
    private static TwoPhaseCommit.Observer crashAt(String step, int shard) {
        return new TwoPhaseCommit.Observer() {
            @Override
            public void prepared(String gid, int s) {
                if (step.equals("prepared") && s == shard) {
                    throw new IllegalStateException("crash");
                }
            }

            @Override
            public void decided(String gid, TxnLog.Decision decision) {
                if (step.equals("decided")) {
                    throw new IllegalStateException("crash");
                }
            }
        };
    }
}
