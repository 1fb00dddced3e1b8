package io.shardline.router.route;

import io.shardline.router.SqlStates;
import io.shardline.router.sql.ColumnOrder;
import io.shardline.router.sql.CrossShardPlanner;
import io.shardline.router.sql.CrossShardQuery;
import io.shardline.router.sql.KeyGroup;
import io.shardline.router.sql.KeySource;
import io.shardline.router.sql.Plan;
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
 * <p>The cache-hit path of {@link #plan(String)} is one map lookup; {@link #keyedShard(Plan, Object[])} hashes
 * the key and binary-searches the ring. Nothing here logs or allocates on that path; the replica choice is
 * {@link ReplicaChooser}'s.
 */
public final class RoutingState {
    private final TopologySnapshot snapshot;
    private final StatementAnalyzer analyzer;
    /** What {@link #keyedShard} returns for key values on several shards. */
    public static final int SPANS = -2;

    private final Map<String, Plan> plans = new ConcurrentHashMap<>();
    private final Map<String, CrossShardQuery> crossShardPlans = new ConcurrentHashMap<>();
    private final CrossShardPlanner crossShardPlanner;
    private final Map<String, List<String>> crossShardLabels = new ConcurrentHashMap<>();
    private final int maxCachedPlans;
    private final Map<Integer, Node> primaries = new HashMap<>();
    private final Map<Integer, Node[]> replicas = new HashMap<>();

    public RoutingState(TopologySnapshot snapshot, int maxCachedPlans) {
        this(snapshot, maxCachedPlans, ColumnOrder.NONE);
    }

    /** @param columns where an INSERT without a column list finds a sharded table's column order */
    public RoutingState(TopologySnapshot snapshot, int maxCachedPlans, ColumnOrder columns) {
        this.snapshot = snapshot;
        this.analyzer = new StatementAnalyzer(snapshot.topology(), columns);
        this.crossShardPlanner = new CrossShardPlanner(snapshot.topology());
        this.maxCachedPlans = maxCachedPlans;
        for (Shard shard : snapshot.topology().shards()) {
            primaries.put(shard.id(), shard.primary());
            replicas.put(shard.id(), shard.replicas().toArray(Node[]::new));
        }
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

    /** The plan of {@code sql}, from the cache when it was analyzed before. */
    public Plan plan(String sql) {
        Plan plan = plans.get(sql);
        if (plan == null) {
            plan = analyzer.analyze(sql);
            if (plans.size() >= maxCachedPlans) {
                plans.clear();
            }
            plans.put(sql, plan);
        }
        return plan;
    }

    /**
     * The cross-shard plan of a read ({@link Plan.Target#CROSS_SHARD}, or a keyed read whose keys span shards),
     * cached like {@link #plan(String)}.
     *
     * @param prepared whether {@code ?} in the text are placeholders (else the jsonb operator)
     * @throws SQLException 0A000 naming what cannot be planned
     */
    public CrossShardQuery crossShard(String sql, boolean prepared) throws SQLException {
        String key = (prepared ? "P" : "S") + sql;
        CrossShardQuery query = crossShardPlans.get(key);
        if (query == null) {
            try {
                query = crossShardPlanner.plan(sql, prepared);
            } catch (IllegalArgumentException e) {
                throw new SQLException(
                        "Shardline cannot answer this cross-shard read: " + e.getMessage(),
                        SqlStates.FEATURE_NOT_SUPPORTED);
            }
            if (crossShardPlans.size() >= maxCachedPlans) {
                crossShardPlans.clear();
            }
            crossShardPlans.put(key, query);
        }
        return query;
    }

    /** The column labels of a cross-shard read's statement, once described (null before). */
    public List<String> crossShardLabels(String sql) {
        return crossShardLabels.get(sql);
    }

    public void crossShardLabels(String sql, List<String> labels) {
        if (crossShardLabels.size() >= maxCachedPlans) {
            crossShardLabels.clear();
        }
        crossShardLabels.put(sql, List.copyOf(labels));
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

    /** The shards' ids. */
    public List<Integer> shardIds() {
        return snapshot.topology().shardIds();
    }

    /** The replicas of a shard. */
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
