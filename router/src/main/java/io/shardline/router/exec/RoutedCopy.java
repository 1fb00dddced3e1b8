package io.shardline.router.exec;

import io.shardline.router.SqlStates;
import io.shardline.router.metrics.DriverMetrics;
import io.shardline.router.route.Route;
import io.shardline.router.route.RoutingState;
import io.shardline.router.sql.CopyCommand;
import io.shardline.router.sql.CopyRows;
import io.shardline.router.sql.Plan;
import io.shardline.router.sql.StatementKind;
import io.shardline.topology.Node;
import java.io.ByteArrayOutputStream;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.locks.ReentrantLock;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;
import org.postgresql.util.ByteStreamWriter;

/**
 * A {@code COPY table FROM STDIN} whose rows go to the shards owning their keys: each shard's primary runs the same
 * COPY statement and gets its own rows (the header line first), as they are read. Rows are routed in batches, each
 * let in by the move fences' gate with its rows' keys, as a batch of INSERTs would be; all of it runs in one
 * transaction — the connection's, or in autocommit mode one of its own committed when the data ends (two-phase commit
 * when on, else a transaction on each shard committed in turn, as batches are). A COPY that fails rolls back what it
 * wrote (its own transaction), or aborts the connection's transaction, as PostgreSQL's does.
 */
final class RoutedCopy implements CopyIn {
    /** The parameters of a row of a table that is not sharded: none is read. */
    private static final Object[] NO_KEY = new Object[1];

    /** A batch is routed once it holds this many rows or bytes. */
    private static final int BATCH_ROWS = 1000;

    private static final int BATCH_BYTES = 256 * 1024;

    private final Dispatcher dispatcher;
    private final Session session;
    private final String sql;
    private final CopyCommand copy;
    /** The INSERT whose plan routes each row (its key among its parameters), and its parameter count. */
    private final String insert;

    private final int parameters;
    private final int keyIndex;
    /** The fields of a row by the catalog (a COPY without a column list), -1 when the statement names them. */
    private final int expectedFields;

    private final CopyRows rows;
    private final Runnable onEnd;
    private final boolean implicit;
    private final boolean own;

    private final Map<Node, Leg> legs = new LinkedHashMap<>();
    /** The connections the COPY reached, for a cancel from another thread (which may not read {@link #legs}). */
    private final List<Physical> reached = new CopyOnWriteArrayList<>();
    /** Held while rows are written, sent, or the COPY ends; a cancel asks the servers until it is let go. */
    private final ReentrantLock writing = new ReentrantLock();

    private final List<Physical> owned = new ArrayList<>();
    private final ByteArrayOutputStream batch = new ByteArrayOutputStream();
    private final List<Object[]> keys = new ArrayList<>();
    private int[] ends = new int[BATCH_ROWS];
    private long[] lines = new long[BATCH_ROWS];
    private boolean begun;
    private final long started = System.nanoTime();
    private volatile boolean active = true;
    private long handled = -1;

    /** One shard's part: its connection and its COPY. */
    private static final class Leg {
        final Physical physical;
        final CopyIn in;
        final ByteArrayOutputStream pending = new ByteArrayOutputStream();

        Leg(Physical physical, CopyIn in) {
            this.physical = physical;
            this.in = in;
        }
    }

    RoutedCopy(
            Dispatcher dispatcher,
            Session session,
            String sql,
            CopyCommand copy,
            String insert,
            int parameters,
            int keyIndex,
            String keyName,
            int expectedFields,
            Runnable onEnd) {
        this.dispatcher = dispatcher;
        this.session = session;
        this.sql = sql;
        this.copy = copy;
        this.insert = insert;
        this.parameters = parameters;
        this.keyIndex = keyIndex;
        this.expectedFields = expectedFields;
        this.onEnd = onEnd;
        this.rows = new CopyRows(copy, keyIndex, keyName);
        boolean autocommit = session.autoCommit() && !session.inTransaction();
        // bound by forKey: every row on that connection (rows of other shards are refused), in a transaction of its own
        this.implicit =
                autocommit && session.pinnedShard() < 0 && session.runtime().twoPhaseCommit() != null;
        this.own = autocommit && !implicit;
        session.copyStarted(this);
    }

    /** A row read: kept for the next batch, which is sent once it is full. */
    private void row(byte[] data, int start, int end, String key, long line) throws SQLException {
        batch.write(data, start, end - start);
        int row = keys.size();
        if (row == ends.length) {
            ends = Arrays.copyOf(ends, row * 2);
            lines = Arrays.copyOf(lines, row * 2);
        }
        ends[row] = batch.size();
        lines[row] = line;
        if (keyIndex >= 0) {
            Object[] params = new Object[parameters + 1]; // parameter 1 at position 1
            params[keyIndex + 1] = key;
            keys.add(params);
        } else {
            keys.add(NO_KEY);
        }
        if (keys.size() >= BATCH_ROWS || batch.size() >= BATCH_BYTES) {
            send();
        }
    }

