package io.shardline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.console.ConsoleServer;
import io.shardline.console.ConsoleSettings;
import io.shardline.console.ConsoleUsers;
import io.shardline.console.Role;
import io.shardline.monitor.ReplicationMonitor;
import io.shardline.rebalancer.MoveEstimate;
import io.shardline.rebalancer.Rebalancer;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.PgTls;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every component on {@code sslmode=verify-full} against a cluster that refuses connections without TLS, its
 * servers' certificate signed by a CA made for the test: the driver, the command line (in this JVM and, by libpq's
 * environment variables, in one of its own), the replication monitor, the rebalancer (a move: its subscriptions
 * and pg_dump verify the servers too) and the console's health; another CA's root and a host name the certificate
 * does not name fail with errors that say so.
 */
class PgTlsIT {
    private static Path tmp;
    private static ThrowawayCa ca;
    private static LocalCluster cluster;

    @BeforeAll
    static void start() throws Exception {
        tmp = Files.createTempDirectory("shardline-tls-");
        ca = new ThrowawayCa(tmp, "test-ca");
        Path[] server = ca.server("server", "IP:127.0.0.1");
        cluster = LocalCluster.builder()
                .name("tls")
                .shards(2)
                .hubs(1)
                .leaves(0)
                .tls(server[0], server[1], true)
                .start();
        LocalTopology.publish(cluster.descriptor());
    }

    @AfterAll
    static void stop() {
        PgTls.useForThisProcess(null);
        if (cluster != null) {
            cluster.close();
        }
    }

    private static PgTls verifyFull(Path root) {
        return new PgTls("verify-full", root.toString(), null, null);
    }

    @Test
    void everyComponentVerifiesTheServersCertificate() throws Exception {
        PgTls.useForThisProcess(verifyFull(ca.certificate));
        String url = cluster.shardlineUrl() + "?pg.sslmode=verify-full&pg.sslrootcert=" + ca.certificate;
        assertThat(ShardlineProcess.inProcess(
                        "table",
                        "shard",
                        "items",
                        "--key",
                        "id",
                        "--type",
                        "bigint",
                        "--zk",
                        cluster.zkConnectString(),
                        "--name",
                        "tls"))
                .contains("public.items is sharded by id");
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL)");
            try (PreparedStatement insert = c.prepareStatement("INSERT INTO items VALUES (?, ?)")) {
                for (int id = 1; id <= 300; id++) {
                    insert.setLong(1, id);
                    insert.setString(2, "item " + id);
                    insert.addBatch();
                }
                insert.executeBatch();
            }
            try (ResultSet rs = s.executeQuery("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")) {
                assertThat(rs.next() && rs.getBoolean(1))
                        .as("the driver's connection uses TLS")
                        .isTrue();
            }
        }
        try (CuratorFramework client =
                        ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
                ZooKeeperTopologyStore store = new ZooKeeperTopologyStore(client, "tls")) {
            store.start();
            ReplicationMonitor monitor =
                    new ReplicationMonitor(store, Duration.ofMillis(100), Duration.ofMillis(200), null, null);
            monitor.start();
            Rebalancer rebalancer = Rebalancer.forCluster(client, "tls", null);
            rebalancer.start();
            ConsoleUsers.Generated viewer = ConsoleUsers.generate("viewer", Role.VIEWER);
            try (monitor;
                    rebalancer;
                    ConsoleServer console = ConsoleServer.start(
                            ConsoleSettings.of(cluster.zkConnectString(), "tls", List.of(viewer.user()), null)
                                    .withPort(0))) {
                await().atMost(Duration.ofSeconds(20))
                        .until(() -> client.checkExists().forPath("/shardline/clusters/tls/lag/s1-hub1") != null);
                List<PgNode> added = cluster.addShard();
                ZooKeeperTopologyStore.updateTopology(
                        client, "tls", t -> t.withShard(LocalTopology.shard(cluster.descriptor(), 2)));
                assertThat(added).isNotEmpty();
                assertThat(ShardlineProcess.inProcess(
                                "move", "start", "--wait", "--zk", cluster.zkConnectString(), "--name", "tls"))
                        .contains("done");
                try (Connection c = DriverManager.getConnection(url);
                        Statement s = c.createStatement();
                        ResultSet rs = s.executeQuery("SELECT count(*) FROM items")) {
                    rs.next();
                    assertThat(rs.getLong(1)).isEqualTo(300);
                }
                try (Connection target = added.get(0).connect();
                        ResultSet rs = target.createStatement().executeQuery("SELECT count(*) FROM items")) {
                    rs.next();
                    assertThat(rs.getLong(1)).as("rows copied to the new shard").isPositive();
                }
                HttpResponse<String> health = HttpClient.newHttpClient()
                        .send(
                                HttpRequest.newBuilder(URI.create(console.url() + "/actuator/health"))
                                        .header("Authorization", ShardlineProcess.basic(viewer))
                                        .build(),
                                HttpResponse.BodyHandlers.ofString());
                assertThat(health.body()).as(health.body()).contains("\"shard2\"");
                assertThat(health.statusCode()).as(health.body()).isEqualTo(200);
            }
        }
    }

    @Test
    void anotherCasRootOrAHostNameTheCertificateDoesNotNameFailsSayingSo() throws Exception {
        ThrowawayCa other = new ThrowawayCa(Files.createDirectories(tmp.resolve("other")), "other-ca");
        PgNode primary = cluster.primary(0);
        Node byIp = new Node("s0-primary", NodeRole.PRIMARY, "127.0.0.1", primary.port(), null);
        Node byName = new Node("s0-primary", NodeRole.PRIMARY, "localhost", primary.port(), null);
        MoveEstimate.Connector connector = MoveEstimate.Connector.to("shardline", "postgres", null, "tls-test");
        PgTls.useForThisProcess(verifyFull(other.certificate));
        assertThatThrownBy(() -> connector.connect(byIp).close())
                .isInstanceOf(SQLException.class)
                .hasMessageContaining("PKIX path");
        PgTls.useForThisProcess(verifyFull(ca.certificate));
        assertThatThrownBy(() -> connector.connect(byName).close())
                .isInstanceOf(SQLException.class)
                .hasMessageContaining("The hostname localhost could not be verified");
        connector.connect(byIp).close();
        PgTls.useForThisProcess(new PgTls("disable", null, null, null));
        assertThatThrownBy(() -> connector.connect(byIp).close())
                .isInstanceOf(SQLException.class)
                .hasMessageContaining("no encryption");
    }

    @Test
    void theCommandLineTakesLibpqsEnvironmentVariables() throws Exception {
        ThrowawayCa other = new ThrowawayCa(Files.createDirectories(tmp.resolve("env")), "env-ca");
        assertThat(planWithRoot(ca.certificate)).startsWith("0 ").doesNotContain("PKIX");
        assertThat(planWithRoot(other.certificate)).doesNotStartWith("0 ").contains("PKIX path");
    }

    /**
     * {@code ./shardline txn in-doubt} (it asks every primary) in a JVM of its own, verify-full with {@code root}: its
     * exit code, then its output.
     */
    private static String planWithRoot(Path root) throws Exception {
        List<String> command = new ArrayList<>(
                ShardlineProcess.command("txn", "in-doubt", "--zk", cluster.zkConnectString(), "--name", "tls"));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().put("PGSSLMODE", "verify-full");
        builder.environment().put("PGSSLROOTCERT", root.toString());
        Process p = builder.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return p.exitValue() + " " + out;
    }
}
