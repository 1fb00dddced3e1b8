package io.shardline.router.exec;

import io.shardline.router.SqlStates;
import io.shardline.router.route.Moves;
import io.shardline.router.route.RoutingState;
import io.shardline.router.sql.Plan;
import io.shardline.router.sql.StatementKind;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.Node;
import io.shardline.topology.RouterRegistration;
import io.shardline.topology.Shard;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperMoveWatcher;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.framework.state.ConnectionStateListener;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooKeeper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The router's side of a shard move's cutover and of a primary switchover, and the gate every write to a sharded
 * table passes.
 *
 * <p>It follows {@code moves/} and holds writes whose shard key falls in a range being moved while the move is fenced
 * (and until this router routes by the move's new ring). While the topology marks a shard for a switchover, it holds
 * the writes of that shard, and a transaction's first statement there (a transaction already on the old primary
 * goes on: the switchover waits for it), until a topology without the mark names the new primary. A write {@link #enter enters} the gate before its fence
 * check and {@link #exit exits} once it has run (its connection borrowed, the statement done), so a write that passed
 * the check is "in flight" until then. When a new fence is seen, the gate's epoch is flipped and the writes that
 * entered before are waited for; only then is the fence acknowledged in {@code routers/{id}}. An acknowledgement thus
 * means: no write to the fenced ranges is in flight on this router, and none will start before the switch. (A write
 * that entered before the flip but checks after it sees the fence: the check follows the increment, the flip follows
 * the fence.)
 *
 * <p>It fails closed: sharded writes wait (then fail with 40001) until the moves are loaded and this router's node
 * exists (a router started during a cutover never writes by a stale view), when its lease ran out (no answer from
 * ZooKeeper for its session timeout plus {@link RouterRegistration#DEPARTURE_GRACE_MS} minus
 * {@link RouterRegistration#WRITE_MARGIN_MS}: an outage or a long pause, past which its session may have expired
 * and a cutover switched without it — a rebalancer goes on without a router only that grace after its node went),
 * after its session was lost until a new one has read the ring and the moves, and until it routes by the ring
 * ZooKeeper had then. An outage shorter than the session timeout holds nothing: while the session lives no move can
 * switch without this router's acknowledgement.
 *
 * <p>Cost when no move runs: two atomic increments, four volatile reads and a clock read per sharded write.
 */
final class MoveFences implements Moves, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(MoveFences.class);
    private static final long DRAIN_LOG_MS = 1_000;
    /** How long the acknowledgement of switchover holds alone waits for the writes in flight (see {@link #drain}). */
    static final long SWITCHOVER_DRAIN_MS = 1_000;
    /** How long a lease renewal waits for its sync: a renewal is due again after 500 ms anyway. */
    private static final long SYNC_WAIT_MS = 2_000;

    private final ZooKeeperMoveWatcher watcher;
    private final RouterRegistration registration;
    private final Supplier<RoutingState> routing;
    private final CuratorFramework client;
    private final String ringPath;
    private final String topologyPath;
    private final ConnectionStateListener stateListener = (c, state) -> onConnectionState(state);
    /** Acknowledges fences, one at a time (an acknowledgement may wait for a long write). */
    private final ScheduledExecutorService background;
    /** Renews the lease, never held up by an acknowledgement. */
    private final ScheduledExecutorService leases;
    /** Writes to sharded tables in flight, by the epoch they entered in. */
    private final InFlightWrites writes = new InFlightWrites();
    /** Cuts the connections to a primary a failover replaces ({@code ClusterRuntime#sever}): how many it cut. */
    private final java.util.function.ToIntFunction<Node> sever;
    /** The failover holds whose old primary's connections were cut: touched by the background thread only. */
    private final Set<String> severed = new HashSet<>();
    /** Fences acknowledged: touched by the background thread only. */
    private final Set<String> acknowledged = new HashSet<>();

    private volatile boolean disconnected;
    /** Counts connection state changes (guarded by this): a resync applies only if none came after it began. */
    private long generation;
    /** The ring version ZooKeeper had when this router last reconnected: writes wait until it routes by it. */
    private volatile long requiredRingVersion;
    /** The topology version ZooKeeper had then (a switchover's hold or its new primary may be in it). */
    private volatile long requiredTopologyVersion;
    /** Until when ({@link System#nanoTime()}) this router's ZooKeeper session is known to hold. */
    private volatile long leaseUntilNanos;

    /** The ZooKeeper session the lease is renewed on. */
    private volatile long leaseSession;

    private volatile long leaseMs = 300;
    private volatile boolean closed;

    MoveFences(
            CuratorFramework client,
            String cluster,
            Supplier<RoutingState> routing,
            java.util.function.ToIntFunction<Node> sever) {
        this.client = client;
        this.sever = sever;
        this.ringPath = ZooKeeperTopologyStore.clusterPath(cluster) + "/ring";
        this.topologyPath = ZooKeeperTopologyStore.clusterPath(cluster) + "/topology";
        this.routing = routing;
        this.registration = new RouterRegistration(client, cluster);
        this.watcher = new ZooKeeperMoveWatcher(client, cluster, this::publishState);
        this.background = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "shardline-fences-" + cluster);
            t.setDaemon(true);
            return t;
        });
        this.leases = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "shardline-lease-" + cluster);
            t.setDaemon(true);
            return t;
        });
        client.getConnectionStateListenable().addListener(stateListener);
        this.leaseUntilNanos = System.nanoTime();
    }

    /** This router's id in ZooKeeper {@code routers/}. */
    String routerId() {
        return registration.id();
    }

    /**
     * Registers this router, loads the moves and takes the first lease; writes wait for all three. Waits for them
     * up to {@code timeoutMs}; past it, they complete in the background (and writes wait meanwhile).
     */
    void start(long timeoutMs) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        registration.start();
        if (!registration.awaitCreated(timeoutMs)) {
            LOG.warn("this router's node in ZooKeeper was not created within {} ms: sharded writes wait", timeoutMs);
        }
        // loaded after the node exists: a cutover that did not count this router fenced before it loads the moves
        watcher.start();
        // the topology was read before the node existed: a failover or switchover that marked a shard in between did
        // not count this router, so writes wait until it routes by a topology at least as new as the one now
        try {
            long now = TopologyCodec.topologyFromJson(client.getData().forPath(topologyPath), topologyPath)
                    .version();
            synchronized (this) {
                requiredTopologyVersion = Math.max(requiredTopologyVersion, now);
            }
        } catch (Exception e) {
            LOG.warn(
                    "reading the topology version after registering failed ({}): writes go by the one read",
                    e.toString());
        }
        while (!watcher.isInitialized() && System.nanoTime() - deadline < 0) {
            LockSupport.parkNanos(1_000_000);
        }
        leaseSession = sessionId();
        renewLease();
        leases.schedule(this::renewAndReschedule, renewalMs(), TimeUnit.MILLISECONDS);
    }

    private void renewAndReschedule() {
        renewLease();
        if (!closed) {
            try {
                leases.schedule(this::renewAndReschedule, renewalMs(), TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException e) {
                // closed meanwhile
            }
        }
    }

    /** How often the lease is renewed: a lost renewal shortens the outage it covers by this much. */
    private long renewalMs() {
        return Math.max(50, Math.min(500, leaseMs / 8));
    }

    /** Whether the last renewal found this router's node missing (logged once per absence). */
    private volatile boolean registrationMissing;

    /**
     * A round trip to ZooKeeper: its success proves the session held when it was sent, so the servers cannot expire
     * it before a whole session timeout later, and a rebalancer goes on without this router only
     * {@link RouterRegistration#DEPARTURE_GRACE_MS} after that. The lease ends {@link RouterRegistration#WRITE_MARGIN_MS}
     * before: a margin for clocks and for a write already past its check.
     */
    private void renewLease() {
        long sent = System.nanoTime();
        try {
            ZooKeeper zk = client.getZookeeperClient().getZooKeeper();
            long session = zk.getSessionId();
            if (!synced(zk)) {
                return;
            }
            if (client.checkExists().forPath(registration.path()) == null) {
                // a cutover counts only registered routers: without our node, writing by our ring is not safe
                leaseUntilNanos = System.nanoTime();
                if (!registrationMissing) {
                    registrationMissing = true;
                    LOG.warn(
                            "this router's node {} is missing in ZooKeeper: sharded writes wait until it is back",
                            registration.path());
                }
                return;
            }
            if (registrationMissing) {
                registrationMissing = false;
                LOG.info("this router's node {} is back in ZooKeeper", registration.path());
            }
            // the handle now: Curator replaces it when a session expires, and a new session's timeout may be shorter
            ZooKeeper now = client.getZookeeperClient().getZooKeeper();
            long timeout = Math.min(zk.getSessionTimeout(), now.getSessionTimeout());
            leaseMs =
                    Math.max(300, timeout + RouterRegistration.DEPARTURE_GRACE_MS - RouterRegistration.WRITE_MARGIN_MS);
            // a new session (the old one expired during a pause) counts only once the reconnect re-read the ring
            if (session == leaseSession && now.getSessionId() == session) {
                leaseUntilNanos = sent + leaseMs * 1_000_000;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            LOG.debug("renewing the ZooKeeper lease failed: {}", e.toString());
        }
    }

    /**
     * A {@code sync} through the server this router talks to: answered once that server has heard from the leader.
     * A plain read proves nothing of the session: a server cut off from its quorum answers reads until it notices,
     * while the leader, hearing nothing of this router, expires its session.
     */
    private static boolean synced(ZooKeeper zk) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        AtomicInteger rc = new AtomicInteger(-1);
        zk.sync(
                "/",
                (code, path, ctx) -> {
                    rc.set(code);
                    done.countDown();
                },
                null);
        return done.await(SYNC_WAIT_MS, TimeUnit.MILLISECONDS) && rc.get() == KeeperException.Code.OK.intValue();
    }

    /** Whether a write let in now would be within the lease: checked again just before a write is sent. */
    boolean leaseHolds() {
        return !disconnected && System.nanoTime() - leaseUntilNanos < 0;
    }

    /**
     * Whether a write the gate does not count may go now: within the lease, and routed by a topology at least as new
     * as the one ZooKeeper had when this router registered or last reconnected (a switchover's or failover's hold
     * may be in it).
     */
    boolean leasedAndCurrent() {
        return leaseHolds() && routing.get().snapshot().topology().version() >= requiredTopologyVersion;
    }

    /**
     * Waits up to {@code waitMs} while the lease is out, for a write the gate does not hold (to an unsharded table, a
     * sequence, a function call, a COMMIT): a router whose session may have expired may be routing by a topology a
     * failover replaced, and its writes would go to the old primary.
     *
     * @param what the statement, for the message ("this write", "this COMMIT")
     * @param then what the application should know and do, for the message
     * @throws SQLException 40001 after {@code limit} ({@link HoldLimit#refused}), saying why; nothing was sent
     */
    void awaitLease(HoldLimit limit, String what, String then) throws SQLException {
        long started = System.nanoTime();
        long deadline = started + limit.ms() * 1_000_000;
        while (!leasedAndCurrent()) {
            if (System.nanoTime() - deadline >= 0 || limit.canceled().getAsBoolean()) {
                String why = disconnected
                        ? "this router lost its ZooKeeper session and cannot know the current primaries yet"
                        : leaseHolds()
                                ? "this router waits for topology version " + requiredTopologyVersion + " (it routes"
                                        + " by "
                                        + routing.get().snapshot().topology().version() + ")"
                                : "this router had no answer from ZooKeeper for over " + leaseMs + " ms (its lease:"
                                        + " ZooKeeper unreachable, or a long pause), so its session may have expired"
                                        + " and a failover have replaced a primary meanwhile";
                throw limit.refused(
                        why, what, "not sent", then, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
            }
            try {
                Thread.sleep(2);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new SQLException("interrupted while waiting for the ZooKeeper lease", "57014", ie);
            }
        }
    }

    private long sessionId() {
        try {
            return client.getZookeeperClient().getZooKeeper().getSessionId();
        } catch (Exception e) {
            return 0;
        }
    }

    private void onConnectionState(ConnectionState state) {
        long gen;
        synchronized (this) {
            gen = ++generation;
            if (state == ConnectionState.LOST) {
                if (!disconnected) {
                    LOG.warn("ZooKeeper session lost: writes to sharded tables wait until a new one has the ring");
                }
                disconnected = true;
                return;
            }
            if (!state.isConnected()) {
                // the session may hold: no move can switch without this router's acknowledgement meanwhile, so
                // writes go on by the ring it has until the lease runs out
                LOG.warn(
                        "ZooKeeper connection {}: writes to sharded tables go on for up to {} ms while the session may"
                                + " hold",
                        state,
                        leaseMs);
                return;
            }
            if (!disconnected) {
                return;
            }
        }
        try {
            leases.execute(() -> resync(gen, state));
        } catch (RejectedExecutionException closing) {
            // closed
        }
    }

    /**
     * After a reconnect: a move may have switched while this router was away (its session may even have expired, so
     * the cutover did not wait for it) and its caches resync in the background. The ring and the moves are read
     * straight from ZooKeeper; writes resume once they are, on a ring and a topology (a switchover's hold, a new
     * primary) at least as new as the ones read, unless the connection changed again meanwhile (that change's own
     * resync decides).
     */
    private void resync(long gen, ConnectionState state) {
        if (closed) {
            return;
        }
        try {
            long ring = TopologyCodec.ringFromJson(client.getData().forPath(ringPath), ringPath)
                    .version();
            long topology = TopologyCodec.topologyFromJson(client.getData().forPath(topologyPath), topologyPath)
                    .version();
            watcher.reloadFromServer();
            long session = sessionId();
            synchronized (this) {
                if (generation != gen) {
                    return;
                }
                requiredRingVersion = ring;
                requiredTopologyVersion = topology;
                leaseSession = session;
                disconnected = false;
            }
            renewLease();
            LOG.info(
                    "ZooKeeper connection {}: writes to sharded tables resume on ring version {} and topology version"
                            + " {} or later",
                    state,
                    ring,
                    topology);
            publishState();
        } catch (Exception e) {
            LOG.warn(
                    "reading the ring and moves after reconnecting failed ({}): sharded writes still wait",
                    e.toString());
            try {
                leases.schedule(() -> resync(gen, state), 500, TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException closing) {
                // closed
            }
        }
    }

    /** Tells ZooKeeper, in the background, this router's ring version and the fences it holds (its acknowledgement). */
    void publishState() {
        try {
            background.execute(this::publishNow);
        } catch (RejectedExecutionException e) {
            // closed
        }
    }

    /**
     * Acknowledges the fences held now: a fence attempt is published only after a drain that began once writers could
     * see it. A fence that appears during a drain sends the loop round again.
     */
    private void publishNow() {
        Set<String> covered = new HashSet<>(acknowledged);
        List<String> held;
        while (true) {
            // from one routing state: every failover hold in what is acknowledged had its old primary cut
            RoutingState r = routing.get();
            severFailingPrimaries(r);
            held = heldFences(r);
            if (covered.containsAll(held)) {
                break;
            }
            boolean switchoversOnly =
                    held.stream().filter(f -> !covered.contains(f)).allMatch(RouterRegistration::isSwitchoverToken);
            if (drain(held, switchoversOnly)) {
                covered.addAll(held);
            }
            if (closed) {
                return;
            }
        }
        acknowledged.clear();
        acknowledged.addAll(held);
        registration.update(routing.get().snapshot().ring().version(), held);
    }

    /**
     * For each failover hold seen for the first time, cuts this router's connections to the primary it replaces
     * (before the acknowledgement, so the drain does not wait for writes on them): a primary taken for dead may be
     * only stalled, and a write or COMMIT sent before the hold would complete there once it resumes, acknowledged to
     * the application yet absent from the new primary. They fail instead (outcome unknown for one under way).
     */
    private void severFailingPrimaries(RoutingState r) {
        Set<String> marks = new HashSet<>();
        for (Shard shard : r.switching()) {
            if (!shard.failingOver()) {
                continue;
            }
            marks.add(shard.switchover());
            if (severed.add(shard.switchover())) {
                int cut = sever.applyAsInt(shard.primary());
                LOG.info(
                        "failover {}: {} connection(s) to {}, the primary of shard {} it replaces, were cut",
                        shard.switchover(),
                        cut,
                        shard.primary().name(),
                        shard.id());
            }
        }
        severed.retainAll(marks);
    }

    /** The fence attempts writers are held by now ({@link RouterRegistration#fenceToken}). */
    private List<String> heldFences() {
        return heldFences(routing.get());
    }

    /** The fence attempts writers are held by in {@code r} and the moves now. */
    private List<String> heldFences(RoutingState r) {
        List<String> held = new ArrayList<>();
        watcher.active().stream()
                .filter(m -> m.state() == MoveState.FENCED || m.state() == MoveState.SWITCHED)
                .map(RouterRegistration::fenceToken)
                .forEach(held::add);
        for (Shard shard : r.switching()) {
            held.add(RouterRegistration.switchoverToken(shard.switchover()));
        }
        return held;
    }

    /**
     * Flips the gate's epoch and waits for the writes that entered before it; for switchovers alone, at most {@link
     * #SWITCHOVER_DRAIN_MS}: a write hung on a dead primary's socket (a host gone without a reset), or a long one on
     * another shard, must not keep every failover and switchover from being acknowledged. A write still in flight on
     * a switched primary then ends with the transactions the switchover ends there (nothing of it commits after the
     * primary's last position is read); a dead primary takes none. Writes a drain gave up on stay counted: every
     * later fence waits for them ({@link InFlightWrites}). The wait ends too when the fences held change (a move's
     * attempt given up, a switchover's hold added): the caller drains again for the fences held then, so a write hung
     * for good holds back that move's attempts, never another fence's acknowledgement.
     *
     * @return whether {@code fences} may be acknowledged: drained, or given up on at a switchover's bound
     */
    private boolean drain(List<String> fences, boolean switchoversOnly) {
        long start = System.nanoTime();
        long[] left = {0};
        boolean[] logged = {false};
        boolean[] changed = {false};
        long[] nextLook = {start};
        Set<String> wanted = new HashSet<>(fences);
        boolean drained = writes.drain(
                () -> {
                    if (closed) {
                        return true;
                    }
                    long now = System.nanoTime();
                    if (switchoversOnly && now - start > SWITCHOVER_DRAIN_MS * 1_000_000) {
                        return true;
                    }
                    if (now - nextLook[0] >= 0) {
                        nextLook[0] = now + 20_000_000;
                        changed[0] = !wanted.equals(new HashSet<>(heldFences()));
                    }
                    return changed[0];
                },
                n -> {
                    left[0] = n;
                    if (!logged[0] && System.nanoTime() - start > DRAIN_LOG_MS * 1_000_000) {
                        LOG.info(
                                "fence of {}: waiting for {} sharded write(s) in flight before acknowledging",
                                fences,
                                n);
                        logged[0] = true;
                    }
                });
        if (drained || closed) {
            return drained;
        }
        if (changed[0]) {
            LOG.info("{}: the fences held changed while {} sharded write(s) were still in flight", fences, left[0]);
            return false;
        }
        LOG.warn(
                "{}: acknowledging with {} sharded write(s) still in flight after {} ms (a later fence waits"
                        + " for them)",
                fences,
                left[0],
                SWITCHOVER_DRAIN_MS);
        return true;
    }

    @Override
    public long cutoverLsn(int shard) {
        return watcher.cutoverLsn(shard);
    }

    @Override
    public long awaitedSwitch(int shard) {
        return watcher.awaitedSwitch(shard);
    }

    /**
     * Whether a cutover is between its fence and this router routing by its new ring ({@code ringVersion} is the
     * ring it routes by): the moving ranges are about to change hands, so a read of them waits.
     */
    boolean switching(long ringVersion) {
        if (ringVersion < watcher.switchedRingVersion()) {
            return true;
        }
        for (MoveRecord move : watcher.active()) {
            if (move.state() == MoveState.FENCED
                    || (move.state().ordinal() >= MoveState.SWITCHED.ordinal() && ringVersion < move.toRingVersion())) {
                return true;
            }
        }
        return false;
    }

    @Override
    public String activeMove() {
        for (MoveRecord m : watcher.active()) {
            if (m.state() != MoveState.PLANNED) {
                return m.id();
            }
        }
        return null;
    }

    /**
     * Enters the gate for a write of {@code plan}: waits while one of its rows ({@code rows}, one parameter array each;
     * {@code null} entries for a plain statement) must not be written, then counts it in flight. Returns at once when
     * no move runs. The caller runs the write and then calls {@link #exit} with the returned ticket, whatever happens.
     *
     * @throws SQLException 40001 after {@code waitMs}, saying why and that the write can be retried
     */
    int enter(Plan plan, List<Object[]> rows, long waitMs) throws SQLException {
        return enter(plan, rows, HoldLimit.of(waitMs), Participation.NONE, held -> {}, held -> {});
    }

    /**
     * {@link #enter(Plan, List, long)} for a statement of a session in {@code participation}, held up to {@code
     * limit}; {@code counted} and {@code held} hear how long a statement that was held waited before it went.
     */
    int enter(
            Plan plan,
            List<Object[]> rows,
            HoldLimit limit,
            Participation participation,
            java.util.function.LongConsumer counted,
            java.util.function.LongConsumer held)
            throws SQLException {
        long deadline = 0;
        long started = 0;
        while (true) {
            int e = writes.enter();
            String why;
            try {
                why = blockedBy(plan, rows, participation);
            } catch (SQLException | RuntimeException x) {
                writes.exit(e);
                throw x;
            }
            if (why == null) {
                if (started != 0) {
                    long waited = System.nanoTime() - started;
                    counted.accept(waited);
                    held.accept(waited);
                }
                return e;
            }
            writes.exit(e);
            if (deadline == 0) {
                started = System.nanoTime();
                deadline = started + limit.ms() * 1_000_000;
            }
            if (System.nanoTime() - deadline >= 0 || limit.canceled().getAsBoolean()) {
                throw limit.refused(
                        why,
                        "the write",
                        "not run",
                        "retry it",
                        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
            }
            try {
                Thread.sleep(2);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new SQLException("interrupted while a shard move held this write", "57014", ie);
            }
        }
    }

    /** Ends a write {@link #enter} let in. */
    void exit(int ticket) {
        writes.exit(ticket);
    }

    private String blockedBy(Plan plan, List<Object[]> rows, Participation participation) throws SQLException {
        RoutingState r = routing.get();
        long ringVersion = r.snapshot().ring().version();
        List<MoveRecord> active = watcher.active();
        List<Shard> switching = r.switching();
        if (!disconnected
                && active.isEmpty()
                && switching.isEmpty()
                && ringVersion >= requiredRingVersion
                && r.snapshot().topology().version() >= requiredTopologyVersion
                && ringVersion >= watcher.switchedRingVersion()
                && System.nanoTime() - leaseUntilNanos < 0
                && watcher.isInitialized()) {
            return null;
        }
        if (disconnected) {
            return "this router lost its ZooKeeper session and cannot know the current ring yet";
        }
        if (!watcher.isInitialized()) {
            return "this router has not loaded the shard moves from ZooKeeper yet";
        }
        if (System.nanoTime() - leaseUntilNanos >= 0) {
            return "this router had no answer from ZooKeeper for over " + leaseMs + " ms (its lease: ZooKeeper"
                    + " unreachable, or a long pause), so its session may have expired and its ring be out of date";
        }
        if (r.snapshot().topology().version() < requiredTopologyVersion) {
            return "this router reconnected to ZooKeeper and waits for topology version " + requiredTopologyVersion
                    + " (it routes by " + r.snapshot().topology().version() + ")";
        }
        if (ringVersion < requiredRingVersion) {
            return "this router reconnected to ZooKeeper and waits for ring version " + requiredRingVersion
                    + " (it routes by " + ringVersion + ")";
        }
        if (ringVersion < watcher.switchedRingVersion()) {
            return "a shard move switched to ring version " + watcher.switchedRingVersion() + " and this router still"
                    + " routes by " + ringVersion;
        }
        for (MoveRecord move : active) {
            boolean holding = move.state() == MoveState.FENCED
                    || (move.state().ordinal() >= MoveState.SWITCHED.ordinal() && ringVersion < move.toRingVersion());
            if (!holding) {
                continue;
            }
            for (Object[] params : rows) {
                if (plan.target() != Plan.Target.KEYED) {
                    return "shard move " + move.id() + " is switching ranges to another shard, and this write (to a"
                            + " reference table, or to every shard) waits for the routers to use the new ring";
                }
                if (r.anyKeyHash(plan, params, move::moves)) {
                    return "shard move " + move.id() + " is switching this key's range to another shard";
                }
            }
        }
        for (Shard shard : switching) {
            if (participation.runsOn(shard.primary())) {
                if (shard.failingOver() && plan.kind() != StatementKind.TXN && plan.kind() != StatementKind.SESSION) {
                    throw new SQLException(
                            "failover " + shard.switchover() + " is replacing "
                                    + shard.primary().name() + ", the"
                                    + " primary of shard " + shard.id() + " this transaction runs on: its connection"
                                    + " there was cut and the transaction cannot go on (nothing of it commits there);"
                                    + " roll it back and retry it",
                            SqlStates.RETRY_WRITE);
                }
                continue; // its transaction began there before the switchover, which waits for it to end
            }
            boolean mayWrite = plan.target() == Plan.Target.ANY || plan.target() == Plan.Target.SEQUENCE;
            if ((plan.kind() != StatementKind.READ || participation.inTransaction() || mayWrite)
                    && touches(r, plan, rows, shard)) {
                return "switchover " + shard.switchover() + " is moving the primary of shard " + shard.id()
                        + " to another node, and this statement waits for the routers to use the new primary";
            }
        }
        return null;
    }

    /** Whether {@code plan} (with one of {@code rows}) runs on {@code shard}'s primary. */
    static boolean touches(RoutingState r, Plan plan, List<Object[]> rows, Shard shard) throws SQLException {
        switch (plan.target()) {
            case BOUND, DRIVER, REFUSED:
                return false;
            case HOME, SEQUENCE:
                return r.homeShard() == shard.id();
            case KEYED:
                for (Object[] params : rows) {
                    if (r.anyKeyHash(plan, params, h -> r.ring().shardFor(h) == shard.id())
                            || plan.everyShardWhenSpanning() && r.keyedShard(plan, params) == RoutingState.SPANS) {
                        // (an UPDATE/DELETE whose keys map to several shards runs on every shard)
                        return true;
                    }
                }
                return false;
            default:
                return true;
        }
    }

    /** What the gate asks of the session whose statement it checks, while a switchover runs. */
    interface Participation {
        /** A statement outside any transaction. */
        Participation NONE = new Participation() {
            @Override
            public boolean inTransaction() {
                return false;
            }

            @Override
            public boolean runsOn(Node node) {
                return false;
            }
        };

        /** Whether the statement runs in the session's transaction. */
        boolean inTransaction();

        /** Whether the session's open transaction has begun on {@code node}. */
        boolean runsOn(Node node);
    }

    @Override
    public void close() throws Exception {
        closed = true;
        client.getConnectionStateListenable().removeListener(stateListener);
        background.shutdownNow();
        leases.shutdownNow();
        watcher.close();
        registration.close();
    }
}
