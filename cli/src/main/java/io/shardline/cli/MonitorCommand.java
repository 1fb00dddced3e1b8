package io.shardline.cli;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.shardline.monitor.ReplicationMonitor;
import io.shardline.topology.LagReport;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code shardline monitor}: run a replication monitor in the foreground and show lag per replica. */
@Command(
        name = "monitor",
        mixinStandardHelpOptions = true,
        description = {
            "Run a replication monitor: writes heartbeats on every primary, measures lag on every replica and"
                    + " publishes it to ZooKeeper (one monitor of several publishes).",
            "Prints lag per replica every --print-every seconds. The database password comes from"
                    + " SHARDLINE_PASSWORD or PGPASSWORD. Stops on Ctrl-C."
        })
final class MonitorCommand implements Callable<Integer> {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss");

    @ArgGroup(exclusive = true, multiplicity = "1")
    ClusterTarget target = new ClusterTarget();

    @Option(
            names = "--heartbeat-ms",
            defaultValue = "100",
            description = "Heartbeat interval (default: ${DEFAULT-VALUE}).")
    int heartbeatMs;

    @Option(
            names = "--sample-ms",
            defaultValue = "200",
            description = "Lag sampling interval (default: ${DEFAULT-VALUE}).")
    int sampleMs;

    @Option(
            names = "--print-every",
            defaultValue = "2",
            description = "Seconds between tables; 0: never (default: ${DEFAULT-VALUE}).")
    int printEvery;

    @Mixin
    HttpOptions http = new HttpOptions();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrometheusMeterRegistry registry = http.enabled() ? ProcessEndpoints.newRegistry("monitor") : null;
        AtomicReference<ReplicationMonitor> started = new AtomicReference<>();
        // the port first: a port that is taken stops the command before it joins the election
        ProcessEndpoints served = http.serve(registry, started, MonitorCommand::readiness);
        ZooKeeperTopologyStore store =
                ZooKeeperTopologyStore.connect(target.zk(), target.name(), Duration.ofSeconds(10));
        ReplicationMonitor monitor = start(store, heartbeatMs, sampleMs, registry);
        started.set(monitor);
        if (served != null) {
            out.printf("HTTP endpoints on %s (/health/live, /health/ready, /metrics)%n", served.url());
        }
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            if (served != null) {
                                served.stopping();
                            }
                            boolean led = monitor.isLeader();
                            monitor.close();
                            store.close();
                            if (served != null) {
                                served.close();
                            }
                            System.err.println("shardline: monitor stopped"
                                    + (led ? " (leadership released: a standby monitor publishes now)" : ""));
                        },
                        "shardline-monitor-stop"));
        out.printf("Monitoring cluster %s (heartbeat every %d ms). Ctrl-C to stop.%n", target.name(), heartbeatMs);
        out.flush();
        while (true) {
            Thread.sleep(Math.max(1, printEvery) * 1000L);
            if (printEvery > 0) {
                print(out, monitor);
            }
        }
    }

    /**
     * Starts a monitor; with a {@code registry}, its lag and shard gauges go there, with
     * {@code shardline.monitor.leader} (1 while it publishes).
     */
    static ReplicationMonitor start(
            ZooKeeperTopologyStore store, int heartbeatMs, int sampleMs, MeterRegistry registry) {
        String password = ClusterTarget.password();
        ReplicationMonitor monitor = new ReplicationMonitor(
                store, Duration.ofMillis(heartbeatMs), Duration.ofMillis(sampleMs), password, registry);
        monitor.start();
        if (registry != null) {
            Gauge.builder("shardline.monitor.leader", monitor, m -> m.isLeader() ? 1 : 0)
                    .description("1 while this replication monitor publishes the cluster's lag reports")
                    .register(registry);
        }
        return monitor;
    }

    static ProcessEndpoints.Readiness readiness(ReplicationMonitor monitor) {
        ReplicationMonitor.Status s = monitor.status();
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("zookeeper", s.connected() ? "connected" : "disconnected");
        details.put("leader", s.leader());
        details.put("lastPublishAgeMs", s.lastPublishAgeMs());
        return new ProcessEndpoints.Readiness(s.ready(), s.detail(), details);
    }

    static void print(PrintWriter out, ReplicationMonitor monitor) {
        List<LagReport> reports = monitor.reports().stream()
                .sorted(Comparator.comparing(LagReport::shard).thenComparing(LagReport::node))
                .toList();
        out.printf("%n%s  %s%n", LocalTime.now().format(TIME), monitor.isLeader() ? "(publishing)" : "(standby)");
        out.printf(
                "%-12s %5s %-5s %-12s %-13s %9s %12s%n",
                "replica", "shard", "role", "upstream", "state", "lag ms", "lag bytes");
        for (LagReport r : reports) {
            out.printf(
                    "%-12s %5d %-5s %-12s %-13s %9s %12s%n",
                    r.node(),
                    r.shard(),
                    r.role().name().toLowerCase(),
                    r.upstream() == null ? "-" : r.upstream(),
                    r.state().name().toLowerCase(),
                    r.lagMs() < 0 ? "?" : r.lagMs(),
                    r.lagBytes() < 0 ? "?" : r.lagBytes());
        }
        out.flush();
    }
}
