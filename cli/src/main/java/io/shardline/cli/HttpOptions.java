package io.shardline.cli;

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
}
