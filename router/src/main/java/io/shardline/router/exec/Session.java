package io.shardline.router.exec;

import io.shardline.router.ShardlineConnection.RouteExplanation;
import io.shardline.router.SqlStates;
import io.shardline.router.metrics.DriverMetrics;
import io.shardline.router.metrics.DriverTracing;
import io.shardline.router.route.CausalToken;
import io.shardline.router.route.Route;
import io.shardline.router.route.RouteContext;
import io.shardline.router.route.Router;
import io.shardline.router.route.RoutingState;
import io.shardline.router.sql.KeySource;
import io.shardline.router.sql.Plan;
import io.shardline.router.sql.SearchPath;
import io.shardline.router.sql.StatementKind;
import io.shardline.router.sql.TransactionModes;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.ShardedTable;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.postgresql.copy.CopyIn;
import org.postgresql.copy.CopyOperation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The state of one logical connection behind its JDBC face: its {@link Attachments} and {@link Transaction}, its
 * read settings and causal token, its {@code forKey} binding. It asks the {@link io.shardline.router.route.Router}
 * for each statement's {@link Route} (it is the router's {@link RouteContext}) and turns the route's nodes into
 * physical connections; it decides what a failure on one means.
 */
public final class Session implements RouteContext, MoveFences.Participation {
    private static final Logger LOG = LoggerFactory.getLogger(Session.class);

    private final ClusterRuntime runtime;
    private final Attachments attachments;
    private final Transaction transaction;
    private boolean autoCommit = true;
    /** The span of the statement running now, the parent of a two-phase commit's ({@code NONE}: none running). */
    private DriverTracing.Span statementSpan = DriverTracing.Span.NONE;
    /** The search path this session set, null for the connections' default. */
    private SearchPath searchPath;

    /** The routing state of the last statement routed (a snapshot transaction starts on its shards). */
    private RoutingState routedBy;

    /** The ring version the statement that started the current transaction was routed by ({@link #transactionRing}). */
    private long transactionRing = -1;

    /** Whether the server's transaction defaults were read (or a SET replaced them). */
    private boolean defaultsKnown;

    /** Whether the open transaction ran DDL: the runtime forgets the catalog again when it ends. */
    private boolean ddlInTransaction;

    /**
     * The session's settings before the open transaction first changed them (a {@code SET} inside it), or null: a
     * rollback returns to them, as PostgreSQL's own does.
     */
    private SavedSettings settingsAtBegin;

    /** The settings at each savepoint of the open transaction, newest last: a rollback to one returns to them. */
    private final List<SavepointSettings> savepoints = new ArrayList<>(0);

    private record SavedSettings(
            Attachments.Settings settings,
            SearchPath searchPath,
            boolean defaultsKnown,
            int isolation,
            boolean readOnly,
            int jdbcIsolation) {
        SavedSettings withJdbcIsolation(int level) {
            return new SavedSettings(settings, searchPath, defaultsKnown, isolation, readOnly, level);
        }
    }

    /**
     * @param name the savepoint's name as PostgreSQL knows it
     * @param kept whether its SAVEPOINT waits for the transaction's first statement: the settings are taken again
     *     when it runs there, after the connection was given the session's settings
     */
    private record SavepointSettings(String name, SavedSettings settings, boolean kept) {}

    /** Whether the transaction was opened by a BEGIN statement (COMMIT/ROLLBACK return to autocommit). */
    private boolean explicitTransaction;
    /** Why the forKey binding broke, until forKey or unbind: statements fail meanwhile. */
    private String bindingLost;

    /** Where reads go, their staleness bound, and what this session wrote (read-your-writes). */
    private final ReadPreferences reads;
    /** The physical connection of a {@code forKey} binding. */
    private Physical pinned;
    /** The hash of the key {@link #forKey} bound: the binding breaks once the ring gives it to another shard. */
    private long pinnedHash;

    public Session(ClusterRuntime runtime) {
        this.runtime = runtime;
        this.attachments = new Attachments(runtime, this::maxStalenessMs);
        this.transaction = new Transaction(attachments, this::keptSavepointsRan);
        this.reads = new ReadPreferences(
                runtime.settings(), runtime.routing().snapshot().topology().cluster());
    }

    public ClusterRuntime runtime() {
        return runtime;
    }

    /** Says which statement's span is running ({@code NONE} when it ends): a two-phase commit's span is its child. */
    void statementSpan(DriverTracing.Span span) {
        statementSpan = span;
    }

    // ---- RouteContext ------------------------------------------------------------------------------------

    @Override
    public boolean autoCommit() {
        return autoCommit;
    }

    @Override
    public boolean inTransaction() {
        return !autoCommit;
    }

    @Override
    public boolean runsOn(Node node) {
        return transaction.holds(node);
    }

    @Override
    public boolean readOnly() {
        return transaction.isReadOnly();
    }

    @Override
    public boolean readFromPrimary() {
        return reads.readFromPrimary();
    }

    @Override
    public long maxStalenessMs() {
        return reads.maxStalenessMs();
    }

    /**
     * The causal token's position on {@code shard}. A commit there left it unread ({@link ReadPreferences#committed});
     * it is read from the shard's primary (one round trip) only when a replica could now serve the read: a lag report
     * newer than the commit came (it may show a replica that replayed it), or {@code rywWaitMs} lets the read wait for
     * one. Until then {@link CausalToken#PENDING} keeps the read on the primary, as the commit's own position would
     * have: no report made before the commit shows a replica holding it.
     */
    @Override
    public long writtenLsn(int shard) {
        long written = reads.writtenLsn(shard);
        if (written == CausalToken.PENDING
                && (runtime.settings().rywWaitMs() > 0 || runtime.lag() != reads.pendingSince(shard))) {
            try {
                resolve(shard);
            } catch (SQLException e) {
                LOG.warn(
                        "could not read the WAL position of shard {}'s primary for this session's writes; its reads"
                                + " there go to the primary until its next write: {}",
                        shard,
                        e.toString());
                reads.resolved(shard, CausalToken.UNKNOWN);
            }
            written = reads.writtenLsn(shard);
        }
        return written;
    }

    /**
     * Reads the position of this session's commits on {@code shard} from its primary, now: on the session's connection
     * there, or on one of its own while a transaction holds that one (the query must not join, or fail in, the
     * application's transaction).
     *
     * @throws SQLException when it cannot be read (the shard stays pending)
     */
    private void resolve(int shard) throws SQLException {
        Node primary = runtime.routing().primary(shard);
        long lsn;
        if (transaction.holds(primary)) {
            try (Connection c = runtime.pools().borrow(primary)) {
                lsn = Physical.currentLsn(c);
            }
        } else {
            lsn = attachments.attach(primary, shard).currentLsn();
        }
        reads.resolved(shard, lsn);
    }

    @Override
    public int pinnedShard() {
        return pinned == null ? -1 : pinned.shard;
    }

    @Override
    public Node pinnedNode() {
        return pinned == null ? null : pinned.node;
    }

    @Override
    public int transactionShard() {
        Physical first = transaction.first();
        return first == null ? -1 : first.shard;
    }

    @Override
    public Node participant(int shard) {
        Physical p = transaction.participant(shard);
        return p == null ? null : p.node;
    }

    /** Whether a statement of the current transaction ran on some node (it has a participant). */
    boolean transactionStarted() {
        return transaction.isActive();
    }

    @Override
    public boolean transactionBound() {
        return transaction.isBound() || transaction.hasPending();
    }

    @Override
    public int isolation() {
        return transaction.effectiveIsolation();
    }

    @Override
    public long transactionRing() {
        return transactionRing;
    }

    @Override
    public boolean transactionWrote() {
        return transaction.wrote();
    }

    @Override
    public boolean snapshotTransaction() {
        return transaction.holdsSnapshot();
    }

    @Override
    public boolean joinedToRead(int shard) {
        return transaction.joinedToRead(shard);
    }

    @Override
    public boolean transactionSettings() {
        return transaction.hasSettings();
    }

    /** The transaction's kept settings ({@code SET LOCAL ...}, one string), or null. */
    String keptSettings() {
        return transaction.settings();
    }

    // ---- routing and execution -----------------------------------------------------------------------------

    /**
     * The route of {@code plan} with these parameters, by the current routing state.
     *
     * @throws SQLException 25P02 when a broken connection lost the transaction; 22P02/07001 for bad key values
     */
    public Route route(Plan plan, Object[] params) throws SQLException {
        return route(runtime.routing(), plan, params);
    }

