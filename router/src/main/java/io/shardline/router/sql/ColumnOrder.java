package io.shardline.router.sql;

import io.shardline.topology.ShardedTable;
import java.util.List;

/**
 * The columns of a sharded table in their order, as the database defines them: an {@code INSERT} without a column
 * list gives its values in that order. Read from the catalog of the home shard's primary (every shard has the same
 * columns) and cached until DDL runs through the driver.
 */
@FunctionalInterface
public interface ColumnOrder {
    /** No catalog at hand: an INSERT without a column list into a sharded table is refused. */
    ColumnOrder NONE = table -> {
        throw new IllegalStateException("no catalog to read the columns of " + table.qualifiedName() + " from");
    };

    /**
     * The column names of {@code table}, folded as PostgreSQL stores them, in order.
     *
     * @throws RuntimeException with a message saying why they could not be read
     */
    List<String> columns(ShardedTable table);
}
