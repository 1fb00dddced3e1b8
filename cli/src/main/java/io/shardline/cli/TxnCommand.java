package io.shardline.cli;

import io.shardline.rebalancer.Rebalancer;
import io.shardline.router.txn.InDoubtTransactions;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code shardline txn}: multi-shard transactions left prepared on the shard primaries. */
@Command(
        name = "txn",
        mixinStandardHelpOptions = true,
        description =
                "Find and resolve multi-shard transactions left prepared (two-phase commit) on the shard primaries.",
        subcommands = {TxnCommand.InDoubt.class, TxnCommand.Recover.class})
final class TxnCommand {

    @Command(
            name = "in-doubt",
            mixinStandardHelpOptions = true,
            description = {
                "List the Shardline transactions prepared on any shard primary, with the decision recorded in ZooKeeper"
                        + " and whether their coordinating router still runs. Changes nothing.",
                "The database password comes from SHARDLINE_PASSWORD or PGPASSWORD."
            })
    static final class InDoubt implements Callable<Integer> {
        @ArgGroup(exclusive = true, multiplicity = "1")
        ClusterTarget target = new ClusterTarget();

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            try (ZooKeeperTopologyStore store =
                    ZooKeeperTopologyStore.connect(target.zk(), target.name(), Duration.ofSeconds(10))) {
                ClusterTopology topology = store.snapshot().topology();
                List<InDoubtTransactions.InDoubt> found =
                        transactions(store, topology).list(topology);
                if (found.isEmpty()) {
                    out.println("No transaction is in doubt in cluster " + target.name() + ".");
                    return 0;
                }
                out.printf(
                        "%-58s %5s %-12s %-26s %-9s %s%n",
                        "gid", "shard", "primary", "prepared at", "decision", "coordinator");
                for (InDoubtTransactions.InDoubt t : found) {
                    out.printf(
                            "%-58s %5d %-12s %-26s %-9s %s%n",
                            t.gid(),
                            t.shard(),
                            t.node(),
                            t.preparedAt(),
                            t.decision() == null ? "none" : t.decision().toLowerCase(),
                            t.coordinatorAlive() ? "running" : "gone");
                }
                out.println("Resolve them with: ./shardline txn recover " + target.describe());
                return 0;
            }
        }
    }

    @Command(
            name = "recover",
            mixinStandardHelpOptions = true,
            description = {
                "Resolve the transactions 'txn in-doubt' lists: commit those whose commit is recorded, roll back the"
                        + " others whose router is gone. A transaction whose router still runs and has not decided"
                        + " is left to it.",
                "The database password comes from SHARDLINE_PASSWORD or PGPASSWORD."
            })
    static final class Recover implements Callable<Integer> {
        @ArgGroup(exclusive = true, multiplicity = "1")
        ClusterTarget target = new ClusterTarget();

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            try (ZooKeeperTopologyStore store =
                    ZooKeeperTopologyStore.connect(target.zk(), target.name(), Duration.ofSeconds(10))) {
                ClusterTopology topology = store.snapshot().topology();
                InDoubtTransactions.Report report =
                        transactions(store, topology).recover(topology);
                out.printf(
                        "Committed %d, rolled back %d prepared transaction(s); %d left to routers that still run them.%n",
                        report.committed(), report.rolledBack(), report.left());
                for (String error : report.errors()) {
                    spec.commandLine().getErr().println("shardline: " + error);
                }
                return report.errors().isEmpty() ? 0 : 1;
            }
        }
    }

    private static InDoubtTransactions transactions(ZooKeeperTopologyStore store, ClusterTopology topology) {
        return new InDoubtTransactions(
                store.client(),
                topology.cluster(),
                Rebalancer.connector(topology, ClusterTarget.password(), "shardline-txn")::connect);
    }
}
