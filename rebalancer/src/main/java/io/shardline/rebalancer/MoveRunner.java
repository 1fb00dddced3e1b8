package io.shardline.rebalancer;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.Node;
import io.shardline.topology.RouterRegistration;
import io.shardline.topology.Shard;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.TopologyException;
import io.shardline.topology.TopologySnapshot;
import io.shardline.topology.ZooKeeperMoveWatcher;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiFunction;
import java.util.function.BooleanSupplier;
import java.util.function.ToIntFunction;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drives one move in ZooKeeper {@code moves/{id}} through {@code PLANNED → SCHEMA → COPYING → CATCHING_UP →
 * FENCED → SWITCHED → CLEANING → DONE}, or to {@code ABORTED} when {@code moves/{id}-abort} exists before the
 * switch. Every step is idempotent and starts from the state in ZooKeeper, so a new leader resumes where the
 * last one stopped. Every write is version-checked and carries this runner's epoch: a runner that finds a
 * newer epoch in the record, or that no longer leads, stops without writing.
 */
public final class MoveRunner {
    private static final Logger LOG = LoggerFactory.getLogger(MoveRunner.class);
    private static final long PROGRESS_NANOS = 1_000_000_000L;
    /** How long a caught-up copy may have no apply worker streaming before the move says so. */
    private static final long IDLE_WORKER_NANOS = TimeUnit.SECONDS.toNanos(30);
    /** Parallel COPY pipes of a move's initial copy. */
    static final int COPY_PIPES = 4;

    /** Bounds of the cutover. */
    /**
     * Bounds of a move.
     *
     * @param ackTimeout how long the cutover waits for every router to hold writes before it gives up, lifts
     *     the fence and tries again after {@code retryPause}
     * @param barrierTimeout how long the cutover then waits for older transactions on the sources and for the
     *     targets to apply, over all sources, before it gives up the same way. The two together stay under the
     *     routers' {@code fenceWaitMs} (2 s by default), so a cutover that cannot finish releases the held writes
     *     before they fail
     * @param catchUpBytes how close behind its source (WAL bytes) every target must be before the fence
     * @param deleteBatch rows per DELETE of the cleanup
     * @param deleteRowsPerSecond the cleanup's rate limit
     * @param retryPause the pause before a cutover is tried again
     */
    public record Settings(
            Duration ackTimeout,
            Duration barrierTimeout,
            long catchUpBytes,
            int deleteBatch,
            double deleteRowsPerSecond,
            Duration retryPause) {
        public static final Settings DEFAULT = new Settings(
                Duration.ofSeconds(1), Duration.ofMillis(800), 1 << 20, 1000, 20_000, Duration.ofSeconds(3));

        public Settings {
            if (deleteBatch < 1 || deleteRowsPerSecond <= 0) {
                throw new IllegalArgumentException("the cleanup needs a batch of at least 1 row and a positive rate");
            }
        }

        /** The same with another cleanup rate. */
        public Settings withDeleteRowsPerSecond(double rowsPerSecond) {
            return new Settings(ackTimeout, barrierTimeout, catchUpBytes, deleteBatch, rowsPerSecond, retryPause);
        }
    }

    /** Tells the target how to reach a source primary (credentials included, stored in pg_subscription). */
    @FunctionalInterface
    public interface ConnInfo {
        String of(Node source);
    }

    private final CuratorFramework client;
    private final String cluster;
    private final long epoch;
    private final MoveEstimate.Connector connector;
    private final LogicalCopy.SchemaCopier schema;
    private final ConnInfo connInfo;
    private final Settings settings;
    private final BooleanSupplier stillLeader;
    private final RouterDepartures departures;
    /** Whether waiting for {@link #departures} was said since the last fence attempt. */
    private boolean graceLogged;

    private volatile boolean parking;
    /** Opened when the move caught up, before the fence: the cutover that follows uses them. */
    private CutoverConnections warm;
    /** The state of the step {@link #run} is in. */
    private volatile MoveState stepping;

    private final String base;

    public MoveRunner(
            CuratorFramework client,
            String cluster,
            long epoch,
            MoveEstimate.Connector connector,
            LogicalCopy.SchemaCopier schema,
            ConnInfo connInfo,
            Settings settings,
            BooleanSupplier stillLeader) {
        this(
                client,
                cluster,
                epoch,
                connector,
                schema,
                connInfo,
                settings,
                stillLeader,
                RouterDepartures.start(client, cluster));
    }

    /** The same, seeing the routers leave through {@code departures} (the rebalancer's, watched while it runs). */
    public MoveRunner(
            CuratorFramework client,
            String cluster,
            long epoch,
            MoveEstimate.Connector connector,
            LogicalCopy.SchemaCopier schema,
            ConnInfo connInfo,
            Settings settings,
            BooleanSupplier stillLeader,
            RouterDepartures departures) {
        this.departures = java.util.Objects.requireNonNull(departures, "departures");
        this.stillLeader = stillLeader;
        this.client = client;
        this.cluster = cluster;
        this.epoch = epoch;
        this.connector = connector;
        this.schema = schema;
        this.connInfo = connInfo;
        this.settings = settings;
        this.base = ZooKeeperTopologyStore.clusterPath(cluster);
    }

    /**
     * Writes a new move in {@code PLANNED} that fills the empty shards of the current ring.
     *
     * @return the move's id
     * @throws MoveException when another move is not over, or there is no empty shard
     */
    public static String plan(CuratorFramework client, String cluster, long epoch) throws MoveException {
        return plan(client, cluster, epoch, -1);
    }

