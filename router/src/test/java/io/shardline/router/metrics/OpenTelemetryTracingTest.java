package io.shardline.router.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanId;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Scope;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.shardline.router.sql.StatementKind;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import java.sql.SQLException;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The statement span made when it ends: its times, its attributes, its children and its parent. */
class OpenTelemetryTracingTest {
    private static final Node HUB = new Node("s1-hub1", NodeRole.HUB, "10.0.0.7", 5433, "s1-primary");

    private final InMemorySpanExporter spans = InMemorySpanExporter.create();
    private OpenTelemetrySdk sdk;
    private Tracer app;
    private OpenTelemetryTracing tracing;

    @BeforeEach
    void setUp() {
        sdk = OpenTelemetrySdk.builder()
                .setTracerProvider(SdkTracerProvider.builder()
                        .addSpanProcessor(SimpleSpanProcessor.create(spans))
                        .build())
                .build();
        ShardlineTracing.use(sdk);
        app = sdk.getTracer("app");
        tracing = new OpenTelemetryTracing("orders", false);
    }

    @AfterEach
    void tearDown() {
        ShardlineTracing.useGlobal();
        sdk.close();
    }

    private List<SpanData> named(String name) {
        return spans.getFinishedSpanItems().stream()
                .filter(s -> s.getName().equals(name))
                .toList();
    }

    @Test
    void aStatementsSpanCarriesWhatItLearntWithTheTimesItRan() throws Exception {
        Span request = app.spanBuilder("request").startSpan();
        long before;
        long after;
        try (Scope scope = request.makeCurrent()) {
            before = TimeUnit.MILLISECONDS.toNanos(System.currentTimeMillis());
            DriverTracing.Span span = tracing.statement(StatementKind.READ, "select v from kv where k = 1");
            assertThat(Span.current())
                    .as("the application's span stays current while the statement runs")
                    .isSameAs(request);
            // a known least time for it to have run: its start is worked back from it (no upper bound is timed)
            Thread.sleep(20);
            span.route("replica", 1, HUB, "replica");
            span.lagMs(12);
            span.fenceWait(TimeUnit.MILLISECONDS.toNanos(7));
            span.failed(new SQLException("boom", "40001"));
            span.close();
            span.close();
            after = TimeUnit.MILLISECONDS.toNanos(System.currentTimeMillis() + 1);
        } finally {
            request.end();
        }
        assertThat(named("SELECT orders")).as("ended once").hasSize(1);
        SpanData s = named("SELECT orders").get(0);
        assertThat(s.getParentSpanId()).isEqualTo(request.getSpanContext().getSpanId());
        assertThat(s.getStartEpochNanos()).isBetween(before, after);
        assertThat(s.getEndEpochNanos() - s.getStartEpochNanos())
                .as("how long it ran")
                .isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(20))
                .isLessThanOrEqualTo(after - before);
        assertThat(s.getAttributes().get(AttributeKey.stringKey("db.system"))).isEqualTo("postgresql");
        assertThat(s.getAttributes().get(AttributeKey.stringKey("db.operation.name")))
                .isEqualTo("SELECT");
        assertThat(s.getAttributes().get(AttributeKey.stringKey("shardline.route")))
                .isEqualTo("replica");
        assertThat(s.getAttributes().get(AttributeKey.longKey("shardline.shard")))
                .isEqualTo(1L);
        assertThat(s.getAttributes().get(AttributeKey.stringKey("server.address")))
                .isEqualTo("10.0.0.7");
        assertThat(s.getAttributes().get(AttributeKey.longKey("server.port"))).isEqualTo(5433L);
        assertThat(s.getAttributes().get(AttributeKey.stringKey("shardline.role")))
                .isEqualTo("hub");
        assertThat(s.getAttributes().get(AttributeKey.longKey("shardline.lag_ms")))
                .isEqualTo(12L);
        assertThat(s.getAttributes().get(AttributeKey.longKey("shardline.fence_wait_ms")))
                .isEqualTo(7L);
        assertThat(s.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
        assertThat(s.getAttributes().get(AttributeKey.stringKey("error.type"))).isEqualTo("40001");
    }

