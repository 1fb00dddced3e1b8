package io.shardline.router.exec;

import io.shardline.router.SqlStates;
import io.shardline.router.metrics.DriverMetrics;
import io.shardline.router.metrics.DriverTracing;
import io.shardline.router.route.Route;
import io.shardline.router.route.RoutingState;
import io.shardline.router.sql.CopyCommand;
import io.shardline.router.sql.CrossShardQuery;
import io.shardline.router.sql.InsertRows;
import io.shardline.router.sql.KeyGroup;
import io.shardline.router.sql.Plan;
import io.shardline.router.sql.SqlLexer;
import io.shardline.router.sql.StatementKind;
import io.shardline.topology.HashRing;
import io.shardline.topology.LagReport;
import io.shardline.topology.LagSnapshot;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.ShardedTable;
import java.sql.BatchUpdateException;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongConsumer;
import org.postgresql.copy.CopyIn;
import org.postgresql.copy.CopyOut;
import org.postgresql.util.PSQLState;

/**
 * Runs the statements of one logical statement, plain or prepared: each execution enters the move fences' gate when
 * it writes to a sharded table, asks its {@link Session} for the {@link Route}, and runs it — on one node (retried
 * once elsewhere when an autocommit read's replica broke), on every primary, on every shard in one transaction, or
 * across shards. It holds the physical statements it made, one per physical connection, and the one whose results
 * the application reads.
 */
public final class Dispatcher {
    /** How the logical statement makes and binds its statement on one node. */
    public interface Shape {
        /** The plan of {@code sql} by routing state {@code r} (from its cache, or the statement's own). */
        Plan plan(RoutingState r, String sql);

        /** A new physical statement on {@code p}, with the logical statement's options. */
        Statement create(Physical p) throws SQLException;

        /**
         * A new physical statement on {@code p}, with the logical statement's options, for {@code sql} instead of
         * the logical statement's text (a prepared statement is prepared with it; a plain one is the same).
         */
        Statement create(Physical p, String sql) throws SQLException;

        /** Whether the application asked for generated keys when it prepared the statement. */
        boolean generatedKeys();

        /** Binds the current parameter values (a prepared statement), or nothing (a plain one). */
        void bind(Statement s) throws SQLException;

        /** Whether the SQL's {@code ?} are placeholders (else the jsonb operator). */
        boolean prepared();

        /** Binds parameter {@code original} (1-based) of the statement at {@code index} of another statement. */
        void bindAt(PreparedStatement ps, int index, int original) throws SQLException;

        /** Seconds, 0 for none. */
        int queryTimeout();

        /** {@code Statement.setMaxRows}'s limit, 0 for none. */
        int maxRows();

        /** Whether its result sets are updatable ({@code CONCUR_UPDATABLE}). */
        boolean updatable();

        /** Its result sets' type ({@code TYPE_FORWARD_ONLY}, {@code TYPE_SCROLL_INSENSITIVE}...). */
        default int resultSetType() {
            return ResultSet.TYPE_FORWARD_ONLY;
        }
    }

    /** One JDBC call on a physical statement. */
    public interface Op<T> {
        T apply(Statement physical) throws SQLException;
    }

    /** The result of a statement the driver answered itself ({@code physical} is set for SHOW and cross-shard). */
    public interface Handled<T> {
        T of(Statement physical) throws SQLException;
    }

    /** Binds row {@code row} of a batch on a physical prepared statement. */
    public interface RowBinder {
        void bind(PreparedStatement ps, int row) throws SQLException;
    }

    private final Session session;
    private final Shape shape;
    /** By node: most statements run on one or two (an application may create one per execution: kept small). */
    private final NodeStatements statements = new NodeStatements();

    private final List<Statement> driverStatements = new ArrayList<>();
    /** Statements running on shards for a cross-shard read, for {@link #cancel()}; made by the first such read. */
    private volatile Set<CrossShardRead.Cancellable> running;
    /** The physical statement of the last execution: results, update counts and generated keys come from it. */
    private volatile Statement current;
    /**
     * The shards of the last batch when its rows went to several: its generated keys are spread over their statements
     * ({@link #current} holds one shard's only); null otherwise.
     */
    private String batchShards;
    /**
     * The warnings of the last execution's statements other than {@link #current}: each shard's part of a cross-shard
     * read, each shard's statement of a write run on every shard (each a chain).
     */
    private final List<SQLWarning> partWarnings = new ArrayList<>(0);
    /** The update count of a statement the driver answered itself, until read; -1 for none. */
    private long driverUpdateCount = -1;
    /** The final query of the last cross-shard read, open while its result set is read. */
    private Statement crossShardStatement;
    /** Whether a statement is being timed ({@link #run}), and the node it ran on when it ran on one. */
    private boolean timing;
    /** A write the fences' gate let in runs: each statement is sent only while this router's lease holds. */
    private boolean leased;

    private Physical ranOn;
    /** The span of the statement running now ({@link DriverTracing.Span#NONE} between statements). */
    private DriverTracing.Span span = DriverTracing.Span.NONE;
    /** The current statement's span hears how long a fence held it; made by the first write the gate takes. */
    private LongConsumer fenceWaited;
    /** Set by {@link #cancel()}, cleared when a statement starts: ends a hold of it in the driver. */
    private volatile boolean cancelRequested;

    /** The last {@link #holdLimit}: made again only when the query timeout or the runtime changed. */
    private HoldLimit holdLimit;
    /**
     * A single statement's parameters as the fences' gate takes rows: one list for every statement of this one, not
     * one each; made by the first write the gate takes (kits prepare a statement per execution: most never need it).
     */
    private Object[][] oneRow;

    private List<Object[]> oneRowList;
    /** The nodes the last batch ran on. */
    private final List<Physical> batchNodes = new ArrayList<>();
    /**
     * The connections the last cross-shard read used apart from the transaction ({@link Route.Use#APART}), kept
     * while its final query's result is open.
     */
    private final List<Physical> apart = new ArrayList<>();
    /** How many times a cross-shard read is routed again when shards take ranges while it is routed. */
    private static final int REROUTES = 3;

    public Dispatcher(Session session, Shape shape) {
        this.session = session;
        this.shape = shape;
    }

    /**
     * Runs {@code sql} with these parameter values (index 1 at position 1; null for a plain statement). A write to a
     * sharded table is routed by the routing state read once the gate let it in: its ring is at least as new as the
     * one the fences checked.
     *
     * @param op the call on the physical statement of a node
     * @param handled the result when the driver answered (null statement: an update count of 0)
     */
    public <T> T run(String sql, Object[] params, Op<T> op, Handled<T> handled) throws SQLException {
        try {
            return runChecked(sql, params, op, handled);
        } catch (RuntimeException e) {
            throw SqlStates.internal(e);
        }
    }

    /** The node whose part of the batch running failed last (a read-only refusal may be routed again). */
    private Physical refusedPart;

    /** How many times a statement not sent (its primary replaced meanwhile) is routed again. */
    private static final int MAX_REROUTES = 3;

    private <T> T runChecked(String sql, Object[] params, Op<T> op, Handled<T> handled) throws SQLException {
        clearCancel();
        session.checkNotCopying();
        // as pgjdbc: the last execution's results are gone, also when this one is refused before it runs
        current = null;
        partWarnings.clear();
        driverUpdateCount = -1;
        releaseApart();
        ClusterRuntime runtime = session.runtime();
        RoutingState r = runtime.routing();
        Plan plan = shape.plan(r, sql);
        session.checkNotFailed(plan);
        span = runtime.tracing().statement(plan.kind(), sql);
        session.statementSpan(span);
        try {
            for (int attempt = 1; ; attempt++) {
                ranOn = null;
                try {
                    return gatedRun(sql, r, plan, params, op, handled);
                } catch (NodePools.Abandoned notSent) {
                    // its primary was replaced while it waited for a connection: unless an earlier statement of its
                    // transaction ran somewhere (the transaction's first statement may go elsewhere), route it again
                    if (session.transactionStarted() || attempt == MAX_REROUTES) {
                        throw notSent;
                    }
                    // a failover holds its node (a read of its primary): routed again once the topology changes
                    runtime.awaitTopologyChange(r);
                    r = runtime.routing();
                    plan = shape.plan(r, sql);
                } catch (SQLException e) {
                    if (!readOnlyRefusalPassed(e, ranOn, attempt)) {
                        throw e;
                    }
                    r = runtime.routing();
                    plan = shape.plan(r, sql);
                }
            }
        } catch (SQLException e) {
            span.failed(e);
            session.failedInTransaction(plan, e);
            throw e;
        } catch (RuntimeException e) {
            span.failed(e);
            throw e;
        } finally {
            session.statementSpan(DriverTracing.Span.NONE);
            span.close();
            span = DriverTracing.Span.NONE;
        }
    }

    /** Whether the node of {@code p} is in recovery (a standby); false when it cannot tell. */
    private static boolean inRecovery(Physical p) {
        try (Statement s = p.connection.createStatement();
                ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery()")) {
            return rs.next() && rs.getBoolean(1);
        } catch (SQLException e) {
            return false;
        }
    }

    /**
     * Whether {@code e} is a read-only refusal (25006) by a primary being replaced — in recovery (demoted, another node
     * promoted), no longer the topology's, or made read-only by a switchover of its shard — and the topology has named
     * the new primary since (or the switchover gave the shard back): nothing ran (autocommit), so the statement is
     * routed again. False for a primary's own read-only setting, in a transaction, or after {@link #MAX_REROUTES}.
     *
     * @throws SQLException 25006 saying why, when the primary is being replaced but nothing changed in {@code
     *     fenceWaitMs}
     */
    private boolean readOnlyRefusalPassed(SQLException e, Physical refusedBy, int attempt) throws SQLException {
        return !session.inTransaction() && replacedPrimaryRefusalPassed(e, refusedBy, attempt);
    }

