package io.shardline.rebalancer;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.Closeable;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.state.ConnectionStateListener;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * The rebalancer process: of several, one leader (Curator LeaderLatch on {@code rebalancer/leader}) runs the
 * moves in {@code moves/}; the others wait. On becoming leader it takes the next epoch
 * ({@code rebalancer/epoch}, a version-checked counter) and resumes any move that is not over; its writes carry
 * that epoch, so a former leader that wakes up later finds a newer epoch in the move and stops. It stops acting
 * when its ZooKeeper connection is suspended.
 */
public final class Rebalancer implements Closeable {
    private static final Logger LOG = LoggerFactory.getLogger(Rebalancer.class);

    private enum State {
        LATENT,
        STARTED,
        DRAINING,
        CLOSED
    }

    /**
     * What a health probe needs: ready when connected to ZooKeeper with a leader elected (this one or another)
     * and not stopping.
     *
     * @param move the move this rebalancer runs now, or null
     */
    public record Status(boolean ready, boolean connected, boolean leader, String move, String detail) {}

    /** Builds the runner of one epoch. */
    @FunctionalInterface
    public interface RunnerFactory {
        /** @param departures the routers leaving, as this rebalancer has seen them since it started */
        MoveRunner create(long epoch, BooleanSupplier stillLeader, RouterDepartures departures);
    }

