package io.shardline.cli;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import picocli.CommandLine.Option;

/** {@code --http-port} and {@code --http-address} of the long-running commands (a picocli mixin). */
final class HttpOptions {
    @Option(
            names = "--http-port",
            description = "Serve /health/live, /health/ready and /metrics (Prometheus) on this port; 0: a free one"
                    + " (printed at start). Default: no HTTP endpoints.")
    Integer port;

    @Option(
            names = "--http-address",
            defaultValue = "127.0.0.1",
            description = "Address the HTTP endpoints listen on; 0.0.0.0 for probes and scrapers from other hosts"
                    + " (default: ${DEFAULT-VALUE}).")
    String address;

    boolean enabled() {
        return port != null;
    }

    /**
     * Serves the endpoints with {@code registry} (null: none), not ready until {@code started} holds the service,
     * then as {@code readiness} says.
     */
    <T> ProcessEndpoints serve(
            PrometheusMeterRegistry registry,
            AtomicReference<T> started,
            Function<T, ProcessEndpoints.Readiness> readiness)
            throws IOException {
        return registry == null
                ? null
                : ProcessEndpoints.start(
                        address, port, registry, () -> ProcessEndpoints.whenStarted(started, readiness));
    }
}
