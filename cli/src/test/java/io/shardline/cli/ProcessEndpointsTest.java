package io.shardline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.Counter;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The processes' HTTP endpoints, without a cluster: status codes, bodies, content types, bad requests. */
class ProcessEndpointsTest {
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private static HttpResponse<String> send(String method, String url) throws Exception {
        return HTTP.send(
                HttpRequest.newBuilder(URI.create(url))
                        .method(method, HttpRequest.BodyPublishers.noBody())
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** Readiness is checked every 500 ms: the answer after the next check. */
    private static HttpResponse<String> ready(String url, int status) {
        return org.awaitility.Awaitility.await()
                .atMost(java.time.Duration.ofSeconds(5))
                .until(() -> send("GET", url + "/health/ready"), r -> r.statusCode() == status);
    }

    @Test
    void readinessFollowsTheCheckAndTurnsDownWhenStopping() throws Exception {
        AtomicReference<ProcessEndpoints.Readiness> state = new AtomicReference<>(
                new ProcessEndpoints.Readiness(false, "not connected to ZooKeeper", Map.of("leader", false)));
        try (ProcessEndpoints endpoints =
                ProcessEndpoints.start("127.0.0.1", 0, ProcessEndpoints.newRegistry("test"), state::get)) {
            String url = endpoints.url();
            HttpResponse<String> down = ready(url, 503);
            assertThat(down.body())
                    .contains("\"status\":\"DOWN\"", "\"detail\":\"not connected to ZooKeeper\"", "\"leader\":false");
            assertThat(send("GET", url + "/health/live").statusCode()).isEqualTo(200);

            state.set(new ProcessEndpoints.Readiness(true, "publishing", Map.of("leader", true)));
            HttpResponse<String> up = ready(url, 200);
            assertThat(up.body()).contains("\"status\":\"UP\"", "\"leader\":true");
            assertThat(up.headers().firstValue("Content-Type")).hasValue("application/json");

            state.set(null); // a check that throws
            HttpResponse<String> broken = ready(url, 503);
            assertThat(broken.body()).contains("the readiness check failed");

            state.set(new ProcessEndpoints.Readiness(true, "publishing", Map.of()));
            ready(url, 200);
            endpoints.stopping();
            HttpResponse<String> stopping = send("GET", url + "/health/ready");
            assertThat(stopping.statusCode()).isEqualTo(503);
            assertThat(stopping.body()).contains("\"detail\":\"stopping\"");
            assertThat(send("GET", url + "/health/live").statusCode()).isEqualTo(200);
        }
    }

    @Test
    void metricsArePrometheusTextWithTheProcessAndJvmMeters() throws Exception {
        var registry = ProcessEndpoints.newRegistry("monitor");
        Counter.builder("shardline.test.things").register(registry).increment(3);
        try (ProcessEndpoints endpoints = ProcessEndpoints.start(
                "127.0.0.1", 0, registry, () -> new ProcessEndpoints.Readiness(true, "ok", Map.of()))) {
            HttpResponse<String> metrics = send("GET", endpoints.url() + "/metrics");
            assertThat(metrics.statusCode()).isEqualTo(200);
            assertThat(metrics.headers().firstValue("Content-Type").orElseThrow())
                    .startsWith("text/plain; version=0.0.4");
            assertThat(metrics.body())
                    .contains("shardline_test_things_total{process=\"monitor\"} 3.0")
                    .contains("jvm_memory_used_bytes{")
                    .contains("process_uptime_seconds{");
            HttpResponse<String> head = send("HEAD", endpoints.url() + "/metrics");
            assertThat(head.statusCode()).isEqualTo(200);
            assertThat(head.body()).isEmpty();
        }
    }

    @Test
    void unknownPathsAndMethodsAreRefusedClearly() throws Exception {
        try (ProcessEndpoints endpoints =
                ProcessEndpoints.start("127.0.0.1", 0, ProcessEndpoints.newRegistry("test"), () -> null)) {
            HttpResponse<String> missing = send("GET", endpoints.url() + "/healthz");
            assertThat(missing.statusCode()).isEqualTo(404);
            assertThat(missing.body()).contains("no endpoint /healthz", "/health/ready");
            HttpResponse<String> post = send("POST", endpoints.url() + "/health/ready");
            assertThat(post.statusCode()).isEqualTo(405);
            assertThat(post.headers().firstValue("Allow")).hasValue("GET, HEAD");
        }
    }

    @Test
    void aTakenPortStopsTheMonitorAndTheRebalancerBeforeTheyReachZooKeeper() throws Exception {
        try (ProcessEndpoints taken =
                ProcessEndpoints.start("127.0.0.1", 0, ProcessEndpoints.newRegistry("test"), () -> null)) {
            for (String command : List.of("monitor", "rebalancer")) {
                StringWriter err = new StringWriter();
                CommandLine cli = ShardlineCli.commandLine();
                cli.setErr(new PrintWriter(err));
                long t0 = System.nanoTime();
                // nothing listens on port 1: reaching for ZooKeeper first would fail after its 10 s timeout instead
                int exit = cli.execute(
                        command, "--zk", "127.0.0.1:1", "--name", "x", "--http-port", String.valueOf(taken.port()));
                assertThat(exit).as(command).isEqualTo(1);
                assertThat(err.toString())
                        .as(command)
                        .startsWith("shardline: cannot serve --http-port on 127.0.0.1:" + taken.port() + ": ");
                assertThat(System.nanoTime() - t0).as(command).isLessThan(TimeUnit.SECONDS.toNanos(5));
            }
        }
    }

    @Test
    void aBadOrTakenPortIsNamed() throws Exception {
        assertThatThrownBy(() ->
                        ProcessEndpoints.start("127.0.0.1", 70000, ProcessEndpoints.newRegistry("test"), () -> null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("--http-port must be a port number from 0 to 65535, not 70000");
        try (ProcessEndpoints first =
                ProcessEndpoints.start("127.0.0.1", 0, ProcessEndpoints.newRegistry("test"), () -> null)) {
            assertThatThrownBy(() -> ProcessEndpoints.start(
                            "127.0.0.1", first.port(), ProcessEndpoints.newRegistry("test"), () -> null))
                    .isInstanceOf(java.io.IOException.class)
                    .hasMessageStartingWith("cannot serve --http-port on 127.0.0.1:" + first.port() + ": ");
        }
    }
}
