package io.shardline.topology;

/**
 * One replica's lag as published to ZooKeeper {@code lag/{node}}.
 *
 * @param lagMs the primary's newest heartbeat minus the newest heartbeat visible on the replica: right when the
 *     primary is idle, because the monitor keeps writing heartbeats; -1 when unknown (replica down)
 * @param lagBytes WAL the replica has not replayed ({@code primary's current LSN - replay LSN}); -1 when unknown
 * @param replayLsn the replica's replay position, {@code X/Y}
 * @param upstream the node it actually streams from (from {@code pg_stat_wal_receiver}), or null
 * @param observedAtMillis when the monitor measured it (epoch milliseconds)
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
        long observedAtMillis) {}
