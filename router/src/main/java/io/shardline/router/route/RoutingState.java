package io.shardline.router.route;

import io.shardline.router.SqlStates;
import io.shardline.router.sql.Catalog;
import io.shardline.router.sql.CrossShardPlanner;
import io.shardline.router.sql.CrossShardQuery;
import io.shardline.router.sql.KeyGroup;
import io.shardline.router.sql.KeySource;
import io.shardline.router.sql.Plan;
import io.shardline.router.sql.SearchPath;
import io.shardline.router.sql.StatementAnalyzer;
import io.shardline.topology.HashRing;
import io.shardline.topology.Node;
import io.shardline.topology.Shard;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.TopologySnapshot;
import java.sql.SQLException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongPredicate;

/**
 * Everything routing needs for one topology snapshot: the ring, the nodes of each shard, the analyzer and
 * its plan cache. Immutable but for the cache; a topology change replaces it
 * whole.
 *
 * <p>The cache-hit path of {@link #plan(String, SearchPath)} is one map lookup; {@link #keyedShard(Plan, Object[])} hashes
 * the key and binary-searches the ring. Nothing here logs or allocates on that path; the replica choice is
 * {@link ReplicaChooser}'s.
 */
public final class RoutingState {
    private final TopologySnapshot snapshot;
    /** What {@link #keyedShard} returns for key values on several shards. */
    public static final int SPANS = -2;
    /** At most this many search paths other than the default keep an analysis (beyond: all are dropped). */
    private static final int MAX_SEARCH_PATHS = 256;

    private final Catalog catalog;
    private final int maxCachedPlans;
    /** The analysis for sessions on the connections' default search path. */
    private final Analysis defaults;
    /** The analyses for sessions that set their own search path. */
    private final Map<SearchPath, Analysis> bySearchPath = new ConcurrentHashMap<>();

    private final Map<Integer, Node> primaries = new HashMap<>();
    /** The shards whose primary a switchover is changing (their writes are held): usually none. */
    private final List<Shard> switching;

    private final Map<Integer, Node[]> replicas = new HashMap<>();
    /** The routes of reads a replica serves with no write to wait for, by replica and use: made once, not per read. */
    /** By node name (one topology's: a name is one node), not by the record, whose hash is computed at every call. */
    private final Map<String, Route[]> replicaReads = new ConcurrentHashMap<>();

    /** The routes of statements on a shard's primary, by shard, use and why: made once, not per statement. */
    private final Map<Integer, Route[]> primaryRoutes = new ConcurrentHashMap<>();

    private static final Route.Use[] USES = Route.Use.values();
    private static final int WHYS = Route.Why.values().length;

    /** The analyzer, the cross-shard planner and their caches for one search path. */
    private final class Analysis {
        final StatementAnalyzer analyzer;
        final CrossShardPlanner crossShardPlanner;
        final Map<String, Plan> plans = new ConcurrentHashMap<>();
        final Map<String, CrossShardQuery> crossShardPlans = new ConcurrentHashMap<>();
        final Map<String, List<String>> crossShardLabels = new ConcurrentHashMap<>();
        final Map<String, List<String>> crossShardCollations = new ConcurrentHashMap<>();

        Analysis(SearchPath path) {
            this.analyzer = new StatementAnalyzer(snapshot.topology(), catalog, path);
            this.crossShardPlanner = new CrossShardPlanner(snapshot.topology(), catalog, path);
        }
    }

    public RoutingState(TopologySnapshot snapshot, int maxCachedPlans) {
        this(snapshot, maxCachedPlans, Catalog.NONE);
    }

    /**
     * @param catalog where an INSERT without a column list finds a sharded table's column order, and an unqualified
     *     name the schemas holding it
     */
    public RoutingState(TopologySnapshot snapshot, int maxCachedPlans, Catalog catalog) {
        this.snapshot = snapshot;
        this.catalog = catalog;
        this.maxCachedPlans = maxCachedPlans;
        this.defaults = new Analysis(null);
        for (Shard shard : snapshot.topology().shards()) {
            primaries.put(shard.id(), shard.primary());
            replicas.put(shard.id(), shard.replicas().toArray(Node[]::new));
        }
        this.switching = snapshot.topology().shards().stream()
                .filter(s -> s.switchover() != null)
                .toList();
    }

    /** The shards a primary switchover holds (marked in the topology); usually none. */
    public List<Shard> switching() {
        return switching;
    }

    /** Whether a failover holds shard {@code shard} (its primary is being replaced: see {@link Shard#failingOver}). */
    public boolean failingOver(int shard) {
        for (Shard s : switching) {
            if (s.id() == shard && s.failingOver()) {
                return true;
            }
        }
        return false;
    }

    public TopologySnapshot snapshot() {
        return snapshot;
    }

    public HashRing ring() {
        return snapshot.ring();
    }

    public int homeShard() {
        return snapshot.topology().homeShard();
    }