    /**
     * Whether an autocommit batch of these statements runs as one transaction of its own, as pgjdbc runs a batch (one
     * implicit transaction: a statement that fails, or is held at a move's fence past {@code fenceWaitMs}, leaves
     * none of the others committed, so the application may run the whole batch again). Every statement must be a
     * write (not DDL: some cannot run in a transaction), on one shard, or on several with two-phase commit on, on a
     * connection not set read-only (pgjdbc ignores that in autocommit mode); else the statements run one by one, each
     * committing on its own (the driver's answer before, and what a batch over several shards gets without two-phase
     * commit).
     */
    public boolean batchAsOneTransaction(List<Plan> plans) {
        if (!autoCommit || plans.size() < 2 || readOnly()) {
            return false;
        }
        RoutingState r = runtime.routing();
        int shard = -1;
        boolean several = false;
        for (Plan plan : plans) {
            if (plan.kind() != StatementKind.WRITE) {
                return false;
            }
            Route route;
            try {
                route = route(r, plan, null);
            } catch (SQLException e) {
                continue; // it fails with its own error inside the transaction: nothing of the batch is written
            }
            if (route.target() == Route.Target.NODE) {
                several |= shard >= 0 && shard != route.shard();
                shard = route.shard();
            } else if (route.target() == Route.Target.EVERY_SHARD) {
                several = true;
            } else if (route.target() != Route.Target.REFUSED) {
                return false; // refused: as above
            }
        }
        return !several || runtime.twoPhaseCommit() != null;
    }

    Route route(RoutingState r, Plan plan, Object[] params) throws SQLException {
        if (!autoCommit) {
            // a transaction's routing depends on its isolation level and read-only mode: the server's defaults
            knowDefaults();
        }
        if (plan.target() != Plan.Target.DRIVER) {
            checkBinding();
            // ROLLBACK, COMMIT and SET still work on a lost transaction
            transaction.checkNotLost();
            transaction.checkRing(r.ring().version());
        }
        routedBy = r;
        if (!transaction.isActive()) {
            transactionRing = r.ring().version(); // what the statement that starts a transaction is routed by
        }
        return runtime.router().route(r, plan, params, this);
    }

    /**
     * Starts a read-only transaction on every shard's primary at once in one checked snapshot per shard, unless it
     * started already: before a {@link Route.Use#SNAPSHOT} route is opened. The shards are those of the routing
     * state the route was made by; when a shard move switched ranges while the snapshots were taken, the
     * transaction is rolled back and the statement refused (40001), as its route may be wrong.
     *
     * @param running where the snapshot statements are kept while they run (for cancel)
     */
    void beginSnapshot(Set<CrossShardRead.Cancellable> running, int queryTimeoutSeconds) throws SQLException {
        if (transaction.isActive()) {
            return;
        }
        RoutingState r = routedBy;
        List<Physical> all = new ArrayList<>();
        for (int shard : Router.holders(r)) {
            all.add(attachments.attach(r.primary(shard), shard));
        }
        transaction.beginSnapshot(
                all,
                new Snapshots(runtime.crossShardPool(), running, queryTimeoutSeconds, runtime.metrics()),
                r.ring().version());
        if (runtime.routing().ring().version() != r.ring().version()) {
            String why = "a shard move switched ranges while this read-only transaction took its snapshot of every"
                    + " shard";
            transaction.abort(why);
            throw new SQLException(why + ": roll back and run the transaction again", SqlStates.RETRY_WRITE);
        }
    }

    /**
     * Why the application's transaction failed (a statement in it failed), or null: until it ends, or rolls back to a
     * savepoint set before the failure, its statements fail with 25P02 and its COMMIT commits nothing, as PostgreSQL
     * treats a transaction after an error. PostgreSQL does so on the shard where the error arose; this covers the
     * others, and errors that arose on no shard of the transaction.
     */
    private String failedWhy;

    private static final Set<String> SAVEPOINT_COMMANDS = Set.of("SAVEPOINT", "RELEASE", "ROLLBACK TO");

    /** How many savepoints the transaction had when it failed: a ROLLBACK TO one of them recovers it. */
    private int failedAtSavepoints;

    /**
     * A statement of {@code plan} failed with {@code e} in the application's transaction: the transaction is failed
     * ({@link #failedWhy}). Besides PostgreSQL's own errors, the driver may have refused the statement (a second shard
     * without two-phase commit, SQL it cannot route), held it past {@code fenceWaitMs}, or a part read apart from the
     * transaction (a cross-shard read's) may have failed; an application that caught such an error and committed kept
     * the transaction's other statements: part of what it sent as one unit. pgjdbc's own errors raised in the client
     * (no server message: "no results were returned by the query") leave the transaction as pgjdbc leaves it.
     */
    void failedInTransaction(Plan plan, SQLException e) {
        // a savepoint statement that fails (refused on several shards, an unknown name) fails it as in PostgreSQL
        boolean savepoint = plan.kind() == StatementKind.TXN
                && plan.command() != null
                && SAVEPOINT_COMMANDS.contains(plan.command());
        if (!inTransaction()
                || failedWhy != null
                || copying()
                || plan.target() == Plan.Target.DRIVER
                || plan.target() == Plan.Target.BOUND && !savepoint
                || plan.kind() == StatementKind.TXN && !savepoint
                || plan.kind() == StatementKind.SESSION
                || transaction.isLost()
                || SqlStates.IN_FAILED_TRANSACTION.equals(e.getSQLState())
                || e instanceof org.postgresql.util.PSQLException pg && pg.getServerErrorMessage() == null) {
            return;
        }
        failedWhy = e.getMessage();
        failedAtSavepoints = savepoints.size();
    }

    /**
     * @throws SQLException 25P02 for a statement of {@code plan} (null: a COPY) in a transaction that failed ({@link
     *     #failedWhy}), but for COMMIT, ROLLBACK and ROLLBACK TO SAVEPOINT
     */
    void checkNotFailed(Plan plan) throws SQLException {
        if (failedWhy != null
                && !(plan != null
                        && plan.kind() == StatementKind.TXN
                        && plan.command() != null
                        && Set.of("COMMIT", "ROLLBACK", "ROLLBACK TO").contains(plan.command()))) {
            // PostgreSQL's words, as pgjdbc gives them, whichever shard's error failed the transaction; why is the
            // cause
            throw new SQLException(
                    "ERROR: current transaction is aborted, commands ignored until end of transaction block",
                    SqlStates.IN_FAILED_TRANSACTION,
                    new SQLException("the transaction failed: " + failedWhy));
        }
    }

    /**
     * Aborts the application's transaction (statements then fail with 25P02 until it rolls back): a statement run in
     * parts on several shards failed after some part ran, so that the transaction cannot commit part of it.
     */
    void abortPartly(String why) {
        if (inTransaction()) {
            transaction.abort(why);
        }
    }

    /**
     * A write the fences' gate let in reached {@code node} after this router's ZooKeeper lease ran out (it waited for a
     * connection, or for its statement's or batch's earlier parts): it is not sent there. In a transaction, whose
     * earlier parts may have run, the transaction is aborted, so that it cannot commit half of the statement.
     */
    SQLException leaseRanOut(String node) {
        String why = "this router's ZooKeeper lease ran out before the write reached " + node + " (it waited for a"
                + " connection, or for its statement's earlier parts), so a shard move may have gone on without this"
                + " router";
        if (inTransaction()) {
            transaction.abort(why);
            return new SQLException(
                    why + ": the write was not sent there and the transaction is aborted; roll it back and run it"
                            + " again",
                    SqlStates.RETRY_WRITE);
        }
        return new SQLException(
                why + ": the write was not sent there (the parts of a batch that ran are in its update counts; a"
                        + " statement's are rolled back); retry it",
                SqlStates.RETRY_WRITE);
    }

