package io.shardline.cli;

import io.shardline.compose.ClusterDirectory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code shardline cluster up|down}: local clusters of real PostgreSQL processes. */
@Command(
        name = "cluster",
        mixinStandardHelpOptions = true,
        description = "Start and stop local clusters (real PostgreSQL processes and ZooKeeper on this machine).",
        subcommands = {ClusterCommand.Up.class, ClusterCommand.Down.class})
final class ClusterCommand {

    @Command(
            name = "up",
            mixinStandardHelpOptions = true,
            description = {
                "Start a local cluster in the foreground: per shard a primary, hubs streaming from it and leaves"
                        + " streaming from the hubs, plus ZooKeeper.",
                "Writes DIR/cluster.json when every replica streams; stops everything on Ctrl-C or SIGTERM."
            })
    static final class Up implements Callable<Integer> {
        @Option(names = "--dir", required = true, description = "Directory for data, logs and cluster.json.")
        Path dir;

        @Mixin
        ClusterShape shape = new ClusterShape();

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            return new ForegroundCluster(spec.commandLine().getOut(), ClusterDirectory.of(dir), shape, false, false)
                    .run();
        }
    }

    @Command(
            name = "down",
            mixinStandardHelpOptions = true,
            description = "Stop a local cluster started from DIR by another process; nothing of it is left running.")
    static final class Down implements Callable<Integer> {
        @Option(names = "--dir", required = true, description = "The directory given to 'cluster up'.")
        Path dir;

        @Option(
                names = "--timeout",
                defaultValue = "60",
                description = "Seconds to wait for a clean stop before killing (default: ${DEFAULT-VALUE}).")
        int timeoutSeconds;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            ClusterDirectory cluster = ClusterDirectory.of(dir);
            if (!cluster.holdsClusterData()) {
                spec.commandLine().getErr().println("shardline: no local cluster in " + cluster.path());
                return 1;
            }
            int stopped = cluster.stop(Duration.ofSeconds(timeoutSeconds));
            spec.commandLine()
                    .getOut()
                    .println(
                            stopped == 0
                                    ? "Nothing was running from " + cluster.path() + "."
                                    : "Stopped the local cluster in " + cluster.path() + "; its data is kept there.");
            return 0;
        }
    }
}
