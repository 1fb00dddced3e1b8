package io.shardline.rebalancer;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.Shard;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.TopologyException;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.curator.framework.CuratorFramework;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows promotions made by another tool (Patroni, {@code pg_ctl promote}, a managed service), when the operator
 * turned it on for the cluster ({@code ./shardline shard follow-external-promotions on}): each round (the leading
 * rebalancer's, once a second) asks every node of every shard whether it is in recovery. When a replica is not and
 * the topology's primary is in recovery or unreachable, the replica is published as the shard's primary (the old
 * primary kept as its hub when it follows now, else left out; the cascade's roles by depth), and every router
 * follows. It never fights: while the old primary still takes writes, or several replicas were promoted, nothing is
 * published and an error says why; automatic failover stays idle while this is on.
 */
public final class ExternalPromotions {
    private static final Logger LOG = LoggerFactory.getLogger(ExternalPromotions.class);
    /** The switch node that turns following on. */
    public static final String NODE = "follow-external-promotions";

    private final CuratorFramework client;
    private final String cluster;
    private final String password;
    /** Shards whose split state was reported, so the error is logged once until it changes. */
    private final Set<String> reported = new HashSet<>();

    ExternalPromotions(CuratorFramework client, String cluster, String password) {
        this.client = client;
        this.cluster = cluster;
        this.password = password;
    }

    /** Whether promotions made by another tool are followed for {@code cluster}. */
    public static boolean enabled(CuratorFramework client, String cluster) throws Exception {
        return ClusterSwitch.on(client, cluster, NODE);
    }

    /**
     * Turns following on or off for {@code cluster}.
     *
     * @throws IllegalArgumentException when ZooKeeper holds no such cluster
     */
    public static void enable(CuratorFramework client, String cluster, boolean on) throws Exception {
        ClusterSwitch.set(client, cluster, NODE, on);
    }

    /** What a node said when asked whether it is in recovery. */
    enum Answer {
        PRIMARY,
        STANDBY,
        UNREACHABLE,
        /** a server is there but did not say (too many clients, a wrong password, starting up) */
        OTHER
    }

    /** Forgets the errors reported (following is off). */
    void forget() {
        reported.clear();
    }

    /** One round (following is on). */
    void round() throws Exception {
        String path = ZooKeeperTopologyStore.clusterPath(cluster) + "/topology";
        ClusterTopology topology =
                TopologyCodec.topologyFromJson(client.getData().forPath(path), path);
        MoveEstimate.Connector connector = Rebalancer.connector(topology, password, "shardline-follow");
        for (Shard shard : topology.shards()) {
            if (shard.switchover() == null && !shard.replicas().isEmpty()) {
                follow(shard, connector);
            }
        }
    }

    private void follow(Shard shard, MoveEstimate.Connector connector) {
        List<Node> promoted = new ArrayList<>();
        for (Node replica : shard.replicas()) {
            if (ask(connector, replica) == Answer.PRIMARY) {
                promoted.add(replica);
            }
        }
        if (promoted.isEmpty()) {
            reported.remove("shard " + shard.id());
            return;
        }
        Node old = shard.primary();
        Answer oldSays = ask(connector, old);
        String problem = null;
        if (promoted.size() > 1) {
            problem = "replicas " + promoted.stream().map(Node::name).toList() + " were all promoted";
        } else if (oldSays == Answer.PRIMARY) {
            problem = promoted.get(0).name() + " was promoted while " + old.name()
                    + " (the topology's primary) still takes writes";
        } else if (oldSays == Answer.OTHER) {
            problem = promoted.get(0).name() + " was promoted, but " + old.name()
                    + " (the topology's primary) does not say whether it is in recovery";
        }
        if (problem != null) {
            if (reported.add("shard " + shard.id() + ": " + problem)) {
                LOG.error(
                        "shard {}: {}: not following (writes still go to {}); fence the old primary, or publish the"
                                + " one you want with ./shardline shard switchover",
                        shard.id(),
                        problem,
                        old.name());
            }
            return;
        }
        Node candidate = promoted.get(0);
        boolean oldFollows = oldSays == Answer.STANDBY;
        try {
            ClusterTopology published = ZooKeeperTopologyStore.updateTopology(client, cluster, t -> {
                Shard now = t.shard(shard.id());
                if (!now.equals(shard)) {
                    throw new TopologyException("shard " + shard.id() + " changed meanwhile");
                }
                Shard next = Switchover.promoted(now, old, candidate);
                if (oldFollows) {
                    List<Node> nodes = new ArrayList<>(next.nodes());
                    nodes.add(new Node(old.name(), NodeRole.HUB, old.host(), old.port(), candidate.name()));
                    next = new Shard(next.id(), nodes, null);
                }
                return t.withShardReplaced(next);
            });
            reported.clear();
            LOG.warn(
                    "shard {}: {} was promoted by another tool; published as the primary (topology version {}),"
                            + " {} {}",
                    shard.id(),
                    candidate.name(),
                    published.version(),
                    old.name(),
                    oldFollows ? "kept as its hub (it is in recovery)" : "left out (it does not answer)");
        } catch (TopologyException e) {
            LOG.warn("shard {}: following the promotion of {}: {}", shard.id(), candidate.name(), e.getMessage());
        }
    }

    private static Answer ask(MoveEstimate.Connector connector, Node node) {
        try (Connection c = connector.connect(node, Duration.ofSeconds(2));
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery()")) {
            rs.next();
            return rs.getBoolean(1) ? Answer.STANDBY : Answer.PRIMARY;
        } catch (SQLException e) {
            return Switchover.unreachable(e) ? Answer.UNREACHABLE : Answer.OTHER;
        }
    }
}