    /**
     * The physical connection a {@link Route.Target#NODE} route runs on: the binding's or the transaction's, or one
     * attached for it (starting or joining the transaction as the route says). A replica that cannot be reached is
     * ejected and the read routed again (another replica, else the primary); a replica to wait for that does not
     * replay the session's writes within {@code rywWaitMs} gives way to the primary.
     */
    Physical open(Route route) throws SQLException {
        switch (route.use()) {
            case PINNED:
                if (pinned.connection.isClosed()) {
                    throw bindingLost(
                            "the connection forKey(...) bound to " + pinned.node.name() + " was closed (it broke)");
                }
                checkPinnedOwner();
                if (!transaction.isActive()
                        && !pinned.node.equals(runtime.routing().primary(pinned.shard))) {
                    throw bindingLost("the node forKey(...) bound, " + pinned.node.name()
                            + ", is no longer the primary of shard " + route.shard() + " (a switchover or failover)");
                }
                if (!autoCommit && !transaction.isActive()) {
                    transaction.begin(pinned);
                } else if (autoCommit) {
                    try {
                        transaction.applyIsolation(pinned); // as on any autocommit route
                    } catch (SQLException e) {
                        throw failed(pinned, StatementKind.READ, e);
                    }
                }
                return pinned;
            case TRANSACTION:
                return transaction.participant(route.shard());
            case SNAPSHOT:
                Physical inSnapshot = transaction.participant(route.shard());
                if (inSnapshot == null) {
                    throw new IllegalStateException("no snapshot taken on shard " + route.shard());
                }
                return inSnapshot;
            case APART:
                // a connection of its own only where the transaction holds this node's
                return transaction.holds(route.node())
                        ? attachments.apart(route.node(), route.shard())
                        : attachments.attach(route.node(), route.shard());
            default:
                Physical p = attachFor(route);
                if (route.use() == Route.Use.AUTOCOMMIT) {
                    try {
                        transaction.applyIsolation(p);
                    } catch (SQLException e) {
                        throw failed(p, StatementKind.READ, e); // nothing of the statement ran
                    }
                }
                if (route.use() == Route.Use.BEGIN) {
                    transaction.begin(p);
                } else if (route.use() == Route.Use.JOIN) {
                    transaction.join(p);
                } else if (route.use() == Route.Use.READ_JOIN) {
                    transaction.joinToRead(p);
                }
                return p;
        }
    }

    private Physical attachFor(Route route) throws SQLException {
        Route r = route;
        DriverMetrics metrics = runtime.metrics();
        for (int attempt = 0; ; attempt++) {
            if (r.fallback() == null) {
                if (r.why() == Route.Why.NO_FRESH_REPLICA && metrics != DriverMetrics.NOOP) {
                    metrics.fallback(r.shard(), runtime.router().whyNoReplica(runtime.routing(), r.shard()));
                } else if (r.why() == Route.Why.NOT_REPLAYED) {
                    metrics.fallback(r.shard(), DriverMetrics.Fallback.NOT_REPLAYED);
                }
                return attachments.attach(r.node(), r.shard());
            }
            Physical p;
            try {
                p = attachReplica(r.node(), r.shard());
            } catch (NodePools.Abandoned fellBehind) {
                // no connection to the replica came before its lag passed the bound: the read is routed again (to
                // another replica, the primary, or refused under fallback=error); a third time, its last resort (under
                // fallback=error, routed again until the router refuses it)
                r = runtime.router().read(runtime.routing(), r.shard(), this, r.use());
                if (r.target() == Route.Target.REFUSED) {
                    throw r.refusal();
                }
                if (attempt >= 2 && r.fallback() != null && lastTry(attempt)) {
                    return lastResort(
                            r, DriverMetrics.Fallback.LAG_ABOVE_BOUND, "three passed the bound while it waited");
                }
                continue;
            }
            if (p != null) {
                if (r.why() != Route.Why.REPLICA_WAIT || awaitReplay(p, r.lsn())) {
                    return p;
                }
                metrics.fallback(r.shard(), DriverMetrics.Fallback.RYW_TIMEOUT);
                return attachments.attach(r.fallback(), r.shard());
            }
            if (attempt >= 1 && lastTry(attempt)) {
                return lastResort(r, DriverMetrics.Fallback.EJECTED, "its replicas could not be reached");
            }
            // the replica is ejected now: the same read routed again finds another one, or the primary
            r = runtime.router().read(runtime.routing(), r.shard(), this, r.use());
            if (r.target() == Route.Target.REFUSED) {
                throw r.refusal();
            }
        }
    }

    /** How many times a read its replicas failed is routed again under {@code fallback=error}. */
    private static final int REROUTES_WITHOUT_FALLBACK = 8;

    /**
     * Whether a read its replicas failed {@code attempt + 1} times takes its last resort now: under {@code
     * fallback=primary}, the primary; under {@code fallback=error} it is routed again (to a replica not ejected yet,
     * until the router refuses it) a few more times first.
     */
    private boolean lastTry(int attempt) {
        return runtime.router().fallsBackToPrimary() || attempt >= REROUTES_WITHOUT_FALLBACK;
    }

    /**
     * The last resort of a read its replicas failed: the primary, or under {@code fallback=error} a refusal (55000:
     * nothing was sent) — that setting keeps reads off the primaries whatever failed them, except a read-your-writes
     * read whose replica did not replay the write within rywWaitMs (it goes to the primary: that setting is about
     * staleness, and the write is there).
     */
    private Physical lastResort(Route r, DriverMetrics.Fallback why, String what) throws SQLException {
        if (!runtime.router().fallsBackToPrimary()) {
            throw new SQLException(
                    "no replica of shard " + r.shard() + " could serve the read (" + what + "), and fallback=error"
                            + " keeps the read off the primary",
                    SqlStates.NO_FRESH_REPLICA);
        }
        runtime.metrics().fallback(r.shard(), why);
        return attachments.attach(r.fallback(), r.shard());
    }

    /** A connection to a replica, or null (the replica ejected) when it cannot be reached. */
    private Physical attachReplica(Node replica, int shard) throws SQLException {
        try {
            return attachments.attach(replica, shard);
        } catch (SQLException e) {
            if (e instanceof NodePools.Abandoned || !ConnectionErrors.isConnectionError(e)) {
                throw e;
            }
            runtime.health().eject(replica, shard, e);
            return null;
        }
    }

    /** Hands back connections a cross-shard read used apart from the transaction ({@link Route.Use#APART}). */
    void releaseApart(List<Physical> given) {
        attachments.releaseApart(given);
    }

