package io.shardline.cli;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.shardline.rebalancer.MoveMetrics;
import io.shardline.rebalancer.MoveRunner;
import io.shardline.rebalancer.Rebalancer;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.curator.framework.CuratorFramework;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code shardline rebalancer}: runs the moves started with {@code move start}. */
@Command(
        name = "rebalancer",
        mixinStandardHelpOptions = true,
        description = {
            "Run a rebalancer: of several, one leads and runs the moves started with 'move start'; the others"
                    + " wait and take over (resuming the move where it stopped) when it goes away.",
            "The database password comes from SHARDLINE_PASSWORD or PGPASSWORD. Stops on Ctrl-C."
        })
final class RebalancerCommand implements Callable<Integer> {
    @ArgGroup(exclusive = true, multiplicity = "1")
    ClusterTarget target = new ClusterTarget();

    @Option(
            names = "--delete-rate",
            defaultValue = "20000",
            description = "Rows per second the cleanup deletes from a source after the switch (default:"
                    + " ${DEFAULT-VALUE}); lower it to spare a busy primary and its replicas.")
    double deleteRate;

    @Option(
            names = "--drain-seconds",
            defaultValue = "20",
            description = "On SIGTERM or Ctrl-C, wait this long for the running move to park at a safe point"
                    + " (a cutover in progress finishes first) before stopping; keep it below your supervisor's"
                    + " kill grace period (Kubernetes: 30 s) (default: ${DEFAULT-VALUE}).")
    int drainSeconds;

    @Mixin
    HttpOptions http = new HttpOptions();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (!(deleteRate > 0)) {
            throw new ParameterException(
                    spec.commandLine(), "--delete-rate must be a positive number, not " + deleteRate);
        }
        if (drainSeconds < 0) {
            throw new ParameterException(spec.commandLine(), "--drain-seconds must be 0 or more, not " + drainSeconds);
        }
        PrometheusMeterRegistry registry = http.enabled() ? ProcessEndpoints.newRegistry("rebalancer") : null;
        AtomicReference<Rebalancer> started = new AtomicReference<>();
        // the port first: a port that is taken stops the command before it can win the election
        ProcessEndpoints served = http.serve(registry, started, RebalancerCommand::readiness);
        CuratorFramework client = ZooKeeperTopologyStore.newClient(target.zk(), Duration.ofSeconds(10));
        Rebalancer rebalancer = Rebalancer.forCluster(
                client,
                target.name(),
                ClusterTarget.password(),
                MoveRunner.Settings.DEFAULT.withDeleteRowsPerSecond(deleteRate));
        rebalancer.start();
        started.set(rebalancer);
        if (served != null) {
            bind(registry, client, target.name(), rebalancer);
            out.printf("HTTP endpoints on %s (/health/live, /health/ready, /metrics)%n", served.url());
        }
        Duration drain = Duration.ofSeconds(drainSeconds);
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            if (served != null) {
                                served.stopping();
                            }
                            stop(rebalancer, drain);
                            client.close();
                            if (served != null) {
                                served.close();
                            }
                        },
                        "shardline-rebalancer-stop"));
        out.printf("Rebalancer for cluster %s running (one leads, others wait). Ctrl-C to stop.%n", target.name());
        out.flush();
        new CountDownLatch(1).await();
        return 0;
    }

    static Rebalancer start(CuratorFramework client, String cluster) throws Exception {
        Rebalancer rebalancer = Rebalancer.forCluster(client, cluster, ClusterTarget.password());
        rebalancer.start();
        return rebalancer;
    }

    /** The move gauges of the cluster and {@code shardline.rebalancer.leader} (1 while this one leads). */
    static void bind(MeterRegistry registry, CuratorFramework client, String cluster, Rebalancer rebalancer) {
        MoveMetrics.bind(client, cluster, registry);
        Gauge.builder("shardline.rebalancer.leader", rebalancer, r -> r.isLeader() ? 1 : 0)
                .description("1 while this rebalancer leads (runs the moves)")
                .register(registry);
    }

    /** Drains {@code rebalancer} (its move parks, leadership is released), saying so on standard error. */
    static void stop(Rebalancer rebalancer, Duration drain) {
        try {
            boolean parked = rebalancer.drain(drain);
            System.err.println(
                    parked
                            ? "shardline: rebalancer drained (leadership released)"
                            : "shardline: rebalancer stopped after " + drain.toSeconds()
                                    + " s without parking its move");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            rebalancer.close();
        }
    }

    static ProcessEndpoints.Readiness readiness(Rebalancer rebalancer) {
        Rebalancer.Status s = rebalancer.status();
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("zookeeper", s.connected() ? "connected" : "disconnected");
        details.put("leader", s.leader());
        if (s.move() != null) {
            details.put("move", s.move());
        }
        return new ProcessEndpoints.Readiness(s.ready(), s.detail(), details);
    }
}
