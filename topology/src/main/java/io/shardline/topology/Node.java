package io.shardline.topology;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * One PostgreSQL server of a shard. No credentials: passwords come from the router's own configuration.
 *
 * @param name unique in the cluster, e.g. {@code s0-hub1}
 * @param upstream the node it streams from as configured; {@code null} for a primary
 */
public record Node(String name, NodeRole role, String host, int port, String upstream) {
    /** A host name, an IPv4 address, or an IPv6 address in brackets: nothing that could add to a URL. */
    private static final Pattern HOST = Pattern.compile("[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\\[[0-9A-Fa-f:.]{2,45}]");

    public Node {
        Objects.requireNonNull(name, "node name");
        Objects.requireNonNull(role, "node role of " + name);
        Objects.requireNonNull(host, "host of " + name);
        checkHost("host of node " + name, host);
        ClusterTopology.checkPlain("node name", name);
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port of node " + name + " must be 1-65535, not " + port);
        }
        if ((role == NodeRole.PRIMARY) != (upstream == null)) {
            throw new IllegalArgumentException("node " + name + ": a primary has no upstream, a replica has one");
        }
    }

    /**
     * Refuses a host that is not a host name, an IPv4 address or an IPv6 address in brackets (checked before a
     * connection URL is made of it: {@code host:5432/db?sslmode=disable&x=} would add to the URL).
     *
     * @param what what the host is, for the message
     */
    public static void checkHost(String what, String host) {
        if (host == null || !HOST.matcher(host).matches()) {
            throw new IllegalArgumentException(what + " must be a host name, an IPv4 address or an IPv6 address in"
                    + " brackets, not '" + host + "'");
        }
    }

    /** {@code host:port}. */
    public String address() {
        return host + ":" + port;
    }
}
