package io.shardline.console;

import io.micrometer.core.instrument.MeterRegistry;
import io.shardline.rebalancer.MoveMetrics;
import io.shardline.topology.ZooKeeperLagWatcher;
import io.shardline.topology.ZooKeeperMoveWatcher;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.time.Duration;
import org.apache.curator.framework.CuratorFramework;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.ComponentScan;

/**
 * The console's Spring configuration: one ZooKeeper session for the cluster, the watches on its topology, lag and
 * moves, and the move gauges. Started by {@link ConsoleServer}, which registers the {@link ConsoleSettings}.
 */
@SpringBootConfiguration
@EnableAutoConfiguration
@ComponentScan
class ConsoleApplication {

    @Bean(destroyMethod = "close")
    CuratorFramework curator(ConsoleSettings settings) {
        return ZooKeeperTopologyStore.newClient(settings.zk(), Duration.ofSeconds(10));
    }

    @Bean(destroyMethod = "close")
    ZooKeeperTopologyStore topologyStore(CuratorFramework curator, ConsoleSettings settings) {
        ZooKeeperTopologyStore store = new ZooKeeperTopologyStore(curator, settings.cluster());
        store.start();
        return store;
    }

    @Bean(destroyMethod = "close")
    ZooKeeperLagWatcher lagWatcher(CuratorFramework curator, ConsoleSettings settings) {
        ZooKeeperLagWatcher watcher = new ZooKeeperLagWatcher(curator, settings.cluster());
        watcher.start();
        return watcher;
    }

    @Bean(destroyMethod = "close")
    ZooKeeperMoveWatcher moveWatcher(CuratorFramework curator, ConsoleSettings settings) {
        ZooKeeperMoveWatcher watcher = new ZooKeeperMoveWatcher(curator, settings.cluster(), () -> {});
        watcher.start();
        return watcher;
    }

    @Bean(destroyMethod = "close")
    MoveMetrics moveMetrics(CuratorFramework curator, ConsoleSettings settings, MeterRegistry registry) {
        return MoveMetrics.bind(curator, settings.cluster(), registry);
    }
}
