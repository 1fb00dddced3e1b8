package io.shardline.router.sql;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.ShardedTable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Which sharded or reference table a name in a statement means: a qualified name as written; an unqualified one as PostgreSQL
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

    /** Whether the name of a sharded or reference table (its table name) matches {@code test}. */
    boolean anyName(java.util.function.Predicate<String> test) {
        return topology.tables().stream().anyMatch(t -> test.test(t.table()))
                || topology.referenceTables().stream().anyMatch(t -> test.test(t.table()));
    }

    /** The sharded table {@code schema.name} (schema null: unqualified) means, or empty when it means another. */
    Optional<ShardedTable> sharded(String schema, String name) {
        return resolve(schema, name).filter(ShardedTable.class::isInstance).map(ShardedTable.class::cast);
    }

    /** The reference table {@code schema.name} (schema null: unqualified) means, or empty when it means another. */
    Optional<ReferenceTable> reference(String schema, String name) {
        return resolve(schema, name).filter(ReferenceTable.class::isInstance).map(ReferenceTable.class::cast);
    }

    /** The names of the distributed functions. */
    List<String> functionNames() {
        return topology.functions().stream()
                .map(io.shardline.topology.DistributedFunction::name)
                .toList();
    }

    /**
     * The column names of {@code table}, in order.
     *
     * @throws RuntimeException when they cannot be read
     */
    List<String> columns(ShardedTable table) {
        return catalog.columns(table);
    }

    /** The primary key columns of {@code table}; empty when it has none or it is unknown. */
    List<String> primaryKey(ShardedTable table) {
        return catalog.primaryKey(table.schema(), table.table());
    }

    /** How many catalog reads have failed so far. */
    long catalogFailures() {
        return catalog.failures();
    }

    /**
     * The view {@code schema.name} (schema null: the first schema along the search path holding a relation of that
     * name) means, read from the catalog; empty when it is not a view or unknown.
     */
    Optional<Catalog.View> view(String schema, String name) {
        if (schema != null) {
            return catalog.view(schema, name);
        }
        Set<String> holders = catalog.schemasWith(name);
        if (holders.isEmpty()) {
            return Optional.empty();
        }
        SearchPath schemas = path != null ? path : catalog.defaultSearchPath();
        if (schemas == null) {
            return holders.size() == 1 ? catalog.view(holders.iterator().next(), name) : Optional.empty();
        }
        for (String s : schemas.schemas()) {
            if (holders.contains(s)) {
                return catalog.view(s, name);
            }
        }
        return Optional.empty();
    }

    /**
     * The distributed function {@code schema.name} (schema null: unqualified, any schema declaring it) means, or
     * empty.
     */
    Optional<io.shardline.topology.DistributedFunction> function(String schema, String name) {
        return topology.function(schema, name);
    }

    /** The declared table (a {@link ShardedTable} or a {@link ReferenceTable}) a name means, or empty. */
    private Optional<Object> resolve(String schema, String name) {
        if (schema != null) {
            Optional<Object> sharded = topology.shardedTable(schema, name).map(Object.class::cast);
            return sharded.isPresent()
                    ? sharded
                    : topology.referenceTable(schema, name).map(Object.class::cast);
        }
        Map<String, Object> bySchema = new LinkedHashMap<>();
        topology.tables().stream()
                .filter(t -> t.table().equals(name))
                .forEach(t -> bySchema.putIfAbsent(t.schema(), t));
        topology.referenceTables().stream()
                .filter(t -> t.table().equals(name))
                .forEach(t -> bySchema.putIfAbsent(t.schema(), t));
        if (bySchema.isEmpty()) {
            return Optional.empty();
        }
        SearchPath schemas = path != null ? path : catalog.defaultSearchPath();
        if (schemas == null) {
            return Optional.of(bySchema.values().iterator().next()); // no search path known: the name as declared
        }
        Set<String> holders = null;
        for (String s : schemas.schemas()) {
            if (bySchema.containsKey(s)) {
                return Optional.of(bySchema.get(s));
            }
            if (holders == null) {
                holders = catalog.schemasWith(name);
            }
            if (holders.contains(s)) {
                return Optional.empty(); // a relation of that name that is not declared comes first
            }
        }
        return Optional.empty();
    }
}
