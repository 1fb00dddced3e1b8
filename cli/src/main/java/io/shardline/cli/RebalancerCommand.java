package io.shardline.cli;

import io.shardline.rebalancer.MoveRunner;
import io.shardline.rebalancer.Rebalancer;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.apache.curator.framework.CuratorFramework;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code shardline rebalancer}: runs the moves started with {@code move start}. */
@Command(
        name = "rebalancer",
        mixinStandardHelpOptions = true,
        description = {
            "Run a rebalancer: of several, one leads and runs the moves started with 'move start'; the others"
                    + " wait and take over (resuming the move where it stopped) when it goes away.",
            "The database password comes from SHARDLINE_PASSWORD or PGPASSWORD. Stops on Ctrl-C."
        })
final class RebalancerCommand implements Callable<Integer> {
    @ArgGroup(exclusive = true, multiplicity = "1")
    ClusterTarget target = new ClusterTarget();

    @Option(
            names = "--delete-rate",
            defaultValue = "20000",
            description = "Rows per second the cleanup deletes from a source after the switch (default:"
                    + " ${DEFAULT-VALUE}); lower it to spare a busy primary and its replicas.")
    double deleteRate;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (!(deleteRate > 0)) {
            throw new ParameterException(
                    spec.commandLine(), "--delete-rate must be a positive number, not " + deleteRate);
        }
        CuratorFramework client = ZooKeeperTopologyStore.newClient(target.zk(), Duration.ofSeconds(10));
        Rebalancer rebalancer = Rebalancer.forCluster(
                client,
                target.name(),
                ClusterTarget.password(),
                MoveRunner.Settings.DEFAULT.withDeleteRowsPerSecond(deleteRate));
        rebalancer.start();
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            rebalancer.close();
                            client.close();
                        },
                        "shardline-rebalancer-stop"));
        out.printf("Rebalancer for cluster %s running (one leads, others wait). Ctrl-C to stop.%n", target.name());
        out.flush();
        new CountDownLatch(1).await();
        return 0;
    }

    static Rebalancer start(CuratorFramework client, String cluster) throws Exception {
        Rebalancer rebalancer = Rebalancer.forCluster(client, cluster, ClusterTarget.password());
        rebalancer.start();
        return rebalancer;
    }
}
