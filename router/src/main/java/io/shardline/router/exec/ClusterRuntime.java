package io.shardline.router.exec;

import io.shardline.router.ShardlineConnection;
import io.shardline.router.ShardlineProperty;
import io.shardline.router.ShardlineUrl;
import io.shardline.router.SqlStates;
import io.shardline.router.metrics.DriverMetrics;
import io.shardline.router.metrics.DriverTracing;
import io.shardline.router.route.Moves;
import io.shardline.router.route.ReplicaHealth;
import io.shardline.router.route.Router;
import io.shardline.router.route.RoutingState;
import io.shardline.router.sql.Plan;
import io.shardline.router.sql.TransactionModes;
import io.shardline.router.txn.Gid;
import io.shardline.router.txn.InDoubtTransactions;
import io.shardline.router.txn.TwoPhaseCommit;
import io.shardline.router.txn.TxnLog;
import io.shardline.router.txn.TxnMarks;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.FileTopologyStore;
import io.shardline.topology.HashRing;
import io.shardline.topology.LagSnapshot;
import io.shardline.topology.Node;
import io.shardline.topology.Shard;
import io.shardline.topology.TopologyException;
import io.shardline.topology.TopologySnapshot;
import io.shardline.topology.TopologyStore;
import io.shardline.topology.ZkCredentials;
import io.shardline.topology.ZkTls;
import io.shardline.topology.ZooKeeperLagWatcher;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.postgresql.jdbc.PgConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What every logical connection to one cluster with one set of credentials shares: the topology store and the
 * current {@link RoutingState}, the node pools, the {@link Router} with its {@link ReplicaHealth}, the move fences,
 * and two-phase commit. {@link Runtimes} opens it at the first connect and closes it shortly after its last
 * connection closed.
 */
