package io.shardline.cli;

import io.shardline.rebalancer.AutoFailover;
import io.shardline.rebalancer.ExternalPromotions;
import io.shardline.rebalancer.MoveException;
import io.shardline.rebalancer.Rebalancer;
import io.shardline.rebalancer.ShardRegistrar;
import io.shardline.rebalancer.Switchover;
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
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code shardline shard add | switchover | failover | auto-failover}: a shard run elsewhere, its primary. */
@Command(
        name = "shard",
        mixinStandardHelpOptions = true,
        description = "Register shards that run elsewhere (for local clusters: 'cluster add-shard'); switch a"
                + " shard's primary over to a replica, or fail a dead one over.",
        subcommands = {
            ShardCommand.Add.class,
            ShardCommand.SwitchoverCommand.class,
            ShardCommand.FailoverCommand.class,
            ShardCommand.FollowExternalPromotionsCommand.class,
            ShardCommand.AutoFailoverCommand.class
        })
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

    @Command(
            name = "switchover",
            mixinStandardHelpOptions = true,
            description = {
                "Make a replica of the shard's live primary (a hub) the primary, with no write lost or failed: every"
                        + " router holds the shard's writes (each acknowledges it), transactions open on the old"
                        + " primary finish (those still open after --grace are ended), the old primary goes"
                        + " read-only, the new one replays its last write and is promoted, the routers release the"
                        + " writes onto it, and the old primary's other replicas stream from it.",
                "The old primary stays up, read-only and out of the topology: rebuild it as a standby before"
                        + " registering it again. Interrupted, run the command again: it resumes. No move may run"
                        + " meanwhile. The database password comes from SHARDLINE_PASSWORD or PGPASSWORD."
            })
    static final class SwitchoverCommand extends PrimaryChange {
        SwitchoverCommand() {
            super(false);
        }
    }

    @Command(
            name = "failover",
            mixinStandardHelpOptions = true,
            description = {
                "Replace the shard's dead primary by the hub that received the most WAL (or --to): refused while the"
                        + " primary answers (use switchover). Every router holds the shard's writes until the"
                        + " promoted hub is published; the old primary's other replicas then stream from it.",
                "What the promoted hub had not received is lost: nothing acknowledged when the primary commits"
                        + " synchronously to its hubs (synchronous_standby_names). Keep the old primary out: the"
                        + " routers never write to it again, but other clients could."
            })
    static final class FailoverCommand extends PrimaryChange {
        FailoverCommand() {
            super(true);
        }
    }

    @Command(
            name = "auto-failover",
            mixinStandardHelpOptions = true,
            description = {
                "Turn automatic failover on or off for the cluster (off by default), or show it. When on, the leading"
                        + " rebalancer ('./shardline rebalancer') tries every shard's primary once a second while no"
                        + " move runs, and fails over a primary that missed three tries in a row, as 'shard failover'"
                        + " does. Idle while follow-external-promotions is on."
            })
    static final class AutoFailoverCommand extends ClusterSetting {
        AutoFailoverCommand() {
            super("Automatic failover", AutoFailover::enabled, AutoFailover::enable);
        }
    }

    @Command(
            name = "follow-external-promotions",
            mixinStandardHelpOptions = true,
            description = {
                "Turn following of promotions made by another tool (Patroni, pg_ctl promote, a managed service) on"
                        + " or off for the cluster (off by default), or show it. When on, the leading rebalancer asks"
                        + " every node once a second whether it is in recovery; a replica that is not, while the"
                        + " topology's primary is in recovery or does not answer, is published as the primary and"
                        + " every router follows. It never fights: while the old primary still takes writes, or"
                        + " several replicas were promoted, nothing is published and the rebalancer logs why."
                        + " Automatic failover stays idle while this is on."
            })
    static final class FollowExternalPromotionsCommand extends ClusterSetting {
        FollowExternalPromotionsCommand() {
            super("Following promotions made by another tool", ExternalPromotions::enabled, ExternalPromotions::enable);
        }
    }

    /** A cluster-wide on/off setting the leading rebalancer acts on. */
    abstract static class ClusterSetting implements Callable<Integer> {
        interface Reader {
            boolean enabled(CuratorFramework client, String cluster) throws Exception;
        }

        interface Writer {
            void enable(CuratorFramework client, String cluster, boolean on) throws Exception;
        }

        private final String what;
        private final Reader reader;
        private final Writer writer;

        @ArgGroup(exclusive = true, multiplicity = "1")
        ClusterTarget target = new ClusterTarget();

        @Parameters(arity = "0..1", paramLabel = "on|off", description = "on or off; without it, says which it is.")
        String setting;

        @Spec
        CommandSpec spec;

        ClusterSetting(String what, Reader reader, Writer writer) {
            this.what = what;
            this.reader = reader;
            this.writer = writer;
        }

        @Override
        public Integer call() throws Exception {
            if (setting != null && !setting.equals("on") && !setting.equals("off")) {
                throw new ParameterException(spec.commandLine(), "say 'on' or 'off', not '" + setting + "'");
            }
            try (CuratorFramework client = ZooKeeperTopologyStore.newClient(target.zk(), Duration.ofSeconds(10))) {
                if (setting != null) {
                    try {
                        writer.enable(client, target.name(), setting.equals("on"));
                    } catch (IllegalArgumentException e) {
                        throw new ParameterException(spec.commandLine(), e.getMessage());
                    }
                }
                boolean on = reader.enabled(client, target.name());
                spec.commandLine()
                        .getOut()
                        .printf(
                                "%s is %s for cluster %s%s.%n",
                                what,
                                on ? "on" : "off",
                                target.name(),
                                on ? " (a rebalancer must run: it watches the primaries)" : "");
            }
            return 0;
        }
    }

    /** A switchover or a failover of one shard's primary. */
    abstract static class PrimaryChange implements Callable<Integer> {
        private final boolean failover;

        @ArgGroup(exclusive = true, multiplicity = "1")
        ClusterTarget target = new ClusterTarget();

        @Option(names = "--shard", required = true, description = "The shard whose primary changes.")
        int shard;

        @Option(
                names = "--to",
                paramLabel = "NODE",
                description = "The hub to promote (default: the one that has received the most WAL).")
        String to;

        @Option(
                names = "--grace",
                paramLabel = "SECONDS",
                defaultValue = "5",
                description = "How long transactions open on a live old primary have to finish (default:"
                        + " ${DEFAULT-VALUE}).")
        int graceSeconds;

        @Spec
        CommandSpec spec;

        PrimaryChange(boolean failover) {
            this.failover = failover;
        }

        @Override
        public Integer call() throws Exception {
            if (graceSeconds < 0) {
                throw new ParameterException(spec.commandLine(), "--grace must be 0 or more, not " + graceSeconds);
            }
            PrintWriter out = spec.commandLine().getOut();
            Switchover.Result result;
            try (ZooKeeperTopologyStore store =
                            ZooKeeperTopologyStore.connect(target.zk(), target.name(), Duration.ofSeconds(10));
                    CuratorFramework client = ZooKeeperTopologyStore.newClient(target.zk(), Duration.ofSeconds(10))) {
                Switchover.Settings settings = new Switchover.Settings(
                        Switchover.Settings.DEFAULT.ackTimeout(),
                        Duration.ofSeconds(graceSeconds),
                        Switchover.Settings.DEFAULT.replayTimeout());
                Switchover change = new Switchover(
                        client,
                        target.name(),
                        Rebalancer.connector(
                                store.snapshot().topology(), ClusterTarget.password(), "shardline-switchover"),
                        settings);
                result = failover ? change.failover(shard, to) : change.run(shard, to);
            } catch (MoveException e) {
                spec.commandLine().getErr().println("shardline: " + e.getMessage());
                return 1;
            }
            for (String w : result.warnings()) {
                spec.commandLine().getErr().println("shardline: warning: " + w);
            }
            out.printf(
                    "Shard %d: %s is the primary (was %s), topology version %d; its writes were held %d ms.%n",
                    result.shard(), result.to(), result.from(), result.topologyVersion(), result.writesHeldMs());
            if (!result.repointed().isEmpty()) {
                out.println("Streaming from " + result.to() + " now: " + String.join(", ", result.repointed()));
            }
            out.printf(
                    "%s is %sno longer in the topology: rebuild it as a standby of %s before adding it back.%n",
                    result.from(), failover ? "" : "read-only and ", result.to());
            return 0;
        }
    }
}
