package io.shardline.cli;

import io.shardline.rebalancer.ShardRegistrar;
import io.shardline.topology.Node;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.curator.framework.CuratorFramework;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code shardline shard add}: register a shard that someone else runs. */
@Command(
        name = "shard",
        mixinStandardHelpOptions = true,
        description = "Register shards that run elsewhere (for local clusters: 'cluster add-shard').",
        subcommands = {ShardCommand.Add.class})
final class ShardCommand {

    @Command(
            name = "add",
            mixinStandardHelpOptions = true,
            description = {
                "Register a running PostgreSQL primary and its replicas as a new, empty shard of the cluster: it owns"
                        + " no key ranges until a move gives it some ('move plan', 'move start').",
                "Each replica's place in the cascade (hub of the primary, or leaf of another replica) is read from"
                        + " its pg_stat_wal_receiver. The database password comes from SHARDLINE_PASSWORD or"
                        + " PGPASSWORD."
            })
    static final class Add implements Callable<Integer> {
        @ArgGroup(exclusive = true, multiplicity = "1")
        ClusterTarget target = new ClusterTarget();

        @Option(names = "--primary", required = true, paramLabel = "HOST:PORT", description = "The shard's primary.")
        String primary;

        @Option(
                names = "--replica",
                paramLabel = "HOST:PORT",
                description = "A streaming replica of the shard (repeat for each).")
        List<String> replicas = new ArrayList<>();

        @Option(
                names = "--database",
                description = "The database on the new nodes; it must be the cluster's (default: the cluster's).")
        String database;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            ShardRegistrar.Registered shard;
            try (CuratorFramework client = ZooKeeperTopologyStore.newClient(target.zk(), Duration.ofSeconds(10))) {
                shard = ShardRegistrar.register(
                        client, target.name(), primary, replicas, database, ClusterTarget.password());
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), e.getMessage());
            }
            for (String w : shard.warnings()) {
                spec.commandLine().getErr().println("shardline: warning: " + w);
            }
            out.printf(
                    "Shard %d registered in cluster %s (topology version %d); it owns no key ranges yet.%n",
                    shard.shard(), target.name(), shard.topologyVersion());
            for (Node n : shard.nodes()) {
                out.printf(
                        "  %-12s %s:%-6d %s%s%n",
                        n.name(),
                        n.host(),
                        n.port(),
                        n.role().name().toLowerCase(Locale.ROOT),
                        n.upstream() == null ? "" : " of " + n.upstream());
            }
            out.println("Plan a move of ranges to it: ./shardline move plan " + target.describe());
            return 0;
        }
    }
}
