package io.shardline.topology;

import java.util.Objects;

/** The topology and the ring as seen at one moment; immutable, so the router reads it without locks. */
public record TopologySnapshot(ClusterTopology topology, HashRing ring) {
    public TopologySnapshot {
        Objects.requireNonNull(topology, "topology");
        Objects.requireNonNull(ring, "ring");
        for (int shard : ring.shards()) {
            topology.shard(shard);
        }
    }
}