    private Analysis analysis(SearchPath path) {
        if (path == null) {
            return defaults;
        }
        Analysis a = bySearchPath.get(path);
        if (a == null) {
            if (bySearchPath.size() >= MAX_SEARCH_PATHS) {
                bySearchPath.clear();
            }
            a = bySearchPath.computeIfAbsent(path, Analysis::new);
        }
        return a;
    }

    /** The plan of {@code sql} on the connections' default search path. */
    public Plan plan(String sql) {
        return plan(sql, null);
    }

    /**
     * The plan of {@code sql}, from the cache when it was analyzed before.
     *
     * @param path the session's search path, null for the connections' default
     */
    public Plan plan(String sql, SearchPath path) {
        Analysis a = analysis(path);
        Plan plan = a.plans.get(sql);
        if (plan == null) {
            long failures = catalog.failures();
            plan = a.analyzer.analyze(sql);
            if (catalog.failures() != failures) {
                return plan; // made with a fallback answer: analyzed again next time
            }
            if (a.plans.size() >= maxCachedPlans) {
                a.plans.clear();
            }
            a.plans.put(sql, plan);
        }
        return plan;
    }

    /**
     * The first reference table whose name {@code sql} holds as a word (any case, quoted or not), or null: a
     * conservative look, for what the analysis cannot see (updatable result sets, procedure bodies).
     */
    public String shardedTableIn(String sql) {
        for (io.shardline.topology.ShardedTable t : snapshot.topology().tables()) {
            if (io.shardline.router.sql.SqlNames.holdsWord(sql, t.table())) {
                return t.qualifiedName();
            }
        }
        return null;
    }

    public String referenceTableIn(String sql) {
        for (io.shardline.topology.ReferenceTable t : snapshot.topology().referenceTables()) {
            if (io.shardline.router.sql.SqlNames.holdsWord(sql, t.table())) {
                return t.qualifiedName();
            }
        }
        return null;
    }

    public CrossShardQuery crossShard(String sql, boolean prepared, SearchPath path) throws SQLException {
        Analysis a = analysis(path);
        String key = (prepared ? "P" : "S") + sql;
        CrossShardQuery query = a.crossShardPlans.get(key);
        if (query == null) {
            long failures = catalog.failures();
            try {
                query = a.crossShardPlanner.plan(sql, prepared);
            } catch (IllegalArgumentException e) {
                throw new SQLException(
                        "Shardline cannot answer this cross-shard read: " + e.getMessage(),
                        SqlStates.FEATURE_NOT_SUPPORTED);
            }
            if (catalog.failures() != failures) {
                return query;
            }
            if (a.crossShardPlans.size() >= maxCachedPlans) {
                a.crossShardPlans.clear();
            }
            a.crossShardPlans.put(key, query);
        }
        return query;
    }

    /** The column labels of a cross-shard read's statement, once described (null before). */
    public List<String> crossShardLabels(String sql, SearchPath path) {
        return analysis(path).crossShardLabels.get(sql);
    }

    /**
     * The collation of each column a cross-shard read's source {@code sql} returns (null: the default, or none),
     * asked once per source; null when not known yet.
     */
    public List<String> crossShardCollations(String sql, SearchPath path) {
        return analysis(path).crossShardCollations.get(sql);
    }

    public void crossShardCollations(String sql, SearchPath path, List<String> collations) {
        Analysis a = analysis(path);
        if (a.crossShardCollations.size() >= maxCachedPlans) {
            a.crossShardCollations.clear();
        }
        a.crossShardCollations.put(sql, java.util.Collections.unmodifiableList(new java.util.ArrayList<>(collations)));
    }

    /**
     * Whether a column of a sharded table has a collation other than the default ({@link Catalog#ownCollations}):
     * only their rows are shipped between the nodes.
     */
    public boolean ownCollations() {
        return catalog.ownCollations(snapshot.topology().tables());
    }

    public void crossShardLabels(String sql, SearchPath path, List<String> labels) {
        Analysis a = analysis(path);
        if (a.crossShardLabels.size() >= maxCachedPlans) {
            a.crossShardLabels.clear();
        }
        a.crossShardLabels.put(sql, List.copyOf(labels));
    }

    /**
     * The shard a {@link Plan.Target#KEYED KEYED} plan goes to with these parameter values (index 1 at position 1;
     * position 0 unused), or {@link #SPANS} when its key values map to several shards. A NULL key matches no row,
     * so it does not vote; when every key is NULL the home shard answers (with no rows). One key costs a hash and
     * a ring lookup.
     *
     * @throws SQLException 22P02 when a value cannot be a key, 07001 when a key parameter has no value
     */
    public int keyedShard(Plan plan, Object[] parameters) throws SQLException {
        int shard = -1;
        List<KeyGroup> groups = plan.keyGroups();
        for (int g = 0; g < groups.size(); g++) {
            KeyGroup group = groups.get(g);
            ShardedTable table = group.tables().get(0);
            List<KeySource> sources = group.sources();
            for (int s = 0; s < sources.size(); s++) {
                Object value = keyValue(sources.get(s), parameters, table);
                if (value == null) {
                    continue;
                }
                int next = snapshot.ring().shardFor(hash(table, value));
                if (shard >= 0 && next != shard) {
                    return SPANS;
                }
                shard = next;
            }
        }
        return shard < 0 ? homeShard() : shard;
    }

