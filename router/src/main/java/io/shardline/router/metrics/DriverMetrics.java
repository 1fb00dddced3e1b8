package io.shardline.router.metrics;

import com.zaxxer.hikari.HikariConfig;
import io.shardline.router.sql.StatementKind;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;

/**
 * What the driver counts and times: statements by kind, route, shard and role; reads that fell back to the primary
 * and why; read-your-writes waits; fence waits; retries; replica ejections and probes; two-phase commits and in-doubt
 * recoveries; rows shipped by cross-shard reads; the node pools. {@link #NOOP} when Micrometer is not on the class
 * path or {@code metrics=off}; else {@link MicrometerMetrics}. Every call is cheap: the statement path allocates
 * nothing once its meters exist.
 */
public interface DriverMetrics {
    /** Where a statement ran, as a low-cardinality tag. */
    enum RouteKind {
        REPLICA,
        PRIMARY,
        EVERY_SHARD,
        CROSS_SHARD,
        DRIVER,
        REFUSED
    }

    /** Why a read that a replica could have served went to the primary. */
    enum Fallback {
        /** The shard has no replica. */
        NO_REPLICA,
        /** No replica has a fresh lag report (no monitor publishing, or its reports are old). */
        NO_LAG_REPORT,
        /** Every replica's measured lag is above the staleness bound. */
        LAG_ABOVE_BOUND,
        /** No replica is known to have replayed the session's write (read-your-writes). */
        NOT_REPLAYED,
        /** The replica waited for did not replay the session's write within rywWaitMs. */
        RYW_TIMEOUT,
        /** Every replica was ejected, or the one chosen could not be reached. */
        EJECTED
    }

    /** Why the driver ran something again. */
    enum Retry {
        /** An autocommit read on a replica whose connection broke, run on another node. */
        REPLICA_UNREACHABLE,
        /** A cross-shard read routed again: a shard took ranges while it was routed. */
        CROSS_SHARD_REROUTED,
        /** A cross-shard read read again: a cutover switched ranges while it ran. */
        CROSS_SHARD_MOVED,
        /** Atomic snapshots taken again: a multi-shard transaction was seen half committed. */
        SNAPSHOT_RETAKEN
    }

    /** How a two-phase commit, or the recovery of an in-doubt one, ended. */
    enum Outcome {
        COMMITTED,
        ROLLED_BACK,
        UNKNOWN
    }

    DriverMetrics NOOP = new DriverMetrics() {};

    /**
     * One statement the application ran (a batch counts once).
     *
     * @param shard its shard, or -1 when it ran on several or none
     * @param role the role of the node it ran on, or null when it ran on several or none
     */
    default void statement(StatementKind kind, RouteKind route, int shard, NodeRole role, long nanos, boolean failed) {}

    default void fallback(int shard, Fallback reason) {}

    /** A read waited {@code nanos} for a replica to replay the session's write; {@code replayed}: it did. */
    default void rywWait(long nanos, boolean replayed) {}

    /** A write waited {@code nanos} at a move's fence; {@code refused}: it got 40001 instead. */
    default void fenceWait(long nanos, boolean refused) {}

    default void retry(Retry reason) {}

    default void ejected(Node replica, int shard) {}

    default void probed(Node replica, boolean up) {}

    default void twoPhaseCommit(Outcome outcome, long nanos) {}

    default void recovered(Outcome outcome) {}

    /** A cross-shard read shipped {@code rows} rows from the shards to the final query. */
    default void rowsShipped(long rows) {}

    /** Lets a node's pool publish its gauges (HikariCP's own tracker). */
    default void pool(HikariConfig config) {}

    /**
     * The metrics of one runtime: Micrometer's when it is on the class path and {@code enabled}, else {@link #NOOP}.
     *
     * @param cluster the cluster's name, a tag of every meter
     */
    static DriverMetrics create(String cluster, boolean enabled) {
        if (!enabled || !MicrometerPresence.PRESENT) {
            return NOOP;
        }
        try {
            return Guarded.metrics(MicrometerMetrics.create(cluster));
        } catch (RuntimeException | LinkageError e) {
            Guarded.failed("metrics", e);
            return NOOP;
        }
    }
}
