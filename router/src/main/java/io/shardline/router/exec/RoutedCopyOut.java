package io.shardline.router.exec;

import io.shardline.router.SqlStates;
import io.shardline.router.metrics.DriverMetrics;
import io.shardline.router.sql.StatementKind;
import io.shardline.topology.HashRing;
import io.shardline.topology.NodeRole;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyOut;

/**
 * A {@code COPY ... TO STDOUT} through the driver: the COPY of the node that answers it (a keyed query, an
 * unsharded or a reference table), or a sharded table's rows from every shard in turn as one stream. Each later
 * shard's header line (text and CSV with {@code HEADER}) is dropped, and in binary format each later shard's file
 * header and each earlier one's trailer, so the stream reads as one table's COPY.
 *
 * <p>While a shard move runs every shard's part is limited to the ranges it owns (as cross-shard reads are), and
 * the stream fails at its end with 40001 when a cutover switched ranges while it was read: its rows may then hold a
 * moved range twice or miss it. Nothing else runs on the connection until the stream ends ({@code 55000}).
 */
final class RoutedCopyOut implements CopyOut {
    /** One node's part: its connection and the COPY it runs there. */
    record Leg(Physical physical, String sql) {}

    /** PostgreSQL's binary COPY header: signature, flags, header extension length (it writes no extension). */
    private static final int BINARY_HEADER = 19;

    /** The binary COPY trailer: a field count of -1. */
    private static final int BINARY_TRAILER = 2;

    private final Session session;
    private final String what;
    private final List<Leg> legs;
    private final boolean header;
    private final boolean binary;
    private final CrossShardRead.Ownership ownership;
    private final HashRing ring;
    private final List<Physical> inSnapshot;
    private final Runnable onEnd;
    private final long started = System.nanoTime();
    private final CopyOut first;
    private int at;
    private CopyOut current;
    private boolean atLegStart = true;
    private byte[] held;
    private byte[] pending;
    private long rows;
    private boolean active = true;
    private boolean failed;

    /**
     * Starts the first leg's COPY (its errors are thrown here, as pgjdbc's {@code copyOut} throws them).
     *
     * @param what the statement as errors name it
     * @param ring the ring the legs keep to while a move runs, null when none runs
     * @param inSnapshot the legs' connections in a snapshot transaction of this COPY's own (rolled back at its end)
     */
    RoutedCopyOut(
            Session session,
            String what,
            List<Leg> legs,
            boolean header,
            boolean binary,
            CrossShardRead.Ownership ownership,
            HashRing ring,
            List<Physical> inSnapshot,
            Runnable onEnd)
            throws SQLException {
        this.session = session;
        this.what = what;
        this.legs = List.copyOf(legs);
        this.header = header;
        this.binary = binary;
        this.ownership = ownership;
        this.ring = ring;
        this.inSnapshot = new ArrayList<>(inSnapshot);
        this.onEnd = onEnd;
        session.copyStarted(this);
        try {
            current = start(legs.get(0));
        } catch (SQLException | RuntimeException e) {
            throw failed(e);
        }
        first = current;
    }

    private CopyOut start(Leg leg) throws SQLException {
        try {
            return leg.physical
                    .connection
                    .unwrap(PGConnection.class)
                    .getCopyAPI()
                    .copyOut(leg.sql);
        } catch (SQLException e) {
            throw onShard(leg, e);
        }
    }

    private SQLException onShard(Leg leg, SQLException e) {
        SQLException judged = session.failed(leg.physical, StatementKind.READ, e);
        if (legs.size() == 1) {
            return judged;
        }
        return new SQLException(
                what + " failed on shard " + leg.physical.shard + " (" + leg.physical.node.name() + "): "
                        + judged.getMessage(),
                judged.getSQLState(),
                judged);
    }

    @Override
    public byte[] readFromCopy() throws SQLException {
        return readFromCopy(true);
    }

    @Override
    public synchronized byte[] readFromCopy(boolean block) throws SQLException {
        try {
            while (active) {
                if (pending != null) {
                    byte[] out = pending;
                    pending = null;
                    return out;
                }
                if (current == null) {
                    end();
                    return null;
                }
                byte[] data;
                try {
                    data = current.readFromCopy(block);
                } catch (SQLException e) {
                    throw onShard(legs.get(at), e);
                }
                if (data == null) {
                    if (current.isActive()) {
                        return null; // nothing yet (not blocking)
                    }
                    legEnded();
                    continue;
                }
                byte[] out = shaped(data);
                if (out != null && out.length > 0) {
                    return out;
                }
            }
            return null;
        } catch (SQLException | RuntimeException e) {
            throw failed(e);
        }
    }

