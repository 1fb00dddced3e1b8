package io.shardline.topology;

import com.fasterxml.jackson.annotation.JsonIgnore;
import java.util.List;

/**
 * A shard: one primary and its replicas (hubs and leaves).
 *
 * @param id 0 or more; the ring maps hash ranges to these ids
 */
public record Shard(int id, List<Node> nodes) {
    public Shard {
        nodes = List.copyOf(nodes);
        long primaries =
                nodes.stream().filter(n -> n.role() == NodeRole.PRIMARY).count();
        if (primaries != 1) {
            throw new IllegalArgumentException("shard " + id + " must have exactly one primary, not " + primaries);
        }
    }

    /** The primary. */
    @JsonIgnore
    public Node primary() {
        return nodes.stream()
                .filter(n -> n.role() == NodeRole.PRIMARY)
                .findFirst()
                .orElseThrow();
    }

    /** The replicas, hubs and leaves, in declaration order. */
    @JsonIgnore
    public List<Node> replicas() {
        return nodes.stream().filter(n -> n.role().isReplica()).toList();
    }
}
