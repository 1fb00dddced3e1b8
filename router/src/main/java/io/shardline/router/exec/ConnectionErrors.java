package io.shardline.router.exec;

import java.sql.SQLException;
import java.sql.SQLTimeoutException;

/**
 * The one place that decides whether a {@link SQLException} means "this node is broken" rather than "this
 * statement failed": SQLState class 08 (connection exception), 57P01-57P03 (admin shutdown, crash
 * shutdown, cannot connect now), and timeouts. Failover and retries ask it.
 */
public final class ConnectionErrors {
    private ConnectionErrors() {}

    public static boolean isConnectionError(SQLException e) {
        for (SQLException x = e; x != null; x = x.getNextException()) {
            String state = x.getSQLState();
            if (x instanceof SQLTimeoutException
                    || (state != null
                            && (state.startsWith("08")
                                    || state.equals("57P01")
                                    || state.equals("57P02")
                                    || state.equals("57P03")))) {
                return true;
            }
            if (x.getCause() instanceof SQLException cause && cause != x) {
                return isConnectionError(cause);
            }
        }
        return false;
    }
}