    /**
     * {@link #readOnlyRefusalPassed} for a statement of a batch that ran as one transaction of its own, once that
     * transaction was rolled back: nothing of the batch ran, so it may run again whole when this says so.
     *
     * @param attempt how many times the batch ran
     * @throws SQLException 25006 saying why, as {@link #readOnlyRefusalPassed}
     */
    public boolean rolledBackRefusalPassed(SQLException e, int attempt) throws SQLException {
        return replacedPrimaryRefusalPassed(e, ranOn, attempt);
    }

    private boolean replacedPrimaryRefusalPassed(SQLException e, Physical refusedBy, int attempt) throws SQLException {
        if (!SqlStates.READ_ONLY_TRANSACTION.equals(e.getSQLState())
                || attempt == MAX_REROUTES
                || refusedBy == null
                || refusedBy.node.role() != NodeRole.PRIMARY) {
            return false;
        }
        boolean standby = inRecovery(refusedBy);
        if (!standby && !replaced(refusedBy)) {
            return false; // the primary's own read-only setting
        }
        if (!awaitOtherPrimary(refusedBy, standby)) {
            throw new SQLException(
                    refusedBy.node.name() + " refused the statement as read-only: "
                            + (standby
                                    ? "it is in recovery (a standby), yet the topology still names it the primary of"
                                            + " shard " + refusedBy.shard
                                    : "a switchover of shard " + refusedBy.shard + " holds it still")
                            + " after " + session.runtime().settings().fenceWaitMs() + " ms (fenceWaitMs)."
                            + (standby
                                    ? " Was another node promoted? Publish it (shard switchover, shard failover) and"
                                            + " retry"
                                    : " Retry once the switchover is over"),
                    SqlStates.READ_ONLY_TRANSACTION,
                    e);
        }
        return true;
    }

    /** Whether pgjdbc's failure of a physical batch says none of its rows ran. */
    private static boolean nothingWritten(SQLException x) {
        if (!(x instanceof BatchUpdateException b)) {
            return false;
        }
        for (int count : b.getUpdateCounts()) {
            if (count != Statement.EXECUTE_FAILED) {
                return false;
            }
        }
        return true;
    }

    /** Whether the topology no longer names {@code p}'s node its shard's primary, or a switchover holds the shard. */
    private boolean replaced(Physical p) {
        RoutingState now = session.runtime().routing();
        return !p.node.equals(now.primary(p.shard)) || switching(now, p.shard);
    }

    private static boolean switching(RoutingState r, int shard) {
        for (io.shardline.topology.Shard s : r.switching()) {
            if (s.id() == shard) {
                return true;
            }
        }
        return false;
    }

    /**
     * Waits (up to {@code fenceWaitMs}) until the topology names another primary for the shard of {@code p}, or, for a
     * node not in recovery ({@code standby} false), no switchover holds the shard any longer with {@code p} still its
     * primary (it gave the shard back: writable again).
     */
    private boolean awaitOtherPrimary(Physical p, boolean standby) throws SQLException {
        ClusterRuntime runtime = session.runtime();
        long deadline = System.nanoTime() + runtime.settings().fenceWaitMs() * 1_000_000;
        while (p.node.equals(runtime.routing().primary(p.shard))
                && (standby || switching(runtime.routing(), p.shard))) {
            if (System.nanoTime() - deadline > 0) {
                return false;
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new SQLException("interrupted while waiting for a new primary", "57014", ie);
            }
        }
        return true;
    }

    private <T> T gatedRun(String sql, RoutingState r, Plan plan, Object[] params, Op<T> op, Handled<T> handled)
            throws SQLException {
        ClusterRuntime runtime = session.runtime();
        if (!gated(plan, r)) {
            if (!leased(plan)) {
                return run(sql, plan, params, session.route(r, plan, params), op, handled);
            }
            boolean waited = runtime.awaitLease("this write", "retry it", holdLimit(runtime));
            RoutingState now = runtime.routing();
            if (waited || now != r) {
                // the topology may have changed since the statement's start (a failover published, a hold): routed
                // by the state the lease check saw current
                return gatedRun(sql, now, shape.plan(now, sql), params, op, handled);
            }
            leased = true;
            try {
                return run(sql, plan, params, session.route(r, plan, params), op, handled);
            } finally {
                leased = false;
            }
        }
        int ticket;
        if (oneRow == null) {
            oneRow = new Object[1][];
            oneRowList = Arrays.asList(oneRow);
            fenceWaited = nanos -> span.fenceWait(nanos);
        }
        oneRow[0] = params;
        try {
            ticket = runtime.awaitWritable(plan, oneRowList, session, fenceWaited, holdLimit(runtime));
        } finally {
            oneRow[0] = null;
        }
        leased = true;
        try {
            RoutingState now = runtime.routing();
            Plan current = shape.plan(now, sql);
            return run(sql, current, params, session.route(now, current, params), op, handled);
        } finally {
            leased = false;
            runtime.writeDone(ticket);
        }
    }

    /** Forgets a cancel of an earlier statement: read first, as a volatile write per statement costs a fence. */
    private void clearCancel() {
        if (cancelRequested) {
            cancelRequested = false;
        }
    }

    /** How long the driver may hold this statement: {@code fenceWaitMs}, its query timeout, a cancel. */
    private HoldLimit holdLimit(ClusterRuntime runtime) {
        HoldLimit limit = holdLimit;
        long fenceWaitMs = runtime.settings().fenceWaitMs();
        int queryTimeout = shape.queryTimeout();
        if (limit == null || limit.fenceWaitMs() != fenceWaitMs || limit.queryTimeoutSeconds() != queryTimeout) {
            limit = new HoldLimit(fenceWaitMs, queryTimeout, () -> cancelRequested);
            holdLimit = limit;
        }
        return limit;
    }

    /**
     * Whether the statement passes the fences' gate: a write to a sharded or reference table (a cutover gives a shard
     * ranges, and a shard just added its reference tables, while writes to them are held); while a primary switchover
     * runs, every write and every statement in a transaction (the gate decides which touch the switching shard).
     */
    boolean gated(Plan plan, RoutingState r) {
        if (!r.switching().isEmpty()) {
            // a primary switchover holds every write of its shard, a transaction's first statement there, and the
            // reads that may write on the home primary (nextval, a function called without a table)
            return plan.kind() != StatementKind.READ
                    || session.inTransaction()
                    || plan.target() == Plan.Target.ANY
                    || plan.target() == Plan.Target.SEQUENCE;
        }
        return plan.kind() != StatementKind.READ
                && (plan.target() == Plan.Target.KEYED
                        || plan.target() == Plan.Target.EVERY_SHARD
                        || plan.target() == Plan.Target.REFERENCE_WRITE);
    }

    /**
     * Whether a statement {@link #gated} lets by needs this router's ZooKeeper lease all the same: a write to an
     * unsharded table, a sequence function, DDL or a utility command (COPY, CALL, DO...) runs on a primary a failover
     * may have replaced while this router was cut off from ZooKeeper.
     */
    static boolean leased(Plan plan) {
        Plan.Target t = plan.target();
        if (t == Plan.Target.DRIVER || t == Plan.Target.REFUSED) {
            return false;
        }
        return plan.kind() == StatementKind.WRITE
                || plan.kind() == StatementKind.DDL
                // COPY into an unsharded table, CALL, DO; not LISTEN/NOTIFY/CHECKPOINT (ANY) nor VACUUM (each primary)
                || plan.kind() == StatementKind.UTILITY && (t == Plan.Target.HOME || t == Plan.Target.ALL_PRIMARIES)
                || t == Plan.Target.SEQUENCE;
    }

    private <T> T run(String sql, Plan plan, Object[] params, Route route, Op<T> op, Handled<T> handled)
            throws SQLException {
        if (timing) {
            // routed again inside a statement being timed (a cross-shard read that became a single-shard one)
            return dispatch(sql, plan, params, route, op, handled);
        }
        timing = true;
        ranOn = null;
        long started = System.nanoTime();
        boolean failed = true;
        try {
            T result = dispatch(sql, plan, params, route, op, handled);
            failed = false;
            return result;
        } finally {
            timing = false;
            timed(plan.kind(), route, ranOn, System.nanoTime() - started, failed);
            traced(route, ranOn);
        }
    }

    /** {@link Route.Why} names as span attributes, made once. */
    private static final String[] WHY = java.util.Arrays.stream(Route.Why.values())
            .map(w -> w.name().toLowerCase(Locale.ROOT))
            .toArray(String[]::new);

    /** Says on the statement's span where it ran and why. */
    private void traced(Route route, Physical on) {
        if (span == DriverTracing.Span.NONE) {
            return;
        }
        switch (route.target()) {
            case NODE -> {
                Node node = on != null ? on.node : route.node();
                span.route(
                        node.role() == NodeRole.PRIMARY ? "primary" : "replica",
                        route.shard(),
                        node,
                        WHY[route.why().ordinal()]);
                if (node.role() != NodeRole.PRIMARY) {
                    LagSnapshot lag = session.runtime().lag();
                    // through the connection's node state: looked up once per snapshot, not by name per statement
                    LagReport report = on != null ? on.lag(lag) : lag.get(node.name());
                    if (report != null) {
                        span.lagMs(report.lagMs());
                    }
                }
            }
            case CROSS_SHARD -> span.route("cross_shard", -1, null, route.message());
            case EVERY_PRIMARY, ALL_OR_NONE, EVERY_SHARD -> span.route("every_shard", -1, null, route.message());
            case REFUSED -> span.route("refused", -1, null, route.sqlState());
            default -> span.route("driver", -1, null, route.message());
        }
    }

