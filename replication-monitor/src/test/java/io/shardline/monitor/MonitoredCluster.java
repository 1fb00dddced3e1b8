package io.shardline.monitor;

import static org.awaitility.Awaitility.await;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.ReplicaState;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A one-shard local cluster with its topology published and a replication monitor measuring it every
 * 100 ms: what the monitor and driver tests share. Closing it stops the monitor, the driver's runtimes, the
 * ZooKeeper client and the cluster.
 */
final class MonitoredCluster implements AutoCloseable {
    static final Duration INTERVAL = Duration.ofMillis(100);

    final LocalCluster cluster;
    final ZooKeeperTopologyStore store;
    final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final int replicas;
    private ReplicationMonitor monitor;

    private MonitoredCluster(LocalCluster cluster, ZooKeeperTopologyStore store, int replicas) {
        this.cluster = cluster;
        this.store = store;
        this.replicas = replicas;
    }

    /** Starts {@code name} with one shard, {@code hubs} and {@code leaves}, and a monitor on it. */
    static MonitoredCluster start(String name, int hubs, int leaves, List<ShardedTable> tables) {
        LocalCluster cluster = LocalCluster.builder()
                .name(name)
                .shards(1)
                .hubs(hubs)
                .leaves(leaves)
                .start();
        try {
            RouterClusters.publish(cluster, tables);
            ZooKeeperTopologyStore store =
                    ZooKeeperTopologyStore.connect(cluster.zkConnectString(), name, Duration.ofSeconds(10));
            MonitoredCluster monitored = new MonitoredCluster(cluster, store, hubs + leaves);
            monitored.startMonitor();
            return monitored;
        } catch (RuntimeException e) {
            cluster.close();
            throw e;
        }
    }

    /** Starts a new monitor (the previous one stopped) and waits until every replica is measured streaming. */
    void startMonitor() {
        monitor = new ReplicationMonitor(store, INTERVAL, INTERVAL, null, registry);
        monitor.start();
        await().atMost(Duration.ofSeconds(20))
                .until(() -> monitor.reports().size() == replicas
                        && monitor.reports().stream().allMatch(r -> r.state() == ReplicaState.STREAMING));
    }

    ReplicationMonitor monitor() {
        return monitor;
    }

    PgNode node(String name) {
        return cluster.node(name);
    }

    /** Node names by port, to tell from {@code inet_server_port()} which node served a read. */
    Map<Integer, String> nodeByPort() {
        Map<Integer, String> byPort = new HashMap<>();
        for (PgNode node : cluster.shard(0)) {
            byPort.put(node.port(), node.name());
        }
        return byPort;
    }

    @Override
    public void close() {
        ShardlineDriver.closeAll();
        if (monitor != null) {
            monitor.close();
        }
        store.close();
        cluster.close();
    }
}
