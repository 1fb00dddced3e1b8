package io.shardline.topology;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The topology and ring of one cluster in ZooKeeper, kept current in memory by watches.
 *
 * <p>Layout under {@code /shardline/clusters/<cluster>}: {@code topology} (JSON, see {@link TopologyCodec})
 * and {@code ring}. A change to either is seen by every store within ZooKeeper's notification delay and
 * published to the listeners as a new {@link TopologySnapshot}; malformed data is logged and ignored, so
 * the last good snapshot stays in force.
 *
 * <p>Lifecycle as Curator's recipes: {@code LATENT -> STARTED -> CLOSED}.
 */
public final class ZooKeeperTopologyStore implements TopologyStore {
    /** The root of every cluster's data in ZooKeeper. */
    public static final String ROOT = "/shardline/clusters";

    private static final Logger LOG = LoggerFactory.getLogger(ZooKeeperTopologyStore.class);
    private static final int MAX_UPDATE_ATTEMPTS = 50;

    private enum State {
        LATENT,
        STARTED,
        CLOSED
    }

    private final CuratorFramework client;
    private final boolean ownsClient;
    private final String cluster;
    private final String path;
    private final AtomicReference<State> state = new AtomicReference<>(State.LATENT);
    private final List<Consumer<TopologySnapshot>> listeners = new CopyOnWriteArrayList<>();
    private volatile TopologySnapshot snapshot;
    private CuratorCache topologyCache;
    private CuratorCache ringCache;

    /**
     * A store over an already started client, which stays open when the store closes.
     *
     * @throws IllegalArgumentException when the cluster name is not a plain name
     */
    public ZooKeeperTopologyStore(CuratorFramework client, String cluster) {
        this(client, cluster, false);
    }

    private ZooKeeperTopologyStore(CuratorFramework client, String cluster, boolean ownsClient) {
        this.client = client;
        this.cluster = checkClusterName(cluster);
        this.path = clusterPath(cluster);
        this.ownsClient = ownsClient;
    }

    /**
     * Connects to ZooKeeper, reads the cluster's topology and ring, and keeps watching them.
     *
     * @param connectString {@code host:port[,host:port...]}
     * @throws TopologyException when ZooKeeper does not answer within {@code connectTimeout} (naming the
     *     address) or has no such cluster (naming the clusters it has)
     */
    public static ZooKeeperTopologyStore connect(String connectString, String cluster, Duration connectTimeout) {
        return connect(connectString, cluster, connectTimeout, ZkCredentials.processDefault());
    }

    /** As {@link #connect(String, String, Duration)}, authenticated as {@code credentials} (null: as nobody). */
    public static ZooKeeperTopologyStore connect(
            String connectString, String cluster, Duration connectTimeout, ZkCredentials credentials) {
        return connect(connectString, cluster, connectTimeout, credentials, ZkTls.processDefault());
    }

