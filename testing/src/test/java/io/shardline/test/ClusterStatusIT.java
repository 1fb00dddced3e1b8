package io.shardline.test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.shardline.router.ShardlineConnection;
import io.shardline.router.ShardlineConnection.ClusterStatus;
import io.shardline.router.ShardlineConnection.ShardStatus;
import java.sql.Connection;
import java.time.Duration;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;

/**
 * {@link ShardlineConnection#clusterStatus()}, what health checks show: a replica whose replay is paused stops
 * counting as eligible once its lag passes the bound, and a killed primary is reported not writable with the reason.
 */
@ShardlineCluster(shards = 2, hubs = 1, leaves = 0)
class ClusterStatusIT {
    private static ClusterStatus status(DataSource db) throws Exception {
        try (Connection c = db.getConnection()) {
            return c.unwrap(ShardlineConnection.class).clusterStatus();
        }
    }

    private static ShardStatus shard(ClusterStatus status, int shard) {
        return status.shards().stream()
                .filter(s -> s.shard() == shard)
                .findFirst()
                .orElseThrow();
    }

    @Test
    void showsTheSessionTheVersionsAndEachShardsPrimaryAndEligibleReplicas(ShardlineTestCluster cluster)
            throws Exception {
        DataSource db = cluster.dataSource();
        ClusterStatus healthy = status(db);
        assertThat(healthy.cluster()).isEqualTo(cluster.local().name());
        assertThat(healthy.zooKeeperConnected()).isTrue();
        assertThat(healthy.topologyVersion()).isPositive();
        assertThat(healthy.shards())
                .extracting(
                        ShardStatus::shard, ShardStatus::primary, ShardStatus::primaryWritable, ShardStatus::replicas)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple(0, "s0-primary", true, 1),
                        org.assertj.core.groups.Tuple.tuple(1, "s1-primary", true, 1));
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(status(db).shards())
                        .allSatisfy(s -> assertThat(s.replicasEligible()).isEqualTo(1)));

        cluster.node("s0-hub1").pauseReplay();
        try {
            // the monitor's heartbeats write WAL the paused hub does not replay: its lag passes the 1 s bound
            await().atMost(Duration.ofSeconds(15))
                    .untilAsserted(() ->
                            assertThat(shard(status(db), 0).replicasEligible()).isZero());
            assertThat(shard(status(db), 1).replicasEligible()).isEqualTo(1);
        } finally {
            cluster.node("s0-hub1").resumeReplay();
        }
        await().atMost(Duration.ofSeconds(15))
                .untilAsserted(() ->
                        assertThat(shard(status(db), 0).replicasEligible()).isEqualTo(1));

        cluster.primary(1).kill();
        try {
            ShardStatus down = shard(status(db), 1);
            assertThat(down.primaryWritable()).isFalse();
            assertThat(down.primaryProblem()).contains("s1-primary");
            assertThat(shard(status(db), 0).primaryWritable()).isTrue();
        } finally {
            cluster.primary(1).start();
        }
        await().atMost(Duration.ofSeconds(15))
                .untilAsserted(
                        () -> assertThat(shard(status(db), 1).primaryWritable()).isTrue());
    }
}