    @Override
    public void writeToCopy(byte[] buf, int off, int siz) throws SQLException {
        writing.lock();
        try {
            checkActive();
            try {
                rows.feed(buf, off, siz, this::row);
            } catch (SQLException | RuntimeException e) {
                throw failed(e);
            }
        } finally {
            writing.unlock();
        }
    }

    @Override
    public void writeToCopy(ByteStreamWriter from) throws SQLException {
        int length = from.getLength();
        ByteArrayOutputStream out = new ByteArrayOutputStream(Math.max(0, length));
        try {
            from.writeTo(() -> out);
        } catch (java.io.IOException e) {
            throw failed(new SQLException("COPY: the ByteStreamWriter failed: " + e.getMessage(), "58030", e));
        }
        byte[] bytes = out.toByteArray();
        writeToCopy(bytes, 0, bytes.length);
    }

    @Override
    public void flushCopy() throws SQLException {
        writing.lock();
        try {
            checkActive();
            try {
                send();
            } catch (SQLException | RuntimeException e) {
                throw failed(e);
            }
        } finally {
            writing.unlock();
        }
    }

    @Override
    public long endCopy() throws SQLException {
        writing.lock();
        try {
            checkActive();
            return finish();
        } finally {
            writing.unlock();
        }
    }

    /** Sends what is left, ends every part's COPY and commits what the COPY began; the rows written. */
    private long finish() throws SQLException {
        long count = 0;
        try {
            rows.finish(this::row);
            send();
            for (Leg leg : legs.values()) {
                try {
                    count += leg.in.endCopy();
                } catch (SQLException e) {
                    throw onShard(leg, e);
                }
            }
            Plan plan = plan(session.runtime().routing());
            for (Leg leg : legs.values()) {
                session.executed(leg.physical, plan, false);
            }
            if (implicit && begun) {
                session.commit();
            } else if (own) {
                for (Physical p : owned) {
                    try (Statement s = p.connection.createStatement()) {
                        s.execute("SET CONSTRAINTS ALL IMMEDIATE"); // a deferred one fails now, not at COMMIT
                    }
                }
                dispatcher.commitEach(owned, plan, new ArrayList<>());
            }
        } catch (SQLException | RuntimeException e) {
            throw failed(e);
        }
        active = false;
        handled = count;
        end();
        return count;
    }

    @Override
    public void cancelCopy() throws SQLException {
        if (!active) {
            return;
        }
        // a writer may wait on a shard (its COPY starting behind a lock there): its servers are asked to cancel
        CopyCancel.lock(writing, () -> active ? reached : List.of());
        try {
            if (active) {
                failed(new SQLException("COPY cancelled", "57014"));
            }
        } finally {
            writing.unlock();
        }
    }

    @Override
    public int getFieldCount() {
        return legs.isEmpty() ? 0 : legs.values().iterator().next().in.getFieldCount();
    }

    @Override
    public int getFormat() {
        return copy.format() == CopyCommand.Format.BINARY ? 1 : 0;
    }

    @Override
    public int getFieldFormat(int field) {
        return getFormat();
    }

    @Override
    public boolean isActive() {
        return active;
    }

    @Override
    public long getHandledRowCount() {
        return handled;
    }

    private void checkActive() throws SQLException {
        if (!active) {
            throw new SQLException("this COPY has ended", SqlStates.INVALID_TRANSACTION_STATE);
        }
    }

    private Plan plan(RoutingState r) {
        return dispatcher.plan(r, insert);
    }

    /** Routes the rows read so far, lets them in at the gate, and sends each to its shard. */
    private void send() throws SQLException {
        if (keys.isEmpty()) {
            return;
        }
        ClusterRuntime runtime = session.runtime();
        Plan plan = plan(runtime.routing());
        boolean gated = dispatcher.gated(plan, runtime.routing());
        int ticket = gated ? runtime.awaitWritable(plan, keys, session) : 0;
        boolean leased = gated || Dispatcher.leased(plan);
        if (!gated && leased) {
            runtime.awaitLease("this COPY's rows", "the COPY failed; run it again");
        }
        try {
            RoutingState r = runtime.routing();
            plan = plan(r);
            byte[] data = batch.toByteArray();
            List<Leg> touched = new ArrayList<>();
            int from = 0;
            for (int row = 0; row < keys.size(); row++) {
                Route route;
                try {
                    route = session.route(r, plan, keys.get(row));
                } catch (SQLException e) {
                    throw new SQLException("COPY line " + lines[row] + ": " + e.getMessage(), e.getSQLState(), e);
                }
                if (route.target() != Route.Target.NODE) {
                    throw route.target() == Route.Target.REFUSED
                            ? route.refusal()
                            : new SQLException(
                                    "COPY line " + lines[row] + " cannot be routed to one shard: " + route.message(),
                                    SqlStates.FEATURE_NOT_SUPPORTED);
                }
                Leg leg = legs.get(route.node());
                if (leg == null) {
                    leg = open(route, plan);
                }
                if (leg.pending.size() == 0) {
                    touched.add(leg);
                }
                leg.pending.write(data, from, ends[row] - from);
                from = ends[row];
            }
            if (leased && !runtime.writeLeaseHolds()) {
                throw session.leaseRanOut(touched.get(0).physical.node.name());
            }
            for (Leg leg : touched) {
                try {
                    byte[] part = leg.pending.toByteArray();
                    leg.pending.reset();
                    leg.in.writeToCopy(part, 0, part.length);
                    leg.in.flushCopy(); // sent before the gate lets a cutover go on
                } catch (SQLException e) {
                    throw onShard(leg, e);
                }
            }
        } finally {
            batch.reset();
            keys.clear();
            if (gated) {
                runtime.writeDone(ticket);
            }
        }
    }

