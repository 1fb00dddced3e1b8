package io.shardline.router.jdbc;

import io.shardline.router.SqlStates;
import java.sql.SQLException;
import java.sql.Savepoint;

/**
 * A savepoint made by {@code Connection.setSavepoint}: run as SQL ({@code SAVEPOINT name}), so that it is kept for
 * the transaction's first statement as the SQL one is, and named as pgjdbc names them ({@code JDBC_SAVEPOINT_id}, or
 * the given name quoted) so that SQL may roll back to it.
 */
final class ShardlineSavepoint implements Savepoint {
    private final int id;
    private final String name;
    private boolean released;

    /** An unnamed savepoint with {@code id}, or a named one ({@code name} not null). */
    ShardlineSavepoint(int id, String name) {
        this.id = id;
        this.name = name;
    }

    @Override
    public int getSavepointId() throws SQLException {
        checkValid();
        if (name != null) {
            throw new SQLException("cannot retrieve the id of a named savepoint", "42809");
        }
        return id;
    }

    @Override
    public String getSavepointName() throws SQLException {
        checkValid();
        if (name == null) {
            throw new SQLException("cannot retrieve the name of an unnamed savepoint", "42809");
        }
        return name;
    }

    /** The savepoint's name as SQL writes it. */
    String sqlName() throws SQLException {
        checkValid();
        return name == null ? "JDBC_SAVEPOINT_" + id : "\"" + name.replace("\"", "\"\"") + "\"";
    }

    /** The savepoint's name as PostgreSQL keeps it (an unquoted name folded to lower case). */
    String pgName() {
        return name == null ? "jdbc_savepoint_" + id : name;
    }

    void released() {
        released = true;
    }

    private void checkValid() throws SQLException {
        if (released) {
            throw new SQLException(
                    "Cannot reference a savepoint after it has been released.", SqlStates.INVALID_SAVEPOINT);
        }
    }
}
