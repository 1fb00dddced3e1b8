package io.shardline.cli;

import static io.shardline.cli.ShardlineProcess.awaitOutput;
import static io.shardline.cli.ShardlineProcess.awaitStatus;
import static io.shardline.cli.ShardlineProcess.get;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.console.ConsoleServer;
import io.shardline.console.ConsoleSettings;
import io.shardline.console.ConsoleUsers;
import io.shardline.console.Role;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The processes as an operator runs them, each in a JVM of its own with {@code --http-port 0}: two replication
 * monitors and a rebalancer, plus the console (in this JVM). Every {@code /health/ready} turns 503 when ZooKeeper
 * stops and 200 when it is back, {@code /health/live} stays 200, {@code /metrics} shows each process's meters;
 * SIGTERM on the publishing monitor hands publishing over to the other, SIGTERM on the rebalancer drains it.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ProcessEndpointsIT {
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @Test
    void readinessFollowsZooKeeperAndSigtermHandsOverAndDrains() throws Exception {
        try (LocalCluster cluster = LocalCluster.builder()
                .name("probes")
                .shards(1)
                .hubs(1)
                .leaves(0)
                .start()) {
            LocalTopology.publish(cluster.descriptor());
            String[] target = {"--zk", cluster.zkConnectString(), "--name", "probes", "--http-port", "0"};
            ConsoleUsers.Generated viewer = ConsoleUsers.generate("viewer", Role.VIEWER);
            try (ShardlineProcess first = new ShardlineProcess(concat("monitor", "--print-every", "0", target));
                    ShardlineProcess second = new ShardlineProcess(concat("monitor", "--print-every", "0", target));
                    ShardlineProcess rebalancer =
                            new ShardlineProcess(concat("rebalancer", "--drain-seconds", "10", target));
                    ConsoleServer console = ConsoleServer.start(
                            ConsoleSettings.of(cluster.zkConnectString(), "probes", List.of(viewer.user()), null)
                                    .withPort(0))) {
                List<String> ready = List.of(
                        first.url() + "/health/ready",
                        second.url() + "/health/ready",
                        rebalancer.url() + "/health/ready",
                        console.url() + "/actuator/health/readiness");
                ready.forEach(url -> awaitStatus(url, 200));
                // one monitor publishes, the other stands by; both are ready
                ShardlineProcess publishing = publishing(first, second);
                ShardlineProcess standby = publishing == first ? second : first;
                assertThat(get(standby.url() + "/health/ready").body())
                        .contains("\"detail\":\"standby (another monitor publishes)\"", "\"leader\":false");

                await().atMost(Duration.ofSeconds(30))
                        .untilAsserted(() -> assertThat(
                                        get(publishing.url() + "/metrics").body())
                                .contains("shardline_monitor_leader{process=\"monitor\"} 1.0")
                                .contains("shardline_replica_lag_seconds{node=\"s0-hub1\"")
                                .contains("shardline_replica_report_age_seconds{node=\"s0-hub1\"")
                                .contains("shardline_primary_heartbeat_age_seconds{process=\"monitor\",shard=\"0\"}")
                                .contains("shardline_prepared_transactions{process=\"monitor\",shard=\"0\"} 0.0")
                                .contains("jvm_memory_used_bytes{"));
                assertThat(get(standby.url() + "/metrics").body())
                        .contains("shardline_monitor_leader{process=\"monitor\"} 0.0")
                        // a standby vouches for no report's age: another monitor publishes them
                        .containsPattern("shardline_replica_report_age_seconds\\{node=\"s0-hub1\"[^}]*\\} NaN");
                assertThat(get(rebalancer.url() + "/metrics").body())
                        .contains("shardline_rebalancer_leader{process=\"rebalancer\"} 1.0")
                        .contains("shardline_move_phase{cluster=\"probes\",process=\"rebalancer\"} -1.0");

                cluster.stopZooKeeper();
                ready.forEach(url -> awaitStatus(url, 503));
                assertThat(get(first.url() + "/health/ready").body()).contains("not connected to ZooKeeper");
                assertThat(get(rebalancer.url() + "/health/ready").body()).contains("not connected to ZooKeeper");
                assertThat(get(first.url() + "/health/live").statusCode()).isEqualTo(200);
                assertThat(get(rebalancer.url() + "/health/live").statusCode()).isEqualTo(200);
                assertThat(get(console.url() + "/actuator/health/liveness").statusCode())
                        .isEqualTo(200);
                // the console says ZooKeeper does not answer, at once: not "no rebalancer is running"
                HttpResponse<String> topology = HTTP.send(
                        HttpRequest.newBuilder(URI.create(console.url() + "/api/topology"))
                                .header("Authorization", basic("viewer", viewer.password()))
                                .timeout(Duration.ofSeconds(5))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(topology.statusCode()).as(topology.body()).isEqualTo(200);
                assertThat(topology.body())
                        .contains("ZooKeeper does not answer the console", "whether a rebalancer runs is not known")
                        .doesNotContain("no rebalancer is running");

                cluster.startZooKeeper();
                ready.forEach(url -> awaitStatus(url, 200));

                // leadership may have changed hands while ZooKeeper was down: the monitor publishing now is stopped
                ShardlineProcess leader = publishing(first, second);
                ShardlineProcess follower = leader == first ? second : first;

                // SIGTERM on the publishing monitor: it releases leadership, the standby publishes at once
                long t0 = System.nanoTime();
                leader.terminate();
                assertThat(leader.process.waitFor(20, TimeUnit.SECONDS))
                        .as("the monitor stops within 20 s")
                        .isTrue();
                assertThat(leader.process.exitValue()).isEqualTo(143);
                awaitOutput(
                        leader.err,
                        "shardline: monitor stopped (leadership released: a standby monitor publishes now)");
                await().atMost(Duration.ofSeconds(15))
                        .pollInterval(Duration.ofMillis(100))
                        .until(() ->
                                get(follower.url() + "/health/ready").body().contains("\"detail\":\"publishing\""));
                System.out.printf("monitor handover after SIGTERM: %d ms%n", (System.nanoTime() - t0) / 1_000_000);

                rebalancer.terminate();
                assertThat(rebalancer.process.waitFor(30, TimeUnit.SECONDS))
                        .as("the rebalancer stops within its drain bound")
                        .isTrue();
                awaitOutput(rebalancer.err, "shardline: rebalancer drained (leadership released)");
            }
        }
    }

    private static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    /** Which of the two monitors publishes, once one does (30 s at most). */
    private static ShardlineProcess publishing(ShardlineProcess first, ShardlineProcess second) {
        await().atMost(Duration.ofSeconds(30))
                .until(() -> get(first.url() + "/health/ready").body().contains("\"detail\":\"publishing\"")
                        || get(second.url() + "/health/ready").body().contains("\"detail\":\"publishing\""));
        return get(first.url() + "/health/ready").body().contains("\"detail\":\"publishing\"") ? first : second;
    }

    private static String[] concat(String command, String option, String value, String[] rest) {
        List<String> all = new ArrayList<>(List.of(command, option, value));
        all.addAll(List.of(rest));
        return all.toArray(String[]::new);
    }
}
