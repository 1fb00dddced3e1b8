package io.shardline.topology;

import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.json.JsonMapper;

/**
 * A router's ephemeral node {@code routers/{id}}: who it is, the ring version it routes by and the moves
 * whose fence it holds. The rebalancer counts these to know every live router acknowledged a fence; the
 * node disappears with the router's ZooKeeper session (and Curator recreates it on a new one).
 */
public final class RouterRegistration implements AutoCloseable {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Logger LOG = LoggerFactory.getLogger(RouterRegistration.class);

    /**
     * How long after a router's node disappeared a cutover still counts that router as possibly writing: a router
     * cut off from ZooKeeper cannot know when the servers expire its session, so it writes by its ring until
     * {@link #WRITE_MARGIN_MS} before this grace ends (its session timeout plus the grace, minus the margin, after
     * its last answer), and a cutover proceeds without it only once this grace has passed since its node went
     * (or since the rebalancer began watching, when it cannot know).
     */
    public static final long DEPARTURE_GRACE_MS = 4_000;

    /** The time a router leaves a write it let in to complete before a cutover may proceed without it. */
    public static final long WRITE_MARGIN_MS = 2_500;

    /**
     * How long {@link #close} waits for ZooKeeper to delete this router's node: long enough for a client that lost its
     * connection a moment ago (a server's restart) to reconnect and delete it, so that no cutover or switchover waits
     * out this router's session.
     */
    static final long CLOSE_WAIT_MS = 2_000;

    /**
     * What a router publishes about itself.
     *
     * @param fencesHeld the fences it holds, each as {@link #fenceToken}: one fence attempt of one move
     */
    public record RouterState(String host, long pid, long ringVersion, List<String> fencesHeld) {
        /** Whether it holds a fence of move {@code moveId}, of any attempt. */
        public boolean holdsAnyFenceOf(String moveId) {
            return fencesHeld.stream().anyMatch(f -> f.equals(moveId) || f.startsWith(moveId + "@"));
        }
    }

    /**
     * What a router acknowledges for one fence attempt: the move's id and the time its record was written in that
     * state. A move fenced again after a failed cutover has a new token, so an acknowledgement of the earlier attempt
     * (published late) never counts for the later one.
     */
    public static String fenceToken(MoveRecord move) {
        return move.id() + "@" + move.updatedAtMillis();
    }

    /**
     * What a router acknowledges for a primary switchover: every router holds the writes of the switching shard
     * while the topology marks it with switchover {@code id} (a new id for every attempt). A failover's hold ({@link
     * Shard#FAILOVER_MARK}) is acknowledged with a token of its own, by routers that also cut their connections to
     * the old primary: a router of an earlier version, which holds the writes but cuts nothing, is not counted.
     */
    public static String switchoverToken(String id) {
        return (id.startsWith(Shard.FAILOVER_MARK) ? SEVERED : SWITCHOVER) + id;
    }

    /** Whether {@code token} acknowledges a switchover's or a failover's hold (not a move's fence). */
    public static boolean isSwitchoverToken(String token) {
        return token.startsWith(SWITCHOVER) || token.startsWith(SEVERED);
    }

    private static final String SWITCHOVER = "switchover ";
    private static final String SEVERED = "severed ";

    /**
     * The live routers of {@code cluster} that have not acknowledged {@code token} yet (a router whose node is gone
     * no longer writes, so it is not waited for).
     *
     * @throws TopologyException when ZooKeeper cannot be read
     */
    public static List<String> notAcknowledged(CuratorFramework client, String cluster, String token) {
        String routers = ZooKeeperTopologyStore.clusterPath(cluster) + "/routers";
        List<String> missing = new ArrayList<>();
        try {
            if (client.checkExists().forPath(routers) == null) {
                return missing;
            }
            for (String child : client.getChildren().forPath(routers)) {
                try {
                    byte[] data = client.getData().forPath(routers + "/" + child);
                    if (!read(data, child).fencesHeld().contains(token)) {
                        missing.add(child);
                    }
                } catch (KeeperException.NoNodeException gone) {
                    // that router's session ended
                }
            }
        } catch (TopologyException e) {
            throw e;
        } catch (Exception e) {
            throw new TopologyException("reading the routers' acknowledgements: " + e.getMessage(), e);
        }
        return missing;
    }

    private final PersistentNode node;
    private final String host;
    private final String id = UUID.randomUUID().toString();
    private final String path;

    public RouterRegistration(CuratorFramework client, String cluster) {
        this.host = hostName();
        this.path = ZooKeeperTopologyStore.clusterPath(cluster) + "/routers/" + id;
        this.node = new PersistentNode(
                client, CreateMode.EPHEMERAL, false, path, JSON.writeValueAsBytes(state(0, List.of())));
    }

    public void start() {
        node.start();
    }

    /**
     * Waits until this router's node exists in ZooKeeper: from then on a rebalancer's cutover waits for this router's
     * acknowledgement.
     *
     * @return whether it exists within {@code timeoutMs}
     */
    public boolean awaitCreated(long timeoutMs) {
        try {
            return node.waitForInitialCreate(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** The path of this router's node. */
    public String path() {
        return path;
    }

    /** This router's id: the name of its node under {@code routers/}, which exists while it lives. */
    public String id() {
        return id;
    }

    /** Publishes the ring version this router routes by and the moves whose fences it holds. */
    public void update(long ringVersion, List<String> fencesHeld) {
        try {
            node.setData(JSON.writeValueAsBytes(state(ringVersion, fencesHeld)));
        } catch (Exception e) {
            // PersistentNode keeps the data first: when the node is (re)created it carries it
            LOG.debug("router state not written yet: {}", e.toString());
        }
    }

    private RouterState state(long ringVersion, List<String> fencesHeld) {
        return new RouterState(host, ProcessHandle.current().pid(), ringVersion, fencesHeld);
    }

    /** @throws TopologyException naming {@code source} when the bytes are not a router's state */
    public static RouterState read(byte[] json, String source) {
        try {
            return JSON.readValue(json, RouterState.class);
        } catch (RuntimeException e) {
            throw new TopologyException(source + " is not a router's state: " + e.getMessage(), e);
        }
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return ManagementFactory.getRuntimeMXBean().getName();
        }
    }

    /**
     * Deletes this router's node, waiting for that {@link #CLOSE_WAIT_MS} at most: cut off from ZooKeeper, Curator's
     * guaranteed delete retries for its connection timeout several times (a driver's close hung 10-20 s on a
     * ZooKeeper that had gone). The node is ephemeral: once the client closes, it goes with the session (at once
     * when the servers hear of the close, else when they expire the session), and the deletion left running in the
     * background ends with the client. Curator no longer recreates the node either way.
     */
    @Override
    public void close() {
        boolean deleted = BoundedClose.run("shardline-router-deregistration", CLOSE_WAIT_MS, () -> {
            try {
                node.close();
            } catch (Exception | LinkageError e) {
                LOG.debug("deleting router node {}: {}", path, e.toString());
            }
        });
        if (!deleted) {
            LOG.warn(
                    "ZooKeeper did not answer within {} ms: router node {} goes when this router's session ends",
                    CLOSE_WAIT_MS,
                    path);
        }
    }
}
