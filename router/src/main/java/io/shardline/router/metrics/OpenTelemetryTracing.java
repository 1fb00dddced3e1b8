package io.shardline.router.metrics;

import io.opentelemetry.api.GlobalOpenTelemetry;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.shardline.router.sql.QueryText;
import io.shardline.router.sql.StatementKind;
import io.shardline.topology.Node;
import java.sql.SQLException;
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

    private final String database;
    private final boolean queryText;
    private volatile Tracer tracer;
    private volatile long lookedAt = System.nanoTime() - LOOK_EVERY_NANOS;

    OpenTelemetryTracing(String database, boolean queryText) {
        this.database = database;
        this.queryText = queryText;
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
        SpanBuilder builder = t.spanBuilder(operation + " " + database)
                .setSpanKind(SpanKind.CLIENT)
                .setAttribute("db.system.name", "postgresql")
                .setAttribute("db.system", "postgresql")
                .setAttribute("db.namespace", database)
                .setAttribute("db.operation.name", operation)
                .setAttribute("shardline.kind", kind.name().toLowerCase(Locale.ROOT));
        String text = queryText ? QueryText.sanitized(sql) : null;
        if (text != null) {
            builder.setAttribute("db.query.text", text);
        }
        return new OtelSpan(t, builder.startSpan(), true);
    }

    @Override
    public DriverTracing.Span operation(String name) {
        Tracer t = tracer();
        if (t == null) {
            return DriverTracing.Span.NONE;
        }
        return new OtelSpan(
                t,
                t.spanBuilder(name + " " + database)
                        .setSpanKind(SpanKind.CLIENT)
                        .setAttribute("db.system.name", "postgresql")
                        .setAttribute("db.system", "postgresql")
                        .setAttribute("db.namespace", database)
                        .setAttribute("db.operation.name", name)
                        .startSpan(),
                true);
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
            this.scope = current ? span.makeCurrent() : null;
        }

        @Override
        public void route(String route, int shard, Node node, String why) {
            span.setAttribute("shardline.route", route);
            if (shard >= 0) {
                span.setAttribute("shardline.shard", shard);
            }
            if (node != null) {
                node(span, node);
            }
            if (why != null) {
                span.setAttribute("shardline.reason", why);
            }
        }

        private static void node(io.opentelemetry.api.trace.Span span, Node node) {
            span.setAttribute("shardline.node", node.name());
            span.setAttribute("shardline.role", node.role().name().toLowerCase(Locale.ROOT));
            span.setAttribute("server.address", node.host());
            span.setAttribute("server.port", node.port());
        }

        @Override
        public void fenceWait(long nanos) {
            span.setAttribute("shardline.fence_wait_ms", TimeUnit.NANOSECONDS.toMillis(nanos));
        }

        @Override
        public void lagMs(long lagMs) {
            span.setAttribute("shardline.lag_ms", lagMs);
        }

        @Override
        public void failed(Throwable e) {
            // not the message: PostgreSQL's (its detail) may quote the values of the statement
            span.setStatus(StatusCode.ERROR);
            if (e instanceof SQLException sql && sql.getSQLState() != null) {
                span.setAttribute("error.type", sql.getSQLState());
                span.setAttribute("db.response.status_code", sql.getSQLState());
            } else {
                span.setAttribute("error.type", e.getClass().getName());
            }
        }

        @Override
        public DriverTracing.Span child(String name, int shard, Node node) {
            io.opentelemetry.api.trace.Span child = tracer.spanBuilder(name)
                    .setParent(context)
                    .setSpanKind(SpanKind.CLIENT)
                    .startSpan();
            if (shard >= 0) {
                child.setAttribute("shardline.shard", shard);
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
