package io.shardline.topology;

import java.util.Objects;

/**
 * One PostgreSQL server of a shard. No credentials: passwords come from the router's own configuration.
 *
 * @param name unique in the cluster, e.g. {@code s0-hub1}
 * @param upstream the node it streams from as configured; {@code null} for a primary
 */
public record Node(String name, NodeRole role, String host, int port, String upstream) {
    public Node {
        Objects.requireNonNull(name, "node name");
        Objects.requireNonNull(role, "node role of " + name);
        Objects.requireNonNull(host, "host of " + name);
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port of node " + name + " must be 1-65535, not " + port);
        }
        if ((role == NodeRole.PRIMARY) != (upstream == null)) {
            throw new IllegalArgumentException("node " + name + ": a primary has no upstream, a replica has one");
        }
    }

    /** {@code host:port}. */
    public String address() {
        return host + ":" + port;
    }
}