    /**
     * {@link #plan(CuratorFramework, String, long)}, refused when the ring is no longer at {@code expectedRingVersion}
     * (-1: any). Atomic in ZooKeeper: the move is created in one transaction that checks that no other move was
     * planned, and that neither the topology (a switchover's mark) nor the ring changed, since they were read — two
     * operators starting a move at once get one move and a refusal.
     */
    public static String plan(CuratorFramework client, String cluster, long epoch, long expectedRingVersion)
            throws MoveException {
        String base = ZooKeeperTopologyStore.clusterPath(cluster);
        String movesPath = base + "/moves";
        try {
            if (client.checkExists().forPath(base + "/topology") == null) {
                // before anything is created: a misspelled name leaves no node behind
                throw new MoveException("there is no cluster " + cluster + " in ZooKeeper (no " + base + "/topology)");
            }
            try {
                client.create().creatingParentsIfNeeded().forPath(movesPath, new byte[0]);
            } catch (KeeperException.NodeExistsException exists) {
                // planned before
            }
            Stat movesStat = new Stat();
            client.getData().storingStatIn(movesStat).forPath(movesPath);
            for (MoveRecord m : moves(client, cluster)) {
                if (!m.state().isTerminal()) {
                    throw new MoveException("move " + m.id() + " is "
                            + m.state().name().toLowerCase() + ": one move at a time (wait for it, or abort it)");
                }
            }
            Stat topologyStat = new Stat();
            Stat ringStat = new Stat();
            TopologySnapshot snapshot = new TopologySnapshot(
                    TopologyCodec.topologyFromJson(
                            client.getData().storingStatIn(topologyStat).forPath(base + "/topology"),
                            base + "/topology"),
                    TopologyCodec.ringFromJson(
                            client.getData().storingStatIn(ringStat).forPath(base + "/ring"), base + "/ring"));
            if (expectedRingVersion >= 0 && snapshot.ring().version() != expectedRingVersion) {
                throw new MoveException(
                        "the ring is at version " + snapshot.ring().version() + ", not " + expectedRingVersion
                                + " as previewed: preview the plan again");
            }
            for (Shard shard : snapshot.topology().shards()) {
                if (shard.switchover() != null) {
                    throw new MoveException("switchover " + shard.switchover() + " is changing the primary of shard "
                            + shard.id() + ": plan the move once it is over");
                }
            }
            List<Integer> empty = snapshot.topology().shardIds().stream()
                    .filter(id -> !snapshot.ring().shards().contains(id))
                    .toList();
            MovePlan plan = MovePlan.fillEmptyShards(snapshot.ring(), empty);
            // unique to this call (two planners in one millisecond differ): a retried transaction finds its own move
            String id = "m" + Long.toString(System.currentTimeMillis(), 36)
                    + Long.toString(36 * 36 + ThreadLocalRandom.current().nextInt(35 * 36 * 36), 36);
            List<MoveRecord.Transfer> transfers = records(plan);
            long now = System.currentTimeMillis();
            MoveRecord move = new MoveRecord(
                    id,
                    epoch,
                    MoveState.PLANNED,
                    plan.from().version(),
                    plan.to().version(),
                    transfers,
                    Map.of(),
                    MoveRecord.Progress.NONE,
                    null,
                    now,
                    now);
            try {
                client.transaction()
                        .forOperations(
                                client.transactionOp()
                                        .setData()
                                        .withVersion(movesStat.getVersion())
                                        .forPath(movesPath, new byte[0]),
                                client.transactionOp()
                                        .check()
                                        .withVersion(topologyStat.getVersion())
                                        .forPath(base + "/topology"),
                                client.transactionOp()
                                        .check()
                                        .withVersion(ringStat.getVersion())
                                        .forPath(base + "/ring"),
                                client.transactionOp()
                                        .create()
                                        .forPath(movesPath + "/" + id, ZooKeeperMoveWatcher.toJson(move)));
            } catch (KeeperException.BadVersionException | KeeperException.NodeExistsException raced) {
                if (client.checkExists().forPath(movesPath + "/" + id) != null) {
                    return id; // Curator sent the transaction again after a lost reply: the first one created it
                }
                throw new MoveException("another move was planned, or the topology or the ring changed (a switchover"
                        + " marked a shard), while this one was being planned: look at the moves and plan again");
            }
            return id;
        } catch (MoveException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new MoveException(e.getMessage(), e);
        } catch (Exception e) {
            throw new MoveException("planning a move in ZooKeeper: " + e.getMessage(), e);
        }
    }

    /** Every move of the cluster, oldest first. */
    public static List<MoveRecord> moves(CuratorFramework client, String cluster) throws MoveException {
        String path = ZooKeeperTopologyStore.clusterPath(cluster) + "/moves";
        List<MoveRecord> moves = new ArrayList<>();
        try {
            if (client.checkExists().forPath(path) != null) {
                for (String child : client.getChildren().forPath(path)) {
                    if (child.endsWith(ZooKeeperMoveWatcher.ABORT_SUFFIX)) {
                        continue;
                    }
                    byte[] data = client.getData().forPath(path + "/" + child);
                    if (data != null && data.length > 0) {
                        moves.add(ZooKeeperMoveWatcher.fromJson(data, child));
                    }
                }
            }
        } catch (Exception e) {
            throw new MoveException("reading the moves of cluster " + cluster + ": " + e.getMessage(), e);
        }
        moves.sort(Comparator.comparingLong(MoveRecord::startedAtMillis));
        return moves;
    }

    /** Asks the runner of move {@code id} to abort it (honoured before the switch). */
    public static void requestAbort(CuratorFramework client, String cluster, String id) throws MoveException {
        try {
            String path =
                    ZooKeeperTopologyStore.clusterPath(cluster) + "/moves/" + id + ZooKeeperMoveWatcher.ABORT_SUFFIX;
            if (client.checkExists().forPath(path) == null) {
                // explicit empty data: without it Curator stores the client's address
                client.create().forPath(path, new byte[0]);
            }
        } catch (Exception e) {
            throw new MoveException("requesting the abort of move " + id + ": " + e.getMessage(), e);
        }
    }

    /**
     * Runs move {@code id} until it is over (or a newer leader owns it).
     *
     * @return the state it ended in
     * @throws MoveException when a step fails; the move stays in its state for a retry or an abort
     */
    public MoveState run(String id) throws MoveException {
        try {
            return runSteps(id);
        } finally {
            closeWarm();
        }
    }