    /** A message of the current leg as the stream gives it: null when it is held back or dropped. */
    private byte[] shaped(byte[] data) throws SQLException {
        boolean leading = atLegStart;
        atLegStart = false;
        if (binary) {
            byte[] part = data;
            if (leading && at > 0) {
                if (data.length < BINARY_HEADER) {
                    throw new SQLException(
                            what + ": shard " + legs.get(at).physical.shard + " sent a binary COPY header of "
                                    + data.length + " bytes",
                            SqlStates.INTERNAL_ERROR);
                }
                part = Arrays.copyOfRange(data, BINARY_HEADER, data.length);
            }
            // the last message of a leg ends with the trailer, cut when another leg follows: each is held until the
            // next
            byte[] out = held;
            held = part;
            return out;
        }
        return leading && at > 0 && header ? null : data;
    }

    /** The current leg's COPY ended: its held message goes out, and the next leg starts. */
    private void legEnded() throws SQLException {
        rows += current.getHandledRowCount();
        boolean last = at == legs.size() - 1;
        byte[] tail = held;
        held = null;
        if (tail != null && !last) {
            if (tail.length < BINARY_TRAILER || tail[tail.length - 1] != -1 || tail[tail.length - 2] != -1) {
                throw new SQLException(
                        what + ": shard " + legs.get(at).physical.shard + " ended its binary COPY without a trailer",
                        SqlStates.INTERNAL_ERROR);
            }
            tail = Arrays.copyOf(tail, tail.length - BINARY_TRAILER);
        }
        if (last) {
            current = null;
            if (!ownership.still(ring)) {
                throw new SQLException(
                        what + ": a shard move switched ranges while the shards were read, so the rows given may hold"
                                + " the moved ranges twice or miss them: discard them and run the COPY again",
                        SqlStates.RETRY_WRITE);
            }
        } else {
            at++;
            atLegStart = true;
            current = start(legs.get(at));
        }
        pending = tail != null && tail.length > 0 ? tail : null;
    }

    @Override
    public int getFieldCount() {
        return first.getFieldCount();
    }

    @Override
    public int getFormat() {
        return first.getFormat();
    }

    @Override
    public int getFieldFormat(int field) {
        return first.getFieldFormat(field);
    }

    @Override
    public synchronized boolean isActive() {
        return active;
    }

    @Override
    public synchronized void cancelCopy() throws SQLException {
        if (!active) {
            return;
        }
        abandonCurrent();
        failed = true;
        end();
    }

    /**
     * Ends the current leg's COPY part-way: pgjdbc's cancel sends the server a cancel request and hands the
     * connection back while the rest of the output may still be on its way (the next statement there would read it
     * as its own), so the connection is given up.
     */
    private void abandonCurrent() {
        if (current == null || !current.isActive()) {
            return;
        }
        Leg leg = legs.get(at);
        SQLException why = new SQLException(
                what + " was cancelled part-way on " + leg.physical.node.name() + ": its connection is closed",
                "57014");
        try {
            current.cancelCopy();
        } catch (SQLException e) {
            why.addSuppressed(e);
        }
        current = null;
        session.abandon(leg.physical, why);
    }

    @Override
    public synchronized long getHandledRowCount() {
        return rows;
    }

    private SQLException failed(Throwable e) {
        SQLException x = e instanceof SQLException s ? s : SqlStates.internal((RuntimeException) e);
        if (!active) {
            return x;
        }
        abandonCurrent();
        if (legs.get(at).physical.inTransaction) {
            // a failed statement aborts the transaction it ran in, as in PostgreSQL
            session.abortPartly(what + " failed: " + x.getMessage());
        }
        failed = true;
        end();
        return x;
    }

    private void end() {
        active = false;
        current = null;
        session.copyEnded(this);
        CrossShardRead.endSnapshots(inSnapshot, null);
        inSnapshot.clear();
        long nanos = System.nanoTime() - started;
        DriverMetrics metrics = session.runtime().metrics();
        if (legs.size() == 1) {
            Physical p = legs.get(0).physical;
            metrics.statement(
                    StatementKind.READ,
                    p.node.role() == NodeRole.PRIMARY
                            ? DriverMetrics.RouteKind.PRIMARY
                            : DriverMetrics.RouteKind.REPLICA,
                    p.shard,
                    p.node.role(),
                    nanos,
                    failed);
        } else {
            metrics.statement(StatementKind.READ, DriverMetrics.RouteKind.CROSS_SHARD, -1, null, nanos, failed);
        }
        onEnd.run();
    }
}
