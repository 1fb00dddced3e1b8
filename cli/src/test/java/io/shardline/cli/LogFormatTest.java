package io.shardline.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.context.Scope;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/** The processes' logs as one JSON object per line with {@code SHARDLINE_LOG_FORMAT=json}, as text otherwise. */
class LogFormatTest {
    /** What the child printed on stdout: the trace and span ids of its span. */
    private static String printed;

    /** A process that logs a line with MDC and one with an exception, through the CLI's logback.xml. */
    public static void main(String[] args) {
        Logger log = LoggerFactory.getLogger("io.shardline.cli.LogFormatTest");
        MDC.put("cluster", "demo");
        log.info("move {} switched", "m1");
        log.warn("the copy failed", new IllegalStateException("target gone"));
        // a span made through the API with an SDK, as the OpenTelemetry agent's would be current
        try (SdkTracerProvider tracing = SdkTracerProvider.builder().build()) {
            Span span = tracing.get("test").spanBuilder("move step").startSpan();
            try (Scope scope = span.makeCurrent()) {
                log.info("inside a span");
            } finally {
                span.end();
            }
            System.out.println("trace " + span.getSpanContext().getTraceId() + " span "
                    + span.getSpanContext().getSpanId());
        }
    }

    private static List<String> run(String format) throws Exception {
        Process p = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-cp",
                        System.getProperty("java.class.path"),
                        "-DSHARDLINE_LOG_FORMAT=" + format,
                        LogFormatTest.class.getName())
                .start();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        p.getErrorStream().transferTo(err);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        printed = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        // SLF4J's own notice of two providers on this test class path (the CLI's has logback alone) is not a log line
        return err.toString(StandardCharsets.UTF_8)
                .lines()
                .filter(l -> !l.isBlank() && !l.startsWith("SLF4J"))
                .toList();
    }

    @org.junit.jupiter.api.Test
    void jsonLinesParseAndCarryLevelLoggerMessageMdcAndException() throws Exception {
        List<String> lines = run("json");
        ObjectMapper json = new ObjectMapper();
        List<JsonNode> records = lines.stream().map(json::readTree).toList();
        JsonNode info = records.stream()
                .filter(r ->
                        "move m1 switched".equals(r.path("formattedMessage").asString(null)))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no INFO line in " + lines));
        assertThat(info.path("level").asString()).isEqualTo("INFO");
        assertThat(info.path("loggerName").asString()).isEqualTo("io.shardline.cli.LogFormatTest");
        assertThat(info.path("timestamp").asLong()).isPositive();
        assertThat(info.path("mdc").path("cluster").asString()).isEqualTo("demo");
        JsonNode warn = records.stream()
                .filter(r -> "WARN".equals(r.path("level").asString(null)))
                .findFirst()
                .orElseThrow();
        assertThat(warn.path("throwable").path("message").asString()).isEqualTo("target gone");
        assertThat(info.path("mdc").has("trace_id"))
                .as("no span current: no trace id")
                .isFalse();

        String[] ids = printed.trim().split(" ");
        JsonNode traced = records.stream()
                .filter(r -> "inside a span".equals(r.path("formattedMessage").asString(null)))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no line from inside the span in " + lines));
        assertThat(traced.path("mdc").path("trace_id").asString()).isEqualTo(ids[1]);
        assertThat(traced.path("mdc").path("span_id").asString()).isEqualTo(ids[3]);
        assertThat(traced.path("mdc").path("cluster").asString()).isEqualTo("demo");
    }

    @org.junit.jupiter.api.Test
    void textIsTheDefault() throws Exception {
        assertThat(run("text")).anySatisfy(l -> assertThat(l).contains("INFO", "LogFormatTest - move m1 switched"));
    }
}
