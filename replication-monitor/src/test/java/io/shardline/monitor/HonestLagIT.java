package io.shardline.monitor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.LagReport;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The monitor's lag is an upper bound, and one slow node delays no other node's report: on two shards (primary ->
 * hub each), heartbeats made to fail on one primary while its hub falls behind, and one replica made to hang (SIGSTOP).
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class HonestLagIT {
    static final Duration INTERVAL = Duration.ofMillis(100);

    private static LocalCluster cluster;
    private static ZooKeeperTopologyStore store;
    private static ReplicationMonitor monitor;
    private static HashRing ring;

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder()
                .name("honest")
                .shards(2)
                .hubs(1)
                .leaves(0)
                .start();
        ring = RouterClusters.publish(cluster, List.of(new ShardedTable("public", "kv", "k", KeyType.INTEGER)));
        store = ZooKeeperTopologyStore.connect(cluster.zkConnectString(), "honest", Duration.ofSeconds(10));
        monitor = new ReplicationMonitor(store, INTERVAL, INTERVAL, null, null);
        monitor.start();
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE kv (k bigint PRIMARY KEY, v bigint NOT NULL)");
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> fresh("s0-hub1", 500) && fresh("s1-hub1", 500));
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (monitor != null) {
            monitor.close();
        }
        if (store != null) {
            store.close();
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    /** Whether {@code node}'s report is younger than {@code ageMs} and says it streams within 400 ms of lag. */
    private static boolean fresh(String node, long ageMs) {
        LagReport r = monitor.report(node).orElse(null);
        return r != null
                && System.currentTimeMillis() - r.observedAtMillis() < ageMs
                && r.lagMs() >= 0
                && r.lagMs() < 400;
    }

    private static void onPrimary(int shard, String sql) throws SQLException {
        try (Connection c = cluster.primary(shard).connect();
                Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    @Test
    void aShardWhoseHeartbeatsFailShowsItsReplicaFallingBehindAndBoundedReadsAvoidIt() throws Exception {
        long key = 1;
        while (ring.shardFor(KeyHash.hashInt8(key)) != 0) {
            key++;
        }
        onPrimary(0, "INSERT INTO kv VALUES (" + key + ", 0)");
        PgNode hub = cluster.node("s0-hub1");
        onPrimary(
                0,
                "CREATE FUNCTION shardline.no_beat() RETURNS trigger LANGUAGE plpgsql AS"
                        + " $$BEGIN RAISE EXCEPTION 'heartbeats refused'; END$$");
        try {
            // the primary refuses heartbeats, and its hub applies everything 3 s late
            onPrimary(
                    0,
                    "CREATE TRIGGER no_beat BEFORE INSERT OR UPDATE ON shardline.heartbeat"
                            + " FOR EACH ROW EXECUTE FUNCTION shardline.no_beat()");
            hub.setApplyDelay(Duration.ofSeconds(3));
            Thread.sleep(4000);
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> monitor.report("s0-hub1").orElseThrow().lagMs() > 3000);
            try (Connection c = DriverManager.getConnection(cluster.shardlineUrl() + "?maxStalenessMs=1000");
                    PreparedStatement ps = c.prepareStatement("SELECT inet_server_port() FROM kv WHERE k = ?")) {
                for (int i = 0; i < 50; i++) {
                    ps.setLong(1, key);
                    try (ResultSet rs = ps.executeQuery()) {
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getInt(1))
                                .as("read %d: bounded to 1000 ms, never from the hub 3 s behind", i)
                                .isEqualTo(cluster.primary(0).port());
                    }
                    Thread.sleep(20);
                }
            }
        } finally {
            onPrimary(0, "DROP TRIGGER IF EXISTS no_beat ON shardline.heartbeat");
            onPrimary(0, "DROP FUNCTION shardline.no_beat()");
            hub.setApplyDelay(Duration.ZERO);
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> fresh("s0-hub1", 500));
    }

    @Test
    void aHungReplicaDelaysNoOtherReplicasReport() throws Exception {
        PgNode hung = cluster.node("s0-hub1");
        hung.freeze();
        try {
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> System.currentTimeMillis()
                                    - monitor.report("s0-hub1").orElseThrow().observedAtMillis()
                            > 2000);
            long worst = 0;
            long end = System.nanoTime() + Duration.ofSeconds(8).toNanos();
            while (System.nanoTime() < end) {
                LagReport other = monitor.report("s1-hub1").orElseThrow();
                worst = Math.max(worst, System.currentTimeMillis() - other.observedAtMillis());
                Thread.sleep(50);
            }
            assertThat(worst)
                    .as("age of the other shard's report while s0-hub1 hangs (lagFreshnessMs is 2000)")
                    .isLessThan(1000);
        } finally {
            hung.thaw();
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> fresh("s0-hub1", 500));
    }

    @Test
    void aHungPrimaryDelaysNoOtherShardsHeartbeatAndItsReplicaShowsFallingBehind() throws Exception {
        PgNode hung = cluster.node("s0-primary");
        hung.freeze();
        try {
            long worstAge = 0;
            long worstLag = 0;
            long end = System.nanoTime() + Duration.ofSeconds(8).toNanos();
            while (System.nanoTime() < end) {
                LagReport other = monitor.report("s1-hub1").orElseThrow();
                worstAge = Math.max(worstAge, System.currentTimeMillis() - other.observedAtMillis());
                worstLag = Math.max(worstLag, other.lagMs());
                Thread.sleep(50);
            }
            assertThat(worstAge)
                    .as("age of the other shard's report while s0-primary hangs")
                    .isLessThan(1000);
            assertThat(worstLag)
                    .as("the other shard's lag while s0-primary hangs (its heartbeats go on)")
                    .isLessThan(1000);
            assertThat(monitor.report("s0-hub1").orElseThrow().lagMs())
                    .as("the hung primary's replica sees no new heartbeat: its lag grows")
                    .isGreaterThan(3000);
        } finally {
            hung.thaw();
        }
        await().atMost(Duration.ofSeconds(20))
                .until(() -> fresh("s0-hub1", 500)
                        && monitor.report("s0-hub1").orElseThrow().lagMs() < 1000);
    }
}
