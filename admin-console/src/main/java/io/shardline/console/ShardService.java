package io.shardline.console;

import io.shardline.rebalancer.ShardRegistrar;
import java.util.List;
import org.apache.curator.framework.CuratorFramework;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Service;

/** Adds shards run elsewhere, as {@code ./shardline shard add} does. */
@Service
final class ShardService {
    private final CuratorFramework curator;
    private final ConsoleSettings settings;

    ShardService(CuratorFramework curator, ConsoleSettings settings) {
        this.curator = curator;
        this.settings = settings;
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