    @Test
    void aSpanAskedForChildrenStartsThenAndKeepsWhatItLearnsLater() throws Exception {
        DriverTracing.Span span = tracing.statement(StatementKind.READ, "SELECT count(*) FROM kv");
        DriverTracing.Span part = span.child("shardline.shard", 0, HUB);
        part.close();
        span.route("cross_shard", -1, null, "every shard");
        DriverTracing.Span commit = tracing.operation("shardline.two_phase_commit", span);
        commit.child("shardline.prepare", -1, null).close();
        commit.close();
        span.close();
        DriverTracing.Span late = span.child("shardline.shard", 1, HUB);
        late.close();

        assertThat(named("SELECT orders"))
                .as("one statement span, even after a late part")
                .hasSize(1);
        SpanData statement = named("SELECT orders").get(0);
        assertThat(statement.getAttributes().get(AttributeKey.stringKey("shardline.route")))
                .as("learnt after it started")
                .isEqualTo("cross_shard");
        assertThat(named("shardline.shard"))
                .extracting(SpanData::getParentSpanId)
                .containsOnly(statement.getSpanId());
        SpanData twoPhase = named("shardline.two_phase_commit orders").get(0);
        assertThat(twoPhase.getParentSpanId()).isEqualTo(statement.getSpanId());
        assertThat(named("shardline.prepare").get(0).getParentSpanId()).isEqualTo(twoPhase.getSpanId());
        // a part that outlives a statement never asked for a parent before it ended starts no second span of it
        DriverTracing.Span quiet = tracing.statement(StatementKind.WRITE, "DELETE FROM kv WHERE k = 2");
        quiet.close();
        quiet.child("shardline.late", 1, HUB).close();
        assertThat(named("DELETE orders")).hasSize(1);
        assertThat(named("shardline.late").get(0).getParentSpanId())
                .as("the statement's own parent (none), not a span that never ends")
                .isEqualTo(SpanId.getInvalid());
        SpanData first = named("shardline.shard").get(0);
        assertThat(first.getStartEpochNanos()).isGreaterThanOrEqualTo(statement.getStartEpochNanos());
        assertThat(statement.getEndEpochNanos()).isGreaterThanOrEqualTo(first.getEndEpochNanos());
    }

    @Test
    void spanNamesAreTheOperationAndTheDatabaseForCommonAndOtherWords() {
        String[][] cases = {
            {"select 1", "SELECT orders", "SELECT"},
            {"  /* c */ Insert into t values (1)", "INSERT orders", "INSERT"},
            {"fetch 100 from c", "FETCH orders", "FETCH"},
            {"checkpoint", "CHECKPOINT orders", "CHECKPOINT"},
            {"security label on table t is 'x'", "SECURITY orders", "SECURITY"},
            {";", "SQL orders", "SQL"}
        };
        for (String[] c : cases) {
            tracing.statement(StatementKind.READ, c[0]).close();
            SpanData span = named(c[1]).get(named(c[1]).size() - 1);
            assertThat(span.getAttributes().get(AttributeKey.stringKey("db.operation.name")))
                    .as(c[0])
                    .isEqualTo(c[2]);
        }
        tracing.batch("insert into t values (?)", 3).close();
        tracing.batch("checkpoint", 2).close();
        assertThat(named("BATCH INSERT orders")).hasSize(1);
        assertThat(named("BATCH INSERT orders").get(0).getAttributes().get(AttributeKey.stringKey("db.operation.name")))
                .isEqualTo("BATCH INSERT");
        assertThat(named("BATCH CHECKPOINT orders")).hasSize(1);
        tracing.operation("shardline.two_phase_commit", DriverTracing.Span.NONE).close();
        assertThat(named("shardline.two_phase_commit orders")).hasSize(1);
    }
}
