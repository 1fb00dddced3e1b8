package io.shardline.cli;

import static io.shardline.cli.ShardlineProcess.awaitOutput;
import static io.shardline.cli.ShardlineProcess.awaitStatus;
import static io.shardline.cli.ShardlineProcess.get;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.shardline.router.metrics.Meters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code ./shardline demo --http-port 0} in a JVM of its own, stopped by SIGTERM: readiness turns 503 at once,
 * then the workload stops before the console, the console before the rebalancer, the rebalancer before the
 * monitor, and all of them before the cluster; no pool complains about a server gone, and it ends in bounded time.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class DemoShutdownIT {
    @Test
    void sigtermStopsTheServicesInOrderBeforeTheCluster() throws Exception {
        Path dir = Files.createTempDirectory("shardline-demo-it-");
        dir.toFile().setExecutable(true, false);
        dir.toFile().setReadable(true, false);
        try (ShardlineProcess demo = new ShardlineProcess(
                "demo",
                "--dir",
                dir.toString(),
                "--name",
                "sigterm",
                "--shards",
                "1",
                "--leaves",
                "0",
                "--console-port",
                "0",
                "--http-port",
                "0")) {
            String url = demo.url();
            awaitStatus(url + "/health/ready", 200);
            assertThat(get(url + "/health/ready").body())
                    .contains("\"detail\":\"cluster, monitor, rebalancer and console running\"");
            // the workload's driver meters reach the demo's /metrics
            await().atMost(Duration.ofSeconds(30))
                    .untilAsserted(() -> assertThat(get(url + "/metrics").body())
                            .contains("shardline_statements_seconds_count{")
                            .contains("shardline_monitor_leader{process=\"demo\"} 1.0")
                            .contains("shardline_rebalancer_leader{process=\"demo\"} 1.0"));

            // every metric the alert rules and the dashboard query: a driver meter, or in the demo's scrape
            String scrape = get(url + "/metrics").body();
            assertThat(MonitoringFiles.metricNames())
                    .hasSizeGreaterThan(20)
                    .allSatisfy(name -> assertThat(Meters.exports(name) || scrape.contains("\n" + name + "{"))
                            .as("%s is exported", name)
                            .isTrue());

            long t0 = System.nanoTime();
            demo.terminate();
            await().atMost(Duration.ofSeconds(5))
                    .pollInterval(Duration.ofMillis(20))
                    .until(() -> get(url + "/health/ready").statusCode() == 503);
            assertThat(demo.process.waitFor(90, TimeUnit.SECONDS))
                    .as("the demo stops within 90 s")
                    .isTrue();
            System.out.printf("demo stopped %d ms after SIGTERM%n", (System.nanoTime() - t0) / 1_000_000);
            awaitOutput(demo.err, "shardline: local cluster 'sigterm' stopped.");
            String err = demo.err.toString();
            List<String> order = List.of(
                    "shardline: the demo workload stopped",
                    "shardline: the admin console stopped",
                    "shardline: the rebalancer stopped",
                    "shardline: the replication monitor stopped",
                    "shardline: the ZooKeeper client stopped",
                    "shardline: local cluster 'sigterm' stopped.");
            int at = -1;
            for (String line : order) {
                int next = err.indexOf(line);
                assertThat(next)
                        .as("'%s' after the one before, in:%n%s", line, err)
                        .isGreaterThan(at);
                at = next;
            }
            assertThat(err)
                    .as("nothing complains about a server that went away")
                    .doesNotContain("HikariPool")
                    .doesNotContain("Exception")
                    .doesNotContain("stopping the");
        } finally {
            try (var paths = Files.walk(dir)) {
                paths.sorted(java.util.Comparator.reverseOrder())
                        .forEach(p -> p.toFile().delete());
            }
        }
    }
}
