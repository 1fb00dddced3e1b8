package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.KeyType;
import io.shardline.topology.RouterRegistration;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
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
 * A failover of a primary that is stalled (SIGSTOP: a frozen VM, a storage stall), not dead, which resumes right after
 * the promotion, before the new primary is published: nothing the application sent it before the failover may be
 * acknowledged once it resumes (it is not on the new primary), no application thread waits for it to resume, and the
 * other hub, which it would feed and which would acknowledge its commits as a synchronous standby, takes its WAL from
 * the promoted hub instead.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class StalledPrimaryFailoverIT {
    private static final List<ShardedTable> TABLES =
            List.of(new ShardedTable("public", "events", "id", KeyType.INTEGER));

    private static LocalCluster cluster;
    private static CuratorFramework client;

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder()
                .name("stalled")
                .shards(1)
                .hubs(3)
                .leaves(0)
                .start();
        RouterClusters.publish(cluster, TABLES);
        client = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE events (id bigint PRIMARY KEY)");
        }
        try (Connection c = cluster.node("s0-primary").connect();
                Statement s = c.createStatement()) {
            s.execute("ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (\"s0-hub1\", \"s0-hub2\", \"s0-hub3\")'");
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
    void writesAndCommitsSentToAStalledPrimaryAreNeverAcknowledgedOnceItIsFailedOver() throws Exception {
        PgNode old = cluster.node("s0-primary");
        Connection open = DriverManager.getConnection(cluster.shardlineUrl());
        Connection writer = DriverManager.getConnection(cluster.shardlineUrl());
        Connection running = DriverManager.getConnection(cluster.shardlineUrl());
        try {
            open.setAutoCommit(false);
            open.createStatement().execute("INSERT INTO events (id) VALUES (1)");
            running.setAutoCommit(false);
            running.createStatement().execute("INSERT INTO events (id) VALUES (5)");
            writer.createStatement().execute("INSERT INTO events (id) VALUES (100)"); // its connection is attached
            awaitRowOnHubs(100);
            // used within the last 2 s: the next write goes out on it without a validation round trip
            writer.createStatement().execute("INSERT INTO events (id) VALUES (101)");

            old.freeze();
            AtomicLong thawedAt = new AtomicLong(Long.MAX_VALUE);
            // an autocommit write on the frozen primary's socket, and a COMMIT once the failover holds the shard
            CompletableFuture<Outcome> write = CompletableFuture.supplyAsync(
                    () -> run(() -> writer.createStatement().execute("INSERT INTO events (id) VALUES (2)")));
            // a statement of a transaction, on the frozen primary's socket
            CompletableFuture<Outcome> inTransaction = CompletableFuture.supplyAsync(
                    () -> run(() -> running.createStatement().execute("INSERT INTO events (id) VALUES (6)")));
            CompletableFuture<Outcome> commit = CompletableFuture.supplyAsync(() -> run(() -> {
                await().atMost(Duration.ofSeconds(60))
                        .pollInterval(Duration.ofMillis(5))
                        .until(() -> {
                            String mark = topology().shard(0).switchover();
                            return mark != null
                                    && RouterRegistration.notAcknowledged(
                                                    client, "stalled", RouterRegistration.switchoverToken(mark))
                                            .isEmpty();
                        });
                open.commit();
            }));
            Switchover.Result result = new Switchover(
                            client, "stalled", LogicalCopyIT.CONNECT, Switchover.Settings.DEFAULT)
                    .afterPromotion(() -> {
                        try {
                            commit.get(10, TimeUnit.SECONDS); // made during the hold
                        } catch (Exception e) {
                            // still waiting on the frozen primary: the assertions below say so
                        }
                        // it resumes between the promotion and the publication: what it was sent runs now
                        thawedAt.set(System.nanoTime());
                        old.thaw();
                        try {
                            Thread.sleep(1_500);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    })
                    .failover(0, null);
            String promoted = result.to();
            List<String> others = java.util.stream.Stream.of("s0-hub1", "s0-hub2", "s0-hub3")
                    .filter(h -> !h.equals(promoted))
                    .toList();

            Outcome w = write.get(30, TimeUnit.SECONDS);
            Outcome c = commit.get(30, TimeUnit.SECONDS);
            Outcome t = inTransaction.get(30, TimeUnit.SECONDS);
            assertThat(t.sqlState)
                    .as("a statement of a transaction on the stalled primary: %s", t)
                    .isEqualTo("40001");
            assertThat(t.message).contains("failover failover-").contains("nothing of it was committed");
            assertThat(t.endedAt).isLessThan(thawedAt.get());
            System.out.printf(
                    "failover of a stalled primary: %s -> %s (held %d ms); the write on its socket: %s; the"
                            + " COMMIT during the hold: %s; warnings %s%n",
                    result.from(), promoted, result.writesHeldMs(), w, c, result.warnings());
            assertThat(result.id()).startsWith("failover-");
            assertThat(w.sqlState)
                    .as("the write sent to the stalled primary: %s", w)
                    .isIn("08006", "08007", "40001");
            assertThat(w.endedAt)
                    .as("the write ended when the failover held the shard, not when the old primary resumed")
                    .isLessThan(thawedAt.get());
            assertThat(c.sqlState)
                    .as("the COMMIT of a transaction on the stalled primary, during the failover: %s", c)
                    .isEqualTo("40001");
            assertThat(c.message).contains("failover");
            assertThat(c.endedAt).isLessThan(thawedAt.get());

            assertThat(result.warnings())
                    .as("the other hubs follow the new primary")
                    .isEmpty();
            assertThat(result.repointed()).containsExactlyInAnyOrderElementsOf(others);
            assertThat(cluster.node(promoted).queryString("SELECT count(*) FROM events WHERE id IN (1, 2, 5, 6)"))
                    .isEqualTo("0");
            // the other hub took nothing the old primary wrote after it resumed: it follows the new timeline
            try (Connection d = DriverManager.getConnection(cluster.shardlineUrl());
                    Statement s = d.createStatement()) {
                s.execute("INSERT INTO events (id) VALUES (3)");
            }
            for (String other : others) {
                awaitRowOn(other, 3);
                assertThat(cluster.node(other).queryString("SELECT count(*) FROM events WHERE id IN (1, 2, 5, 6)"))
                        .isEqualTo("0");
            }
        } finally {
            old.thaw();
            // not close(): a statement still hung on the old primary would keep it waiting
            open.abort(Runnable::run);
            writer.abort(Runnable::run);
            running.abort(Runnable::run);
        }
    }

    /**
     * PostgreSQL switches a hub's WAL receiver to a new {@code primary_conninfo} only once its startup process wants
     * more WAL: a hub whose replay is paused keeps receiving from the old primary. The failover of a dead (here
     * frozen) primary goes on all the same, naming that hub in its warnings; the hub follows the new primary once it
     * replays again.
     */
    @Test
    @Order(2)
    void aHubThatKeepsReceivingFromTheOldPrimaryDoesNotKeepItFromBeingFailedOver() throws Exception {
        String primary = topology().shard(0).primary().name();
        List<String> hubs = topology().shard(0).replicas().stream()
                .filter(n -> primary.equals(n.upstream()))
                .map(n -> n.name())
                .sorted()
                .toList();
        assertThat(hubs).hasSize(2);
        PgNode old = cluster.node(primary);
        PgNode paused = cluster.node(hubs.get(1));
        paused.pauseReplay();
        old.freeze();
        Switchover.Result result;
        try {
            result = new Switchover(client, "stalled", LogicalCopyIT.CONNECT, Switchover.Settings.DEFAULT)
                    .afterPromotion(paused::resumeReplay)
                    .failover(0, hubs.get(0));
        } finally {
            paused.resumeReplay();
            old.thaw();
        }
        System.out.printf("failover with a hub whose replay is paused: warnings %s%n", result.warnings());
        assertThat(result.to()).isEqualTo(hubs.get(0));
        assertThat(result.warnings())
                .anySatisfy(w -> assertThat(w)
                        .contains("[" + hubs.get(1) + "] did not stream from " + hubs.get(0))
                        .contains("paused replay"));
        assertThat(result.repointed()).containsExactly(hubs.get(1));
        try (Connection d = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = d.createStatement()) {
            s.execute("INSERT INTO events (id) VALUES (7)");
        }
        awaitRowOn(hubs.get(1), 7);
    }

    private static void awaitRowOnHubs(long id) {
        awaitRowOn("s0-hub1", id);
        awaitRowOn("s0-hub2", id);
        awaitRowOn("s0-hub3", id);
    }

    private static void awaitRowOn(String node, long id) {
        await().atMost(Duration.ofSeconds(30))
                .pollInterval(Duration.ofMillis(50))
                .until(() ->
                        "1".equals(cluster.node(node).queryString("SELECT count(*) FROM events WHERE id = " + id)));
    }

    private interface Call {
        void run() throws Exception;
    }

    private record Outcome(String sqlState, String message, long endedAt) {
        @Override
        public String toString() {
            return sqlState == null ? "acknowledged" : sqlState + " " + message;
        }
    }

    private static Outcome run(Call call) {
        try {
            call.run();
            return new Outcome(null, null, System.nanoTime());
        } catch (SQLException e) {
            return new Outcome(e.getSQLState(), e.getMessage(), System.nanoTime());
        } catch (Exception e) {
            return new Outcome("none", e.toString(), System.nanoTime());
        }
    }

    private static ClusterTopology topology() throws Exception {
        String path = ZooKeeperTopologyStore.clusterPath("stalled") + "/topology";
        return TopologyCodec.topologyFromJson(client.getData().forPath(path), path);
    }
}
