package io.shardline.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.topology.KeyType;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.Shard;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The topology names as shard 0's primary a node that is in recovery (a primary demoted to a standby by another tool,
 * the topology not updated yet): an autocommit write it refuses as read-only ran nowhere, so it goes to the primary
 * the topology names next; with no such change it fails clearly after {@code fenceWaitMs}. A write refused by a
 * primary's own read-only setting is not retried.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class DemotedPrimaryIT {
    private static final List<ShardedTable> TABLES =
            List.of(new ShardedTable("public", "items", "id", KeyType.INTEGER));

    private static LocalCluster cluster;
    private static CuratorFramework client;
    private static Shard shard0;
    private static long key;

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder()
                .name("demoted")
                .shards(2)
                .hubs(1)
                .leaves(0)
                .start();
        RouterClusters.publish(cluster, TABLES);
        client = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        shard0 = RouterClusters.shard(cluster, 0);
        try (ShardlineConnection c =
                DriverManager.getConnection(cluster.shardlineUrl()).unwrap(ShardlineConnection.class)) {
            c.createStatement().execute("CREATE TABLE items (id bigint PRIMARY KEY, note text)");
            for (key = 1;
                    c.explainRoute("SELECT * FROM items WHERE id = ?", key)
                                    .get(0)
                                    .shard()
                            != 0;
                    key++) {
                // the first key of shard 0
            }
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

    @AfterEach
    void restore() {
        publish(shard0);
    }

    @Test
    void aWriteRefusedByAStandbyNamedPrimaryGoesToThePrimaryPublishedNext() throws Exception {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl() + "?fenceWaitMs=5000")) {
            c.createStatement().execute("DELETE FROM items WHERE id = " + key); // the runtime is up, pools warm
            awaitTopology(c, publish(standbyAsPrimary()));
            CompletableFuture<Void> republished = CompletableFuture.runAsync(() -> {
                sleep(500);
                publish(shard0);
            });
            long started = System.nanoTime();
            assertThat(c.createStatement().executeUpdate("INSERT INTO items (id, note) VALUES (" + key + ", 'x')"))
                    .isEqualTo(1);
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isGreaterThan(Duration.ofMillis(400));
            republished.get(10, TimeUnit.SECONDS);
        }
        assertThat(cluster.node("s0-primary").queryString("SELECT note FROM items WHERE id = " + key))
                .isEqualTo("x");
    }

    @Test
    void withNoNewPrimaryTheWriteFailsSayingWhy() throws Exception {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl() + "?fenceWaitMs=300")) {
            awaitTopology(c, publish(standbyAsPrimary()));
            assertThatThrownBy(() -> c.createStatement().executeUpdate("UPDATE items SET note = 'y' WHERE id = " + key))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("s0-primary refused the statement as read-only: it is in recovery (a"
                            + " standby), yet the topology still names it the primary of shard 0 after 300 ms")
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("25006"));
        }
    }

    @Test
    void aPrimarysOwnReadOnlySettingIsNotTakenForADemotion() throws Exception {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl() + "?fenceWaitMs=5000");
                Statement s = c.createStatement()) {
            s.execute("SET default_transaction_read_only = on");
            long started = System.nanoTime();
            assertThatThrownBy(() -> s.executeUpdate("UPDATE items SET note = 'z' WHERE id = " + key))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("cannot execute UPDATE in a read-only transaction")
                    .hasMessageNotContaining("in recovery");
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(5));
        }
    }

    /**
     * A write routed before a switchover marked its shard reaches the primary after the switchover made it read-only
     * (a client thread stalled on its way: held here in a TCP proxy): refused with 25006, nothing ran, so it waits for
     * the switchover's outcome and is routed again — here the switchover gives the shard back, and the write runs.
     */
    @Test
    void aWriteRefusedAsReadOnlyByAPrimaryASwitchoverHoldsIsRoutedAgainOnceItIsOver() throws Exception {
        assertThat(stalledThenRefused(c -> c.createStatement()
                        .executeUpdate("INSERT INTO items (id, note) VALUES (" + key + ", 'stalled')")))
                .isEqualTo(1);
        assertThat(cluster.node("s0-primary").queryString("SELECT note FROM items WHERE id = " + key))
                .isEqualTo("stalled");
    }

    /** The same for a prepared statement's batch (one implicit transaction: none of its rows ran). */
    @Test
    void aBatchRefusedAsReadOnlyByAPrimaryASwitchoverHoldsIsRoutedAgainOnceItIsOver() throws Exception {
        assertThat(stalledThenRefused(c -> {
                    try (PreparedStatement ps = c.prepareStatement("INSERT INTO items (id, note) VALUES (?, ?)")) {
                        ps.setLong(1, key);
                        ps.setString(2, "batch");
                        ps.addBatch();
                        ps.setLong(1, key);
                        ps.setString(2, "batch again");
                        ps.addBatch();
                        return ps.executeBatch().length;
                    } catch (BatchUpdateException e) {
                        return e.getSQLState().equals("23505") ? -1 : -2;
                    }
                }))
                .as("routed again, the batch ran (its second row a duplicate: the batch's own failure)")
                .isEqualTo(-1);
        assertThat(cluster.node("s0-primary").queryString("SELECT count(*) FROM items WHERE id = " + key))
                .as("one implicit transaction: nothing written")
                .isEqualTo("0");
    }

    /**
     * The same for a plain Statement batch, which runs as one transaction of its own: refused on its first statement,
     * rolled back, it runs again whole once the switchover is over (before: 25006, the race left to the application).
     */
    @Test
    void aStatementBatchRefusedAsReadOnlyByAPrimaryASwitchoverHoldsRunsAgainWholeOnceItIsOver() throws Exception {
        assertThat(stalledThenRefused(c -> {
                    try (Statement s = c.createStatement()) {
                        s.addBatch("INSERT INTO items (id, note) VALUES (" + key + ", 'statement batch')");
                        s.addBatch("UPDATE items SET note = note || ' updated' WHERE id = " + key);
                        return Arrays.stream(s.executeBatch()).sum();
                    }
                }))
                .isEqualTo(2);
        assertThat(cluster.node("s0-primary").queryString("SELECT note FROM items WHERE id = " + key))
                .isEqualTo("statement batch updated");
    }

    interface Write {
        int run(Connection c) throws SQLException;
    }

    /**
     * Runs {@code write} through shard 0's primary behind a TCP proxy that holds it on its way while a switchover mark
     * is published and the primary made read-only; releases it (refused as read-only), then gives the shard back.
     */
    private static int stalledThenRefused(Write write) throws Exception {
        PgNode primary = cluster.node("s0-primary");
        Node p = shard0.primary();
        try (TcpProxy proxy = new TcpProxy(p.host() + ":" + p.port())) {
            Shard viaProxy = viaProxy(proxy);
            try (Connection c = DriverManager.getConnection(cluster.shardlineUrl() + "?fenceWaitMs=5000");
                    Connection watcher = DriverManager.getConnection(cluster.shardlineUrl() + "?fenceWaitMs=5000")) {
                awaitTopology(watcher, publish(viaProxy));
                c.createStatement().execute("DELETE FROM items WHERE id = " + key); // pools warm, through the proxy
                // the server's transaction defaults read (once per primary), so what the proxy holds is the write's
                c.setAutoCommit(false);
                c.createStatement().executeQuery("SELECT 1 FROM items WHERE id = " + key);
                c.commit();
                c.setAutoCommit(true);
                proxy.hold();
                CompletableFuture<Integer> running = CompletableFuture.supplyAsync(() -> {
                    try {
                        return write.run(c);
                    } catch (SQLException e) {
                        throw new CompletionException(e);
                    }
                });
                // routed, past the gate, and on its way: held in the proxy
                await().atMost(Duration.ofSeconds(10)).until(() -> proxy.held() > 0);
                awaitTopology(watcher, publish(viaProxy.withSwitchover("test s0-hub1")));
                readOnly(primary, true);
                proxy.release(); // refused as read-only now
                // a bounded look: it waits up to fenceWaitMs (5 s) for the switchover's outcome, not 25006 at once
                Thread.sleep(500);
                assertThat(running).as("waits for the switchover's outcome").isNotDone();
                readOnly(primary, false);
                publish(viaProxy); // given back
                int result = running.get(10, TimeUnit.SECONDS);
                // the runtime (shared with other tests by its URL) routes to the primary itself before the proxy goes
                awaitTopology(watcher, publish(shard0));
                return result;
            } finally {
                run(primary, "ALTER SYSTEM RESET default_transaction_read_only");
                primary.queryString("SELECT pg_reload_conf()::text");
            }
        }
    }

    /** Shard 0 with its primary reached through {@code proxy}. */
    private static Shard viaProxy(TcpProxy proxy) {
        Node p = shard0.primary();
        int colon = proxy.address().lastIndexOf(':');
        Node proxied = new Node(
                p.name(),
                NodeRole.PRIMARY,
                proxy.address().substring(0, colon),
                Integer.parseInt(proxy.address().substring(colon + 1)),
                null);
        return new Shard(0, List.of(proxied, shard0.replicas().get(0)));
    }

    /** Sets the node's read-only default as a switchover does, and waits until its server has reloaded it. */
    private static void readOnly(PgNode node, boolean on) throws SQLException {
        run(
                node,
                on
                        ? "ALTER SYSTEM SET default_transaction_read_only = on"
                        : "ALTER SYSTEM RESET" + " default_transaction_read_only");
        node.queryString("SELECT pg_reload_conf()::text");
        String wanted = on ? "on" : "off";
        await().atMost(Duration.ofSeconds(10))
                .until(() -> wanted.equals(node.queryString("SHOW default_transaction_read_only")));
    }

    private static void run(PgNode node, String sql) throws SQLException {
        try (Connection c = node.connect()) {
            c.createStatement().execute(sql);
        }
    }

    /** Shard 0 with its primary's name and role on the hub's address: a standby named primary. */
    private static Shard standbyAsPrimary() {
        Node primary = shard0.primary();
        Node hub = shard0.replicas().get(0);
        return new Shard(
                0,
                List.of(
                        new Node(primary.name(), NodeRole.PRIMARY, hub.host(), hub.port(), null),
                        new Node("s0-hub1", NodeRole.HUB, hub.host(), hub.port(), primary.name())));
    }

    /** Publishes {@code shard} in place of shard 0; the topology's new version. */
    private static long publish(Shard shard) {
        return ZooKeeperTopologyStore.updateTopology(client, "demoted", t -> t.withShardReplaced(shard))
                .version();
    }

    /** Waits until the driver routes by topology {@code version} or later. */
    private static void awaitTopology(Connection c, long version) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (c.unwrap(ShardlineConnection.class).clusterStatus().topologyVersion() < version) {
            assertThat(System.nanoTime()).as("the driver follows the topology").isLessThan(deadline);
            sleep(20);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
