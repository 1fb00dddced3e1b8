package io.shardline.router.txn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The bank invariant across client deaths: client JVMs ({@link BankClient}) move money between accounts on two
 * shards with two-phase commit and are killed at random points between PREPARE and COMMIT PREPARED, again and
 * again, until 10,000 transfers were acknowledged. After recovery the total balance is what it was and no prepared
 * transaction remains.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class BankKillIT {
    private static final Logger LOG = LoggerFactory.getLogger(BankKillIT.class);
    static final int ACCOUNTS = 200;
    static final long OPENING = 10_000;
    static final int TRANSFERS = 10_000;

    private static LocalCluster cluster;
    private static String url;

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder()
                .name("bankkill")
                .shards(2)
                .hubs(0)
                .leaves(0)
                .start();
        RouterClusters.publish(cluster, List.of(new ShardedTable("public", "accounts", "id", KeyType.INTEGER)));
        url = cluster.shardlineUrl() + "?twoPhaseCommit=true";
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL)");
            try (PreparedStatement insert = c.prepareStatement("INSERT INTO accounts (id, balance) VALUES (?, ?)")) {
                for (long id = 1; id <= ACCOUNTS; id++) {
                    insert.setLong(1, id);
                    insert.setLong(2, OPENING);
                    insert.executeUpdate();
                }
            }
        }
        ShardlineDriver.closeAll();
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void theTotalSurvivesClientsKilledBetweenTheTwoPhases() throws Exception {
        // a transfer blocked by a dead client's prepared rows gives up after 2 s and picks other accounts
        String clientUrl = url + "&pg.options=-c%20lock_timeout%3D2000";
        int acked = 0;
        int runs = 0;
        int killed = 0;
        // kills are random (a 0.03 % chance per two-shard commit, spread over its commit points: ~4,000 transfers per
        // run on average): a run may go long
        // without one, so it goes on until at least three clients died between the two phases. Each run after a
        // kill spends its first ~10 s (the dead router's session) mostly blocked on the prepared rows it left: at a
        // 0.1 % chance the 10,000 transfers took 4-13 runs, 64-155 s.
        while (acked < TRANSFERS || killed < 3) {
            Process p = new ProcessBuilder(
                            Path.of(System.getProperty("java.home"), "bin", "java")
                                    .toString(),
                            "-cp",
                            System.getProperty("java.class.path"),
                            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                            BankClient.class.getName(),
                            clientUrl,
                            String.valueOf(ACCOUNTS),
                            String.valueOf(Math.max(TRANSFERS - acked, 2_000)),
                            "4",
                            "0.0003")
                    .redirectError(ProcessBuilder.Redirect.INHERIT)
                    .start();
            int acks = 0;
            try (BufferedReader out =
                    new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line = out.readLine(); line != null; line = out.readLine()) {
                    if (line.equals("ack")) {
                        acks++;
                    }
                }
            }
            int exit = p.waitFor();
            runs++;
            if (exit == 137) {
                killed++;
            }
            acked += acks;
            LOG.info("client run {}: {} transfers acknowledged, exit {} ({} in all)", runs, acks, exit, acked);
            assertThat(runs).as("client runs (each should make progress)").isLessThan(200);
        }

        // the dead routers' sessions expire, then recovery resolves what they left
        try (CuratorFramework client =
                ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10))) {
            ClusterTopology topology = RouterClusters.topology(cluster, List.of());
            InDoubtTransactions recovery = new InDoubtTransactions(
                    client, "bankkill", n -> cluster.node(n.name()).connect());
            // undecided ones wait until their dead router's ZooKeeper session expires (10 s)
            await().atMost(Duration.ofSeconds(60))
                    .pollInterval(Duration.ofSeconds(1))
                    .untilAsserted(() -> {
                        LOG.info("recovery: {}", recovery.recover(topology));
                        assertThat(recovery.list(topology))
                                .as("prepared transactions left")
                                .isEmpty();
                    });
        }
        long total = Long.parseLong(cluster.primary(0).queryString("SELECT sum(balance) FROM accounts"))
                + Long.parseLong(cluster.primary(1).queryString("SELECT sum(balance) FROM accounts"));
        long rows = Long.parseLong(cluster.primary(0).queryString("SELECT count(*) FROM accounts"))
                + Long.parseLong(cluster.primary(1).queryString("SELECT count(*) FROM accounts"));
        LOG.info("{} transfers acknowledged over {} client runs, {} killed; total {}", acked, runs, killed, total);
        assertThat(rows).isEqualTo(ACCOUNTS);
        assertThat(total).isEqualTo(ACCOUNTS * OPENING);
        assertThat(cluster.primary(0).queryString("SELECT count(*) FROM pg_prepared_xacts"))
                .isEqualTo("0");
        assertThat(cluster.primary(1).queryString("SELECT count(*) FROM pg_prepared_xacts"))
                .isEqualTo("0");
    }
}
