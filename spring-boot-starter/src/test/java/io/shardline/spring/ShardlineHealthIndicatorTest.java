package io.shardline.spring;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.router.ShardlineConnection.ClusterStatus;
import io.shardline.router.ShardlineConnection.ShardStatus;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.Status;

/** How the driver's view of the cluster maps to UP, DEGRADED and DOWN. */
class ShardlineHealthIndicatorTest {
    private static final ShardStatus FINE = new ShardStatus(0, "s0-primary", true, null, 2, 2);

    private static Health health(Boolean zooKeeper, ShardStatus... shards) {
        return ShardlineHealthIndicator.health(new ClusterStatus("c", zooKeeper, 3, 7, List.of(shards)));
    }

    @Test
    void upWhenEveryPrimaryIsWritableAndEveryShardHasAReplicaToRead() {
        Health health = health(true, FINE, new ShardStatus(1, "s1-primary", true, null, 0, 0));
        assertThat(health.getStatus()).isEqualTo(Status.UP);
        assertThat(health.getDetails())
                .containsEntry("cluster", "c")
                .containsEntry("zookeeper", "connected")
                .containsEntry("topologyVersion", 3L)
                .containsEntry("ringVersion", 7L);
        @SuppressWarnings("unchecked")
        Map<String, Object> shard0 =
                (Map<String, Object>) ((Map<String, Object>) health.getDetails().get("shards")).get("shard0");
        assertThat(shard0)
                .containsEntry("primary", "s0-primary")
                .containsEntry("writable", true)
                .containsEntry("replicas", 2)
                .containsEntry("replicasEligible", 2)
                .doesNotContainKey("problem");
    }

    @Test
    void degradedWhenAShardsReadsAllGoToItsPrimary() {
        assertThat(health(true, FINE, new ShardStatus(1, "s1-primary", true, null, 2, 0))
                        .getStatus())
                .isEqualTo(ShardlineHealthIndicator.DEGRADED);
    }

    @Test
    void downWhenAPrimaryIsNotWritableOrTheSessionIsLost() {
        Health primary = health(true, FINE, new ShardStatus(1, "s1-primary", false, "in recovery", 2, 0));
        assertThat(primary.getStatus()).isEqualTo(Status.DOWN);
        assertThat(primary.getDetails().get("shards").toString()).contains("problem=in recovery");
        assertThat(health(false, FINE).getStatus()).isEqualTo(Status.DOWN);
        assertThat(health(null, FINE).getDetails()).containsEntry("zookeeper", "none (topology file)");
    }
}
