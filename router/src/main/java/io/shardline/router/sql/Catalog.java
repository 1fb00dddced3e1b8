package io.shardline.router.sql;

import io.shardline.topology.ShardedTable;
import java.util.List;
import java.util.Set;

/**
 * What the analysis reads from the database's catalog (the home shard's primary: every shard has the same sharded
 * tables), cached until DDL runs through the driver: the column order of sharded tables (an {@code INSERT} without a
 * column list gives its values in that order), which schemas hold a relation of a given name and the connections'
 * default {@code search_path} (an unqualified name means the first match along the search path).
 */
@FunctionalInterface
public interface Catalog {
    /** No catalog at hand: an INSERT without a column list into a sharded table is refused. */
    Catalog NONE = table -> {
        throw new IllegalStateException("no catalog to read the columns of " + table.qualifiedName() + " from");
    };

    /**
     * The column names of {@code table}, folded as PostgreSQL stores them, in order.
     *
     * @throws RuntimeException with a message saying why they could not be read
     */
    List<String> columns(ShardedTable table);

    /** The schemas holding a table, view or other relation named {@code relation}; empty when unknown. */
    default Set<String> schemasWith(String relation) {
        return Set.of();
    }

    /**
     * A view: its definition ({@code pg_get_viewdef}) and whether it is materialized.
     *
     * @param definition the SELECT, as PostgreSQL prints it
     */
    record View(boolean materialized, String definition) {}

    /** The view or materialized view {@code schema.name}; empty when there is none or it is unknown. */
    default java.util.Optional<View> view(String schema, String name) {
        return java.util.Optional.empty();
    }

    /** The primary key columns of {@code schema.table}, in order; empty when it has none or it is unknown. */
    default List<String> primaryKey(String schema, String table) {
        return List.of();
    }

    /**
     * Whether a column of one of {@code tables} has a collation of its own, other than the database's default (then
     * a cross-shard read asks which collation each column its shards return has); true when unknown.
     */
    default boolean ownCollations(List<ShardedTable> tables) {
        return true;
    }

    /** The search path connections start with, {@code $user} resolved; null when unknown (any schema matches). */
    default SearchPath defaultSearchPath() {
        return null;
    }

    /**
     * How many reads of this catalog have failed so far: an analysis made while one failed used a fallback answer
     * and is not cached.
     */
    default long failures() {
        return 0;
    }
}
