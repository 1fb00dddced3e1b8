package io.shardline.router.exec;

import io.shardline.router.SqlStates;
import io.shardline.router.metrics.DriverMetrics;
import io.shardline.router.sql.StatementKind;
import io.shardline.topology.HashRing;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyOut;

/**
 * A {@code COPY ... TO STDOUT} through the driver: the COPY of the node that answers it (a keyed query, an
 * unsharded or a reference table), or a sharded table's rows from every shard in turn as one stream. Each later
 * shard's header line (text and CSV with {@code HEADER}) is dropped, and in binary format each later shard's file
 * header and each earlier one's trailer, so the stream reads as one table's COPY.
 *
 * <p>While a shard move runs every shard's part is limited to the ranges it owns (as cross-shard reads are). Shards
 * read one after another (not in one atomic set of snapshots) may see a cutover between them: then the stream fails
 * with 40001 before the next shard or at its end, as its rows may hold a moved range twice or miss it. Nothing else
 * runs on the connection until the stream ends ({@code 55000}).
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
    private final long ringVersion;
    private final List<Physical> inSnapshot;
    private final Runnable onEnd;
    private final long started = System.nanoTime();
    private final CopyOut first;
    /** The leg read now (read by a canceller on another thread). */
    private volatile int at;

    private volatile CopyOut current;
    private boolean atLegStart = true;
    private byte[] held;
    private byte[] pending;
    private volatile long rows;
    private volatile boolean active = true;
    /** Held by a read, which may wait on a shard's server; a cancel asks that server until the read lets go. */
    private final ReentrantLock reading = new ReentrantLock();
    /** Why the stream ended before its end (cancelled, failed): later reads throw it again. */
    private volatile SQLException ended;

    /**
     * Starts the first leg's COPY (its errors are thrown here, as pgjdbc's {@code copyOut} throws them).
     *
     * @param what the statement as errors name it
     * @param ownership how a shard move's switch during the stream is seen ({@link CrossShardRead.Ownership#NONE}
     *     when the legs' snapshots were all taken at once, by one ring)
     * @param ring the ring the legs keep to while a move runs, null when none runs
     * @param ringVersion the version of the ring the legs were chosen by
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
            long ringVersion,
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
        this.ringVersion = ringVersion;
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
        CopyOut out;
        try {
            out = leg.physical
                    .connection
                    .unwrap(PGConnection.class)
                    .getCopyAPI()
                    .copyOut(leg.sql);
        } catch (SQLException e) {
            throw onShard(leg, e);
        }
        if (first != null && out.getFieldCount() != first.getFieldCount()) {
            current = out;
            throw new SQLException(
                    what + ": shard " + leg.physical.shard + " gives " + out.getFieldCount() + " fields a row, shard "
                            + legs.get(0).physical.shard + " gave " + first.getFieldCount()
                            + " (the table changed meanwhile): run the COPY again",
                    SqlStates.RETRY_WRITE);
        }
        return out;
    }

    private SQLException onShard(Leg leg, SQLException e) {
        SQLException judged = session.failed(leg.physical, StatementKind.READ, e);
        if (ConnectionErrors.isConnectionError(e)) {
            current = null; // given up with its connection
        }
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
    public byte[] readFromCopy(boolean block) throws SQLException {
        reading.lock();
        try {
            return read(block);
        } finally {
            reading.unlock();
        }
    }

    private byte[] read(boolean block) throws SQLException {
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
        } catch (SQLException | RuntimeException e) {
            throw failed(e);
        }
        SQLException why = ended;
        if (why != null) {
            throw new SQLException(what + " ended before its end: " + why.getMessage(), why.getSQLState(), why);
        }
        return null;
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
        // the shards read so far and the next one must be read by the same ring
        checkRing();
        if (last) {
            current = null;
        } else {
            at++;
            atLegStart = true;
            current = start(legs.get(at));
        }
        pending = tail != null && tail.length > 0 ? tail : null;
    }

    /** @throws SQLException 40001 when a shard move started or switched ranges since the legs were routed */
    private void checkRing() throws SQLException {
        if (legs.size() > 1
                && (!ownership.still(ring)
                        || ownership != CrossShardRead.Ownership.NONE
                                && session.runtime().routing().ring().version() != ringVersion)) {
            throw new SQLException(
                    what + ": a shard move switched ranges while the shards were read one after another, so the rows"
                            + " given may hold the moved ranges twice or miss them: discard them and run the COPY"
                            + " again",
                    SqlStates.RETRY_WRITE);
        }
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
    public boolean isActive() {
        return active;
    }

    /**
     * Ends the COPY; from another thread too: a reader blocked in {@link #readFromCopy} (on the current leg's output,
     * or on the next leg's start, behind a lock there) fails with 57014 ({@link CopyCancel}).
     */
    @Override
    public void cancelCopy() throws SQLException {
        if (!active) {
            return;
        }
        CopyCancel.lock(reading, () -> active ? List.of(legs.get(at).physical) : List.of());
        try {
            if (active) {
                ended = new SQLException(what + " was cancelled", "57014");
                abandonCurrent();
                end();
            }
        } finally {
            reading.unlock();
        }
    }

    /**
     * Ends the current leg's COPY part-way: pgjdbc's cancel sends the server a cancel request and hands the
     * connection back while the rest of the output may still be on its way (the next statement there would read it
     * as its own), so the connection is given up.
     */
    private void abandonCurrent() {
        CopyOut reading = current;
        current = null;
        if (reading == null || !reading.isActive()) {
            return;
        }
        Leg leg = legs.get(at);
        SQLException why = new SQLException(
                what + " was cancelled part-way on " + leg.physical.node.name() + ": its connection is closed",
                "57014");
        try {
            reading.cancelCopy();
        } catch (SQLException e) {
            why.addSuppressed(e);
        }
        session.abandon(leg.physical, why);
    }

    @Override
    public long getHandledRowCount() {
        return rows;
    }

    private SQLException failed(Throwable e) {
        SQLException x = e instanceof SQLException s ? s : SqlStates.internal((RuntimeException) e);
        if (!active) {
            return x;
        }
        ended = x;
        Physical on = legs.get(at).physical;
        abandonCurrent();
        if (on.inTransaction) {
            // a failed statement aborts the transaction it ran in, as in PostgreSQL
            session.abortPartly(what + " failed: " + x.getMessage());
        }
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
        boolean failed = ended != null;
        if (legs.size() == 1) {
            Dispatcher.timedOn(metrics, StatementKind.READ, legs.get(0).physical, nanos, failed);
        } else {
            metrics.statement(StatementKind.READ, DriverMetrics.RouteKind.CROSS_SHARD, -1, null, nanos, failed);
        }
        onEnd.run();
    }
}