    /** Records one statement with the runtime's metrics: where it ran ({@code on}: the node, when one). */
    private void timed(StatementKind kind, Route route, Physical on, long nanos, boolean failed) {
        DriverMetrics metrics = session.runtime().metrics();
        if (metrics == DriverMetrics.NOOP) {
            return;
        }
        switch (route.target()) {
            case NODE -> {
                NodeRole role = on != null ? on.node.role() : route.node().role();
                metrics.statement(
                        kind,
                        role == NodeRole.PRIMARY ? DriverMetrics.RouteKind.PRIMARY : DriverMetrics.RouteKind.REPLICA,
                        route.shard(),
                        role,
                        nanos,
                        failed);
            }
            case CROSS_SHARD -> metrics.statement(kind, DriverMetrics.RouteKind.CROSS_SHARD, -1, null, nanos, failed);
            case EVERY_PRIMARY, ALL_OR_NONE, EVERY_SHARD ->
                metrics.statement(kind, DriverMetrics.RouteKind.EVERY_SHARD, -1, NodeRole.PRIMARY, nanos, failed);
            case REFUSED -> metrics.statement(kind, DriverMetrics.RouteKind.REFUSED, -1, null, nanos, true);
            default -> metrics.statement(kind, DriverMetrics.RouteKind.DRIVER, -1, null, nanos, failed);
        }
    }

    private <T> T dispatch(String sql, Plan plan, Object[] params, Route route, Op<T> op, Handled<T> handled)
            throws SQLException {
        if (shape.updatable() && returnsRows(sql, plan)) {
            refuseUpdatable(sql, plan, route);
        }
        switch (route.target()) {
            case REFUSED:
                throw route.refusal();
            case DRIVER: {
                if (shape.prepared()
                        && plan.parameterCount() > 0
                        && !plan.command().equals("EXPLAIN ROUTE")) {
                    throw new SQLException(plan.command() + " cannot take parameters", SqlStates.FEATURE_NOT_SUPPORTED);
                }
                // the results of its earlier executions the driver answered (SHOW), as an execution closes them
                for (Statement earlier : driverStatements) {
                    close(earlier, null);
                }
                driverStatements.clear();
                Statement s = session.handle(plan, sql, params);
                if (s != null) {
                    driverStatements.add(s);
                } else {
                    driverUpdateCount = 0;
                }
                current = s;
                return handled.of(s);
            }
            case PENDING:
                session.defer(plan, sql);
                current = null;
                driverUpdateCount = 0;
                return handled.of(null);
            case EVERY_PRIMARY:
                return onEveryPrimary(plan, route, op);
            case ALL_OR_NONE:
                return allOrNone(plan, route, op);
            case EVERY_SHARD:
                return plan.splitsRowsWhenSpanning()
                        ? splitRows(sql, plan, params, route, op)
                        : onEveryShard(plan, route, op);
            case CROSS_SHARD:
                return crossShard(sql, plan, params, route, op, handled);
            case NODE:
            default: {
                if (route.use() == Route.Use.APART) {
                    // (a sequence function beside a transaction that holds the home primary's connection: the
                    // connection of its last run is handed back, as a cross-shard read's are)
                    releaseApart();
                }
                Physical p = open(route);
                ranOn = p;
                if (route.use() == Route.Use.APART) {
                    apart.add(p);
                }
                if (plan.target() == Plan.Target.BOUND
                        && (route.use() == Route.Use.TRANSACTION
                                || (route.use() == Route.Use.PINNED && session.inTransaction()))) {
                    session.bindTransaction(plan.command());
                } else if (p.inTransaction && plan.setsUncarried(sql, params)) {
                    // what it sets stays on this shard: the transaction may not reach another without it
                    session.bindTransaction("set_config(..., true) of a setting the driver cannot carry to other"
                            + " shards (a custom name with a dot, a plain string value, is carried)");
                }
                try {
                    T result;
                    try {
                        result = execute(p, plan, op);
                    } catch (SQLException e) {
                        if (PSQLState.TOO_MANY_RESULTS.getState().equals(e.getSQLState())) {
                            // pgjdbc's executeUpdate refused the row the server answered: what it set is set
                            settingsRan(route, plan, params, p);
                        }
                        throw e;
                    }
                    settingsRan(route, plan, params, p);
                    session.transactionModesRan(plan, p);
                    if (plan.target() == Plan.Target.BOUND) {
                        session.savepointRan(plan.command(), plan.setting());
                    }
                    return result;
                } catch (SQLException e) {
                    if (!session.retryElsewhere(p, plan.kind(), e)) {
                        throw e;
                    }
                    Route again = session.route(plan, params);
                    if (again.target() != Route.Target.NODE) {
                        throw e;
                    }
                    session.runtime().metrics().retry(DriverMetrics.Retry.REPLICA_UNREACHABLE);
                    ranOn = open(again);
                    return execute(ranOn, plan, op);
                }
            }
        }
    }

    /** After a statement that ran on {@code p}: the transaction keeps, or the session applies, what it set. */
    private void settingsRan(Route route, Plan plan, Object[] params, Physical p) throws SQLException {
        if (route.why() == Route.Why.TRANSACTION_SETTING) {
            session.keepSetting(plan, params);
        } else if (!plan.setConfig().isEmpty()) {
            session.configured(plan, params, p);
        }
    }

    /**
     * An updatable result set writes through the one node that produced it, behind the driver's back: refused when
     * that would write a temporary table (a cross-shard read), one copy of a reference table, or a sharded table (an
     * inserted or re-keyed row would stay on that shard, and a move's fence cannot hold the write).
     */
    /** Whether {@code sql} is a read whose rows an updatable result set could write back: a SELECT, locking or not. */
    private static boolean returnsRows(String sql, Plan plan) {
        if (plan.kind() == StatementKind.READ) {
            return true;
        }
        List<SqlLexer.Token> tokens = SqlLexer.tokenize(sql);
        return !tokens.isEmpty() && (tokens.get(0).is("SELECT") || tokens.get(0).is("WITH"));
    }

