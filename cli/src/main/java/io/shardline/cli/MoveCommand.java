package io.shardline.cli;

import io.shardline.rebalancer.MoveEstimate;
import io.shardline.rebalancer.MovePlan;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.Node;
import io.shardline.topology.TopologySnapshot;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code shardline move plan}: what moving ranges to the empty shards would copy. */
@Command(
        name = "move",
        mixinStandardHelpOptions = true,
        description = "Plan moves of key ranges between shards (moving itself is not built yet).",
        subcommands = {MoveCommand.Plan.class})
final class MoveCommand {

    @Command(
            name = "plan",
            mixinStandardHelpOptions = true,
            description = {
                "Show what giving every empty shard its share of the hash space would move: per source -> target,"
                        + " the ranges, rows and bytes of every sharded table (counted on the source primaries),"
                        + " and an estimated copy time. Changes nothing.",
                "The database password comes from SHARDLINE_PASSWORD or PGPASSWORD."
            })
    static final class Plan implements Callable<Integer> {
        @ArgGroup(exclusive = true, multiplicity = "1")
        ClusterTarget target = new ClusterTarget();

        @Option(
                names = "--rate-mb",
                defaultValue = "50",
                description = "Copy rate the time estimate assumes, MB/s (default: ${DEFAULT-VALUE}).")
        double rateMb;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            TopologySnapshot snapshot;
            try (ZooKeeperTopologyStore store =
                    ZooKeeperTopologyStore.connect(target.zk(), target.name(), Duration.ofSeconds(10))) {
                snapshot = store.snapshot();
            }
            ClusterTopology topology = snapshot.topology();
            HashRing ring = snapshot.ring();
            List<Integer> empty = topology.shardIds().stream()
                    .filter(id -> !ring.shards().contains(id))
                    .toList();
            if (empty.isEmpty()) {
                spec.commandLine()
                        .getErr()
                        .println("shardline: every shard of cluster " + topology.cluster() + " owns ranges already;"
                                + " add an empty one first: ./shardline cluster add-shard --dir DIR (local)");
                return 1;
            }
            MovePlan plan = MovePlan.fillEmptyShards(ring, empty);
            MoveEstimate estimate = MoveEstimate.of(topology, plan, node -> connect(topology, node), rateMb * 1e6);
            out.printf(
                    "Move plan for cluster %s: ring version %d -> %d, filling empty shard(s) %s%n",
                    topology.cluster(), ring.version(), plan.to().version(), empty);
            for (MoveEstimate.TransferEstimate t : estimate.transfers()) {
                out.printf(
                        "  shard %d -> shard %d: %d range(s), %.1f%% of the hash space, %,d rows, %s%n",
                        t.transfer().source(),
                        t.transfer().target(),
                        t.transfer().ranges().size(),
                        100 * t.transfer().share(),
                        t.rows(),
                        bytes(t.bytes()));
                for (MoveEstimate.TableEstimate table : t.tables()) {
                    out.printf(
                            "      %-32s %s%n",
                            table.table().qualifiedName(),
                            table.missing()
                                    ? "not created on shard " + t.transfer().source() + " (nothing to copy)"
                                    : String.format(Locale.ROOT, "%,d rows, %s", table.rows(), bytes(table.bytes())));
                }
            }
            if (topology.tables().isEmpty()) {
                out.println("  (no sharded tables: only the ring changes)");
            }
            out.printf(
                    "Total: %,d rows, %s; about %.1f s to copy at %.0f MB/s.%n",
                    estimate.rows(), bytes(estimate.bytes()), estimate.time().toMillis() / 1000.0, rateMb);
            out.println("This plan changes nothing: running a move (./shardline move start) is not built yet.");
            return 0;
        }

        private static Connection connect(ClusterTopology topology, Node node) throws SQLException {
            Properties props = new Properties();
            props.setProperty("user", topology.user() == null ? "postgres" : topology.user());
            String password = ClusterTarget.password();
            if (password != null) {
                props.setProperty("password", password);
            }
            props.setProperty("connectTimeout", "10");
            props.setProperty("ApplicationName", "shardline-move-plan");
            return DriverManager.getConnection(
                    "jdbc:postgresql://" + node.address() + "/" + topology.database(), props);
        }

        static String bytes(long bytes) {
            if (bytes < 1024 * 1024) {
                return String.format(Locale.ROOT, "%.1f kB", bytes / 1024.0);
            }
            return String.format(Locale.ROOT, "%.1f MB", bytes / (1024.0 * 1024));
        }
    }
}
