package io.shardline.monitor;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.LagReport;
import io.shardline.topology.Lsn;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.PgTls;
import io.shardline.topology.ReplicaState;
import io.shardline.topology.Shard;
import io.shardline.topology.TopologyException;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;
import tools.jackson.databind.json.JsonMapper;

/**
 * Measures replication lag on every replica of a cluster and publishes it to ZooKeeper {@code lag/{node}}.
 *
 * <p>On each shard primary it upserts its own heartbeat row ({@code shardline.heartbeat}, one per shard and monitor)
 * every {@code heartbeatInterval}, holding when it sent it (its monotonic and wall clocks); on each replica it reads
 * its own heartbeat row visible there, its replay LSN and its WAL receiver. Lag in time is an upper bound on how old
 * the replica's data is when it is sampled: the time since this monitor sent the heartbeat the replica shows, by this
 * process's monotonic clock, or by its wall clock when that says more (everything committed before that heartbeat is
 * on the replica): a step back of the wall clock and a suspended host each deceive only one of them. No other clock
 * enters it: not the replica's, not the primary's (a primary replaced by a failover, or its clock stepped, changes
 * nothing), and no other monitor's heartbeats. An idle primary shows no more lag than one heartbeat interval (unlike
 * {@code now() - pg_last_xact_replay_timestamp()}); a replica that stops replaying shows its whole delay, never one
 * interval less; and a shard whose heartbeats stop succeeding (the monitor cut off from its primary, a lock on the
 * heartbeat table, a read-only primary) shows its replicas falling behind rather than caught up. A replica that shows
 * no heartbeat of this monitor (it started since, or the replica stopped replaying before) has an unknown lag (-1);
 * for its first 10 s a monitor does not publish such a report, so that a restart leaves the routers the previous
 * monitor's reports, which age. A heartbeat row no monitor wrote for an hour is deleted. Lag in bytes is the primary's
 * LSN at its last heartbeat minus the replica's replay LSN. The upstream reported is the one the replica really
 * streams from, which may differ from the configured cascade.
 *
 * <p>Every node is heartbeaten and sampled on its own, in parallel, each statement bounded by a 5 s socket timeout:
 * a hung node delays only its own report (which then ages past the routers' {@code lagFreshnessMs}), never the
 * others'. A node whose previous heartbeat or sample still runs is skipped for that tick.
 *
 * <p>Several monitors may run: a Curator {@link LeaderLatch} on {@code monitor/leader} lets one publish.
 * Each keeps an in-memory history (one point per second per replica, 1 hour) and Micrometer gauges
 * {@code shardline_replica_lag_seconds}, {@code shardline_replica_lag_bytes}, {@code shardline_replica_up}
 * tagged by node, shard and role.
 */
