package io.shardline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** {@code ./shardline ARGS} in a JVM of its own, as an operator runs it, its output kept; and HTTP helpers. */
final class ShardlineProcess implements AutoCloseable {
    private static final Pattern ENDPOINTS = Pattern.compile("HTTP endpoints on (http://\\S+) ");
    private static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    final Process process;
    final StringBuffer out = new StringBuffer();
    final StringBuffer err = new StringBuffer();

    ShardlineProcess(String... args) throws IOException {
        process = new ProcessBuilder(command(args)).start();
        drain(process.getInputStream(), out);
        drain(process.getErrorStream(), err);
    }

    /** The command line that runs the CLI in a JVM of its own, as the launcher does. */
    static List<String> command(String... args) {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                ShardlineCli.class.getName()));
        command.addAll(List.of(args));
        return command;
    }

    private static void drain(InputStream in, StringBuffer into) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[8192];
            try {
                for (int n; (n = in.read(buf)) > 0; ) {
                    into.append(new String(buf, 0, n, StandardCharsets.UTF_8));
                }
            } catch (IOException e) {
                // the process ended
            }
        });
        t.setDaemon(true);
        t.start();
    }

    /** The base URL of its {@code --http-port} endpoints, once it printed them. */
    String url() {
        await().atMost(Duration.ofSeconds(90))
                .failFast("the process ended: " + err, () -> !process.isAlive())
                .until(() -> ENDPOINTS.matcher(out).find());
        Matcher m = ENDPOINTS.matcher(out);
        assertThat(m.find()).isTrue();
        return m.group(1);
    }

    /** SIGTERM, by kill(1): {@link Process#destroy()} would also close the pipes we read its output from. */
    void terminate() throws IOException, InterruptedException {
        assertThat(new ProcessBuilder("kill", "-TERM", Long.toString(process.pid()))
                        .start()
                        .waitFor())
                .isZero();
    }

    /** Waits for {@code expected} in its output: what it wrote last may still be on its way through the pipe. */
    static void awaitOutput(StringBuffer output, String expected) {
        await().atMost(Duration.ofSeconds(5))
                .untilAsserted(() -> assertThat(output.toString()).contains(expected));
    }

    static HttpResponse<String> get(String url) {
        try {
            return HTTP.send(
                    HttpRequest.newBuilder(URI.create(url))
                            .timeout(Duration.ofSeconds(5))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new AssertionError(url + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static void awaitStatus(String url, int status) {
        await().atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(200))
                .untilAsserted(() -> assertThat(get(url).statusCode()).as(url).isEqualTo(status));
    }

    @Override
    public void close() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }

    /** {@code ./shardline ARGS} run in this JVM; its output, once it exited 0 (else the assertion names its errors). */
    static String inProcess(String... args) {
        java.io.StringWriter out = new java.io.StringWriter();
        java.io.StringWriter err = new java.io.StringWriter();
        picocli.CommandLine cli = ShardlineCli.commandLine();
        cli.setOut(new java.io.PrintWriter(out));
        cli.setErr(new java.io.PrintWriter(err));
        int rc = cli.execute(args);
        assertThat(rc).as("%s: %s", String.join(" ", args), err).isZero();
        return out.toString();
    }

    /** The HTTP Basic header of a console user. */
    static String basic(io.shardline.console.ConsoleUsers.Generated user) {
        return "Basic "
                + java.util.Base64.getEncoder()
                        .encodeToString((user.user().name() + ":" + user.password()).getBytes(StandardCharsets.UTF_8));
    }
}
