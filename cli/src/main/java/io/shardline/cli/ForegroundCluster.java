package io.shardline.cli;

import io.micrometer.core.instrument.Metrics;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.shardline.compose.ClusterDirectory;
import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.console.ConsoleServer;
import io.shardline.console.ConsoleSettings;
import io.shardline.console.ConsoleUsers;
import io.shardline.monitor.ReplicationMonitor;
import io.shardline.rebalancer.Rebalancer;
import io.shardline.topology.ZkCredentials;
import io.shardline.topology.ZooKeeperSecurity;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.curator.framework.CuratorFramework;

/**
 * Runs a local cluster in the foreground until the process is told to stop (Ctrl-C, SIGTERM, or
 * {@code shardline cluster down}): writes the pid file, starts the cluster, publishes {@code cluster.json},
 * prints a summary, waits.
 */
final class ForegroundCluster {
    /** How long the demo's rebalancer may take to park a move when stopped. */
    private static final Duration DRAIN = Duration.ofSeconds(10);

    private final PrintWriter out;
    private final ClusterDirectory dir;
    private final ClusterShape shape;
    private final boolean deleteOnExit;
    private final boolean withServices;
    private final int consolePort;
    private final HttpOptions http;
    private ConsoleServer console;
    private List<ConsoleUsers.Generated> consoleUsers = List.of();

    /**
     * @param deleteOnExit delete the directory when stopped (the demo's temporary one)
     * @param withServices also run the Shardline services (replication monitor, rebalancer, admin console on
     *     {@code consolePort}, or a free port when it is taken) against the cluster
     * @param http the demo's own HTTP endpoints (with services), or null
     */
    ForegroundCluster(
            PrintWriter out,
            ClusterDirectory dir,
            ClusterShape shape,
            boolean deleteOnExit,
            boolean withServices,
            int consolePort,
            HttpOptions http) {
        this.out = out;
        this.dir = dir;
        this.shape = shape;
        this.deleteOnExit = deleteOnExit;
        this.withServices = withServices;
        this.consolePort = consolePort;
        this.http = http;
    }

    /** A service stopped before the cluster, in the reverse order of starting. */
    private record Service(String name, AutoCloseable stop) {}

