package io.shardline.console;

import io.shardline.rebalancer.Rebalancer;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.LagReport;
import io.shardline.topology.LagSnapshot;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.ReplicaState;
import io.shardline.topology.RouterRegistration;
import io.shardline.topology.Shard;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.TopologySnapshot;
import io.shardline.topology.ZooKeeperMoveWatcher;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.curator.framework.CuratorFramework;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Service;

/**
 * The cluster as the console shows it: topology and ring (ZooKeeper watches), each replica's lag (the monitor's
 * reports), routers, services, and what the shard primaries hold (asked of PostgreSQL, cached a few seconds).
 */
@Service
final class ClusterView implements DisposableBean {
    private static final long PROBE_CACHE_MS = 3_000;
    private static final long STATS_CACHE_MS = 5_000;
    private static final long PROBE_TIMEOUT_MS = 3_000;
    private static final long STATS_TIMEOUT_MS = 10_000;
    static final String UNREACHABLE = "ZooKeeper does not answer the console (its session is lost or timed out): ";

    private final ZooKeeperTopologyStore store;
    private final CuratorFramework curator;
    private final LagTracker lag;
    private final ZooKeeperMoveWatcher moves;
    private final ConsoleSettings settings;
    private final String base;
    private final ExecutorService probes = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "shardline-console-probe");
        t.setDaemon(true);
        return t;
    });
    private volatile Cached<Map<Integer, String>> primaries;
    private volatile Cached<Views.Shards> stats;
    /** Held while the primaries are asked: callers that find no fresh answer wait for one asking, not ask again. */
    private final Object askingPrimaries = new Object();
    /** The same for the table statistics. */
    private final Object askingStats = new Object();

    private record Cached<T>(long atMillis, T value) {}

    ClusterView(
            ZooKeeperTopologyStore store,
            CuratorFramework curator,
            LagTracker lag,
            ZooKeeperMoveWatcher moves,
            ConsoleSettings settings) {
        this.store = store;
        this.curator = curator;
        this.lag = lag;
        this.moves = moves;
        this.settings = settings;
        this.base = ZooKeeperTopologyStore.clusterPath(settings.cluster());
    }

    TopologySnapshot snapshot() {
        return store.snapshot();
    }

    Views.Thresholds thresholds() {
        return new Views.Thresholds(
                settings.lagWarn().toMillis(), settings.lagCritical().toMillis());
    }

    /** The reference tables (every shard holds all of their rows), qualified. */
    List<String> referenceTables() {
        return store.snapshot().topology().referenceTables().stream()
                .map(ReferenceTable::qualifiedName)
                .toList();
    }

    Views.Topology topology() {
        TopologySnapshot snapshot = store.snapshot();
        ClusterTopology topology = snapshot.topology();
        HashRing ring = snapshot.ring();
        LagSnapshot reports = lag.snapshot();
        Map<Integer, String> primaryStatus = primaryStatus();
        Map<Integer, Double> shares = ring.shareByShard();
        long now = System.currentTimeMillis();
        List<Views.ShardView> shards = new ArrayList<>();
        for (Shard shard : topology.shards()) {
            List<Views.NodeView> nodes = new ArrayList<>();
            for (Node n : shard.nodes()) {
                Views.Lag l = n.role() == NodeRole.PRIMARY ? null : lagOf(reports.get(n.name()), now);
                String status = n.role() == NodeRole.PRIMARY
                        ? primaryStatus.getOrDefault(shard.id(), "unknown")
                        : l == null ? "unknown" : l.status();
                nodes.add(new Views.NodeView(n.name(), role(n.role()), n.host(), n.port(), n.upstream(), l, status));
            }
            long ranges =
                    ring.ranges().stream().filter(r -> r.shard() == shard.id()).count();
            shards.add(new Views.ShardView(shard.id(), shares.getOrDefault(shard.id(), 0.0), (int) ranges, nodes));
        }
        return new Views.Topology(
                topology.cluster(),
                topology.database(),
                topology.version(),
                ring.version(),
                shards,
                routers(),
                monitor(reports, now),
                rebalancer(),
                thresholds(),
                activeMove());
    }

    /** The replicas' lag as {@code topology} has it. */
    static List<Views.ReplicaLag> replicaLag(Views.Topology topology) {
        List<Views.ReplicaLag> replicas = new ArrayList<>();
        for (Views.ShardView shard : topology.shards()) {
            for (Views.NodeView n : shard.nodes()) {
                if (!n.role().equals("primary")) {
                    replicas.add(new Views.ReplicaLag(n.name(), shard.id(), n.role(), n.lag()));
                }
            }
        }
        return replicas;
    }

    Views.LagList lag() {
        TopologySnapshot snapshot = store.snapshot();
        LagSnapshot reports = lag.snapshot();
        long now = System.currentTimeMillis();
        List<Views.ReplicaLag> replicas = new ArrayList<>();
        for (Shard shard : snapshot.topology().shards()) {
            for (Node n : shard.replicas()) {
                replicas.add(
                        new Views.ReplicaLag(n.name(), shard.id(), role(n.role()), lagOf(reports.get(n.name()), now)));
            }
        }
        return new Views.LagList(thresholds(), replicas);
    }

    /** The last {@code minutes} of one replica's lag, a point a second. */
    Views.LagHistory history(String node, int minutes) {
        boolean known = store.snapshot().topology().shards().stream()
                .flatMap(s -> s.replicas().stream())
                .anyMatch(n -> n.name().equals(node));
        if (!known) {
            throw new ConsoleException(
                    HttpStatus.NOT_FOUND, "no replica named '" + node + "' in cluster " + settings.cluster());
        }
        List<LagTracker.Point> points = lag.history(node, minutes * 60);
        return new Views.LagHistory(
                node,
                points.stream().map(p -> p.atMillis() / 1000).toList(),
                points.stream().map(LagTracker.Point::lagMs).toList(),
                points.stream().map(LagTracker.Point::lagBytes).toList());
    }

    private Views.Lag lagOf(LagReport r, long now) {
        if (r == null) {
            return null;
        }
        boolean stale = LagTracker.stale(r, now);
        String status;
        if (stale) {
            status = "unknown";
        } else if (r.state() == ReplicaState.DOWN || r.lagMs() < 0) {
            status = "down";
        } else if (r.lagMs() > settings.lagCritical().toMillis() || r.state() == ReplicaState.DISCONNECTED) {
            status = "critical";
        } else if (r.lagMs() > settings.lagWarn().toMillis()) {
            status = "warn";
        } else {
            status = "ok";
        }
        return new Views.Lag(
                stale || r.lagMs() < 0 ? null : r.lagMs(),
                stale || r.lagBytes() < 0 ? null : r.lagBytes(),
                r.replayLsn(),
                r.upstream(),
                r.state().name().toLowerCase(Locale.ROOT),
                r.observedAtMillis(),
                status);
    }

    static String role(NodeRole role) {
        return role.name().toLowerCase(Locale.ROOT);
    }

    List<Views.RouterView> routers() {
        List<Views.RouterView> routers = new ArrayList<>();
        List<String> ids = children("routers");
        for (String id : ids == null ? List.<String>of() : ids) {
            try {
                byte[] data = curator.getData().forPath(base + "/routers/" + id);
                RouterRegistration.RouterState s = RouterRegistration.read(data, "routers/" + id);
                routers.add(new Views.RouterView(id, s.host(), s.pid(), s.ringVersion(), s.fencesHeld()));
            } catch (Exception e) {
                // gone between the listing and the read, or not a router's state: not a live router
            }
        }
        routers.sort(Comparator.comparing(Views.RouterView::host).thenComparing(Views.RouterView::pid));
        return routers;
    }

    private Views.ServiceView monitor(LagSnapshot reports, long now) {
        List<String> leaders = children("monitor/leader");
        if (leaders == null) {
            return new Views.ServiceView(false, UNREACHABLE + "whether a replication monitor runs is not known");
        }
        boolean leader = !leaders.isEmpty();
        long newest = reports.reports().values().stream()
                .mapToLong(LagReport::observedAtMillis)
                .max()
                .orElse(0);
        if (!leader) {
            return new Views.ServiceView(
                    false, "no replication monitor is running: start one with ./shardline monitor");
        }
        if (newest == 0) {
            return new Views.ServiceView(true, "running; no lag published yet");
        }
        long age = now - newest;
        return age > LagTracker.STALE_MS
                ? new Views.ServiceView(false, "its last lag report is " + age / 1000 + " s old")
                : new Views.ServiceView(true, "publishing (last report " + age + " ms ago)");
    }

    Views.ServiceView monitor() {
        return monitor(lag.snapshot(), System.currentTimeMillis());
    }

    Views.ServiceView rebalancer() {
        List<String> leaders = children("rebalancer/leader");
        if (leaders == null) {
            return new Views.ServiceView(false, UNREACHABLE + "whether a rebalancer runs is not known");
        }
        return leaders.isEmpty()
                ? new Views.ServiceView(false, "no rebalancer is running: start one with ./shardline rebalancer")
                : new Views.ServiceView(true, "a rebalancer leads");
    }

    /** The move running now (from the watched {@code moves/}, no ZooKeeper read), or null. */
    private Views.MoveView activeMove() {
        MoveRecord latest = moves.latest();
        return latest == null || latest.state().isTerminal() ? null : MoveService.view(latest);
    }

    /** The children of {@code path} under the cluster: none when it does not exist, null when ZooKeeper did not answer. */
    private List<String> children(String path) {
        if (!curator.getZookeeperClient().isConnected()) {
            return null; // asked now, Curator would wait for its connection (retried: up to a minute) per read
        }
        try {
            String full = base + "/" + path;
            return curator.checkExists().forPath(full) == null
                    ? List.of()
                    : curator.getChildren().forPath(full);
        } catch (Exception e) {
            return null;
        }
    }

    /** Per shard: ok (the primary answers and is writable) or down. Cached 3 s, as {@link #primaryDetails}. */
    Map<Integer, String> primaryStatus() {
        Map<Integer, String> status = new LinkedHashMap<>();
        primaryDetails().forEach((shard, detail) -> status.put(shard, detail.startsWith("ok") ? "ok" : "down"));
        return status;
    }

    /**
     * Per shard, {@code ok} or why its primary is not usable. Cached 3 s, and asked by one caller at a time (the others
     * wait for its answer): the open health endpoint and every page ask this, and must not turn a flood of requests
     * into logins on every primary. Each probe gives up after 3 s (connect, login and query).
     */
    Map<Integer, String> primaryDetails() {
        Cached<Map<Integer, String>> cached = primaries;
        if (fresh(cached, PROBE_CACHE_MS)) {
            return cached.value();
        }
        synchronized (askingPrimaries) {
            cached = primaries;
            if (fresh(cached, PROBE_CACHE_MS)) {
                return cached.value();
            }
            Map<Integer, String> details = askPrimaries();
            primaries = new Cached<>(System.currentTimeMillis(), details);
            return details;
        }
    }

    private static boolean fresh(Cached<?> cached, long maxAgeMillis) {
        return cached != null && System.currentTimeMillis() - cached.atMillis() < maxAgeMillis;
    }

    /** Every primary asked at once. */
    private Map<Integer, String> askPrimaries() {
        ClusterTopology topology = store.snapshot().topology();
        Map<Integer, CompletableFuture<String>> asks = new LinkedHashMap<>();
        for (Shard shard : topology.shards()) {
            asks.put(shard.id(), CompletableFuture.supplyAsync(() -> probe(topology, shard.primary()), probes));
        }
        Map<Integer, String> details = new LinkedHashMap<>();
        asks.forEach((shard, ask) -> {
            String detail;
            try {
                detail = ask.get(PROBE_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                detail = "no answer within " + PROBE_TIMEOUT_MS + " ms";
            } catch (Exception e) {
                detail = e.toString();
            }
            details.put(shard, detail);
        });
        return details;
    }

    private String probe(ClusterTopology topology, Node primary) {
        try (Connection c = connect(topology, primary, PROBE_TIMEOUT_MS);
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery()")) {
            rs.next();
            return rs.getBoolean(1)
                    ? primary.name() + " (" + primary.address() + ") is in recovery: not a primary"
                    : "ok: " + primary.name() + " (" + primary.address() + ")";
        } catch (SQLException e) {
            return primary.name() + " (" + primary.address() + "): " + e.getMessage();
        }
    }

    /** A connection whose connect, login and every read give up after {@code timeoutMillis}. */
    private Connection connect(ClusterTopology topology, Node node, long timeoutMillis) throws SQLException {
        return Rebalancer.connector(topology, settings.dbPassword(), "shardline-console")
                .connect(node, Duration.ofMillis(timeoutMillis));
    }

    /** Ranges, rows and bytes per shard, and the skew. Cached 5 s, asked by one caller at a time. */
    Views.Shards shards() {
        Cached<Views.Shards> cached = stats;
        if (fresh(cached, STATS_CACHE_MS)) {
            return cached.value();
        }
        synchronized (askingStats) {
            cached = stats;
            return fresh(cached, STATS_CACHE_MS) ? cached.value() : askShards();
        }
    }

    private Views.Shards askShards() {
        TopologySnapshot snapshot = store.snapshot();
        ClusterTopology topology = snapshot.topology();
        HashRing ring = snapshot.ring();
        Map<Integer, Double> shares = ring.shareByShard();
        Map<Integer, CompletableFuture<List<Views.TableStats>>> asks = new LinkedHashMap<>();
        for (Shard shard : topology.shards()) {
            asks.put(shard.id(), CompletableFuture.supplyAsync(() -> tableStats(topology, shard.primary()), probes));
        }
        List<Views.ShardStats> shards = new ArrayList<>();
        for (Shard shard : topology.shards()) {
            List<long[]> ranges = ring.ranges().stream()
                    .filter(r -> r.shard() == shard.id())
                    .map(r -> new long[] {r.start(), r.endInclusive()})
                    .toList();
            List<Views.TableStats> tables = List.of();
            String error = null;
            try {
                tables = asks.get(shard.id()).get(STATS_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            } catch (Exception e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                error = "shard " + shard.id() + "'s primary could not be asked: " + cause.getMessage();
            }
            shards.add(new Views.ShardStats(
                    shard.id(),
                    ranges,
                    shares.getOrDefault(shard.id(), 0.0),
                    tables.stream().mapToLong(Views.TableStats::rows).sum(),
                    tables.stream().mapToLong(Views.TableStats::bytes).sum(),
                    tables,
                    error));
        }
        double mean = shards.stream()
                .filter(s -> s.share() > 0)
                .mapToLong(Views.ShardStats::rows)
                .average()
                .orElse(0);
        long max = shards.stream()
                .filter(s -> s.share() > 0)
                .mapToLong(Views.ShardStats::rows)
                .max()
                .orElse(0);
        Views.Shards result =
                new Views.Shards(ring.version(), shards, mean == 0 ? 1.0 : max / mean, System.currentTimeMillis());
        stats = new Cached<>(System.currentTimeMillis(), result);
        return result;
    }

    private List<Views.TableStats> tableStats(ClusterTopology topology, Node primary) {
        List<Views.TableStats> tables = new ArrayList<>();
        try (Connection c = connect(topology, primary, STATS_TIMEOUT_MS)) {
            for (ShardedTable table : topology.tables()) {
                tables.add(tableStats(c, table));
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e.getMessage(), e);
        }
        return tables;
    }

    private static Views.TableStats tableStats(Connection c, ShardedTable table) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT c.reltuples::bigint, pg_total_relation_size(c.oid)"
                + " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                + " WHERE n.nspname = ? AND c.relname = ? AND c.relkind IN ('r', 'p')")) {
            ps.setString(1, table.schema());
            ps.setString(2, table.table());
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return new Views.TableStats(table.qualifiedName(), 0, 0);
                }
                long rows = rs.getLong(1);
                long bytes = rs.getLong(2);
                if (rows < 0) {
                    // never analysed (a new table): count it
                    try (Statement s = c.createStatement();
                            ResultSet count = s.executeQuery(
                                    "SELECT count(*) FROM " + quote(table.schema()) + "." + quote(table.table()))) {
                        count.next();
                        rows = count.getLong(1);
                    }
                }
                return new Views.TableStats(table.qualifiedName(), rows, bytes);
            }
        }
    }

    private static String quote(String identifier) {
        return "\"" + identifier.replace("\"", "\"\"") + "\"";
    }

    @Override
    public void destroy() {
        probes.shutdownNow();
    }
}