    /** Starts the COPY on the primary {@code route} names, in the transaction, and sends it the header line. */
    private Leg open(Route route, Plan plan) throws SQLException {
        Route use = route;
        if (implicit) {
            use = Route.node(route.shard(), route.node(), begun ? Route.Use.JOIN : Route.Use.BEGIN, route.why());
            begun = true;
        }
        Physical p = dispatcher.open(use);
        reached.add(p);
        if (own) {
            p.ownTransaction = true;
            owned.add(p);
            p.connection.setAutoCommit(false);
        }
        Leg leg;
        try {
            if (keyIndex >= 0) {
                // PostgreSQL's COPY holds rows in a buffer before it writes them, so its transaction may have no id
                // yet when this batch leaves the gate: a move's cutover waits only for transactions with one
                try (Statement s = p.connection.createStatement()) {
                    s.execute("SELECT pg_current_xact_id()");
                }
            }
            leg = new Leg(
                    p, p.connection.unwrap(PGConnection.class).getCopyAPI().copyIn(sql));
        } catch (SQLException e) {
            throw session.failed(p, plan.kind(), e);
        }
        legs.put(route.node(), leg);
        if (expectedFields >= 0 && leg.in.getFieldCount() != expectedFields) {
            // the catalog read is stale (DDL in this transaction, or run on the shards directly): the key's place
            // among the fields may have moved
            session.runtime().schemaChanged();
            throw new SQLException(
                    "COPY into " + copy.table() + ": shard " + leg.physical.shard + " takes " + leg.in.getFieldCount()
                            + " fields a row, the driver's read of the catalog " + expectedFields
                            + " (the table changed"
                            + " since): run the COPY again, or name its columns",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        byte[] header = rows.header();
        if (header != null) {
            try {
                leg.in.writeToCopy(header, 0, header.length);
            } catch (SQLException e) {
                throw onShard(leg, e);
            }
        }
        return leg;
    }

    private SQLException onShard(Leg leg, SQLException e) {
        SQLException judged = session.failed(leg.physical, StatementKind.WRITE, e);
        return new SQLException(
                "COPY into " + copy.table() + " failed on shard " + leg.physical.shard + " ("
                        + leg.physical.node.name() + "): " + judged.getMessage()
                        + " (its line numbers count the rows sent to that shard)",
                judged.getSQLState(),
                judged);
    }

    /**
     * Ends the COPY after {@code e}: every shard's COPY is cancelled, its own transaction rolled back, or the
     * connection's transaction aborted (statements then fail until rollback, as after a failed COPY in PostgreSQL).
     */
    private SQLException failed(Throwable e) {
        SQLException x = e instanceof SQLException s ? s : SqlStates.internal((RuntimeException) e);
        if (!active) {
            return x;
        }
        active = false;
        for (Leg leg : legs.values()) {
            if (leg.in.isActive()) {
                try {
                    leg.in.cancelCopy();
                } catch (SQLException suppressed) {
                    x.addSuppressed(suppressed);
                }
            }
        }
        try {
            if (implicit && begun) {
                session.rollback();
            } else if (!implicit && !own && session.inTransaction()) {
                session.abortPartly("a COPY failed: " + x.getMessage());
            }
        } catch (SQLException suppressed) {
            x.addSuppressed(suppressed);
        }
        end();
        return x;
    }

    private void end() {
        session.copyEnded(this);
        // one statement in the driver's metrics: on the shard it wrote, or on several
        boolean failed = handled < 0;
        long nanos = System.nanoTime() - started;
        if (legs.size() == 1) {
            Physical p = legs.values().iterator().next().physical;
            session.runtime()
                    .metrics()
                    .statement(
                            StatementKind.WRITE,
                            DriverMetrics.RouteKind.PRIMARY,
                            p.shard,
                            p.node.role(),
                            nanos,
                            failed);
        } else {
            DriverMetrics.RouteKind route =
                    legs.isEmpty() ? DriverMetrics.RouteKind.DRIVER : DriverMetrics.RouteKind.EVERY_SHARD;
            session.runtime().metrics().statement(StatementKind.WRITE, route, -1, null, nanos, failed);
        }
        if (own) {
            dispatcher.endOwnTransactions(owned);
            owned.clear();
        }
        batch.reset();
        keys.clear();
        onEnd.run();
    }
}
