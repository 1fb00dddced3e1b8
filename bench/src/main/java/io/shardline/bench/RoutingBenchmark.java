package io.shardline.bench;

import io.shardline.router.route.Moves;
import io.shardline.router.route.ReplicaChooser;
import io.shardline.router.route.ReplicaHealth;
import io.shardline.router.route.Route;
import io.shardline.router.route.RouteContext;
import io.shardline.router.route.Router;
import io.shardline.router.route.RoutingState;
import io.shardline.router.sql.Plan;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyType;
import io.shardline.topology.LagReport;
import io.shardline.topology.LagSnapshot;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.ReplicaState;
import io.shardline.topology.Shard;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.TopologySnapshot;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The per-statement routing work of a cached prepared statement: plan lookup by SQL text, key hash, ring
 * lookup and replica choice. No database: this is the driver's own overhead.
 *
 * <p>Run: {@code java -jar bench/target/benchmarks.jar RoutingBenchmark}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class RoutingBenchmark {
    static final String SQL = "SELECT name, email FROM users WHERE user_id = ?";

    static final ReplicaChooser.Bound BOUND = new ReplicaChooser.Bound(1000, 0);

    /** Equal weights, nothing in flight: the cost measured is the choice itself. */
    static final ReplicaChooser.Stats STATS = new ReplicaChooser.Stats() {
        @Override
        public boolean isHealthy(Node replica) {
            return true;
        }

        @Override
        public boolean wasEligible(Node replica, long boundMs) {
            return true;
        }

        @Override
        public int weight(Node replica) {
            return 1;
        }

        @Override
        public int inFlight(Node replica) {
            return 0;
        }

        @Override
        public long replayedLsn(Node replica, LagReport report) {
            return 0;
        }
    };

    /** Replicas of each shard: a primary's hub and leaf, or the seed's fleet of 4 hubs and 46 leaves. */
    @Param({"2", "50"})
    public int replicasPerShard;

    private RoutingState routing;
    private LagSnapshot lag;
    private Router router;
    private Object[][] parameters;
    private int next;

    @Setup
    public void setUp() {
        List<Shard> shards = List.of(shard(0), shard(1), shard(2), shard(3));
        ClusterTopology topology = new ClusterTopology(
                "bench",
                1,
                "db",
                "app",
                0,
                shards,
                List.of(new ShardedTable("public", "users", "user_id", KeyType.INTEGER)));
        routing = new RoutingState(
                new TopologySnapshot(topology, HashRing.even(topology.shardIds(), HashRing.DEFAULT_RANGES_PER_SHARD)),
                10_000);
        SplittableRandom random = new SplittableRandom(1);
        parameters = new Object[1024][];
        for (int i = 0; i < parameters.length; i++) {
            parameters[i] = new Object[] {null, random.nextLong(1, 10_000_000)};
        }
        routing.plan(SQL);
        Map<String, LagReport> reports = new HashMap<>();
        for (Shard s : shards) {
            for (Node n : s.replicas()) {
                reports.put(
                        n.name(),
                        new LagReport(
                                n.name(),
                                s.id(),
                                n.role(),
                                20,
                                0,
                                "0/0",
                                null,
                                ReplicaState.STREAMING,
                                Long.MAX_VALUE / 2));
            }
        }
        lag = new LagSnapshot(reports);

        ReplicaHealth health = new ReplicaHealth(Map.of(), Long.MAX_VALUE, n -> true, routing::allReplicas, "bench");
        router = new Router(health, () -> lag, Moves.NONE, 0, true, false, false);
    }

    /** An autocommit session reading with a 1000 ms bound and no writes of its own. */
    static final RouteContext AUTOCOMMIT = new RouteContext() {
        @Override
        public boolean autoCommit() {
            return true;
        }

        @Override
        public boolean readOnly() {
            return false;
        }

        @Override
        public boolean readFromPrimary() {
            return false;
        }

        @Override
        public long maxStalenessMs() {
            return 1000;
        }

        @Override
        public long writtenLsn(int shard) {
            return 0;
        }

        @Override
        public int pinnedShard() {
            return -1;
        }

        @Override
        public Node pinnedNode() {
            return null;
        }

        @Override
        public int transactionShard() {
            return -1;
        }

        @Override
        public Node participant(int shard) {
            return null;
        }

        @Override
        public boolean transactionBound() {
            return false;
        }

        @Override
        public int isolation() {
            return java.sql.Connection.TRANSACTION_READ_COMMITTED;
        }

        @Override
        public boolean transactionWrote() {
            return false;
        }

        @Override
        public boolean snapshotTransaction() {
            return false;
        }
    };

    private Shard shard(int id) {
        int hubs = Math.max(1, Math.min(4, replicasPerShard / 2));
        List<Node> nodes = new ArrayList<>();
        nodes.add(new Node("s" + id + "-primary", NodeRole.PRIMARY, "h", 5432, null));
        for (int h = 1; h <= hubs; h++) {
            nodes.add(new Node("s" + id + "-hub" + h, NodeRole.HUB, "h", 5432 + h, "s" + id + "-primary"));
        }
        for (int l = 1; l <= replicasPerShard - hubs; l++) {
            nodes.add(new Node(
                    "s" + id + "-leaf" + l, NodeRole.LEAF, "h", 6000 + l, "s" + id + "-hub" + (1 + (l - 1) % hubs)));
        }
        return new Shard(id, nodes);
    }

    /** Cache hit, hash, ring: the shard of a keyed statement. */
    @Benchmark
    public int routeKeyedStatement() throws SQLException {
        Plan plan = routing.plan(SQL);
        return routing.keyedShard(plan, parameters[next++ & 1023]);
    }

    /**
     * The driver's whole routing decision for a keyed read, as execution and explainRoute take it: plan cache hit,
     * hash, ring, the read policy and the lag-aware choice with the driver's own replica health (breakers, dead band
     * per bound, requests in flight), and the {@link Route} value.
     */
    @Benchmark
    public Route routeKeyedReadThroughTheRouter() throws SQLException {
        return router.route(routing, routing.plan(SQL), parameters[next++ & 1023], AUTOCOMMIT);
    }

    /** Cache hit, hash, ring, lag-aware replica choice: what the driver adds to a keyed read. */
    @Benchmark
    public Node routeKeyedRead() throws SQLException {
        Plan plan = routing.plan(SQL);
        Object[] params = parameters[next++ & 1023];
        int shard = routing.keyedShard(plan, params);
        ThreadLocalRandom random = ThreadLocalRandom.current();
        return ReplicaChooser.choose(
                routing.replicas(shard),
                lag,
                BOUND,
                System.currentTimeMillis(),
                Long.MAX_VALUE,
                STATS,
                random::nextInt);
    }
}
