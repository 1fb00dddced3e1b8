package io.shardline.cli;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.Shard;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
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
            try (CuratorFramework client = ZooKeeperTopologyStore.newClient(target.zk(), Duration.ofSeconds(10))) {
                String path = ZooKeeperTopologyStore.clusterPath(target.name()) + "/topology";
                if (client.checkExists().forPath(path) == null) {
                    throw new ParameterException(
                            spec.commandLine(), "ZooKeeper " + target.zk() + " has no cluster named " + target.name());
                }
                ClusterTopology topology =
                        TopologyCodec.topologyFromJson(client.getData().forPath(path), path);
                if (database != null && !database.equals(topology.database())) {
                    throw new ParameterException(
                            spec.commandLine(),
                            "every shard of cluster " + topology.cluster() + " serves database '" + topology.database()
                                    + "', not '" + database + "'");
                }
                String user = topology.user() == null ? "postgres" : topology.user();
                int id = topology.shardIds().stream()
                                .mapToInt(Integer::intValue)
                                .max()
                                .orElse(-1)
                        + 1;
                List<String> known = topology.shards().stream()
                        .flatMap(s -> s.nodes().stream())
                        .map(n -> n.host() + ":" + n.port())
                        .toList();
                Map<String, Endpoint> nodes = new LinkedHashMap<>();
                nodes.put(primary, Endpoint.parse(spec, primary));
                for (String r : replicas) {
                    if (nodes.put(r, Endpoint.parse(spec, r)) != null) {
                        throw new ParameterException(spec.commandLine(), r + " is named twice");
                    }
                }
                for (String address : nodes.keySet()) {
                    if (known.contains(address)) {
                        throw new ParameterException(
                                spec.commandLine(), address + " is already a node of cluster " + topology.cluster());
                    }
                }
                List<String> warnings = new ArrayList<>();
                Endpoint p = nodes.get(primary);
                try (Connection c = p.connect(topology.database(), user)) {
                    if (bool(c, "SELECT pg_is_in_recovery()")) {
                        throw new ParameterException(
                                spec.commandLine(),
                                primary + " is in recovery: --primary must name the read-write node");
                    }
                    String walLevel = text(c, "SHOW wal_level");
                    if (!walLevel.equals("logical")) {
                        warnings.add(
                                primary + " runs with wal_level=" + walLevel + ": it can receive ranges, but moving"
                                        + " ranges away from it later needs wal_level = logical");
                    }
                }
                List<Node> members = new ArrayList<>();
                members.add(new Node("s" + id + "-primary", NodeRole.PRIMARY, p.host, p.port, null));
                Map<String, String> names = new LinkedHashMap<>();
                names.put(primary, "s" + id + "-primary");
                int hubs = 0;
                int leaves = 0;
                Map<String, String> upstreams = new LinkedHashMap<>();
                for (String r : replicas) {
                    Endpoint e = nodes.get(r);
                    try (Connection c = e.connect(topology.database(), user)) {
                        if (!bool(c, "SELECT pg_is_in_recovery()")) {
                            throw new ParameterException(spec.commandLine(), r + " is not a replica (not in recovery)");
                        }
                        upstreams.put(
                                r,
                                text(
                                        c,
                                        "SELECT coalesce((SELECT sender_host || ':' || sender_port FROM"
                                                + " pg_stat_wal_receiver), '')"));
                    }
                }
                for (String r : replicas) {
                    String upstream = upstreams.get(r);
                    Endpoint e = nodes.get(r);
                    if (sameNode(upstream, primary)) {
                        String name = "s" + id + "-hub" + (++hubs);
                        names.put(r, name);
                        members.add(new Node(name, NodeRole.HUB, e.host, e.port, "s" + id + "-primary"));
                    }
                }
                for (String r : replicas) {
                    if (names.containsKey(r)) {
                        continue;
                    }
                    String upstream = upstreams.get(r);
                    String hub = names.entrySet().stream()
                            .filter(n -> !n.getKey().equals(primary) && sameNode(upstream, n.getKey()))
                            .map(Map.Entry::getValue)
                            .findFirst()
                            .orElseThrow(() -> new ParameterException(
                                    spec.commandLine(),
                                    r
                                            + (upstream.isEmpty()
                                                    ? " is not streaming from anywhere"
                                                    : " streams from " + upstream)
                                            + ", which is neither " + primary + " nor a replica of it named here"));
                    Endpoint e = nodes.get(r);
                    String name = "s" + id + "-leaf" + (++leaves);
                    names.put(r, name);
                    members.add(new Node(name, NodeRole.LEAF, e.host, e.port, hub));
                }
                ClusterTopology registered = ZooKeeperTopologyStore.updateTopology(
                        client, topology.cluster(), t -> t.withShard(new Shard(id, members)));
                for (String w : warnings) {
                    spec.commandLine().getErr().println("shardline: warning: " + w);
                }
                out.printf(
                        "Shard %d registered in cluster %s (topology version %d); it owns no key ranges yet.%n",
                        id, topology.cluster(), registered.version());
                for (Node n : members) {
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

        /** Whether {@code host:port} as a replica reports its sender names the node given as {@code address}. */
        private static boolean sameNode(String sender, String address) {
            if (sender.equals(address)) {
                return true;
            }
            int colon = address.lastIndexOf(':');
            String host = address.substring(0, colon);
            String port = address.substring(colon + 1);
            boolean local = host.equals("localhost") || host.equals("127.0.0.1");
            return local && (sender.equals("127.0.0.1:" + port) || sender.equals("localhost:" + port));
        }

        private static boolean bool(Connection c, String sql) throws SQLException {
            return text(c, sql).equals("t");
        }

        private static String text(Connection c, String sql) throws SQLException {
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery(sql)) {
                rs.next();
                return rs.getString(1);
            }
        }

        private record Endpoint(String host, int port, CommandSpec spec) {
            static Endpoint parse(CommandSpec spec, String address) {
                int colon = address.lastIndexOf(':');
                if (colon <= 0) {
                    throw new ParameterException(spec.commandLine(), "'" + address + "' is not HOST:PORT");
                }
                try {
                    int port = Integer.parseInt(address.substring(colon + 1));
                    if (port < 1 || port > 65535) {
                        throw new NumberFormatException();
                    }
                    return new Endpoint(address.substring(0, colon), port, spec);
                } catch (NumberFormatException e) {
                    throw new ParameterException(spec.commandLine(), "'" + address + "' has no valid port");
                }
            }

            Connection connect(String database, String user) {
                Properties props = new Properties();
                props.setProperty("user", user);
                String password = ClusterTarget.password();
                if (password != null) {
                    props.setProperty("password", password);
                }
                props.setProperty("connectTimeout", "10");
                props.setProperty("ApplicationName", "shardline-shard-add");
                try {
                    return DriverManager.getConnection(
                            "jdbc:postgresql://" + host + ":" + port + "/" + database, props);
                } catch (SQLException e) {
                    throw new ParameterException(
                            spec.commandLine(),
                            "cannot connect to " + host + ":" + port + " (database " + database + ", user " + user
                                    + "): " + e.getMessage());
                }
            }
        }
    }
}
