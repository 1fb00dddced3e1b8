package io.shardline.compose;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
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
    /** WAL senders and replication slots of a node, at least. */
    private static final int MIN_WAL_SENDERS = 16;

    /** Settings every node gets: logical WAL for shard moves, small memory so a dozen fit on 2 cores. */
    static final Map<String, String> BASE_SETTINGS = baseSettings();

    private final String name;
    private final String database;
    private final Path dir;
    private final boolean deleteOnClose;
    private final List<PgNode> nodes = new ArrayList<>();
    private final AtomicReference<State> state = new AtomicReference<>(State.STARTING);
    private EmbeddedZooKeeper zooKeeper;
    private boolean zooKeeperStopped;
    private Thread shutdownHook;
    private ShardStarter starter;
    private int hubsPerShard;
    private int leavesPerShard;

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
        try (ReplicationWaiter waiter = replicationWaiter()) {
            waiter.await(timeout);
        }
    }

    /**
     * {@link #awaitReplication} on connections kept from one wait to the next: for a test that waits after each of
     * many writes (a connection set-up per node and wait cost more than the wait).
     */
    public ReplicationWaiter replicationWaiter() {
        return new ReplicationWaiter(this);
    }

    /** What {@code cluster.json} holds for this cluster. */
    public ClusterDescriptor descriptor() {
        List<ClusterDescriptor.Node> described =
                nodes.stream().map(LocalCluster::describe).toList();
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
     * Stops ZooKeeper (for fault tests): clients lose their connection, their sessions expire if it stays down
     * longer than their timeout. {@link #startZooKeeper()} brings it back on the same port with the same data.
     */
    public synchronized void stopZooKeeper() {
        checkStarted();
        if (zooKeeperStopped) {
            throw new IllegalStateException("ZooKeeper of cluster " + name + " is already stopped");
        }
        zooKeeper.close();
        zooKeeperStopped = true;
        LOG.info("ZooKeeper on {} stopped", zooKeeper.connectString());
    }

    /** Starts ZooKeeper again after {@link #stopZooKeeper()}, on the same port with the same data. */
    public synchronized void startZooKeeper() {
        checkStarted();
        if (!zooKeeperStopped) {
            throw new IllegalStateException("ZooKeeper of cluster " + name + " is running");
        }
        zooKeeper = zooKeeper.restart(dir.resolve("zookeeper"));
        zooKeeperStopped = false;
        LOG.info("ZooKeeper is up again on {}", zooKeeper.connectString());
    }

    private void checkStarted() {
        if (state.get() != State.STARTED) {
            throw new IllegalStateException(
                    "cluster " + name + " is " + state.get().name().toLowerCase());
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
        if (zooKeeper != null && !zooKeeperStopped) {
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
            Files.createDirectories(dir.resolve("logs"));
            Files.createDirectories(nodesDir);
            serverUser.handOver(nodesDir);
            serverUser.checkWritable(nodesDir);
            Map<String, String> clusterSettings = withSenders(b.hubs, b.leaves);
            List<String> hbaFirst = new ArrayList<>();
            if (b.tlsCertificate != null) {
                clusterSettings.putAll(installTls(b.tlsCertificate, b.tlsKey, serverUser));
                if (b.tlsOnly) {
                    hbaFirst.add("hostnossl all all all reject");
                }
            }
            clusterSettings.putAll(b.settings);
            starter = new ShardStarter(
                    dir, database, binaries, serverUser, clusterSettings, b.nodeSettings, ports, hbaFirst);
            hubsPerShard = b.hubs;
            leavesPerShard = b.leaves;

            zooKeeper = EmbeddedZooKeeper.start(dir.resolve("zookeeper"), starter.reservePort(), b.zooKeeperTls);
            LOG.info("ZooKeeper is up on {}", zooKeeper.connectString());
            for (int shard = 0; shard < b.shards; shard++) {
                starter.start(shard, b.hubs, b.leaves, nodes);
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

    /**
     * Starts one more shard of the same shape as the others (a primary, its hubs and leaves) and returns its
     * nodes, primary first, once every standby streams. It is not registered anywhere: the caller adds it to
     * the topology (it owns no ranges until a move gives it some). {@link #close()} stops it with the rest.
     *
     * @throws LocalClusterException when a server does not start; the new shard's servers are stopped then
     */
    public synchronized List<PgNode> addShard() {
        if (state.get() != State.STARTED) {
            throw new IllegalStateException("cluster " + name + " is not running");
        }
        int shard = nodes.stream().mapToInt(PgNode::shard).max().orElse(-1) + 1;
        List<PgNode> added = starter.startStreaming(shard, hubsPerShard, leavesPerShard, Duration.ofSeconds(120));
        nodes.addAll(added);
        LOG.info(
                "shard {} of local cluster {} is up: {}",
                shard,
                name,
                added.stream().map(PgNode::name).toList());
        return List.copyOf(added);
    }

    /**
     * Adds a shard to the local cluster running from {@code dir} in another process (the {@code shardline}
     * command's JVM), like {@link #addShard()}: same shape as shard 0, default server settings. Its servers run
     * on after this JVM exits; {@code cluster down} and the owner's Ctrl-C stop them with the rest
     * ({@link ClusterDirectory#stop}). {@code cluster.json} is rewritten with the new nodes.
     *
     * @return the updated descriptor
     * @throws IOException when {@code dir} holds no running cluster
     * @throws LocalClusterException when a server does not start; the new shard's servers are stopped then
     */
    public static ClusterDescriptor addShardTo(Path dir) throws IOException {
        ClusterDirectory directory = ClusterDirectory.of(dir);
        if (directory.runningOwner().isEmpty()) {
            throw new IOException("no local cluster is running from " + dir + ": start one with ./shardline cluster"
                    + " up --dir " + dir);
        }
        ClusterDescriptor described = ClusterDescriptor.read(dir);
        List<ClusterDescriptor.Node> shard0 = described.shard(0);
        int hubs = (int) shard0.stream().filter(n -> n.role().equals("hub")).count();
        int leaves = (int) shard0.stream().filter(n -> n.role().equals("leaf")).count();
        int shard = described.nodes().stream()
                        .mapToInt(ClusterDescriptor.Node::shard)
                        .max()
                        .orElse(-1)
                + 1;
        Set<Integer> ports = new HashSet<>();
        described.nodes().forEach(n -> ports.add(n.port()));
        ShardStarter starter = new ShardStarter(
                dir.toAbsolutePath(),
                described.database(),
                PgBinaries.locate(null),
                ServerUser.detect(),
                withSenders(hubs, leaves),
                Map.of(),
                ports,
                List.of());
        List<PgNode> added = starter.startStreaming(shard, hubs, leaves, Duration.ofSeconds(120));
        List<ClusterDescriptor.Node> all = new ArrayList<>(described.nodes());
        added.forEach(n -> all.add(describe(n)));
        ClusterDescriptor updated = new ClusterDescriptor(
                described.name(),
                described.zk(),
                described.database(),
                described.user(),
                described.password(),
                described.jdbcUrl(),
                all);
        updated.write(dir);
        return updated;
    }

    private static ClusterDescriptor.Node describe(PgNode n) {
        return new ClusterDescriptor.Node(
                n.name(),
                n.shard(),
                n.role().jsonName(),
                n.host(),
                n.port(),
                n.upstream().map(PgNode::name).orElse(null));
    }

    /** Copies the server certificate and key into {@code DIR/tls} for the server user; the settings that serve them. */
    private Map<String, String> installTls(Path certificate, Path key, ServerUser serverUser) throws IOException {
        Path tls = Files.createDirectories(dir.resolve("tls"));
        Path crt = tls.resolve("server.crt");
        Path k = tls.resolve("server.key");
        Files.copy(certificate, crt, StandardCopyOption.REPLACE_EXISTING);
        Files.copy(key, k, StandardCopyOption.REPLACE_EXISTING);
        Files.setPosixFilePermissions(k, PosixFilePermissions.fromString("rw-------"));
        serverUser.handOver(crt);
        serverUser.handOver(k);
        return Map.of("ssl", "on", "ssl_cert_file", crt.toString(), "ssl_key_file", k.toString());
    }

    /**
     * WAL senders and replication slots for a shard of {@code hubs} hubs and {@code leaves} leaves: after a
     * switchover the hub promoted streams to its own leaves and to every other hub, and still needs room for a new
     * standby's base backup (two) and a shard move's logical slots.
     */
    static Map<String, String> senders(int hubs, int leaves) {
        int mostLeaves = hubs == 0 ? 0 : (leaves + hubs - 1) / hubs;
        String n = Integer.toString(Math.max(MIN_WAL_SENDERS, mostLeaves + Math.max(0, hubs - 1) + 6));
        return Map.of("max_wal_senders", n, "max_replication_slots", n);
    }

    private static Map<String, String> withSenders(int hubs, int leaves) {
        Map<String, String> settings = new LinkedHashMap<>(BASE_SETTINGS);
        settings.putAll(senders(hubs, leaves));
        return settings;
    }

    private static Map<String, String> baseSettings() {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("listen_addresses", "127.0.0.1");
        // No Unix sockets: their path length is limited and every client here uses TCP.
        s.put("unix_socket_directories", "");
        s.put("wal_level", "logical");
        s.put("max_wal_senders", Integer.toString(MIN_WAL_SENDERS));
        s.put("max_replication_slots", Integer.toString(MIN_WAL_SENDERS));
        s.put("wal_keep_size", "128MB");
        s.put("hot_standby", "on");
        s.put("hot_standby_feedback", "on");
        s.put("wal_receiver_status_interval", "1s");
        s.put("max_connections", "100");
        s.put("max_prepared_transactions", "64");
        // a move into a shard runs one apply worker per source shard plus table-sync workers
        s.put("max_worker_processes", "24");
        s.put("max_logical_replication_workers", "16");
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
        private Path tlsCertificate;
        private Path zooKeeperTls;
        private Path tlsKey;
        private boolean tlsOnly;
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

        /** Hub replicas per shard, streaming from the primary, 0 to 8. Default 1. */
        public Builder hubs(int hubs) {
            this.hubs = hubs;
            return this;
        }

        /**
         * Leaf replicas per shard, each streaming from a hub (spread over the hubs), 0 to 64. Default 1.
         */
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

        /**
         * Serves TLS with {@code certificate} and {@code key} (PEM files, copied into {@code DIR/tls}); {@code only}:
         * connections without TLS are refused ({@code hostnossl ... reject} first in {@code pg_hba.conf}).
         */
        public Builder tls(Path certificate, Path key, boolean only) {
            this.tlsCertificate = certificate;
            this.tlsKey = key;
            this.tlsOnly = only;
            return this;
        }

        /**
         * Serves ZooKeeper over TLS only, with the key and certificate in the PEM file {@code keyStore} (ZooKeeper
         * reads its TLS settings from system properties: they are set for this JVM).
         */
        public Builder zooKeeperTls(Path keyStore) {
            this.zooKeeperTls = keyStore;
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
            binaries.requireVersion(PgBinaries.MIN_MAJOR);
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
            if (hubs < 0 || hubs > 8) {
                throw new IllegalArgumentException("hubs must be 0 to 8 per shard, not " + hubs);
            }
            if (leaves < 0 || leaves > 64) {
                throw new IllegalArgumentException("leaves must be 0 to 64 per shard, not " + leaves);
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