    /**
     * The shard of each row of a multi-row INSERT ({@link Plan#splitsRowsWhenSpanning}): its key group's sources, one
     * per row, in order; a row whose key is NULL goes to the home shard, as a single row would.
     */
    public int[] rowShards(Plan plan, Object[] parameters) throws SQLException {
        KeyGroup group = plan.keyGroups().get(0);
        ShardedTable table = group.tables().get(0);
        int[] shards = new int[group.sources().size()];
        for (int row = 0; row < shards.length; row++) {
            Object value = keyValue(group.sources().get(row), parameters, table);
            shards[row] = value == null ? homeShard() : snapshot.ring().shardFor(hash(table, value));
        }
        return shards;
    }

    /** Why a keyed write whose key values map to several shards is refused, naming the table and two shards. */
    public String spanMessage(Plan plan, Object[] parameters) throws SQLException {
        int first = -1;
        for (KeyGroup group : plan.keyGroups()) {
            ShardedTable table = group.tables().get(0);
            for (KeySource source : group.sources()) {
                Object value = keyValue(source, parameters, table);
                if (value != null) {
                    int shard = snapshot.ring().shardFor(hash(table, value));
                    if (first >= 0 && shard != first) {
                        return "the shard key values of " + table.qualifiedName() + " (" + table.keyColumn()
                                + ") map to shards " + first + " and " + shard + ": a write must stay on one shard";
                    }
                    first = shard;
                }
            }
        }
        return "the shard key values map to several shards: a write must stay on one shard";
    }

    /**
     * Whether any shard key value of a {@link Plan.Target#KEYED KEYED} plan hashes into {@code hashes} (a
     * move's ranges, for the fence).
     */
    public boolean anyKeyHash(Plan plan, Object[] parameters, LongPredicate hashes) throws SQLException {
        for (KeyGroup group : plan.keyGroups()) {
            ShardedTable table = group.tables().get(0);
            for (KeySource source : group.sources()) {
                Object value = keyValue(source, parameters, table);
                if (value != null && hashes.test(hash(table, value))) {
                    return true;
                }
            }
        }
        return false;
    }

    private static Object keyValue(KeySource source, Object[] parameters, ShardedTable table) throws SQLException {
        if (!source.isParameter()) {
            return source.literal();
        }
        if (parameters == null || source.parameterIndex() >= parameters.length) {
            throw new SQLException(
                    "no value given for parameter " + source.parameterIndex() + ", the shard key " + table.keyColumn()
                            + " of " + table.qualifiedName(),
                    "07001");
        }
        return parameters[source.parameterIndex()];
    }

    /** The primary of a shard. */
    public Node primary(int shard) {
        return primaries.get(shard);
    }

    /** {@code Route.node(shard, primary(shard), use, why)}, made once per shard, use and why. */
    Route primaryRoute(int shard, Route.Use use, Route.Why why) {
        Route[] routes = primaryRoutes.get(shard);
        if (routes == null) {
            routes = primaryRoutes.computeIfAbsent(shard, n -> new Route[USES.length * WHYS]);
        }
        int index = use.ordinal() * WHYS + why.ordinal();
        Route route = routes[index];
        if (route == null) {
            route = Route.node(shard, primary(shard), use, why); // racy and safe, as below
            routes[index] = route;
        }
        return route;
    }

    /** {@code Route.replica(shard, replica, use, REPLICA, 0, primary(shard))}, made once per replica and use. */
    Route replicaRead(int shard, Node replica, Route.Use use) {
        Route[] routes = replicaReads.get(replica.name());
        if (routes == null) {
            routes = replicaReads.computeIfAbsent(replica.name(), n -> new Route[USES.length]);
        }
        Route route = routes[use.ordinal()];
        if (route == null) {
            // racy and safe: a record's fields are final, and two threads make equal routes
            route = Route.replica(shard, replica, use, Route.Why.REPLICA, 0, primary(shard));
            routes[use.ordinal()] = route;
        }
        return route;
    }

    /** The shards' ids. */
    public List<Integer> shardIds() {
        return snapshot.topology().shardIds();
    }

    /**
     * The replicas of a shard: this routing state's own array, never to be written to (the replica choice keeps what
     * it knows of each array's nodes by the array's identity).
     */
    public Node[] replicas(int shard) {
        return replicas.get(shard);
    }

    /** Every replica of every shard. */
    public Node[] allReplicas() {
        return replicas.values().stream().flatMap(Arrays::stream).toArray(Node[]::new);
    }

    private static long hash(ShardedTable table, Object value) throws SQLException {
        try {
            return table.keyType().hash(value);
        } catch (IllegalArgumentException e) {
            throw new SQLException(
                    "shard key " + table.keyColumn() + " of " + table.qualifiedName() + ": " + e.getMessage(),
                    SqlStates.INVALID_TEXT_REPRESENTATION,
                    e);
        }
    }
}
