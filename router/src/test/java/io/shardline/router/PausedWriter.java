package io.shardline.router;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * A client JVM for {@link CutoverWritesIT}: increments one row through the driver every 500 ms and prints {@code ok
 * <port>} (the node that took the write) or {@code err <SQLState>} for each write. The test stops it (SIGSTOP) while
 * it sleeps, as a long GC pause would.
 *
 * <p>Arguments: the driver URL, the key.
 */
public final class PausedWriter {
    private PausedWriter() {}

    public static void main(String[] args) throws Exception {
        long key = Long.parseLong(args[1]);
        try (Connection c = DriverManager.getConnection(args[0]);
                PreparedStatement ps =
                        c.prepareStatement("UPDATE kv SET v = v || '+' WHERE k = ? RETURNING inet_server_port()")) {
            while (true) {
                ps.setLong(1, key);
                try (ResultSet rs = ps.executeQuery()) {
                    System.out.println(rs.next() ? "ok " + rs.getInt(1) : "missing");
                } catch (SQLException e) {
                    System.out.println("err " + e.getSQLState());
                }
                System.out.flush();
                Thread.sleep(500);
            }
        }
    }
}
