package io.shardline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.monitor.ReplicationMonitor;
import io.shardline.topology.TopologyException;
import io.shardline.topology.ZkTls;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A local cluster whose ZooKeeper speaks TLS only, its certificate signed by a CA made for the test: the driver
 * ({@code zkTrustStore}), the replication monitor and the command line ({@code SHARDLINE_ZK_TRUSTSTORE}, in a JVM of
 * its own) reach it; a plain client and a trust store of another CA do not, and say why.
 */
class ZooKeeperTlsIT {
    @Test
    void everyComponentReachesZooKeeperOverTlsAndNobodyWithoutIt() throws Exception {
        Path tmp = Files.createTempDirectory("shardline-zktls-");
        ThrowawayCa ca = new ThrowawayCa(tmp, "zk-ca");
        Path[] server = ca.server("zookeeper", "IP:127.0.0.1,DNS:localhost");
        Path keyStore = tmp.resolve("zookeeper-keystore.pem");
        Files.writeString(keyStore, Files.readString(server[1]) + Files.readString(server[0]));
        ThrowawayCa other = new ThrowawayCa(Files.createDirectories(tmp.resolve("other")), "other-ca");
        ZkTls.useForThisProcess(new ZkTls(ca.certificate.toString(), null));
        try (LocalCluster cluster = LocalCluster.builder()
                .name("zktls")
                .shards(1)
                .hubs(1)
                .leaves(0)
                .zooKeeperTls(keyStore)
                .start()) {
            LocalTopology.publish(cluster.descriptor());
            String url = cluster.shardlineUrl() + "?zkTrustStore=" + ca.certificate;
            try (Connection c = DriverManager.getConnection(url);
                    Statement s = c.createStatement()) {
                s.execute("CREATE TABLE notes (id bigint PRIMARY KEY, body text)");
                s.execute("INSERT INTO notes VALUES (1, 'over TLS')");
                try (ResultSet rs = s.executeQuery("SELECT body FROM notes WHERE id = 1")) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getString(1)).isEqualTo("over TLS");
                }
            }
            assertThatThrownBy(() -> DriverManager.getConnection(
                                    cluster.shardlineUrl() + "?connectTimeoutMs=3000&zkTrustStore=" + other.certificate)
                            .close())
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("over TLS")
                    .hasMessageContaining(other.certificate.toString());
            assertThatThrownBy(() -> ZooKeeperTopologyStore.connect(
                            cluster.zkConnectString(), "zktls", Duration.ofSeconds(3), null, null))
                    .isInstanceOf(TopologyException.class)
                    .hasMessageContaining("unreachable");

            try (ZooKeeperTopologyStore store =
                            ZooKeeperTopologyStore.connect(cluster.zkConnectString(), "zktls", Duration.ofSeconds(10));
                    ReplicationMonitor monitor =
                            new ReplicationMonitor(store, Duration.ofMillis(100), Duration.ofMillis(200), null, null)) {
                monitor.start();
                await().atMost(Duration.ofSeconds(20))
                        .until(() ->
                                store.client().checkExists().forPath("/shardline/clusters/zktls/lag/s0-hub1") != null);
            }

            assertThat(topologyShow(cluster, ca.certificate)).startsWith("0 ").contains("cluster zktls");
            assertThat(topologyShow(cluster, other.certificate))
                    .doesNotStartWith("0 ")
                    .contains("over TLS");
        } finally {
            ZkTls.useForThisProcess(null);
            for (String p : List.of(
                    "zookeeper.ssl.keyStore.location", "zookeeper.ssl.keyStore.type", "zookeeper.ssl.clientAuth")) {
                System.clearProperty(p);
            }
        }
    }

    /** {@code ./shardline topology show} in a JVM of its own, trusting {@code root}: its exit code, then its output. */
    private static String topologyShow(LocalCluster cluster, Path root) throws Exception {
        ProcessBuilder builder = new ProcessBuilder(ShardlineProcess.command(
                        "topology", "show", "--zk", cluster.zkConnectString(), "--name", "zktls"))
                .redirectErrorStream(true);
        builder.environment().put("SHARDLINE_ZK_TRUSTSTORE", root.toString());
        Process p = builder.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return p.exitValue() + " " + out;
    }
}
