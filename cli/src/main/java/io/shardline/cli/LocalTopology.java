package io.shardline.cli;

import io.shardline.compose.ClusterDescriptor;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.Shard;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.curator.framework.CuratorFramework;

/** The initial topology of a local cluster: its shards and nodes, no sharded tables, an even ring. */
final class LocalTopology {
    private LocalTopology() {}

    static ClusterTopology from(ClusterDescriptor d) {
        List<Shard> shards = new ArrayList<>();
        int shardCount = (int) d.nodes().stream()
                .mapToInt(ClusterDescriptor.Node::shard)
                .distinct()
                .count();
        for (int id = 0; id < shardCount; id++) {
            shards.add(shard(d, id));
        }
        return new ClusterTopology(d.name(), 1, d.database(), d.user(), 0, shards, List.of());
    }

    /** Shard {@code id} of a local cluster as the topology describes it. */
    static Shard shard(ClusterDescriptor d, int id) {
        List<Node> nodes = d.shard(id).stream()
                .map(n -> new Node(
                        n.name(),
                        NodeRole.valueOf(n.role().toUpperCase(Locale.ROOT)),
                        n.host(),
                        n.port(),
                        n.upstream()))
                .toList();
        return new Shard(id, nodes);
    }

    /** Writes the topology and an even ring of a freshly started local cluster to its ZooKeeper. */
    static void publish(ClusterDescriptor d) {
        ClusterTopology topology = from(d);
        try (CuratorFramework client = ZooKeeperTopologyStore.newClient(d.zk(), Duration.ofSeconds(10))) {
            ZooKeeperTopologyStore.initialize(
                    client, topology, HashRing.even(topology.shardIds(), HashRing.DEFAULT_RANGES_PER_SHARD));
        }
    }
}