public final class ClusterRuntime implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterRuntime.class);
    private static final int PROBE_TIMEOUT_SECONDS = 2;
    static final long RECOVERY_INTERVAL_MS = 10_000;
    private static final int RECOVERY_TIMEOUT_SECONDS = 10;
    /** Old {@link TxnMarks} are pruned every this many recovery rounds (about 5 minutes). */
    private static final int PRUNE_EVERY_ROUNDS = 30;

    private final ShardlineUrl url;
    private final TopologyStore store;
    private final NodePools pools;
    private final RuntimeSettings settings;
    private final ZooKeeperLagWatcher lagWatcher;
    /** Null for a static cluster file: no moves there. */
    private final MoveFences fences;

    private final DriverMetrics metrics;
    /** Counts a write a fence held, once it goes. */
    private final java.util.function.LongConsumer fenceWaitMetric;

    private final DriverTracing tracing;
    /** {@link #transactionDefaults()}, once read, and the home primary it was read from. */
    private volatile ReadDefaults transactionDefaults;

    private record ReadDefaults(Node from, int[] values) {}
    /** When {@link #transactionDefaults()} may look again after a failure ({@link System#nanoTime()}). */
    private volatile long defaultsRetryAt = System.nanoTime();

    private final Object defaultsLock = new Object();

    private static final int DEFAULTS_TIMEOUT_SECONDS = 2;
    private static final int HEALTH_TIMEOUT_SECONDS = 2;
    private static final int DEFAULTS_RETRY_SECONDS = 30;

    private final ReplicaHealth health;
    private final Router router;
    /** Commits multi-shard transactions; null when twoPhaseCommit is off or there is no ZooKeeper. */
    private final TwoPhaseCommit twoPhase;

    private final Gid gids;
    /** Resolves in-doubt transactions (twoPhaseCommit); null when off. */
    private ScheduledExecutorService recovery;

    private ExecutorService crossShardPool;
    /** The primaries (by node name) known to have {@link TxnMarks#TABLE}. */
    private final Set<String> marksReady = ConcurrentHashMap.newKeySet();

    /** Every physical connection a session of this runtime holds now, and its node: what {@link #sever} cuts. */
    private final Map<Connection, Node> held = new ConcurrentHashMap<>();

    private final HomeCatalog catalog;
    /** DDL through other routers of the cluster (ZooKeeper only), null with a cluster file. */
    private final SchemaChanges schemaChanges;

    private volatile RoutingState routing;

    private ClusterRuntime(
            ShardlineUrl url,
            TopologyStore store,
            NodePools pools,
            RuntimeSettings settings,
            ZooKeeperLagWatcher lagWatcher,
            DriverMetrics metrics,
            DriverTracing tracing) {
        this.url = url;
        this.metrics = metrics;
        this.fenceWaitMetric = nanos -> metrics.fenceWait(nanos, false);
        this.tracing = tracing;
        this.store = store;
        this.pools = pools;
        this.settings = settings;
        this.lagWatcher = lagWatcher;
        this.catalog = new HomeCatalog(pools, () -> this.routing.primary(this.routing.homeShard()));
        this.routing = new RoutingState(store.snapshot(), settings.analysisCacheSize(), catalog);
        String cluster = routing.snapshot().topology().cluster();
        this.schemaChanges = store instanceof ZooKeeperTopologyStore zk
                ? new SchemaChanges(zk.client(), cluster, this::forgetCatalog)
                : null;
        this.fences = store instanceof ZooKeeperTopologyStore zk
                ? new MoveFences(zk.client(), cluster, () -> this.routing, this::sever)
                : null;
        this.health = new ReplicaHealth(
                settings.weights(),
                settings.lagFreshnessMs(),
                node -> pools.probe(node, PROBE_TIMEOUT_SECONDS),
                () -> this.routing.allReplicas(),
                cluster);
        health.observe(metrics);
        this.twoPhase = fences != null && settings.twoPhaseCommit()
                ? new TwoPhaseCommit(
                        new TxnLog(((ZooKeeperTopologyStore) store).client(), cluster),
                        fences.routerId(),
                        CURRENT_OBSERVER,
                        ConcurrentHashMap.newKeySet(),
                        this::ensureMarks)
                : null;
        this.gids = twoPhase == null ? null : new Gid(cluster, fences.routerId());
        this.router = new Router(
                health,
                this::lag,
                fences == null ? Moves.NONE : fences,
                settings.rywWaitMs(),
                settings.fallbackToPrimary(),
                twoPhase != null,
                // multi-shard transactions need ZooKeeper: without it every transaction is on one shard
                settings.atomicCrossShard() && fences != null);
        store.addListener(this::follow);
        if (schemaChanges != null) {
            schemaChanges.start();
        }
        // a change between the first read and the listener's registration would be missed otherwise
        follow(store.snapshot());
        if (fences != null) {
            fences.start(settings.connectTimeoutMs());
        }
        if (twoPhase != null) {
            recoverInDoubt((ZooKeeperTopologyStore) store, cluster);
        }
    }

    /** Routes by {@code snapshot} from now on, unless the current one is newer (events may arrive late). */
    private synchronized void follow(TopologySnapshot snapshot) {
        TopologySnapshot current = routing.snapshot();
        if (snapshot.equals(current)
                || snapshot.ring().version() < current.ring().version()
                || snapshot.topology().version() < current.topology().version()) {
            return;
        }
        routing = new RoutingState(snapshot, settings.analysisCacheSize(), catalog);
        if (fences != null) {
            fences.publishState();
        }
    }

    /**
     * DDL ran through this runtime: the column orders read from the catalog and every analysis made with them are
     * forgotten (an INSERT without a column list is analyzed again).
     */
    void schemaChanged() {
        forgetCatalog();
        if (schemaChanges != null) {
            schemaChanges.changed();
        }
    }

    /** The columns {@code COPY table FROM STDIN} takes without a column list (read once from the home primary). */
    List<String> copiedColumns(io.shardline.topology.ShardedTable table) {
        return catalog.copiedColumns(table);
    }

    /** Forgets the catalog reads and the analyses made with them (DDL ran here or through another router). */
    private synchronized void forgetCatalog() {
        catalog.forget();
        routing = new RoutingState(routing.snapshot(), settings.analysisCacheSize(), catalog);
    }

    /**
     * Sees every two-phase commit of this process's routers from now on (fault-injection tests, tracing); null
     * removes it. Not for applications: an observer that throws abandons the commit between its phases.
     */
    public static void observeTwoPhaseCommits(TwoPhaseCommit.Observer observer) {
        ClusterRuntime.observer = observer == null ? TwoPhaseCommit.Observer.NONE : observer;
    }

    private static volatile TwoPhaseCommit.Observer observer = TwoPhaseCommit.Observer.NONE;

    /** Passes each step to the observer set now. */
    private static final TwoPhaseCommit.Observer CURRENT_OBSERVER = new TwoPhaseCommit.Observer() {
        @Override
        public void prepared(String gid, int shard) {
            observer.prepared(gid, shard);
        }

        @Override
        public void decided(String gid, TxnLog.Decision decision) {
            observer.decided(gid, decision);
        }

        @Override
        public void committed(String gid, int shard) {
            observer.committed(gid, shard);
        }
    };

    /**
     * Resolves, in the background now and every {@link #RECOVERY_INTERVAL_MS}, transactions a router that died
     * left prepared (as {@code txn recover}) and those this router gave up on: their locks are released within
     * about a ZooKeeper session timeout plus the interval.
     */
    private void recoverInDoubt(ZooKeeperTopologyStore zk, String cluster) {
        recovery = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "shardline-txn-recovery");
            t.setDaemon(true);
            return t;
        });
        AtomicInteger rounds = new AtomicInteger();
        recovery.scheduleWithFixedDelay(
                () -> {
                    try {
                        int round = rounds.getAndIncrement();
                        if (round == 0) {
                            ensureMarksEverywhere();
                        }
                        // connections of its own, bounded: the application's may all be lent out, or waiting on
                        // the very locks the in-doubt transactions hold
                        InDoubtTransactions txns =
                                new InDoubtTransactions(zk.client(), cluster, this::recoveryConnection);
                        InDoubtTransactions.Report report =
                                txns.recover(routing.snapshot().topology(), twoPhase.abandoned());
                        for (int i = 0; i < report.committed(); i++) {
                            metrics.recovered(DriverMetrics.Outcome.COMMITTED);
                        }
                        for (int i = 0; i < report.rolledBack(); i++) {
                            metrics.recovered(DriverMetrics.Outcome.ROLLED_BACK);
                        }
                        if (round % PRUNE_EVERY_ROUNDS == PRUNE_EVERY_ROUNDS - 1) {
                            pruneMarks(txns);
                        }
                        if (report.committed() + report.rolledBack() > 0
                                || !report.errors().isEmpty()) {
                            LOG.info(
                                    "in-doubt transactions of cluster {}: {} committed, {} rolled back, {} left to their"
                                            + " routers{}",
                                    cluster,
                                    report.committed(),
                                    report.rolledBack(),
                                    report.left(),
                                    report.errors().isEmpty() ? "" : "; failed: " + report.errors());
                        }
                    } catch (SQLException | RuntimeException e) {
                        LOG.warn(
                                "could not resolve in-doubt transactions of cluster {} (./shardline txn recover does"
                                        + " it): {}",
                                cluster,
                                e.toString());
                    }
                },
                0,
                RECOVERY_INTERVAL_MS,
                TimeUnit.MILLISECONDS);
    }

    /** How cross-shard reads keep to the rows each shard owns while moves run. */
    CrossShardRead.Ownership ownership() {
        return fences == null ? CrossShardRead.Ownership.NONE : ownership;
    }

    private final CrossShardRead.Ownership ownership = new CrossShardRead.Ownership() {
        @Override
        public HashRing moving() throws SQLException {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(settings.fenceWaitMs());
            while (fences.switching(routing.ring().version())) {
                if (System.nanoTime() - deadline > 0) {
                    throw new SQLException(
                            "a shard move's cutover held this cross-shard read for fenceWaitMs ("
                                    + settings.fenceWaitMs() + " ms): retry it",
                            SqlStates.RETRY_WRITE);
                }
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(2));
            }
            return fences.activeMove() == null ? null : routing.ring();
        }

        @Override
        public boolean still(HashRing ring) {
            if (ring == null) {
                return fences.activeMove() == null;
            }
            HashRing now = routing.ring();
            return now.version() == ring.version() && !fences.switching(now.version());
        }
    };

    /**
     * Creates {@link TxnMarks#TABLE} on {@code shard}'s primary unless this runtime knows it is there (once per
     * primary, on a connection of its own).
     *
     * @throws SQLException saying how to create it by hand when the user may not
     */
    private void ensureMarks(int shard) throws SQLException {
        Node primary = routing.primary(shard);
        if (marksReady.contains(primary.name())) {
            return;
        }
        try (Connection c = pools.direct(primary, settings.connectTimeoutMs() / 1000 + 1, "shardline-txn-marks")) {
            TxnMarks.create(c);
        } catch (SQLException e) {
            throw new SQLException(
                    "two-phase commit records marks in " + TxnMarks.TABLE + " on every primary (atomic cross-shard"
                            + " reads read them); creating it on " + primary.name() + " failed (" + e.getMessage()
                            + "). Create it there once as a user who may: " + TxnMarks.CREATE,
                    e.getSQLState(),
                    e);
        }
        marksReady.add(primary.name());
    }

    private void ensureMarksEverywhere() {
        for (int shard : routing.shardIds()) {
            try {
                ensureMarks(shard);
            } catch (SQLException e) {
                LOG.warn("{}", e.getMessage());
            }
        }
    }

    /** A connection for in-doubt recovery, outside the pools, whose connect and reads give up after 10 s. */
    private Connection recoveryConnection(Node node) throws SQLException {
        return pools.direct(node, RECOVERY_TIMEOUT_SECONDS, "shardline-txn-recovery");
    }

    /** Deletes old marks of transactions prepared nowhere, on every primary. */
    private void pruneMarks(InDoubtTransactions txns) {
        ClusterTopology topology = routing.snapshot().topology();
        try {
            // a mark stays while its transaction is prepared anywhere, whichever cluster's: another cluster over
            // these databases keeps its marks in the same table
            List<String> prepared = txns.preparedOfAnyCluster(topology);
            for (Shard shard : topology.shards()) {
                try (Connection c = recoveryConnection(shard.primary())) {
                    TxnMarks.prune(c, prepared);
                }
            }
        } catch (SQLException e) {
            LOG.debug("pruning {}: {}", TxnMarks.TABLE, e.toString());
        }
    }

    /** ZooKeeper over TLS with {@code zkTrustStore}, or plain. */
    private static ZkTls zkTls(Properties props) {
        String store = ShardlineProperty.ZK_TRUST_STORE.get(props);
        return store == null ? null : new ZkTls(store, ShardlineProperty.ZK_TRUST_STORE_PASSWORD.get(props));
    }

    /** The router identity {@code zkUser} and {@code zkPassword} name, or none. */
    private static ZkCredentials zkCredentials(Properties props) throws SQLException {
        String user = ShardlineProperty.ZK_USER.get(props);
        String password = ShardlineProperty.ZK_PASSWORD.get(props);
        if (user == null && password == null) {
            return null;
        }
        if (user == null || password == null) {
            throw new SQLException(
                    "zkUser and zkPassword go together: " + (user == null ? "zkUser" : "zkPassword") + " is missing",
                    SqlStates.INVALID_PARAMETER);
        }
        try {
            return new ZkCredentials(user, password);
        } catch (IllegalArgumentException e) {
            throw new SQLException(e.getMessage(), SqlStates.INVALID_PARAMETER, e);
        }
    }

    /**
     * Connects to the topology source and prepares the pools.
     *
     * @throws SQLException 08001 naming ZooKeeper's address or the unknown cluster; 22023 for bad properties
     */
    static ClusterRuntime open(ShardlineUrl url, Properties props) throws SQLException {
        RuntimeSettings settings = RuntimeSettings.from(props);
        if (url.file() != null && settings.twoPhaseCommit()) {
            throw new SQLException(
                    "twoPhaseCommit=true needs a ZooKeeper URL (jdbc:shardline:zk://...): its commit decisions are"
                            + " recorded in ZooKeeper, which a cluster file (" + url.file() + ") does not have",
                    SqlStates.INVALID_PARAMETER);
        }
        TopologyStore store;
        try {
            store = url.file() != null
                    ? FileTopologyStore.open(url.file())
                    : ZooKeeperTopologyStore.connect(
                            url.zkConnectString(),
                            url.cluster(),
                            Duration.ofMillis(settings.connectTimeoutMs()),
                            zkCredentials(props),
                            zkTls(props));
        } catch (TopologyException e) {
            throw new SQLException(e.getMessage(), SqlStates.CONNECTION_UNABLE, e);
        }
        String user = ShardlineProperty.USER.get(props);
        if (user == null) {
            user = store.snapshot().topology().user();
        }
        Properties pg = new Properties();
        for (String key : props.stringPropertyNames()) {
            String name = ShardlineProperty.pgjdbcName(key);
            if (name != null) {
                pg.setProperty(name, props.getProperty(key));
            }
        }
        DriverMetrics metrics = DriverMetrics.create(store.snapshot().topology().cluster(), settings.metrics());
        DriverTracing tracing = DriverTracing.create(
                store.snapshot().topology().database(), settings.tracing(), settings.traceQueryText());
        NodePools pools = new NodePools(
                store.snapshot().topology().database(),
                user,
                ShardlineProperty.PASSWORD.get(props),
                settings.poolSize(),
                settings.connectTimeoutMs(),
                pg,
                metrics);
        ZooKeeperLagWatcher lag = null;
        if (store instanceof ZooKeeperTopologyStore zk) {
            lag = new ZooKeeperLagWatcher(zk.client(), url.cluster());
            lag.start();
        }
        return new ClusterRuntime(url, store, pools, settings, lag, metrics, tracing);
    }

    /** See {@link ShardlineConnection#clusterStatus()}. */
    public ShardlineConnection.ClusterStatus status() {
        RoutingState r = routing;
        TopologySnapshot snapshot = r.snapshot();
        Boolean zooKeeper = store instanceof ZooKeeperTopologyStore zk
                ? zk.client().getZookeeperClient().isConnected()
                : null;
        LagSnapshot lagNow = lag();
        long now = System.currentTimeMillis();
        List<ShardlineConnection.ShardStatus> shards = new ArrayList<>();
        for (int id : r.shardIds()) {
            Node primary = r.primary(id);
            String problem = null;
            try (Connection c = pools.direct(primary, HEALTH_TIMEOUT_SECONDS, "shardline-health");
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery()")) {
                rs.next();
                if (rs.getBoolean(1)) {
                    problem = "in recovery: a standby, not writable";
                }
            } catch (SQLException e) {
                problem = "cannot reach " + primary.name() + " (" + primary.address() + "): " + e.getMessage();
            }
            Node[] replicas = r.replicas(id);
            // an unbounded read (maxStalenessMs < 0) still skips ejected and weight-0 replicas
            int eligible = health.eligible(replicas, lagNow, settings.maxStalenessMs(), now);
            shards.add(new ShardlineConnection.ShardStatus(
                    id, primary.name(), problem == null, problem, replicas.length, eligible));
        }
        return new ShardlineConnection.ClusterStatus(
                snapshot.topology().cluster(),
                zooKeeper,
                snapshot.topology().version(),
                r.ring().version(),
                shards);
    }

    /** The properties this runtime follows. */
    public RuntimeSettings settings() {
        return settings;
    }

    /** The routing state of the current topology. */
    public RoutingState routing() {
        return routing;
    }

    /** The one routing decision. */
    public Router router() {
        return router;
    }

    /** The lag of every replica as the monitor last published it. */
    public LagSnapshot lag() {
        return lagWatcher == null ? LagSnapshot.EMPTY : lagWatcher.snapshot();
    }

    ReplicaHealth health() {
        return health;
    }

    NodePools pools() {
        return pools;
    }

    /** Whether pgjdbc inlines parameters in the query text ({@code preferQueryMode=simple}). */
    public boolean inlinesParameters() {
        return pools.inlinesParameters();
    }

    /** The {@code application_name} a connection starts with (its client info {@code ApplicationName}). */
    public String applicationName() {
        return pools.applicationName();
    }

    /** A session holds {@code c}, a connection to {@code node}. */
    void held(Connection c, Node node) {
        held.put(c, node);
    }

    /** A session no longer holds {@code c}. */
    void released(Connection c) {
        held.remove(c);
    }

    /** Whether a failover holds a shard whose primary is {@code node}: no new connection to it may be used. */
    boolean severing(Node node) {
        for (Shard s : routing.switching()) {
            if (s.failingOver() && s.primary().equals(node)) {
                return true;
            }
        }
        return false;
    }

    /** How long {@link #sever} waits for the cuts (an SSL socket's close may wait for a write in progress). */
    private static final long SEVER_WAIT_MS = 1_000;

    /**
     * Cuts every connection to {@code node} at its socket, those sessions hold (a statement running on one fails at
     * once; the session replaces it, or, in a transaction there, ends the transaction) and those idle in its pool: a
     * failover is replacing that primary, which may be stalled rather than dead, and nothing sent to it may complete
     * once the routers acknowledged the failover's hold. A connection borrowed after this is not used ({@link
     * #severing}). The cuts run on other threads (an SSL socket's close waits for a write blocked on it), waited
     * for up to {@link #SEVER_WAIT_MS}.
     *
     * @return how many held connections were cut within that time
     */
    int sever(Node node) {
        List<java.util.concurrent.Future<?>> cuts = new ArrayList<>();
        for (Map.Entry<Connection, Node> e : held.entrySet()) {
            if (e.getValue().name().equals(node.name())
                    && e.getValue().address().equals(node.address())) {
                Connection c = e.getKey();
                Runnable abort = () -> {
                    try {
                        c.unwrap(PgConnection.class).abort(Runnable::run);
                    } catch (SQLException | RuntimeException closed) {
                        // closed already
                    }
                };
                try {
                    cuts.add(crossShardPool().submit(abort));
                } catch (java.util.concurrent.RejectedExecutionException closing) {
                    abort.run();
                }
            }
        }
        pools.evictAll(node);
        long deadline = System.nanoTime() + SEVER_WAIT_MS * 1_000_000;
        int cut = 0;
        for (java.util.concurrent.Future<?> f : cuts) {
            try {
                f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                cut++;
            } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
                LOG.warn("a connection to {} was not cut within {} ms", node.name(), SEVER_WAIT_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        return cut;
    }

    public ShardlineUrl url() {
        return url;
    }

    /**
     * The server's {@code default_transaction_isolation} (a {@link Connection} level) and {@code
     * default_transaction_read_only} (1 or 0) for this runtime's user and database, read once from the home primary
     * (postgresql.conf, {@code ALTER ROLE/DATABASE ... SET}, the URL's {@code options}); READ COMMITTED and read-write
     * while it cannot be read, and while a switchover holds the home shard (its primary is made read-only then). Read
     * again once another node is the home primary. A third element tells whether the values were read (1) or taken
     * for now (0: asked again by the session's next transaction).
     */
    int[] transactionDefaults() {
        RoutingState r = routing;
        Node home = r.primary(r.homeShard());
        ReadDefaults known = transactionDefaults;
        if (known != null && known.from().equals(home)) {
            return known.values();
        }
        boolean switching = r.switching().stream().anyMatch(s -> s.id() == r.homeShard());
        if (switching || System.nanoTime() - defaultsRetryAt < 0) {
            // the home primary did not answer a moment ago: transactions on other shards do not wait for it again
            return new int[] {Connection.TRANSACTION_READ_COMMITTED, 0, 0};
        }
        // one read at a time: sessions that start a transaction together (a switchover just ended) wait for it
        synchronized (defaultsLock) {
            known = transactionDefaults;
            if (known != null && known.from().equals(home)) {
                return known.values();
            }
            if (System.nanoTime() - defaultsRetryAt < 0) {
                return new int[] {Connection.TRANSACTION_READ_COMMITTED, 0, 0};
            }
            return readDefaults(home);
        }
    }

    private int[] readDefaults(Node home) {
        try (Connection c = pools.direct(home, DEFAULTS_TIMEOUT_SECONDS, "shardline");
                java.sql.Statement s = c.createStatement();
                java.sql.ResultSet rs = s.executeQuery("SELECT current_setting('default_transaction_isolation'),"
                        + " current_setting('default_transaction_read_only')::boolean")) {
            rs.next();
            int[] values = {TransactionModes.isolationLevel(rs.getString(1)), rs.getBoolean(2) ? 1 : 0, 1};
            RoutingState now = routing;
            if (!home.equals(now.primary(now.homeShard()))
                    || now.switching().stream().anyMatch(x -> x.id() == now.homeShard())) {
                // a switchover marked the home shard while the answer was on its way: read-only may be its doing
                return new int[] {values[0], 0, 0};
            }
            transactionDefaults = new ReadDefaults(home, values);
            return values;
        } catch (SQLException e) {
            defaultsRetryAt = System.nanoTime() + TimeUnit.SECONDS.toNanos(DEFAULTS_RETRY_SECONDS);
            LOG.warn(
                    "cannot read the server's default transaction isolation and read-only mode from {} (taking READ"
                            + " COMMITTED, read-write; trying again in {} s): {}",
                    home.name(),
                    DEFAULTS_RETRY_SECONDS,
                    e.getMessage());
            return new int[] {Connection.TRANSACTION_READ_COMMITTED, 0, 0};
        }
    }

    /** The two-phase commit of this router, or null when multi-shard transactions are off. */
    TwoPhaseCommit twoPhaseCommit() {
        return twoPhase;
    }

    /** A new global transaction id of this router. */
    String nextGid() {
        return gids.next();
    }

    /**
     * Lets a write to sharded tables in once no fence holds any of its rows (see {@link MoveFences}); the caller
     * runs it, then calls {@link #writeDone} with the ticket. Rows: one parameter array each.
     *
     * @throws SQLException 40001 after {@code fenceWaitMs}
     */
    int awaitWritable(Plan plan, List<Object[]> rows, MoveFences.Participation session) throws SQLException {
        return awaitWritable(plan, rows, session, held -> {}, HoldLimit.of(settings.fenceWaitMs()));
    }

    /**
     * {@link #awaitWritable(Plan, List, MoveFences.Participation)}; {@code held} hears how long the write waited when
     * a fence held it.
     */
    int awaitWritable(
            Plan plan,
            List<Object[]> rows,
            MoveFences.Participation session,
            java.util.function.LongConsumer held,
            HoldLimit limit)
            throws SQLException {
        if (fences == null) {
            return 0;
        }
        long started = System.nanoTime();
        try {
            return fences.enter(plan, rows, limit, session, fenceWaitMetric, held);
        } catch (SQLException e) {
            if (SqlStates.RETRY_WRITE.equals(e.getSQLState()) || SqlStates.QUERY_CANCELED.equals(e.getSQLState())) {
                metrics.fenceWait(System.nanoTime() - started, true);
            }
            throw e;
        }
    }

    /** What this runtime counts and times. */
    public DriverMetrics metrics() {
        return metrics;
    }

    /** The spans this runtime makes. */
    public DriverTracing tracing() {
        return tracing;
    }

    /**
     * Whether a write {@link #awaitWritable} let in may still be sent: false once this router's ZooKeeper lease ran
     * out meanwhile (it waited for a pooled connection, or a batch's earlier parts took that long).
     */
    boolean writeLeaseHolds() {
        return fences == null || fences.leaseHolds();
    }

    /**
     * For a write the fences' gate does not count (to an unsharded table, {@code nextval}, a function call, a COPY
     * there, a COMMIT of a transaction that wrote): waits up to {@code fenceWaitMs} while this router's ZooKeeper lease
     * is out (see {@code MoveFences#awaitLease}). Returns at once while it holds.
     *
     * @return whether it waited (the caller routes the statement again: the topology may have changed meanwhile)
     * @throws SQLException 40001, nothing sent (the message names {@code what} and ends with {@code then})
     */
    boolean awaitLease(String what, String then) throws SQLException {
        if (fences == null || fences.leasedAndCurrent()) {
            return false; // the common case, without a limit to make
        }
        return awaitLease(what, then, HoldLimit.of(settings.fenceWaitMs()));
    }

    /** {@link #awaitLease(String, String)} for a statement held no longer than {@code limit}. */
    boolean awaitLease(String what, String then, HoldLimit limit) throws SQLException {
        if (fences == null || fences.leasedAndCurrent()) {
            return false;
        }
        long started = System.nanoTime();
        try {
            fences.awaitLease(limit, what, then);
            metrics.fenceWait(System.nanoTime() - started, false);
            return true;
        } catch (SQLException e) {
            metrics.fenceWait(System.nanoTime() - started, true);
            throw e;
        }
    }

    /**
     * Waits up to {@code fenceWaitMs} while a failover holds a shard and the routing state is {@code seen}: a statement
     * abandoned because its node is the primary being replaced goes again once the topology changed (the new primary,
     * or the hold lifted).
     */
    void awaitTopologyChange(RoutingState seen) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(settings.fenceWaitMs());
        while (routing == seen && !seen.switching().isEmpty() && System.nanoTime() - deadline < 0) {
            LockSupport.parkNanos(2_000_000);
            if (Thread.currentThread().isInterrupted()) {
                return;
            }
        }
    }

    /** Ends a write {@link #awaitWritable} let in. */
    void writeDone(int ticket) {
        if (fences != null) {
            fences.exit(ticket);
        }
    }

    /** Runs the shard queries of cross-shard reads in parallel (daemon threads, created on first use). */
    synchronized ExecutorService crossShardPool() {
        if (crossShardPool == null) {
            AtomicInteger n = new AtomicInteger();
            crossShardPool = Executors.newCachedThreadPool(r -> {
                Thread t = new Thread(r, "shardline-cross-shard-" + n.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        }
        return crossShardPool;
    }

    @Override
    public void close() {
        // an interrupted caller (a shutdown, a cancelled task) still closes everything: HikariCP's pool shutdown and
        // the bounded ZooKeeper closes stop short on an interrupt; it is kept for the caller
        boolean interrupted = Thread.interrupted();
        try {
            closeAll();
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void closeAll() {
        if (schemaChanges != null) {
            schemaChanges.close();
        }
        if (fences != null) {
            try {
                fences.close();
            } catch (Exception e) {
                LOG.debug("closing the move fences: {}", e.toString());
            }
        }
        synchronized (this) {
            if (crossShardPool != null) {
                crossShardPool.shutdownNow();
            }
        }
        health.close();
        if (recovery != null) {
            recovery.shutdownNow();
        }
        if (lagWatcher != null) {
            lagWatcher.close();
        }
        pools.close();
        store.close();
    }
}
