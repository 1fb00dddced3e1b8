package io.shardline.rebalancer;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.PgTls;
import io.shardline.topology.Shard;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.curator.framework.CuratorFramework;

/**
 * Registers a running PostgreSQL primary and its replicas as a new, empty shard of a cluster (it owns no key ranges
 * until a move gives it some). Each replica's place in the cascade is read from its {@code pg_stat_wal_receiver}.
 * Used by {@code ./shardline shard add} and the console's {@code POST /api/shards}.
 */
public final class ShardRegistrar {
    private ShardRegistrar() {}

    /**
     * What was registered.
     *
     * @param warnings things that work now but will not later (e.g. wal_level below logical)
     */
    public record Registered(int shard, long topologyVersion, List<Node> nodes, List<String> warnings) {}

    /**
     * Checks the nodes and writes the new shard into the cluster's topology.
     *
     * @param primary {@code host:port} of the read-write node
     * @param replicas {@code host:port} of each streaming replica
     * @param database the database on the new nodes, or null for the cluster's (it must be the cluster's)
     * @param password the cluster user's password, or null
     * @throws IllegalArgumentException naming the problem: malformed address, wrong database, a node not
     *     reachable, a replica given as primary, a replica streaming from outside the shard, a node already known
     */
    public static Registered register(
            CuratorFramework client,
            String cluster,
            String primary,
            List<String> replicas,
            String database,
            String password) {
        ClusterTopology topology = read(client, cluster);
        if (database != null && !database.equals(topology.database())) {
            throw new IllegalArgumentException("every shard of cluster " + topology.cluster() + " serves database '"
                    + topology.database() + "', not '" + database + "'");
        }
        String user = topology.user() == null ? "postgres" : topology.user();
        int id = topology.shardIds().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        List<String> known = topology.shards().stream()
                .flatMap(s -> s.nodes().stream())
                .map(n -> n.host() + ":" + n.port())
                .toList();
        Map<String, Endpoint> nodes = new LinkedHashMap<>();
        nodes.put(primary, Endpoint.parse(primary));
        for (String r : replicas) {
            if (nodes.put(r, Endpoint.parse(r)) != null) {
                throw new IllegalArgumentException(r + " is named twice");
            }
        }
        for (String address : nodes.keySet()) {
            if (known.contains(address)) {
                throw new IllegalArgumentException(address + " is already a node of cluster " + topology.cluster());
            }
        }
        List<String> warnings = new ArrayList<>();
        Endpoint p = nodes.get(primary);
        try (Connection c = p.connect(topology.database(), user, password)) {
            if (bool(c, "SELECT pg_is_in_recovery()")) {
                throw new IllegalArgumentException(
                        primary + " is in recovery: the primary must be the read-write node");
            }
            String walLevel = text(c, "SHOW wal_level");
            if (!walLevel.equals("logical")) {
                warnings.add(primary + " runs with wal_level=" + walLevel + ": it can receive ranges, but moving"
                        + " ranges away from it later needs wal_level = logical");
            }
        } catch (SQLException e) {
            throw new IllegalArgumentException("asking " + primary + ": " + e.getMessage(), e);
        }
        Map<String, String> upstreams = new LinkedHashMap<>();
        for (String r : replicas) {
            try (Connection c = nodes.get(r).connect(topology.database(), user, password)) {
                if (!bool(c, "SELECT pg_is_in_recovery()")) {
                    throw new IllegalArgumentException(r + " is not a replica (not in recovery)");
                }
                upstreams.put(
                        r,
                        text(
                                c,
                                "SELECT coalesce((SELECT sender_host || ':' || sender_port FROM"
                                        + " pg_stat_wal_receiver), '')"));
            } catch (SQLException e) {
                throw new IllegalArgumentException("asking " + r + ": " + e.getMessage(), e);
            }
        }
        List<Node> members = new ArrayList<>();
        members.add(new Node("s" + id + "-primary", NodeRole.PRIMARY, p.host, p.port, null));
        Map<String, String> names = new LinkedHashMap<>();
        names.put(primary, "s" + id + "-primary");
        int hubs = 0;
        int leaves = 0;
        for (String r : replicas) {
            Endpoint e = nodes.get(r);
            if (sameNode(upstreams.get(r), primary)) {
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
                    .orElseThrow(() -> new IllegalArgumentException(r
                            + (upstream.isEmpty() ? " is not streaming from anywhere" : " streams from " + upstream)
                            + ", which is neither " + primary + " nor a replica of it named here"));
            Endpoint e = nodes.get(r);
            String name = "s" + id + "-leaf" + (++leaves);
            names.put(r, name);
            members.add(new Node(name, NodeRole.LEAF, e.host, e.port, hub));
        }
        ClusterTopology registered = ZooKeeperTopologyStore.updateTopology(
                client, topology.cluster(), t -> t.withShard(new Shard(id, members)));
        return new Registered(id, registered.version(), members, warnings);
    }

    private static ClusterTopology read(CuratorFramework client, String cluster) {
        String path = ZooKeeperTopologyStore.clusterPath(cluster) + "/topology";
        try {
            if (client.checkExists().forPath(path) == null) {
                throw new IllegalArgumentException(
                        "ZooKeeper " + client.getZookeeperClient().getCurrentConnectionString()
                                + " has no cluster named " + cluster);
            }
            return TopologyCodec.topologyFromJson(client.getData().forPath(path), path);
        } catch (IllegalArgumentException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("reading the topology of cluster " + cluster + ": " + e.getMessage(), e);
        }
    }

    /** Whether {@code sender} (a replica's {@code host:port} upstream) is the node given as {@code address}. */
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

    private record Endpoint(String host, int port) {
        static Endpoint parse(String address) {
            int colon = address == null ? -1 : address.lastIndexOf(':');
            if (colon <= 0) {
                throw new IllegalArgumentException("'" + address + "' is not HOST:PORT");
            }
            try {
                int port = Integer.parseInt(address.substring(colon + 1));
                if (port < 1 || port > 65535) {
                    throw new NumberFormatException();
                }
                String host = address.substring(0, colon);
                // before any connection: the address is made into a URL, and the cluster's password goes to it
                Node.checkHost("the host of '" + address + "'", host);
                return new Endpoint(host, port);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("'" + address + "' has no valid port", e);
            }
        }

        Connection connect(String database, String user, String password) {
            Properties props = new Properties();
            props.setProperty("user", user);
            if (password != null) {
                props.setProperty("password", password);
            }
            props.setProperty("connectTimeout", "10");
            props.setProperty("ApplicationName", "shardline-shard-add");
            PgTls.processDefault().addTo(props);
            try {
                return DriverManager.getConnection("jdbc:postgresql://" + host + ":" + port + "/" + database, props);
            } catch (SQLException e) {
                throw new IllegalArgumentException(
                        "cannot connect to " + host + ":" + port + " (database " + database + ", user " + user + "): "
                                + e.getMessage(),
                        e);
            }
        }
    }
}