    /** As {@link #connect(String, String, Duration, ZkCredentials)}, over TLS when {@code tls} is given. */
    public static ZooKeeperTopologyStore connect(
            String connectString, String cluster, Duration connectTimeout, ZkCredentials credentials, ZkTls tls) {
        CuratorFramework client = newClient(connectString, connectTimeout, credentials, tls);
        ZooKeeperTopologyStore store = new ZooKeeperTopologyStore(client, cluster, true);
        try {
            store.start();
            return store;
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
    }

    /**
     * A started Curator client that is connected, or an exception naming the address.
     *
     * @throws TopologyException when no connection is made within {@code connectTimeout}
     */
    public static CuratorFramework newClient(String connectString, Duration connectTimeout) {
        return newClient(connectString, connectTimeout, ZkCredentials.processDefault());
    }

    /**
     * As {@link #newClient(String, Duration)}, authenticated as {@code credentials} (null: as nobody); the nodes it
     * creates get {@link ZooKeeperAcls}' ACLs.
     */
    public static CuratorFramework newClient(String connectString, Duration connectTimeout, ZkCredentials credentials) {
        return newClient(connectString, connectTimeout, credentials, ZkTls.processDefault());
    }

    /**
     * As {@link #newClient(String, Duration, ZkCredentials)}, over TLS when {@code tls} is given; the session
     * timeout asked of the server is the larger of 10 s and {@code connectTimeout}.
     */
    public static CuratorFramework newClient(
            String connectString, Duration connectTimeout, ZkCredentials credentials, ZkTls tls) {
        return newClient(
                connectString,
                connectTimeout,
                Duration.ofMillis(Math.max(10_000, connectTimeout.toMillis())),
                credentials,
                tls);
    }

    /**
     * As {@link #newClient(String, Duration, ZkCredentials, ZkTls)} with the session timeout asked of the server
     * given (the server bounds it by its own minimum and maximum, 2 and 20 ticks by default): how long the
     * ephemeral nodes of a process that died without closing its session (a leadership, a router's registration)
     * outlive it.
     */
    public static CuratorFramework newClient(
            String connectString,
            Duration connectTimeout,
            Duration sessionTimeout,
            ZkCredentials credentials,
            ZkTls tls) {
        int timeoutMs = (int) Math.max(1, connectTimeout.toMillis());
        ZooKeeperAcls acls = new ZooKeeperAcls();
        CuratorFrameworkFactory.Builder builder = CuratorFrameworkFactory.builder()
                .connectString(connectString)
                .connectionTimeoutMs(timeoutMs)
                .sessionTimeoutMs((int) Math.max(1, sessionTimeout.toMillis()))
                .retryPolicy(new ExponentialBackoffRetry(100, 5, 2_000))
                .aclProvider(acls);
        if (credentials != null) {
            builder.authorization("digest", credentials.authBytes());
        }
        if (tls != null) {
            builder.zkClientConfig(tls.clientConfig());
        }
        CuratorFramework client = builder.build();
        acls.attach(client);
        client.start();
        boolean connected;
        try {
            connected = client.blockUntilConnected(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            connected = false;
        }
        if (!connected) {
            client.close();
            throw new TopologyException("ZooKeeper at " + connectString + " is unreachable: no connection within "
                    + timeoutMs + " ms"
                    + (tls != null
                            ? " over TLS (is its port a TLS one, and is its certificate signed by a CA of "
                                    + tls.trustStore() + " for that host?)"
                            : ""));
        }
        return client;
    }

    /** {@code /shardline/clusters/<cluster>}. */
    public static String clusterPath(String cluster) {
        return ROOT + "/" + checkClusterName(cluster);
    }

    /**
     * Writes a new cluster's topology and ring.
     *
     * @throws TopologyException when the cluster exists already, or ZooKeeper fails
     */
    public static void initialize(CuratorFramework client, ClusterTopology topology, HashRing ring) {
        String base = clusterPath(topology.cluster());
        new TopologySnapshot(topology, ring);
        try {
            client.create()
                    .creatingParentsIfNeeded()
                    .forPath(base + "/topology", TopologyCodec.topologyToJson(topology));
            client.create().forPath(base + "/ring", TopologyCodec.ringToJson(ring));
        } catch (KeeperException.NodeExistsException e) {
            throw new TopologyException("cluster '" + topology.cluster() + "' already exists in ZooKeeper at " + base);
        } catch (Exception e) {
            throw new TopologyException("could not write cluster '" + topology.cluster() + "' to ZooKeeper: " + e, e);
        }
    }

    /**
     * Changes the topology with a version-checked write, retrying when another writer got in first.
     *
     * @param change from the current topology to the next; its version is set here
     * @return the topology written
     * @throws TopologyException when the cluster does not exist or ZooKeeper fails
     */
    public static ClusterTopology updateTopology(
            CuratorFramework client, String cluster, UnaryOperator<ClusterTopology> change) {
        String node = clusterPath(cluster) + "/topology";
        for (int attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
            try {
                Stat stat = new Stat();
                byte[] data = client.getData().storingStatIn(stat).forPath(node);
                ClusterTopology current = TopologyCodec.topologyFromJson(data, "zk:" + node);
                ClusterTopology next = change.apply(current);
                ClusterTopology versioned = new ClusterTopology(
                        next.cluster(),
                        current.version() + 1,
                        next.database(),
                        next.user(),
                        next.homeShard(),
                        next.shards(),
                        next.tables(),
                        next.referenceTables(),
                        next.functions());
                client.setData().withVersion(stat.getVersion()).forPath(node, TopologyCodec.topologyToJson(versioned));
                return versioned;
            } catch (KeeperException.BadVersionException e) {
                LOG.debug("topology of {} changed concurrently; retrying", cluster);
                backOff(attempt);
            } catch (KeeperException.NoNodeException e) {
                throw unknownCluster(client, cluster);
            } catch (KeeperException.NoAuthException e) {
                throw ZooKeeperSecurity.refused(client, node, e);
            } catch (TopologyException | IllegalArgumentException e) {
                throw e;
            } catch (Exception e) {
                throw new TopologyException("could not update the topology of '" + cluster + "': " + e, e);
            }
        }
        throw new TopologyException("could not update the topology of '" + cluster + "': " + MAX_UPDATE_ATTEMPTS
                + " concurrent changes in a row");
    }

    /** Waits a random while, longer with each attempt, so concurrent writers stop colliding. */
    private static void backOff(int attempt) {
        try {
            Thread.sleep(ThreadLocalRandom.current().nextLong(1, 5L + 5L * Math.min(attempt, 20)));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TopologyException("interrupted while updating the topology", e);
        }
    }

    /** Reads the topology and ring once, then follows changes. */
    public void start() {
        if (!state.compareAndSet(State.LATENT, State.STARTED)) {
            throw new IllegalStateException("already started or closed");
        }
        snapshot = readSnapshot();
        ZooKeeperAcls.preload(client, cluster);
        topologyCache = CuratorCache.build(client, path + "/topology", CuratorCache.Options.SINGLE_NODE_CACHE);
        ringCache = CuratorCache.build(client, path + "/ring", CuratorCache.Options.SINGLE_NODE_CACHE);
        topologyCache.listenable().addListener((type, oldData, data) -> refresh());
        ringCache.listenable().addListener((type, oldData, data) -> refresh());
        topologyCache.start();
        ringCache.start();
    }

    @Override
    public TopologySnapshot snapshot() {
        return snapshot;
    }

    @Override
    public void addListener(Consumer<TopologySnapshot> listener) {
        listeners.add(listener);
    }

    @Override
    public String source() {
        return "zk://" + client.getZookeeperClient().getCurrentConnectionString() + path;
    }

    /** The Curator client, for other recipes on the same session. */
    public CuratorFramework client() {
        return client;
    }

    @Override
    public void close() {
        if (state.getAndSet(State.CLOSED) == State.CLOSED) {
            return;
        }
        if (topologyCache != null) {
            topologyCache.close();
        }
        if (ringCache != null) {
            ringCache.close();
        }
        if (ownsClient) {
            closeClient(client, CLOSE_WAIT_MS);
        }
    }

    /** How long {@link #close} waits for its client to end the session (see {@link #closeClient}). */
    static final long CLOSE_WAIT_MS = 1_000;

    /**
     * Closes {@code client}, waiting for that {@code waitMs} at most: ZooKeeper's close waits without a bound for the
     * servers to hear of the session's end, which on a network that drops packets to them lasts until the client's
     * own timeouts (7-40 s measured). Past the wait, the close goes on in the background, and the session's ephemeral
     * nodes go when the servers expire it.
     */
    public static void closeClient(CuratorFramework client, long waitMs) {
        if (!BoundedClose.run("shardline-zookeeper-close", waitMs, client::close)) {
            LOG.warn(
                    "ZooKeeper did not hear this client's close within {} ms: its session ends when the servers"
                            + " expire it",
                    waitMs);
        }
    }

    private void refresh() {
        if (state.get() != State.STARTED) {
            return;
        }
        Optional<byte[]> topology = topologyCache.get(path + "/topology").map(ChildData::getData);
        Optional<byte[]> ring = ringCache.get(path + "/ring").map(ChildData::getData);
        if (topology.isEmpty() || ring.isEmpty()) {
            return;
        }
        try {
            TopologySnapshot next = new TopologySnapshot(
                    TopologyCodec.topologyFromJson(topology.get(), source() + "/topology"),
                    TopologyCodec.ringFromJson(ring.get(), source() + "/ring"));
            if (next.equals(snapshot)) {
                return;
            }
            snapshot = next;
            listeners.forEach(l -> l.accept(next));
        } catch (TopologyException | IllegalArgumentException e) {
            LOG.warn("ignoring a topology change of cluster {}: {}", cluster, e.getMessage());
        }
    }

    private TopologySnapshot readSnapshot() {
        try {
            byte[] topology = client.getData().forPath(path + "/topology");
            byte[] ring = client.getData().forPath(path + "/ring");
            return new TopologySnapshot(
                    TopologyCodec.topologyFromJson(topology, source() + "/topology"),
                    TopologyCodec.ringFromJson(ring, source() + "/ring"));
        } catch (KeeperException.NoNodeException e) {
            throw unknownCluster(client, cluster);
        } catch (KeeperException.NoAuthException e) {
            throw ZooKeeperSecurity.refused(client, e.getPath() != null ? e.getPath() : path, e);
        } catch (TopologyException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new TopologyException(source() + ": " + e.getMessage(), e);
        } catch (Exception e) {
            throw new TopologyException("could not read cluster '" + cluster + "' from ZooKeeper: " + e, e);
        }
    }

    private static TopologyException unknownCluster(CuratorFramework client, String cluster) {
        String known;
        try {
            List<String> clusters = client.checkExists().forPath(ROOT) == null
                    ? List.of()
                    : client.getChildren().forPath(ROOT);
            known = clusters.isEmpty() ? "none" : String.join(", ", clusters);
        } catch (Exception e) {
            known = "unknown (" + e.getMessage() + ")";
        }
        return new TopologyException("unknown cluster '" + cluster + "': ZooKeeper at "
                + client.getZookeeperClient().getCurrentConnectionString() + " has no " + clusterPath(cluster)
                + "/topology (clusters there: " + known + ")");
    }

    private static String checkClusterName(String cluster) {
        if (cluster == null || !cluster.matches("[A-Za-z0-9_-]{1,64}")) {
            throw new IllegalArgumentException(
                    "cluster name '" + cluster + "' is invalid: use 1-64 letters, digits, '-' or '_'");
        }
        return cluster;
    }
}
