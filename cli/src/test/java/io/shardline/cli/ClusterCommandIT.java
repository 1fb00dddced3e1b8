package io.shardline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.ClusterDescriptor;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code cluster up} in a separate JVM, as a user runs it, and {@code cluster down} from this one. */
class ClusterCommandIT {

    @Test
    void upWritesTheDescriptorAndDownLeavesNothingRunning() throws Exception {
        Path dir = Files.createTempDirectory("shardline-cli-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path out = dir.resolve("up.out");
        Process up = startCli(out, "cluster", "up", "--dir", dir.toString());
        try {
            await().atMost(Duration.ofSeconds(60))
                    .pollInterval(Duration.ofMillis(200))
                    .failFast("cluster up exited", () -> !up.isAlive())
                    .until(() -> Files.exists(dir.resolve("cluster.json")));

            ClusterDescriptor descriptor = ClusterDescriptor.read(dir);
            assertThat(descriptor.name()).isEqualTo("demo");
            assertThat(descriptor.nodes()).hasSize(6);
            assertThat(Files.readString(out)).contains("Local cluster 'demo' is up");
            ClusterDescriptor.Node leaf = descriptor.shard(1).get(2);
            try (Connection c = DriverManager.getConnection(
                    "jdbc:postgresql://" + leaf.host() + ":" + leaf.port() + "/" + descriptor.database(),
                    descriptor.user(),
                    "")) {
                assertThat(c.createStatement().executeQuery("SELECT 1").next()).isTrue();
            }

            StringWriter shardOut = new StringWriter();
            CommandLine table = ShardlineCli.commandLine();
            table.setOut(new PrintWriter(shardOut));
            assertThat(table.execute(
                            "table", "shard", "users", "--key", "user_id", "--type", "bigint", "--dir", dir.toString()))
                    .isZero();
            assertThat(shardOut.toString()).contains("public.users is sharded by user_id (integer) over 2 shards");
            StringWriter shown = new StringWriter();
            CommandLine show = ShardlineCli.commandLine();
            show.setOut(new PrintWriter(shown));
            assertThat(show.execute("topology", "show", "--dir", dir.toString()))
                    .isZero();
            assertThat(shown.toString())
                    .contains("shard 0 (home of unsharded tables): 16 range(s), 50.0% of the hash space")
                    .contains("s1-leaf1")
                    .contains("public.users")
                    .contains("ring version 1: 32 ranges");

            StringWriter downOut = new StringWriter();
            CommandLine cli = ShardlineCli.commandLine();
            cli.setOut(new PrintWriter(downOut));
            int rc = cli.execute("cluster", "down", "--dir", dir.toString());

            assertThat(rc).isZero();
            assertThat(downOut.toString()).contains("Stopped the local cluster");
            assertThat(up.isAlive()).isFalse();
            assertThat(processesMentioning(dir)).isEmpty();
            assertThat(dir.resolve("cluster.json")).doesNotExist();
        } finally {
            up.destroyForcibly();
        }
    }

    @Test
    void theDemoStopsOnSigtermAndDeletesItsData() throws Exception {
        Path out = Files.createTempFile("shardline-demo-", ".out");
        Process demo = startCli(out, "demo");
        try {
            await().atMost(Duration.ofSeconds(60))
                    .pollInterval(Duration.ofMillis(200))
                    .failFast("demo exited", () -> !demo.isAlive())
                    .until(() -> Files.readString(out).contains("Press Ctrl-C to stop"));
            String printed = Files.readString(out);
            assertThat(printed)
                    .contains("s0-primary", "s1-leaf1", "psql -h 127.0.0.1", "jdbc:shardline:zk://127.0.0.1:");
            Matcher descriptor =
                    Pattern.compile("Cluster descriptor: (\\S+)/cluster.json").matcher(printed);
            assertThat(descriptor.find()).isTrue();
            Path dir = Path.of(descriptor.group(1));
            assertThat(dir.resolve("cluster.json")).exists();

            demo.destroy();

            assertThat(demo.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(processesMentioning(dir)).isEmpty();
            assertThat(dir).doesNotExist();
        } finally {
            demo.destroyForcibly();
            Files.deleteIfExists(out);
        }
    }

    @Test
    void downOnADirectoryWithoutAClusterSaysSo() throws Exception {
        Path dir = Files.createTempDirectory("shardline-empty-");
        StringWriter err = new StringWriter();
        CommandLine cli = ShardlineCli.commandLine();
        cli.setErr(new PrintWriter(err));
        assertThat(cli.execute("cluster", "down", "--dir", dir.toString())).isEqualTo(1);
        assertThat(err.toString()).contains("no local cluster in " + dir);
    }

    @Test
    void everySubcommandHasHelp() {
        for (List<String> command : List.of(
                List.of("--help"),
                List.of("demo", "--help"),
                List.of("cluster", "--help"),
                List.of("cluster", "up", "--help"),
                List.of("cluster", "down", "--help"),
                List.of("table", "shard", "--help"),
                List.of("topology", "show", "--help"),
                List.of("monitor", "--help"))) {
            StringWriter help = new StringWriter();
            CommandLine cli = ShardlineCli.commandLine();
            cli.setOut(new PrintWriter(help));
            assertThat(cli.execute(command.toArray(String[]::new)))
                    .as("%s", command)
                    .isZero();
            assertThat(help.toString()).as("%s", command).startsWith("Usage: shardline");
        }
    }

    /** Runs the CLI in its own JVM, as the launcher does, with its output going to {@code out}. */
    private static Process startCli(Path out, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                ShardlineCli.class.getName()));
        command.addAll(List.of(args));
        return new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(out.toFile())
                .start();
    }

    private static List<ProcessHandle> processesMentioning(Path dir) {
        return ProcessHandle.allProcesses()
                .filter(p -> p.info()
                        .commandLine()
                        .map(c -> c.contains(dir.toString()))
                        .orElse(false))
                .toList();
    }
}
