package io.shardline.router.metrics;

import io.opentelemetry.api.GlobalOpenTelemetry;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.shardline.router.sql.QueryText;
import io.shardline.router.sql.StatementKind;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import java.sql.SQLException;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Spans through the OpenTelemetry API: the application's {@code GlobalOpenTelemetry} once it registered one (looked
 * for at most once a second until then, never forcing a no-op global on it), or the one given to {@link
 * ShardlineTracing#use}.
 */
final class OpenTelemetryTracing implements DriverTracing {
    private static final String SCOPE = "io.shardline.router";
    private static final long LOOK_EVERY_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** Span names cached per operation: at most this many (operations are SQL's first words). */
    private static final int NAMES = 64;

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
    private final Map<String, String> names = new ConcurrentHashMap<>();
    private volatile Tracer tracer;
    private volatile long lookedAt = System.nanoTime() - LOOK_EVERY_NANOS;

    OpenTelemetryTracing(String database, boolean queryText) {
        this.database = database;
        this.queryText = queryText;
    }

    private static String[] lowerCase(Enum<?>[] values) {
        String[] lower = new String[values.length];
        for (Enum<?> v : values) {
            lower[v.ordinal()] = v.name().toLowerCase(Locale.ROOT);
        }
        return lower;
    }

    /** {@code operation database}, the span's name. */
    private String name(String operation) {
        String name = names.get(operation);
        if (name == null) {
            name = operation + " " + database;
            if (names.size() < NAMES) {
                names.put(operation, name);
            }
        }
        return name;
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
        return new OtelSpan(
                t, withText(builder(t, QueryText.operation(sql)), sql).startSpan(), true);
    }

    @Override
    public DriverTracing.Span batch(String sql, int size) {
        Tracer t = tracer();
        if (t == null) {
            return DriverTracing.Span.NONE;
        }
        // the conventions' name of a batch whose statements are all alike
        SpanBuilder builder = builder(t, "BATCH " + QueryText.operation(sql)).setAttribute(BATCH_SIZE, (long) size);
        return new OtelSpan(t, withText(builder, sql).startSpan(), true);
    }

    @Override
    public DriverTracing.Span operation(String name) {
        Tracer t = tracer();
        if (t == null) {
            return DriverTracing.Span.NONE;
        }
        return new OtelSpan(t, builder(t, name).startSpan(), true);
    }

    /** {@code builder} with the statement's text, literals replaced, when {@code traceQueryText=true}. */
    private SpanBuilder withText(SpanBuilder builder, String sql) {
        String text = queryText ? QueryText.sanitized(sql) : null;
        return text != null ? builder.setAttribute(DB_QUERY_TEXT, text) : builder;
    }

    /** A client span named {@code operation database} with the database's attributes. */
    private SpanBuilder builder(Tracer t, String operation) {
        return t.spanBuilder(name(operation))
                .setSpanKind(SpanKind.CLIENT)
                .setAttribute(DB_SYSTEM_NAME, "postgresql")
                .setAttribute(DB_SYSTEM, "postgresql")
                .setAttribute(DB_NAMESPACE, database)
                .setAttribute(DB_OPERATION, operation);
    }

    /** One span; a current one ({@code current}) holds its scope until closed on the thread that opened it. */
    private static final class OtelSpan implements DriverTracing.Span {
        private final Tracer tracer;
        private final io.opentelemetry.api.trace.Span span;
        private final Context context;
        private final Scope scope;

        OtelSpan(Tracer tracer, io.opentelemetry.api.trace.Span span, boolean current) {
            this.tracer = tracer;
            this.span = span;
            this.context = Context.current().with(span);
            this.scope = current ? context.makeCurrent() : null;
        }

        @Override
        public void route(String route, int shard, Node node, String why) {
            span.setAttribute(ROUTE, route);
            if (shard >= 0) {
                span.setAttribute(SHARD, (long) shard);
            }
            if (node != null) {
                node(span, node);
            }
            if (why != null) {
                span.setAttribute(REASON, why);
            }
        }

        private static void node(io.opentelemetry.api.trace.Span span, Node node) {
            span.setAttribute(NODE, node.name());
            span.setAttribute(ROLE, ROLES[node.role().ordinal()]);
            span.setAttribute(SERVER_ADDRESS, node.host());
            span.setAttribute(SERVER_PORT, (long) node.port());
        }

        @Override
        public void fenceWait(long nanos) {
            span.setAttribute(FENCE_WAIT_MS, TimeUnit.NANOSECONDS.toMillis(nanos));
        }

        @Override
        public void lagMs(long lagMs) {
            span.setAttribute(LAG_MS, lagMs);
        }

        @Override
        public void failed(Throwable e) {
            // not the message: PostgreSQL's (its detail) may quote the values of the statement
            span.setStatus(StatusCode.ERROR);
            if (e instanceof SQLException sql && sql.getSQLState() != null) {
                span.setAttribute(ERROR_TYPE, sql.getSQLState());
                span.setAttribute(STATUS_CODE, sql.getSQLState());
            } else {
                span.setAttribute(ERROR_TYPE, e.getClass().getName());
            }
        }

        @Override
        public DriverTracing.Span child(String name, int shard, Node node) {
            io.opentelemetry.api.trace.Span child = tracer.spanBuilder(name)
                    .setParent(context)
                    .setSpanKind(SpanKind.CLIENT)
                    .startSpan();
            if (shard >= 0) {
                child.setAttribute(SHARD, (long) shard);
            }
            if (node != null) {
                node(child, node);
            }
            return new OtelSpan(tracer, child, false);
        }

        @Override
        public void close() {
            if (scope != null) {
                scope.close();
            }
            span.end();
        }
    }
}
