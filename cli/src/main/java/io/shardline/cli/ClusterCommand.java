package io.shardline.cli;

import io.shardline.compose.ClusterDescriptor;
import io.shardline.compose.ClusterDirectory;
import io.shardline.compose.LocalCluster;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.curator.framework.CuratorFramework;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code shardline cluster up|down|add-shard}: local clusters of real PostgreSQL processes. */
@Command(
        name = "cluster",
        mixinStandardHelpOptions = true,
        description = "Start and stop local clusters (real PostgreSQL processes and ZooKeeper on this machine).",
        subcommands = {ClusterCommand.Up.class, ClusterCommand.Down.class, ClusterCommand.AddShard.class})
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
            return new ForegroundCluster(
                            spec.commandLine().getOut(), ClusterDirectory.of(dir), shape, false, false, -1, null)
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

    @Command(
            name = "add-shard",
            mixinStandardHelpOptions = true,
            description = {
                "Start one more shard in a running local cluster (a primary, hubs and leaves like the others) and"
                        + " register it in the topology as an empty shard: it owns no key ranges until a move gives"
                        + " it some.",
                "Updates DIR/cluster.json; 'cluster down' (or Ctrl-C of 'cluster up' / 'demo') stops it too."
            })
    static final class AddShard implements Callable<Integer> {
        @Option(names = "--dir", required = true, description = "The directory of the running local cluster.")
        Path dir;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            ClusterDescriptor before = ClusterDescriptor.read(dir);
            ZkCommand.useCredentialsOf(dir);
            long started = System.nanoTime();
            ClusterDescriptor after = LocalCluster.addShardTo(dir);
            List<ClusterDescriptor.Node> added = after.nodes().stream()
                    .filter(n -> !before.nodes().contains(n))
                    .toList();
            int shard = added.get(0).shard();
            ClusterTopology registered;
            try (CuratorFramework client = ZooKeeperTopologyStore.newClient(after.zk(), Duration.ofSeconds(10))) {
                registered = ZooKeeperTopologyStore.updateTopology(
                        client, after.name(), t -> t.withShard(LocalTopology.shard(after, shard)));
            }
            out.printf(
                    "Shard %d is up in %.1f s and registered (topology version %d); it owns no key ranges yet.%n",
                    shard, (System.nanoTime() - started) / 1e9, registered.version());
            for (ClusterDescriptor.Node n : added) {
                out.printf("  %-12s %s:%-6d %s%n", n.name(), n.host(), n.port(), n.role());
            }
            out.println("Plan a move of ranges to it: ./shardline move plan --dir " + dir);
            return 0;
        }
    }
}
