package io.shardline.cli;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.DistributedFunction;
import io.shardline.topology.FileTopologyStore;
import io.shardline.topology.HashRing;
import io.shardline.topology.Node;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.Shard;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.TopologySnapshot;
import io.shardline.topology.ZkCredentials;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.curator.framework.CuratorFramework;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code shardline topology show|init}. */
@Command(
        name = "topology",
        mixinStandardHelpOptions = true,
        description = "Show the cluster's topology, or create a cluster from a cluster file.",
        subcommands = {TopologyCommand.Show.class, TopologyCommand.Init.class})
final class TopologyCommand {

    @Command(
            name = "init",
            mixinStandardHelpOptions = true,
            description = "Create a cluster in ZooKeeper from a cluster file (the YAML a jdbc:shardline:file: URL"
                    + " reads: cluster, database, user, shards and their nodes, tables, and optionally a ring; an"
                    + " even ring over the shards otherwise), for PostgreSQL servers you run yourself. Drivers,"
                    + " monitors, rebalancers and consoles then name it with --zk and --name.")
    static final class Init implements Callable<Integer> {
        @Option(names = "--zk", required = true, description = "ZooKeeper connect string, host:port[,host:port].")
        String zk;

        @Parameters(index = "0", paramLabel = "FILE", description = "The cluster file (YAML).")
        Path file;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() {
            TopologySnapshot snapshot = FileTopologyStore.open(file).snapshot();
            String name = snapshot.topology().cluster();
            ZkCredentials.useForThisProcess(null); // the environment's (SHARDLINE_ZK_USER...), never another's
            try (CuratorFramework client = ZooKeeperTopologyStore.newClient(zk, Duration.ofSeconds(10))) {
                ZooKeeperTopologyStore.initialize(client, snapshot.topology(), snapshot.ring());
            }
            PrintWriter out = spec.commandLine().getOut();
            print(out, snapshot);
            out.println();
            out.printf("Cluster %s created in ZooKeeper at %s.%n", name, zk);
            out.printf(
                    "Drivers connect with jdbc:shardline:zk://%s%s?user=%s&password=...%n",
                    zk,
                    ZooKeeperTopologyStore.clusterPath(name),
                    snapshot.topology().user());
            out.printf(
                    "Next: shardline monitor --zk %s --name %s (replica lag for the drivers), shardline zk secure"
                            + " (ACLs)%n",
                    zk, name);
            return 0;
        }
    }

    @Command(
            name = "show",
            mixinStandardHelpOptions = true,
            description =
                    "Print shards and nodes (the cascade), sharded and reference tables and the ring, as stored in"
                            + " ZooKeeper.")
    static final class Show implements Callable<Integer> {
        @ArgGroup(exclusive = true, multiplicity = "1")
        ClusterTarget target = new ClusterTarget();

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            try (ZooKeeperTopologyStore store =
                    ZooKeeperTopologyStore.connect(target.zk(), target.name(), Duration.ofSeconds(10))) {
                print(spec.commandLine().getOut(), store.snapshot());
            }
            return 0;
        }
    }

    static void print(PrintWriter out, TopologySnapshot snapshot) {
        ClusterTopology t = snapshot.topology();
        HashRing ring = snapshot.ring();
        out.printf(
                "cluster %s (topology version %d), database %s, user %s%n",
                t.cluster(), t.version(), t.database(), t.user());
        out.println();
        Map<Integer, Double> shares = ring.shareByShard();
        for (Shard shard : t.shards()) {
            long ranges =
                    ring.ranges().stream().filter(r -> r.shard() == shard.id()).count();
            out.printf(
                    "shard %d%s: %d range(s), %.1f%% of the hash space%n",
                    shard.id(),
                    shard.id() == t.homeShard() ? " (home of unsharded tables)" : "",
                    ranges,
                    100 * shares.getOrDefault(shard.id(), 0.0));
            printCascade(out, shard, shard.primary(), "  ");
        }
        out.println();
        if (t.tables().isEmpty()) {
            out.println("sharded tables: none (declare one with: shardline table shard TABLE --key COLUMN ...)");
        } else {
            out.println("sharded tables:");
            for (ShardedTable table : t.tables()) {
                out.printf(
                        "  %-30s key %s (%s)%n",
                        table.qualifiedName(),
                        table.keyColumn(),
                        table.keyType().name().toLowerCase());
            }
        }
        out.println();
        if (t.referenceTables().isEmpty()) {
            out.println("reference tables: none (declare one with: shardline table reference TABLE ...)");
        } else {
            out.println("reference tables (every shard holds all of their rows):");
            for (ReferenceTable table : t.referenceTables()) {
                out.printf("  %s%n", table.qualifiedName());
            }
        }
        if (!t.functions().isEmpty()) {
            out.println();
            out.println("distributed functions (each call runs on its key argument's shard):");
            for (DistributedFunction f : t.functions()) {
                out.printf(
                        "  %-30s key argument %d (%s)%s%n",
                        f.qualifiedName(),
                        f.keyArgument(),
                        f.keyType().name().toLowerCase(),
                        f.writes() ? ", writes" : "");
            }
        }
        out.println();
        out.printf("ring version %d: %d ranges%n", ring.version(), ring.rangeCount());
        out.flush();
    }

    private static void printCascade(PrintWriter out, Shard shard, Node node, String indent) {
        out.printf(
                "%s%-16s %-21s %s%n",
                indent, node.name(), node.address(), node.role().name().toLowerCase());
        for (Node child : shard.nodes()) {
            if (node.name().equals(child.upstream())) {
                printCascade(out, shard, child, indent + "  ");
            }
        }
    }
}
