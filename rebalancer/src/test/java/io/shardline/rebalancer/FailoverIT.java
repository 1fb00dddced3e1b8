package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineConnection;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * Shard 0's primary is killed (SIGKILL) while the driver inserts ~200 rows a second; a failover promotes the hub
 * that received the most WAL. The primary committed synchronously to one of its two hubs, so no acknowledged row may
 * be lost; the driver writes to the new primary without a restart, and the old primary, restarted, takes no write.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FailoverIT {
    private static final List<ShardedTable> TABLES =
            List.of(new ShardedTable("public", "events", "id", KeyType.INTEGER));
    /** What a failed write may say: not sent, held then refused, or of unknown outcome. */
    private static final Set<String> CLEAR_FAILURES = Set.of("08001", "08006", "08007", "40001", "57P01", "57P02");

    private static LocalCluster cluster;
    private static CuratorFramework client;

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder()
                .name("failover")
                .shards(2)
                .hubs(2)
                .leaves(1)
                .start();
        RouterClusters.publish(cluster, TABLES);
        client = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz DEFAULT now())");
        }
        try (Connection c = cluster.node("s0-primary").connect();
                Statement s = c.createStatement()) {
            s.execute("ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (\"s0-hub1\", \"s0-hub2\")'");
            s.execute("SELECT pg_reload_conf()");
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
    @Order(1)
    void aKilledPrimaryIsReplacedAndTheDriverWritesToTheNewOneWithoutLosingAnAcknowledgedRow() throws Exception {
        Set<Long> acknowledged = ConcurrentHashMap.newKeySet();
        Map<Long, Long> shard0SuccessAt = new ConcurrentHashMap<>();
        Queue<String> failures = new ConcurrentLinkedQueue<>();
        AtomicBoolean writing = new AtomicBoolean(true);
        AtomicLong killedAt = new AtomicLong(Long.MAX_VALUE);
        Thread writer = new Thread(() -> insert(writing, acknowledged, shard0SuccessAt, failures), "writer");
        writer.start();
        Switchover.Result result;
        try {
            Thread.sleep(1_000);
            // s0-hub1 stops receiving: the writes after this are acknowledged by s0-hub2 alone (ANY 1)
            try (Connection c = cluster.node("s0-hub1").connect();
                    Statement s = c.createStatement()) {
                s.execute("ALTER SYSTEM SET primary_conninfo = ''");
                s.execute("SELECT pg_reload_conf()");
            }
            Thread.sleep(500);
            PgNode old = cluster.node("s0-primary");
            killedAt.set(System.nanoTime());
            old.kill();
            assertThatThrownBy(
                            () -> new Switchover(client, "failover", LogicalCopyIT.CONNECT, Switchover.Settings.DEFAULT)
                                    .failover(0, "s0-hub1"))
                    .as("a failover to the hub that received less: the commits only s0-hub2 has would be lost")
                    .hasMessageContaining("s0-hub2 received more of s0-primary's WAL")
                    .hasMessageContaining("shard 0 keeps s0-primary");
            assertThat(cluster.node("s0-hub1")
                            .queryString("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '"
                                    + cluster.node("s0-hub2").slotName() + "'"))
                    .as("the slot made on s0-hub1 for s0-hub2, pointed at it before the promotion, went with the"
                            + " give-back")
                    .isEqualTo("0");
            result = new Switchover(client, "failover", LogicalCopyIT.CONNECT, Switchover.Settings.DEFAULT)
                    .failover(0, null);
            assertThat(result.to()).isEqualTo("s0-hub2");
            Thread.sleep(1_500);
        } finally {
            writing.set(false);
            writer.join();
        }
        // the longest stretch without a successful write to shard 0: the kill's, as the run is short
        List<Long> successes = shard0SuccessAt.values().stream().sorted().toList();
        assertThat(successes.get(successes.size() - 1))
                .as("a write to shard 0 succeeded after the kill: %s", failures)
                .isGreaterThan(killedAt.get());
        long gap = 0;
        for (int i = 1; i < successes.size(); i++) {
            gap = Math.max(gap, successes.get(i) - successes.get(i - 1));
        }
        Map<String, Integer> byState = new TreeMap<>();
        // each failure starts with its SQLState (or says the writer itself died)
        failures.forEach(f -> byState.merge(f.substring(0, f.indexOf(' ')), 1, Integer::sum));
        System.out.printf(
                "failover of shard 0 (%s -> %s): shard 0 took no write for %d ms around the kill; %d rows"
                        + " acknowledged, failed writes by SQLState %s%n",
                result.from(), result.to(), TimeUnit.NANOSECONDS.toMillis(gap), acknowledged.size(), byState);
        assertThat(byState.keySet()).as("SQLStates of the failed writes").isSubsetOf(CLEAR_FAILURES);
        assertThat(result.to()).startsWith("s0-hub");
        assertThat(topology().shard(0).primary().name()).isEqualTo(result.to());

        Set<Long> present = new HashSet<>();
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT id FROM events")) {
            while (rs.next()) {
                present.add(rs.getLong(1));
            }
        }
        assertThat(present).as("acknowledged rows after the failover").containsAll(acknowledged);

        // the old primary comes back as a primary of its own: the driver never writes there again
        PgNode old = cluster.node("s0-primary");
        old.start();
        String before = old.queryString("SELECT count(*) FROM events");
        try (ShardlineConnection c =
                DriverManager.getConnection(cluster.shardlineUrl()).unwrap(ShardlineConnection.class)) {
            int written = 0;
            for (long k = 1_000_000; written < 50; k++) {
                if (c.explainRoute("SELECT * FROM events WHERE id = ?", k)
                                .get(0)
                                .shard()
                        == 0) {
                    c.createStatement().execute("INSERT INTO events (id) VALUES (" + k + ")");
                    written++;
                }
            }
        }
        assertThat(old.queryString("SELECT count(*) FROM events")).isEqualTo(before);
        assertThat(cluster.node(result.to()).queryString("SELECT count(*) FROM events WHERE id >= 1000000"))
                .isEqualTo("50");
    }

    @Test
    @Order(2)
    void aFailoverOfALivePrimaryIsRefused() {
        assertThatThrownBy(() -> new Switchover(client, "failover", LogicalCopyIT.CONNECT, Switchover.Settings.DEFAULT)
                        .failover(1, null))
                .isInstanceOf(MoveException.class)
                .hasMessageContaining("s1-primary answers: it is not dead. Use a switchover");
        assertThat(cluster.node("s1-primary").queryString("SELECT pg_is_in_recovery()"))
                .isEqualTo("f");
    }

    @Test
    @Order(3)
    void withAutomaticFailoverOnTheLeadingRebalancerReplacesADeadPrimaryByItself() throws Exception {
        try (Rebalancer rebalancer = Rebalancer.forCluster(client, "failover", null)) {
            rebalancer.start();
            AutoFailover.enable(client, "failover", true);
            await().atMost(Duration.ofSeconds(30)).until(rebalancer::isLeader);
            Thread.sleep(2_500); // rounds with every primary alive: nothing changes
            assertThat(topology().shard(1).primary().name()).isEqualTo("s1-primary");

            long killed = System.nanoTime();
            cluster.node("s1-primary").kill();
            await().atMost(Duration.ofSeconds(60))
                    .pollInterval(Duration.ofMillis(50))
                    .until(() -> !topology().shard(1).primary().name().equals("s1-primary"));
            long replacedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killed);
            String promoted = topology().shard(1).primary().name();
            assertThat(promoted).startsWith("s1-hub");
            try (ShardlineConnection c =
                    DriverManager.getConnection(cluster.shardlineUrl()).unwrap(ShardlineConnection.class)) {
                long key = 2_000_000;
                while (c.explainRoute("SELECT * FROM events WHERE id = ?", key)
                                .get(0)
                                .shard()
                        != 1) {
                    key++;
                }
                c.createStatement().execute("INSERT INTO events (id) VALUES (" + key + ")");
                assertThat(cluster.node(promoted).queryString("SELECT count(*) FROM events WHERE id = " + key))
                        .isEqualTo("1");
            }
            System.out.printf(
                    "automatic failover: shard 1's primary killed, %s published as its primary %d ms later%n",
                    promoted, replacedMs);
        } finally {
            AutoFailover.enable(client, "failover", false);
        }
    }

    /**
     * A failover whose run died after it marked the shard (or could not give the shard back, or publish, through a
     * ZooKeeper blip) leaves the shard's writes held: the automatic failover resumes it — it fails over a primary
     * still dead, and lifts the hold of one that answers again.
     */
    @Test
    @Order(4)
    void theAutomaticFailoverResumesAFailoverLeftHalfDone() throws Exception {
        String deadPrimary = topology().shard(0).primary().name();
        String hub = topology().shard(0).replicas().stream()
                .filter(n -> deadPrimary.equals(n.upstream()))
                .findFirst()
                .orElseThrow()
                .name();
        String livePrimary = topology().shard(1).primary().name();
        String otherHub = topology().shard(1).replicas().stream()
                .filter(n -> livePrimary.equals(n.upstream()))
                .findFirst()
                .orElseThrow()
                .name();
        // what a switchover taken over by the failover left on the live primary: read-only, fenced
        try (Connection c = cluster.node(livePrimary).connect();
                Statement s = c.createStatement()) {
            s.execute("ALTER SYSTEM SET default_transaction_read_only = on");
            s.execute("ALTER SYSTEM SET autovacuum = off");
            s.execute("ALTER SYSTEM SET synchronous_standby_names = '" + CommitFence.STANDBY + "'");
            s.execute("SELECT pg_reload_conf()");
        }
        ZooKeeperTopologyStore.updateTopology(
                client,
                "failover",
                t -> t.withShardReplaced(t.shard(0).withSwitchover("failover-0000beef " + hub))
                        .withShardReplaced(t.shard(1).withSwitchover("failover-0000dead " + otherHub)));
        cluster.node(deadPrimary).kill();
        try (Rebalancer rebalancer = Rebalancer.forCluster(client, "failover", null)) {
            rebalancer.start();
            AutoFailover.enable(client, "failover", true);
            await().atMost(Duration.ofSeconds(90))
                    .pollInterval(Duration.ofMillis(200))
                    .until(() -> topology().shard(0).switchover() == null
                            && topology().shard(1).switchover() == null);
        } finally {
            AutoFailover.enable(client, "failover", false);
        }
        assertThat(topology().shard(0).primary().name())
                .as("the interrupted failover of a dead primary, resumed")
                .isEqualTo(hub);
        assertThat(topology().shard(1).primary().name())
                .as("the interrupted failover of a primary that answers: its hold lifted")
                .isEqualTo(livePrimary);
        PgNode live = cluster.node(livePrimary);
        assertThat(live.queryString("SHOW default_transaction_read_only")).isEqualTo("off");
        assertThat(live.queryString("SHOW synchronous_standby_names"))
                .as("the commit fence lowered")
                .isEmpty();
        try (ShardlineConnection c =
                DriverManager.getConnection(cluster.shardlineUrl()).unwrap(ShardlineConnection.class)) {
            for (int shard = 0; shard < 2; shard++) {
                long key = 3_000_000;
                while (c.explainRoute("SELECT * FROM events WHERE id = ?", key)
                                .get(0)
                                .shard()
                        != shard) {
                    key++;
                }
                c.createStatement().execute("INSERT INTO events (id) VALUES (" + key + ")");
            }
        }
    }

    /** Autocommit inserts of keys -1, -2, ... (both shards), one every 5 ms. */
    private static void insert(
            AtomicBoolean writing, Set<Long> acknowledged, Map<Long, Long> shard0SuccessAt, Queue<String> failures) {
        try (ShardlineConnection c =
                        DriverManager.getConnection(cluster.shardlineUrl()).unwrap(ShardlineConnection.class);
                PreparedStatement ps = c.prepareStatement("INSERT INTO events (id) VALUES (?)")) {
            long next = -1;
            while (writing.get()) {
                long key = next--;
                try {
                    ps.setLong(1, key);
                    ps.executeUpdate();
                    acknowledged.add(key);
                    if (c.explainRoute("SELECT * FROM events WHERE id = ?", key)
                                    .get(0)
                                    .shard()
                            == 0) {
                        shard0SuccessAt.put(key, System.nanoTime());
                    }
                } catch (SQLException e) {
                    failures.add(e.getSQLState() + " " + key + ": " + e.getMessage());
                }
                Thread.sleep(5);
            }
        } catch (SQLException | InterruptedException e) {
            failures.add("writer-thread-died " + e);
        }
    }

    private static io.shardline.topology.ClusterTopology topology() throws Exception {
        String path = ZooKeeperTopologyStore.clusterPath("failover") + "/topology";
        return TopologyCodec.topologyFromJson(client.getData().forPath(path), path);
    }
}
