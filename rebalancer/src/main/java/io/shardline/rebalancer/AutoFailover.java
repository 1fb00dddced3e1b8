package io.shardline.rebalancer;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.Node;
import io.shardline.topology.Shard;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.apache.curator.framework.CuratorFramework;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The rebalancer leader's watch on the primaries, when the operator enabled automatic failover for the cluster
 * ({@code ./shardline shard auto-failover on}) and does not follow promotions made by another tool
 * ({@link ExternalPromotions}): each round
 * tries every shard's primary once; a primary that failed {@link #MISSES} rounds in a row (a round a second: about
 * three seconds) is failed over to its hub that received the most WAL ({@link Switchover#failover}).
 */
public final class AutoFailover {
    private static final Logger LOG = LoggerFactory.getLogger(AutoFailover.class);
    /** Rounds in a row a primary must miss. */
    static final int MISSES = 3;
    /** The switch node that turns automatic failover on. */
    public static final String NODE = "auto-failover";

    private final CuratorFramework client;
    private final String cluster;
    private final String password;
    private final ExternalPromotions promotions;
    /** Rounds missed in a row, by primary (a shard's new primary starts from none). */
    private final Map<String, Integer> misses = new HashMap<>();
    /** The failover holds (by shard) seen in the last round: still there in this one, they are resumed. */
    private final Map<Integer, String> interrupted = new HashMap<>();

    public AutoFailover(CuratorFramework client, String cluster, String password) {
        this.client = client;
        this.cluster = cluster;
        this.password = password;
        this.promotions = new ExternalPromotions(client, cluster, password);
    }

    /** Whether automatic failover is on for {@code cluster} (see {@link ClusterSwitch}). */
    public static boolean enabled(CuratorFramework client, String cluster) throws Exception {
        return ClusterSwitch.on(client, cluster, NODE);
    }

    /**
     * Turns automatic failover on or off for {@code cluster}.
     *
     * @throws IllegalArgumentException when ZooKeeper holds no such cluster
     */
    public static void enable(CuratorFramework client, String cluster, boolean on) throws Exception {
        ClusterSwitch.set(client, cluster, NODE, on);
    }

    /**
     * One round: follows promotions made by another tool when that is on (and does nothing else), else, when
     * automatic failover is on, tries each primary, fails over those that missed {@link #MISSES} rounds.
     */
    /** @param departures the routers leaving, as the rebalancer has watched them since it started */
    void round(RouterDepartures departures) throws Exception {
        if (ExternalPromotions.enabled(client, cluster)) {
            // promotions are made by another tool and followed: promoting here too would fight it
            misses.clear();
            interrupted.clear();
            promotions.round();
            return;
        }
        promotions.forget();
        if (!enabled(client, cluster)) {
            misses.clear();
            interrupted.clear();
            return;
        }
        Map<String, Integer> before = new HashMap<>(misses);
        misses.clear();
        String path = ZooKeeperTopologyStore.clusterPath(cluster) + "/topology";
        ClusterTopology topology =
                TopologyCodec.topologyFromJson(client.getData().forPath(path), path);
        MoveEstimate.Connector connector = Rebalancer.connector(topology, password, "shardline-failover");
        Map<Integer, String> marked = new HashMap<>(interrupted);
        interrupted.clear();
        for (Shard shard : topology.shards()) {
            if (shard.failingOver() && shard.switchover().equals(marked.get(shard.id()))) {
                resume(shard, connector, departures);
                continue;
            }
            if (shard.failingOver()) {
                // seen once: a failover may be running now; one still marked next round is resumed if none runs
                interrupted.put(shard.id(), shard.switchover());
                continue;
            }
            if (shard.switchover() != null || shard.replicas().isEmpty()) {
                continue;
            }
            Node primary = shard.primary();
            try (Connection c = connector.connect(primary, Duration.ofSeconds(2));
                    Statement s = c.createStatement()) {
                s.execute("SELECT 1");
                continue;
            } catch (SQLException e) {
                if (!Switchover.unreachable(e)) {
                    // a server is there (too many clients, a wrong password, starting up): not dead
                    LOG.warn(
                            "{} (primary of shard {}) answered with {}: {}",
                            primary.name(),
                            shard.id(),
                            e.getSQLState(),
                            e.getMessage());
                    continue;
                }
                int missed = before.getOrDefault(primary.name(), 0) + 1;
                LOG.warn(
                        "{} (primary of shard {}) did not answer ({} of {}): {}",
                        primary.name(),
                        shard.id(),
                        missed,
                        MISSES,
                        e.getMessage());
                if (missed < MISSES) {
                    misses.put(primary.name(), missed);
                    continue;
                }
            }
            try {
                Switchover.Result r = new Switchover(client, cluster, connector, Switchover.Settings.DEFAULT)
                        .failoverConfirmed(shard.id(), departures);
                LOG.warn(
                        "automatic failover of shard {}: {} replaces {} (topology version {}), writes held {} ms",
                        shard.id(),
                        r.to(),
                        r.from(),
                        r.topologyVersion(),
                        r.writesHeldMs());
            } catch (MoveException e) {
                LOG.error("automatic failover of shard {} failed: {}", shard.id(), e.getMessage());
            }
        }
    }

    /**
     * Resumes a failover whose hold was left on {@code shard} (its run died, or a ZooKeeper blip kept it from giving
     * the shard back or publishing): without this the shard's writes would stay held until an operator ran it again.
     */
    private void resume(Shard shard, MoveEstimate.Connector connector, RouterDepartures departures) {
        try {
            Switchover.Result r = new Switchover(client, cluster, connector, Switchover.Settings.DEFAULT)
                    .resumeFailover(shard.id(), departures);
            LOG.warn(
                    "automatic failover of shard {} resumed {}: {} replaces {} (topology version {})",
                    shard.id(),
                    shard.switchover(),
                    r.to(),
                    r.from(),
                    r.topologyVersion());
        } catch (MoveException e) {
            if (e.getMessage().contains("is running: wait for it")) {
                interrupted.put(shard.id(), shard.switchover());
                return;
            }
            LOG.error(
                    "resuming interrupted failover {} of shard {}: {}", shard.switchover(), shard.id(), e.getMessage());
            interrupted.put(shard.id(), shard.switchover());
        }
    }
}