    private MoveState runSteps(String id) throws MoveException {
        while (true) {
            Tracked t = read(id);
            MoveRecord move = t.move;
            // a fenced move runs its cutover first (it switches, or lifts the fence): parking there would hold the
            // writes to the moving ranges until another leader took over
            if (parking && !move.state().isTerminal() && move.state() != MoveState.FENCED) {
                LOG.info("parking move {} in {}: the next leader resumes it there", id, move.state());
                return move.state();
            }
            stepping = move.state();
            if (!stillLeader.getAsBoolean()) {
                LOG.info("no longer the leader: leaving move {} in {}", id, move.state());
                return move.state();
            }
            if (move.epoch() > epoch) {
                LOG.info("move {} belongs to epoch {} now (ours {}): stopping", id, move.epoch(), epoch);
                return move.state();
            }
            if (move.state().isTerminal()) {
                return move.state();
            }
            try {
                if (move.epoch() < epoch) {
                    // claim it before acting: a former leader's next version-checked write now fails
                    t.write(move.withState(move.state(), epoch, System.currentTimeMillis()));
                    LOG.info("move {}: taken over in {} (epoch {} -> {})", id, move.state(), move.epoch(), epoch);
                }
                TopologySnapshot snapshot = snapshot(client, cluster);
                List<LogicalCopy> copies = copies(t.move, snapshot);
                boolean beforeSwitch = t.move.state().ordinal() < MoveState.SWITCHED.ordinal();
                boolean abortAsked = beforeSwitch && abortRequested(id);
                boolean ringChanged = beforeSwitch && snapshot.ring().version() != t.move.fromRingVersion();
                if (abortAsked || ringChanged) {
                    // a ring changed since the plan (another move planned by an older console or CLI in a race,
                    // or a hand edit): the move can never switch, and while it is pending no other move runs
                    String why = abortAsked
                            ? "aborted on request"
                            : "the ring is at version " + snapshot.ring().version() + ", this move was planned"
                                    + " from version " + t.move.fromRingVersion() + ": it could not switch; plan again";
                    List<LogicalCopy> toClean = copies;
                    if (ringChanged && targetsOwnMovingRanges(snapshot.ring(), t.move)) {
                        // an identical move switched meanwhile, or a hand edit gave (some of) the ranges to the
                        // targets: the rows there are live now, the only copy the ring names. Only the rows of the
                        // parts it does not give them are deleted
                        why += " (the ring at version " + snapshot.ring().version() + " gives its targets part or all"
                                + " of its ranges: their rows there were kept)";
                        for (LogicalCopy copy : copies) {
                            copy.dropReplication();
                        }
                        toClean = partsTargetsDoNotOwn(snapshot.ring(), t.move).stream()
                                .map(transfer ->
                                        new LogicalCopy(id, transfer, snapshot.topology(), connector, schema, false))
                                .toList();
                    }
                    LOG.warn("move {}: {}: aborting it", id, why);
                    abort(t, toClean, snapshot.topology(), why);
                    continue;
                }
                MoveState next = step(t, copies, snapshot);
                if (next == MoveState.FENCED && parking) {
                    LOG.info("parking move {} in {} instead of fencing it", id, t.move.state());
                    return t.move.state();
                }
                if (next != null) {
                    t.write(t.move.withState(next, epoch, System.currentTimeMillis()));
                }
            } catch (Superseded e) {
                if (!parking) {
                    LOG.info("move {} was changed by someone else; reading it again", id);
                }
            }
        }
    }

