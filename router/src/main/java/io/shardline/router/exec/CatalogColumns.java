package io.shardline.router.exec;

import io.shardline.router.sql.ColumnOrder;
import io.shardline.topology.Node;
import io.shardline.topology.ShardedTable;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * The column order of sharded tables, read once per table from the catalog of the home shard's primary (every shard
 * has the same columns) and kept until {@link #forget()} — which the runtime calls after DDL runs through the driver.
 */
final class CatalogColumns implements ColumnOrder {
    private final NodePools pools;
    private final Supplier<Node> home;
    private final Map<String, List<String>> byTable = new ConcurrentHashMap<>();
    /** Counts {@link #forget()}s: columns read before one are not kept after it. */
    private long generation;

    CatalogColumns(NodePools pools, Supplier<Node> home) {
        this.pools = pools;
        this.home = home;
    }

    @Override
    public List<String> columns(ShardedTable table) {
        List<String> known = byTable.get(table.qualifiedName());
        if (known != null) {
            return known;
        }
        long before;
        synchronized (this) {
            before = generation;
        }
        List<String> read = read(table);
        synchronized (this) {
            if (generation == before) {
                byTable.put(table.qualifiedName(), read);
            }
        }
        return read;
    }

    private List<String> read(ShardedTable table) {
        Node node = home.get();
        try (Connection c = pools.borrow(node);
                PreparedStatement ps = c.prepareStatement("SELECT a.attname FROM pg_attribute a"
                        + " JOIN pg_class t ON t.oid = a.attrelid JOIN pg_namespace n ON n.oid = t.relnamespace"
                        + " WHERE n.nspname = ? AND t.relname = ? AND a.attnum > 0 AND NOT a.attisdropped"
                        + " ORDER BY a.attnum")) {
            ps.setString(1, table.schema());
            ps.setString(2, table.table());
            List<String> columns = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    columns.add(rs.getString(1));
                }
            }
            if (columns.isEmpty()) {
                throw new IllegalStateException(table.qualifiedName() + " does not exist on " + node.name());
            }
            return List.copyOf(columns);
        } catch (SQLException e) {
            throw new IllegalStateException("reading its columns on " + node.name() + " failed: " + e.getMessage(), e);
        }
    }

    /** Forgets every table's columns (DDL ran). */
    synchronized void forget() {
        generation++;
        byTable.clear();
    }
}
