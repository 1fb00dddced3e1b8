package io.shardline.topology;

import java.util.Objects;

/**
 * A table whose rows are spread over the shards by the hash of one key column.
 *
 * <p>Names are stored as PostgreSQL folds unquoted identifiers (lower case) unless they were declared
 * quoted; {@link #matches(String, String)} compares folded names.
 *
 * @param schema the schema, usually {@code public}
 */
public record ShardedTable(String schema, String table, String keyColumn, KeyType keyType) {
    public ShardedTable {
        Objects.requireNonNull(schema, "schema");
        Objects.requireNonNull(table, "table");
        Objects.requireNonNull(keyColumn, "key column of " + table);
        Objects.requireNonNull(keyType, "key type of " + table);
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
