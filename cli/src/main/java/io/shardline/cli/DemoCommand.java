package io.shardline.cli;

import io.shardline.compose.ClusterDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code shardline demo}: the newcomer's first command. */
@Command(
        name = "demo",
        mixinStandardHelpOptions = true,
        description = {
            "Start a demo on this machine: a 2-shard cluster (primary -> hub -> leaf per shard) and ZooKeeper, a"
                    + " replication monitor, a rebalancer, the admin console and a sample workload.",
            "Prints what it started and how to connect; Ctrl-C stops everything and deletes the demo's data."
        })
final class DemoCommand implements Callable<Integer> {
    @Option(
            names = "--dir",
            description = "Keep the demo's data in this directory (default: a fresh temporary directory,"
                    + " deleted on exit).")
    Path dir;

    @Option(
            names = "--console-port",
            defaultValue = "8080",
            description = "Port of the admin console; a free one when it is taken (default: ${DEFAULT-VALUE}).")
    int consolePort;

    @Mixin
    ClusterShape shape = new ClusterShape();

    @Mixin
    HttpOptions http = new HttpOptions();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        boolean temporary = dir == null;
        Path actual = temporary ? Files.createTempDirectory("shardline-demo-") : dir;
        if (temporary) {
            // PostgreSQL runs as the 'postgres' user when we are root: it must be able to enter the directory.
            actual.toFile().setExecutable(true, false);
            actual.toFile().setReadable(true, false);
        }
        return new ForegroundCluster(
                        spec.commandLine().getOut(),
                        ClusterDirectory.of(actual),
                        shape,
                        temporary,
                        true,
                        consolePort,
                        http)
                .run();
    }
}
