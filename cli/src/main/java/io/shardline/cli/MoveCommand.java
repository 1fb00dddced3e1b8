package io.shardline.cli;

import io.shardline.rebalancer.MoveDisplay;
import io.shardline.rebalancer.MoveEstimate;
import io.shardline.rebalancer.MoveException;
import io.shardline.rebalancer.MovePlan;
import io.shardline.rebalancer.MoveRunner;
import io.shardline.rebalancer.Rebalancer;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.TopologySnapshot;
import io.shardline.topology.ZooKeeperMoveWatcher;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.curator.framework.CuratorFramework;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code shardline move plan}: what moving ranges to the empty shards would copy. */
@Command(
        name = "move",
        mixinStandardHelpOptions = true,
        description = "Plan, start, watch and abort moves of key ranges to empty shards.",
        subcommands = {
            MoveCommand.Plan.class,
            MoveCommand.Start.class,
            MoveCommand.Status.class,
            MoveCommand.Abort.class
        })
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
            MoveEstimate estimate = MoveEstimate.of(
                    topology,
                    plan,
                    Rebalancer.connector(topology, ClusterTarget.password(), "shardline-move-plan"),
                    rateMb * 1e6);
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
                        MoveDisplay.bytes(t.bytes()));
                for (MoveEstimate.TableEstimate table : t.tables()) {
                    out.printf(
                            "      %-32s %s%n",
                            table.table().qualifiedName(),
                            table.missing()
                                    ? "not created on shard " + t.transfer().source() + " (nothing to copy)"
                                    : String.format(
                                            Locale.ROOT,
                                            "%,d rows, %s",
                                            table.rows(),
                                            MoveDisplay.bytes(table.bytes())));
                }
            }
            if (topology.tables().isEmpty()) {
                out.println("  (no sharded tables: only the ring changes)");
            }
            out.printf(
                    "Total: %,d rows, %s; about %.1f s to copy at %.0f MB/s.%n",
                    estimate.rows(),
                    MoveDisplay.bytes(estimate.bytes()),
                    estimate.time().toMillis() / 1000.0,
                    rateMb);
            out.println("This plan changes nothing; run it with: ./shardline move start --wait " + target.describe());
            return 0;
        }
    }

    @Command(
            name = "start",
            mixinStandardHelpOptions = true,
            description = {
                "Start the move that 'move plan' shows; a running rebalancer (./shardline rebalancer, or the demo's)"
                        + " carries it out. With --wait, show its progress and exit 0 when it is done, 1 when it"
                        + " was aborted."
            })
    static final class Start implements Callable<Integer> {
        @ArgGroup(exclusive = true, multiplicity = "1")
        ClusterTarget target = new ClusterTarget();

        @Option(names = "--wait", description = "Follow the move until it ends.")
        boolean await;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            try (CuratorFramework client = ZooKeeperTopologyStore.newClient(target.zk(), Duration.ofSeconds(10))) {
                String base = ZooKeeperTopologyStore.clusterPath(target.name());
                if (client.checkExists().forPath(base + "/rebalancer/leader") == null
                        || client.getChildren()
                                .forPath(base + "/rebalancer/leader")
                                .isEmpty()) {
                    spec.commandLine()
                            .getErr()
                            .println("shardline: no rebalancer is running for cluster " + target.name()
                                    + ": start one first (./shardline rebalancer " + target.describe() + ")");
                    return 1;
                }
                String id = MoveRunner.plan(client, target.name(), 0);
                out.println("Move " + id + " started.");
                out.flush();
                if (!await) {
                    out.println("Follow it with: ./shardline move status " + target.describe());
                    return 0;
                }
                MoveState last = null;
                String shown = null;
                long shownAt = 0;
                while (true) {
                    MoveRecord move =
                            ZooKeeperMoveWatcher.fromJson(client.getData().forPath(base + "/moves/" + id), id);
                    String line = MoveDisplay.progress(move);
                    boolean changed = move.state() != last;
                    if (changed || (!line.equals(shown) && System.nanoTime() - shownAt > 2_000_000_000L)) {
                        out.printf("  %-12s %s %s%n", MoveDisplay.phase(move.state()), bar(move), line);
                        out.flush();
                        last = move.state();
                        shown = line;
                        shownAt = System.nanoTime();
                    }
                    if (move.state().isTerminal()) {
                        if (move.state() == MoveState.DONE) {
                            out.printf(
                                    "Move %s done in %.1f s: ring version %d.%n",
                                    id,
                                    (move.updatedAtMillis() - move.startedAtMillis()) / 1000.0,
                                    move.toRingVersion());
                            return 0;
                        }
                        out.println("Move " + id + " aborted: " + move.error());
                        return 1;
                    }
                    Thread.sleep(100);
                }
            } catch (MoveException e) {
                spec.commandLine().getErr().println("shardline: " + e.getMessage());
                return 1;
            }
        }
    }

    /** Steps done, and within the copy and the cleanup the share of rows done. */
    static String bar(MoveRecord move) {
        int width = 24;
        int filled = (int) Math.round(MoveDisplay.fractionDone(move) * width);
        return "[" + "#".repeat(filled) + ".".repeat(width - filled) + "]";
    }

    @Command(name = "status", mixinStandardHelpOptions = true, description = "Show the latest moves and their state.")
    static final class Status implements Callable<Integer> {
        @ArgGroup(exclusive = true, multiplicity = "1")
        ClusterTarget target = new ClusterTarget();

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            try (CuratorFramework client = ZooKeeperTopologyStore.newClient(target.zk(), Duration.ofSeconds(10))) {
                List<MoveRecord> moves = MoveRunner.moves(client, target.name());
                if (moves.isEmpty()) {
                    out.println("No moves in cluster " + target.name() + ".");
                    return 0;
                }
                for (MoveRecord m : moves) {
                    out.printf(
                            "%s  %-12s ring %d -> %d  %s  started %s%n",
                            m.id(),
                            MoveDisplay.phase(m.state()),
                            m.fromRingVersion(),
                            m.toRingVersion(),
                            m.transfers().stream()
                                    .map(t -> t.source() + "->" + t.target())
                                    .toList(),
                            Instant.ofEpochMilli(m.startedAtMillis()).truncatedTo(ChronoUnit.SECONDS));
                    if (!m.state().isTerminal()) {
                        out.printf("    %s %s%n", bar(m), MoveDisplay.progress(m));
                    } else if (m.error() != null) {
                        out.printf("    %s%n", m.error());
                    }
                }
                return 0;
            }
        }
    }

    @Command(
            name = "abort",
            mixinStandardHelpOptions = true,
            description = "Abort the running move (before its switch): the ring stays, copied rows are removed.")
    static final class Abort implements Callable<Integer> {
        @ArgGroup(exclusive = true, multiplicity = "1")
        ClusterTarget target = new ClusterTarget();

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            try (CuratorFramework client = ZooKeeperTopologyStore.newClient(target.zk(), Duration.ofSeconds(10))) {
                for (MoveRecord m : MoveRunner.moves(client, target.name())) {
                    if (!m.state().isTerminal()) {
                        MoveRunner.requestAbort(client, target.name(), m.id());
                        spec.commandLine().getOut().println("Abort of move " + m.id() + " requested.");
                        return 0;
                    }
                }
                spec.commandLine().getErr().println("shardline: no move is running in cluster " + target.name());
                return 1;
            }
        }
    }
}
