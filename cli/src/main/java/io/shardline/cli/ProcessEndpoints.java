package io.shardline.cli;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.json.JsonMapper;

/**
 * The HTTP endpoints of a long-running process ({@code --http-port}): {@code GET /health/live} (200 while the
 * process runs), {@code GET /health/ready} (200 when its {@link Readiness} says so, else 503; 503 from the
 * moment it starts to stop; checked every 500 ms on a thread of its own, so a probe never waits on ZooKeeper) and {@code GET /metrics} (Prometheus text format). The JDK's own HTTP server, no
 * framework: the console keeps Spring Boot Actuator for the same purpose.
 */
final class ProcessEndpoints implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ProcessEndpoints.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    /** Whether a process is ready, and the details a probe shows. */
    record Readiness(boolean ready, String detail, Map<String, Object> details) {}

    /** How often readiness is checked; probes read the last answer and never wait on ZooKeeper themselves. */
    private static final long CHECK_EVERY_MS = 500;

    static {
        // a client that sends half a request is dropped after 10 s instead of holding a handler thread forever
        if (System.getProperty("sun.net.httpserver.maxReqTime") == null) {
            System.setProperty("sun.net.httpserver.maxReqTime", "10");
        }
    }

    private final HttpServer server;
    private final ExecutorService executor;
    private final ScheduledExecutorService checker;
    private final PrometheusMeterRegistry registry;
    private final Supplier<Readiness> readiness;
    private volatile Readiness last = new Readiness(false, "starting", Map.of());
    private volatile boolean stopping;

    private ProcessEndpoints(
            HttpServer server,
            ExecutorService executor,
            ScheduledExecutorService checker,
            PrometheusMeterRegistry registry,
            Supplier<Readiness> readiness) {
        this.server = server;
        this.executor = executor;
        this.checker = checker;
        this.registry = registry;
        this.readiness = readiness;
    }

    /** A Prometheus registry with the JVM's and the process's own meters, tagged {@code process}. */
    static PrometheusMeterRegistry newRegistry(String process) {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        registry.config().commonTags("process", process);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        return registry;
    }

    /**
     * Serves the endpoints on {@code address:port} (port 0: a free one).
     *
     * @throws IOException when the port cannot be bound (the message names it)
     */
    static ProcessEndpoints start(
            String address, int port, PrometheusMeterRegistry registry, Supplier<Readiness> readiness)
            throws IOException {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--http-port must be a port number from 0 to 65535, not " + port);
        }
        HttpServer server;
        try {
            server = HttpServer.create(new InetSocketAddress(address, port), 16);
        } catch (IOException e) {
            throw new IOException("cannot serve --http-port on " + address + ":" + port + ": " + e.getMessage(), e);
        }
        ExecutorService executor = Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "shardline-http");
            t.setDaemon(true);
            return t;
        });
        ScheduledExecutorService checker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "shardline-readiness");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor);
        ProcessEndpoints endpoints = new ProcessEndpoints(server, executor, checker, registry, readiness);
        checker.scheduleWithFixedDelay(endpoints::check, 0, CHECK_EVERY_MS, TimeUnit.MILLISECONDS);
        server.createContext("/", endpoints::handle);
        server.start();
        return endpoints;
    }

    /** Not ready while {@code started} holds nothing yet, else what {@code readiness} says of it. */
    static <T> Readiness whenStarted(AtomicReference<T> started, Function<T, Readiness> readiness) {
        T service = started.get();
        return service == null ? new Readiness(false, "starting", Map.of()) : readiness.apply(service);
    }

    /** The port served (the one chosen when started with 0). */
    int port() {
        return server.getAddress().getPort();
    }

    /** {@code http://address:port}. */
    String url() {
        return "http://" + server.getAddress().getHostString() + ":" + port();
    }

    /** From now on {@code /health/ready} answers 503 (the process is draining). */
    void stopping() {
        stopping = true;
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            try {
                route(exchange);
            } catch (RuntimeException e) {
                LOG.warn("HTTP {}: {}", exchange.getRequestURI().getPath(), e.toString());
                if (exchange.getResponseCode() == -1) {
                    send(exchange, 500, "application/json", json(Map.of("error", String.valueOf(e.getMessage()))));
                }
            }
        }
    }

    private void route(HttpExchange exchange) throws IOException {
        String method = exchange.getRequestMethod();
        if (!method.equals("GET") && !method.equals("HEAD")) {
            exchange.getResponseHeaders().set("Allow", "GET, HEAD");
            send(exchange, 405, "application/json", json(Map.of("error", method + " is not allowed here")));
            return;
        }
        switch (exchange.getRequestURI().getPath()) {
            case "/health/live" -> send(exchange, 200, "application/json", json(Map.of("status", "UP")));
            case "/health/ready" -> ready(exchange);
            case "/metrics" -> send(exchange, 200, "text/plain; version=0.0.4; charset=utf-8", registry.scrape());
            default ->
                send(
                        exchange,
                        404,
                        "application/json",
                        json(Map.of(
                                "error",
                                "no endpoint " + exchange.getRequestURI().getPath()
                                        + "; there are /health/live, /health/ready and /metrics")));
        }
    }

    /** Asks the process whether it is ready (on the checker thread: a slow answer delays no probe). */
    private void check() {
        Readiness r;
        try {
            r = Objects.requireNonNull(readiness.get(), "no answer");
        } catch (RuntimeException e) {
            r = new Readiness(false, "the readiness check failed: " + e.getMessage(), Map.of());
        }
        last = r;
    }

    private void ready(HttpExchange exchange) throws IOException {
        Map<String, Object> body = new LinkedHashMap<>();
        boolean ready;
        if (stopping) {
            ready = false;
            body.put("status", "DOWN");
            body.put("detail", "stopping");
        } else {
            Readiness r = last;
            ready = r.ready();
            body.put("status", ready ? "UP" : "DOWN");
            body.put("detail", r.detail());
            body.putAll(r.details());
        }
        send(exchange, ready ? 200 : 503, "application/json", json(body));
    }

    private static String json(Map<String, ?> body) {
        return JSON.writeValueAsString(body);
    }

    private static void send(HttpExchange exchange, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", type);
        boolean head = exchange.getRequestMethod().equals("HEAD");
        exchange.sendResponseHeaders(status, head ? -1 : bytes.length);
        if (!head) {
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    @Override
    public void close() {
        checker.shutdownNow();
        server.stop(0);
        executor.shutdownNow();
        registry.close();
    }
}