    int run() throws IOException, InterruptedException {
        if (dir.runningOwner().isPresent()) {
            throw new IllegalArgumentException("a cluster is already running from " + dir.path() + " (pid "
                    + dir.runningOwner().get().pid() + "); stop it with ./shardline cluster down --dir " + dir.path());
        }
        if (dir.holdsClusterData()) {
            out.println("Discarding the stopped cluster's data in " + dir.path() + ".");
            out.flush();
            dir.discardStoppedCluster();
        }
        dir.writeOwnPid();
        long started = System.nanoTime();
        LocalCluster cluster = LocalCluster.builder()
                .name(shape.name)
                .shards(shape.shards)
                .hubs(shape.hubs)
                .leaves(shape.leaves)
                .dir(dir.path())
                .start();
        List<Service> services = new CopyOnWriteArrayList<>();
        AtomicReference<ProcessEndpoints> endpoints = new AtomicReference<>();
        // our hook stops the services first (the workload before what it uses), then the cluster
        cluster.disownShutdown();
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            ProcessEndpoints served = endpoints.get();
                            if (served != null) {
                                served.stopping();
                            }
                            for (int i = services.size() - 1; i >= 0; i--) {
                                Service service = services.get(i);
                                try {
                                    service.stop().close();
                                    System.err.println("shardline: " + service.name() + " stopped");
                                } catch (Exception e) {
                                    System.err.println("shardline: stopping " + service.name() + ": " + e);
                                }
                            }
                            stop(cluster);
                            if (served != null) {
                                served.close();
                            }
                        },
                        "shardline-cluster-stop"));
        // secure by default: the cluster's ZooKeeper data is open to its two identities only
        ZkCommand.Identities ids = ZkCommand.Identities.generate();
        Path credentials = dir.path().resolve(ZkCredentials.FILE);
        ids.write(credentials);
        ZkCredentials.useForThisProcess(ids.admin());
        LocalTopology.publish(cluster.descriptor());
        try (CuratorFramework client =
                ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10), ids.admin())) {
            ZooKeeperSecurity.secure(client, cluster.name(), ids.admin(), ids.router());
        }
        String url = ids.routerUrl(cluster.shardlineUrl());
        ZooKeeperTopologyStore store = null;
        if (withServices) {
            PrometheusMeterRegistry registry =
                    http != null && http.enabled() ? ProcessEndpoints.newRegistry("demo") : null;
            store = ZooKeeperTopologyStore.connect(cluster.zkConnectString(), cluster.name(), Duration.ofSeconds(10));
            services.add(new Service("the ZooKeeper client", store));
            ReplicationMonitor monitor = MonitorCommand.start(store, 100, 200, registry);
            services.add(new Service("the replication monitor", monitor));
            Rebalancer rebalancer;
            try {
                rebalancer = RebalancerCommand.start(store.client(), cluster.name());
            } catch (Exception e) {
                throw new IOException("could not start the rebalancer: " + e.getMessage(), e);
            }
            services.add(new Service("the rebalancer", () -> RebalancerCommand.stop(rebalancer, DRAIN)));
            startConsole(cluster);
            services.add(new Service("the admin console", console));
            if (registry != null) {
                RebalancerCommand.bind(registry, store.client(), cluster.name(), rebalancer);
                // the sample workload's driver registers its meters with the global registry
                Metrics.addRegistry(registry);
                endpoints.set(ProcessEndpoints.start(
                        http.address, http.port, registry, () -> readiness(monitor, rebalancer)));
            }
        }
        cluster.descriptor().withJdbcUrl(url).write(dir.path());
        printSummary(cluster, (System.nanoTime() - started) / 1_000_000, endpoints.get());
        if (store != null) {
            try {
                services.add(new Service("the demo workload", DemoWorkload.start(out, cluster, url, store)));
            } catch (SQLException e) {
                out.println("The sample workload could not start: " + e.getMessage());
                out.flush();
            }
        }
        new CountDownLatch(1).await();
        return 0;
    }

    private ProcessEndpoints.Readiness readiness(ReplicationMonitor monitor, Rebalancer rebalancer) {
        ProcessEndpoints.Readiness m = MonitorCommand.readiness(monitor);
        ProcessEndpoints.Readiness r = RebalancerCommand.readiness(rebalancer);
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("monitor", m.detail());
        details.put("rebalancer", r.detail());
        details.put("console", console.url());
        boolean ready = m.ready() && r.ready();
        String detail = ready
                ? "cluster, monitor, rebalancer and console running"
                : !m.ready() ? "monitor: " + m.detail() : "rebalancer: " + r.detail();
        return new ProcessEndpoints.Readiness(ready, detail, details);
    }

    private void startConsole(LocalCluster cluster) {
        consoleUsers = ConsoleCommand.generateUsers();
        ConsoleSettings settings = ConsoleSettings.of(
                        cluster.zkConnectString(),
                        cluster.name(),
                        consoleUsers.stream().map(ConsoleUsers.Generated::user).toList(),
                        ClusterTarget.password())
                .withPort(consolePort);
        if (!portFree(settings.bindAddress(), consolePort)) {
            out.println("Port " + consolePort + " is taken: the admin console takes a free port.");
            settings = settings.withPort(0);
        }
        console = ConsoleCommand.start(settings);
    }

    private static boolean portFree(String address, int port) {
        try (ServerSocket socket = new ServerSocket(port, 1, InetAddress.getByName(address))) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private void stop(LocalCluster cluster) {
        cluster.close();
        try {
            dir.stopServers(Duration.ofSeconds(30));
            if (deleteOnExit) {
                dir.discardStoppedCluster();
                Files.deleteIfExists(dir.path());
            } else {
                dir.markStopped();
            }
        } catch (IOException e) {
            System.err.println("shardline: could not clean up " + dir.path() + ": " + e.getMessage());
        }
        System.err.println("shardline: local cluster '" + cluster.name() + "' stopped.");
    }

    private void printSummary(LocalCluster cluster, long millis, ProcessEndpoints served) {
        out.printf(
                "Local cluster '%s' is up in %.1f s: %d shard(s), %d PostgreSQL nodes, ZooKeeper at %s%n",
                cluster.name(),
                millis / 1000.0,
                cluster.shardCount(),
                cluster.nodes().size(),
                cluster.zkConnectString());
        out.println();
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            out.println("shard " + shard + ":");
            printTree(cluster.shard(shard), cluster.primary(shard), "  ", "");
        }
        out.println();
        PgNode primary = cluster.primary(0);
        PgNode replica = cluster.shard(0).get(cluster.shard(0).size() - 1);
        out.println("Connect through Shardline (user postgres, no password; ZooKeeper user router, its password in "
                + dir.path().resolve(ZkCredentials.FILE) + " and in cluster.json's jdbcUrl):");
        out.println("  " + cluster.shardlineUrl() + "?zkUser=router&zkPassword=...");
        out.println("Declare a sharded table before creating it through the driver:");
        out.println("  ./shardline table shard users --key user_id --type bigint --dir " + dir.path());
        out.println("Connect to one node directly:");
        out.printf(
                "  psql -h %s -p %d -U postgres %s      # shard 0 primary%n",
                primary.host(), primary.port(), cluster.database());
        out.printf(
                "  psql -h %s -p %d -U postgres %s      # %s (read-only)%n",
                replica.host(), replica.port(), cluster.database(), replica.name());
        out.println();
        if (withServices) {
            out.println("Replication monitor: running (heartbeats every 100 ms; lag published to ZooKeeper)."
                    + " Watch it: ./shardline monitor --dir " + dir.path());
            out.println("Rebalancer: running. Add a shard and move ranges to it while the workload runs:");
            out.println("  ./shardline cluster add-shard --dir " + dir.path()
                    + " && ./shardline move start --wait --dir " + dir.path());
            out.println("Admin console: " + console.url() + "  (users made for this demo:)");
            ConsoleCommand.printUsers(out, consoleUsers);
            out.println("  API: " + console.url() + "/swagger-ui.html   metrics: " + console.url()
                    + "/actuator/prometheus");
            out.println("Sample workload: orders written and read through the driver (table " + DemoWorkload.TABLE
                    + ", sharded by order_id); a line every 10 s below.");
            out.println();
        }
        if (served != null) {
            out.println("HTTP endpoints on " + served.url() + " (/health/live, /health/ready, /metrics)");
        }
        out.println("Cluster descriptor: " + dir.path().resolve("cluster.json"));
        out.println("Server logs:        " + dir.path().resolve("logs"));
        out.println();
        out.println(
                deleteOnExit
                        ? "Press Ctrl-C to stop; the demo's data is deleted then."
                        : "Press Ctrl-C to stop (or: ./shardline cluster down --dir " + dir.path() + ").");
        out.flush();
    }

    private void printTree(List<PgNode> shardNodes, PgNode node, String indent, String branch) {
        out.printf(
                "%-24s %s:%-6d %s%n",
                indent + branch + node.name(),
                node.host(),
                node.port(),
                node.role().jsonName());
        String childIndent = indent + (branch.isEmpty() ? "" : "   ");
        List<PgNode> children = shardNodes.stream()
                .filter(n -> n.upstream().map(u -> u == node).orElse(false))
                .toList();
        for (PgNode child : children) {
            printTree(shardNodes, child, childIndent, "└─ ");
        }
    }
}
