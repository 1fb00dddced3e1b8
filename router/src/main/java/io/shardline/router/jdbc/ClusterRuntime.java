package io.shardline.router.jdbc;

import io.shardline.router.ShardlineProperty;
import io.shardline.router.ShardlineUrl;
import io.shardline.router.SqlStates;
import io.shardline.router.route.CircuitBreaker;
import io.shardline.router.route.ReplicaChooser;
import io.shardline.router.route.RoutingState;
import io.shardline.router.sql.Plan;
import io.shardline.router.txn.Gid;
import io.shardline.router.txn.InDoubtTransactions;
import io.shardline.router.txn.TwoPhaseCommit;
import io.shardline.router.txn.TxnLog;
import io.shardline.topology.FileTopologyStore;
import io.shardline.topology.LagSnapshot;
import io.shardline.topology.Node;
import io.shardline.topology.TopologyException;
import io.shardline.topology.TopologyStore;
import io.shardline.topology.ZooKeeperLagWatcher;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What every logical connection to one cluster (with one set of credentials) shares: the topology store,
 * the current {@link RoutingState} and the node pools. Created at the first connect and kept for the life of
 * the JVM (or until {@code ShardlineDriver.closeAll()}).
 */
public final class ClusterRuntime implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterRuntime.class);
    static final long EJECT_BASE_MS = 500;
    static final long EJECT_CEILING_MS = 10_000;
    private static final int PROBE_TIMEOUT_SECONDS = 2;

    private final ShardlineUrl url;
    private final TopologyStore store;
    private final NodePools pools;
    private final ReadSettings settings;
    private final ZooKeeperLagWatcher lagWatcher;
    /** Null for a static cluster file: no moves there. */
    private final MoveFences fences;
    /** Commits multi-shard transactions; null when twoPhaseCommit is off or there is no ZooKeeper. */
    private final TwoPhaseCommit twoPhase;

    private final Gid gids;
    /** Resolves in-doubt transactions (twoPhaseCommit); null when off. */
    private ScheduledExecutorService recovery;

    private ExecutorService crossShardPool;

    static final long RECOVERY_INTERVAL_MS = 10_000;

    private final Map<String, AtomicInteger> inFlight = new ConcurrentHashMap<>();
    /** Replicas eligible at their last choice, for the dead band. */
    private final Set<String> eligible = ConcurrentHashMap.newKeySet();
    /** Replay positions this driver saw on replicas itself (read-your-writes probes). */
    private final Map<String, AtomicLong> replayed = new ConcurrentHashMap<>();

    /** Per replica, ejected after a connection error until a probe succeeds. */
    private final Map<String, CircuitBreaker> breakers = new ConcurrentHashMap<>();
    /** Probes ejected replicas; started at the first ejection. */
    private ScheduledExecutorService prober;

    private final ReplicaChooser.Stats stats = new ReplicaChooser.Stats() {
        @Override
        public boolean isHealthy(Node replica) {
            CircuitBreaker breaker = breakers.get(replica.name());
            return breaker == null || breaker.isClosed();
        }

        @Override
        public boolean wasEligible(Node replica) {
            return eligible.contains(replica.name());
        }

        @Override
        public int weight(Node replica) {
            return settings.weight(replica.name());
        }

        @Override
        public int inFlight(Node replica) {
            return ClusterRuntime.this.inFlight(replica).get();
        }

        @Override
        public long replayedLsn(Node replica) {
            return ClusterRuntime.this.replayedLsn(replica);
        }
    };

    private volatile RoutingState routing;
    private boolean closed;

    private ClusterRuntime(
            ShardlineUrl url,
            TopologyStore store,
            NodePools pools,
            ReadSettings settings,
            ZooKeeperLagWatcher lagWatcher) {
        this.url = url;
        this.store = store;
        this.pools = pools;
        this.settings = settings;
        this.lagWatcher = lagWatcher;
        this.routing = new RoutingState(store.snapshot(), settings.analysisCacheSize());
        this.fences = store instanceof ZooKeeperTopologyStore zk
                ? new MoveFences(zk.client(), routing.snapshot().topology().cluster(), () -> this.routing)
                : null;
        store.addListener(snapshot -> {
            this.routing = new RoutingState(snapshot, settings.analysisCacheSize());
            if (fences != null) {
                fences.publishState();
            }
        });
        if (fences != null) {
            fences.start();
        }
        if (fences != null && settings.twoPhaseCommit()) {
            ZooKeeperTopologyStore zk = (ZooKeeperTopologyStore) store;
            String cluster = routing.snapshot().topology().cluster();
            this.gids = new Gid(fences.routerId());
            this.twoPhase = new TwoPhaseCommit(new TxnLog(zk.client(), cluster), fences.routerId(), CURRENT_OBSERVER);
            recoverInDoubt(zk, cluster);
        } else {
            this.gids = null;
            this.twoPhase = null;
        }
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
     * left prepared (as {@code txn recover}): their locks are released within about a ZooKeeper session timeout
     * plus the interval.
     */
    private void recoverInDoubt(ZooKeeperTopologyStore zk, String cluster) {
        recovery = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "shardline-txn-recovery");
            t.setDaemon(true);
            return t;
        });
        recovery.scheduleWithFixedDelay(
                () -> {
                    try {
                        InDoubtTransactions.Report report = new InDoubtTransactions(zk.client(), cluster, pools::borrow)
                                .recover(routing.snapshot().topology());
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

    /** The two-phase commit of this router, or null when multi-shard transactions are off. */
    TwoPhaseCommit twoPhaseCommit() {
        return twoPhase;
    }

    /** A new global transaction id of this router. */
    String nextGid() {
        return gids.next();
    }

    /**
     * Holds a write whose key is in a range a shard move is switching (see {@link MoveFences}).
     *
     * @throws SQLException 40001 after {@code fenceWaitMs}
     */
    void awaitWritable(Plan plan, Object[] parameters) throws SQLException {
        if (fences != null) {
            fences.awaitWritable(plan, parameters, settings.fenceWaitMs());
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

    int crossShardMaxRows() {
        return settings.crossShardMaxRows();
    }

    /** The id of a move past planning, or null: DDL on sharded tables waits for it. */
    String activeMove() {
        return fences == null ? null : fences.activeMove();
    }

    /** Since a move made {@code shard} a target, the position its replicas must have replayed (0: none). */
    long cutoverLsn(int shard) {
        return fences == null ? 0 : fences.cutoverLsn(shard);
    }

    /**
     * Connects to the topology source and prepares the pools.
     *
     * @throws SQLException 08001 naming ZooKeeper's address or the unknown cluster; 22023 for bad properties
     */
    public static ClusterRuntime open(ShardlineUrl url, Properties props) throws SQLException {
        int timeoutMs = ShardlineProperty.CONNECT_TIMEOUT_MS.getPositiveInt(props);
        int poolSize = ShardlineProperty.POOL_SIZE.getPositiveInt(props);
        ReadSettings settings = ReadSettings.from(props);
        TopologyStore store;
        try {
            store = url.file() != null
                    ? FileTopologyStore.open(url.file())
                    : ZooKeeperTopologyStore.connect(
                            url.zkConnectString(), url.cluster(), Duration.ofMillis(timeoutMs));
        } catch (TopologyException e) {
            throw new SQLException(e.getMessage(), SqlStates.CONNECTION_UNABLE, e);
        }
        String user = ShardlineProperty.USER.get(props);
        if (user == null) {
            user = store.snapshot().topology().user();
        }
        Properties pg = new Properties();
        for (String key : props.stringPropertyNames()) {
            if (key.startsWith(ShardlineProperty.PGJDBC_PREFIX)) {
                pg.setProperty(key.substring(ShardlineProperty.PGJDBC_PREFIX.length()), props.getProperty(key));
            }
        }
        NodePools pools = new NodePools(
                store.snapshot().topology().database(),
                user,
                ShardlineProperty.PASSWORD.get(props),
                poolSize,
                timeoutMs,
                pg);
        ZooKeeperLagWatcher lag = null;
        if (store instanceof ZooKeeperTopologyStore zk) {
            lag = new ZooKeeperLagWatcher(zk.client(), url.cluster());
            lag.start();
        }
        return new ClusterRuntime(url, store, pools, settings, lag);
    }

    /** Where reads go by default. */
    ReadSettings readSettings() {
        return settings;
    }

    /** The lag of every replica as the monitor last published it. */
    public LagSnapshot lag() {
        return lagWatcher == null ? LagSnapshot.EMPTY : lagWatcher.snapshot();
    }

    /** Requests in flight on a node, for the replica choice. */
    public AtomicInteger inFlight(Node node) {
        return inFlight.computeIfAbsent(node.name(), k -> new AtomicInteger());
    }

    /** The highest replay position this driver itself saw on a replica (0 if none). */
    long replayedLsn(Node replica) {
        AtomicLong seen = replayed.get(replica.name());
        return seen == null ? 0 : seen.get();
    }

    /** Records a replay position seen on a replica by a probe. */
    void sawReplayed(Node replica, long lsn) {
        replayed.computeIfAbsent(replica.name(), k -> new AtomicLong()).accumulateAndGet(lsn, Math::max);
    }

    /**
     * A replica of {@code shard} within {@code bound} (see {@link ReplicaChooser}), or null when none is.
     */
    public Node chooseReplica(RoutingState r, int shard, ReplicaChooser.Bound bound) {
        Node[] replicas = r.replicas(shard);
        if (replicas.length == 0) {
            return null;
        }
        LagSnapshot snapshot = lag();
        long now = System.currentTimeMillis();
        // The dead band follows staleness alone: a read-your-writes position says nothing of lag.
        ReplicaChooser.Bound staleness = new ReplicaChooser.Bound(bound.maxStalenessMs(), 0);
        for (Node replica : replicas) {
            if (ReplicaChooser.isEligible(replica, snapshot, staleness, now, settings.lagFreshnessMs(), stats)) {
                eligible.add(replica.name());
            } else {
                eligible.remove(replica.name());
            }
        }
        return ReplicaChooser.choose(
                replicas, snapshot, bound, now, settings.lagFreshnessMs(), stats, ThreadLocalRandom.current()::nextInt);
    }

    /**
     * Ejects a replica after a connection-level error: no read goes to it until a background probe
     * ({@code SELECT 1} on a new connection) succeeds, tried after 500 ms, then 1 s, 2 s... up to 10 s.
     */
    void eject(Node replica, SQLException cause) {
        CircuitBreaker breaker =
                breakers.computeIfAbsent(replica.name(), k -> new CircuitBreaker(EJECT_BASE_MS, EJECT_CEILING_MS));
        if (breaker.recordFailure(System.currentTimeMillis())) {
            LOG.warn(
                    "replica {} ({}) ejected after a connection error, probing it again in {} ms: {}",
                    replica.name(),
                    replica.address(),
                    EJECT_BASE_MS,
                    cause.getMessage());
            startProber();
        }
    }

    /** How many times {@code node} was ejected (see {@link CircuitBreaker#ejections()}). */
    int ejections(Node node) {
        CircuitBreaker breaker = breakers.get(node.name());
        return breaker == null ? 0 : breaker.ejections();
    }

    private synchronized void startProber() {
        if (prober != null || closed) {
            return;
        }
        prober = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(
                    r, "shardline-probe-" + routing.snapshot().topology().cluster());
            t.setDaemon(true);
            return t;
        });
        prober.scheduleWithFixedDelay(this::probeEjected, 100, 100, TimeUnit.MILLISECONDS);
    }

    private void probeEjected() {
        try {
            RoutingState r = routing;
            for (int shard : r.shardIds()) {
                for (Node replica : r.replicas(shard)) {
                    CircuitBreaker breaker = breakers.get(replica.name());
                    if (breaker != null && breaker.probeDue(System.currentTimeMillis())) {
                        boolean up = pools.probe(replica, PROBE_TIMEOUT_SECONDS);
                        breaker.recordProbe(up, System.currentTimeMillis());
                        if (up) {
                            LOG.info("replica {} answers again: reads may go to it", replica.name());
                        }
                    }
                }
            }
        } catch (RuntimeException e) {
            LOG.warn("probing ejected replicas failed: {}", e.toString());
        }
    }

    /** The replica of {@code shard} within the staleness bound with the least lag, or null. */
    Node leastLaggingReplica(RoutingState r, int shard, long maxStalenessMs) {
        return ReplicaChooser.leastLagging(
                r.replicas(shard),
                lag(),
                new ReplicaChooser.Bound(maxStalenessMs, 0),
                System.currentTimeMillis(),
                settings.lagFreshnessMs(),
                stats);
    }

    /** The routing state of the current topology. */
    public RoutingState routing() {
        return routing;
    }

    public NodePools pools() {
        return pools;
    }

    public ShardlineUrl url() {
        return url;
    }

    @Override
    public void close() {
        if (fences != null) {
            try {
                fences.close();
            } catch (Exception e) {
                LOG.debug("closing the move fences: {}", e.toString());
            }
        }
        synchronized (this) {
            closed = true;
            if (prober != null) {
                prober.shutdownNow();
            }
            if (crossShardPool != null) {
                crossShardPool.shutdownNow();
            }
        }
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
