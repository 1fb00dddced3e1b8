package io.shardline.router.jdbc;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;

/**
 * Runs one cross-shard read through the driver and prints its single row, with the JVM's heap limit: started by
 * {@link LargeCrossShardReadIT} in a JVM of its own with a small heap.
 */
public final class LargeRead {
    private LargeRead() {}

    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(args[0]);
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(args[1])) {
            rs.next();
            StringBuilder row = new StringBuilder();
            for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
                row.append(i == 1 ? "" : "|").append(rs.getString(i));
            }
            System.out.println("heap " + Runtime.getRuntime().maxMemory() / (1024 * 1024) + " MB");
            System.out.println("row " + row);
        } finally {
            io.shardline.router.ShardlineDriver.closeAll();
        }
    }
}
