package io.shardline.router;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URISyntaxException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The self-contained driver jar logs into the application's logging, whatever the application uses. Each test runs
 * {@link LoggingApp} in a JVM of its own, with the shaded jar and one kind of logging on its class path (the jars come
 * from {@code target/log-apps/}, copied there by the build), and finds the driver's warning (a replica ejected), and
 * lines of the bundled HikariCP, Curator and ZooKeeper (with an exception's stack trace), where that logging writes
 * them.
 */
class ShadedJarLoggingIT {
    /** reload4j's and logback's patterns write the same line: level, logger, caller, message. */
    private static final String LOG4J_PATTERN = "%p %c [%C.%M] %m%n";

    private static final String LOGBACK_PATTERN = "%level %logger [%class.%method] %msg%n";

    @TempDir
    Path dir;

    private int port;

    @Test
    void anApplicationOnSlf4j17WithReload4jGetsTheDriversLinesThroughIt() throws Exception {
        Path log = dir.resolve("app.log");
        Path config = dir.resolve("log4j.properties");
        Files.writeString(
                config,
                String.join(
                        "\n",
                        "log4j.rootLogger=INFO, file",
                        "log4j.appender.file=org.apache.log4j.FileAppender",
                        "log4j.appender.file.File=" + log,
                        "log4j.appender.file.layout=org.apache.log4j.PatternLayout",
                        "log4j.appender.file.layout.ConversionPattern=" + LOG4J_PATTERN,
                        ""));
        Run run = run("slf4j1-reload4j", "-Dlog4j.configuration=" + config.toUri());
        assertThroughSlf4j(run, log);
    }

    @Test
    void anApplicationOnSlf4j2WithLogbackGetsTheDriversLinesThroughIt() throws Exception {
        Path log = dir.resolve("app.log");
        Path config = dir.resolve("logback.xml");
        Files.writeString(
                config,
                String.join(
                        "\n",
                        "<configuration>",
                        "  <appender name=\"file\" class=\"ch.qos.logback.core.FileAppender\">",
                        "    <file>" + log + "</file>",
                        "    <encoder><pattern>" + LOGBACK_PATTERN + "</pattern></encoder>",
                        "  </appender>",
                        "  <root level=\"INFO\"><appender-ref ref=\"file\"/></root>",
                        "</configuration>",
                        ""));
        Run run = run("slf4j2-logback", "-Dlogback.configurationFile=" + config);
        assertThroughSlf4j(run, log);
    }

    @Test
    void anApplicationWithoutSlf4jGetsTheDriversLinesInJavaUtilLogging() throws Exception {
        Run run = run(null);
        String n = System.lineSeparator();
        // java.util.logging's default: a console handler on stderr at INFO, the source and the level on two lines
        assertThat(run.stderr)
                .as(run.toString())
                .contains(" io.shardline.router.route.ReplicaHealth eject" + n + "WARNING: replica s0-hub1 (127.0.0.1:"
                        + port + ") ejected after a connection error")
                .contains(" io.shardline.shaded.hikari.HikariDataSource <init>" + n
                        + "INFO: shardline-s0-hub1 - Starting...")
                .contains(
                        " io.shardline.shaded.curator.framework.imps.CuratorFrameworkImpl start" + n + "INFO: Starting")
                .containsPattern(" io\\.shardline\\.shaded\\.zookeeper\\.ClientCnxn\\$SendThread run" + n
                        + "WARNING: Session 0x0 for server .*, Closing socket connection\\..*" + n
                        + "java\\.net\\.ConnectException: Connection refused" + n)
                .doesNotContain("SLF4J");
        assertThat(run.stdout).as(run.toString()).doesNotContain("SLF4J");
    }

    /** The lines in the application's log {@code file}, none on its stdout or stderr. */
    private void assertThroughSlf4j(Run run, Path file) throws IOException {
        String log = Files.exists(file) ? Files.readString(file) : "";
        assertThat(log)
                .as("the application's log%n%s%n%s", log, run)
                .contains("WARN io.shardline.router.route.ReplicaHealth [io.shardline.router.route.ReplicaHealth.eject]"
                        + " replica s0-hub1 (127.0.0.1:" + port + ") ejected after a connection error")
                .contains(
                        "INFO io.shardline.shaded.hikari.HikariDataSource [io.shardline.shaded.hikari.HikariDataSource"
                                + ".<init>] shardline-s0-hub1 - Starting...")
                .contains("INFO io.shardline.shaded.curator.framework.imps.CuratorFrameworkImpl"
                        + " [io.shardline.shaded.curator.framework.imps.CuratorFrameworkImpl.start] Starting")
                .containsPattern("WARN io\\.shardline\\.shaded\\.zookeeper\\.ClientCnxn \\[.*\\] Session 0x0 for server"
                        + " .*, Closing socket connection\\..*\\R"
                        + "java\\.net\\.ConnectException: Connection refused\\R"
                        + "\\s+at ");
        for (String output : List.of(run.stdout, run.stderr)) {
            assertThat(output).as(run.toString()).doesNotContain("SLF4J").doesNotContain("ejected after");
        }
    }

    /**
     * Runs {@link LoggingApp} with the shaded jar, the app's class alone, and the jars of {@code target/log-apps/
     * logging} (none when null) on its class path.
     */
    private Run run(String logging, String... jvmOptions) throws Exception {
        List<String> classPath = new ArrayList<>();
        classPath.add(shadedJar().toString());
        classPath.add(appClass().toString());
        if (logging != null) {
            try (Stream<Path> jars = Files.list(Path.of("target", "log-apps", logging))) {
                jars.map(Path::toString).sorted().forEach(classPath::add);
            }
        }
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        Path cluster = dir.resolve("cluster.yaml");
        Files.writeString(
                cluster,
                String.join(
                        "\n",
                        "cluster: logs",
                        "database: app",
                        "user: app",
                        "shards:",
                        "  - id: 0",
                        "    nodes:",
                        "      - {name: s0-primary, role: primary, host: 127.0.0.1, port: " + port + "}",
                        "      - {name: s0-hub1, role: hub, host: 127.0.0.1, port: " + port + ", upstream: s0-primary}",
                        ""));
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("-cp");
        command.add(String.join(File.pathSeparator, classPath));
        command.addAll(List.of(jvmOptions));
        command.add(LoggingApp.class.getName());
        command.add(cluster.toString());
        command.add(Integer.toString(port));
        Path stdout = dir.resolve("stdout.txt");
        Path stderr = dir.resolve("stderr.txt");
        Process process = new ProcessBuilder(command)
                .redirectOutput(stdout.toFile())
                .redirectError(stderr.toFile())
                .start();
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor();
        }
        Run run = new Run(command, process.exitValue(), Files.readString(stdout), Files.readString(stderr));
        assertThat(run.exitCode).as(run.toString()).isZero();
        return run;
    }

    /**
     * A directory holding {@link LoggingApp}'s class file only: nothing else of {@code target/test-classes} (another
     * logging configuration, say) reaches the application.
     */
    private Path appClass() throws IOException, URISyntaxException {
        String file = LoggingApp.class.getName().replace('.', '/') + ".class";
        Path copy = dir.resolve("app").resolve(file);
        Files.createDirectories(copy.getParent());
        Files.copy(Path.of(LoggingApp.class.getResource("/" + file).toURI()), copy);
        return dir.resolve("app");
    }

    private static Path shadedJar() throws IOException {
        try (DirectoryStream<Path> jars = Files.newDirectoryStream(Path.of("target"), "shardline-router-*-all.jar")) {
            for (Path jar : jars) {
                return jar;
            }
        }
        throw new IllegalStateException("no shaded jar in target/: run the package phase first");
    }

    private record Run(List<String> command, int exitCode, String stdout, String stderr) {
        @Override
        public String toString() {
            return String.join(" ", command) + "\nexit " + exitCode + "\n--- stdout\n" + stdout + "--- stderr\n"
                    + stderr;
        }
    }
}
