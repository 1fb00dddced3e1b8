package io.shardline.topology;

import java.util.Objects;

/**
 * A small table every shard holds whole (items, countries, plans): reads stay on the shard a statement is on, so
 * joins with sharded tables and foreign keys to it work on every shard; writes go to every shard in one transaction.
 *
 * <p>Names are stored folded as in {@link ShardedTable}.
 */
public record ReferenceTable(String schema, String table) {
    public ReferenceTable {
        Objects.requireNonNull(schema, "schema");
        Objects.requireNonNull(table, "table");
    }

    /** {@code schema.table}. */
    public String qualifiedName() {
        return schema + "." + table;
    }

    /** Whether this is the table {@code schema.table}; a {@code null} schema matches any. */
    public boolean matches(String otherSchema, String otherTable) {
        return table.equals(otherTable) && (otherSchema == null || schema.equals(otherSchema));
    }
}
