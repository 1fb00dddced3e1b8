package io.shardline.compose;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A 2-shard cluster, each shard primary -> hub -> leaf, of real PostgreSQL processes. */
class LocalClusterIT {
    private static LocalCluster cluster;

    @BeforeAll
    static void start() {
        cluster = LocalCluster.builder().name("it").shards(2).hubs(1).leaves(1).start();
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void everyShardIsAPrimaryWithAHubAndALeafStreamingFromIt() throws SQLException {
        assertThat(cluster.nodes())
                .extracting(PgNode::name)
                .containsExactly("s0-primary", "s0-hub1", "s0-leaf1", "s1-primary", "s1-hub1", "s1-leaf1");
        for (int shard = 0; shard < 2; shard++) {
            PgNode primary = cluster.primary(shard);
            PgNode hub = cluster.node("s" + shard + "-hub1");
            PgNode leaf = cluster.node("s" + shard + "-leaf1");
            assertThat(hub.upstream()).contains(primary);
            assertThat(leaf.upstream()).contains(hub);
            assertThat(streamingStandbys(primary)).containsExactly(hub.name());
            assertThat(streamingStandbys(hub)).containsExactly(leaf.name());
            assertThat(queryString(leaf, "SELECT pg_is_in_recovery()::text")).isEqualTo("true");
            // The leaf really receives from the hub, not from the primary.
            assertThat(queryString(leaf, "SELECT sender_port::text FROM pg_stat_wal_receiver"))
                    .isEqualTo(String.valueOf(hub.port()));
            assertThat(queryString(primary, "SHOW wal_level")).isEqualTo("logical");
        }
    }

    /**
     * Each shard is a database system of its own, as separately initialized servers are (the primaries are copies of
     * one initdb): PostgreSQL refuses a standby pointed at another shard's primary instead of streaming its WAL.
     */
    @Test
    void eachShardHasItsOwnSystemIdentifierAndItsStandbysShareIt() {
        String sql = "SELECT system_identifier::text FROM pg_control_system()";
        assertThat(InitdbTemplate.copies())
                .as("primaries copied from the initdb template")
                .isGreaterThanOrEqualTo(2);
        String first = cluster.primary(0).queryString(sql);
        String second = cluster.primary(1).queryString(sql);
        assertThat(first).isNotEqualTo(second);
        for (int shard = 0; shard < 2; shard++) {
            String primary = cluster.primary(shard).queryString(sql);
            for (PgNode node : cluster.shard(shard)) {
                assertThat(node.queryString(sql)).as(node.name()).isEqualTo(primary);
            }
        }
    }

    @Test
    void aRowInsertedOnThePrimaryReachesTheLeafThroughTheHub() throws SQLException {
        PgNode primary = cluster.primary(1);
        execute(primary, "CREATE TABLE cascade_check (id int PRIMARY KEY, note text)");
        execute(primary, "INSERT INTO cascade_check VALUES (1, 'through the hub')");
        PgNode leaf = cluster.node("s1-leaf1");
        await().atMost(Duration.ofSeconds(30))
                .until(() ->
                        "through the hub".equals(queryString(leaf, "SELECT note FROM cascade_check WHERE id = 1")));
    }

    @Test
    void killingTheHubStopsTheLeafsReplayAndRestartingItResumes() throws SQLException {
        PgNode primary = cluster.primary(0);
        PgNode hub = cluster.node("s0-hub1");
        PgNode leaf = cluster.node("s0-leaf1");
        execute(primary, "CREATE TABLE hub_failure (id int PRIMARY KEY)");
        await().atMost(Duration.ofSeconds(30)).until(() -> tableExists(leaf, "hub_failure"));

        long hubPid = hub.pid().orElseThrow();
        hub.kill();
        assertThat(ProcessHandle.of(hubPid)).isEmpty();
        assertThat(hub.isRunning()).isFalse();
        execute(primary, "INSERT INTO hub_failure VALUES (42)");

        await().during(Duration.ofSeconds(2))
                .atMost(Duration.ofSeconds(5))
                .until(() -> count(leaf, "SELECT count(*) FROM hub_failure") == 0);

        hub.start();
        hub.awaitStreaming(Duration.ofSeconds(30));
        await().atMost(Duration.ofSeconds(30)).until(() -> count(leaf, "SELECT count(*) FROM hub_failure") == 1);
        leaf.awaitStreaming(Duration.ofSeconds(30));
    }

    @Test
    void pausedReplayHoldsBackTheLeafUntilResumed() throws SQLException {
        PgNode primary = cluster.primary(1);
        PgNode leaf = cluster.node("s1-leaf1");
        execute(primary, "CREATE TABLE paused_replay (id int PRIMARY KEY)");
        await().atMost(Duration.ofSeconds(30)).until(() -> tableExists(leaf, "paused_replay"));

        leaf.pauseReplay();
        try {
            execute(primary, "INSERT INTO paused_replay VALUES (7)");
            await().during(Duration.ofSeconds(1))
                    .atMost(Duration.ofSeconds(3))
                    .until(() -> count(leaf, "SELECT count(*) FROM paused_replay") == 0);
        } finally {
            leaf.resumeReplay();
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> count(leaf, "SELECT count(*) FROM paused_replay") == 1);
    }

    @Test
    void aStoppedLeafStartsAgainAndCatchesUp() throws SQLException {
        PgNode primary = cluster.primary(1);
        PgNode leaf = cluster.node("s1-leaf1");
        execute(primary, "CREATE TABLE stopped_leaf (id int PRIMARY KEY)");
        leaf.stop();
        assertThat(leaf.isRunning()).isFalse();
        assertThat(leaf.pid()).isEmpty();
        execute(primary, "INSERT INTO stopped_leaf VALUES (1)");

        leaf.start();
        leaf.awaitStreaming(Duration.ofSeconds(30));
        await().atMost(Duration.ofSeconds(30)).until(() -> count(leaf, "SELECT count(*) FROM stopped_leaf") == 1);
    }

    @Test
    void awaitReplicationReturnsOnceEveryReplicaHasTheWrites() throws SQLException {
        execute(cluster.primary(0), "CREATE TABLE replicated (id int PRIMARY KEY)");
        execute(cluster.primary(1), "CREATE TABLE replicated (id int PRIMARY KEY)");
        execute(cluster.primary(0), "INSERT INTO replicated SELECT generate_series(1, 500)");
        execute(cluster.primary(1), "INSERT INTO replicated SELECT generate_series(1, 300)");
        cluster.awaitReplication(Duration.ofSeconds(30));
        // No waiting here: every standby already has the rows.
        assertThat(count(cluster.node("s0-leaf1"), "SELECT count(*) FROM replicated"))
                .isEqualTo(500);
        assertThat(count(cluster.node("s1-hub1"), "SELECT count(*) FROM replicated"))
                .isEqualTo(300);
    }

    @Test
    void applyDelayIsSetAndCleared() throws SQLException {
        PgNode hub = cluster.node("s1-hub1");
        hub.setApplyDelay(Duration.ofSeconds(1));
        assertThat(queryString(hub, "SHOW recovery_min_apply_delay")).isEqualTo("1s");
        hub.setApplyDelay(Duration.ZERO);
        assertThat(queryString(hub, "SHOW recovery_min_apply_delay")).isEqualTo("0");
    }

    @Test
    void theDescriptorHasTheContractShapeAndRoundTrips(@TempDir Path tmp) throws Exception {
        ClusterDescriptor descriptor = cluster.descriptor();
        descriptor.write(tmp);
        String json = Files.readString(tmp.resolve("cluster.json"));
        assertThat(json).contains("\"password\" : null").contains("\"upstream\" : null");
        ClusterDescriptor read = ClusterDescriptor.read(tmp);
        assertThat(read).isEqualTo(descriptor);
        assertThat(read.jdbcUrl())
                .isEqualTo("jdbc:shardline:zk://" + cluster.zkConnectString() + "/shardline/clusters/it");
        assertThat(read.shard(0)).extracting(ClusterDescriptor.Node::role).containsExactly("primary", "hub", "leaf");
        assertThat(read.shard(0).get(2).upstream()).isEqualTo("s0-hub1");
    }

    @Test
    void zooKeeperAcceptsClients() throws Exception {
        try (var zk = new org.apache.zookeeper.ZooKeeper(cluster.zkConnectString(), 10_000, event -> {})) {
            await().atMost(Duration.ofSeconds(10)).until(() -> zk.getState().isConnected());
            zk.create(
                    "/compose-check",
                    "ok".getBytes(),
                    org.apache.zookeeper.ZooDefs.Ids.OPEN_ACL_UNSAFE,
                    org.apache.zookeeper.CreateMode.EPHEMERAL);
            assertThat(new String(zk.getData("/compose-check", false, null))).isEqualTo("ok");
        }
    }

    static List<String> streamingStandbys(PgNode node) throws SQLException {
        List<String> names = new ArrayList<>();
        try (Connection c = node.connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT application_name FROM pg_stat_replication"
                        + " WHERE state = 'streaming' ORDER BY application_name")) {
            while (rs.next()) {
                names.add(rs.getString(1));
            }
        }
        return names;
    }

    static void execute(PgNode node, String sql) throws SQLException {
        try (Connection c = node.connect();
                Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    static String queryString(PgNode node, String sql) throws SQLException {
        try (Connection c = node.connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    static long count(PgNode node, String sql) throws SQLException {
        return Long.parseLong(queryString(node, sql));
    }

    static boolean tableExists(PgNode node, String table) throws SQLException {
        return "true".equals(queryString(node, "SELECT (to_regclass('" + table + "') IS NOT NULL)::text"));
    }
}
