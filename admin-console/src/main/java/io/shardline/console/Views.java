package io.shardline.console;

import java.util.List;

/** What the API returns (as JSON) and the pages show. */
final class Views {
    private Views() {}

    /** The lag thresholds the pages highlight, ms. */
    record Thresholds(long warnMs, long criticalMs) {}

    /** A replica's newest lag; {@code status} is ok, warn, critical, down or unknown. */
    record Lag(
            Long lagMs,
            Long lagBytes,
            String replayLsn,
            String streamsFrom,
            String state,
            long observedAtMillis,
            String status) {}

    /**
     * A node; for a replica its lag, for a primary whether it answers.
     *
     * @param upstream the node it is configured to stream from (the topology's)
     */
    record NodeView(String name, String role, String host, int port, String upstream, Lag lag, String status) {
        /**
         * The node it streams from: the one its lag report names while the report is fresh and the replica up (the
         * WAL receiver's sender, which a re-pointed replica changes), else its configured upstream.
         */
        public String streamsFrom() {
            boolean measured = lag != null
                    && lag.streamsFrom() != null
                    && !"unknown".equals(lag.status())
                    && !"down".equals(lag.status());
            return measured ? lag.streamsFrom() : upstream;
        }
    }

    record ShardView(int id, double share, int ranges, List<NodeView> nodes) {}

    record RouterView(String id, String host, long pid, long ringVersion, List<String> fencesHeld) {}

    /** Whether a service (monitor, rebalancer) runs, and what it says. */
    record ServiceView(boolean running, String detail) {}

    record Topology(
            String cluster,
            String database,
            long topologyVersion,
            long ringVersion,
            List<ShardView> shards,
            List<RouterView> routers,
            ServiceView monitor,
            ServiceView rebalancer,
            Thresholds thresholds,
            MoveView activeMove) {}

    record ReplicaLag(String node, int shard, String role, Lag lag) {}

    record LagList(Thresholds thresholds, List<ReplicaLag> replicas) {}

    /** Points of one replica: seconds since the epoch, lag ms (null: unknown). */
    record LagHistory(String node, List<Long> at, List<Long> lagMs, List<Long> lagBytes) {}

    record TableStats(String table, long rows, long bytes) {}

    /** One shard's ranges and data; rows are PostgreSQL's estimates (exact for tables not analysed yet). */
    record ShardStats(
            int id, List<long[]> ranges, double share, long rows, long bytes, List<TableStats> tables, String error) {}

    /**
     * @param skew rows of the fullest shard over the mean of the shards that own ranges (1.0: even)
     */
    record Shards(long ringVersion, List<ShardStats> shards, double skew, long measuredAtMillis) {}

    record TransferView(int source, int target, int ranges, double share) {}

    record ProgressView(long rowsTotal, long rowsCopied, long lagBytes, long rowsCleaned, long etaSeconds) {}

    /**
     * @param percent how much of the whole move is done, 0-100
     * @param detail the current phase's figures, as a sentence
     * @param abortable whether an abort would still be honoured (before the switch)
     */
    record MoveView(
            String id,
            String state,
            String phase,
            long fromRingVersion,
            long toRingVersion,
            List<TransferView> transfers,
            ProgressView progress,
            int percent,
            String detail,
            String error,
            long startedAtMillis,
            long updatedAtMillis,
            boolean abortable) {}

    record TablePlan(String table, long rows, long bytes, boolean missing) {}

    record TransferPlan(
            int source, int target, List<long[]> ranges, double share, long rows, long bytes, List<TablePlan> tables) {}

    /** What starting a move now would do. */
    record Plan(
            long fromRingVersion,
            long toRingVersion,
            List<Integer> emptyShards,
            List<TransferPlan> transfers,
            long rows,
            long bytes,
            double estimateSeconds,
            boolean rebalancerRunning) {}

    record Started(String id, String message) {}

    record AddedShard(int shard, long topologyVersion, List<NodeView> nodes, List<String> warnings) {}

    /** An error as the API returns it. */
    record Error(int status, String error, String message, String requestId) {}
}
