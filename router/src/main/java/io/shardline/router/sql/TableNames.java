package io.shardline.router.sql;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.ShardedTable;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Which sharded table a name in a statement means: a qualified name as written; an unqualified one as PostgreSQL
 * finds it, the first schema along the session's search path holding a relation of that name — so an unsharded
 * {@code app.users} ahead of the sharded {@code public.users} is {@code app.users}. Temporary tables are not seen.
 */
final class TableNames {
    private final ClusterTopology topology;
    private final Catalog catalog;
    /** The session's search path; null for the connections' default, read from the catalog when first needed. */
    private final SearchPath path;

    TableNames(ClusterTopology topology, Catalog catalog, SearchPath path) {
        this.topology = topology;
        this.catalog = catalog;
        this.path = path;
    }

    /** Whether the name of a sharded table (its table name) matches {@code test}. */
    boolean anyName(java.util.function.Predicate<String> test) {
        return topology.tables().stream().anyMatch(t -> test.test(t.table()));
    }

    /** The sharded table {@code schema.name} (schema null: unqualified) means, or empty when it means another. */
    Optional<ShardedTable> sharded(String schema, String name) {
        if (schema != null) {
            return topology.shardedTable(schema, name);
        }
        List<ShardedTable> candidates =
                topology.tables().stream().filter(t -> t.table().equals(name)).toList();
        if (candidates.isEmpty()) {
            return Optional.empty();
        }
        SearchPath schemas = path != null ? path : catalog.defaultSearchPath();
        if (schemas == null) {
            return Optional.of(candidates.get(0)); // no search path known: the name as declared
        }
        Set<String> holders = null;
        for (String s : schemas.schemas()) {
            for (ShardedTable candidate : candidates) {
                if (candidate.schema().equals(s)) {
                    return Optional.of(candidate);
                }
            }
            if (holders == null) {
                holders = catalog.schemasWith(name);
            }
            if (holders.contains(s)) {
                return Optional.empty(); // a relation of that name that is not sharded comes first
            }
        }
        return Optional.empty();
    }
}
