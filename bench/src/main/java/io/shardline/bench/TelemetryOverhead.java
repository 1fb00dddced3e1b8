package io.shardline.bench;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.opentelemetry.sdk.trace.samplers.Sampler;
import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.router.metrics.ShardlineMetrics;
import io.shardline.router.metrics.ShardlineTracing;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What the driver's meters and spans cost: point SELECTs by key through the driver with both on (Micrometer's
 * {@code SimpleMeterRegistry}, the OpenTelemetry SDK sampling every span into a batch span processor whose exporter
 * drops them — the production pipeline's shape; the SDK's {@code SimpleSpanProcessor} serializes every export under
 * one lock, which threads then contend on) against
 * the driver with {@code metrics=false&tracing=false}, same cluster, same run, alternating pairs of slices
 * ({@link SideBySide#compare}: "driver" is the side with telemetry, "direct" the one without), then the same time
 * interleaved ({@link SideBySide#interleaved}: each thread alternating one statement of either side).
 *
 * <p>Run: {@code java -cp bench/target/benchmarks.jar io.shardline.bench.TelemetryOverhead [pairs] [sliceMs]
 * [sampled|unsampled|metrics|tracing|none|bare]}: both on with every span sampled (the default), spans not sampled,
 * metrics alone, spans alone, nothing on either side (what the harness itself makes of two equal sides), or the
 * driver without telemetry on both sides, one of them making an SDK span per statement itself with the attributes
 * the driver gives a replica read (what the SDK costs apart from the driver: the floor of a span per statement).
 */
public final class TelemetryOverhead {
    private TelemetryOverhead() {}

    /**
     * Hands the driver a {@code SimpleMeterRegistry} and an OpenTelemetry SDK sampling every span into a batch span
     * processor whose exporter drops it; the caller closes the SDK.
     */
    static OpenTelemetrySdk telemetryOn() {
        return telemetryOn(true);
    }

    /**
     * The same; {@code sampled = false} makes the SDK sample no span (the driver still calls the API for every
     * statement, which then records nothing): what the driver's own calls cost, apart from the SDK's recording.
     */
    static OpenTelemetrySdk telemetryOn(boolean sampled) {
        ShardlineMetrics.use(new SimpleMeterRegistry());
        OpenTelemetrySdk sdk = OpenTelemetrySdk.builder()
                .setTracerProvider(SdkTracerProvider.builder()
                        .setSampler(sampled ? Sampler.alwaysOn() : Sampler.alwaysOff())
                        .addSpanProcessor(BatchSpanProcessor.builder(SpanExporter.composite())
                                .build())
                        .build())
                .build();
        ShardlineTracing.use(sdk);
        return sdk;
    }

    private static final AttributeKey<String> DB_SYSTEM_NAME = AttributeKey.stringKey("db.system.name");
    private static final AttributeKey<String> DB_SYSTEM = AttributeKey.stringKey("db.system");
    private static final AttributeKey<String> DB_NAMESPACE = AttributeKey.stringKey("db.namespace");
    private static final AttributeKey<String> DB_OPERATION = AttributeKey.stringKey("db.operation.name");
    private static final AttributeKey<String> ROUTE = AttributeKey.stringKey("shardline.route");
    private static final AttributeKey<Long> SHARD = AttributeKey.longKey("shardline.shard");
    private static final AttributeKey<String> NODE = AttributeKey.stringKey("shardline.node");
    private static final AttributeKey<String> ROLE = AttributeKey.stringKey("shardline.role");
    private static final AttributeKey<String> REASON = AttributeKey.stringKey("shardline.reason");
    private static final AttributeKey<String> SERVER_ADDRESS = AttributeKey.stringKey("server.address");
    private static final AttributeKey<Long> SERVER_PORT = AttributeKey.longKey("server.port");
    private static final AttributeKey<Long> LAG_MS = AttributeKey.longKey("shardline.lag_ms");

    /**
     * {@code client}, and when {@code tracer} is not null, after each of its statements a client span of {@code
     * tracer} with the 12 attributes the driver gives a replica read's, started when the statement started: the
     * SDK's own cost of a span per statement, apart from the driver's (the floor under any instrumentation's).
     */
    private static SideBySide.Client withSpans(SideBySide.Client client, Tracer tracer) {
        if (tracer == null) {
            return client;
        }
        return new SideBySide.Client() {
            @Override
            public void read(long key) throws SQLException {
                long started = System.nanoTime();
                client.read(key);
                long end = TimeUnit.MILLISECONDS.toNanos(System.currentTimeMillis());
                tracer.spanBuilder("SELECT shardline")
                        .setParent(Context.current())
                        .setSpanKind(SpanKind.CLIENT)
                        .setStartTimestamp(end - (System.nanoTime() - started), TimeUnit.NANOSECONDS)
                        .setAttribute(DB_SYSTEM_NAME, "postgresql")
                        .setAttribute(DB_SYSTEM, "postgresql")
                        .setAttribute(DB_NAMESPACE, "shardline")
                        .setAttribute(DB_OPERATION, "SELECT")
                        .setAttribute(ROUTE, "replica")
                        .setAttribute(SHARD, key & 1)
                        .setAttribute(NODE, "s1-hub1")
                        .setAttribute(ROLE, "hub")
                        .setAttribute(REASON, "replica")
                        .setAttribute(SERVER_ADDRESS, "localhost")
                        .setAttribute(SERVER_PORT, 5433L)
                        .setAttribute(LAG_MS, 12L)
                        .startSpan()
                        .end(end, TimeUnit.NANOSECONDS);
            }

            @Override
            public void close() throws SQLException {
                client.close();
            }
        };
    }

    public static void main(String[] args) throws Exception {
        int pairs = args.length > 0 ? Integer.parseInt(args[0]) : 20;
        int sliceMs = args.length > 1 ? Integer.parseInt(args[1]) : 500;
        String mode = args.length > 2 ? args[2] : "sampled";
        if (!List.of("sampled", "unsampled", "metrics", "tracing", "none", "bare")
                .contains(mode)) {
            throw new IllegalArgumentException(
                    "the third argument is sampled, unsampled, metrics, tracing, none (both sides without: the"
                            + " harness's own bias) or bare (the SDK's own span, made by the client), not " + mode);
        }
        boolean sampled = !mode.equals("unsampled");
        String with = switch (mode) {
            case "metrics" -> "&metrics=true&tracing=false";
            case "tracing" -> "&metrics=false&tracing=true";
            case "none" -> "&metrics=false&tracing=false";
            // its own pools, as the side with telemetry has
            case "bare" -> "&metrics=false&tracing=false&pg.ApplicationName=bare";
            default -> "&metrics=true&tracing=true";
        };
        OpenTelemetrySdk sdk = telemetryOn(sampled);
        Tracer bare = mode.equals("bare") ? sdk.getTracer("bare") : null;
        try (LocalCluster cluster = LocalCluster.builder()
                .name("telemetry")
                .shards(2)
                .hubs(1)
                .leaves(1)
                .start()) {
            RouterClusters.publish(cluster, List.of(new ShardedTable("public", "users", "user_id", KeyType.INTEGER)));
            String base = cluster.shardlineUrl() + "?poolSize=16&maxStalenessMs=-1";
            SideBySide.load(base);
            cluster.awaitReplication(Duration.ofSeconds(60));
            System.out.printf(
                    "point SELECT by key, %d rows, 2 shards x (hub + leaf), %d pairs of %d ms slices, telemetry: %s%n",
                    SideBySide.ROWS, pairs, sliceMs, mode);
            System.out.println("driver: with telemetry; direct: the driver without it");
            SideBySide.header();
            for (int threads : new int[] {1, 4}) {
                List<SideBySide.Client> on = new ArrayList<>();
                List<SideBySide.Client> off = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    on.add(withSpans(SideBySide.driverClient(base + with), bare));
                    off.add(SideBySide.driverClient(base + "&metrics=false&tracing=false"));
                }
                SideBySide.compare("telemetry " + mode, threads, on, off, pairs, sliceMs);
                on.clear();
                off.clear();
                for (int t = 0; t < threads; t++) {
                    on.add(withSpans(SideBySide.driverClient(base + with), bare));
                    off.add(SideBySide.driverClient(base + "&metrics=false&tracing=false"));
                }
                SideBySide.interleaved(threads, on, off, pairs * sliceMs);
            }
            ShardlineDriver.closeAll();
        } finally {
            sdk.close();
        }
    }
}
