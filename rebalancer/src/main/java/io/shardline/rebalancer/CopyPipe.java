package io.shardline.rebalancer;

import java.sql.Connection;
import java.sql.SQLException;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;
import org.postgresql.copy.CopyOut;

/**
 * A {@code COPY ... TO STDOUT} on one connection fed into a {@code COPY ... FROM STDIN} on another by the calling
 * thread: the rows are gathered into chunks of {@link #CHUNK} bytes, one CopyData message each, with no second
 * thread and no piped stream between them (a piped stream takes its lock once per row on each side).
 */
public final class CopyPipe {
    /** The size of the CopyData messages sent to the target (as pgjdbc's own {@code copyIn(sql, stream)}). */
    static final int CHUNK = 1 << 16;

    private CopyPipe() {}

    /**
     * Runs {@code copyOut} on {@code from} and {@code copyIn} on {@code to}; returns the rows the target took. On a
     * failure of either side the other side's COPY is left as it is: close both connections then (the server whose
     * client goes ends its COPY, and a target's rolls back). A refusal by the target (a constraint) surfaces when the
     * rows end.
     */
    public static long transfer(Connection from, String copyOut, Connection to, String copyIn) throws SQLException {
        CopyOut out = from.unwrap(PGConnection.class).getCopyAPI().copyOut(copyOut);
        CopyIn in = to.unwrap(PGConnection.class).getCopyAPI().copyIn(copyIn);
        byte[] chunk = new byte[CHUNK];
        int used = 0;
        byte[] row;
        while ((row = out.readFromCopy()) != null) {
            if (used + row.length > chunk.length) {
                if (used > 0) {
                    in.writeToCopy(chunk, 0, used);
                    used = 0;
                }
                if (row.length > chunk.length) {
                    in.writeToCopy(row, 0, row.length);
                    continue;
                }
            }
            System.arraycopy(row, 0, chunk, used, row.length);
            used += row.length;
        }
        if (used > 0) {
            in.writeToCopy(chunk, 0, used);
        }
        return in.endCopy();
    }
}
