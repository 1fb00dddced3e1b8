package io.shardline.router.metrics;

import io.micrometer.core.instrument.MeterRegistry;
import java.util.Objects;

/**
 * Where the driver registers its meters: Micrometer's global registry (where Spring Boot adds its own) unless the
 * application hands another here, before it opens its first connection to a cluster (a cluster's meters are
 * registered when its runtime opens).
 */
public final class ShardlineMetrics {
    private static volatile MeterRegistry registry;

    private ShardlineMetrics() {}

    /** Registers the meters of runtimes opened from now on with {@code registry}. */
    public static void use(MeterRegistry registry) {
        ShardlineMetrics.registry = Objects.requireNonNull(registry, "registry");
    }

    /** Back to Micrometer's global registry for runtimes opened from now on. */
    public static void useGlobalRegistry() {
        registry = null;
    }

    static MeterRegistry registry() {
        return registry;
    }
}