public final class ReplicationMonitor implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ReplicationMonitor.class);
    private static final int HISTORY_POINTS = 3600;
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private enum State {
        LATENT,
        STARTED,
        CLOSED
    }

    /** One point of a replica's lag history. */
    public record LagPoint(long atMillis, long lagMs, long lagBytes) {}

    /**
     * What a health probe needs: whether this monitor is ready (connected to ZooKeeper, a leader elected, and,
     * when it leads, publishing fresh reports) and why not.
     *
     * @param lastPublishAgeMs how long ago this monitor last published a report; -1 when it never did
     */
    public record Status(boolean ready, boolean connected, boolean leader, long lastPublishAgeMs, String detail) {}

    /** The prepared (two-phase) transactions of a shard's primary, read every few seconds. */
    private record Prepared(long count, double oldestSeconds) {}

    private static final long PREPARED_CHECK_MS = 5_000;
    /** How long after its start a monitor publishes no report of a replica not showing its heartbeat yet. */
    private static final long STARTING_MS = 10_000;

    private final ZooKeeperTopologyStore store;
    private final CuratorFramework client;
    private final String cluster;
    private final Duration heartbeatInterval;
    private final Duration sampleInterval;
    private final String password;
    private final MeterRegistry registry;
    private final LeaderLatch latch;
    private final AtomicReference<State> state = new AtomicReference<>(State.LATENT);
    private final Map<String, Connection> connections = new ConcurrentHashMap<>();
    private final Connector connector;
    /** This monitor's name in its heartbeat rows: new at each start. */
    private final String monitorId = UUID.randomUUID().toString();
    /** Each shard primary's WAL position at its newest heartbeat; absent until one succeeds. */
    private final Map<Integer, Long> heartbeatLsn = new ConcurrentHashMap<>();
    /** The primaries whose heartbeat table could not be brought to this version's shape yet (warned once). */
    private final java.util.Set<String> notUpgraded = ConcurrentHashMap.newKeySet();
    /** Per node and task ("beat:" or "sample:" + node): whether one is running. */
    private final Map<String, AtomicBoolean> running = new ConcurrentHashMap<>();

    /** When each shard's primary last accepted a heartbeat, by this process's clock (epoch ms). */
    private final Map<Integer, Long> beatOkAt = new ConcurrentHashMap<>();

    private final Map<Integer, Prepared> prepared = new ConcurrentHashMap<>();
    private final Map<Integer, Long> preparedCheckedAt = new ConcurrentHashMap<>();
    private final AtomicLong lastPublishAt = new AtomicLong();
    private final long startedAt = System.currentTimeMillis();
    private final java.util.Set<Integer> shardsWithGauges = ConcurrentHashMap.newKeySet();

    private final Map<String, LagReport> latest = new ConcurrentHashMap<>();
    /** The newest report of each replica this monitor published to ZooKeeper. */
    private final Map<String, LagReport> published = new ConcurrentHashMap<>();

    private final Map<String, ArrayDeque<LagPoint>> history = new ConcurrentHashMap<>();
    private final Map<String, Long> lastHistoryAt = new ConcurrentHashMap<>();
    private final List<Meter> meters = new java.util.concurrent.CopyOnWriteArrayList<>();
    private ScheduledExecutorService scheduler;
    private ExecutorService workers;

    /** Opens the monitor's connection to a node: pgjdbc's {@link DriverManager} unless a test reroutes it. */
    @FunctionalInterface
    public interface Connector {
        Connector DRIVER_MANAGER = (node, url, props) -> DriverManager.getConnection(url, props);

        Connection connect(Node node, String url, Properties props) throws SQLException;
    }

    /**
     * @param heartbeatInterval how often each primary's heartbeat is written: 100-250 ms is usual
     * @param sampleInterval how often each replica is measured
     * @param password for the cluster's database user, or null (never logged, never written to ZooKeeper)
     */
    public ReplicationMonitor(
            ZooKeeperTopologyStore store,
            Duration heartbeatInterval,
            Duration sampleInterval,
            String password,
            MeterRegistry registry) {
        this(store, heartbeatInterval, sampleInterval, password, registry, Connector.DRIVER_MANAGER);
    }

    /** As the other constructor, opening its connections to the nodes with {@code connector}. */
    public ReplicationMonitor(
            ZooKeeperTopologyStore store,
            Duration heartbeatInterval,
            Duration sampleInterval,
            String password,
            MeterRegistry registry,
            Connector connector) {
        this.connector = connector;
        if (heartbeatInterval.toMillis() < 10 || sampleInterval.toMillis() < 10) {
            throw new IllegalArgumentException("heartbeat and sample intervals must be at least 10 ms");
        }
        this.store = store;
        this.client = store.client();
        this.cluster = store.snapshot().topology().cluster();
        this.heartbeatInterval = heartbeatInterval;
        this.sampleInterval = sampleInterval;
        this.password = password;
        this.registry = registry;
        this.latch = new LeaderLatch(client, ZooKeeperTopologyStore.clusterPath(cluster) + "/monitor/leader");
    }

    /** Starts heartbeats, sampling and the leader election. */
    public void start() {
        if (!state.compareAndSet(State.LATENT, State.STARTED)) {
            throw new IllegalStateException("already started or closed");
        }
        try {
            latch.start();
        } catch (Exception e) {
            throw new TopologyException("could not join the monitor leader election: " + e, e);
        }
        scheduler = Executors.newScheduledThreadPool(2, r -> {
            Thread t = new Thread(r, "shardline-monitor");
            t.setDaemon(true);
            return t;
        });
        AtomicInteger n = new AtomicInteger();
        workers = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "shardline-monitor-node-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        scheduler.scheduleWithFixedDelay(this::beat, 0, heartbeatInterval.toMillis(), TimeUnit.MILLISECONDS);
        scheduler.scheduleWithFixedDelay(
                this::sample, sampleInterval.toMillis(), sampleInterval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Ready when connected to ZooKeeper, some monitor leads, and — when this one leads — it published a report
     * within the last {@code max(3 s, 10 sample intervals)} (or the cluster has no replica to report on).
     */
    public Status status() {
        boolean connected = client.getZookeeperClient().isConnected();
        boolean leader = latch.hasLeadership();
        long last = lastPublishAt.get();
        long age = last == 0 ? -1 : System.currentTimeMillis() - last;
        if (state.get() != State.STARTED) {
            return new Status(false, connected, false, age, "stopped");
        }
        if (!connected) {
            return new Status(false, false, leader, age, "not connected to ZooKeeper");
        }
        if (!leader) {
            String leaderId;
            try {
                leaderId = latch.getLeader().isLeader() ? latch.getLeader().getId() : null;
            } catch (Exception e) {
                leaderId = null;
            }
            return leaderId == null
                    ? new Status(false, true, false, age, "no monitor leads yet")
                    : new Status(true, true, false, age, "standby (another monitor publishes)");
        }
        long freshMs = Math.max(3_000, 10 * sampleInterval.toMillis());
        boolean anyReplica = store.snapshot().topology().shards().stream()
                .anyMatch(s -> !s.replicas().isEmpty());
        if (anyReplica && (age < 0 || age > freshMs)) {
            return new Status(
                    false,
                    true,
                    true,
                    age,
                    age < 0
                            ? "leads but has not published a report yet"
                            : "leads but published no report for " + age + " ms");
        }
        return new Status(true, true, true, age, "publishing");
    }

    /** Whether this monitor currently publishes (holds the leader latch). */
    public boolean isLeader() {
        return latch.hasLeadership();
    }

    /** The newest measurement of every replica. */
    public List<LagReport> reports() {
        return new ArrayList<>(latest.values());
    }

    /** The newest measurement of one replica. */
    public Optional<LagReport> report(String node) {
        return Optional.ofNullable(latest.get(node));
    }

    /** One point per second for the last hour, oldest first. */
    public List<LagPoint> history(String node) {
        ArrayDeque<LagPoint> points = history.get(node);
        if (points == null) {
            return List.of();
        }
        synchronized (points) {
            return new ArrayList<>(points);
        }
    }

    @Override
    public void close() {
        if (state.getAndSet(State.CLOSED) != State.STARTED) {
            return;
        }
        // leadership first: a standby monitor takes over publishing while this one stops
        try {
            latch.close();
        } catch (Exception e) {
            LOG.debug("closing the leader latch: {}", e.toString());
        }
        scheduler.shutdownNow();
        workers.shutdownNow();
        try {
            scheduler.awaitTermination(5, TimeUnit.SECONDS);
            workers.awaitTermination(6, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        connections.values().forEach(ReplicationMonitor::closeQuietly);
        connections.clear();
        if (registry != null) {
            meters.forEach(registry::remove);
        }
    }

    // ---- heartbeats ------------------------------------------------------------------------------------

    private void beat() {
        ClusterTopology topology = store.snapshot().topology();
        for (Shard shard : topology.shards()) {
            // before the first heartbeat succeeds: a primary down from the start shows as not writable too
            registerShardGauges(shard.id());
            Node primary = shard.primary();
            onItsOwn("beat:", primary, () -> beat(shard, primary, topology));
        }
    }

    /** Runs {@code task} for {@code node} on a worker, unless its previous one still runs (the node is slow). */
    private void onItsOwn(String what, Node node, Runnable task) {
        AtomicBoolean busy = running.computeIfAbsent(what + node.name(), k -> new AtomicBoolean());
        if (!busy.compareAndSet(false, true)) {
            return;
        }
        try {
            workers.execute(() -> {
                MDC.put("cluster", cluster);
                MDC.put("node", node.name());
                try {
                    task.run();
                } finally {
                    MDC.clear();
                    busy.set(false);
                }
            });
        } catch (RejectedExecutionException e) {
            busy.set(false); // closing
        }
    }

    private void beat(Shard shard, Node primary, ClusterTopology topology) {
        try {
            Connection c = connection(primary, topology);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO shardline.heartbeat (shard, monitor,"
                    + " sent_nanos, sent_millis, ts) VALUES (?, ?, ?, ?, clock_timestamp()) ON CONFLICT (shard,"
                    + " monitor) DO UPDATE SET sent_nanos = EXCLUDED.sent_nanos, sent_millis = EXCLUDED.sent_millis,"
                    + " ts = EXCLUDED.ts RETURNING pg_current_wal_lsn()::text")) {
                ps.setInt(1, shard.id());
                ps.setString(2, monitorId);
                // both taken before it is sent: before it commits
                ps.setLong(3, System.nanoTime());
                ps.setLong(4, System.currentTimeMillis());
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    heartbeatLsn.put(shard.id(), Lsn.parse(rs.getString(1)));
                }
            }
            long now = System.currentTimeMillis();
            beatOkAt.put(shard.id(), now);
            if (now - preparedCheckedAt.getOrDefault(shard.id(), 0L) >= PREPARED_CHECK_MS) {
                preparedCheckedAt.put(shard.id(), now);
                try (Statement s = c.createStatement();
                        ResultSet rs = s.executeQuery("SELECT count(*), coalesce(extract(epoch FROM"
                                + " clock_timestamp() - min(prepared)), 0)::float8 FROM pg_prepared_xacts"
                                + " WHERE database = current_database()")) {
                    rs.next();
                    prepared.put(shard.id(), new Prepared(rs.getLong(1), rs.getDouble(2)));
                }
                // the rows of monitors gone for an hour (each run writes its own)
                try (PreparedStatement ps = c.prepareStatement("DELETE FROM shardline.heartbeat WHERE shard = ? AND"
                        + " monitor <> ? AND ts < clock_timestamp() - interval '1 hour'")) {
                    ps.setInt(1, shard.id());
                    ps.setString(2, monitorId);
                    ps.executeUpdate();
                }
            }
        } catch (SQLException e) {
            dropConnection(primary, e);
        } catch (RuntimeException e) {
            LOG.warn("heartbeat on {} failed: {}", primary.name(), e.toString());
        }
    }

    // ---- sampling --------------------------------------------------------------------------------------

    private void sample() {
        ClusterTopology topology = store.snapshot().topology();
        for (Shard shard : topology.shards()) {
            for (Node replica : shard.replicas()) {
                onItsOwn("sample:", replica, () -> sample(shard, replica, topology));
            }
        }
    }

    private void sample(Shard shard, Node replica, ClusterTopology topology) {
        try {
            LagReport report = measure(shard, replica, topology);
            latest.put(replica.name(), report);
            record(report);
            boolean starting = System.currentTimeMillis() - startedAt < STARTING_MS;
            if (latch.hasLeadership() && !(starting && report.lagMs() < 0 && report.state() != ReplicaState.DOWN)) {
                publish(report);
            } else {
                // what another monitor publishes is not this one's to vouch for (its age gauge shows none)
                published.remove(report.node());
            }
        } catch (RuntimeException e) {
            LOG.warn("lag sampling of {} failed: {}", replica.name(), e.toString());
        }
    }

    private LagReport measure(Shard shard, Node replica, ClusterTopology topology) {
        long now = System.currentTimeMillis();
        // this monitor's row through to_jsonb: a replica that has not replayed the table's change to this version's
        // shape yet answers with none rather than an error
        try (PreparedStatement ps = connection(replica, topology)
                .prepareStatement("SELECT (to_jsonb(hb) ->> 'sent_nanos')::bigint,"
                        + " (to_jsonb(hb) ->> 'sent_millis')::bigint,"
                        + " pg_last_wal_replay_lsn()::text,"
                        + " (SELECT status FROM pg_stat_wal_receiver),"
                        + " (SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver),"
                        + " pg_is_wal_replay_paused()"
                        + " FROM (SELECT 1) one LEFT JOIN shardline.heartbeat hb ON hb.shard = ?"
                        + " AND to_jsonb(hb) ->> 'monitor' = ?")) {
            ps.setInt(1, shard.id());
            ps.setString(2, monitorId);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                long sentNanos = rs.getLong(1);
                boolean visible = !rs.wasNull();
                long sentMillis = rs.getLong(2);
                String replayLsn = rs.getString(3);
                String receiver = rs.getString(4);
                String sender = rs.getString(5);
                boolean paused = rs.getBoolean(6);
                long sampledNanos = System.nanoTime();
                long sampledMillis = System.currentTimeMillis();
                Long primaryLsn = heartbeatLsn.get(shard.id());
                long lagBytes =
                        primaryLsn == null || replayLsn == null ? -1 : Math.max(0, primaryLsn - Lsn.parse(replayLsn));
                ReplicaState state = paused
                        ? ReplicaState.PAUSED
                        : "streaming".equals(receiver) ? ReplicaState.STREAMING : ReplicaState.DISCONNECTED;
                return new LagReport(
                        replica.name(),
                        shard.id(),
                        replica.role(),
                        visible ? lagMs(sentNanos, sampledNanos, sentMillis, sampledMillis) : -1,
                        lagBytes,
                        replayLsn,
                        upstreamName(sender, topology),
                        state,
                        now);
            }
        } catch (SQLException e) {
            dropConnection(replica, e);
            return new LagReport(
                    replica.name(), shard.id(), replica.role(), -1, -1, null, null, ReplicaState.DOWN, now);
        }
    }

    /**
     * A replica's lag in time, an upper bound on how old its data is when it answered (see the class comment): it
     * shows this monitor's heartbeat sent at {@code sentNanos} (and {@code sentMillis}), written after that, and holds
     * everything committed before it. The larger of the two clocks' measures: the monotonic clock is blind to a
     * wall-clock step back, the wall clock is not stopped while the host or its virtual machine is suspended (the
     * monotonic clock is); only both at once understate it, and a step forward overstates it for one heartbeat.
     *
     * @param sentNanos when the heartbeat the replica shows was sent, by {@link System#nanoTime()}
     * @param sampledNanos when the replica answered, by {@link System#nanoTime()}
     * @param sentMillis when that heartbeat was sent, by {@link System#currentTimeMillis()}
     * @param sampledMillis when the replica answered, by {@link System#currentTimeMillis()}
     */
    static long lagMs(long sentNanos, long sampledNanos, long sentMillis, long sampledMillis) {
        return Math.max(0, Math.max((sampledNanos - sentNanos + 999_999) / 1_000_000, sampledMillis - sentMillis));
    }

    /** The node listening at {@code host:port} as the WAL receiver reports its sender. */
    private static String upstreamName(String sender, ClusterTopology topology) {
        if (sender == null) {
            return null;
        }
        for (Shard s : topology.shards()) {
            for (Node n : s.nodes()) {
                if (n.address().equals(sender)) {
                    return n.name();
                }
            }
        }
        return sender;
    }

    private void record(LagReport report) {
        registerGauges(report);
        long last = lastHistoryAt.getOrDefault(report.node(), 0L);
        if (report.observedAtMillis() - last < 1000) {
            return;
        }
        lastHistoryAt.put(report.node(), report.observedAtMillis());
        ArrayDeque<LagPoint> points = history.computeIfAbsent(report.node(), k -> new ArrayDeque<>());
        synchronized (points) {
            points.addLast(new LagPoint(report.observedAtMillis(), report.lagMs(), report.lagBytes()));
            while (points.size() > HISTORY_POINTS) {
                points.removeFirst();
            }
        }
    }

    /**
     * Per shard: {@code shardline.primary.heartbeat.age} (seconds since its primary last accepted a heartbeat),
     * {@code shardline.prepared.transactions} and {@code shardline.prepared.transactions.oldest} (seconds) of its
     * primary's {@code pg_prepared_xacts}, read every 5 s.
     */
    private void registerShardGauges(int shard) {
        if (registry == null || !shardsWithGauges.add(shard)) {
            return;
        }
        String tag = String.valueOf(shard);
        meters.add(Gauge.builder("shardline.primary.heartbeat.age", () -> {
                    // until a heartbeat succeeds: the time since this monitor started
                    long at = beatOkAt.getOrDefault(shard, startedAt);
                    return (System.currentTimeMillis() - at) / 1000.0;
                })
                .baseUnit("seconds")
                .description("Time since the shard's primary last accepted the monitor's heartbeat")
                .tag("shard", tag)
                .register(registry));
        meters.add(Gauge.builder("shardline.prepared.transactions", () -> {
                    Prepared p = prepared.get(shard);
                    return p == null ? Double.NaN : p.count();
                })
                .description("Prepared (two-phase) transactions waiting on the shard's primary")
                .tag("shard", tag)
                .register(registry));
        meters.add(Gauge.builder("shardline.prepared.transactions.oldest", () -> {
                    Prepared p = prepared.get(shard);
                    return p == null ? Double.NaN : p.oldestSeconds();
                })
                .baseUnit("seconds")
                .description("Age of the oldest prepared transaction on the shard's primary; 0 when none")
                .tag("shard", tag)
                .register(registry));
    }

    private void registerGauges(LagReport report) {
        if (registry == null || history.containsKey(report.node())) {
            return;
        }
        String node = report.node();
        meters.addAll(LagGauges.register(registry, report, () -> latest.get(node), () -> published.get(node)));
    }

    private void publish(LagReport report) {
        String path = ZooKeeperTopologyStore.clusterPath(cluster) + "/lag/" + report.node();
        byte[] data = JSON.writeValueAsBytes(report);
        try {
            try {
                client.setData().forPath(path, data);
            } catch (KeeperException.NoNodeException e) {
                client.create()
                        .creatingParentsIfNeeded()
                        .withMode(CreateMode.PERSISTENT)
                        .forPath(path, data);
            }
            lastPublishAt.set(System.currentTimeMillis());
            this.published.put(report.node(), report);
        } catch (InterruptedException e) {
            // close() stops the sampling thread; nothing is lost by not publishing this sample
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            LOG.warn("could not publish the lag of {}: {}", report.node(), e.toString());
        }
    }

    // ---- connections -----------------------------------------------------------------------------------

    /** Connections are kept by node name and address: a node registered again at another address gets a new one. */
    private static String connectionKey(Node node) {
        return node.name() + "@" + node.address();
    }

    private Connection connection(Node node, ClusterTopology topology) throws SQLException {
        Connection c = connections.get(connectionKey(node));
        if (c != null && !c.isClosed()) {
            return c;
        }
        Properties props = new Properties();
        props.setProperty("user", topology.user() == null ? "postgres" : topology.user());
        if (password != null) {
            props.setProperty("password", password);
        }
        props.setProperty("connectTimeout", "2");
        props.setProperty("socketTimeout", "5");
        props.setProperty("ApplicationName", "shardline-monitor");
        PgTls.processDefault().addTo(props);
        c = connector.connect(node, "jdbc:postgresql://" + node.address() + "/" + topology.database(), props);
        if (node.role() == NodeRole.PRIMARY) {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE SCHEMA IF NOT EXISTS shardline");
                s.execute("CREATE TABLE IF NOT EXISTS shardline.heartbeat (" + HEARTBEAT_COLUMNS + ")");
                upgradeHeartbeatTable(node, c, s);
            } catch (SQLException e) {
                closeQuietly(c);
                throw e;
            }
        }
        Connection replaced = connections.put(connectionKey(node), c);
        closeQuietly(replaced);
        connections.entrySet().removeIf(e -> {
            boolean moved =
                    e.getKey().startsWith(node.name() + "@") && !e.getKey().equals(connectionKey(node));
            if (moved) {
                closeQuietly(e.getValue());
            }
            return moved;
        });
        return c;
    }

    private static final String HEARTBEAT_COLUMNS = "shard int NOT NULL, monitor text NOT NULL, sent_nanos bigint NOT"
            + " NULL, sent_millis bigint NOT NULL, ts timestamptz NOT NULL, PRIMARY KEY (shard, monitor)";

    /**
     * Replaces a heartbeat table of an earlier version (one row per shard: what the rows hold is of no use to this
     * version) by this version's, waiting at most 1 s for the table's lock (a long transaction reading it, a dump):
     * a DROP waiting longer would queue every heartbeat behind it, and one waiting at each reconnection would pile
     * up. Throws on such a timeout: the heartbeat fails and the next one tries again. A monitor of the earlier version
     * still running then fails its heartbeats: monitors are upgraded together.
     */
    private void upgradeHeartbeatTable(Node node, Connection c, Statement s) throws SQLException {
        if (currentShape(s)) {
            return;
        }
        c.setAutoCommit(false);
        try {
            s.execute("SET LOCAL lock_timeout = '1s'");
            s.execute("LOCK TABLE shardline.heartbeat IN ACCESS EXCLUSIVE MODE");
            // another monitor may have replaced it while this one waited for the lock
            if (!currentShape(s)) {
                s.execute("DROP TABLE shardline.heartbeat");
                s.execute("CREATE TABLE shardline.heartbeat (" + HEARTBEAT_COLUMNS + ")");
                LOG.info("the heartbeat table on {} was of an earlier version: replaced", node.name());
            }
            c.commit();
        } catch (SQLException e) {
            c.rollback();
            if (notUpgraded.add(node.name())) {
                LOG.warn(
                        "the heartbeat table on {} is of an earlier version and could not be replaced ({}): its"
                                + " shard's replicas show no lag until it is (tried at each heartbeat)",
                        node.name(),
                        e.getMessage());
            }
            throw e;
        } finally {
            c.setAutoCommit(true);
        }
        notUpgraded.remove(node.name());
    }

    /** Whether the heartbeat table has this version's shape. */
    private static boolean currentShape(Statement s) throws SQLException {
        try (ResultSet rs = s.executeQuery("SELECT (SELECT count(*) FROM pg_attribute WHERE attrelid ="
                + " 'shardline.heartbeat'::regclass AND attname IN ('sent_nanos', 'sent_millis') AND NOT"
                + " attisdropped) + (SELECT coalesce(max(cardinality(conkey)), 0) FROM pg_constraint WHERE conrelid"
                + " = 'shardline.heartbeat'::regclass AND contype = 'p')")) {
            rs.next();
            return rs.getInt(1) == 4;
        }
    }

    private void dropConnection(Node node, SQLException e) {
        LOG.debug("{} unreachable: {}", node.name(), e.getMessage());
        Connection c = connections.remove(connectionKey(node));
        closeQuietly(c);
    }

    private static void closeQuietly(Connection c) {
        if (c != null) {
            try {
                c.close();
            } catch (SQLException ignored) {
                // already broken
            }
        }
    }
}
