package io.shardline.router.exec;

import io.shardline.router.ShardlineProperty;
import io.shardline.router.SqlStates;
import java.sql.SQLException;
import java.util.Map;
import java.util.Properties;

/**
 * The connection properties a cluster runtime and its sessions follow, parsed and checked once per runtime.
 *
 * @param maxStalenessMs the staleness bound of new connections; negative: unbounded
 * @param fallbackToPrimary whether a read with no replica within its bound goes to the primary (else it fails)
 * @param readYourWrites whether sessions keep causal tokens of their writes
 * @param rywWaitMs how long a read may poll a replica for the session's writes before going to the primary
 * @param fenceWaitMs how long a write to a moving range waits for a cutover
 * @param twoPhaseCommit whether a transaction may write on several shards (two-phase commit)
 * @param crossShardMaxRows how many rows the shards may return for one cross-shard read
 * @param atomicCrossShard whether cross-shard reads see multi-shard transactions whole (on the primaries)
 * @param weights node name to relative share of reads; unlisted replicas weigh 1
 * @param connectTimeoutMs how long to wait for ZooKeeper at connect and for a connection to a node
 * @param poolSize the most physical connections per node
 * @param idleCloseMs how long a runtime outlives its last logical connection
 * @param metrics whether the driver registers its meters (with Micrometer, when present)
 * @param tracing whether the driver makes spans (with OpenTelemetry, when present)
 * @param traceQueryText whether spans carry the statement's text, literals removed
 */
public record RuntimeSettings(
        boolean readFromPrimary,
        int analysisCacheSize,
        long maxStalenessMs,
        boolean fallbackToPrimary,
        long lagFreshnessMs,
        boolean readYourWrites,
        long rywWaitMs,
        long fenceWaitMs,
        boolean twoPhaseCommit,
        int crossShardMaxRows,
        boolean atomicCrossShard,
        Map<String, Integer> weights,
        int connectTimeoutMs,
        int poolSize,
        long idleCloseMs,
        boolean metrics,
        boolean tracing,
        boolean traceQueryText) {

    public RuntimeSettings {
        weights = Map.copyOf(weights);
    }

    /** @throws SQLException (22023) naming the first bad property */
    static RuntimeSettings from(Properties props) throws SQLException {
        long maxStalenessMs = ShardlineProperty.MAX_STALENESS_MS.getLong(props);
        if (maxStalenessMs < -1) {
            throw new SQLException(
                    "property maxStalenessMs must be -1 (unbounded) or a number of ms >= 0, not " + maxStalenessMs,
                    SqlStates.INVALID_PARAMETER);
        }
        return new RuntimeSettings(
                ShardlineProperty.READ_FROM.get(props).equalsIgnoreCase("primary"),
                ShardlineProperty.ANALYSIS_CACHE_SIZE.getPositiveInt(props),
                maxStalenessMs,
                ShardlineProperty.FALLBACK.get(props).equalsIgnoreCase("primary"),
                ShardlineProperty.LAG_FRESHNESS_MS.getPositiveInt(props),
                ShardlineProperty.READ_YOUR_WRITES.getBoolean(props),
                ShardlineProperty.RYW_WAIT_MS.getNonNegativeLong(props),
                ShardlineProperty.FENCE_WAIT_MS.getNonNegativeLong(props),
                ShardlineProperty.TWO_PHASE_COMMIT.getBoolean(props),
                ShardlineProperty.CROSS_SHARD_MAX_ROWS.getPositiveInt(props),
                ShardlineProperty.CROSS_SHARD_CONSISTENCY.get(props).equalsIgnoreCase("atomic"),
                ShardlineProperty.replicaWeights(props),
                ShardlineProperty.CONNECT_TIMEOUT_MS.getPositiveInt(props),
                ShardlineProperty.POOL_SIZE.getPositiveInt(props),
                ShardlineProperty.IDLE_CLOSE_MS.getNonNegativeLong(props),
                ShardlineProperty.METRICS.getBoolean(props),
                ShardlineProperty.TRACING.getBoolean(props),
                ShardlineProperty.TRACE_QUERY_TEXT.getBoolean(props));
    }
}
