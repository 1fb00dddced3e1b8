package io.shardline.console;

import io.shardline.rebalancer.MoveException;
import io.shardline.rebalancer.Rebalancer;
import io.shardline.rebalancer.ShardRegistrar;
import io.shardline.rebalancer.Switchover;
import java.util.List;
import org.apache.curator.framework.CuratorFramework;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Service;

/**
 * Adds shards run elsewhere, switches a shard's primary over and fails a dead one over, as {@code ./shardline shard
 * add | switchover | failover} do.
 */
@Service
final class ShardService {
    private final CuratorFramework curator;
    private final ClusterView cluster;
    private final ConsoleSettings settings;

    ShardService(CuratorFramework curator, ClusterView cluster, ConsoleSettings settings) {
        this.curator = curator;
        this.cluster = cluster;
        this.settings = settings;
    }

    /** A switchover ({@code failover} false) or failover of {@code shard}'s primary to {@code to} (null: chosen). */
    Switchover.Result changePrimary(int shard, String to, boolean failover) {
        Switchover change = new Switchover(
                curator,
                settings.cluster(),
                Rebalancer.connector(cluster.snapshot().topology(), settings.dbPassword(), "shardline-console"),
                Switchover.Settings.DEFAULT);
        try {
            return failover ? change.failover(shard, to) : change.run(shard, to);
        } catch (MoveException e) {
            throw new ConsoleException(HttpStatus.CONFLICT, e.getMessage(), e);
        }
    }

    Views.AddedShard add(String primary, List<String> replicas) {
        ShardRegistrar.Registered r;
        try {
            r = ShardRegistrar.register(curator, settings.cluster(), primary, replicas, null, settings.dbPassword());
        } catch (IllegalArgumentException e) {
            throw new ConsoleException(HttpStatus.UNPROCESSABLE_CONTENT, e.getMessage(), e);
        }
        return new Views.AddedShard(
                r.shard(),
                r.topologyVersion(),
                r.nodes().stream()
                        .map(n -> new Views.NodeView(
                                n.name(),
                                ClusterView.role(n.role()),
                                n.host(),
                                n.port(),
                                n.upstream(),
                                null,
                                "unknown"))
                        .toList(),
                r.warnings());
    }
}
