package io.shardline.console;

import java.util.Map;
import java.util.stream.Stream;
import org.apache.curator.framework.CuratorFramework;
import org.springframework.boot.health.contributor.CompositeHealthContributor;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthContributor;
import org.springframework.boot.health.contributor.HealthContributors;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * {@code /actuator/health}: {@code zookeeper} (the console's session), {@code monitor} (a replication monitor
 * publishes fresh lag) and {@code shards} with one {@code shard<N>} per shard (its primary answers and is
 * writable). Any of them down makes the console DOWN.
 */
@Configuration
class ConsoleHealth {

    @Bean
    HealthIndicator zookeeper(CuratorFramework curator, ConsoleSettings settings) {
        return () -> {
            boolean connected = curator.getZookeeperClient().isConnected();
            Health.Builder health = connected ? Health.up() : Health.down();
            return health.withDetail("connectString", settings.zk())
                    .withDetail("cluster", settings.cluster())
                    .build();
        };
    }

    @Bean
    HealthIndicator monitor(ClusterView cluster) {
        return () -> {
            Views.ServiceView monitor = cluster.monitor();
            return (monitor.running() ? Health.up() : Health.down())
                    .withDetail("detail", monitor.detail())
                    .build();
        };
    }

    /** One contributor per shard of the current topology (shards added later appear without a restart). */
    @Bean
    CompositeHealthContributor shards(ClusterView cluster) {
        return new CompositeHealthContributor() {
            @Override
            public HealthContributor getContributor(String name) {
                return stream()
                        .filter(e -> e.name().equals(name))
                        .map(HealthContributors.Entry::contributor)
                        .findFirst()
                        .orElse(null);
            }

            @Override
            public Stream<HealthContributors.Entry> stream() {
                Map<Integer, String> details = cluster.primaryDetails();
                return details.entrySet().stream()
                        .map(e -> new HealthContributors.Entry("shard" + e.getKey(), shard(e.getValue())));
            }
        };
    }

    private static HealthIndicator shard(String detail) {
        return () -> (detail.startsWith("ok") ? Health.up() : Health.down())
                .withDetail("primary", detail.startsWith("ok: ") ? detail.substring(4) : detail)
                .build();
    }
}
