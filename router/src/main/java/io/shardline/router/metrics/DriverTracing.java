package io.shardline.router.metrics;

import io.shardline.router.sql.StatementKind;
import io.shardline.topology.Node;

/**
 * The driver's spans: one per statement (database client conventions, the application's current span its parent),
 * with where the statement ran and why; children for each shard of a cross-shard read and each phase of a two-phase
 * commit. {@link #NOOP} when the OpenTelemetry API is not on the class path or {@code tracing=false}; else {@link
 * OpenTelemetryTracing}, which uses the application's {@code GlobalOpenTelemetry} (no SDK is bundled: without one
 * registered, spans cost next to nothing and go nowhere).
 */
public interface DriverTracing {
    DriverTracing NOOP = new DriverTracing() {};

    /** A span of the driver's: attributes set while it runs, ended by {@link #close()}. */
    interface Span extends AutoCloseable {
        Span NONE = new Span() {};

        /**
         * Where the statement runs: the route ({@code replica}, {@code primary}, {@code cross_shard}...), the shard
         * (-1: several or none), the node (null: several or none) and why it was chosen.
         */
        default void route(String route, int shard, Node node, String why) {}

        /** How long the statement was held at a shard move's fence. */
        default void fenceWait(long nanos) {}

        /** The lag the replica it reads was last measured at. */
        default void lagMs(long lagMs) {}

        default void failed(Throwable e) {}

        /** A child span (a shard of a cross-shard read, a phase of a commit), started now, on any thread. */
        default Span child(String name, int shard, Node node) {
            return NONE;
        }

        @Override
        default void close() {}
    }

    /**
     * Starts the span of one statement, ended by its {@link Span#close()}: not the current span while the statement
     * runs (the application's current span, taken now, is its parent).
     *
     * @param sql its text: its first keyword names the span; recorded (literals replaced by {@code ?}) only with
     *     {@code traceQueryText=true}
     */
    default Span statement(StatementKind kind, String sql) {
        return Span.NONE;
    }

    /**
     * Starts the span of one batch of a prepared statement ({@code BATCH INSERT ...}, with its number of rows), as
     * {@link #statement}.
     */
    default Span batch(String sql, int size) {
        return Span.NONE;
    }

    /**
     * Starts a span that is not a statement's (a two-phase commit), the child of {@code within} (the statement it runs
     * in: a COMMIT, an autocommit write on several shards), or of the application's current span when that is {@link
     * Span#NONE} (a JDBC {@code commit()}).
     */
    default Span operation(String name, Span within) {
        return Span.NONE;
    }

    /**
     * The tracing of one runtime: OpenTelemetry's when its API is on the class path and {@code enabled}, else
     * {@link #NOOP}.
     *
     * @param database the database's name ({@code db.namespace})
     */
    static DriverTracing create(String database, boolean enabled, boolean queryText) {
        if (!enabled || !OpenTelemetryPresence.PRESENT) {
            return NOOP;
        }
        return Guarded.tracing(new OpenTelemetryTracing(database, queryText));
    }
}
