package io.shardline.topology;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;
import java.util.Optional;

/**
 * A shard: one primary and its replicas (hubs and leaves).
 *
 * @param id 0 or more; the ring maps hash ranges to these ids
 * @param switchover while a primary switchover runs, its id: every router holds the writes of this shard (and
 *     acknowledges it in {@code routers/}) until a topology without it names the new primary; null otherwise (and
 *     then not stored, so that routers of earlier versions read the topology)
 */
public record Shard(
        int id,
        List<Node> nodes,
        @JsonInclude(JsonInclude.Include.NON_NULL) String switchover) {
    /** A shard no switchover holds. */
    public Shard(int id, List<Node> nodes) {
        this(id, nodes, null);
    }

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

    /** How the id of a failover's hold begins (a planned switchover's does not). */
    public static final String FAILOVER_MARK = "failover-";

    /**
     * Whether the hold on this shard is a failover's: its primary is taken for dead but may only be stalled, so the
     * routers cut their connections to it before they acknowledge (nothing they sent it may complete later).
     */
    @JsonIgnore
    public boolean failingOver() {
        return switchover != null && switchover.startsWith(FAILOVER_MARK);
    }

    /** This shard with its writes held by switchover {@code id} (null: released). */
    public Shard withSwitchover(String id) {
        return new Shard(this.id, nodes, id);
    }

    /** The node named {@code name}, if it is one of this shard's. */
    public Optional<Node> node(String name) {
        return nodes.stream().filter(n -> n.name().equals(name)).findFirst();
    }

    /** The replicas, hubs and leaves, in declaration order. */
    @JsonIgnore
    public List<Node> replicas() {
        return nodes.stream().filter(n -> n.role().isReplica()).toList();
    }
}
