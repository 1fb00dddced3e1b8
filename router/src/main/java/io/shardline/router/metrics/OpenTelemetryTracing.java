package io.shardline.router.metrics;

import io.opentelemetry.api.GlobalOpenTelemetry;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.shardline.router.sql.QueryText;
import io.shardline.router.sql.StatementKind;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import java.sql.SQLException;
import java.time.Instant;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Spans through the OpenTelemetry API: the application's {@code GlobalOpenTelemetry} once it registered one (looked
 * for at most once a second until then, never forcing a no-op global on it), or the one given to {@link
 * ShardlineTracing#use}.
 */
final class OpenTelemetryTracing implements DriverTracing {
    private static final String SCOPE = "io.shardline.router";
    private static final long LOOK_EVERY_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** {@link QueryText#operation}'s common words, the very instances it returns. */
    private static final String[] OPERATIONS = QueryText.knownOperations();

    // the keys made once: the String overloads of setAttribute make a new key on every call
    private static final AttributeKey<String> DB_SYSTEM_NAME = AttributeKey.stringKey("db.system.name");
    private static final AttributeKey<String> DB_SYSTEM = AttributeKey.stringKey("db.system");
    private static final AttributeKey<String> DB_NAMESPACE = AttributeKey.stringKey("db.namespace");
    private static final AttributeKey<String> DB_OPERATION = AttributeKey.stringKey("db.operation.name");
    private static final AttributeKey<String> DB_QUERY_TEXT = AttributeKey.stringKey("db.query.text");
    private static final AttributeKey<Long> BATCH_SIZE = AttributeKey.longKey("db.operation.batch.size");
    private static final AttributeKey<String> ROUTE = AttributeKey.stringKey("shardline.route");
    private static final AttributeKey<Long> SHARD = AttributeKey.longKey("shardline.shard");
    private static final AttributeKey<String> REASON = AttributeKey.stringKey("shardline.reason");
    private static final AttributeKey<String> NODE = AttributeKey.stringKey("shardline.node");
    private static final AttributeKey<String> ROLE = AttributeKey.stringKey("shardline.role");
    private static final AttributeKey<String> SERVER_ADDRESS = AttributeKey.stringKey("server.address");
    private static final AttributeKey<Long> SERVER_PORT = AttributeKey.longKey("server.port");
    private static final AttributeKey<Long> FENCE_WAIT_MS = AttributeKey.longKey("shardline.fence_wait_ms");
    private static final AttributeKey<Long> LAG_MS = AttributeKey.longKey("shardline.lag_ms");
    private static final AttributeKey<String> ERROR_TYPE = AttributeKey.stringKey("error.type");
    private static final AttributeKey<String> STATUS_CODE = AttributeKey.stringKey("db.response.status_code");
    private static final String[] ROLES = lowerCase(NodeRole.values());

    private final String database;
    private final boolean queryText;
    /** The span name of each of {@link #OPERATIONS}, index for index. */
    private final String[] names;
    /** {@code BATCH} and each of {@link #OPERATIONS}, a batch's operation, index for index. */
    private final String[] batchOperations;
    /** The span name of each of {@link #batchOperations}. */
    private final String[] batchNames;

    private volatile Tracer tracer;
    private volatile long lookedAt = System.nanoTime() - LOOK_EVERY_NANOS;

    OpenTelemetryTracing(String database, boolean queryText) {
        this.database = database;
        this.queryText = queryText;
        this.names = new String[OPERATIONS.length];
        this.batchOperations = new String[OPERATIONS.length];
        this.batchNames = new String[OPERATIONS.length];
        for (int i = 0; i < names.length; i++) {
            names[i] = OPERATIONS[i] + " " + database;
            batchOperations[i] = "BATCH " + OPERATIONS[i];
            batchNames[i] = batchOperations[i] + " " + database;
        }
    }

    private static String[] lowerCase(Enum<?>[] values) {
        String[] lower = new String[values.length];
        for (Enum<?> v : values) {
            lower[v.ordinal()] = v.name().toLowerCase(Locale.ROOT);
        }
        return lower;
    }

    /**
     * The index of {@code operation} among {@link #OPERATIONS}, by identity, or -1: the span names of the common
     * words are made once and found so (no string hashed per statement: a map keyed by the word took 7 of the 68
     * client samples in telemetry in a profile).
     */
    private static int known(String operation) {
        for (int i = 0; i < OPERATIONS.length; i++) {
            if (OPERATIONS[i] == operation) {
                return i;
            }
        }
        return -1;
    }

    /** {@code operation database}, the span's name. */
    private String name(String operation) {
        int i = known(operation);
        return i >= 0 ? names[i] : operation + " " + database;
    }

    /** The tracer of the application's OpenTelemetry, or null while it has none. */
    private Tracer tracer() {
        Tracer t = tracer;
        if (t != null) {
            return t;
        }
        long now = System.nanoTime();
        if (now - lookedAt < LOOK_EVERY_NANOS) {
            return null;
        }
        lookedAt = now;
        OpenTelemetry given = ShardlineTracing.openTelemetry();
        if (given == null && !GlobalOpenTelemetry.isSet()) {
            return null;
        }
        t = (given != null ? given : GlobalOpenTelemetry.getOrNoop()).getTracer(SCOPE);
        tracer = t;
        return t;
    }

    @Override
    public DriverTracing.Span statement(StatementKind kind, String sql) {
        Tracer t = tracer();
        if (t == null) {
            return DriverTracing.Span.NONE;
        }
        String operation = QueryText.operation(sql);
        return new StatementSpan(t, Context.current(), operation, name(operation), -1, text(sql));
    }

    @Override
    public DriverTracing.Span batch(String sql, int size) {
        Tracer t = tracer();
        if (t == null) {
            return DriverTracing.Span.NONE;
        }
        // the conventions' name of a batch whose statements are all alike
        String operation = QueryText.operation(sql);
        int i = known(operation);
        String batch = i >= 0 ? batchOperations[i] : "BATCH " + operation;
        return new StatementSpan(t, Context.current(), batch, i >= 0 ? batchNames[i] : name(batch), size, text(sql));
    }

    @Override
    public DriverTracing.Span operation(String name, DriverTracing.Span within) {
        Tracer t = tracer();
        if (t == null) {
            return DriverTracing.Span.NONE;
        }
        Context parent = within instanceof StatementSpan statement ? statement.context() : Context.current();
        return new StatementSpan(t, parent, name, name(name), -1, null);
    }

    /** The statement's text, literals replaced, when {@code traceQueryText=true}; else null. */
    private String text(String sql) {
        return queryText ? QueryText.sanitized(sql) : null;
    }

    /** Now, in nanoseconds since the epoch (microseconds' precision, as the SDK's own clock). */
    private static long epochNanos() {
        Instant now = Instant.now();
        return TimeUnit.SECONDS.toNanos(now.getEpochSecond()) + now.getNano();
    }

    /** Marks a span failed with {@code e}'s SQLSTATE (or its class). */
    private static void failed(io.opentelemetry.api.trace.Span span, Throwable e) {
        // not the message: PostgreSQL's (its detail) may quote the values of the statement
        span.setStatus(StatusCode.ERROR);
        if (e instanceof SQLException sql && sql.getSQLState() != null) {
            span.setAttribute(ERROR_TYPE, sql.getSQLState());
            span.setAttribute(STATUS_CODE, sql.getSQLState());
        } else {
            span.setAttribute(ERROR_TYPE, e.getClass().getName());
        }
    }

    /** Where attributes go: a span's builder, or a span already started. */
    private interface AttributeSink {
        <T> void set(AttributeKey<T> key, T value);

        /** Where a span ran and why: route, shard (-1: none), node (null: none), reason (null: none). */
        default void route(String route, int shard, Node node, String why) {
            set(ROUTE, route);
            where(shard, node);
            if (why != null) {
                set(REASON, why);
            }
        }

        /** The attributes of where a span ran: shard (-1: none), node (null: none). */
        default void where(int shard, Node node) {
            if (shard >= 0) {
                set(SHARD, (long) shard);
            }
            if (node != null) {
                set(NODE, node.name());
                set(ROLE, ROLES[node.role().ordinal()]);
                set(SERVER_ADDRESS, node.host());
                set(SERVER_PORT, (long) node.port());
            }
        }
    }

    private record OnBuilder(SpanBuilder builder) implements AttributeSink {
        @Override
        public <T> void set(AttributeKey<T> key, T value) {
            builder.setAttribute(key, value);
        }
    }

    private record OnSpan(io.opentelemetry.api.trace.Span span) implements AttributeSink {
        @Override
        public <T> void set(AttributeKey<T> key, T value) {
            span.setAttribute(key, value);
        }
    }

    /** A started child span of a statement's (a shard of a cross-shard read, a phase of a commit). */
    private static DriverTracing.Span child(Tracer tracer, Context parent, String name, int shard, Node node) {
        try {
            io.opentelemetry.api.trace.Span span = tracer.spanBuilder(name)
                    .setParent(parent)
                    .setSpanKind(SpanKind.CLIENT)
                    .startSpan();
            new OnSpan(span).where(shard, node);
            return new ChildSpan(tracer, span, parent.with(span));
        } catch (RuntimeException | LinkageError e) {
            Guarded.failed("traces", e);
            return DriverTracing.Span.NONE;
        }
    }

    /** A child span: started when made, on any thread; never the current span. */
    private static final class ChildSpan implements DriverTracing.Span, Guarded.SelfGuarded {
        private final Tracer tracer;
        private final io.opentelemetry.api.trace.Span span;
        private final Context context;

        ChildSpan(Tracer tracer, io.opentelemetry.api.trace.Span span, Context context) {
            this.tracer = tracer;
            this.span = span;
            this.context = context;
        }

        @Override
        public void route(String route, int shard, Node node, String why) {
            try {
                new OnSpan(span).route(route, shard, node, why);
            } catch (RuntimeException | LinkageError e) {
                Guarded.failed("traces", e);
            }
        }

        @Override
        public void failed(Throwable e) {
            try {
                OpenTelemetryTracing.failed(span, e);
            } catch (RuntimeException | LinkageError failure) {
                Guarded.failed("traces", failure);
            }
        }

        @Override
        public DriverTracing.Span child(String name, int shard, Node node) {
            return OpenTelemetryTracing.child(tracer, context, name, shard, node);
        }

        @Override
        public void close() {
            try {
                span.end();
            } catch (RuntimeException | LinkageError e) {
                Guarded.failed("traces", e);
            }
        }
    }

    /**
     * The span of one statement (or batch, or operation), made when it ends with every attribute at once: what it
     * learns while it runs (where it ran, the fence's wait, the replica's lag, its failure) is kept in fields until
     * then. One builder and no span to lock per attribute, no context to make current and restore: in the side-by-side
     * ({@code TelemetryOverhead}, interleaved) the telemetry of a point select fell from 4.0 to 3.3 µs (means of runs) at
     * one thread, from 7.7 to 4.0 µs at four (JMH, its caches hot, shows no difference). It is started early, with the
     * application's current context (taken when the statement started) as its parent, only when it is asked for a
     * child (a shard of a cross-shard read, a phase of a commit) — then what it learns later is set on it at its end.
     * So the statement's span is not the current span while the statement runs.
     */
    private final class StatementSpan implements DriverTracing.Span, Guarded.SelfGuarded {
        private final Tracer tracer;
        private final Context parent;
        private final long startedNanos = System.nanoTime();
        private final String operation;
        /** {@code operation database}. */
        private final String name;
        /** Rows of a batch; -1: not a batch. */
        private final long batchSize;

        private final String text;

        private String route;
        private int shard = -1;
        private Node node;
        private String why;
        private long fenceWaitMs = -1;
        private long lagMs = -1;
        private Throwable failure;
        /** Started early to be a child's parent; null until then. */
        private io.opentelemetry.api.trace.Span started;
        /** {@link #parent} with {@link #started}: its children's parent. */
        private Context context;
        /** Ended: a part asking for a parent later (one that outlived its statement) gets {@link #parent}. */
        private boolean ended;

        StatementSpan(Tracer tracer, Context parent, String operation, String name, long batchSize, String text) {
            this.tracer = tracer;
            this.parent = parent;
            this.operation = operation;
            this.name = name;
            this.batchSize = batchSize;
            this.text = text;
        }

        @Override
        public void route(String route, int shard, Node node, String why) {
            this.route = route;
            this.shard = shard;
            this.node = node;
            this.why = why;
        }

        @Override
        public void fenceWait(long nanos) {
            fenceWaitMs = TimeUnit.NANOSECONDS.toMillis(nanos);
        }

        @Override
        public void lagMs(long lagMs) {
            this.lagMs = lagMs;
        }

        @Override
        public void failed(Throwable e) {
            failure = e;
        }

        /** A client span named {@code operation database} with the database's attributes, started {@code at}. */
        private SpanBuilder builder(long at) {
            SpanBuilder b = tracer.spanBuilder(name)
                    .setParent(parent)
                    .setSpanKind(SpanKind.CLIENT)
                    .setStartTimestamp(at, TimeUnit.NANOSECONDS)
                    .setAttribute(DB_SYSTEM_NAME, "postgresql")
                    .setAttribute(DB_SYSTEM, "postgresql")
                    .setAttribute(DB_NAMESPACE, database)
                    .setAttribute(DB_OPERATION, operation);
            if (batchSize >= 0) {
                b.setAttribute(BATCH_SIZE, batchSize);
            }
            if (text != null) {
                b.setAttribute(DB_QUERY_TEXT, text);
            }
            return b;
        }

        /** What it learnt while it ran. */
        private void learnt(AttributeSink on) {
            if (route != null) {
                on.route(route, shard, node, why);
            }
            if (fenceWaitMs >= 0) {
                on.set(FENCE_WAIT_MS, fenceWaitMs);
            }
            if (lagMs >= 0) {
                on.set(LAG_MS, lagMs);
            }
        }

        /** The context of its children: it starts now unless started already (its parent's when it cannot). */
        synchronized Context context() {
            if (ended) {
                return context != null ? context : parent;
            }
            if (started == null) {
                try {
                    started = builder(epochNanos() - (System.nanoTime() - startedNanos))
                            .startSpan();
                    context = parent.with(started);
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("traces", e);
                    return parent;
                }
            }
            return context;
        }

        @Override
        public DriverTracing.Span child(String name, int shard, Node node) {
            return OpenTelemetryTracing.child(tracer, context(), name, shard, node);
        }

        @Override
        public synchronized void close() {
            if (ended) {
                return;
            }
            ended = true;
            try {
                if (started == null) {
                    long now = System.nanoTime();
                    long end = epochNanos();
                    // everything it learnt on the builder: the sampler sees it too
                    SpanBuilder b = builder(end - (now - startedNanos));
                    learnt(new OnBuilder(b));
                    io.opentelemetry.api.trace.Span span = b.startSpan();
                    try {
                        if (failure != null) {
                            OpenTelemetryTracing.failed(span, failure);
                        }
                    } finally {
                        span.end(end, TimeUnit.NANOSECONDS);
                    }
                } else {
                    try {
                        learnt(new OnSpan(started));
                        if (failure != null) {
                            OpenTelemetryTracing.failed(started, failure);
                        }
                    } finally {
                        // on the SDK's clock, as its children's ends: it ends after them
                        started.end();
                    }
                }
            } catch (RuntimeException | LinkageError e) {
                Guarded.failed("traces", e);
            }
        }
    }
}
