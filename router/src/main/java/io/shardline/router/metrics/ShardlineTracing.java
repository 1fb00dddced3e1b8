package io.shardline.router.metrics;

import io.opentelemetry.api.OpenTelemetry;
import java.util.Objects;

/**
 * Where the driver's spans go: the application's {@code GlobalOpenTelemetry} once it registered one, unless the
 * application hands an {@link OpenTelemetry} here (before or after its first connection).
 */
public final class ShardlineTracing {
    private static volatile OpenTelemetry openTelemetry;

    private ShardlineTracing() {}

    /** Spans of runtimes that have not found an OpenTelemetry yet, and of those opened from now on, go here. */
    public static void use(OpenTelemetry openTelemetry) {
        ShardlineTracing.openTelemetry = Objects.requireNonNull(openTelemetry, "openTelemetry");
    }

    /** Back to the application's {@code GlobalOpenTelemetry} for runtimes that have not found one yet. */
    public static void useGlobal() {
        openTelemetry = null;
    }

    static OpenTelemetry openTelemetry() {
        return openTelemetry;
    }
}
