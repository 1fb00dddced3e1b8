package io.shardline.spring;

import io.shardline.router.ShardlineConnection;
import io.shardline.router.ShardlineConnection.ClusterStatus;
import io.shardline.router.ShardlineConnection.ShardStatus;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.sql.DataSource;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;

/**
 * {@code shardline} in {@code /actuator/health}: the driver's ZooKeeper session, the topology and ring versions, and
 * per shard whether its primary is writable and how many replicas may serve reads. UP when every primary is writable
 * and every shard with replicas has one eligible; DEGRADED when some shard's reads all go to its primary (its
 * replicas are behind, unmeasured or down); DOWN when the session is lost or a primary is not writable.
 */
public class ShardlineHealthIndicator implements HealthIndicator {
    /** Reads served by primaries only: the application works, with less capacity and no replica offload. */
    public static final Status DEGRADED = new Status("DEGRADED", "reads of some shard go to its primary");

    private final ObjectProvider<DataSource> dataSource;

    public ShardlineHealthIndicator(ObjectProvider<DataSource> dataSource) {
        this.dataSource = dataSource;
    }

    @Override
    public Health health() {
        DataSource source = dataSource.getIfUnique();
        if (source == null) {
            return Health.unknown()
                    .withDetail("detail", "no single DataSource bean to ask")
                    .build();
        }
        ClusterStatus status;
        try (Connection c = source.getConnection()) {
            if (!c.isWrapperFor(ShardlineConnection.class)) {
                return Health.unknown()
                        .withDetail("detail", "the data source is not a Shardline one")
                        .build();
            }
            status = c.unwrap(ShardlineConnection.class).clusterStatus();
        } catch (SQLException e) {
            return Health.down().withDetail("error", e.getMessage()).build();
        }
        return health(status);
    }

    /** The health of {@code status} (see the class comment). */
    static Health health(ClusterStatus status) {
        boolean down = Boolean.FALSE.equals(status.zooKeeperConnected());
        boolean degraded = false;
        Map<String, Object> shards = new LinkedHashMap<>();
        for (ShardStatus s : status.shards()) {
            Map<String, Object> shard = new LinkedHashMap<>();
            shard.put("primary", s.primary());
            shard.put("writable", s.primaryWritable());
            if (s.primaryProblem() != null) {
                shard.put("problem", s.primaryProblem());
            }
            shard.put("replicas", s.replicas());
            shard.put("replicasEligible", s.replicasEligible());
            shards.put("shard" + s.shard(), shard);
            down |= !s.primaryWritable();
            degraded |= s.replicas() > 0 && s.replicasEligible() == 0;
        }
        Health.Builder health = down ? Health.down() : degraded ? Health.status(DEGRADED) : Health.up();
        return health.withDetail("cluster", status.cluster())
                .withDetail(
                        "zookeeper",
                        status.zooKeeperConnected() == null
                                ? "none (topology file)"
                                : status.zooKeeperConnected() ? "connected" : "disconnected")
                .withDetail("topologyVersion", status.topologyVersion())
                .withDetail("ringVersion", status.ringVersion())
                .withDetail("shards", shards)
                .build();
    }
}
