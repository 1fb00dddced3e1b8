package io.shardline.router;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;

/**
 * What a {@code jdbc:shardline:} connection offers beyond {@link Connection}; get it with
 * {@code connection.unwrap(ShardlineConnection.class)}.
 */
public interface ShardlineConnection extends Connection {

    /**
     * Binds this connection to the primary of the shard owning {@code key} in {@code table}: every statement
     * runs there until {@link #unbind()}, and {@code unwrap(PGConnection.class)} gives that node's pgjdbc
     * connection (for COPY, LISTEN/NOTIFY, large objects).
     *
     * <pre>{@code
     * ShardlineConnection c = connection.unwrap(ShardlineConnection.class).forKey("users", 42L);
     * new CopyManager(c.unwrap(BaseConnection.class)).copyIn("COPY users FROM STDIN", in);
     * c.unbind();
     * }</pre>
     *
     * @throws SQLException 0A000 when the table is not sharded; 25000 inside a transaction on another shard
     */
    ShardlineConnection forKey(String table, Object key) throws SQLException;

    /** Ends a {@link #forKey} binding; statements are routed one by one again. */
    void unbind() throws SQLException;

    /**
     * This session's writes as text, e.g. {@code demo@0=0/3000060}: per shard, a WAL position at or after its
     * last commit there. Another connection (of this or another process) that runs
     * {@code SET shardline.causal_token = '<token>'} reads only from replicas that have replayed those writes.
     * Empty ({@code demo@}) before the first write, or with {@code readYourWrites=false}.
     */
    String causalToken() throws SQLException;

    /**
     * Where {@code sql} would run with these parameter values, without running it: one row per target node
     * with the reason (key value and hash, role chosen, or why it is refused).
     */
    List<RouteExplanation> explainRoute(String sql, Object... parameters) throws SQLException;

    /**
     * One target of a statement.
     *
     * @param shard the shard, or -1 when refused
     * @param node the node's name, or null when refused
     * @param role {@code primary}, {@code hub} or {@code leaf}; null when refused
     * @param reason why this node (or why the statement is refused)
     */
    record RouteExplanation(int shard, String node, String role, String reason) {}

    /**
     * The cluster as this connection's driver runtime sees it, for health checks: its ZooKeeper session, the topology
     * and ring versions it routes by, and per shard whether the primary answers as a writable primary (a fresh
     * connection and {@code SELECT pg_is_in_recovery()}, 2 s at most) and how many replicas may serve reads within
     * the connection's default staleness bound now.
     */
    ClusterStatus clusterStatus() throws SQLException;

    /**
     * @param zooKeeperConnected whether the runtime's ZooKeeper session is connected; null with a static topology file
     */
    record ClusterStatus(
            String cluster,
            Boolean zooKeeperConnected,
            long topologyVersion,
            long ringVersion,
            List<ShardStatus> shards) {}

    /**
     * @param primaryProblem why the primary is not writable (unreachable, in recovery), or null when it is
     * @param replicasEligible replicas that may serve a read within {@code maxStalenessMs} now: measured recently
     *     enough, within the bound, not ejected
     */
    record ShardStatus(
            int shard,
            String primary,
            boolean primaryWritable,
            String primaryProblem,
            int replicas,
            int replicasEligible) {}
}
