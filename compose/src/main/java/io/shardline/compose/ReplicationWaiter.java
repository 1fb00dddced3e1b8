package io.shardline.compose;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Waits until every standby of a cluster replayed what its shard's primary had written, on connections it keeps (one
 * per node, opened on first use) so that waiting after each of many small writes costs no connection set-up: from
 * {@link LocalCluster#replicationWaiter()}; close it when done. Not for concurrent use.
 */
public final class ReplicationWaiter implements AutoCloseable {
    private final LocalCluster cluster;
    private final Map<String, Connection> connections = new HashMap<>();

    ReplicationWaiter(LocalCluster cluster) {
        this.cluster = cluster;
    }

    /**
     * Waits until every standby has replayed all the WAL its shard's primary had written when this was called.
     *
     * @throws LocalClusterException naming the standby that did not catch up within {@code timeout}, or a node that
     *     did not answer
     */
    public void await(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            List<PgNode> nodes = cluster.shard(shard);
            String lsn = query(cluster.primary(shard), "SELECT pg_current_wal_lsn()::text", deadline);
            for (PgNode node : nodes) {
                if (node.role() == NodeRole.PRIMARY) {
                    continue;
                }
                while (!"t".equals(query(node, "SELECT pg_last_wal_replay_lsn() >= '" + lsn + "'::pg_lsn", deadline))) {
                    if (System.nanoTime() > deadline) {
                        throw new LocalClusterException(node.name() + " has not replayed up to " + lsn + " after "
                                + timeout.toSeconds() + " s");
                    }
                    PgNode.pause(Duration.ofMillis(2));
                }
            }
        }
    }

    /**
     * {@code sql}'s answer on {@code node}; after a failure (the node restarted since its connection opened) asked
     * again on a new connection until {@code deadline}.
     */
    private String query(PgNode node, String sql, long deadline) {
        while (true) {
            try {
                return query(node, sql);
            } catch (LocalClusterException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                PgNode.pause(Duration.ofMillis(50));
            }
        }
    }

    private String query(PgNode node, String sql) {
        try {
            Connection c = connections.get(node.name());
            if (c == null) {
                c = node.connect();
                connections.put(node.name(), c);
            }
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery(sql)) {
                return rs.next() ? rs.getString(1) : null;
            }
        } catch (SQLException e) {
            Connection broken = connections.remove(node.name());
            closeQuietly(broken);
            throw new LocalClusterException("on " + node.name() + ": " + sql + ": " + e.getMessage(), e);
        }
    }

    private static void closeQuietly(Connection c) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (SQLException e) {
            // it broke already
        }
    }

    @Override
    public void close() {
        connections.values().forEach(ReplicationWaiter::closeQuietly);
        connections.clear();
    }
}