    /** Polls the replica of {@code p} until it replayed {@code lsn}; false when it did not within rywWaitMs. */
    private boolean awaitReplay(Physical p, long lsn) throws SQLException {
        long started = System.nanoTime();
        long deadline = started + runtime.settings().rywWaitMs() * 1_000_000;
        while (true) {
            long replayed = p.replayLsn();
            runtime.health().sawReplayed(p.node, replayed);
            if (replayed >= lsn) {
                runtime.metrics().rywWait(System.nanoTime() - started, true);
                return true;
            }
            if (System.nanoTime() - deadline > 0) {
                runtime.metrics().rywWait(System.nanoTime() - started, false);
                return false;
            }
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SQLException(
                        "interrupted while waiting for a replica to replay this session's writes", "57014", e);
            }
        }
    }

    /** A SAVEPOINT, SET LOCAL or the like ran in the transaction: it cannot reach another shard now. */
    void bindTransaction(String what) throws SQLException {
        transaction.bind(what);
    }

    /**
     * Keeps a statement of a transaction that has no shard yet (SAVEPOINT, SET LOCAL...): it binds the transaction to
     * its first shard. {@code SET TRANSACTION} modes become the transaction's own instead (every shard it reaches).
     */
    /** A statement ran on {@code p}: a {@code SET TRANSACTION} there gave the transaction under way its modes. */
    void transactionModesRan(Plan plan, Physical p) {
        if ("SET TRANSACTION".equals(plan.command())
                && p.inTransaction
                && plan.setting() != null
                && !plan.setting().isEmpty()) {
            transaction.modesRan(TransactionModes.of(plan.setting()));
        }
    }

    void defer(Plan plan, String sql) {
        if ("SET TRANSACTION".equals(plan.command())
                && plan.setting() != null
                && !plan.setting().isEmpty()) {
            transaction.modes(TransactionModes.of(plan.setting()));
        } else {
            transaction.defer(sql);
            savepointRan(plan.command(), plan.setting());
        }
    }

    /**
     * A statement of {@code kind} failed on {@code p} with {@code e}; returns what to throw. On a connection-level
     * error (see {@link ConnectionErrors}) the physical connection is dropped (the next statement gets a fresh one),
     * a replica is ejected, a transaction on it is lost (statements fail with 25P02 until rollback()), and a write
     * outside a transaction becomes 08007: it may or may not have committed, and it is never retried.
     */
    SQLException failed(Physical p, StatementKind kind, SQLException e) {
        return failed(p, kind, false, e);
    }

    /**
     * {@link #failed(Physical, StatementKind, SQLException)} for a statement that may have ended its transaction
     * itself ({@code mayEndTransaction}: several statements in one string, a {@code COMMIT} among them), whose
     * connection error in a transaction is never reported as a rollback.
     */
    SQLException failed(Physical p, StatementKind kind, boolean mayEndTransaction, SQLException e) {
        if (attachments.aborted() && ConnectionErrors.isConnectionError(e)) {
            // cut by Connection.abort: not the node's fault (no ejection), and never retried
            attachments.detach(p);
            if (!p.inTransaction
                    && !p.ownTransaction
                    && (kind == StatementKind.WRITE || kind == StatementKind.DDL || kind == StatementKind.UTILITY)) {
                return new SQLException(
                        "this connection was aborted (Connection.abort) while a statement ran on " + p.node.name()
                                + ": it may or may not have committed; check whether it took effect before running it"
                                + " again",
                        SqlStates.OUTCOME_UNKNOWN,
                        e);
            }
            SQLException aborted = Attachments.abortedError();
            aborted.initCause(e);
            return aborted;
        }
        if (!ConnectionErrors.isConnectionError(e)) {
            return e;
        }
        attachments.detach(p);
        if (p.node.role() != NodeRole.PRIMARY) {
            runtime.health().eject(p.node, p.shard, e);
        }
        if (p == pinned) {
            bindingLost("the connection forKey(...) bound to " + p.node.name() + " broke (" + e.getMessage() + ")");
        }
        if (p.inTransaction) {
            transaction.lose(p, e);
            String by = mayEndTransaction ? null : replacing(p);
            if (by != null) {
                // rolled back with its connection: a retryable failure, not a broken node
                return new SQLException(
                        "this transaction's connection to " + p.node.name() + " broke (" + e.getMessage() + ") while "
                                + by + ": the transaction was rolled back there, nothing of it was committed; roll it"
                                + " back and retry it",
                        SqlStates.RETRY_WRITE,
                        e);
            }
            return e;
        }
        if (p.ownTransaction) {
            return e; // PostgreSQL rolled it back with the connection
        }
        if (kind == StatementKind.WRITE || kind == StatementKind.DDL || kind == StatementKind.UTILITY) {
            return new SQLException(
                    "the outcome of this statement on " + p.node.name() + " is unknown: the connection broke while it"
                            + " ran (" + e.getMessage() + "), so it may or may not have committed. Shardline does not"
                            + " retry writes; check whether it took effect before running it again",
                    SqlStates.OUTCOME_UNKNOWN,
                    e);
        }
        return e;
    }

    /**
     * What is replacing {@code p}'s node as its shard's primary (a switchover's or failover's hold, or a topology that
     * names another primary): it ends the transactions open there; null when nothing is.
     */
    private String replacing(Physical p) {
        if (p.node.role() != NodeRole.PRIMARY) {
            return null;
        }
        io.shardline.router.route.RoutingState r = runtime.routing();
        for (io.shardline.topology.Shard shard : r.switching()) {
            if (shard.id() == p.shard && shard.primary().equals(p.node)) {
                return (shard.failingOver() ? "failover " : "switchover ") + shard.switchover() + " was replacing it as"
                        + " the primary of shard " + p.shard;
            }
        }
        return p.node.equals(r.primary(p.shard)) ? null : "shard " + p.shard + "'s primary changed";
    }

    /**
     * Whether a read that failed with {@code e} on replica {@code p} (already ejected by {@link #failed}) may run once
     * more elsewhere: an autocommit read on a replica that broke. Sleeps a jittered 5-25 ms first, so that the
     * readers of a replica that just died do not all land on the next one at once.
     */
    boolean retryElsewhere(Physical p, StatementKind kind, SQLException e) throws SQLException {
        if (kind != StatementKind.READ
                || p.node.role() == NodeRole.PRIMARY
                || !autoCommit
                || transaction.isActive()
                || pinned != null
                || !ConnectionErrors.isConnectionError(e)) {
            return false;
        }
        try {
            Thread.sleep(5 + ThreadLocalRandom.current().nextInt(21));
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
            throw e;
        }
        return true;
    }

    /**
     * After {@code plan} ran on {@code p}: a committed write advances the causal token. A read whose result set is
     * updatable ({@code mayWrite}) counts as a write: its rows may be written back through {@code p} after it returned
     * (the causal token is read later, when a read could use a replica).
     */
    void executed(Physical p, Plan plan, boolean mayWrite) {
        StatementKind kind = plan.kind();
        if (kind == StatementKind.DDL) {
            runtime.schemaChanged();
            // uncommitted DDL: its columns may be read (and kept) before it commits, so forget them again after
            ddlInTransaction |= p.inTransaction;
        }
        if (kind == StatementKind.READ && !mayWrite
                || kind == StatementKind.TXN
                || kind == StatementKind.SESSION
                || !plan.setConfig().isEmpty() && !autoCommit && (!p.inTransaction || transaction.isReadOnly())) {
            // (the last: a transaction's setting, answered outside it and kept for its shards, or set in a read-only
            // one: nothing was written)
            return;
        }
        wroteThrough(p);
    }

    /** A write ran on {@code p}: in the transaction, or committed (its position is read when a read needs it). */
    void wroteThrough(Physical p) {
        if (p.inTransaction) {
            transaction.markWrote();
            transaction.markChanged();
        } else if (p.node.role() == NodeRole.PRIMARY && !p.ownTransaction) {
            recordCommit(p);
        }
    }

    /**
     * The application holds a physical object (an unwrapped statement or result set, which leads to its connection):
     * every attached connection may be changed behind the driver's back, so each is reset with {@code DISCARD ALL}
     * before reuse.
     */
    public void physicalHandedOut() {
        attachments.allMayHaveChanged();
    }

    /**
     * Gives up a physical connection left in a state no statement may follow (a COPY TO STDOUT cancelled part-way:
     * the rest of its output is still on the way): its pool evicts it, and a transaction it was part of is lost.
     */
    void abandon(Physical p, SQLException why) {
        try {
            p.connection.abort(Runnable::run);
        } catch (SQLException | RuntimeException e) {
            why.addSuppressed(e);
        }
        attachments.detach(p);
        try {
            p.connection.close();
        } catch (SQLException e) {
            // closed already: its pool closes what is left of it
        }
        if (p.inTransaction) {
            transaction.lose(p, why);
        }
    }

    /** Gives up a physical connection that cannot be put back in autocommit mode (its pool evicts it). */
    void discard(Physical p) {
        attachments.detach(p);
    }

    /** After the dispatcher committed a transaction of its own on {@code p} (DDL all or nothing). */
    void committedApart(Physical p, Plan plan) {
        if (plan.kind() == StatementKind.DDL) {
            runtime.schemaChanged(); // again: a catalog read between the DDL and its commit saw the old one
        }
        recordCommit(p);
    }

    private void recordCommit(Physical p) {
        if (runtime.settings().readYourWrites()) {
            reads.committed(p.shard, runtime.lag());
        }
    }

    // ---- statements the driver handles itself ------------------------------------------------------------------

    /**
     * Runs a statement the driver handles (BEGIN, COMMIT, ROLLBACK, SET/RESET/DISCARD, SHOW). Returns the physical
     * statement that produced a result (SHOW), or null; the caller closes it.
     */
    Statement handle(Plan plan, String sql, Object[] params) throws SQLException {
        String command = plan.command();
        switch (command) {
            case "EXPLAIN ROUTE":
                return explained(plan.setting(), params);
            case "BEGIN":
                // inside a transaction PostgreSQL ignores BEGIN, and its modes, with a warning
                if (autoCommit) {
                    autoCommit = false;
                    explicitTransaction = true;
                    transaction.modes(TransactionModes.of(plan.setting()));
                }
                return null;
            case "COMMIT":
            case "ROLLBACK":
                if (plan.setting() == null) {
                    if (command.equals("COMMIT")) {
                        commitByApplication();
                    } else {
                        rollbackByApplication();
                    }
                } else {
                    endAndChain(command);
                }
                return null;
            case "SET":
            case "RESET":
            case "DISCARD":
                if (plan.setting() != null && plan.setting().startsWith("shardline.")) {
                    reads.apply(command, plan.setting(), sql);
                } else {
                    applyToSession(command, plan.setting(), sql, plan.sessionEffects());
                }
                return null;
            case "SHOW":
                return show(plan.setting(), sql);
            default:
                throw new IllegalStateException("not a driver command: " + command);
        }
    }

    /**
     * After {@code SELECT set_config(name, value, false)} ran on one node: recorded and applied on every other node
     * like {@code SET} (a transaction-local one, {@code is_local} true, is not).
     */
    void configured(Plan plan, Object[] params, Physical ranOn) throws SQLException {
        String custom = plan.transactionLocalName(params);
        if (custom != null && transaction.isActive() && ranOn.inTransaction) {
            // a custom setting of the transaction (a tenant): on every shard it reached, and kept for those it reaches
            String[] given = plan.transactionLocalSetting(params);
            String value = given != null ? given[1] : currentSetting(ranOn, custom);
            String sql = setLocal(custom, value);
            transaction.keepSetting(custom, value, sql);
            for (Physical p : transaction.participants()) {
                if (p != ranOn) {
                    try (Statement s = p.connection.createStatement()) {
                        s.execute(sql);
                    } catch (SQLException e) {
                        throw failed(p, StatementKind.READ, e);
                    }
                }
            }
            return;
        }
        List<KeySource> arguments = plan.setConfig();
        Object name = Plan.argument(arguments.get(0), params);
        Object value = Plan.argument(arguments.get(1), params);
        Object local = Plan.argument(arguments.get(2), params);
        if (!(name instanceof String setting) || !Boolean.FALSE.equals(Plan.bool(local))) {
            if (transaction.isActive() && !transaction.isReadOnly()) {
                // the transaction holds a setting of its own: a cross-shard read must read in it, as after a write
                // (not a read-only one: PostgreSQL enforces that it wrote nothing, and its commit needs no 2PC)
                transaction.markWrote();
            }
            return;
        }
        String replay = "SELECT set_config(" + literal(setting) + ", "
                + (value == null ? "NULL" : literal(value.toString())) + ", false)";
        // lasting: set_config may set what RESET ALL leaves (role, session_authorization), so DISCARD ALL on release
        applyToSession("SET", setting.toLowerCase(Locale.ROOT), replay, true);
    }

    /**
     * After {@code SELECT set_config(name, value, true)} ran outside the transaction before its first statement
     * ({@link io.shardline.router.route.Route.Why#TRANSACTION_SETTING}): the transaction keeps the setting and applies
     * it on every shard it reaches.
     */
    void keepSetting(Plan plan, Object[] params) {
        String[] setting = plan.transactionLocalSetting(params);
        transaction.keepSetting(setting[0], setting[1], setLocal(setting[0], setting[1]));
    }

    private static String setLocal(String name, String value) {
        return "SET LOCAL \"" + name.replace("\"", "\"\"") + "\" TO " + literal(value);
    }

    /** The value of setting {@code name} on {@code p}, as the server holds it. */
    private static String currentSetting(Physical p, String name) throws SQLException {
        try (Statement s = p.connection.createStatement();
                ResultSet rs = s.executeQuery("SELECT current_setting(" + literal(name) + ")")) {
            rs.next();
            return rs.getString(1);
        }
    }

    /** A string literal read the same whatever standard_conforming_strings is. */
    public static String literal(String value) {
        String quoted = value.replace("'", "''");
        return value.indexOf('\\') >= 0 ? "E'" + quoted.replace("\\", "\\\\") + "'" : "'" + quoted + "'";
    }

    private void endExplicitTransaction() {
        if (explicitTransaction) {
            explicitTransaction = false;
            autoCommit = true;
        }
    }

    /**
     * SET/RESET/DISCARD on every node this connection uses (the home primary when it uses none yet).
     *
     * @param lasting whether RESET ALL does not undo it (SET ROLE, SET SESSION AUTHORIZATION)
     */
    public void applyToSession(String command, String setting, String sql, boolean lasting) throws SQLException {
        checkNotCopying();
        if (!autoCommit && settingsAtBegin == null) {
            settingsAtBegin = saveSettings();
        }
        attachments.releaseFormer();
        if (attachments.isEmpty()) {
            home();
        }
        try {
            attachments.apply(command, setting, sql, lasting);
        } catch (SQLException e) {
            resyncBinding();
            throw e;
        }
        // the session's value replaces one the transaction keeps for its shards, as it would in PostgreSQL
        transaction.forgetSetting(setting);
        if ("DISCARD".equals(command) && "all".equals(setting)) {
            searchPath = null;
        } else if (setting != null && PATH_SETTINGS.contains(setting)) {
            searchPath = readSearchPath();
        }
        if (setting != null && TRANSACTION_SETTINGS.contains(setting)) {
            readTransactionDefaults();
            if (!setting.equals("default_transaction_read_only")
                    && (!setting.equals("characteristics")
                            || sql.toUpperCase(Locale.ROOT).contains("ISOLATION"))) {
                // the level setTransactionIsolation set is replaced by the session's new default: the last one wins
                transaction.jdbcIsolation(-1);
            }
        }
    }

    /** Settings that change the session's default transaction modes. */
    private static final java.util.Set<String> TRANSACTION_SETTINGS = java.util.Set.of(
            "default_transaction_isolation", "default_transaction_read_only", "characteristics", "all");

    /**
     * Reads the session's default isolation level and read-only mode back from a node (they decide routing): a
     * primary this connection uses, else the home shard's, else (a session reading replicas while that primary is
     * down) a replica it uses, whose serializable default runs as repeatable read.
     */
    private void readTransactionDefaults() throws SQLException {
        RoutingState r = runtime.routing();
        Physical on = attachments.all().stream()
                .filter(p -> p.node.role() == NodeRole.PRIMARY && Attachments.current(r, p))
                .findFirst()
                .orElse(null);
        try {
            readTransactionDefaults(on != null ? on : home());
        } catch (SQLException primaryFailed) {
            Physical replica = attachments.all().stream()
                    .filter(p -> p.node.role() != NodeRole.PRIMARY)
                    .findFirst()
                    .orElseThrow(() -> primaryFailed);
            readTransactionDefaults(replica);
        }
    }

    private void readTransactionDefaults(Physical on) throws SQLException {
        try (Statement s = on.connection.createStatement();
                ResultSet rs = s.executeQuery("SELECT current_setting('default_transaction_isolation'),"
                        + " current_setting('default_transaction_read_only')::boolean")) {
            rs.next();
            int level = on.node.role() != NodeRole.PRIMARY && on.serializableDefault
                    ? Connection.TRANSACTION_SERIALIZABLE
                    : TransactionModes.isolationLevel(rs.getString(1));
            transaction.sessionDefaults(level, rs.getBoolean(2));
            defaultsKnown = true;
        }
    }

    /** Settings that change how an unqualified name resolves: the path itself and who {@code $user} is. */
    private static final java.util.Set<String> PATH_SETTINGS =
            java.util.Set.of("search_path", "role", "session", "session_authorization", "all");

    /** The search path a physical connection of this session has now, {@code $user} resolved. */
    private SearchPath readSearchPath() throws SQLException {
        try (Statement s = attachments.all().get(0).connection.createStatement();
                ResultSet rs = s.executeQuery("SELECT current_setting('search_path'), current_user")) {
            rs.next();
            return SearchPath.parse(rs.getString(1), rs.getString(2));
        } catch (IllegalArgumentException e) {
            throw new SQLException("cannot read the search_path: " + e.getMessage(), SqlStates.INVALID_PARAMETER, e);
        }
    }

    /**
     * The search path this session set ({@code SET search_path}, {@code set_config('search_path', ...)}), by which
     * unqualified table names are resolved; null for the connections' default.
     */
    public SearchPath searchPath() {
        return searchPath;
    }

    private Statement show(String setting, String sql) throws SQLException {
        Physical on = bound();
        // SHOW transaction_isolation before a transaction's first statement: the level the application set
        transaction.applyIsolation(on);
        Statement s = on.connection.createStatement();
        try {
            if (setting != null && setting.startsWith("shardline.")) {
                if (setting.equals("shardline.causal_token")) {
                    resolvePending();
                }
                String value = reads.show(setting);
                // The value is the driver's; PostgreSQL only shapes it into a result set.
                s.execute(answer(setting, value));
            } else if (!autoCommit && !transaction.isActive() && pendingMode(setting) != null) {
                // before the transaction's first statement it is begun nowhere yet: its modes are the driver's
                s.execute(answer(setting, pendingMode(setting)));
            } else if (!transaction.isActive() && setting != null && transaction.keptValue(setting) != null) {
                // a setting it keeps for the shards it will reach (set_config(..., true) before its first statement)
                s.execute(answer(setting, transaction.keptValue(setting)));
            } else {
                s.execute(sql);
            }
            return s;
        } catch (SQLException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /**
     * {@code COMMIT AND CHAIN} / {@code ROLLBACK AND CHAIN}, as PostgreSQL: the transaction ends and the next one is
     * open at once with its isolation level, access mode and deferrable mode (a transaction begun by {@code BEGIN}
     * stays a transaction block; with autocommit off, the next statement's transaction takes them). A failed
     * transaction is rolled back and chained, without an error, as PostgreSQL does; when a commit itself fails (a
     * deferred constraint, a serialization failure), nothing is chained (PostgreSQL neither). Outside a transaction
     * block it is 25P01 and nothing ends.
     */
    private void endAndChain(String command) throws SQLException {
        if (autoCommit) {
            throw new SQLException(
                    command + " AND CHAIN can only be used in transaction blocks", SqlStates.NO_ACTIVE_TRANSACTION);
        }
        TransactionModes chained = transaction.chainedModes();
        boolean explicit = explicitTransaction;
        if (command.equals("COMMIT") && failedWhy == null) {
            commitByApplication();
        } else {
            rollbackByApplication();
        }
        if (explicit) {
            autoCommit = false;
            explicitTransaction = true;
        }
        transaction.modes(chained);
    }

    /**
     * {@code EXPLAIN ROUTE statement}: {@link #explain}'s rows (the statement's parameters those of the prepared
     * {@code EXPLAIN ROUTE}) as a result set of {@code shard, node, role, reason}, shaped by PostgreSQL on the
     * connection {@code SHOW} uses.
     */
    private Statement explained(String sql, Object[] params) throws SQLException {
        Object[] parameters = params == null || params.length < 2
                ? new Object[0]
                : java.util.Arrays.copyOfRange(params, 1, params.length);
        StringBuilder values = new StringBuilder("SELECT * FROM (VALUES ");
        String separator = "";
        for (RouteExplanation e : explain(sql, parameters)) {
            values.append(separator)
                    .append('(')
                    .append(e.shard())
                    .append(", ")
                    .append(e.node() == null ? "NULL" : literal(e.node()))
                    .append("::text, ")
                    .append(e.role() == null ? "NULL" : literal(e.role()))
                    .append("::text, ")
                    .append(literal(e.reason()))
                    .append("::text)");
            separator = ", ";
        }
        values.append(") AS route(shard, node, role, reason)");
        Statement s = bound().connection.createStatement();
        try {
            s.execute(values.toString());
            return s;
        } catch (SQLException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /** A query whose one row is {@code value} as text, labelled {@code setting}, as SHOW answers. */
    private static String answer(String setting, String value) {
        return "SELECT " + literal(value) + "::text AS \"" + setting.replace("\"", "\"\"") + "\"";
    }

    /**
     * What {@code SHOW setting} answers in the transaction about to begin ({@code BEGIN ISOLATION LEVEL ...}, {@code
     * SET TRANSACTION ...}, a chained one), or null for another setting.
     */
    private String pendingMode(String setting) {
        if ("transaction_isolation".equals(setting)) {
            return TransactionModes.isolationName(transaction.effectiveIsolation())
                    .toLowerCase(Locale.ROOT);
        }
        if ("transaction_read_only".equals(setting)) {
            return transaction.isReadOnly() ? "on" : "off";
        }
        return null;
    }

    // ---- COPY FROM STDIN and TO STDOUT ------------------------------------------------------------------------

    /** The COPY running on this connection, null when none: nothing else runs until it ends. */
    private volatile CopyOperation copying;

    void copyStarted(CopyOperation copy) {
        copying = copy;
    }

    void copyEnded(CopyOperation copy) {
        if (copying == copy) {
            copying = null;
        }
    }

    /** @throws SQLException 55000 while a COPY runs on this connection (as pgjdbc's connection is busy) */
    public void checkNotCopying() throws SQLException {
        CopyOperation running = copying;
        if (running != null) {
            throw new SQLException(
                    running instanceof CopyIn
                            ? "a COPY FROM STDIN is in progress on this connection: end it (endCopy) or cancel it"
                                    + " (cancelCopy) first"
                            : "a COPY TO STDOUT is in progress on this connection: read it to its end or cancel it"
                                    + " (cancelCopy) first",
                    "55000");
        }
    }

    /** Whether a COPY runs on this connection. */
    public boolean copying() {
        return copying != null;
    }

    /** Cancels the COPY left running (the connection closes): the rows of a COPY FROM STDIN are not written. */
    public void cancelCopy() {
        CopyOperation running = copying;
        if (running != null) {
            try {
                running.cancelCopy();
            } catch (SQLException | RuntimeException ignored) {
                // cancelling rolls back what it wrote: a failure to say so leaves nothing committed either
            }
            copying = null;
        }
    }

    // ---- the JDBC transaction API ------------------------------------------------------------------------------

    public void setAutoCommit(boolean autoCommit) throws SQLException {
        checkNotCopying();
        if (autoCommit && !this.autoCommit) {
            // as pgjdbc: a commit that fails leaves autocommit off, so that the application's rollback() in its
            // catch block works (the transaction ended on every shard either way); a transaction begun by SQL BEGIN
            // stays one, so that its SQL ROLLBACK or COMMIT still returns the connection to autocommit
            commit();
            explicitTransaction = false;
            this.autoCommit = true;
            return;
        }
        this.autoCommit = autoCommit;
        explicitTransaction = false;
    }

    /**
     * Commits the transaction (two-phase when it wrote on several shards); whatever the outcome, no physical
     * connection is left in an open transaction afterwards.
     */
    public void commit() throws SQLException {
        // (a shard it only read: its COMMIT would not report the failure, and its connection may be gone with it)
        if (failedWhy != null && (!transaction.failedSomewhere() || transaction.joinedToReadAny())) {
            // failed where PostgreSQL did not see it: rolled back, as PostgreSQL answers COMMIT of a failed transaction
            // (pgjdbc says nothing; on several shards two-phase commit reports it, as for PostgreSQL's own errors)
            // reported where something would have committed: a transaction that wrote on several shards (one that
            // only read loses nothing, as on one shard)
            boolean several = transaction.onSeveralShards() && transaction.wrote();
            String why = failedWhy;
            rollback();
            if (several) {
                throw new SQLException(
                        "a statement of this transaction failed (" + why + "): it was rolled back on every shard,"
                                + " nothing was committed",
                        SqlStates.TRANSACTION_ROLLBACK);
            }
            return;
        }
        if (transaction.changed()) {
            try {
                // a router cut off from ZooKeeper past its lease may be committing on a primary a failover replaced
                runtime.awaitLease(
                        "this COMMIT", "the transaction was rolled back, nothing was committed; retry the transaction");
            } catch (SQLException held) {
                try {
                    rollback();
                } catch (SQLException e) {
                    held.addSuppressed(e);
                }
                throw held;
            }
        }
        Physical former = transaction.onFormerPrimary(runtime.routing());
        if (former != null) {
            // the node may still take the commit (cut off from the rebalancer, not from this application): what it
            // commits is not on the primary the shard has now, and would be lost
            String how = former.node.equals(runtime.routing().primary(former.shard))
                    ? "is being replaced by a failover during this transaction (" + former.node.name()
                            + " may be stalled rather than dead, and must take no commit)"
                    : "changed during this transaction (" + former.node.name() + " is no longer its primary)";
            SQLException changed = new SQLException(
                    "the primary of shard " + former.shard + " " + how + ": it was rolled back, nothing was"
                            + " committed; retry it",
                    SqlStates.RETRY_WRITE);
            try {
                rollback();
            } catch (SQLException e) {
                changed.addSuppressed(e);
            }
            throw changed;
        }
        boolean committed = false;
        // PostgreSQL answers COMMIT of a transaction a statement failed in with a rollback, and pgjdbc says nothing
        boolean failed = settingsAtBegin != null && transaction.failedSomewhere();
        try {
            for (Physical p : transaction.commit(
                    runtime.twoPhaseCommit(), runtime::nextGid, runtime.metrics(), runtime.tracing(), statementSpan)) {
                if (p.node.role() == NodeRole.PRIMARY && !failed) {
                    recordCommit(p);
                }
            }
            committed = !failed;
        } catch (SQLException e) {
            if (SqlStates.OUTCOME_UNKNOWN.equals(e.getSQLState())) {
                // it may have committed: later reads there wait for the primary's position as after a commit
                for (Physical p : transaction.mayHaveCommitted()) {
                    if (p.node.role() == NodeRole.PRIMARY) {
                        recordCommit(p);
                    }
                }
            }
            throw e;
        } finally {
            transactionEnded(committed);
        }
    }

    public void rollback() throws SQLException {
        try {
            transaction.rollback();
        } finally {
            transactionEnded(false);
        }
    }

    /**
     * {@link #commit} of the application's ({@code Connection.commit()} or SQL {@code COMMIT}): a transaction begun by
     * a SQL {@code BEGIN} ends back in autocommit mode (else every later statement would run in a transaction nobody
     * commits).
     */
    public void commitByApplication() throws SQLException {
        checkNotCopying();
        try {
            commit();
        } finally {
            endExplicitTransaction();
        }
    }

    /** {@link #rollback} of the application's ({@code Connection.rollback()} or SQL {@code ROLLBACK}). */
    public void rollbackByApplication() throws SQLException {
        checkNotCopying();
        try {
            rollback();
        } finally {
            endExplicitTransaction();
        }
    }

    private void transactionEnded(boolean committed) {
        failedWhy = null;
        // a cross-shard read's connections apart from the transaction: its result is the transaction's
        attachments.releaseAllApart();
        SavedSettings before = settingsAtBegin;
        settingsAtBegin = null;
        savepoints.clear();
        if (before != null && !committed) {
            // a failed COMMIT rolled back too (or its outcome is unknown and its connection was given up)
            restoreSettings(before);
        }
        resyncBinding();
        if (ddlInTransaction) {
            ddlInTransaction = false;
            runtime.schemaChanged();
        }
    }

    private SavedSettings saveSettings() {
        return new SavedSettings(
                attachments.saveSettings(),
                searchPath,
                defaultsKnown,
                transaction.defaultIsolation(),
                transaction.defaultReadOnly(),
                transaction.jdbcIsolation());
    }

    private void restoreSettings(SavedSettings saved) {
        attachments.restoreSettings(saved.settings());
        searchPath = saved.searchPath();
        defaultsKnown = saved.defaultsKnown();
        transaction.sessionDefaults(saved.isolation(), saved.readOnly());
        transaction.jdbcIsolation(saved.jdbcIsolation());
    }

    /**
     * A SAVEPOINT, RELEASE or ROLLBACK TO ran (or was kept for the transaction's first statement), by SQL or by the
     * JDBC savepoint calls ({@code name} as PostgreSQL knows it: either may roll back to the other's). A rollback to
     * a savepoint undoes the settings made since, as PostgreSQL does on the transaction's connection: on the others.
     */
    void savepointRan(String command, String name) {
        boolean set = command.equals("SAVEPOINT");
        if (name == null || !(set || command.equals("RELEASE") || command.equals("ROLLBACK TO"))) {
            return;
        }
        String pgName = truncatedIdentifier(name);
        if (set) {
            savepoints.add(new SavepointSettings(pgName, saveSettings(), !transaction.isActive()));
            return;
        }
        int i = savepointIndex(pgName);
        if (i < 0) {
            return; // made where the driver does not see (a function, DO): its settings are not followed
        }
        if (command.equals("RELEASE")) {
            savepoints.subList(i, savepoints.size()).clear();
        } else {
            if (i < failedAtSavepoints) {
                failedWhy = null; // set before the failure: the rollback to it undoes the failed statement
            }
            savepoints.subList(i + 1, savepoints.size()).clear();
            SavepointSettings at = savepoints.get(i);
            if (at.settings().settings().state().version() != attachments.settingsVersion()) {
                restoreSettings(at.settings());
                // the savepoint stays: a later rollback to it finds the settings as they are now
                savepoints.set(i, new SavepointSettings(pgName, saveSettings(), at.kept()));
            }
        }
    }

    /** Whether the open transaction set a savepoint named {@code name} (as PostgreSQL keeps it) that is not released. */
    public boolean hasSavepoint(String name) {
        return savepointIndex(truncatedIdentifier(name)) >= 0;
    }

    /** The newest savepoint named {@code pgName}, as PostgreSQL finds it, or -1. */
    private int savepointIndex(String pgName) {
        int i = savepoints.size() - 1;
        while (i >= 0 && !savepoints.get(i).name().equals(pgName)) {
            i--;
        }
        return i;
    }

    /** The transaction's first statement ran the savepoints kept for it: they hold the settings as they are now. */
    private void keptSavepointsRan() {
        for (int i = 0; i < savepoints.size(); i++) {
            SavepointSettings sp = savepoints.get(i);
            if (sp.kept()) {
                savepoints.set(i, new SavepointSettings(sp.name(), saveSettings(), false));
            }
        }
    }

    /** {@code name} as PostgreSQL keeps an identifier: at most 63 bytes. */
    private static String truncatedIdentifier(String name) {
        String cut = name;
        while (cut.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 63) {
            cut = cut.substring(0, cut.offsetByCodePoints(cut.length(), -1));
        }
        return cut;
    }

    /**
     * Resets and gives the session's settings to a forKey binding's connection that may hold others, now: it is used
     * without {@link Attachments#attach}, where the others are. One that cannot take them breaks the binding.
     */
    private void resyncBinding() {
        if (pinned != null && pinned.resync && !pinned.inTransaction) {
            try {
                attachments.sync(pinned);
            } catch (SQLException e) {
                bindingLost("the connection forKey(...) bound could not be given the session's settings again ("
                        + e.getMessage() + ")");
            }
        }
    }

    public void setReadOnly(boolean readOnly) throws SQLException {
        checkNotCopying();
        transaction.setReadOnly(readOnly);
    }

    public void setTransactionIsolation(int level) throws SQLException {
        checkNotCopying();
        transaction.setIsolation(level);
        // not undone by a rollback (pgjdbc sets it outside any transaction): the settings a rollback restores keep it
        if (settingsAtBegin != null) {
            settingsAtBegin = settingsAtBegin.withJdbcIsolation(level);
        }
        savepoints.replaceAll(
                sp -> new SavepointSettings(sp.name(), sp.settings().withJdbcIsolation(level), sp.kept()));
    }

    /**
     * Connection.getTransactionIsolation, as pgjdbc answers it (SHOW transaction_isolation): the level of the
     * transaction under way or about to begin ({@code BEGIN ISOLATION LEVEL}, {@code SET TRANSACTION}), else the one
     * set, else the session's default (the server's, or SET's).
     */
    public int transactionIsolation() {
        knowDefaults();
        return transaction.effectiveIsolation();
    }

    private void knowDefaults() {
        // defaults taken for now are asked again before a transaction's first statement, never inside one
        if (!defaultsKnown && transaction.first() == null) {
            int[] defaults = runtime.transactionDefaults();
            transaction.sessionDefaults(defaults[0], defaults[1] != 0);
            // taken for now (the home primary did not answer, or a switchover holds it): asked again next time
            defaultsKnown = defaults[2] != 0;
        }
    }

    // ---- connections for the JDBC face ---------------------------------------------------------------------------

    /** The home shard's primary, attached. */
    private Physical home() throws SQLException {
        RoutingState r = runtime.routing();
        return attachments.attach(r.primary(r.homeShard()), r.homeShard());
    }

    /** The transaction's or binding's connection, else the home shard's primary. */
    private Physical bound() throws SQLException {
        Physical t = transaction.first();
        return t != null ? t : pinned != null ? pinned : home();
    }

    /**
     * A physical connection for calls that do not route (metadata, createBlob, prepareCall...): the transaction's or
     * binding's, else the home shard's primary, in the transaction when one is open.
     */
    public Connection anyConnection() throws SQLException {
        checkBinding();
        transaction.checkNotLost();
        if (pinned != null) {
            checkPinnedOwner();
        }
        Physical p = transaction.isActive() ? transaction.first() : pinned != null ? pinned : home();
        if (!autoCommit && !transaction.isActive()) {
            transaction.begin(p);
        }
        // what runs there (a procedure, say) is not analyzed: reset it with DISCARD ALL before reuse, and taken for
        // a write (read-your-writes; a transaction that wrote is read in by cross-shard reads)
        p.sessionMayHaveChanged();
        if (!(p.inTransaction && transaction.isReadOnly())) {
            wroteThrough(p); // (PostgreSQL keeps a read-only transaction from writing)
        }
        return p.connection;
    }

    /**
     * A physical connection for calls that make client-side objects or read (createArrayOf, metadata, getSchema):
     * the transaction's or binding's, else the home shard's primary, never starting a transaction — which would bind
     * it to the home shard before its first statement.
     */
    public Connection objectConnection() throws SQLException {
        checkNotCopying();
        transaction.checkNotLost();
        return (transaction.isActive() ? transaction.first() : pinned != null ? pinned : home()).connection;
    }

    /**
     * The one physical connection this session is bound to (transaction or forKey), for {@code unwrap}: the
     * application may change its session state there, so it is reset with DISCARD ALL before reuse.
     *
     * @throws SQLException 25000 when none is bound
     */
    public Connection boundConnection(String what) throws SQLException {
        checkNotCopying();
        Physical binding = transaction.isActive() ? transaction.first() : pinned;
        if (binding == null) {
            throw new SQLException(
                    what + " needs the connection bound to one node: call forKey(table, key), or run the"
                            + " transaction's first statement",
                    SqlStates.INVALID_TRANSACTION_STATE);
        }
        binding.sessionMayHaveChanged();
        return binding.connection;
    }

    /** Whether a bound connection can be unwrapped to {@code iface}. */
    public boolean boundWraps(Class<?> iface) throws SQLException {
        Physical binding = transaction.isActive() ? transaction.first() : pinned;
        return binding != null && binding.connection.isWrapperFor(iface);
    }

    /** Connection.setNetworkTimeout: on every connection attached now and later. */
    public void setNetworkTimeout(java.util.concurrent.Executor executor, int milliseconds) throws SQLException {
        attachments.setNetworkTimeout(executor, milliseconds);
    }

    /** The network timeout the application set, or -1 when it set none. */
    public int networkTimeout() {
        return attachments.networkTimeout();
    }

    /**
     * The network timeout of this session's connections when the application set none: asked of a connection it
     * holds (pgjdbc answers without a round trip), else the one new connections start with; never borrows one.
     */
    public int defaultNetworkTimeout() throws SQLException {
        List<Physical> held = attachments.all();
        return held.isEmpty()
                ? runtime.pools().defaultNetworkTimeoutMs()
                : held.get(0).connection.getNetworkTimeout();
    }

    /**
     * JDBC's {@code isValid}: the physical connections held now answer within {@code timeoutSeconds} each (0: no
     * bound). None held: valid, as the next statement borrows what it needs then — a pool validating its idle
     * connections must not borrow one of the home primary (its outage would fail every idle connection, whatever
     * shard they serve, each after the connect timeout).
     */
    public boolean validate(int timeoutSeconds) throws SQLException {
        for (Physical p : attachments.all()) {
            if (!p.connection.isValid(timeoutSeconds)) {
                return false;
            }
        }
        return true;
    }

    // ---- ShardlineConnection ---------------------------------------------------------------------------------

    /**
     * Binds this session to the primary of the shard owning {@code key} in {@code table}.
     *
     * @throws SQLException 0A000 when the table is not sharded; 22P02 for a bad key; 25000 inside a transaction on
     *     another shard
     */
    public void forKey(String table, Object key) throws SQLException {
        RoutingState r = runtime.routing();
        String[] name = table.contains(".") ? table.split("\\.", 2) : new String[] {null, table};
        ShardedTable sharded = r.snapshot()
                .topology()
                .shardedTable(
                        name[0] == null ? null : name[0].toLowerCase(Locale.ROOT), name[1].toLowerCase(Locale.ROOT))
                .or(() -> r.snapshot().topology().shardedTable(name[0], name[1]))
                .orElseThrow(() -> new SQLException(
                        "forKey: " + table + " is not a sharded table", SqlStates.FEATURE_NOT_SUPPORTED));
        int shard;
        long hash;
        try {
            hash = sharded.keyType().hash(key);
            shard = r.ring().shardFor(hash);
        } catch (IllegalArgumentException e) {
            throw new SQLException("forKey: " + e.getMessage(), SqlStates.INVALID_TEXT_REPRESENTATION, e);
        }
        int txShard = transactionShard();
        if (txShard >= 0 && txShard != shard) {
            throw new SQLException(
                    "forKey: the current transaction runs on shard " + txShard + ", the key is on shard " + shard,
                    SqlStates.INVALID_TRANSACTION_STATE);
        }
        unbind();
        try {
            pinned = txShard >= 0 ? transaction.first() : attachments.attach(r.primary(shard), shard);
        } catch (SQLException e) {
            SQLException lost = bindingLost(
                    "forKey(" + table + ", ...) could not bind shard " + shard + " (" + e.getMessage() + ")");
            lost.initCause(e);
            throw lost;
        }
        pinned.pinned = true;
        pinnedHash = hash;
    }

    /**
     * Breaks the binding when a shard move gave its key to another shard: what runs on it unrouted (a procedure, a
     * function the driver does not know, {@code unwrap}) would write the key's rows where they no longer live.
     */
    private void checkPinnedOwner() throws SQLException {
        int owner = runtime.routing().ring().shardFor(pinnedHash);
        if (owner != pinned.shard) {
            throw bindingLost("the key forKey(...) bound lives on shard " + owner + " now (a shard move), no longer"
                    + " on shard " + pinned.shard);
        }
    }

    public void unbind() {
        dropBinding();
        bindingLost = null;
    }

    /**
     * Gives the forKey binding up as broken ({@code why}): the statements that follow must not go elsewhere
     * unnoticed, so they fail until forKey or unbind. Returns the error to throw now.
     */
    private SQLException bindingLost(String why) {
        dropBinding();
        bindingLost = why;
        return new SQLException(why + ": call forKey(...) again, or unbind()", SqlStates.CONNECTION_DOES_NOT_EXIST);
    }

    private void checkBinding() throws SQLException {
        if (bindingLost != null) {
            throw new SQLException(
                    bindingLost + ": call forKey(...) again, or unbind()", SqlStates.CONNECTION_DOES_NOT_EXIST);
        }
    }

    /** Whether a forKey binding broke and was not bound again or given up (the connection is not valid). */
    public boolean bindingBroken() {
        return bindingLost != null;
    }

    private void dropBinding() {
        if (pinned != null) {
            pinned.pinned = false;
            pinned = null;
        }
    }

    public String causalToken() throws SQLException {
        resolvePending();
        return reads.causalToken();
    }

    /**
     * Reads every pending position, for a token given out.
     *
     * @throws SQLException when one cannot be read: a token without it would let another session's reads miss this
     *     session's write there
     */
    private void resolvePending() throws SQLException {
        for (int shard : reads.pendingShards()) {
            try {
                resolve(shard);
            } catch (SQLException e) {
                throw new SQLException(
                        "could not read the WAL position of shard " + shard + "'s primary, which this session wrote to"
                                + " (" + e.getMessage() + "): a causal token without it would not carry that write;"
                                + " try again",
                        e.getSQLState() != null ? e.getSQLState() : SqlStates.NO_FRESH_REPLICA,
                        e);
            }
        }
    }

    /**
     * Where {@code sql} would run with these parameters, rendered from the route execution would take.
     *
     * @param parameters the values, the first at index 0
     */
    public List<RouteExplanation> explain(String sql, Object... parameters) throws SQLException {
        RoutingState r = runtime.routing();
        Plan plan = r.plan(sql, searchPath);
        Object[] params = new Object[parameters.length + 1];
        System.arraycopy(parameters, 0, params, 1, parameters.length);
        Route route = route(r, plan, params);
        return Explanations.render(
                r,
                plan,
                params,
                route,
                sql,
                this,
                searchPath,
                runtime.settings().rywWaitMs());
    }

    /**
     * Ends the session: the transaction rolled back, every connection handed back to its pool reset for its next
     * borrower.
     *
     * @return the first failure, or null
     */
    /**
     * {@code Connection.abort}: every physical connection is cut on {@code executor} (a statement running on one fails
     * at once with 08003) and evicted from its pool; the session is not used again.
     */
    public void abort(java.util.concurrent.Executor executor) {
        attachments.abort(executor);
    }

    public SQLException close() {
        transaction.abandon();
        unbind();
        return attachments.release();
    }
}