    private void refuseUpdatable(String sql, Plan plan, Route route) throws SQLException {
        if (route.target() == Route.Target.CROSS_SHARD) {
            throw new SQLException(
                    "an updatable result set (CONCUR_UPDATABLE) of a read across shards cannot write its rows back:"
                            + " update them with UPDATE statements",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        if (plan.target() == Plan.Target.KEYED) {
            String sharded = session.runtime().routing().shardedTableIn(sql);
            throw new SQLException(
                    "an updatable result set (CONCUR_UPDATABLE) over "
                            + (sharded != null ? "the sharded table " + sharded : "a sharded table") + " is not"
                            + " supported: a row it inserted or whose key it changed would stay on the shard that read"
                            + " it, and a shard move could not hold its writes. Write it with INSERT/UPDATE/DELETE"
                            + " statements",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        String reference = session.runtime().routing().referenceTableIn(sql);
        if (reference != null) {
            throw new SQLException(
                    "an updatable result set (CONCUR_UPDATABLE) over the reference table " + reference + " would change"
                            + " the copy of one shard only: write it with INSERT/UPDATE/DELETE statements",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
    }

    private <T> T execute(Physical p, Plan plan, Op<T> op) throws SQLException {
        Statement s = statement(p);
        shape.bind(s);
        return onPhysical(p, plan, s, op);
    }

    private Statement statement(Physical p) throws SQLException {
        Statement s = statements.get(p);
        if (s == null) {
            s = shape.create(p);
            statements.put(p, s);
        }
        return s;
    }

    /**
     * Runs {@code op} on {@code s}, a statement of {@code p}: counts it in flight for the replica choice, tells the
     * session what ran, and lets the session judge a failure.
     */
    private <T> T onPhysical(Physical p, Plan plan, Statement s, Op<T> op) throws SQLException {
        if (leased && !session.runtime().writeLeaseHolds()) {
            // let in while the lease held, it reached its connection too late: a cutover may go on without this router
            throw session.leaseRanOut(p.node.name());
        }
        current = s;
        batchShards = null;
        if (plan.sessionEffects()) {
            // before it runs: a statement that fails may still have left its lock or listener behind
            p.sessionMayHaveChanged();
        }
        T result;
        p.running();
        try {
            result = op.apply(s);
        } catch (SQLException e) {
            if (ConnectionErrors.isConnectionError(e)) {
                statements.remove(p);
            }
            throw session.failed(p, plan.kind(), plan.sessionEffects(), e);
        } finally {
            p.done();
        }
        session.executed(p, plan, shape.updatable());
        return result;
    }

    /**
     * A write without a shard key, DDL, or a write to a reference table on every shard's primary in one transaction:
     * the connection's, or (in autocommit mode) one of its own committed with two-phase commit at once. The update
     * count is the sum — but for a reference table, whose copies are alike, the results of one shard's copy (update
     * count, RETURNING rows).
     */
    private <T> T onEveryShard(Plan plan, Route route, Op<T> op) throws SQLException {
        boolean implicit = session.autoCommit();
        boolean copies = plan.target() == Plan.Target.REFERENCE_WRITE;
        if (!copies && plan.kind() == StatementKind.WRITE && shape.generatedKeys()) {
            // pgjdbc's generated keys are a RETURNING clause: refused as one is, before any shard is written
            throw new SQLException(
                    "the generated keys of a write without its shard key, run on every shard, are not returned:"
                            + " give the key to write one shard, or run it without asking for generated keys",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        long count = 0;
        T result = null;
        try {
            for (Route leg : route.legs()) {
                try {
                    result = execute(open(leg), plan, op);
                } catch (SQLException e) {
                    throw new SQLException(
                            "the statement failed on shard " + leg.shard() + " ("
                                    + leg.node().name() + "): "
                                    + e.getMessage()
                                    + (implicit ? ". No shard was changed: it was rolled back on every shard" : ""),
                            e.getSQLState(),
                            e);
                }
                count += Math.max(0, current.getLargeUpdateCount());
                SQLWarning notices = copies ? null : current.getWarnings();
                if (notices != null) {
                    partWarnings.add(notices); // (a copy's are the last copy's, current's)
                }
            }
            if (implicit) {
                session.commit();
            }
            if (copies) {
                return result; // the last shard's statement is current: its count, its rows
            }
        } catch (SQLException e) {
            if (implicit) {
                rollBackOwn(e);
            }
            throw e;
        }
        return summed(result, count);
    }

    /** The plan of {@code sql} by routing state {@code r}. */
    Plan plan(RoutingState r, String sql) {
        return shape.plan(r, sql);
    }

    /**
     * A {@code COPY table FROM STDIN} whose rows go each to the shard of its key ({@link RoutedCopy}), or null when
     * {@code sql} is another statement. {@code onEnd} runs when the COPY ends, however it ends.
     *
     * @throws SQLException 0A000 when the table's rows cannot be routed (a reference table, binary data for a
     *     sharded table, a column list without the shard key)
     */
    public CopyIn copyIn(String sql, Runnable onEnd) throws SQLException {
        session.checkNotCopying();
        session.checkNotFailed(null);
        CopyCommand copy = CopyCommand.parse(sql);
        if (copy == null) {
            return null;
        }
        RoutingState r = session.runtime().routing();
        int given = copy.columns().isEmpty() ? MAX_COLUMNS : copy.columns().size();
        String insert = copyInsert(copy.table(), copy.columns(), given);
        Plan plan = shape.plan(r, insert);
        switch (plan.target()) {
            case HOME:
                return new RoutedCopy(this, session, sql, copy, insert, 0, -1, null, -1, onEnd);
            case KEYED: {
                KeyGroup group = plan.keyGroups().get(0);
                int keyIndex = group.sources().get(0).parameterIndex() - 1; // parameters count from 1
                ShardedTable table = group.tables().get(0);
                String keyName = table.keyColumn();
                int expected = -1;
                if (copy.defaultMarker() != null) {
                    throw new SQLException(
                            "COPY into the sharded table " + copy.table() + " with the DEFAULT option cannot be"
                                    + " routed: a shard key written as the marker would take its default on the"
                                    + " shard, after the driver routed it by the marker's text",
                            SqlStates.FEATURE_NOT_SUPPORTED);
                }
                if (copy.format() == CopyCommand.Format.BINARY) {
                    throw new SQLException(
                            "COPY into the sharded table " + copy.table() + " in binary format cannot be routed: the"
                                    + " driver reads each row's shard key " + keyName + " from its text; send text"
                                    + " or csv",
                            SqlStates.FEATURE_NOT_SUPPORTED);
                }
                if (copy.columns().isEmpty()) {
                    // COPY takes the columns that are not generated, in order; the values up to the key route a row
                    List<String> copied;
                    try {
                        copied = session.runtime().copiedColumns(table);
                    } catch (RuntimeException e) {
                        throw new SQLException(
                                "COPY into the sharded table " + copy.table() + " without a column list: its columns"
                                        + " could not be read (" + e.getMessage() + "); name them",
                                "42P01",
                                e);
                    }
                    keyIndex = copied.indexOf(keyName);
                    if (keyIndex < 0) {
                        throw new SQLException(
                                "COPY into the sharded table " + copy.table() + " without a column list: its shard key "
                                        + keyName + " is not among the columns COPY takes (" + copied + ")",
                                SqlStates.FEATURE_NOT_SUPPORTED);
                    }
                    List<String> upToKey = new ArrayList<>();
                    for (String column : copied.subList(0, keyIndex + 1)) {
                        upToKey.add('"' + column.replace("\"", "\"\"") + '"');
                    }
                    given = keyIndex + 1;
                    insert = copyInsert(copy.table(), upToKey, given);
                    expected = copied.size();
                }
                return new RoutedCopy(this, session, sql, copy, insert, given, keyIndex, keyName, expected, onEnd);
            }
            case REFERENCE_WRITE:
                throw new SQLException(
                        "COPY into the reference table " + copy.table() + " is not supported: every shard holds a"
                                + " copy that must get the same rows; load it with INSERT batches (twoPhaseCommit="
                                + "true)",
                        SqlStates.FEATURE_NOT_SUPPORTED);
            case REFUSED:
                throw new SQLException(
                        "COPY into " + copy.table() + " cannot be routed: " + plan.refusal(),
                        SqlStates.FEATURE_NOT_SUPPORTED);
            default:
                throw new SQLException(
                        "COPY into " + copy.table() + " cannot be routed (" + plan.target() + ")",
                        SqlStates.FEATURE_NOT_SUPPORTED);
        }
    }

    /**
     * A {@code COPY ... TO STDOUT} routed as the {@code SELECT} it runs: on the node that answers it, or, for a
     * sharded table, every shard's rows in turn ({@link RoutedCopyOut}); null when {@code sql} is another statement
     * or the connection is bound by {@code forKey} (the COPY then runs on the bound connection, its shard's rows).
     * {@code onEnd} runs when the COPY ends, however it ends.
     *
     * @throws SQLException 0A000 for a query that reads several shards (the driver does not merge its output), or
     *     that locks or writes rows
     */
    public CopyOut copyOut(String sql, Runnable onEnd) throws SQLException {
        session.checkNotCopying();
        session.checkNotFailed(null);
        if (session.pinnedShard() >= 0) {
            return null;
        }
        CopyCommand.ToStdout copy = CopyCommand.parseToStdout(sql);
        if (copy == null) {
            return null;
        }
        String what = copy.table() != null ? "COPY " + copy.table() + " TO STDOUT" : "COPY (query) TO STDOUT";
        ShardedTable sharded = null;
        List<String> columns = copy.columns();
        String select;
        if (copy.table() != null) {
            // the table's kind, whatever columns the COPY names
            Plan kind = shape.plan(session.runtime().routing(), copyInsert(copy.table(), List.of(), MAX_COLUMNS));
            if (kind.target() == Plan.Target.KEYED) {
                sharded = kind.keyGroups().get(0).tables().get(0);
                if (columns.isEmpty()) {
                    // COPY gives the columns that are not generated: what each shard's SELECT gives while moves run
                    columns = quoted(copiedColumns(sharded, what));
                }
            }
            select = copy.leading() + "SELECT " + (columns.isEmpty() ? "*" : String.join(", ", columns)) + " FROM "
                    + copy.table();
        } else {
            select = copy.leading() + copy.query();
        }
        CrossShardRead.Ownership ownership = sharded == null
                ? CrossShardRead.Ownership.NONE
                : session.runtime().ownership();
        for (int attempt = 1; ; attempt++) {
            HashRing ring = ownership.moving();
            RoutingState r = session.runtime().routing();
            Plan plan = shape.plan(r, select);
            if (plan.kind() != StatementKind.READ) {
                throw new SQLException(
                        what + " cannot be routed: its query locks or writes rows, and through the COPY API it would"
                                + " pass the driver's write path by; run it as a statement",
                        SqlStates.FEATURE_NOT_SUPPORTED);
            }
            Route route = session.route(r, plan, null);
            List<Route> legs;
            switch (route.target()) {
                case NODE -> legs = List.of(route);
                case CROSS_SHARD -> {
                    if (sharded == null) {
                        throw new SQLException(
                                what + " reads several shards: the driver copies out a whole sharded table (each"
                                        + " shard's rows in turn), not a query over several shards; run the query as"
                                        + " a SELECT, or give it the shard key",
                                SqlStates.FEATURE_NOT_SUPPORTED);
                    }
                    legs = route.legs();
                }
                case REFUSED -> throw route.refusal();
                default ->
                    throw new SQLException(
                            what + " cannot be routed (" + route.target() + ")", SqlStates.FEATURE_NOT_SUPPORTED);
            }
            Set<Integer> shards = new HashSet<>();
            legs.forEach(leg -> shards.add(leg.shard()));
            if (ring == null || ring.version() == r.ring().version() && shards.containsAll(ring.shards())) {
                CopyOut out = copyOutOn(sql, copy, what, sharded, columns, legs, ownership, ring, r, onEnd);
                if (out != null) {
                    return out;
                }
            }
            if (attempt == REROUTES) {
                throw new SQLException(
                        "shard moves switched ranges during each of " + REROUTES + " tries to route " + what
                                + ": retry it",
                        SqlStates.RETRY_WRITE);
            }
            session.runtime().metrics().retry(DriverMetrics.Retry.CROSS_SHARD_REROUTED);
        }
    }

    private List<String> copiedColumns(ShardedTable table, String what) throws SQLException {
        try {
            return session.runtime().copiedColumns(table);
        } catch (RuntimeException e) {
            throw new SQLException(
                    what + ": the table's columns could not be read (" + e.getMessage() + "); name them", "42P01", e);
        }
    }

    private static List<String> quoted(List<String> names) {
        List<String> quoted = new ArrayList<>();
        for (String name : names) {
            quoted.add('"' + name.replace("\"", "\"\"") + '"');
        }
        return quoted;
    }

    /**
     * Opens the nodes of {@code routes} and starts the COPY on the first: null when a cutover switched ranges while
     * the snapshots of an atomic export were taken (it is routed again).
     */
    private CopyOut copyOutOn(
            String sql,
            CopyCommand.ToStdout copy,
            String what,
            ShardedTable sharded,
            List<String> columns,
            List<Route> routes,
            CrossShardRead.Ownership ownership,
            HashRing ring,
            RoutingState routedBy,
            Runnable onEnd)
            throws SQLException {
        List<RoutedCopyOut.Leg> legs = new ArrayList<>();
        List<Physical> snapshot = new ArrayList<>();
        boolean filtered = ring != null && sharded != null;
        try {
            for (Route leg : routes) {
                Physical p = open(leg);
                if (leg.use() == Route.Use.APART) {
                    apart.add(p);
                }
                // (one leg: one snapshot of its own when it must carry the transaction's kept settings)
                if (leg.why() == Route.Why.ATOMIC_SNAPSHOT && (routes.size() > 1 || session.transactionSettings())) {
                    p.connection.setAutoCommit(false);
                    snapshot.add(p);
                }
                String part = !filtered
                        ? sql
                        : copy.leading() + "COPY (SELECT " + String.join(", ", columns) + " FROM ONLY " + copy.table()
                                + " WHERE "
                                + ring.sqlPredicate(
                                        leg.shard(),
                                        sharded.keyType()
                                                .sqlHashExpression(quoted(List.of(sharded.keyColumn()))
                                                        .get(0)))
                                + ") TO STDOUT" + copy.options();
                legs.add(new RoutedCopyOut.Leg(p, part));
            }
            if (!snapshot.isEmpty()) {
                try {
                    // the other shards' snapshots wait while one shard's rows stream: no idle timeout may end them
                    new Snapshots(
                                    session.runtime().crossShardPool(),
                                    runningParts(),
                                    shape.queryTimeout(),
                                    session.runtime().metrics())
                            .take(
                                    snapshot,
                                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; SET LOCAL"
                                            + " idle_in_transaction_session_timeout = 0"
                                            + (session.transactionSettings() ? "; " + session.keptSettings() : ""));
                } catch (CrossShardRead.SourceFailed f) {
                    throw session.failed(f.source, StatementKind.READ, (SQLException) f.getCause());
                }
                if (!ownership.still(ring)
                        || session.runtime().routing().ring().version()
                                != routedBy.ring().version()) {
                    CrossShardRead.endSnapshots(snapshot, null);
                    return null;
                }
            }
            if (filtered) {
                ordinaryTable(legs.get(0).physical(), copy.table());
            }
        } catch (SQLException | RuntimeException e) {
            CrossShardRead.endSnapshots(snapshot, e);
            throw e;
        }
        return new RoutedCopyOut(
                session,
                what,
                legs,
                copy.header(),
                copy.format() == CopyCommand.Format.BINARY,
                // an atomic export's snapshots were taken by one ring: a later switch does not change what they show
                snapshot.isEmpty() ? ownership : CrossShardRead.Ownership.NONE,
                ring,
                routedBy.ring().version(),
                snapshot,
                onEnd);
    }

    /**
     * @throws SQLException 42809, as PostgreSQL refuses a COPY TO of anything but a table's own rows, when {@code
     *     table} is a view, a partitioned or a foreign table: while a move runs the shards are read with {@code COPY
     *     (SELECT ...)}, which would take them
     */
    private static void ordinaryTable(Physical p, String table) throws SQLException {
        try (PreparedStatement ps =
                p.connection.prepareStatement("SELECT relkind::text FROM pg_class WHERE oid = to_regclass(?)")) {
            ps.setString(1, table);
            try (ResultSet rs = ps.executeQuery()) {
                String kind = rs.next() ? rs.getString(1) : "r";
                String name = switch (kind) {
                    case "v" -> "view";
                    case "m" -> "materialized view";
                    case "p" -> "partitioned table";
                    case "f" -> "foreign table";
                    default -> null;
                };
                if (name != null) {
                    throw new SQLException(
                            "cannot copy from " + name + " " + table + " (PostgreSQL copies a table's own rows only):"
                                    + " copy the tables it reads",
                            "42809");
                }
            }
        }
    }

    /**
     * PostgreSQL's limit of columns in a table: the placeholders of the INSERT whose plan tells what table a COPY
     * without columns loads (sharded, reference, or the home shard's); the key's place then comes from the columns
     * COPY takes ({@link ClusterRuntime#copiedColumns}).
     */
    private static final int MAX_COLUMNS = 1600;

    /** The INSERT of one row into {@code table} whose plan routes it: {@code values} placeholders. */
    private static String copyInsert(String table, List<String> columns, int values) {
        StringBuilder sql = new StringBuilder("INSERT INTO ").append(table);
        if (!columns.isEmpty()) {
            sql.append(" (").append(String.join(", ", columns)).append(')');
        }
        sql.append(" VALUES (");
        for (int i = 0; i < values; i++) {
            sql.append(i == 0 ? "?" : ", ?");
        }
        return sql.append(')').toString();
    }

    /** Rolls back the transaction of its own a statement began in autocommit mode, after {@code e}. */
    private void rollBackOwn(SQLException e) {
        try {
            session.rollback();
        } catch (SQLException suppressed) {
            e.addSuppressed(suppressed);
        }
    }

    /**
     * The result of a statement run on several shards: the summed update count {@code count} where the last part's
     * {@code result} is an update count ({@code getUpdateCount} then gives it too), else that result.
     */
    @SuppressWarnings("unchecked")
    private <T> T summed(T result, long count) {
        current = null;
        driverUpdateCount = count;
        if (result instanceof Integer) {
            return (T) Integer.valueOf((int) Math.min(Integer.MAX_VALUE, count));
        }
        if (result instanceof Long) {
            return (T) Long.valueOf(count);
        }
        return result;
    }

    /**
     * A multi-row INSERT whose rows' keys map to several shards: each shard of {@code route} gets a statement of its
     * own rows ({@link InsertRows}) in one transaction — the connection's, or (in autocommit mode) one of its own
     * committed with two-phase commit at once. The update count is the sum.
     */
    private <T> T splitRows(String sql, Plan plan, Object[] params, Route route, Op<T> op) throws SQLException {
        if (shape.generatedKeys()) {
            throw new SQLException(
                    "the generated keys of an INSERT whose rows go to several shards are not returned: insert each"
                            + " shard's rows in a statement of their own, or name the keys you give",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        InsertRows rows = InsertRows.of(sql, shape.prepared());
        int[] shards = session.runtime().routing().rowShards(plan, params);
        if (rows == null || rows.size() != shards.length) {
            throw new SQLException(
                    "the rows of this INSERT could not be told apart to send each to its shard: insert each shard's"
                            + " rows in a statement of their own",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        Map<Integer, List<Integer>> byShard = new LinkedHashMap<>();
        for (int row = 0; row < shards.length; row++) {
            byShard.computeIfAbsent(shards[row], k -> new ArrayList<>()).add(row);
        }
        if (!byShard.keySet()
                .equals(route.legs().stream().map(Route::shard).collect(java.util.stream.Collectors.toSet()))) {
            throw new SQLException(
                    "the ring changed while this INSERT was routed: run it again", SqlStates.RETRY_WRITE);
        }
        boolean implicit = session.autoCommit();
        long count = 0;
        T result = null;
        boolean ran = false;
        try {
            for (Route leg : route.legs()) {
                List<Integer> mine = byShard.get(leg.shard());
                String part = rows.sql(mine);
                Physical p = open(leg);
                try (Statement s = shape.create(p, part)) {
                    if (shape.prepared()) {
                        int index = 1;
                        for (int original : rows.parameters(mine)) {
                            shape.bindAt((PreparedStatement) s, index++, original);
                        }
                    }
                    result = onPhysical(p, plan, shape.prepared() ? s : running(s, part), op);
                    count += Math.max(0, s.getLargeUpdateCount());
                    ran = true;
                } catch (SQLException e) {
                    throw new SQLException(
                            "the rows for shard " + leg.shard() + " ("
                                    + leg.node().name() + ") failed: "
                                    + e.getMessage()
                                    + (implicit ? ". No shard was changed: it was rolled back on every shard" : ""),
                            e.getSQLState(),
                            e);
                }
            }
            if (implicit) {
                session.commit();
            }
        } catch (SQLException e) {
            current = null;
            if (implicit) {
                rollBackOwn(e);
            } else if (ran) {
                // the rows of another shard ran in the application's transaction: it must not commit them alone
                session.abortPartly("a multi-row INSERT failed on one shard after its rows for another ran");
            }
            throw e;
        }
        return summed(result, count);
    }

    /**
     * {@code s}, a plain statement, running {@code sql} whatever text its execute methods are given (the logical
     * statement's operation names its own text); asking it for generated keys is refused.
     */
    private static Statement running(Statement s, String sql) {
        return (Statement) java.lang.reflect.Proxy.newProxyInstance(
                Statement.class.getClassLoader(), new Class<?>[] {Statement.class}, (proxy, method, args) -> {
                    if (args != null
                            && args.length > 0
                            && args[0] instanceof String
                            && method.getName().startsWith("execute")) {
                        if (args.length > 1
                                && !Integer.valueOf(Statement.NO_GENERATED_KEYS).equals(args[1])) {
                            throw new SQLException(
                                    "the generated keys of an INSERT whose rows go to several shards are not"
                                            + " returned: insert each shard's rows in a statement of their own",
                                    SqlStates.FEATURE_NOT_SUPPORTED);
                        }
                        args[0] = sql;
                    }
                    try {
                        return method.invoke(s, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    /**
     * Runs on every primary, each in a transaction of its own: all are committed when the statement succeeded on
     * every one, else all are rolled back. Only a COMMIT failing after another committed (a connection lost at that
     * moment) leaves shards different, and the error says which.
     */
    private <T> T allOrNone(Plan plan, Route route, Op<T> op) throws SQLException {
        List<Physical> open = new ArrayList<>();
        try {
            T result = null;
            for (Route leg : route.legs()) {
                Physical p = open(leg);
                p.ownTransaction = true;
                open.add(p);
                try {
                    p.connection.setAutoCommit(false);
                    result = execute(p, plan, op);
                } catch (SQLException e) {
                    throw new SQLException(
                            "the statement failed on shard " + leg.shard() + " ("
                                    + leg.node().name() + "): " + e.getMessage()
                                    + ". No shard was changed: it was rolled back on every shard",
                            e.getSQLState(),
                            e);
                }
            }
            commitEach(open, plan, new ArrayList<>());
            return result;
        } finally {
            endOwnTransactions(open);
        }
    }

    /**
     * Commits each of {@code open} (each in a transaction of its own) in order, adding each to {@code done}. A COMMIT
     * that fails says where it was committed (the ones before) and rolled back (the others: the caller rolls them
     * back).
     */
    void commitEach(List<Physical> open, Plan plan, List<Physical> done) throws SQLException {
        List<Integer> committed = new ArrayList<>();
        for (Physical p : open) {
            try {
                p.connection.commit();
            } catch (SQLException e) {
                List<Integer> rest = new ArrayList<>();
                open.stream()
                        .map(x -> x.shard)
                        .filter(s -> !committed.contains(s) && s != p.shard)
                        .forEach(rest::add);
                boolean broke = ConnectionErrors.isConnectionError(e);
                if (broke) {
                    session.discard(p);
                }
                String here = broke
                        ? "the connection to shard " + p.shard + " (" + p.node.name() + ") broke during COMMIT ("
                                + e.getMessage() + "), so whether it committed there is unknown"
                        : "COMMIT failed on shard " + p.shard + " (" + p.node.name() + "): " + e.getMessage();
                throw new SQLException(
                        here
                                + (committed.isEmpty() ? "" : "; it was committed on shards " + committed)
                                + (rest.isEmpty() ? "" : "; it was rolled back on shards " + rest)
                                + (committed.isEmpty() && !broke
                                        ? ". No shard was changed"
                                        : ". The shards may differ: check each and run it again where it is"
                                                + " missing (twoPhaseCommit=true makes it atomic)"),
                        broke ? SqlStates.OUTCOME_UNKNOWN : e.getSQLState(),
                        e);
            }
            committed.add(p.shard);
            done.add(p);
            session.committedApart(p, plan);
        }
    }

    /** Ends the transactions of their own {@code open} ran in: rolled back where not committed, autocommit again. */
    void endOwnTransactions(List<Physical> open) {
        for (Physical p : open) {
            p.ownTransaction = false;
            try {
                if (!p.connection.isClosed() && !p.connection.getAutoCommit()) {
                    p.connection.rollback();
                    p.connection.setAutoCommit(true);
                }
            } catch (SQLException e) {
                session.discard(p);
            }
        }
    }

    /** Runs on every primary; a failure on some shards is reported naming them, after all were tried. */
    private <T> T onEveryPrimary(Plan plan, Route route, Op<T> op) throws SQLException {
        T result = null;
        List<Integer> ok = new ArrayList<>();
        List<String> failed = new ArrayList<>();
        SQLException first = null;
        for (Route leg : route.legs()) {
            try {
                result = execute(open(leg), plan, op);
                ok.add(leg.shard());
            } catch (SQLException e) {
                failed.add("shard " + leg.shard() + " (" + leg.node().name() + "): " + e.getMessage());
                first = first == null ? e : first;
            }
        }
        if (first != null) {
            throw new SQLException(
                    "the statement failed on " + failed.size() + " of "
                            + route.legs().size() + " shards: " + String.join("; ", failed)
                            + (ok.isEmpty() ? "" : ". It succeeded on shards " + ok),
                    first.getSQLState(),
                    first);
        }
        return result;
    }

    /**
     * A read no single shard answers (see {@link CrossShardRead}); the final query's statement becomes {@link
     * #current}, closed at the next execution or with this dispatcher.
     */
    private <T> T crossShard(String sql, Plan plan, Object[] params, Route route, Op<T> op, Handled<T> handled)
            throws SQLException {
        for (int attempt = 1; ; attempt++) {
            try {
                return crossShardOnce(sql, plan, route, handled);
            } catch (CrossShardRead.Rerouted e) {
                if (attempt == REROUTES) {
                    throw e;
                }
                session.runtime().metrics().retry(DriverMetrics.Retry.CROSS_SHARD_REROUTED);
                // a shard took ranges since the read was routed: route it again by the ring now
                RoutingState r = session.runtime().routing();
                plan = shape.plan(r, sql);
                route = session.route(r, plan, params);
                if (route.target() != Route.Target.CROSS_SHARD) {
                    return run(sql, plan, params, route, op, handled);
                }
            }
        }
    }

    private <T> T crossShardOnce(String sql, Plan plan, Route route, Handled<T> handled) throws SQLException {
        RoutingState r = session.runtime().routing();
        CrossShardQuery query = r.crossShard(plan.crossShardSql(sql), shape.prepared(), session.searchPath());
        closeCrossShardStatement();
        Map<Integer, Physical> sources = new LinkedHashMap<>();
        for (Route leg : route.legs()) {
            Physical p = open(leg);
            sources.put(leg.shard(), p);
            if (leg.use() == Route.Use.APART) {
                apart.add(p);
            }
        }
        Physical home = sources.get(r.homeShard());
        CrossShardRead read = new CrossShardRead(
                shape.resultSetType(),
                r,
                session.searchPath(),
                session.runtime().crossShardPool(),
                session.runtime().settings().crossShardMaxRows(),
                shape.queryTimeout(),
                runningParts(),
                session.runtime().metrics(),
                span,
                session.keptSettings());
        boolean atomic = route.legs().stream().allMatch(leg -> leg.why() == Route.Why.ATOMIC_SNAPSHOT);
        try {
            PreparedStatement fin;
            try {
                fin = read.prepare(
                        query,
                        plan.crossShardSql(sql),
                        sources,
                        home,
                        shape::bindAt,
                        shape.prepared(),
                        atomic,
                        session.runtime().ownership());
            } catch (CrossShardRead.SourceFailed f) {
                throw session.failed(f.source, StatementKind.READ, (SQLException) f.getCause());
            }
            crossShardStatement = fin;
            if (shape.maxRows() > 0) {
                fin.setMaxRows(shape.maxRows());
            }
            try {
                onPhysical(home, plan, fin, s -> ((PreparedStatement) s).execute());
            } catch (SQLException e) {
                throw "42803".equals(e.getSQLState()) && query.groupedKey() != null
                        ? CrossShardRead.ungrouped(query.groupedKey(), e)
                        : e;
            }
            try {
                read.confirm();
            } catch (CrossShardRead.Rerouted moved) {
                closeCrossShardStatement();
                throw moved;
            }
            partWarnings.addAll(read.warnings());
            return handled.of(fin);
        } finally {
            read.finish();
        }
    }

    /** The physical connection of {@code route}, a snapshot transaction started first when the route starts one. */
    Physical open(Route route) throws SQLException {
        if (route.use() == Route.Use.SNAPSHOT) {
            session.beginSnapshot(runningParts(), shape.queryTimeout());
        }
        return session.open(route);
    }

    /**
     * Runs a batch of a prepared statement: every row is routed by one routing state while the gate holds (a row
     * whose range is being switched holds the whole batch until the switch, then every row is routed by the new
     * ring), then each node's rows go as one physical batch. Counts come back in the order the rows were added.
     *
     * @throws BatchUpdateException with the counts of the rows that ran ({@link Statement#EXECUTE_FAILED} for the
     *     others) when a node's part fails
     */
    public int[] batch(String sql, List<Object[]> rows, RowBinder binder) throws SQLException {
        clearCancel();
        long started = System.nanoTime();
        batchNodes.clear();
        partWarnings.clear();
        boolean failed = true;
        span = session.runtime().tracing().batch(sql, rows.size());
        session.statementSpan(span);
        try {
            int[] counts = batchChecked(sql, rows, binder);
            failed = false;
            return counts;
        } catch (SQLException e) {
            span.failed(e);
            try {
                session.failedInTransaction(shape.plan(session.runtime().routing(), sql), e);
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        } catch (RuntimeException e) {
            span.failed(e);
            throw SqlStates.internal(e);
        } finally {
            timedBatch(sql, System.nanoTime() - started, failed);
            tracedBatch(failed);
            session.statementSpan(DriverTracing.Span.NONE);
            span.close();
            span = DriverTracing.Span.NONE;
        }
    }

    /** Says on the batch's span where it ran: one node, or several shards' primaries. */
    private void tracedBatch(boolean failed) {
        if (span == DriverTracing.Span.NONE) {
            return;
        }
        if (batchNodes.isEmpty()) {
            if (failed) {
                span.route("refused", -1, null, null);
            }
        } else if (batchNodes.size() == 1) {
            Physical p = batchNodes.get(0);
            span.route(p.node.role() == NodeRole.PRIMARY ? "primary" : "replica", p.shard, p.node, null);
        } else {
            span.route("every_shard", -1, null, null);
        }
    }

    /** Records one batch with the runtime's metrics: on one node, or on several shards' primaries. */
    private void timedBatch(String sql, long nanos, boolean failed) {
        DriverMetrics metrics = session.runtime().metrics();
        if (metrics == DriverMetrics.NOOP) {
            return;
        }
        StatementKind kind;
        try {
            kind = shape.plan(session.runtime().routing(), sql).kind();
        } catch (RuntimeException e) {
            kind = StatementKind.WRITE;
        }
        if (batchNodes.isEmpty()) {
            if (failed) {
                // refused before any row was routed (a statement batches do not take)
                metrics.statement(kind, DriverMetrics.RouteKind.REFUSED, -1, null, nanos, true);
            }
        } else if (batchNodes.size() == 1) {
            timedOn(metrics, kind, batchNodes.get(0), nanos, failed);
        } else {
            metrics.statement(kind, DriverMetrics.RouteKind.EVERY_SHARD, -1, NodeRole.PRIMARY, nanos, failed);
        }
    }

    /** Records one statement that ran on {@code p} alone (as on a primary or a replica, by its node's role). */
    static void timedOn(DriverMetrics metrics, StatementKind kind, Physical p, long nanos, boolean failed) {
        metrics.statement(
                kind,
                p.node.role() == NodeRole.PRIMARY ? DriverMetrics.RouteKind.PRIMARY : DriverMetrics.RouteKind.REPLICA,
                p.shard,
                p.node.role(),
                nanos,
                failed);
    }

    private int[] batchChecked(String sql, List<Object[]> rows, RowBinder binder) throws SQLException {
        for (int attempt = 1; ; attempt++) {
            refusedPart = null;
            batchNodes.clear(); // where the last attempt ran, for the metrics and the span
            try {
                return batchRouted(sql, rows, binder);
            } catch (NodePools.Abandoned notSent) {
                // a primary was replaced while the batch waited for a connection to it: every connection is taken
                // before any row is sent, so unless an earlier statement of its transaction ran, route it again
                if (session.transactionStarted() || attempt == MAX_REROUTES) {
                    throw notSent;
                }
            } catch (BatchUpdateException e) {
                // a part refused as read-only by a primary being replaced, as a statement is: in autocommit mode none
                // of the batch was committed (one implicit transaction, or parts all rolled back)
                boolean again;
                try {
                    again = readOnlyRefusalPassed(e, refusedPart, attempt);
                } catch (SQLException stillHeld) {
                    throw new BatchUpdateException(
                            stillHeld.getMessage(), stillHeld.getSQLState(), 0, e.getUpdateCounts(), stillHeld);
                }
                if (!again) {
                    throw e;
                }
            }
        }
    }

    private int[] batchRouted(String sql, List<Object[]> rows, RowBinder binder) throws SQLException {
        session.checkNotCopying();
        Plan plan = shape.plan(session.runtime().routing(), sql);
        session.checkNotFailed(plan);
        Plan.Target t = plan.target();
        if (t == Plan.Target.REFERENCE_WRITE) {
            return referenceBatch(sql, rows, binder);
        }
        if (t != Plan.Target.KEYED && t != Plan.Target.HOME && t != Plan.Target.ANY) {
            throw new SQLException(
                    "batches of this statement are not supported: "
                            + (plan.refusal() != null ? plan.refusal() : t.name()),
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        driverUpdateCount = -1;
        boolean gated = gated(plan, session.runtime().routing());
        int ticket = gated
                ? session.runtime().awaitWritable(plan, rows, session, held -> {}, holdLimit(session.runtime()))
                : 0;
        if (!gated && leased(plan)) {
            session.runtime().awaitLease("this batch", "no row of it ran; retry it", holdLimit(session.runtime()));
        }
        leased = gated || leased(plan);
        try {
            RoutingState r = session.runtime().routing();
            plan = shape.plan(r, sql);
            Map<Node, List<Integer>> rowsByNode = new LinkedHashMap<>();
            List<Route> routes = new ArrayList<>(rows.size());
            for (int i = 0; i < rows.size(); i++) {
                Route route = session.route(r, plan, rows.get(i));
                if (route.target() == Route.Target.CROSS_SHARD) {
                    throw new SQLException(
                            "this read needs every shard (" + route.message() + "): run it with execute or"
                                    + " executeQuery, not in a batch",
                            SqlStates.FEATURE_NOT_SUPPORTED);
                }
                if (route.target() == Route.Target.EVERY_SHARD) {
                    throw new SQLException(
                            "batch row " + i + " needs every shard (" + route.message() + "): run it with execute or"
                                    + " executeUpdate, not in a batch",
                            SqlStates.FEATURE_NOT_SUPPORTED);
                }
                if (route.target() != Route.Target.NODE) {
                    throw route.target() == Route.Target.REFUSED
                            ? route.refusal()
                            : new SQLException("batch row " + i + " cannot be routed", SqlStates.FEATURE_NOT_SUPPORTED);
                }
                routes.add(route);
                rowsByNode.computeIfAbsent(route.node(), k -> new ArrayList<>()).add(i);
            }
            if (rowsByNode.size() > 1 && shape.generatedKeys()) {
                // refused before any row is written: refused at getGeneratedKeys, an autocommit batch had committed
                throw new SQLException(
                        "the generated keys of a batch whose rows go to several shards are not returned: batch the"
                                + " rows of one shard at a time, or prepare the statement without asking for keys."
                                + " No row was written",
                        SqlStates.FEATURE_NOT_SUPPORTED);
            }
            // pgjdbc runs an autocommit batch as one implicit transaction: rows on several shards get one of their
            // own, committed with two-phase commit when it is on
            boolean several = rowsByNode.size() > 1 && session.autoCommit() && !session.inTransaction();
            boolean implicit = several && session.runtime().twoPhaseCommit() != null;
            // without two-phase commit, as DDL on every shard: a transaction of its own on each, all committed
            // once every part ran (only a COMMIT failing after another committed leaves the shards different)
            boolean own = several && !implicit;
            Map<Physical, List<Integer>> byNode = new LinkedHashMap<>();
            List<Physical> owned = new ArrayList<>();
            List<Physical> committed = new ArrayList<>();
            int[] counts = null;
            try {
                for (List<Integer> ofNode : rowsByNode.values()) {
                    Route route = routes.get(ofNode.get(0));
                    if (implicit) {
                        Route.Use use = byNode.isEmpty() ? Route.Use.BEGIN : Route.Use.JOIN;
                        route = Route.node(route.shard(), route.node(), use, route.why());
                    }
                    Physical p = open(route);
                    byNode.put(p, ofNode);
                    batchNodes.add(p);
                    if (own) {
                        p.ownTransaction = true;
                        owned.add(p);
                        p.connection.setAutoCommit(false);
                    }
                }
                counts = batchParts(plan, byNode, rows.size(), binder, several);
                if (implicit) {
                    session.commit();
                } else if (own) {
                    for (Physical p : owned) {
                        try (Statement s = p.connection.createStatement()) {
                            s.execute("SET CONSTRAINTS ALL IMMEDIATE"); // a deferred one fails now, not at COMMIT
                        }
                    }
                    commitEach(owned, plan, committed);
                }
                return counts;
            } catch (SQLException | RuntimeException e) {
                if (several) {
                    if (implicit) {
                        try {
                            session.rollback();
                        } catch (SQLException suppressed) {
                            e.addSuppressed(suppressed);
                        }
                    }
                    if (e instanceof NodePools.Abandoned) {
                        throw e; // taking the connections, before any row was sent: routed again
                    }
                    if (e instanceof SQLException x && !(e instanceof BatchUpdateException)) {
                        throw batchFailed(x, rows.size(), byNode, counts, committed);
                    }
                }
                throw e;
            } finally {
                endOwnTransactions(owned);
            }
        } finally {
            leased = false;
            if (gated) {
                session.runtime().writeDone(ticket);
            }
        }
    }

    /**
     * The BatchUpdateException of a batch on several shards that failed outside its parts (opening a connection,
     * a COMMIT): the rows of the parts {@code committed} keep their counts, the others failed; an unknown outcome (a
     * two-phase commit recovery will finish, a connection lost in COMMIT) is said as such.
     */
    private static BatchUpdateException batchFailed(
            SQLException x, int rowCount, Map<Physical, List<Integer>> byNode, int[] counts, List<Physical> committed) {
        int[] done = new int[rowCount];
        Arrays.fill(done, Statement.EXECUTE_FAILED);
        for (Physical p : committed) {
            for (int row : byNode.get(p)) {
                done[row] = counts[row];
            }
        }
        String message = SqlStates.OUTCOME_UNKNOWN.equals(x.getSQLState())
                ? "the outcome of the batch on shards " + shards(byNode.keySet()) + " is unknown (its rows may be"
                        + " written): " + x.getMessage()
                : "the batch on shards " + shards(byNode.keySet()) + " failed: " + x.getMessage();
        return new BatchUpdateException(message, x.getSQLState(), x.getErrorCode(), done, x);
    }

    private static String shards(java.util.Collection<Physical> parts) {
        return parts.stream()
                .map(p -> String.valueOf(p.shard))
                .distinct()
                .collect(java.util.stream.Collectors.joining(", "));
    }

    /**
     * Sends each node's rows as one physical batch, in order; counts in the order the rows were added. A part that
     * fails throws a BatchUpdateException; {@code rolledBack}: the caller rolls every part back, so it says no row
     * was written.
     */
    private int[] batchParts(
            Plan plan, Map<Physical, List<Integer>> byNode, int rowCount, RowBinder binder, boolean rolledBack)
            throws SQLException {
        int[] counts = new int[rowCount];
        Arrays.fill(counts, Statement.EXECUTE_FAILED);
        for (Map.Entry<Physical, List<Integer>> part : byNode.entrySet()) {
            Statement s = statement(part.getKey());
            PreparedStatement ps = (PreparedStatement) s;
            int[] done;
            try {
                for (int row : part.getValue()) {
                    binder.bind(ps, row);
                    ps.addBatch();
                }
                done = onPhysical(part.getKey(), plan, ps, Statement::executeBatch);
            } catch (SQLException | RuntimeException e) {
                // rows bound but not sent must not ride along with the next batch
                ps.clearBatch();
                if (e instanceof RuntimeException unchecked) {
                    throw unchecked;
                }
                SQLException x = (SQLException) e;
                // routed again only when none of its rows stayed written (pgjdbc commits a long autocommit batch in
                // parts: a part refused midway follows committed rows)
                refusedPart = rolledBack || nothingWritten(x) ? part.getKey() : null;
                String what = "";
                if (rolledBack) {
                    Arrays.fill(counts, Statement.EXECUTE_FAILED);
                    what = ": no row was written (the batch's parts on shards " + shards(byNode.keySet())
                            + " were rolled back)";
                } else if (x instanceof BatchUpdateException b) {
                    // pgjdbc's counts of this part: the rows of an autocommit batch it committed before the failure
                    int[] partCounts = b.getUpdateCounts();
                    for (int k = 0; k < partCounts.length && k < part.getValue().size(); k++) {
                        counts[part.getValue().get(k)] = partCounts[k];
                    }
                }
                throw new BatchUpdateException(
                        "a batch part of " + part.getValue().size() + " rows failed on "
                                + part.getKey().node.name() + ": " + x.getMessage() + what,
                        x.getSQLState(),
                        x.getErrorCode(),
                        counts,
                        x);
            }
            for (int k = 0; k < done.length && k < part.getValue().size(); k++) {
                counts[part.getValue().get(k)] = done[k];
            }
        }
        batchShards = byNode.size() > 1 ? shards(byNode.keySet()) : null;
        return counts;
    }

    /**
     * The generated keys of the last execution.
     *
     * @throws SQLException 0A000 after a batch whose rows went to several shards (its keys are spread over their
     *     statements, and one shard's alone would be matched to the wrong rows); 25000 before any execution
     */
    public java.sql.ResultSet generatedKeys() throws SQLException {
        if (batchShards != null) {
            throw new SQLException(
                    "getGeneratedKeys after a batch whose rows went to shards " + batchShards + " is not supported:"
                            + " each shard returned the keys of its own rows. Batch the rows of one shard at a time,"
                            + " or run the inserts one by one",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        Statement s = current;
        if (s == null) {
            throw new SQLException("no statement has run yet", SqlStates.INVALID_TRANSACTION_STATE);
        }
        return s.getGeneratedKeys();
    }

    /**
     * A batch into a reference table: every row on every shard's copy, in one transaction (the connection's, or one
     * of its own committed with two-phase commit); the counts are one copy's. A failure fails every row: nothing was
     * written when the batch ran in a transaction of its own.
     */
    private int[] referenceBatch(String sql, List<Object[]> rows, RowBinder binder) throws SQLException {
        driverUpdateCount = -1;
        int ticket = session.runtime()
                .awaitWritable(
                        shape.plan(session.runtime().routing(), sql),
                        rows,
                        session,
                        held -> {},
                        holdLimit(session.runtime()));
        leased = true;
        try {
            RoutingState r = session.runtime().routing();
            Plan plan = shape.plan(r, sql);
            return referenceBatch(plan, session.route(r, plan, null), rows, binder);
        } finally {
            leased = false;
            session.runtime().writeDone(ticket);
        }
    }

    private int[] referenceBatch(Plan plan, Route route, List<Object[]> rows, RowBinder binder) throws SQLException {
        if (route.target() == Route.Target.REFUSED) {
            throw route.refusal();
        }
        boolean implicit = session.autoCommit();
        int[] counts = new int[rows.size()];
        Route failing = null;
        try {
            for (Route leg : route.legs()) {
                failing = leg;
                Physical p = open(leg);
                batchNodes.add(p);
                PreparedStatement ps = (PreparedStatement) statement(p);
                try {
                    for (int row = 0; row < rows.size(); row++) {
                        binder.bind(ps, row);
                        ps.addBatch();
                    }
                    counts = onPhysical(p, plan, ps, Statement::executeBatch);
                } finally {
                    ps.clearBatch(); // rows bound but not sent must not ride along with the next batch
                }
            }
            failing = null;
            if (implicit) {
                session.commit();
            }
            return counts;
        } catch (SQLException e) {
            if (implicit) {
                try {
                    session.rollback();
                } catch (SQLException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            int[] none = new int[rows.size()];
            Arrays.fill(none, Statement.EXECUTE_FAILED);
            throw new BatchUpdateException(
                    "a batch of " + rows.size() + " rows into the reference table " + plan.refusal() + " failed"
                            + (failing != null
                                    ? " on shard " + failing.shard() + " ("
                                            + failing.node().name() + ")"
                                    : "")
                            + ": " + e.getMessage()
                            + (implicit ? ". No shard was changed: it was rolled back on every shard" : ""),
                    e.getSQLState(),
                    e.getErrorCode(),
                    none,
                    e);
        }
    }

    /** The statement whose results the application reads, or null. */
    public Statement current() {
        return current;
    }

    /**
     * The last execution's warnings, as pgjdbc gives a statement's: those of the shards' parts first (copied into a
     * chain of their own: the physical statements' chains are left as they are), then the current statement's.
     */
    public SQLWarning warnings() throws SQLException {
        Statement s = current;
        SQLWarning own = s == null ? null : s.getWarnings();
        if (partWarnings.isEmpty()) {
            return own;
        }
        SQLWarning head = null;
        SQLWarning tail = null;
        List<SQLWarning> chains = new ArrayList<>(partWarnings);
        if (own != null) {
            chains.add(own);
        }
        for (SQLWarning chain : chains) {
            for (SQLWarning w = chain; w != null; w = w.getNextWarning()) {
                SQLWarning copy = new SQLWarning(w.getMessage(), w.getSQLState(), w.getErrorCode(), w);
                if (head == null) {
                    head = copy;
                } else {
                    tail.setNextWarning(copy);
                }
                tail = copy;
            }
        }
        return head;
    }

    /** Forgets the last execution's warnings. */
    public void clearWarnings() throws SQLException {
        partWarnings.clear();
        Statement s = current;
        if (s != null) {
            s.clearWarnings();
        }
    }

    /**
     * The physical statement that ran last, handed to the application (unwrapped, or a result set of it): its
     * connection may then be changed behind the driver's back (autocommit, settings), so it is reset with {@code
     * DISCARD ALL} before reuse, as after {@code Connection.unwrap}.
     *
     * @throws SQLException 0A000 before the statement has run
     */
    public Statement handOutCurrent(Class<?> iface) throws SQLException {
        Statement s = current;
        if (s == null) {
            throw new SQLException(
                    "cannot unwrap to " + iface.getName() + " before the statement has run: the driver makes its"
                            + " physical statements where each execution is routed",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        session.physicalHandedOut();
        return s;
    }

    /** A physical result set of this statement is handed to the application: see {@link #handOutCurrent}. */
    public void handOut() {
        session.physicalHandedOut();
    }

    /**
     * Rows of an updatable result set of this statement were written back (updateRow, insertRow, deleteRow) on the
     * primary that read them: a write for read-your-writes, whose position is read after it.
     */
    public void rowsWrittenBack() {
        for (Physical p : statements.nodes()) {
            if (p.node.role() == NodeRole.PRIMARY) {
                session.wroteThrough(p);
            }
        }
    }

    /** The update count of a statement the driver answered itself, or -1. */
    public long driverUpdateCount() {
        return driverUpdateCount;
    }

    /** Forgets the driver's update count (getMoreResults). */
    public void clearDriverUpdateCount() {
        driverUpdateCount = -1;
    }

    /** Whether {@code s} is the final query of a cross-shard read (its parameters are not the statement's). */
    public boolean isCrossShard(Statement s) {
        return s != null && s == crossShardStatement;
    }

    /** Every physical statement made so far (to apply a changed option). */
    public Iterable<Statement> statements() {
        return statements.values();
    }

    /** A prepared physical statement on the home shard's primary, to describe the SQL. */
    public PreparedStatement describer() throws SQLException {
        if (current instanceof PreparedStatement ps && !isCrossShard(ps)) {
            return ps;
        }
        RoutingState r = session.runtime().routing();
        Route home = Route.node(r.homeShard(), r.primary(r.homeShard()), Route.Use.AUTOCOMMIT, Route.Why.WRITE);
        return (PreparedStatement) statement(open(home));
    }

    /** Cancels what runs now: the statement on a node, and every shard's part of a cross-shard read. */
    public void cancel() throws SQLException {
        cancelRequested = true; // a statement the driver holds (fence, lease) ends its wait
        Set<CrossShardRead.Cancellable> parts = running;
        if (parts != null) {
            for (CrossShardRead.Cancellable c : parts) {
                c.cancel();
            }
        }
        Statement s = current;
        if (s != null) {
            s.cancel();
        }
    }

    /** The statements of a cross-shard read's parts, for {@link #cancel()}: made by the first such read. */
    private Set<CrossShardRead.Cancellable> runningParts() {
        Set<CrossShardRead.Cancellable> parts = running;
        if (parts == null) {
            parts = ConcurrentHashMap.newKeySet();
            running = parts;
        }
        return parts;
    }

    /** Closes the final query of the last cross-shard read and hands back the connections it read apart. */
    private void closeCrossShardStatement() throws SQLException {
        try {
            if (crossShardStatement != null) {
                Statement s = crossShardStatement;
                crossShardStatement = null;
                if (current == s) {
                    current = null;
                }
                s.close();
            }
        } finally {
            releaseApart();
        }
    }

    /** Hands back the connections the last cross-shard read used apart from the transaction. */
    private void releaseApart() {
        if (!apart.isEmpty()) {
            for (Physical p : apart) {
                Statement s = statements.remove(p); // a sequence function's, run on it
                if (s != null) {
                    close(s, null);
                }
            }
            session.releaseApart(apart);
            apart.clear();
        }
    }

    private static SQLException close(Statement s, SQLException failure) {
        try {
            s.close();
            return failure;
        } catch (SQLException e) {
            return failure == null ? e : failure;
        }
    }

    /** Closes every physical statement. */
    public void close() throws SQLException {
        SQLException failure = null;
        try {
            closeCrossShardStatement();
        } catch (SQLException e) {
            failure = e;
        }
        for (int i = 0; i < statements.size(); i++) {
            failure = close(statements.statement(i), failure);
        }
        for (Statement s : driverStatements) {
            failure = close(s, failure);
        }
        statements.clear();
        driverStatements.clear();
        if (failure != null) {
            throw failure;
        }
    }
}