    /** Whether {@code ring} gives any hash {@code move} transfers to that transfer's target. */
    static boolean targetsOwnMovingRanges(HashRing ring, MoveRecord move) {
        for (MoveRecord.Transfer transfer : move.transfers()) {
            for (long[] range : transfer.ranges()) {
                for (HashRing.Range r : ring.ranges()) {
                    if (r.shard() == transfer.target() && r.start() <= range[1] && range[0] <= r.endInclusive()) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /**
     * The parts of {@code move}'s transfers whose hashes {@code ring} does not give to the transfer's target (all of
     * them while the ring is the one the move was planned from): the rows an abort deletes from the targets.
     */
    static List<MovePlan.Transfer> partsTargetsDoNotOwn(HashRing ring, MoveRecord move) {
        List<MovePlan.Transfer> parts = new ArrayList<>();
        for (MoveRecord.Transfer transfer : move.transfers()) {
            List<HashRing.Range> unowned = new ArrayList<>();
            for (long[] range : transfer.ranges()) {
                HashRing.Range piece = null; // adjacent pieces of one planned range stay one range
                for (HashRing.Range r : ring.ranges()) {
                    long start = Math.max(range[0], r.start());
                    long end = Math.min(range[1], r.endInclusive());
                    if (start > end || r.shard() == transfer.target()) {
                        if (piece != null) {
                            unowned.add(piece);
                            piece = null;
                        }
                    } else if (piece != null && piece.endInclusive() + 1 == start) {
                        piece = new HashRing.Range(piece.start(), end, transfer.target());
                    } else {
                        if (piece != null) {
                            unowned.add(piece);
                        }
                        piece = new HashRing.Range(start, end, transfer.target());
                    }
                }
                if (piece != null) {
                    unowned.add(piece);
                }
            }
            if (!unowned.isEmpty()) {
                parts.add(new MovePlan.Transfer(transfer.source(), transfer.target(), unowned));
            }
        }
        return parts;
    }

    /** One step; returns the next state, or null when the step wrote the record itself or saw an abort. */
    private MoveState step(Tracked t, List<LogicalCopy> copies, TopologySnapshot snapshot) throws MoveException {
        MoveRecord move = t.move;
        switch (move.state()) {
            case PLANNED:
                for (LogicalCopy copy : copies) {
                    copy.checkPreconditions();
                }
                LogicalCopy.checkWorkers(copies, connector);
                return MoveState.SCHEMA;
            case SCHEMA:
                for (LogicalCopy copy : copies) {
                    copy.createSchema();
                }
                return MoveState.COPYING;
            case COPYING:
                return copy(t, copies, snapshot) ? MoveState.CATCHING_UP : null;
            case CATCHING_UP:
                if (!catchUp(t, copies)) {
                    return null;
                }
                warm = cutoverConnections(warm, copies, snapshot);
                // opening them took time: the lag, the workers and an abort are looked at again just before the fence
                if (readyToFence(t, copies)) {
                    return MoveState.FENCED;
                }
                pause(100);
                return null;
            case FENCED:
                // a move taken over in FENCED has none open: they are opened before the barrier's time starts
                CutoverConnections connections = warm != null ? warm : new CutoverConnections(connector);
                warm = null;
                try (connections) {
                    cutover(t, copies, snapshot, connections);
                } catch (CutoverFailed e) {
                    // not switched: lift the fence so the held writes go on to the sources, and try again later
                    LOG.warn("move {}: {}; writes released, trying the cutover again", move.id(), e.getMessage());
                    t.write(t.move.withState(MoveState.CATCHING_UP, epoch, System.currentTimeMillis())
                            .withError("the last cutover failed: " + e.getMessage()));
                }
                return null;
            case SWITCHED:
                return MoveState.CLEANING;
            case CLEANING:
                clean(t, copies, snapshot.topology(), MoveRecord.Transfer::source);
                return MoveState.DONE;
            default:
                throw new IllegalStateException("not a running state: " + move.state());
        }
    }

    /**
     * COPYING: for each source not subscribed yet (all at once), its publication, a slot with an exported snapshot
     * and a COPY pipe per table of the moving ranges under it ({@link #COPY_PIPES} at a time), then its subscription
     * on that slot (no copy of its own) as soon as its last pipe committed, while other sources' pipes still run; the
     * subscriptions are enabled together at the end. False on an abort.
     */
    private boolean copy(Tracked t, List<LogicalCopy> copies, TopologySnapshot snapshot) throws MoveException {
        long started = System.nanoTime();
        AtomicLong copied = new AtomicLong();
        AtomicBoolean aborting = new AtomicBoolean();
        long total = 0;
        long opened = 0;
        long piped = 0;
        int pipeCount = 0;
        ExecutorService pool = Executors.newFixedThreadPool(COPY_PIPES, r -> {
            Thread thread = new Thread(r, "shardline-copy");
            thread.setDaemon(true);
            return thread;
        });
        List<Future<Opened>> opening = new ArrayList<>();
        // every snapshot opened, closed when the step ends: those still opening then close themselves
        Set<LogicalCopy.Snapshot> snapshots = ConcurrentHashMap.newKeySet();
        List<Future<Long>> pipes = new ArrayList<>();
        try {
            for (LogicalCopy copy : copies) {
                double share = snapshot.ring()
                        .shareByShard()
                        .getOrDefault(copy.transfer().source(), 1.0);
                opening.add(pool.submit(() -> open(copy, share, snapshots, aborting)));
            }
            for (int i = 0; i < opening.size(); i++) {
                Future<Opened> f = opening.get(i);
                // a slot's creation waits for the source's transactions older than it: an abort ends that wait
                long waitingSince = System.nanoTime();
                boolean told = false;
                while (!awaitDone(f)) {
                    if (abortRequested(t.move.id())) {
                        return false; // what still runs is ended below
                    }
                    checkLeading();
                    if (!told && System.nanoTime() - waitingSince > SLOW_OPENING_NANOS) {
                        told = true;
                        LogicalCopy copy = copies.get(i);
                        LOG.warn(
                                "move {}: copy {} is still opening after {} s: its slot waits for the transactions"
                                        + " older than it on its source to end; the oldest there: {}. End them, or"
                                        + " abort the move",
                                t.move.id(),
                                copy.name(),
                                TimeUnit.NANOSECONDS.toSeconds(SLOW_OPENING_NANOS),
                                copy.oldestSourceTransactions());
                    }
                }
                Opened o = result(f, "opening the copy");
                if (o.snapshot() == null) {
                    continue;
                }
                total += o.rows();
                String sourceInfo = connInfo.of(
                        snapshot.topology().shard(o.copy().transfer().source()).primary());
                List<Callable<Long>> ofCopy = o.copy().pipes(o.snapshot(), epoch, copied::addAndGet);
                AtomicInteger left = new AtomicInteger(ofCopy.size());
                for (Callable<Long> pipe : ofCopy) {
                    pipes.add(pool.submit(() -> {
                        long rows = pipe.call();
                        // only once every pipe of the copy committed: a subscription says its rows are copied
                        if (left.decrementAndGet() == 0 && !aborting.get()) {
                            o.copy().subscribe(sourceInfo, epoch);
                        }
                        return rows;
                    }));
                }
                if (ofCopy.isEmpty()) {
                    o.copy().subscribe(sourceInfo, epoch);
                }
            }
            opened = System.nanoTime();
            pipeCount = pipes.size();
            Eta eta = new Eta();
            long lastWrite = 0;
            while (!pipes.stream().allMatch(Future::isDone)) {
                if (abortRequested(t.move.id())) {
                    return false; // what still runs is ended below
                }
                if (System.nanoTime() - lastWrite > PROGRESS_NANOS) {
                    long done = copied.get();
                    t.write(t.move.withProgress(
                            new MoveRecord.Progress(total, done, -1, 0, eta.toGo(total - done, done)),
                            epoch,
                            System.currentTimeMillis()));
                    lastWrite = System.nanoTime();
                }
                pause(50);
            }
            for (Future<Long> pipe : pipes) {
                result(pipe, "copying the moving rows");
            }
            piped = System.nanoTime();
        } finally {
            // the step leaves nothing running (an abort, a failure, superseded): an opening or pipe still at work
            // could make a slot, commit rows or subscribe after the cleanup or next to the next run's
            stopAll(t.move.id(), pool, opening, pipes, copies, aborting);
            // every snapshot that opened ends here (the slots stay for the subscriptions)
            snapshots.forEach(LogicalCopy.Snapshot::close);
        }
        LogicalCopy.enable(copies, connector);
        long ended = System.nanoTime();
        LOG.info(
                "move {}: {} rows copied in {} ms by {} pipes ({} at once): {} ms to publish and open the slots'"
                        + " snapshots, {} ms of pipes (each source subscribed after its last), {} ms to enable",
                t.move.id(),
                copied.get(),
                (ended - started) / 1_000_000,
                pipeCount,
                COPY_PIPES,
                (opened - started) / 1_000_000,
                (piped - opened) / 1_000_000,
                (ended - piped) / 1_000_000);
        t.write(t.move.withProgress(
                new MoveRecord.Progress(Math.max(total, copied.get()), copied.get(), -1, 0, -1),
                epoch,
                System.currentTimeMillis()));
        return true;
    }

    /** How long a copy may take to open before the log names the transactions its slot waits for. */
    private static final long SLOW_OPENING_NANOS = TimeUnit.SECONDS.toNanos(5);

    /** Whether {@code future} is done, waiting for it up to 50 ms. */
    private static boolean awaitDone(Future<?> future) {
        try {
            future.get(50, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            return false;
        } catch (ExecutionException | CancellationException e) {
            // done: its failure is reported where its result is read
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return true;
    }

    /** How long the end of a copy step waits for its openings and pipes to stop. */
    private static final long STOP_NANOS = TimeUnit.MINUTES.toNanos(2);

    /**
     * Ends a copy step: no pipe subscribes after this (an abort then deletes what the committed ones wrote and drops
     * the subscriptions the finished copies made); the tasks still queued never run; the running ones (pipes, slots
     * being created) are ended until all are done, whatever fails meanwhile (up to {@link #STOP_NANOS}; past that,
     * the log names the slots to check). Never throws.
     */
    private static void stopAll(
            String moveId,
            ExecutorService pool,
            List<Future<Opened>> opening,
            List<Future<Long>> pipes,
            List<LogicalCopy> copies,
            AtomicBoolean aborting) {
        aborting.set(true);
        for (Runnable never : pool.shutdownNow()) {
            if (never instanceof Future<?> queued) {
                queued.cancel(false);
            }
        }
        long deadline = System.nanoTime() + STOP_NANOS;
        while (!opening.stream().allMatch(Future::isDone) || !pipes.stream().allMatch(Future::isDone)) {
            if (System.nanoTime() - deadline > 0) {
                LOG.error(
                        "move {}: copy tasks still run {} s after they were told to stop; a slot they create then"
                                + " stays on its source (check pg_replication_slots there for shardline_{}_*)",
                        moveId,
                        TimeUnit.NANOSECONDS.toSeconds(STOP_NANOS),
                        moveId);
                return;
            }
            for (LogicalCopy copy : copies) {
                try {
                    copy.stopPipes();
                    copy.stopSlotCreation();
                } catch (MoveException e) {
                    LOG.debug("move {}: stopping copy {}: {}", moveId, copy.name(), e.getMessage());
                }
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** A copy opened for its pipes: its snapshot, null when it has nothing to copy or copied already. */
    private record Opened(LogicalCopy copy, LogicalCopy.Snapshot snapshot, long rows) {}

    /**
     * A copy's publication, then unless it subscribes already (its rows were copied) the rows it is about to copy
     * (the planner's row counts times the moving share: no scan competes with the copy) and its slot's snapshot,
     * added to {@code snapshots}; closed here when the step ended meanwhile ({@code ended}: another copy failed).
     */
    private Opened open(LogicalCopy copy, double sourceShare, Set<LogicalCopy.Snapshot> snapshots, AtomicBoolean ended)
            throws MoveException {
        long rows;
        LogicalCopy.Snapshot held;
        try (LogicalCopy.Opening opening = copy.opening()) {
            if (!opening.publish() || opening.subscribed()) {
                return new Opened(copy, null, 0);
            }
            rows = opening.estimateRows(sourceShare).values().stream()
                    .mapToLong(Long::longValue)
                    .sum();
            if (ended.get()) {
                return new Opened(copy, null, 0); // the step ended (an abort, another copy failed): no slot
            }
            held = opening.openSnapshot(epoch);
        }
        if (held == null) {
            return new Opened(copy, null, 0);
        }
        snapshots.add(held);
        if (ended.get()) {
            held.close(); // the step's end may have closed the others before this one was added
        }
        return new Opened(copy, held, rows);
    }

    private static <T> T result(Future<T> future, String what) throws MoveException {
        try {
            return future.get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            throw new MoveException(what + ": " + cause.getMessage(), cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MoveException("interrupted while " + what, e);
        }
    }

    /** CATCHING_UP: waits until every target is close behind its source and streams from it; false on an abort. */
    private boolean catchUp(Tracked t, List<LogicalCopy> copies) throws MoveException {
        if (t.move.error() != null) {
            pause(settings.retryPause().toMillis()); // a cutover failed: give whatever blocked it time to pass
        }
        Eta eta = new Eta();
        long lastWrite = 0;
        long idleSince = 0;
        boolean told = false;
        while (true) {
            Behind behind = behind(copies);
            long lag = behind.bytes();
            if (lag <= settings.catchUpBytes()) {
                LogicalCopy idle = notStreaming(behind.slots());
                if (idle == null) {
                    if (told) {
                        // it streams again: the error said it did not
                        t.write(t.move.withState(MoveState.CATCHING_UP, epoch, System.currentTimeMillis())
                                .withError(null));
                    }
                    return true;
                }
                // close behind, but nothing applies: fencing now would hold writes for a barrier never applied
                if (idleSince == 0) {
                    idleSince = System.nanoTime();
                } else if (!told && System.nanoTime() - idleSince > IDLE_WORKER_NANOS) {
                    told = true;
                    String why = "no apply worker has streamed from slot " + idle.name() + " (shard "
                            + idle.transfer().source() + " to shard "
                            + idle.transfer().target() + ") for "
                            + TimeUnit.NANOSECONDS.toSeconds(IDLE_WORKER_NANOS) + " s: see pg_stat_subscription and"
                            + " the server log of shard " + idle.transfer().target() + "'s primary (the move waits)";
                    LOG.warn("move {}: {}", t.move.id(), why);
                    t.write(t.move.withState(MoveState.CATCHING_UP, epoch, System.currentTimeMillis())
                            .withError(why));
                }
            } else {
                idleSince = 0;
            }
            if (abortRequested(t.move.id())) {
                return false;
            }
            if (System.nanoTime() - lastWrite > PROGRESS_NANOS) {
                MoveRecord.Progress p = t.move.progress();
                t.write(t.move.withProgress(
                        new MoveRecord.Progress(p.rowsTotal(), p.rowsCopied(), lag, 0, eta.toGo(lag, -lag)),
                        epoch,
                        System.currentTimeMillis()));
                lastWrite = System.nanoTime();
            }
            pause(100);
        }
    }

    /**
     * Whether the move may be fenced now: every target close behind its source and streaming from it, no abort
     * asked for, and no router gone so recently that it may still write ({@link RouterDepartures}).
     */
    private boolean readyToFence(Tracked t, List<LogicalCopy> copies) throws MoveException {
        departures.observe();
        long grace = departures.graceLeftMs();
        if (grace > 0) {
            if (!graceLogged) {
                graceLogged = true;
                LOG.info(
                        "move {}: a router left ZooKeeper lately, or this rebalancer (re)connected and cannot know who"
                                + " did; such a router may still write by the old ring: fencing in {} ms",
                        t.move.id(),
                        grace);
            }
            pause(Math.min(grace, 1_000));
            return false;
        }
        graceLogged = false;
        Behind behind = behind(copies);
        return behind.bytes() <= settings.catchUpBytes()
                && notStreaming(behind.slots()) == null
                && !abortRequested(t.move.id());
    }

    /**
     * How far behind the copies are: {@code bytes}, the WAL the furthest-behind target has not confirmed, over
     * {@code slots}, the copies with a slot (a source with none of the sharded tables has none).
     */
    private record Behind(long bytes, List<LogicalCopy> slots) {}

    private static Behind behind(List<LogicalCopy> copies) throws MoveException {
        long lag = 0;
        List<LogicalCopy> slots = new ArrayList<>();
        for (LogicalCopy copy : copies) {
            long behind = copy.lag();
            if (behind < 0 && !copy.subscribed()) {
                continue; // the source has none of the sharded tables: nothing streams
            }
            if (behind < 0) {
                // it would never catch up: the fence would hold writes for a target that cannot apply them
                throw new MoveException("the replication slot " + copy.name() + " is missing on shard "
                        + copy.transfer().source() + ": the copy cannot catch up (abort the move and start"
                        + " it again)");
            }
            lag = Math.max(lag, behind);
            slots.add(copy);
        }
        return new Behind(lag, slots);
    }

    /** One of {@code copies} whose slot no apply worker streams from now, or null. */
    private static LogicalCopy notStreaming(List<LogicalCopy> copies) throws MoveException {
        for (LogicalCopy copy : copies) {
            if (!copy.streaming()) {
                return copy;
            }
        }
        return null;
    }

    /**
     * CLEANING (or an abort): drops the replication, then deletes the moved rows from the shard {@code side}
     * names, at the configured rate, writing the rows deleted so far.
     */
    private void clean(
            Tracked t, List<LogicalCopy> copies, ClusterTopology topology, ToIntFunction<MoveRecord.Transfer> side)
            throws MoveException {
        for (LogicalCopy copy : copies) {
            copy.dropReplication();
        }
        MoveRecord.Progress start = t.move.progress();
        long[] before = {0};
        long[] lastWrite = {0};
        Eta eta = new Eta();
        for (LogicalCopy copy : copies) {
            Node node =
                    topology.shard(side.applyAsInt(transferOf(copy, t.move))).primary();
            long done = copy.deleteMovingRows(node, settings.deleteBatch(), settings.deleteRowsPerSecond(), n -> {
                if (parking) {
                    throw new Superseded(); // after a batch: a later leader deletes the rest
                }
                if (System.nanoTime() - lastWrite[0] > PROGRESS_NANOS) {
                    long cleaned = before[0] + n;
                    try {
                        t.write(t.move.withProgress(
                                new MoveRecord.Progress(
                                        start.rowsTotal(),
                                        start.rowsCopied(),
                                        start.lagBytes(),
                                        cleaned,
                                        eta.toGo(start.rowsCopied() - cleaned, cleaned)),
                                epoch,
                                System.currentTimeMillis()));
                    } catch (MoveException e) {
                        throw new Superseded(); // ZooKeeper is not reachable: stop deleting, a leader resumes
                    }
                    lastWrite[0] = System.nanoTime();
                }
            });
            before[0] += done;
        }
        MoveRecord.Progress p = t.move.progress();
        t.write(t.move.withProgress(
                new MoveRecord.Progress(p.rowsTotal(), p.rowsCopied(), p.lagBytes(), before[0], 0),
                epoch,
                System.currentTimeMillis()));
    }

    /**
     * FENCED: every live router holds writes to the moving ranges; transactions that started before are
     * waited out on each source; the targets apply the sources' WAL up to now; then the new ring and SWITCHED
     * are written together.
     *
     * @throws CutoverFailed when it did not switch and the fence can be lifted safely
     */
    private void cutover(Tracked t, List<LogicalCopy> copies, TopologySnapshot snapshot, CutoverConnections connections)
            throws MoveException {
        MoveRecord move = t.move;
        long t0 = System.nanoTime();
        // writes are held already: a connection not opened before the fence may take the barrier's time, no more
        openAll(connections, copies, snapshot, settings.barrierTimeout(), CutoverFailed::new);
        awaitAcks(move);
        if (departures.graceLeftMs() > 0) {
            // its node went, not its writes: one let in before its session expired may still run on the source
            throw new CutoverFailed("a router left ZooKeeper less than " + RouterRegistration.DEPARTURE_GRACE_MS
                    + " ms ago and may still write by the old ring");
        }
        long acked = System.nanoTime();
        long drained = 0;
        long referenceNanos = 0;
        long deadline = acked + settings.barrierTimeout().toNanos();
        // every source's barrier placed first, then waited for on every target at once: the targets apply in
        // parallel, and a wait per copy in turn made the cutover of a move from n sources take n times as long
        long[] barriers = new long[copies.size()];
        for (int i = 0; i < copies.size(); i++) {
            LogicalCopy copy = copies.get(i);
            Node source = snapshot.topology().shard(copy.transfer().source()).primary();
            try (Statement s = connections.to(source, remaining(deadline)).createStatement()) {
                long t1 = System.nanoTime();
                s.execute("SET synchronous_commit = on");
                awaitOlderTransactions(s, source, deadline);
                drained += System.nanoTime() - t1;
                barriers[i] = copy.placeBarrier(s);
            } catch (SQLException e) {
                throw new CutoverFailed("the barrier on " + source.name() + ": " + e.getMessage(), e);
            }
        }
        for (int i = 0; i < copies.size(); i++) {
            LogicalCopy copy = copies.get(i);
            Node source = snapshot.topology().shard(copy.transfer().source()).primary();
            Node target = snapshot.topology().shard(copy.transfer().target()).primary();
            try (Statement s = connections.to(source, remaining(deadline)).createStatement();
                    Statement ts = connections.to(target, remaining(deadline)).createStatement()) {
                while (barriers[i] >= 0 && !copy.barrierApplied(ts, barriers[i])) {
                    if (System.nanoTime() > deadline) {
                        throw new CutoverFailed("the target of " + copy.name() + " did not apply the barrier within "
                                + settings.barrierTimeout().toMillis() + " ms");
                    }
                    pause(1);
                }
                int raised = copy.raiseSequences(s, ts);
                if (raised > 0) {
                    LOG.info(
                            "move {}: {} sequences of shard {} raised to shard {}'s",
                            move.id(),
                            raised,
                            copy.transfer().target(),
                            copy.transfer().source());
                }
                if (copy.carriesReferences()) {
                    // writes to reference tables are held too: the target takes the source's copy as it is now
                    long t2 = System.nanoTime();
                    long rows;
                    try {
                        rows = copy.copyReferenceTables(
                                s.getConnection(),
                                ts.getConnection(),
                                remaining(deadline).toMillis());
                    } catch (SQLException e) {
                        throw new CutoverFailed(
                                "copying the reference tables to shard "
                                        + copy.transfer().target() + ": " + e.getMessage(),
                                e);
                    }
                    referenceNanos += System.nanoTime() - t2;
                    LOG.info(
                            "move {}: {} rows of reference tables copied to shard {}",
                            move.id(),
                            rows,
                            copy.transfer().target());
                }
            } catch (SQLException e) {
                throw new CutoverFailed(
                        "the cutover of " + copy.name() + " (" + source.name() + " to " + target.name() + "): "
                                + e.getMessage(),
                        e);
            }
        }
        long applied = System.nanoTime();
        long flushDeadline = applied + settings.barrierTimeout().toNanos();
        Map<Integer, String> cutoverLsn = new HashMap<>();
        for (int target : targets(move)) {
            Node primary = snapshot.topology().shard(target).primary();
            // a commit with synchronous_commit = on flushes all WAL before it: the applied rows are durable
            try (Statement s = connections.to(primary, remaining(flushDeadline)).createStatement()) {
                s.execute("SET synchronous_commit = on");
                single(s, "SELECT txid_current()");
                cutoverLsn.put(target, single(s, "SELECT pg_current_wal_lsn()::text"));
            } catch (SQLException e) {
                throw new CutoverFailed("flushing " + primary.name() + ": " + e.getMessage(), e);
            }
        }
        HashRing ring = snapshot.ring();
        if (ring.version() != move.fromRingVersion()) {
            // not switched: the fence is lifted (a MoveException here kept writes held while it was retried)
            throw new CutoverFailed("the ring is at version " + ring.version() + ", the move expected "
                    + move.fromRingVersion() + ": someone else changed it (abort the move)");
        }
        MovePlan switching = MovePlan.fillEmptyShards(ring, targets(move));
        if (!describe(records(switching)).equals(describe(move.transfers()))) {
            // the ring published must move exactly the ranges the copy moved: else keys would route to a shard
            // without their rows, and the cleanup would delete them from their sources
            throw new CutoverFailed("the ring the cutover would publish moves " + describe(records(switching))
                    + ", the move copied " + describe(move.transfers()) + ": not switched (abort the move)");
        }
        HashRing next = switching.to();
        MoveRecord switched = new MoveRecord(
                move.id(),
                epoch,
                MoveState.SWITCHED,
                move.fromRingVersion(),
                next.version(),
                move.transfers(),
                cutoverLsn,
                move.progress(),
                null,
                move.startedAtMillis(),
                System.currentTimeMillis());
        if (!stillLeader.getAsBoolean()) {
            throw new Superseded();
        }
        // the ring as it is now, not as the snapshot read before the fence: a change since is not overwritten
        Stat ringStat = new Stat();
        HashRing current;
        try {
            current = TopologyCodec.ringFromJson(
                    client.getData().storingStatIn(ringStat).forPath(base + "/ring"), base + "/ring");
        } catch (Exception e) {
            throw new CutoverFailed("reading the ring before the switch: " + e.getMessage(), e);
        }
        if (current.version() != move.fromRingVersion()) {
            throw new CutoverFailed("the ring is at version " + current.version() + ", the move expected "
                    + move.fromRingVersion() + ": someone else changed it during the cutover (abort the move)");
        }
        try {
            client.transaction()
                    .forOperations(
                            client.transactionOp()
                                    .setData()
                                    .withVersion(ringStat.getVersion())
                                    .forPath(base + "/ring", TopologyCodec.ringToJson(next)),
                            client.transactionOp()
                                    .setData()
                                    .withVersion(t.version)
                                    .forPath(base + "/moves/" + move.id(), ZooKeeperMoveWatcher.toJson(switched)));
        } catch (KeeperException.BadVersionException e) {
            throw new Superseded();
        } catch (Exception e) {
            // the outcome may be unknown (connection loss): the next read of the move tells
            throw new MoveException("publishing the new ring of move " + move.id() + ": " + e.getMessage(), e);
        }
        long published = System.nanoTime();
        LOG.info(
                "move {}: ring version {} published; writes to the moving ranges were held {} ms (routers"
                        + " acknowledged in {} ms, older transactions ended in {} ms, targets applied in {} ms, reference"
                        + " tables copied in {} ms, switch {} ms)",
                move.id(),
                next.version(),
                (published - t0) / 1_000_000,
                (acked - t0) / 1_000_000,
                drained / 1_000_000,
                (applied - acked - drained - referenceNanos) / 1_000_000,
                referenceNanos / 1_000_000,
                (published - applied) / 1_000_000);
    }

    /**
     * Connections to every primary the cutover of {@code copies} uses, opened while writes still flow: those of
     * {@code open} (null for none) that still answer and still lead to a primary of the cutover, and new ones.
     *
     * @throws MoveException when one cannot be opened: fencing would only hold writes for a cutover that fails
     */
    private CutoverConnections cutoverConnections(
            CutoverConnections open, List<LogicalCopy> copies, TopologySnapshot snapshot) throws MoveException {
        CutoverConnections connections = open != null ? open : new CutoverConnections(connector);
        try {
            connections.keepOnly(primaries(copies, snapshot));
            openAll(connections, copies, snapshot, CutoverConnections.CONNECT_TIMEOUT, MoveException::new);
            return connections;
        } catch (MoveException e) {
            connections.close(); // emptied: usable again
            throw e;
        }
    }

    /** The primaries of the sources and targets of {@code copies}. */
    private static Set<Node> primaries(List<LogicalCopy> copies, TopologySnapshot snapshot) {
        Set<Node> primaries = new LinkedHashSet<>();
        for (LogicalCopy copy : copies) {
            primaries.add(snapshot.topology().shard(copy.transfer().source()).primary());
            primaries.add(snapshot.topology().shard(copy.transfer().target()).primary());
        }
        return primaries;
    }

    private static void openAll(
            CutoverConnections connections,
            List<LogicalCopy> copies,
            TopologySnapshot snapshot,
            Duration timeout,
            BiFunction<String, Throwable, ? extends MoveException> failure)
            throws MoveException {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (Node primary : primaries(copies, snapshot)) {
            try {
                connections.open(primary, deadline);
            } catch (SQLException e) {
                throw failure.apply("connecting to " + primary.name() + " for the cutover: " + e.getMessage(), e);
            }
        }
    }

    private void closeWarm() {
        if (warm != null) {
            warm.close();
            warm = null;
        }
    }

    /** The time left until {@code deadline} (nanoTime), at least 1 ms. */
    private static Duration remaining(long deadline) {
        return Duration.ofNanos(Math.max(1_000_000, deadline - System.nanoTime()));
    }

    /** The transfers of {@code plan} as a move record holds them. */
    static List<MoveRecord.Transfer> records(MovePlan plan) {
        List<MoveRecord.Transfer> transfers = new ArrayList<>();
        for (MovePlan.Transfer t : plan.transfers()) {
            transfers.add(new MoveRecord.Transfer(
                    t.source(),
                    t.target(),
                    t.ranges().stream()
                            .map(r -> new long[] {r.start(), r.endInclusive()})
                            .toList()));
        }
        return transfers;
    }

    /** {@code source->target [start, end]...} of each transfer, in order: equal when they move the same ranges. */
    static String describe(List<MoveRecord.Transfer> transfers) {
        StringBuilder b = new StringBuilder();
        for (MoveRecord.Transfer t : transfers) {
            b.append(b.length() == 0 ? "" : "; ")
                    .append(t.source())
                    .append("->")
                    .append(t.target());
            for (long[] r : t.ranges()) {
                b.append(" [").append(r[0]).append(", ").append(r[1]).append(']');
            }
        }
        return b.toString();
    }

    private static List<Integer> targets(MoveRecord move) {
        return move.transfers().stream()
                .map(MoveRecord.Transfer::target)
                .distinct()
                .sorted()
                .toList();
    }

    private void awaitAcks(MoveRecord move) throws MoveException {
        long deadline = System.nanoTime() + settings.ackTimeout().toNanos();
        while (true) {
            List<String> missing;
            try {
                missing = RouterRegistration.notAcknowledged(client, cluster, RouterRegistration.fenceToken(move));
                departures.observe(); // after: a router gone from that read is gone from this one
            } catch (TopologyException e) {
                throw new MoveException(e.getMessage(), e);
            }
            if (missing.isEmpty()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new CutoverFailed(missing.size() + " router(s) did not acknowledge the fence of move " + move.id()
                        + " within " + settings.ackTimeout().toMillis() + " ms: " + missing);
            }
            pause(5);
        }
    }

    /** Waits until every transaction running on {@code source} when this was called has ended. */
    private void awaitOlderTransactions(Statement s, Node source, long deadline) throws SQLException, MoveException {
        long xid = Long.parseLong(single(s, "SELECT txid_current()"));
        while (Long.parseLong(single(s, "SELECT txid_snapshot_xmin(txid_current_snapshot())")) <= xid) {
            if (System.nanoTime() > deadline) {
                throw new CutoverFailed("transactions older than the fence still run on " + source.name() + " after "
                        + settings.barrierTimeout().toMillis() + " ms");
            }
            pause(1);
        }
    }

    private static String single(Statement s, String sql) throws SQLException {
        try (ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private void abort(Tracked t, List<LogicalCopy> copies, ClusterTopology topology, String why) throws MoveException {
        if (t.move.state() == MoveState.FENCED) {
            // the routers hold writes to the moving ranges while it is fenced: not for the whole cleanup
            t.write(t.move.withState(MoveState.CATCHING_UP, epoch, System.currentTimeMillis()));
        }
        clean(t, copies, topology, MoveRecord.Transfer::target);
        t.write(t.move.withState(MoveState.ABORTED, epoch, System.currentTimeMillis())
                .withError(why));
    }

    private MoveRecord.Transfer transferOf(LogicalCopy copy, MoveRecord move) {
        return move.transfers().stream()
                .filter(t -> copy.name().endsWith("_" + t.source() + "_" + t.target()))
                .findFirst()
                .orElseThrow();
    }

    /**
     * The move's copies; the first copy into a shard that holds no data yet (it owns no range of the ring, and is
     * not the home shard) gives it the schema objects, views and reference tables.
     */
    private List<LogicalCopy> copies(MoveRecord move, TopologySnapshot snapshot) {
        ClusterTopology topology = snapshot.topology();
        List<Integer> owners = snapshot.ring().shards();
        Set<Integer> carried = new HashSet<>();
        List<LogicalCopy> copies = new ArrayList<>();
        for (MoveRecord.Transfer t : move.transfers()) {
            List<HashRing.Range> ranges = t.ranges().stream()
                    .map(r -> new HashRing.Range(r[0], r[1], t.target()))
                    .toList();
            boolean first =
                    !owners.contains(t.target()) && t.target() != topology.homeShard() && carried.add(t.target());
            copies.add(new LogicalCopy(
                    move.id(),
                    new MovePlan.Transfer(t.source(), t.target(), ranges),
                    topology,
                    connector,
                    schema,
                    first));
        }
        return copies;
    }

    private boolean abortRequested(String id) throws MoveException {
        try {
            return client.checkExists().forPath(base + "/moves/" + id + ZooKeeperMoveWatcher.ABORT_SUFFIX) != null;
        } catch (Exception e) {
            throw new MoveException("reading the abort request of move " + id + ": " + e.getMessage(), e);
        }
    }

    /** A move as last read or written by this runner, with its ZooKeeper version. */
    private final class Tracked {
        MoveRecord move;
        int version;

        Tracked(MoveRecord move, int version) {
            this.move = move;
            this.version = version;
        }

        /**
         * A version-checked write of {@code next}.
         *
         * @throws Superseded when someone else wrote first, or this runner no longer leads
         */
        void write(MoveRecord next) throws MoveException {
            if (!stillLeader.getAsBoolean()) {
                throw new Superseded();
            }
            try {
                Stat stat = client.setData()
                        .withVersion(version)
                        .forPath(base + "/moves/" + next.id(), ZooKeeperMoveWatcher.toJson(next));
                if (next.state() != move.state()) {
                    LOG.info("move {}: {}", next.id(), next.state().name().toLowerCase(Locale.ROOT));
                }
                move = next;
                version = stat.getVersion();
            } catch (KeeperException.BadVersionException e) {
                throw new Superseded();
            } catch (Exception e) {
                throw new MoveException("writing move " + next.id() + ": " + e.getMessage(), e);
            }
        }
    }

    /** This runner's view of a move is out of date: read it again (and stop if a newer epoch owns it). */
    private static final class Superseded extends RuntimeException {
        Superseded() {
            super(null, null, false, false);
        }
    }

    /** The cutover did not switch, and lifting the fence is safe. */
    private static final class CutoverFailed extends MoveException {
        CutoverFailed(String message) {
            super(message);
        }

        CutoverFailed(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** Time left, from the rate of progress since the first call. */
    private static final class Eta {
        private long startNanos = -1;
        private long startDone;

        /**
         * @param left what is left to do
         * @param done a figure that grows with the work done
         * @return seconds left, or -1 when the rate is not known yet
         */
        long toGo(long left, long done) {
            long now = System.nanoTime();
            if (startNanos < 0) {
                startNanos = now;
                startDone = done;
                return -1;
            }
            double rate = (done - startDone) / ((now - startNanos) / 1e9);
            return rate <= 0 || left < 0 ? -1 : (long) Math.ceil(left / rate);
        }
    }

    private Tracked read(String id) throws MoveException {
        try {
            Stat stat = new Stat();
            byte[] data = client.getData().storingStatIn(stat).forPath(base + "/moves/" + id);
            return new Tracked(ZooKeeperMoveWatcher.fromJson(data, "moves/" + id), stat.getVersion());
        } catch (Exception e) {
            throw new MoveException("reading move " + id + ": " + e.getMessage(), e);
        }
    }

    private static TopologySnapshot snapshot(CuratorFramework client, String cluster) throws MoveException {
        String base = ZooKeeperTopologyStore.clusterPath(cluster);
        try {
            return new TopologySnapshot(
                    TopologyCodec.topologyFromJson(client.getData().forPath(base + "/topology"), base + "/topology"),
                    TopologyCodec.ringFromJson(client.getData().forPath(base + "/ring"), base + "/ring"));
        } catch (Exception e) {
            throw new MoveException("reading the topology of cluster " + cluster + ": " + e.getMessage(), e);
        }
    }

    /** Sleeps, then stops this runner (Superseded) if it no longer leads: every wait of a step passes here. */
    private void pause(long ms) throws MoveException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MoveException("interrupted", e);
        }
        checkLeading();
    }

    /** Stops this runner (Superseded) if it no longer leads, or parks outside a cutover. */
    private void checkLeading() {
        if (!stillLeader.getAsBoolean() || (parking && stepping != MoveState.FENCED)) {
            throw new Superseded();
        }
    }

    /**
     * Asks {@link #run} to return at the next safe point, leaving the move where a later leader resumes it:
     * before the next step, or at the next wait inside a step — except during the cutover, which runs to its
     * end (writes to the moving ranges are held meanwhile, and a new leader would only hold them longer).
     */
    public void park() {
        parking = true;
    }
}
