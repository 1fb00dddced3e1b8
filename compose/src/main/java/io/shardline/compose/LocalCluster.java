package io.shardline.compose;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A local Shardline cluster of real processes: per shard one PostgreSQL primary, hub replicas streaming from
 * it, and leaf replicas streaming from the hubs (cascading replication), plus an embedded ZooKeeper server.
 * It backs {@code ./shardline demo}, {@code ./shardline cluster up}, the integration tests and the
 * benchmarks.
 *
 * <pre>{@code
 * try (LocalCluster cluster = LocalCluster.builder().shards(2).hubs(1).leaves(1).start()) {
 *     try (Connection c = cluster.primary(0).connect()) { ... }
 *     cluster.node("s0-leaf1").pauseReplay();
 * }
 * }</pre>
 *
 * <p>{@link Builder#start()} returns once every standby is streaming from its upstream (its upstream's
 * {@code pg_stat_replication} lists it as {@code streaming}). {@link #close()} stops everything that was
 * started, also after a failed start, and a JVM shutdown hook does the same if the caller forgets.
 * When the JVM runs as root, the servers run as the {@code postgres} OS user.
 */
public final class LocalCluster implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(LocalCluster.class);
    private static final String ZK_ROOT = "/shardline/clusters/";

    /** Settings every node gets: logical WAL for shard moves, small memory so a dozen fit on 2 cores. */
    static final Map<String, String> BASE_SETTINGS = baseSettings();

    private final String name;
    private final String database;
    private final Path dir;
    private final boolean deleteOnClose;
    private final List<PgNode> nodes = new ArrayList<>();
    private final AtomicReference<State> state = new AtomicReference<>(State.STARTING);
    private EmbeddedZooKeeper zooKeeper;
    private Thread shutdownHook;

    private enum State {
        STARTING,
        STARTED,
        CLOSED
    }

    private LocalCluster(String name, String database, Path dir, boolean deleteOnClose) {
        this.name = name;
        this.database = database;
        this.dir = dir;
        this.deleteOnClose = deleteOnClose;
    }

    /** A builder with defaults: 2 shards, 1 hub and 1 leaf per shard, cluster {@code local}. */
    public static Builder builder() {
        return new Builder();
    }

    /** The cluster's name (its ZooKeeper path is {@code /shardline/clusters/<name>}). */
    public String name() {
        return name;
    }

    /** The database every node holds. */
    public String database() {
        return database;
    }

    /** The directory holding the nodes' data, their logs and ZooKeeper's data. */
    public Path dir() {
        return dir;
    }

    /** ZooKeeper's connect string, {@code 127.0.0.1:port}. */
    public String zkConnectString() {
        return zooKeeper.connectString();
    }

    /** The cluster's root path in ZooKeeper. */
    public String zkRoot() {
        return ZK_ROOT + name;
    }

    /** The {@code jdbc:shardline:} URL of this cluster. */
    public String shardlineUrl() {
        return "jdbc:shardline:zk://" + zkConnectString() + zkRoot();
    }

    /** Every node, shard by shard, primary first. */
    public List<PgNode> nodes() {
        return List.copyOf(nodes);
    }

    /** The number of shards. */
    public int shardCount() {
        return (int) nodes.stream().filter(n -> n.role() == NodeRole.PRIMARY).count();
    }

    /** The nodes of one shard, primary first. */
    public List<PgNode> shard(int shard) {
        return nodes.stream().filter(n -> n.shard() == shard).toList();
    }

    /** The primary of one shard. */
    public PgNode primary(int shard) {
        return nodes.stream()
                .filter(n -> n.shard() == shard && n.role() == NodeRole.PRIMARY)
                .findFirst()
                .orElseThrow(() -> new NoSuchElementException("no shard " + shard + " in cluster " + name));
    }

    /**
     * A node by name, e.g. {@code s1-leaf1}.
     *
     * @throws NoSuchElementException listing the node names when there is none of that name
     */
    public PgNode node(String nodeName) {
        return nodes.stream()
                .filter(n -> n.name().equals(nodeName))
                .findFirst()
                .orElseThrow(() -> new NoSuchElementException("no node '" + nodeName + "' in cluster " + name
                        + "; nodes: " + nodes.stream().map(PgNode::name).toList()));
    }

    /**
     * Waits until every standby has replayed all the WAL its shard's primary had written when this was
     * called: after it, reads on any replica see every committed write.
     *
     * @throws LocalClusterException naming the standby that did not catch up within {@code timeout}
     */
    public void awaitReplication(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (int shard = 0; shard < shardCount(); shard++) {
            String lsn = primary(shard).queryString("SELECT pg_current_wal_lsn()::text");
            for (PgNode node : shard(shard)) {
                if (node.role() == NodeRole.PRIMARY) {
                    continue;
                }
                while (!"t".equals(node.queryString("SELECT pg_last_wal_replay_lsn() >= '" + lsn + "'::pg_lsn"))) {
                    if (System.nanoTime() > deadline) {
                        throw new LocalClusterException(node.name() + " has not replayed up to " + lsn + " after "
                                + timeout.toSeconds() + " s");
                    }
                    PgNode.pause(Duration.ofMillis(10));
                }
            }
        }
    }

    /** What {@code cluster.json} holds for this cluster. */
    public ClusterDescriptor descriptor() {
        List<ClusterDescriptor.Node> described = nodes.stream()
                .map(n -> new ClusterDescriptor.Node(
                        n.name(),
                        n.shard(),
                        n.role().jsonName(),
                        n.host(),
                        n.port(),
                        n.upstream().map(PgNode::name).orElse(null)))
                .toList();
        return new ClusterDescriptor(
                name, zkConnectString(), database, ServerUser.POSTGRES, null, shardlineUrl(), described);
    }

    /**
     * Leaves stopping the cluster at JVM exit to the caller, who closes it from its own shutdown hook after
     * what uses the cluster has stopped (so that it does not see its servers vanish first).
     */
    public synchronized void disownShutdown() {
        if (shutdownHook != null) {
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException e) {
                // already shutting down: the hook runs anyway
            }
            shutdownHook = null;
        }
    }

    /**
     * Stops every server (fast shutdown, leaves first) and ZooKeeper, and deletes the data when the builder
     * chose the directory. Safe to call twice; a second caller returns once the first has finished.
     */
    @Override
    public synchronized void close() {
        if (state.getAndSet(State.CLOSED) == State.CLOSED) {
            return;
        }
        if (shutdownHook != null && Thread.currentThread() != shutdownHook) {
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException e) {
                // The JVM is already shutting down; the hook runs or has run this very method.
            }
        }
        List<RuntimeException> failures = new ArrayList<>();
        for (int i = nodes.size() - 1; i >= 0; i--) {
            try {
                nodes.get(i).stop();
            } catch (RuntimeException e) {
                failures.add(e);
            }
        }
        if (zooKeeper != null) {
            zooKeeper.close();
        }
        if (deleteOnClose && failures.isEmpty()) {
            try {
                ClusterDirectory.deleteRecursively(dir);
            } catch (IOException e) {
                LOG.warn("could not delete {}: {}", dir, e.getMessage());
            }
        }
        LOG.info("local cluster {} stopped", name);
        if (!failures.isEmpty()) {
            LocalClusterException e = new LocalClusterException("could not stop every node of cluster " + name);
            failures.forEach(e::addSuppressed);
            throw e;
        }
    }

    private void startAll(Builder b, PgBinaries binaries) {
        ServerUser serverUser = ServerUser.detect();
        Set<Integer> ports = new HashSet<>();
        try {
            Path nodesDir = dir.resolve("nodes");
            Path logsDir = Files.createDirectories(dir.resolve("logs"));
            Files.createDirectories(nodesDir);
            serverUser.handOver(nodesDir);
            serverUser.checkWritable(nodesDir);

            zooKeeper = EmbeddedZooKeeper.start(dir.resolve("zookeeper"), freePort(ports));
            LOG.info("ZooKeeper is up on {}", zooKeeper.connectString());

            Map<String, String> clusterSettings = new LinkedHashMap<>(BASE_SETTINGS);
            clusterSettings.putAll(b.settings);
            for (int shard = 0; shard < b.shards; shard++) {
                PgNode primary = newNode(
                        "s" + shard + "-primary", shard, NodeRole.PRIMARY, null, b, binaries, serverUser, ports);
                primary.initPrimary(clusterSettings);
                primary.start();
                primary.execute("CREATE DATABASE \"" + database.replace("\"", "\"\"") + "\"");
                List<PgNode> hubs = new ArrayList<>();
                for (int i = 1; i <= b.hubs; i++) {
                    PgNode hub = newNode(
                            "s" + shard + "-hub" + i, shard, NodeRole.HUB, primary, b, binaries, serverUser, ports);
                    hub.initStandby();
                    hub.start();
                    hubs.add(hub);
                }
                for (int j = 1; j <= b.leaves; j++) {
                    PgNode hub = hubs.get((j - 1) % hubs.size());
                    PgNode leaf = newNode(
                            "s" + shard + "-leaf" + j, shard, NodeRole.LEAF, hub, b, binaries, serverUser, ports);
                    leaf.initStandby();
                    leaf.start();
                }
            }
            for (PgNode node : nodes) {
                if (node.role() != NodeRole.PRIMARY) {
                    node.awaitStreaming(b.startTimeout);
                }
            }
        } catch (IOException e) {
            throw new LocalClusterException("could not prepare " + dir + ": " + e.getMessage(), e);
        }
    }

    private PgNode newNode(
            String nodeName,
            int shard,
            NodeRole role,
            PgNode upstream,
            Builder b,
            PgBinaries binaries,
            ServerUser serverUser,
            Set<Integer> ports) {
        PgNode node = new PgNode(
                nodeName,
                shard,
                role,
                upstream,
                freePort(ports),
                dir.resolve("nodes").resolve(nodeName),
                dir.resolve("logs").resolve(nodeName + ".log"),
                database,
                binaries,
                serverUser,
                b.nodeSettings.getOrDefault(nodeName, Map.of()));
        nodes.add(node);
        return node;
    }

    private static int freePort(Set<Integer> taken) {
        for (int attempt = 0; attempt < 100; attempt++) {
            try (ServerSocket socket = new ServerSocket(0)) {
                socket.setReuseAddress(true);
                int port = socket.getLocalPort();
                if (taken.add(port)) {
                    return port;
                }
            } catch (IOException e) {
                throw new UncheckedIOException("could not find a free TCP port", e);
            }
        }
        throw new LocalClusterException("could not find a free TCP port after 100 attempts");
    }

    private static Map<String, String> baseSettings() {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("listen_addresses", "127.0.0.1");
        // No Unix sockets: their path length is limited and every client here uses TCP.
        s.put("unix_socket_directories", "");
        s.put("wal_level", "logical");
        s.put("max_wal_senders", "16");
        s.put("max_replication_slots", "16");
        s.put("wal_keep_size", "128MB");
        s.put("hot_standby", "on");
        s.put("hot_standby_feedback", "on");
        s.put("wal_receiver_status_interval", "1s");
        s.put("max_connections", "100");
        s.put("max_prepared_transactions", "64");
        s.put("max_worker_processes", "16");
        s.put("max_logical_replication_workers", "8");
        s.put("max_sync_workers_per_subscription", "2");
        s.put("shared_buffers", "32MB");
        s.put("work_mem", "4MB");
        s.put("maintenance_work_mem", "32MB");
        // A throw-away local cluster: durability against OS crashes is not worth the fsyncs.
        s.put("fsync", "off");
        s.put("log_line_prefix", "%m [%p] %q%a ");
        s.put("log_min_messages", "warning");
        return Map.copyOf(s);
    }

    /** Configures and starts a {@link LocalCluster}. */
    public static final class Builder {
        private String name = "local";
        private int shards = 2;
        private int hubs = 1;
        private int leaves = 1;
        private Path dir;
        private Path pgBin;
        private String database = "shardline";
        private Duration startTimeout = Duration.ofSeconds(120);
        private final Map<String, String> settings = new LinkedHashMap<>();
        private final Map<String, Map<String, String>> nodeSettings = new LinkedHashMap<>();

        private Builder() {}

        /** The cluster name: letters, digits, {@code -} and {@code _}. Default {@code local}. */
        public Builder name(String name) {
            this.name = name;
            return this;
        }

        /** Number of shards, 1 to 16. Default 2. */
        public Builder shards(int shards) {
            this.shards = shards;
            return this;
        }

        /** Hub replicas per shard, streaming from the primary. Default 1. */
        public Builder hubs(int hubs) {
            this.hubs = hubs;
            return this;
        }

        /** Leaf replicas per shard, each streaming from a hub (spread over the hubs). Default 1. */
        public Builder leaves(int leaves) {
            this.leaves = leaves;
            return this;
        }

        /**
         * Where data, logs and ZooKeeper's files go; it must hold no previous cluster's data, and it is kept after
         * {@link #close()}. Default: a fresh directory under {@code target/local-clusters} (or the system
         * temporary directory when the {@code postgres} user cannot reach that), deleted on close.
         */
        public Builder dir(Path dir) {
            this.dir = dir;
            return this;
        }

        /** The PostgreSQL bin directory; default: see {@link PgBinaries#locate(Path)}. */
        public Builder pgBin(Path pgBin) {
            this.pgBin = pgBin;
            return this;
        }

        /** The database created on every shard. Default {@code shardline}. */
        public Builder database(String database) {
            this.database = database;
            return this;
        }

        /** How long to wait for the standbys to stream. Default 120 s. */
        public Builder startTimeout(Duration startTimeout) {
            this.startTimeout = startTimeout;
            return this;
        }

        /** A PostgreSQL setting for every node, on top of the defaults. */
        public Builder setting(String key, String value) {
            settings.put(key, value);
            return this;
        }

        /** A PostgreSQL setting for one node, e.g. {@code nodeSetting("s0-leaf1", "recovery_min_apply_delay", "1s")}. */
        public Builder nodeSetting(String nodeName, String key, String value) {
            nodeSettings.computeIfAbsent(nodeName, k -> new LinkedHashMap<>()).put(key, value);
            return this;
        }

        /**
         * Starts the cluster and returns once every standby streams.
         *
         * @throws IllegalArgumentException when the shape is invalid (e.g. leaves without hubs)
         * @throws LocalClusterException when something does not start; whatever had started is stopped
         */
        public LocalCluster start() {
            validate();
            PgBinaries binaries = PgBinaries.locate(pgBin);
            boolean chosen = dir == null;
            Path actualDir = chosen ? defaultDir() : dir.toAbsolutePath();
            try {
                for (String part : ClusterDirectory.DATA_PARTS) {
                    if (Files.exists(actualDir.resolve(part))) {
                        throw new LocalClusterException(actualDir + " already holds a cluster's data (" + part
                                + "/): remove it, or choose another directory");
                    }
                }
                Files.createDirectories(actualDir);
            } catch (IOException e) {
                throw new LocalClusterException("could not create " + actualDir + ": " + e.getMessage(), e);
            }
            LocalCluster cluster = new LocalCluster(name, database, actualDir, chosen);
            LOG.info(
                    "starting local cluster {}: {} shard(s) x (1 primary, {} hub(s), {} leaf(s)) in {}",
                    name,
                    shards,
                    hubs,
                    leaves,
                    actualDir);
            try {
                cluster.startAll(this, binaries);
            } catch (RuntimeException | Error e) {
                try {
                    cluster.close();
                } catch (RuntimeException closeFailure) {
                    e.addSuppressed(closeFailure);
                }
                throw e;
            }
            cluster.shutdownHook = new Thread(cluster::close, "shardline-local-cluster-shutdown");
            Runtime.getRuntime().addShutdownHook(cluster.shutdownHook);
            cluster.state.set(State.STARTED);
            return cluster;
        }

        private void validate() {
            if (name == null || !name.matches("[A-Za-z0-9_-]{1,64}")) {
                throw new IllegalArgumentException(
                        "cluster name '" + name + "' is invalid: use 1-64 letters, digits, '-' or '_'");
            }
            if (shards < 1 || shards > 16) {
                throw new IllegalArgumentException("shards must be 1 to 16, not " + shards);
            }
            if (hubs < 0 || hubs > 8 || leaves < 0 || leaves > 8) {
                throw new IllegalArgumentException(
                        "hubs and leaves must each be 0 to 8 per shard, not " + hubs + " and " + leaves);
            }
            if (leaves > 0 && hubs == 0) {
                throw new IllegalArgumentException(
                        "leaves stream from hubs: " + leaves + " leaf/leaves need at" + " least 1 hub per shard");
            }
            if (database == null || database.isBlank()) {
                throw new IllegalArgumentException("database name must not be blank");
            }
        }

        private Path defaultDir() {
            String leaf = name + "-" + UUID.randomUUID().toString().substring(0, 8);
            Path target = Path.of("target", "local-clusters").toAbsolutePath();
            if (!ServerUser.detect().dropsPrivileges() || everyoneCanEnter(target)) {
                return target.resolve(leaf);
            }
            return Path.of(System.getProperty("java.io.tmpdir"), "shardline-clusters", leaf);
        }

        /** Whether every existing ancestor of {@code path} is searchable by other users. */
        private static boolean everyoneCanEnter(Path path) {
            for (Path p = path; p != null; p = p.getParent()) {
                if (Files.exists(p)) {
                    try {
                        if (!Files.getPosixFilePermissions(p).contains(PosixFilePermission.OTHERS_EXECUTE)) {
                            return false;
                        }
                    } catch (IOException | UnsupportedOperationException e) {
                        return false;
                    }
                }
            }
            return true;
        }
    }
}
