package io.shardline.monitor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.topology.LagReport;
import io.shardline.topology.NodeRole;
import io.shardline.topology.ReplicaState;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The monitor on a real cascade: s0-primary -> s0-hub1 -> s0-leaf1, and s0-hub2. */
class ReplicationMonitorIT {
    private static MonitoredCluster fixture;
    private static LocalCluster cluster;
    private static ZooKeeperTopologyStore store;
    private static SimpleMeterRegistry registry;

    @BeforeAll
    static void start() {
        fixture = MonitoredCluster.start("monitor", 2, 1, List.of());
        cluster = fixture.cluster;
        store = fixture.store;
        registry = fixture.registry;
    }

    @AfterAll
    static void stop() {
        if (fixture != null) {
            fixture.close();
        }
    }

    private static ReplicationMonitor monitor() {
        return fixture.monitor();
    }

    @Test
    void anIdlePrimaryShowsNoLagAndTheRealCascadeIsReported() throws Exception {
        long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        long worst = 0;
        while (System.nanoTime() < end) {
            for (LagReport r : monitor().reports()) {
                if (r.state() == ReplicaState.STREAMING) {
                    worst = Math.max(worst, r.lagMs());
                }
            }
            Thread.sleep(100);
        }
        System.out.println("idle primary for 10 s: worst reported lag " + worst + " ms");
        assertThat(worst).as("worst lag over 10 s of an idle primary").isLessThanOrEqualTo(400);
        assertThat(monitor().report("s0-leaf1").orElseThrow().upstream()).isEqualTo("s0-hub1");
        assertThat(monitor().report("s0-hub2").orElseThrow().upstream()).isEqualTo("s0-primary");
        assertThat(monitor().report("s0-leaf1").orElseThrow().role()).isEqualTo(NodeRole.LEAF);
        assertThat(registry.get("shardline.replica.up")
                        .tag("node", "s0-leaf1")
                        .gauge()
                        .value())
                .isEqualTo(1.0);
    }

    @Test
    void anApplyDelayOfOneSecondIsReportedAsOneSecond() throws Exception {
        PgNode hub2 = cluster.node("s0-hub2");
        hub2.setApplyDelay(Duration.ofSeconds(1));
        try {
            await().atMost(Duration.ofSeconds(15))
                    .until(() -> monitor().report("s0-hub2").orElseThrow().lagMs() > 800);
            List<Long> samples = new ArrayList<>();
            for (int i = 0; i < 30; i++) {
                samples.add(monitor().report("s0-hub2").orElseThrow().lagMs());
                Thread.sleep(100);
            }
            Collections.sort(samples);
            long median = samples.get(samples.size() / 2);
            System.out.println("recovery_min_apply_delay = 1s: reported lag median " + median + " ms, range "
                    + samples.get(0) + "-" + samples.get(samples.size() - 1) + " ms");
            assertThat(median)
                    .as("median reported lag with recovery_min_apply_delay = 1s, samples %s", samples)
                    .isBetween(750L, 1250L);
        } finally {
            hub2.setApplyDelay(Duration.ZERO);
        }
        await().atMost(Duration.ofSeconds(15))
                .until(() -> monitor().report("s0-hub2").orElseThrow().lagMs() < 400);
    }

    @Test
    void pausedReplayMakesTheLagGrowAndResumingClearsIt() {
        PgNode leaf = cluster.node("s0-leaf1");
        leaf.pauseReplay();
        try {
            await().atMost(Duration.ofSeconds(15)).until(() -> {
                LagReport r = monitor().report("s0-leaf1").orElseThrow();
                return r.state() == ReplicaState.PAUSED && r.lagMs() > 2000 && r.lagBytes() > 0;
            });
        } finally {
            leaf.resumeReplay();
        }
        await().atMost(Duration.ofSeconds(15)).until(() -> {
            LagReport r = monitor().report("s0-leaf1").orElseThrow();
            return r.state() == ReplicaState.STREAMING && r.lagMs() < 400;
        });
        assertThat(monitor().history("s0-leaf1")).isNotEmpty();
    }

    @Test
    void aReplicaThatStoppedReplayingIsNeverReportedFresherThanItIs() throws Exception {
        PgNode leaf = cluster.node("s0-leaf1");
        leaf.pauseReplay();
        try {
            awaitPaused(leaf);
            // everything the leaf holds was written before this moment, and the primary writes a heartbeat every
            // 100 ms: at any later sample its data is at least (sample time - pausedBy) old
            long pausedBy = System.currentTimeMillis();
            List<String> under = new ArrayList<>();
            int seen = 0;
            long end = pausedBy + 2500;
            while (System.currentTimeMillis() < end) {
                LagReport r = monitor().report("s0-leaf1").orElseThrow();
                if (r.observedAtMillis() > pausedBy) {
                    seen++;
                    long atLeast = r.observedAtMillis() - pausedBy;
                    if (r.lagMs() < atLeast - 2) {
                        under.add(r.lagMs() + " ms reported " + atLeast + " ms after the pause");
                    }
                }
                Thread.sleep(15);
            }
            assertThat(seen).as("reports seen after the pause").isGreaterThan(20);
            assertThat(under)
                    .as("reports saying the leaf's data is fresher than it can be")
                    .isEmpty();
        } finally {
            leaf.resumeReplay();
        }
        await().atMost(Duration.ofSeconds(15)).until(() -> {
            LagReport r = monitor().report("s0-leaf1").orElseThrow();
            return r.state() == ReplicaState.STREAMING && r.lagMs() < 400;
        });
    }

