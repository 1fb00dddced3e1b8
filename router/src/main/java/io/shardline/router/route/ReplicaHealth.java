package io.shardline.router.route;

import io.shardline.router.metrics.DriverMetrics;
import io.shardline.topology.LagReport;
import io.shardline.topology.LagSnapshot;
import io.shardline.topology.Node;
import java.sql.SQLException;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntUnaryOperator;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What one driver process knows of each replica beyond the monitor's lag reports, shared by every connection to
 * the cluster: whether it is ejected (a {@link CircuitBreaker} opened by a connection error, closed again by a
 * background probe), its requests in flight, the replay position the driver saw on it, and at which staleness
 * bounds it was eligible at its last choice (the dead band of {@link ReplicaChooser}, kept per bound so that
 * connections with different bounds do not flap each other's choice).
 *
 * <p>The per-statement path ({@link #choose}) looks up one map entry for the shard's replica array (their states,
 * resolved once per array) and allocates nothing per read (a node's report is kept once per lag snapshot).
 */
public final class ReplicaHealth implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ReplicaHealth.class);
    static final long EJECT_BASE_MS = 500;
    static final long EJECT_CEILING_MS = 10_000;
    /** The replica choice's draws (not capturing: nothing allocated per read). */
    /** Up to this many replicas, a choice judges every one. */
    static final int SCAN_UP_TO = 8;
    /** Draws before a choice among more replicas judges every one: 8 misses in a row mean few qualify. */
    static final int DRAWS = 8;

    private static final IntUnaryOperator RANDOM =
            n -> ThreadLocalRandom.current().nextInt(n);

    /**
     * Everything known of one node, by name (a topology change keeps it). A connection to the node keeps it: its
     * breaker and its report in a lag snapshot are then a field read away, not a lookup by name.
     */
    public static final class NodeState {
        /** The node's name, its key. */
        private final String name;
        /** Striped: every statement on the replica, from every thread, adds to it (no one contended cache line). */
        final LongAdder inFlight = new LongAdder();

        /** The replay position the driver last saw on it (polling for read-your-writes), and when (this clock). */
        final AtomicLong replayed = new AtomicLong();

        volatile long replayedAtMillis;
        final CircuitBreaker breaker = new CircuitBreaker(EJECT_BASE_MS, EJECT_CEILING_MS);
        /** The staleness bounds at which the replica was eligible at its last choice; copied on change. */
        volatile long[] eligibleAt = new long[0];

        /** Its report in the lag snapshot last read for it: looked up once per snapshot, not per read. */
        private SeenReport seen = SeenReport.NONE;

        NodeState(String name) {
            this.name = name;
        }

        public CircuitBreaker breaker() {
            return breaker;
        }

        /** The requests in flight on the node, for a connection to hold while it runs one. */
        public LongAdder inFlight() {
            return inFlight;
        }

        /** The node's report in {@code lag}, looked up once per snapshot. */
        public LagReport report(LagSnapshot lag) {
            SeenReport s = seen; // racy and safe: its fields are final, and a lost update only looks up again
            if (s.snapshot != lag) {
                s = new SeenReport(lag, lag.get(name));
                seen = s;
            }
            return s.report;
        }

        boolean wasEligible(long boundMs) {
            for (long b : eligibleAt) {
                if (b == boundMs) {
                    return true;
                }
            }
            return false;
        }

        void eligible(long boundMs, boolean eligible) {
            if (eligible == wasEligible(boundMs)) {
                return;
            }
            synchronized (this) {
                long[] current = eligibleAt;
                if (eligible) {
                    long[] next = Arrays.copyOf(current, current.length + 1);
                    next[current.length] = boundMs;
                    eligibleAt = next;
                } else {
                    eligibleAt =
                            Arrays.stream(current).filter(b -> b != boundMs).toArray();
                }
            }
        }
    }

    /** A node's report in one lag snapshot. */
    private static final class SeenReport {
        static final SeenReport NONE = new SeenReport(null, null);
        final LagSnapshot snapshot;
        final LagReport report;

        SeenReport(LagSnapshot snapshot, LagReport report) {
            this.snapshot = snapshot;
            this.report = report;
        }
    }

    /**
     * At most this many replica arrays keep their states resolved (one per shard of a topology: a topology change
     * makes new arrays, the old ones go at the next clear).
     */
    static final int RESOLVED_ARRAYS = 4096;

    private final Map<String, NodeState> nodes = new ConcurrentHashMap<>();
    /**
     * The states of each replica array asked about, by the array's identity (arrays neither override equals nor
     * hash): a choice among a shard's replicas looks up one entry, not one per replica by name. Right because an
     * array given here is never written to afterwards ({@link RoutingState#replicas}' are made once per routing
     * state) and a node's state is never dropped (a connection keeps its node's {@link CircuitBreaker}).
     */
    private final Map<Node[], NodeState[]> resolved = new ConcurrentHashMap<>();

    private final Map<String, Integer> weights;
    private final long freshnessMs;
    private volatile DriverMetrics metrics = DriverMetrics.NOOP;
    private final Predicate<Node> probe;
    private final Supplier<Node[]> replicas;
    private final String name;
    private ScheduledExecutorService prober;
    private boolean closed;

    /**
     * @param weights node name to relative share of reads; unlisted replicas weigh 1
     * @param freshnessMs how old a lag report may be for its replica to serve bounded reads
     * @param probe whether an ejected replica answers again (a new connection and {@code SELECT 1})
     * @param replicas every replica of the current topology, for the prober
     * @param name the cluster, for the prober's thread name
     */
    public ReplicaHealth(
            Map<String, Integer> weights,
            long freshnessMs,
            Predicate<Node> probe,
            Supplier<Node[]> replicas,
            String name) {
        this.weights = Map.copyOf(weights);
        this.freshnessMs = freshnessMs;
        this.probe = probe;
        this.replicas = replicas;
        this.name = name;
    }

    private NodeState state(Node node) {
        NodeState s = nodes.get(node.name());
        return s != null ? s : nodes.computeIfAbsent(node.name(), NodeState::new);
    }

    /** The states of {@code replicas}, index for index (a state is never dropped, so they stay the nodes'). */
    private NodeState[] states(Node[] replicas) {
        NodeState[] states = resolved.get(replicas);
        if (states == null) {
            states = new NodeState[replicas.length];
            for (int i = 0; i < replicas.length; i++) {
                states[i] = state(replicas[i]);
            }
            if (resolved.size() >= RESOLVED_ARRAYS) {
                resolved.clear(); // the arrays of earlier topologies: whoever still asks resolves them again
            }
            resolved.put(replicas, states);
        }
        return states;
    }

    /**
     * A replica within {@code bound} (see {@link ReplicaChooser#choose}), or null when none is. Remembers which
     * replicas were within the bound's staleness, for the dead band of the next choice.
     *
     * <p>Among more than {@link #SCAN_UP_TO} replicas of equal weight, replicas drawn at random are judged one by one
     * until two qualify (power of two choices by rejection: each drawn uniformly, so the two are uniform over the
     * eligible ones, as a scan would give): a read costs a few judgements, not one per replica of a fleet of 50.
     * After {@link #DRAWS} draws without two, or with weights, every replica is judged, each one's state looked up
     * once; nothing is allocated unless weights are configured. A replica's dead band state changes when it is
     * judged: one not drawn while its lag passed the bound and came back into the dead band keeps its place, as if it
     * had hovered there (never beyond the bound).
     */
    public Node choose(Node[] replicas, LagSnapshot lag, ReplicaChooser.Bound bound, long nowMillis) {
        int count = replicas.length;
        if (count == 0) {
            return null;
        }
        if (weights.isEmpty()) {
            if (count > SCAN_UP_TO) {
                Node drawn = draw(replicas, lag, bound, nowMillis);
                if (drawn != null) {
                    return drawn;
                }
            }
            if (count <= Long.SIZE) {
                return scan(replicas, lag, bound, nowMillis);
            }
        }
        View view = new View(replicas);
        Node[] eligible = new Node[count];
        int n = 0;
        for (int i = 0; i < count; i++) {
            Node replica = replicas[i];
            if (judge(replica, view.states[i], lag, bound, nowMillis) && weight(replica) > 0) {
                eligible[n++] = replica;
            }
        }
        return ReplicaChooser.pick(eligible, n, view, RANDOM);
    }

    /**
     * Every replica (of equal weight, at most 64) judged, the eligible ones remembered as bits, and the power of two
     * choices among them: nothing allocated per read.
     */
    private Node scan(Node[] replicas, LagSnapshot lag, ReplicaChooser.Bound bound, long nowMillis) {
        NodeState[] states = states(replicas);
        long eligible = 0;
        int n = 0;
        for (int i = 0; i < replicas.length; i++) {
            if (judge(replicas[i], states[i], lag, bound, nowMillis)) {
                eligible |= 1L << i;
                n++;
            }
        }
        if (n <= 1) {
            return n == 0 ? null : replicas[Long.numberOfTrailingZeros(eligible)];
        }
        ThreadLocalRandom random = ThreadLocalRandom.current();
        int a = nthBit(eligible, random.nextInt(n));
        int b = nthBit(eligible, random.nextInt(n));
        if (a == b) {
            return replicas[a]; // no counter to read: other threads' statements keep changing them
        }
        // fewer requests in flight wins; a tie keeps the first draw
        return replicas[states[b].inFlight.sum() < states[a].inFlight.sum() ? b : a];
    }

    /** The position of the {@code k}-th (from 0) bit set in {@code bits}. */
    private static int nthBit(long bits, int k) {
        for (int i = 0; i < k; i++) {
            bits &= bits - 1;
        }
        return Long.numberOfTrailingZeros(bits);
    }

    /** The power of two choices over replicas drawn until two qualify; null after {@link #DRAWS} draws without. */
    private Node draw(Node[] replicas, LagSnapshot lag, ReplicaChooser.Bound bound, long nowMillis) {
        NodeState[] states = states(replicas);
        ThreadLocalRandom random = ThreadLocalRandom.current();
        Node first = null;
        NodeState firstState = null;
        for (int d = 0; d < DRAWS; d++) {
            int drawn = random.nextInt(replicas.length);
            Node replica = replicas[drawn];
            NodeState state = states[drawn];
            if (!judge(replica, state, lag, bound, nowMillis)) {
                continue;
            }
            if (first == null) {
                first = replica;
                firstState = state;
            } else {
                return state.inFlight.sum() < firstState.inFlight.sum() ? replica : first;
            }
        }
        return null;
    }

    /**
     * Whether a replica may serve a read within {@code bound}; records whether it is within the bound's staleness
     * (its read-your-writes position aside: that says nothing of lag) for the dead band.
     */
    private boolean judge(Node replica, NodeState state, LagSnapshot lag, ReplicaChooser.Bound bound, long nowMillis) {
        if (!state.breaker.isClosed()) {
            state.eligible(bound.maxStalenessMs(), false);
            return false;
        }
        LagReport report = state.report(lag);
        long boundMs = bound.maxStalenessMs();
        boolean was = boundMs >= 0 && state.wasEligible(boundMs);
        ReplicaChooser.Bound staleness = bound.minReplayLsn() == 0 ? bound : new ReplicaChooser.Bound(boundMs, 0);
        boolean fresh = ReplicaChooser.isEligible(report, staleness, nowMillis, freshnessMs, 0, was);
        state.eligible(boundMs, fresh);
        return fresh
                && (bound.minReplayLsn() == 0
                        || ReplicaChooser.isEligible(
                                report, bound, nowMillis, freshnessMs, seenReplayed(state, report), was));
    }

    /**
     * Whether {@code replica}, chosen earlier for a read within {@code boundMs}, still serves it at {@code nowMillis}:
     * healthy, and its lag plus its report's age still within the bound (a read waiting for a connection to it may
     * start well after the choice). Changes nothing.
     */
    public boolean stillWithin(Node replica, LagSnapshot lag, long boundMs, long nowMillis) {
        if (boundMs < 0) {
            return true;
        }
        NodeState state = state(replica);
        return state.breaker.isClosed()
                && ReplicaChooser.isEligible(
                        lag.get(replica.name()),
                        new ReplicaChooser.Bound(boundMs, 0),
                        nowMillis,
                        freshnessMs,
                        0,
                        state.wasEligible(boundMs));
    }

    /**
     * Why none of {@code replicas} takes a read now: none exists, every one is ejected, none has a fresh lag report,
     * or (else) every one lags beyond the bound.
     */
    public DriverMetrics.Fallback whyNone(Node[] replicas, LagSnapshot lag, long nowMillis) {
        if (replicas.length == 0) {
            return DriverMetrics.Fallback.NO_REPLICA;
        }
        boolean healthy = false;
        boolean reported = false;
        for (Node replica : replicas) {
            healthy |= state(replica).breaker.isClosed();
            LagReport report = lag.get(replica.name());
            reported |= report != null && nowMillis - report.observedAtMillis() <= freshnessMs;
        }
        return !healthy
                ? DriverMetrics.Fallback.EJECTED
                : !reported ? DriverMetrics.Fallback.NO_LAG_REPORT : DriverMetrics.Fallback.LAG_ABOVE_BOUND;
    }

    /** Counts ejections and probes with {@code metrics}. */
    public void observe(DriverMetrics metrics) {
        this.metrics = metrics;
    }

    /** The replica within the staleness of {@code bound} with the least lag, or null (see {@link ReplicaChooser}). */
    public Node leastLagging(Node[] replicas, LagSnapshot lag, ReplicaChooser.Bound bound, long nowMillis) {
        return ReplicaChooser.leastLagging(replicas, lag, bound, nowMillis, freshnessMs, new View(replicas));
    }

    /** How many of {@code replicas} may serve a read within {@code boundMs} now (see {@link ReplicaChooser}). */
    public int eligible(Node[] replicas, LagSnapshot lag, long boundMs, long nowMillis) {
        View view = new View(replicas);
        ReplicaChooser.Bound bound = new ReplicaChooser.Bound(boundMs, 0);
        int n = 0;
        for (Node replica : replicas) {
            if (view.weight(replica) > 0
                    && ReplicaChooser.isEligible(replica, lag, bound, nowMillis, freshnessMs, view)) {
                n++;
            }
        }
        return n;
    }

    /** The states of one shard's replicas, each looked up once for one choice. */
    private final class View implements ReplicaChooser.Stats {
        final Node[] replicas;
        final NodeState[] states;

        View(Node[] replicas) {
            this.replicas = replicas;
            this.states = states(replicas);
        }

        private NodeState of(Node replica) {
            for (int i = 0; i < replicas.length; i++) {
                if (replicas[i] == replica) {
                    return states[i];
                }
            }
            return state(replica);
        }

        @Override
        public boolean isHealthy(Node replica) {
            return of(replica).breaker.isClosed();
        }

        @Override
        public boolean wasEligible(Node replica, long boundMs) {
            return of(replica).wasEligible(boundMs);
        }

        @Override
        public int weight(Node replica) {
            return ReplicaHealth.this.weight(replica);
        }

        @Override
        public int inFlight(Node replica) {
            return (int) of(replica).inFlight.sum();
        }

        @Override
        public long replayedLsn(Node replica, LagReport report) {
            return seenReplayed(of(replica), report);
        }
    }

    private int weight(Node replica) {
        if (weights.isEmpty()) {
            return 1;
        }
        Integer w = weights.get(replica.name());
        return w == null ? 1 : w;
    }

    /** The counter of requests in flight on replica {@code node}, for the caller to hold while it runs one. */
    public LongAdder inFlightCounter(Node node) {
        return state(node).inFlight;
    }

    /**
     * Records a replay position seen on a replica by the driver itself: the position now (not the highest seen: a
     * restarted or rebuilt replica replays again from an earlier one).
     */
    public void sawReplayed(Node replica, long lsn) {
        NodeState state = state(replica);
        state.replayed.set(lsn);
        state.replayedAtMillis = System.currentTimeMillis();
    }

    /**
     * The replay position the driver saw on a replica, when no newer lag report says where it is: a report made
     * after the driver's sighting (a replica restarted or rebuilt since may be behind what the driver saw) is taken
     * alone.
     */
    private static long seenReplayed(NodeState state, LagReport report) {
        return report != null && report.replayLsn() != null && report.observedAtMillis() > state.replayedAtMillis
                ? 0
                : state.replayed.get();
    }

    /**
     * Ejects a replica after a connection-level error: no read goes to it until a background probe succeeds,
     * tried after 500 ms, then 1 s, 2 s... up to 10 s.
     */
    public void eject(Node replica, int shard, SQLException cause) {
        // it went away: when it comes back it may replay from an earlier position than the driver saw
        state(replica).replayed.set(0);
        if (state(replica).breaker.recordFailure(System.currentTimeMillis())) {
            metrics.ejected(replica, shard);
            LOG.warn(
                    "replica {} ({}) ejected after a connection error, probing it again in {} ms: {}",
                    replica.name(),
                    replica.address(),
                    EJECT_BASE_MS,
                    cause.getMessage());
            startProber();
        }
    }

    /**
     * The state of {@code node} (of its name: a topology change keeps it): its circuit breaker, whose ejection count
     * tells a connection opened before the node's last ejection, not to be reused, and its lag report.
     */
    public NodeState node(Node node) {
        return state(node);
    }

    private synchronized void startProber() {
        if (prober != null || closed) {
            return;
        }
        prober = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "shardline-probe-" + name);
            t.setDaemon(true);
            return t;
        });
        prober.scheduleWithFixedDelay(this::probeEjected, 100, 100, TimeUnit.MILLISECONDS);
    }

    private void probeEjected() {
        try {
            for (Node replica : replicas.get()) {
                NodeState s = nodes.get(replica.name());
                if (s != null && s.breaker.probeDue(System.currentTimeMillis())) {
                    boolean up = probe.test(replica);
                    s.breaker.recordProbe(up, System.currentTimeMillis());
                    metrics.probed(replica, up);
                    if (up) {
                        LOG.info("replica {} answers again: reads may go to it", replica.name());
                    }
                }
            }
        } catch (RuntimeException e) {
            LOG.warn("probing ejected replicas failed: {}", e.toString());
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        if (prober != null) {
            prober.shutdownNow();
        }
    }
}
