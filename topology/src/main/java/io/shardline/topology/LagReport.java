package io.shardline.topology;

/**
 * One replica's lag as published to ZooKeeper {@code lag/{node}}.
 *
 * @param lagMs an upper bound on how old the replica's data is, in milliseconds: the time since the monitor sent
 *     the heartbeat visible on the replica, by the monitor's monotonic clock (right when the primary is idle, because
 *     the monitor keeps writing heartbeats); -1 when unknown (replica down, or showing no heartbeat of the monitor)
 * @param lagBytes WAL the replica has not replayed ({@code primary's current LSN - replay LSN}); -1 when unknown
 * @param replayLsn the replica's replay position, {@code X/Y}
 * @param upstream the node it actually streams from (from {@code pg_stat_wal_receiver}), or null
 * @param observedAtMillis when the monitor measured it (epoch milliseconds, the monitor's clock)
 */
public record LagReport(
        String node,
        int shard,
        NodeRole role,
        long lagMs,
        long lagBytes,
        String replayLsn,
        String upstream,
        ReplicaState state,
        long observedAtMillis) {

    /**
     * This report as a router takes it on its arrival at {@code nowMillis} (this host's clock): one dated later (the
     * monitor's clock ahead of this host's) counts as made on arrival, so that its age grows from then on. Dated as it
     * is, it would count as fresh, its lag unaged, for as long as the clocks differ after the monitor stopped.
     */
    public LagReport receivedAt(long nowMillis) {
        if (observedAtMillis <= nowMillis) {
            return this;
        }
        return new LagReport(node, shard, role, lagMs, lagBytes, replayLsn, upstream, state, nowMillis);
    }
}
