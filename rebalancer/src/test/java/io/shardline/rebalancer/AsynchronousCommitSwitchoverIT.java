package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Commits acknowledged under {@code synchronous_commit = off} just before a switchover (the old primary's WAL writer
 * made slow here: 2 s between its flushes) are on the new primary: the switchover's reloads wake the WAL writer,
 * which writes them out, so the old primary's write position it waits for the candidate to replay covers them.
 */
class AsynchronousCommitSwitchoverIT {
    private static LocalCluster cluster;
    private static CuratorFramework client;

    @BeforeAll
    static void start() throws Exception {
        cluster = LocalCluster.builder()
                .name("asynccommit")
                .shards(1)
                .hubs(1)
                .leaves(0)
                .start();
        RouterClusters.publish(cluster, List.of(new ShardedTable("public", "accounts", "id", KeyType.INTEGER)));
        client = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL DEFAULT 0)");
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
    void asynchronousCommitsMadeJustBeforeASwitchoverAreOnTheNewPrimary() throws Exception {
        try (Connection direct = cluster.primary(0).connect();
                Statement s = direct.createStatement()) {
            s.execute("ALTER SYSTEM SET wal_writer_delay = '2s'");
            s.execute("SELECT pg_reload_conf()");
        }
        // the WAL writer takes the reload at the end of its current round (200 ms), and no server view shows when:
        // half a second is two of its rounds (took or not, the assertion below holds — the slower writer only makes
        // the case harder)
        Thread.sleep(500);
        try (Connection c = DriverManager.getConnection(
                        cluster.shardlineUrl() + "?pg.options=-c%20synchronous_commit%3Doff");
                PreparedStatement insert = c.prepareStatement("INSERT INTO accounts (id, balance) VALUES (?, 7)")) {
            for (long k = 1; k <= 20; k++) {
                insert.setLong(1, k);
                insert.executeUpdate();
            }
        }
        Switchover.Result result = new Switchover(
                        client,
                        "asynccommit",
                        LogicalCopyIT.CONNECT,
                        new Switchover.Settings(Duration.ofSeconds(2), Duration.ofSeconds(5), Duration.ofSeconds(30)))
                .run(0, null);
        System.out.printf(
                "switchover after 20 asynchronous commits: %s -> %s, writes held %d ms%n",
                result.from(), result.to(), result.writesHeldMs());
        PgNode promoted = cluster.node(result.to());
        assertThat(promoted.queryString("SELECT pg_is_in_recovery()")).isEqualTo("f");
        assertThat(promoted.queryString("SELECT count(*) FROM accounts"))
                .as("acknowledged asynchronous commits on the new primary")
                .isEqualTo("20");
    }
}
