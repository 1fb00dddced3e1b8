package io.shardline.router.jdbc;

import io.shardline.topology.Node;
import java.sql.Connection;

/** A physical connection a logical connection holds to one node, with the session state it has applied. */
public final class Physical {
    final Node node;
    final int shard;
    final Connection connection;
    /** The {@link SessionState} version applied on this connection. */
    int sessionVersion;

    Physical(Node node, int shard, Connection connection) {
        this.node = node;
        this.shard = shard;
        this.connection = connection;
    }

    public Node node() {
        return node;
    }

    public int shard() {
        return shard;
    }

    public Connection connection() {
        return connection;
    }
}