    private final CuratorFramework client;
    private final String cluster;
    private final String base;
    private final RunnerFactory runners;
    private final AutoFailover autoFailover;
    private final LeaderLatch latch;
    private final AtomicReference<State> state = new AtomicReference<>(State.LATENT);
    private final ExecutorService loop = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "shardline-rebalancer");
        t.setDaemon(true);
        return t;
    });
    private volatile boolean connected = true;
    private volatile MoveRunner runner;
    /** Watched from {@link #start}, so a standby taking over knows who left meanwhile. */
    private volatile RouterDepartures departures;

    private volatile String running;
    private final ConnectionStateListener stateListener = (c, s) -> connected = s.isConnected();

    public Rebalancer(CuratorFramework client, String cluster, RunnerFactory runners) {
        this(client, cluster, runners, null);
    }

    /** @param autoFailover the primaries' watch this rebalancer runs while it leads and no move runs, or null */
    public Rebalancer(CuratorFramework client, String cluster, RunnerFactory runners, AutoFailover autoFailover) {
        this.autoFailover = autoFailover;
        this.client = client;
        this.cluster = cluster;
        this.base = ZooKeeperTopologyStore.clusterPath(cluster);
        this.runners = runners;
        this.latch = new LeaderLatch(client, base + "/rebalancer/leader");
    }

    /**
     * A rebalancer that connects to the nodes as the topology's user with {@code password} (or none), copies
     * schemas with {@code pg_dump}, and gives the password to the subscriptions it creates (PostgreSQL keeps it
     * in {@code pg_subscription}, readable by superusers only).
     */
    public static Rebalancer forCluster(CuratorFramework client, String cluster, String password) {
        return forCluster(client, cluster, password, MoveRunner.Settings.DEFAULT);
    }

    /** The same, with other bounds for the moves. */
    public static Rebalancer forCluster(
            CuratorFramework client, String cluster, String password, MoveRunner.Settings settings) {
        String base = ZooKeeperTopologyStore.clusterPath(cluster);
        AutoFailover watch = new AutoFailover(client, cluster, password);
        return new Rebalancer(
                client,
                cluster,
                (epoch, stillLeader, departures) -> {
                    ClusterTopology topology;
                    try {
                        topology = TopologyCodec.topologyFromJson(
                                client.getData().forPath(base + "/topology"), "topology");
                    } catch (Exception e) {
                        throw new IllegalStateException(
                                "reading the topology of " + cluster + ": " + e.getMessage(), e);
                    }
                    String user = topology.user() == null ? "postgres" : topology.user();
                    MoveEstimate.Connector connector = connector(topology, password, "shardline-rebalancer");
                    LogicalCopy.SchemaCopier schema;
                    try {
                        schema = new PgDumpSchema(PgDumpSchema.locatePgDump(), topology, password, connector);
                    } catch (MoveException e) {
                        throw new IllegalStateException(e.getMessage(), e);
                    }
                    MoveRunner.ConnInfo connInfo = source -> Conninfo.of(source, topology.database(), user, password);
                    return new MoveRunner(
                            client, cluster, epoch, connector, schema, connInfo, settings, stillLeader, departures);
                },
                watch);
    }

    /** Connects to a node's database as the topology's user, with {@code password} (or none). */
    public static MoveEstimate.Connector connector(ClusterTopology topology, String password, String applicationName) {
        String user = topology.user() == null ? "postgres" : topology.user();
        return MoveEstimate.Connector.to(topology.database(), user, password, applicationName);
    }

    public void start() throws Exception {
        if (!state.compareAndSet(State.LATENT, State.STARTED)) {
            throw new IllegalStateException("already started");
        }
        client.getConnectionStateListenable().addListener(stateListener);
        departures = RouterDepartures.start(client, cluster);
        latch.start();
        loop.submit(this::lead);
    }

    /** Whether this rebalancer leads (runs the moves). */
    public boolean isLeader() {
        return latch.hasLeadership() && connected;
    }

    private void lead() {
        MDC.put("cluster", cluster);
        while (state.get() == State.STARTED) {
            try {
                if (!latch.await(1, TimeUnit.SECONDS)) {
                    continue;
                }
                long epoch = nextEpoch();
                LOG.info("rebalancer leads with epoch {}", epoch);
                MoveRunner runner = runners.create(epoch, this::isLeader, departures);
                this.runner = runner;
                if (state.get() != State.STARTED) {
                    runner.park();
                }
                while (isLeader() && state.get() != State.CLOSED) {
                    String pending = pendingMove();
                    if (state.get() == State.DRAINING && !fenced(pending)) {
                        // draining: only a fenced move is run on (to its switch, or until its fence is lifted)
                        return;
                    }
                    if (pending != null) {
                        running = pending;
                        MDC.put("move", pending);
                        try {
                            runner.run(pending);
                        } catch (MoveException e) {
                            LOG.warn(
                                    "move {}: {} (retrying in 2 s; abort it with ./shardline move abort)",
                                    pending,
                                    e.getMessage());
                            Thread.sleep(state.get() == State.DRAINING ? 200 : 2000);
                        } finally {
                            running = null;
                            MDC.remove("move");
                        }
                    } else {
                        watch();
                        Thread.sleep(200);
                    }
                }
            } catch (InterruptedException e) {
                return;
            } catch (Exception e) {
                LOG.warn("rebalancer: {}", e.toString());
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    private long watchedAt = System.nanoTime();

    /** A round of {@link AutoFailover}, once a second at most. */
    private void watch() {
        if (autoFailover == null || System.nanoTime() - watchedAt < 1_000_000_000L) {
            return;
        }
        watchedAt = System.nanoTime();
        try {
            autoFailover.round(departures);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            LOG.warn("watching the primaries: {}", e.toString());
        }
    }

    /** Whether this rebalancer is ready (see {@link Status}). */
    public Status status() {
        boolean isConnected = client.getZookeeperClient().isConnected() && connected;
        boolean leader = isLeader();
        State s = state.get();
        if (s != State.STARTED) {
            return new Status(false, isConnected, leader, running, s == State.DRAINING ? "draining" : "stopped");
        }
        if (!isConnected) {
            return new Status(false, false, leader, running, "not connected to ZooKeeper");
        }
        if (leader) {
            return new Status(true, true, true, running, running == null ? "leads; no move pending" : "leads");
        }
        boolean leaderKnown;
        try {
            leaderKnown = latch.getLeader().isLeader();
        } catch (Exception e) {
            leaderKnown = false;
        }
        return leaderKnown
                ? new Status(true, true, false, null, "standby (another rebalancer leads)")
                : new Status(false, true, false, null, "no rebalancer leads yet");
    }

    /**
     * Stops gracefully: the running move parks at its next safe point (see {@link MoveRunner#park()}; a cutover
     * in progress finishes first), then leadership is released so a standby resumes the move at once. Waits at
     * most {@code timeout} for the move to park, then stops as {@link #close()} does.
     *
     * @return whether the move parked (or none ran) within {@code timeout}
     */
    public boolean drain(Duration timeout) throws InterruptedException {
        if (!state.compareAndSet(State.STARTED, State.DRAINING)) {
            close();
            return true;
        }
        String move = running;
        MoveRunner current = runner;
        if (current != null) {
            current.park();
        }
        loop.shutdown();
        boolean parked = loop.awaitTermination(timeout.toMillis(), TimeUnit.MILLISECONDS);
        try {
            if (parked && fenced(move)) {
                parked = false;
            }
        } catch (MoveException e) {
            LOG.warn("could not read move {} after draining: {}", move, e.getMessage());
        }
        if (parked) {
            LOG.info(move == null ? "rebalancer drained" : "rebalancer drained; move {} parked", move);
        } else {
            LOG.warn(
                    "move {} did not park within {} ms: stopping it where it is; if it is FENCED, writes to its"
                            + " ranges wait until another rebalancer leads and finishes its cutover",
                    move,
                    timeout.toMillis());
        }
        close();
        return parked;
    }

    /** Whether move {@code id} is FENCED now: writes to its ranges are held until its cutover ends. */
    private boolean fenced(String id) throws MoveException {
        return id != null
                && MoveRunner.moves(client, cluster).stream()
                        .anyMatch(m -> m.id().equals(id) && m.state() == MoveRecord.MoveState.FENCED);
    }

    private String pendingMove() throws MoveException {
        return MoveRunner.moves(client, cluster).stream()
                .filter(m -> !m.state().isTerminal())
                .map(MoveRecord::id)
                .findFirst()
                .orElse(null);
    }

    private long nextEpoch() throws Exception {
        String path = base + "/rebalancer/epoch";
        while (true) {
            try {
                Stat stat = new Stat();
                byte[] data = client.getData().storingStatIn(stat).forPath(path);
                long next = Long.parseLong(new String(data, StandardCharsets.UTF_8).trim()) + 1;
                client.setData()
                        .withVersion(stat.getVersion())
                        .forPath(path, Long.toString(next).getBytes(StandardCharsets.UTF_8));
                return next;
            } catch (KeeperException.NoNodeException e) {
                try {
                    client.create().creatingParentsIfNeeded().forPath(path, "1".getBytes(StandardCharsets.UTF_8));
                    return 1;
                } catch (KeeperException.NodeExistsException raced) {
                    // someone created it: read again
                }
            } catch (KeeperException.BadVersionException e) {
                // someone else took an epoch: read again
            }
        }
    }

    @Override
    public void close() {
        State was = state.getAndSet(State.CLOSED);
        if (was == State.LATENT || was == State.CLOSED) {
            return;
        }
        loop.shutdownNow();
        client.getConnectionStateListenable().removeListener(stateListener);
        if (departures != null) {
            departures.close();
        }
        try {
            latch.close();
        } catch (Exception e) {
            LOG.debug("closing the leader latch: {}", e.toString());
        }
    }
}
