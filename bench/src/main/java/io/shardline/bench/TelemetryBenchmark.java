package io.shardline.bench;

import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.shardline.router.metrics.DriverMetrics;
import io.shardline.router.metrics.DriverTracing;
import io.shardline.router.sql.StatementKind;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What the driver's telemetry adds to one statement, on the CPU alone: the statement timer (Micrometer's
 * {@code SimpleMeterRegistry}), and the statement's span with its attributes (the OpenTelemetry SDK sampling every
 * span into a batch span processor whose exporter drops it) — to set against a point select's own time, measured by {@link SideBySide}.
 *
 * <p>Run: {@code java -jar bench/target/benchmarks.jar TelemetryBenchmark}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class TelemetryBenchmark {
    private static final String SQL = RoutingBenchmark.SQL;
    private static final Node HUB = new Node("s1-hub1", NodeRole.HUB, "127.0.0.1", 5433, "s1-primary");

    private OpenTelemetrySdk sdk;
    private DriverMetrics metrics;
    private DriverTracing tracing;

    @Setup
    public void setUp() {
        sdk = TelemetryOverhead.telemetryOn();
        metrics = DriverMetrics.create("bench", true);
        tracing = DriverTracing.create("bench", true, false);
        // the tracer is looked for at most once a second
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        while (tracing.statement(StatementKind.READ, SQL) == DriverTracing.Span.NONE && System.nanoTime() < until) {
            Thread.onSpinWait();
        }
    }

    @TearDown
    public void tearDown() {
        sdk.close();
    }

    /** The statement timer of a replica read. */
    @Benchmark
    public void metrics() {
        metrics.statement(StatementKind.READ, DriverMetrics.RouteKind.REPLICA, 1, NodeRole.HUB, 150_000, false);
    }

    /** A replica read's span: started, its route attributes, ended. */
    @Benchmark
    public void span() {
        DriverTracing.Span span = tracing.statement(StatementKind.READ, SQL);
        span.route("replica", 1, HUB, "replica");
        span.lagMs(12);
        span.close();
    }

    /** Both, from four threads at once (what they share: the registry's meter, the span processor's queue). */
    @Benchmark
    @Threads(4)
    public void bothFromFourThreads() {
        metrics();
        span();
    }
}