    @Test
    void aHeartbeatTableOfAnEarlierVersionIsReplacedAndTheLagStaysMeasured() throws Exception {
        monitor().close();
        try (Connection c = cluster.node("s0-primary").connect();
                Statement s = c.createStatement()) {
            s.execute("DROP TABLE shardline.heartbeat");
            s.execute("CREATE TABLE shardline.heartbeat (shard int PRIMARY KEY, ts timestamptz NOT NULL)");
            s.execute("INSERT INTO shardline.heartbeat VALUES (0, now())");
        }
        // a long transaction reads the old table: the replacement waits for it without queuing one lock request per
        // attempt (each attempt gives up after 1 s)
        try (Connection reader = cluster.node("s0-primary").connect();
                Statement rs = reader.createStatement();
                Connection c = cluster.node("s0-primary").connect();
                Statement s = c.createStatement()) {
            reader.setAutoCommit(false);
            rs.executeQuery("SELECT * FROM shardline.heartbeat").close();
            fixture.startMonitor();
            int mostWaiting = 0;
            long end = System.nanoTime() + Duration.ofSeconds(4).toNanos();
            while (System.nanoTime() < end) {
                try (ResultSet waiting = s.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type"
                        + " = 'Lock' AND query LIKE '%shardline.heartbeat%'")) {
                    waiting.next();
                    mostWaiting = Math.max(mostWaiting, waiting.getInt(1));
                }
                Thread.sleep(50);
            }
            assertThat(mostWaiting)
                    .as("the monitor's statements waiting for the table's lock at once")
                    .isOne();
            assertThat(monitor().reports()).allMatch(r -> r.lagMs() == -1);
            reader.rollback();
        }
        long restarted = System.currentTimeMillis();
        await().atMost(Duration.ofSeconds(10))
                .until(() -> monitor().reports().stream()
                        .allMatch(r -> r.observedAtMillis() > restarted + 500
                                && r.state() == ReplicaState.STREAMING
                                && r.lagMs() >= 0
                                && r.lagMs() < 400));
        try (Connection c = cluster.node("s0-leaf1").connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM shardline.heartbeat WHERE shard = 0 AND"
                        + " monitor IS NOT NULL AND sent_nanos IS NOT NULL")) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getInt(1))
                    .as("this monitor's heartbeat row, replicated")
                    .isEqualTo(1);
        }
    }

    private static void awaitPaused(PgNode node) throws SQLException {
        try (Connection c = node.connect();
                Statement s = c.createStatement()) {
            await().atMost(Duration.ofSeconds(10)).until(() -> {
                try (ResultSet rs = s.executeQuery("SELECT pg_get_wal_replay_pause_state()")) {
                    rs.next();
                    return "paused".equals(rs.getString(1));
                }
            });
        }
    }

    @Test
    void aReplicaThatStoppedReplayingBeforeTheMonitorStartedHasNoKnownLag() throws Exception {
        PgNode leaf = cluster.node("s0-leaf1");
        monitor().close();
        leaf.pauseReplay();
        try {
            awaitPaused(leaf);
            ReplicationMonitor fresh =
                    new ReplicationMonitor(store, MonitoredCluster.INTERVAL, MonitoredCluster.INTERVAL, null, null);
            fresh.start();
            try {
                // the leaf shows no heartbeat of this monitor: how old its data is cannot be bounded (the heartbeats
                // it shows were sent by the monitor before; dating them by another clock could say 0)
                await().atMost(Duration.ofSeconds(10))
                        .until(() ->
                                fresh.report("s0-hub1").map(r -> r.lagMs() >= 0).orElse(false));
                // the hub shows this monitor's heartbeat: a leaf still replaying would show it one hop later; the
                // leaf's reports measured a second after that still do not
                long hubShowedIt = System.currentTimeMillis();
                await().atMost(Duration.ofSeconds(10))
                        .until(() -> fresh.report("s0-leaf1")
                                .map(r -> r.observedAtMillis() > hubShowedIt + 1000)
                                .orElse(false));
                LagReport r = fresh.report("s0-leaf1").orElseThrow();
                assertThat(r.state()).isEqualTo(ReplicaState.PAUSED);
                assertThat(r.lagMs()).isEqualTo(-1);
            } finally {
                fresh.close();
            }
        } finally {
            leaf.resumeReplay();
            fixture.startMonitor();
        }
    }

    @Test
    void aReplicaRegisteredAtAnotherAddressIsMeasuredThereNotOverItsOldConnection() throws Exception {
        int port = cluster.node("s0-hub2").port();
        try (java.net.ServerSocket unused = new java.net.ServerSocket(0)) {
            int nowhere = unused.getLocalPort();
            unused.close();
            moveNode("s0-hub2", nowhere);
            try {
                // the old address still answers: only a new connection to the new one shows the node down
                await().atMost(Duration.ofSeconds(15))
                        .until(() -> monitor().report("s0-hub2").orElseThrow().state() == ReplicaState.DOWN);
            } finally {
                moveNode("s0-hub2", port);
            }
        }
        await().atMost(Duration.ofSeconds(15))
                .until(() -> monitor().report("s0-hub2").orElseThrow().state() == ReplicaState.STREAMING);
    }

    private static void moveNode(String name, int port) {
        io.shardline.topology.ZooKeeperTopologyStore.updateTopology(store.client(), "monitor", t -> {
            io.shardline.topology.Shard shard = t.shard(0);
            return t.withShardReplaced(new io.shardline.topology.Shard(
                    0,
                    shard.nodes().stream()
                            .map(n -> n.name().equals(name)
                                    ? new io.shardline.topology.Node(n.name(), n.role(), n.host(), port, n.upstream())
                                    : n)
                            .toList()));
        });
    }

    @Test
    void aKilledHubLeavesItsLeafBehindAndReportsTheHubDown() {
        PgNode hub1 = cluster.node("s0-hub1");
        hub1.kill();
        try {
            await().atMost(Duration.ofSeconds(15))
                    .until(() -> monitor().report("s0-hub1").orElseThrow().state() == ReplicaState.DOWN);
            await().atMost(Duration.ofSeconds(15))
                    .until(() -> monitor().report("s0-leaf1").orElseThrow().lagMs() > 1500);
            assertThat(registry.get("shardline.replica.up")
                            .tag("node", "s0-hub1")
                            .gauge()
                            .value())
                    .isZero();
        } finally {
            hub1.start();
        }
        await().atMost(Duration.ofSeconds(30))
                .until(() -> monitor().report("s0-leaf1").orElseThrow().lagMs() < 400
                        && monitor().report("s0-hub1").orElseThrow().state() == ReplicaState.STREAMING);
    }

    @Test
    void theLeaderPublishesToZooKeeperAndAnotherTakesOverWhenItStops() throws Exception {
        String path = ZooKeeperTopologyStore.clusterPath("monitor") + "/lag/s0-leaf1";
        await().atMost(Duration.ofSeconds(15)).until(() -> monitor().isLeader());
        await().atMost(Duration.ofSeconds(10))
                .until(() -> store.client().checkExists().forPath(path) != null);
        String json = new String(store.client().getData().forPath(path), StandardCharsets.UTF_8);
        assertThat(json).contains("\"node\":\"s0-leaf1\"", "\"upstream\":\"s0-hub1\"", "\"lagMs\":", "\"lagBytes\":");

        try (ZooKeeperTopologyStore second =
                        ZooKeeperTopologyStore.connect(cluster.zkConnectString(), "monitor", Duration.ofSeconds(10));
                ReplicationMonitor standby =
                        new ReplicationMonitor(second, Duration.ofMillis(100), Duration.ofMillis(100), null, null)) {
            standby.start();
            // each writes its own heartbeat row and measures by it: the lag of an idle cluster stays small for both
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> standby.reports().size() == 3
                            && standby.reports().stream().allMatch(r -> r.lagMs() >= 0));
            long end = System.nanoTime() + Duration.ofSeconds(2).toNanos();
            long worst = 0;
            while (System.nanoTime() < end) {
                for (ReplicationMonitor m : List.of(monitor(), standby)) {
                    for (LagReport r : m.reports()) {
                        if (r.state() == ReplicaState.STREAMING) {
                            worst = Math.max(worst, r.lagMs() < 0 ? Long.MAX_VALUE : r.lagMs());
                        }
                    }
                }
                Thread.sleep(20);
            }
            assertThat(worst)
                    .as("worst lag while two monitors write heartbeats")
                    .isLessThanOrEqualTo(400);
            assertThat(standby.isLeader()).isFalse();
            monitor().close();
            await().atMost(Duration.ofSeconds(15)).until(standby::isLeader);
            long before = observedAt(path);
            await().atMost(Duration.ofSeconds(10)).until(() -> observedAt(path) > before);
        }
        fixture.startMonitor();
    }

    private static long observedAt(String path) throws Exception {
        String json = new String(store.client().getData().forPath(path), StandardCharsets.UTF_8);
        return Long.parseLong(json.replaceAll(".*\"observedAtMillis\":(\\d+).*", "$1"));
    }
}
