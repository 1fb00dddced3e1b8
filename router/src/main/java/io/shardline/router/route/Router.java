package io.shardline.router.route;

import io.shardline.router.SqlStates;
import io.shardline.router.metrics.DriverMetrics;
import io.shardline.router.sql.Plan;
import io.shardline.router.sql.StatementKind;
import io.shardline.topology.LagSnapshot;
import io.shardline.topology.Node;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * The one routing decision: a statement's {@link Plan}, its parameter values and its session ({@link RouteContext})
 * over one {@link RoutingState} give one {@link Route}. Execution runs the route and {@code explainRoute} renders it,
 * so the two never disagree. Nothing here runs SQL (but the session's {@link RouteContext#writtenLsn} may read its
 * causal token's position); the replica choice reads {@link ReplicaHealth} and the lag reports.
 *
 * <p>Single-shard statements, in order of precedence: a {@code forKey} binding takes every statement of its shard
 * (and refuses others); a transaction uses its connection on the shard, or joins the shard's primary (two-phase
 * commit, else refused); otherwise writes, reads with {@code readFrom=primary} and reads in read-write transactions
 * go to the primary, and other reads follow {@link ReadPolicy}.
 */
public final class Router {
    private final ReplicaHealth health;
    private final Supplier<LagSnapshot> lag;
    private final Moves moves;
    private final long rywWaitMs;
    private final boolean fallbackToPrimary;
    private final boolean twoPhaseCommit;
    /** {@code crossShardConsistency=atomic}. */
    private final boolean atomicCrossShard;

    private ReplicaChooser.Bound lastUnwritten = new ReplicaChooser.Bound(Long.MIN_VALUE, 0);

    /**
     * @param rywWaitMs how long a read may wait for a replica to replay the session's writes
     * @param fallbackToPrimary whether a read with no replica within its bound goes to the primary (else 55000)
     * @param twoPhaseCommit whether a transaction may reach several shards
     */
    public Router(
            ReplicaHealth health,
            Supplier<LagSnapshot> lag,
            Moves moves,
            long rywWaitMs,
            boolean fallbackToPrimary,
            boolean twoPhaseCommit,
            boolean atomicCrossShard) {
        this.atomicCrossShard = atomicCrossShard;
        this.health = health;
        this.lag = lag;
        this.moves = moves;
        this.rywWaitMs = rywWaitMs;
        this.fallbackToPrimary = fallbackToPrimary;
        this.twoPhaseCommit = twoPhaseCommit;
    }

    /**
     * The route of {@code plan} with these parameter values (index 1 at position 1; null for a plain statement).
     * Refusals are routes too ({@link Route.Target#REFUSED}), so that {@code explainRoute} can show them.
     *
     * @throws SQLException 22P02 when a value cannot be a shard key, 07001 when a key parameter has no value
     */
    public Route route(RoutingState r, Plan plan, Object[] params, RouteContext c) throws SQLException {
        switch (plan.target()) {
            case KEYED: {
                int shard = r.keyedShard(plan, params);
                if (shard >= 0) {
                    return single(r, plan, shard, c);
                }
                if (plan.refusal() != null) {
                    // it calls a distributed function: never across shards
                    return Route.refused(
                            SqlStates.FEATURE_NOT_SUPPORTED, r.spanMessage(plan, params) + ": " + plan.refusal());
                }
                if (plan.kind() == StatementKind.READ) {
                    // EXPLAIN (without ANALYZE) of such a write: one shard's plan, as for a write without a key
                    return plan.everyShardWhenSpanning() || plan.splitsRowsWhenSpanning()
                            ? single(r, plan, r.homeShard(), c)
                            : crossShard(r, plan, c, "its shard key values map to several shards");
                }
                if (plan.everyShardWhenSpanning()) {
                    // an UPDATE/DELETE of keys on several shards: each shard changes the rows it holds
                    return everyShard(
                            r,
                            twoPhaseCommit ? "its shard key values map to several shards" : r.spanMessage(plan, params),
                            true,
                            c);
                }
                if (plan.splitsRowsWhenSpanning()) {
                    return splitRows(r, plan, params, c);
                }
                return Route.refused(SqlStates.FEATURE_NOT_SUPPORTED, r.spanMessage(plan, params));
            }
            case HOME:
                return single(r, plan, r.homeShard(), c);
            case ANY:
                if (keepsSetting(plan, params, c)) {
                    return Route.node(
                            r.homeShard(),
                            r.primary(r.homeShard()),
                            Route.Use.AUTOCOMMIT,
                            Route.Why.TRANSACTION_SETTING);
                }
                return single(
                        r,
                        plan,
                        c.pinnedShard() >= 0
                                ? c.pinnedShard()
                                : c.transactionShard() >= 0 ? c.transactionShard() : r.homeShard(),
                        c);
            case SEQUENCE:
                return sequence(r, c);
            case CROSS_SHARD:
                return crossShard(r, plan, c, plan.refusal());
            case DRIVER:
                return Route.driver(plan.command());
            case BOUND:
                return bound(r, plan, c);
            case ALL_PRIMARIES:
                return everyPrimary(r, plan, c, false);
            case EACH_PRIMARY:
                return everyPrimary(r, plan, c, true);
            case EVERY_SHARD:
                return everyShard(r, plan.refusal(), false, c);
            case REFERENCE_WRITE:
                return referenceWrite(r, plan, c);
            case REFUSED:
            default:
                return Route.refused(
                        SqlStates.FEATURE_NOT_SUPPORTED, "Shardline cannot route this statement: " + plan.refusal());
        }
    }

    /**
     * Whether {@code plan} sets a custom transaction-local setting ({@link Plan#transactionLocalSetting}) before the
     * transaction's first statement, with nothing kept that binds it to one shard: it then starts the transaction
     * nowhere (a row-level-security tenant set first must not bind the transaction to the home shard), and the
     * transaction sets it on each shard it reaches.
     */
    private static boolean keepsSetting(Plan plan, Object[] params, RouteContext c) {
        return !c.autoCommit()
                && c.transactionShard() < 0
                && c.pinnedShard() < 0
                && !c.transactionBound()
                && !plan.setConfig().isEmpty()
                && plan.transactionLocalSetting(params) != null;
    }

    /** The statement on one shard, in the session's binding, transaction or alone. */
    private Route single(RoutingState r, Plan plan, int shard, RouteContext c) throws SQLException {
        if (c.pinnedShard() >= 0) {
            if (c.pinnedShard() != shard) {
                return Route.refused(
                        SqlStates.FEATURE_NOT_SUPPORTED,
                        "this connection is bound by forKey(...) to shard " + c.pinnedShard()
                                + ", but the statement needs shard " + shard + ": call unbind() first");
            }
            return Route.node(shard, c.pinnedNode(), Route.Use.PINNED, Route.Why.PINNED);
        }
        int txShard = c.transactionShard();
        if (txShard < 0 && snapshotWanted(r, c)) {
            return Route.node(shard, r.primary(shard), Route.Use.SNAPSHOT, Route.Why.SNAPSHOT_TRANSACTION);
        }
        if (txShard >= 0) {
            Node participant = c.participant(shard);
            if (participant != null && plan.kind() != StatementKind.READ && c.joinedToRead(shard)) {
                return writeWhereJoinedToRead(txShard, shard);
            }
            if (participant != null) {
                Route.Why why = c.snapshotTransaction() ? Route.Why.SNAPSHOT_TRANSACTION : Route.Why.TRANSACTION;
                return participant.equals(r.primary(shard))
                        ? r.primaryRoute(shard, Route.Use.TRANSACTION, why)
                        : Route.node(shard, participant, Route.Use.TRANSACTION, why);
            }
            if (c.snapshotTransaction()) {
                return notInSnapshot(shard);
            }
            // a read in a read-only transaction that wrote nothing: PostgreSQL enforces READ ONLY on every
            // participant, and the commit is a COMMIT on each (no two-phase commit needed)
            boolean readOnlyRead = c.readOnly() && plan.kind() == StatementKind.READ && !c.transactionWrote();
            if (!twoPhaseCommit && !c.readOnly() && plan.kind() == StatementKind.READ && !c.transactionBound()) {
                // a read-write transaction reads another shard: that shard joins it READ ONLY, NOT DEFERRABLE (the
                // transaction's own DEFERRABLE would make it wait for a safe snapshot), its writes stay where they
                // are, and the COMMIT needs no two-phase commit
                Route stale = staleRingJoin(r, c, shard);
                return stale != null ? stale : r.primaryRoute(shard, Route.Use.READ_JOIN, primaryWhy(plan, c));
            }
            Route refused = refuseJoin(
                    c,
                    txShard,
                    shard,
                    readOnlyRead,
                    plan.target() == Plan.Target.HOME
                            ? "the statement names a table that is not sharded, which lives on the home shard " + shard
                            : "the statement needs shard " + shard);
            if (refused != null) {
                return refused;
            }
            Route stale = staleRingJoin(r, c, shard);
            if (stale != null) {
                return stale;
            }
            return c.readOnly()
                            && plan.kind() == StatementKind.READ
                            && !c.readFromPrimary()
                            && !plan.onPrimary()
                            && !serializable(c)
                    ? read(r, shard, c, Route.Use.JOIN)
                    : r.primaryRoute(shard, Route.Use.JOIN, primaryWhy(plan, c));
        }
        Route.Use use = c.autoCommit() ? Route.Use.AUTOCOMMIT : Route.Use.BEGIN;
        if (plan.kind() != StatementKind.READ
                || c.readFromPrimary()
                || plan.onPrimary()
                || (!c.autoCommit() && (!c.readOnly() || serializable(c)))) {
            return r.primaryRoute(shard, use, primaryWhy(plan, c));
        }
        return read(r, shard, c, use);
    }

    /**
     * Whether a transaction starting now takes one checked snapshot on every shard ({@link
     * Route.Why#SNAPSHOT_TRANSACTION}): read-only, REPEATABLE READ or SERIALIZABLE, {@code
     * crossShardConsistency=atomic}, not bound to one shard, in a cluster of several shards.
     */
    private boolean snapshotWanted(RoutingState r, RouteContext c) {
        return atomicCrossShard
                && !c.autoCommit()
                && c.readOnly()
                && c.isolation() >= Connection.TRANSACTION_REPEATABLE_READ
                && c.pinnedShard() < 0
                && !c.transactionBound()
                && holders(r).size() > 1;
    }

    /** Whether a read no replica can serve goes to the primary ({@code fallback=primary}) rather than refused. */
    public boolean fallsBackToPrimary() {
        return fallbackToPrimary;
    }

    /** Why no replica of {@code shard} takes a read now (a read went to its primary: {@link Route.Why#NO_FRESH_REPLICA}). */
    public DriverMetrics.Fallback whyNoReplica(RoutingState r, int shard) {
        return health.whyNone(r.replicas(shard), lag.get(), System.currentTimeMillis());
    }

    /**
     * The refusal (40001) of a REPEATABLE READ or SERIALIZABLE transaction reaching {@code shard}, which it has not
     * touched, after a move switched ranges since it began: a key it read on its old owner may have changed on the
     * new one since, and the snapshot this shard would take now shows that change (a lost update PostgreSQL would
     * refuse with 40001 on one node). Null when it may join.
     */
    private static Route staleRingJoin(RoutingState r, RouteContext c, int shard) {
        long began = c.transactionRing();
        if (began < 0 || began == r.ring().version() || c.isolation() < Connection.TRANSACTION_REPEATABLE_READ) {
            return null;
        }
        return Route.refused(
                SqlStates.RETRY_WRITE,
                "a shard move switched ranges since this " + isolationName(c) + " transaction began (ring version "
                        + began + ", now " + r.ring().version() + "), and the statement needs shard " + shard
                        + ", which it has not reached: its snapshot there would be later than its reads; roll back"
                        + " and run the transaction again");
    }

    /** A SERIALIZABLE transaction: a hot standby cannot run one, so its reads go to the primary. */
    private static boolean serializable(RouteContext c) {
        return !c.autoCommit() && c.isolation() == Connection.TRANSACTION_SERIALIZABLE;
    }

    private static String isolationName(RouteContext c) {
        return c.isolation() == Connection.TRANSACTION_SERIALIZABLE ? "SERIALIZABLE" : "REPEATABLE READ";
    }

    /** A shard a snapshot transaction did not take a snapshot of (it gained ranges since: the ring changed). */
    private static Route notInSnapshot(int shard) {
        return Route.refused(
                SqlStates.RETRY_WRITE,
                "shard " + shard + " gained ranges after this read-only transaction took its snapshot of every shard:"
                        + " roll back and run the transaction again");
    }

    private static Route.Why primaryWhy(Plan plan, RouteContext c) {
        if (plan.kind() != StatementKind.READ) {
            return Route.Why.WRITE;
        }
        if (c.readFromPrimary()) {
            return Route.Why.READ_FROM_PRIMARY;
        }
        if (plan.onPrimary()) {
            return Route.Why.NO_LOAD_BALANCE;
        }
        return c.readOnly() && serializable(c) ? Route.Why.SERIALIZABLE : Route.Why.READ_WRITE_TRANSACTION;
    }

    /**
     * Why the transaction on {@code txShard} cannot reach {@code shard}, or null when it can.
     *
     * @param readOnlyRead whether the statement is a read of a read-only transaction that wrote nothing: it needs no
     *     two-phase commit
     * @param needs why the statement needs {@code shard}, for the message
     */
    private Route refuseJoin(RouteContext c, int txShard, int shard, boolean readOnlyRead, String needs) {
        // (the binding first: it holds with two-phase commit too)
        if (c.transactionBound()) {
            return Route.refused(
                    SqlStates.FEATURE_NOT_SUPPORTED,
                    "this transaction ran SAVEPOINT, SET LOCAL or the like on shard " + txShard + ", which cannot"
                            + " span shards, and " + needs);
        }
        if (!twoPhaseCommit && !readOnlyRead) {
            return Route.refused(
                    SqlStates.FEATURE_NOT_SUPPORTED,
                    "this transaction runs on shard " + txShard + ", but " + needs + ": a transaction writing on"
                            + " several shards needs twoPhaseCommit=true (PostgreSQL two-phase commit: every primary"
                            + " needs max_prepared_transactions > 0, and a ZooKeeper URL)");
        }
        return null;
    }

    /** A write to a shard a read-write transaction without two-phase commit joined to read only. */
    private static Route writeWhereJoinedToRead(int txShard, int shard) {
        return Route.refused(
                SqlStates.FEATURE_NOT_SUPPORTED,
                "this transaction runs on shard " + txShard + " and read shard " + shard + ", which it joined to read"
                        + " only: without twoPhaseCommit=true a transaction writes on the shard it started on, and"
                        + " this statement would write on shard " + shard + " (PostgreSQL two-phase commit: every"
                        + " primary needs max_prepared_transactions > 0, and a ZooKeeper URL)");
    }

    /** The bound of a read with no write to wait for, the last one reused: such reads make none. */
    private ReplicaChooser.Bound unwritten(long maxStalenessMs) {
        ReplicaChooser.Bound b = lastUnwritten;
        if (b.maxStalenessMs() != maxStalenessMs) {
            b = new ReplicaChooser.Bound(maxStalenessMs, 0);
            lastUnwritten = b; // racy and safe: a record's fields are final
        }
        return b;
    }

    /**
     * Whether {@code replica}, chosen for a read within {@code maxStalenessMs} (-1: unbounded), still serves it now:
     * asked when a connection to it was slow to come.
     */
    public boolean stillServes(Node replica, long maxStalenessMs) {
        return health.stillWithin(replica, lag.get(), maxStalenessMs, System.currentTimeMillis());
    }

    /**
     * A read of {@code shard} that a replica may serve, by {@link ReadPolicy}: the replica, a replica to wait for,
     * the primary, or a refusal (55000).
     */
    public Route read(RoutingState r, int shard, RouteContext c, Route.Use use) {
        Node[] replicas = r.replicas(shard);
        Node primary = r.primary(shard);
        if (replicas.length == 0) {
            return Route.node(shard, primary, use, Route.Why.NO_FRESH_REPLICA);
        }
        if (r.ring().version() >= moves.awaitedSwitch(shard)) {
            // a cutover's ring seen before its move's SWITCHED record: this shard's replicas may not have replayed
            // the rows its ranges gained (the record holds that position), for a few milliseconds
            return Route.node(shard, primary, use, Route.Why.NOT_REPLAYED);
        }
        long written = Math.max(c.writtenLsn(shard), moves.cutoverLsn(shard));
        LagSnapshot reports = lag.get();
        long now = System.currentTimeMillis();
        ReplicaChooser.Bound bound =
                written == 0 ? unwritten(c.maxStalenessMs()) : new ReplicaChooser.Bound(c.maxStalenessMs(), written);
        Node ready = health.choose(replicas, reports, bound, now);
        Node closest = ready == null && written > 0 ? health.leastLagging(replicas, reports, bound, now) : null;
        switch (ReadPolicy.decide(replicas.length, written, ready, closest, rywWaitMs, fallbackToPrimary)) {
            case REPLICA:
                return written == 0
                        ? r.replicaRead(shard, ready, use)
                        : Route.replica(shard, ready, use, Route.Why.REPLICA, written, primary);
            case WAIT:
                return Route.replica(shard, closest, use, Route.Why.REPLICA_WAIT, written, primary);
            case ERROR:
                return Route.refused(
                        SqlStates.NO_FRESH_REPLICA,
                        "no replica of shard " + shard + " is within " + c.maxStalenessMs() + " ms of staleness (or"
                                + " no replication monitor publishes their lag), and fallback=error keeps the read off"
                                + " the primary");
            case PRIMARY:
            default:
                return written > 0 && closest != null
                        ? Route.replica(shard, primary, use, Route.Why.NOT_REPLAYED, written, null)
                        : Route.node(shard, primary, use, Route.Why.NO_FRESH_REPLICA);
        }
    }

    /**
     * A sequence function: the home primary — the transaction's or binding's connection when they are there, else
     * outside any transaction (nextval is never rolled back anyway), never joining one.
     */
    private Route sequence(RoutingState r, RouteContext c) {
        int home = r.homeShard();
        Node participant = c.participant(home);
        if (participant != null && c.joinedToRead(home)) {
            // PostgreSQL refuses nextval in the transaction there (READ ONLY): on a connection of its own
            return Route.node(home, r.primary(home), Route.Use.APART, Route.Why.SEQUENCE);
        }
        if (participant != null) {
            return Route.node(home, participant, Route.Use.TRANSACTION, Route.Why.TRANSACTION);
        }
        if (c.pinnedShard() == home) {
            return Route.node(home, c.pinnedNode(), Route.Use.PINNED, Route.Why.PINNED);
        }
        return Route.node(home, r.primary(home), Route.Use.AUTOCOMMIT, Route.Why.SEQUENCE);
    }

    /** SAVEPOINT, SET LOCAL and the like: the transaction's connection, or kept until it has one. */
    private Route bound(RoutingState r, Plan plan, RouteContext c) {
        int txShard = c.transactionShard();
        if (txShard >= 0) {
            if (c.snapshotTransaction()) {
                return Route.refused(
                        SqlStates.FEATURE_NOT_SUPPORTED,
                        plan.command() + " is not supported in a read-only " + isolationName(c) + " transaction"
                                + " with crossShardConsistency=atomic: it reads one snapshot of every shard, and"
                                + " savepoints and SET LOCAL would apply to one shard only. Run it before the"
                                + " transaction's first statement (it then stays on one shard), or use"
                                + " crossShardConsistency=relaxed");
            }
            for (int shard : r.shardIds()) {
                if (shard != txShard && c.participant(shard) != null) {
                    return Route.refused(
                            SqlStates.FEATURE_NOT_SUPPORTED,
                            plan.command() + " in a transaction on several shards is not supported: savepoints and"
                                    + " SET LOCAL would apply to one shard only");
                }
            }
            return Route.node(txShard, c.participant(txShard), Route.Use.TRANSACTION, Route.Why.TRANSACTION);
        }
        if (c.pinnedShard() >= 0) {
            return Route.node(c.pinnedShard(), c.pinnedNode(), Route.Use.PINNED, Route.Why.PINNED);
        }
        if (!c.autoCommit()) {
            return Route.pending();
        }
        // Outside a transaction PostgreSQL itself says what is wrong (or ignores SET LOCAL with a warning).
        return Route.node(r.homeShard(), r.primary(r.homeShard()), Route.Use.AUTOCOMMIT, Route.Why.WRITE);
    }

    /**
     * DDL on sharded tables and shared objects, all or nothing: in the connection's transaction (every primary joins
     * it: two-phase commit when it spans shards), or in autocommit mode in one of its own (two-phase commit when
     * that is on, else a local transaction on each primary, all committed only when the statement succeeded on
     * every one). {@code each}: a command PostgreSQL runs only outside transaction blocks, on each primary alone.
     */
    private Route everyPrimary(RoutingState r, Plan plan, RouteContext c, boolean each) {
        if (c.pinnedShard() >= 0) {
            return Route.refused(
                    SqlStates.FEATURE_NOT_SUPPORTED,
                    "DDL on sharded tables runs on every shard and cannot run in a forKey binding (shard "
                            + c.pinnedShard() + "): call unbind() first");
        }
        String move = moves.activeMove();
        if (move != null) {
            return Route.refused(
                    SqlStates.MOVE_IN_PROGRESS,
                    "shard move " + move + " is running: DDL on sharded tables would break its replication; run it"
                            + " when the move is done");
        }
        boolean inTransaction = c.transactionShard() >= 0 || !c.autoCommit();
        if (each) {
            if (inTransaction) {
                return Route.refused(
                        SqlStates.ACTIVE_SQL_TRANSACTION,
                        "this command runs on every shard's primary outside any transaction block (PostgreSQL runs"
                                + " it only there): run it in autocommit mode");
            }
            return Route.legs(Route.Target.EVERY_PRIMARY, primaries(r, Route.Use.AUTOCOMMIT), null);
        }
        if (!inTransaction && !twoPhaseCommit) {
            return Route.legs(Route.Target.ALL_OR_NONE, primaries(r, Route.Use.AUTOCOMMIT), null);
        }
        return transactionLegs(
                r,
                c,
                holders(r),
                Route.Target.EVERY_SHARD,
                "DDL runs on every shard",
                shard -> "DDL on sharded tables and shared objects runs on every shard's primary (shard " + shard
                        + " too)");
    }

    /** The primaries of the shards holding the declared tables ({@link #holders}). */
    private static List<Route> primaries(RoutingState r, Route.Use use) {
        List<Route> legs = new ArrayList<>();
        for (int shard : holders(r)) {
            legs.add(Route.node(shard, r.primary(shard), use, Route.Why.WRITE));
        }
        return legs;
    }

    /**
     * A write without a shard key, or an UPDATE/DELETE whose keys map to several shards: every primary in one
     * transaction (two-phase commit).
     *
     * @param keyed whether the statement has shard keys, on several shards (else it has none)
     */
    private Route everyShard(RoutingState r, String why, boolean keyed, RouteContext c) {
        if (!twoPhaseCommit) {
            return Route.refused(
                    SqlStates.FEATURE_NOT_SUPPORTED,
                    "Shardline cannot route this statement: " + why + ". With twoPhaseCommit=true it runs"
                            + " on every shard in one transaction; otherwise add the key = ? (or IN (...)) to its"
                            + " WHERE");
        }
        Route refused = keyed
                ? requireEveryShard(
                        c,
                        "its shard key values map to several shards and it would run on every shard",
                        "a write whose keys map to several shards")
                : requireEveryShard(
                        c,
                        "the statement has no shard key and would run on every shard",
                        "a write without the shard key");
        if (refused != null) {
            return refused;
        }
        // the shards holding the tables: one just added for a move owns no range and has none of them yet
        return transactionLegs(
                r, c, holders(r), Route.Target.EVERY_SHARD, why, shard -> "the statement needs shard " + shard);
    }

    /**
     * One leg per shard of {@code shards} inside one transaction: the connection's participant there, else the first
     * leg begins the transaction (when it has none yet), else the shard's primary joins it; a refusal when one cannot
     * join (two-phase commit off, a transaction bound to its shard).
     *
     * @param needs why the statement needs a shard, for the refusal
     */
    private Route transactionLegs(
            RoutingState r,
            RouteContext c,
            List<Integer> shards,
            Route.Target target,
            String message,
            java.util.function.IntFunction<String> needs) {
        List<Route> legs = new ArrayList<>();
        int txShard = c.transactionShard();
        for (int shard : shards) {
            Node participant = c.participant(shard);
            if (participant != null && c.joinedToRead(shard)) {
                return writeWhereJoinedToRead(txShard, shard);
            }
            if (participant != null) {
                legs.add(Route.node(shard, participant, Route.Use.TRANSACTION, Route.Why.TRANSACTION));
            } else if (txShard < 0 && legs.isEmpty()) {
                legs.add(Route.node(shard, r.primary(shard), Route.Use.BEGIN, Route.Why.WRITE));
            } else {
                Route no =
                        refuseJoin(c, txShard >= 0 ? txShard : legs.get(0).shard(), shard, false, needs.apply(shard));
                if (no == null && txShard >= 0) {
                    no = staleRingJoin(r, c, shard);
                }
                if (no != null) {
                    return no;
                }
                legs.add(Route.node(shard, r.primary(shard), Route.Use.JOIN, Route.Why.WRITE));
            }
        }
        return Route.legs(target, legs, message);
    }

    /**
     * A multi-row INSERT whose rows' keys map to several shards: each of those shards' primary gets its own rows, in
     * one transaction — the connection's, or one of its own — committed with two-phase commit.
     */
    private Route splitRows(RoutingState r, Plan plan, Object[] params, RouteContext c) throws SQLException {
        if (!twoPhaseCommit) {
            return Route.refused(
                    SqlStates.FEATURE_NOT_SUPPORTED,
                    r.spanMessage(plan, params) + " (with twoPhaseCommit=true each shard gets its own rows, in one"
                            + " transaction; else insert each shard's rows in a statement, or a batch row, of their"
                            + " own)");
        }
        if (c.pinnedShard() >= 0) {
            return Route.refused(
                    SqlStates.FEATURE_NOT_SUPPORTED,
                    "this connection is bound by forKey(...) to shard " + c.pinnedShard() + ", but "
                            + r.spanMessage(plan, params) + ": call unbind() first");
        }
        List<Integer> shards = new ArrayList<>();
        for (int shard : r.rowShards(plan, params)) {
            if (!shards.contains(shard)) {
                shards.add(shard);
            }
        }
        java.util.Collections.sort(shards);
        String table = plan.keyGroups().get(0).tables().get(0).qualifiedName();
        return transactionLegs(
                r,
                c,
                shards,
                Route.Target.EVERY_SHARD,
                "rows of " + table + " for several shards",
                shard -> "rows of " + table + " for shard " + shard + " are inserted there too");
    }

    /**
     * A write to a reference table: every shard holding reference tables (those owning ranges of the ring, and the
     * home shard), in one transaction — the connection's, or one of its own — committed with two-phase commit.
     */
    private Route referenceWrite(RoutingState r, Plan plan, RouteContext c) {
        String table = plan.refusal();
        List<Integer> holders = new ArrayList<>(holders(r));
        // the home shard's copy last: the statement's results (RETURNING, counts) are its, as reads alone go there
        holders.remove(Integer.valueOf(r.homeShard()));
        holders.add(r.homeShard());
        if (c.pinnedShard() >= 0) {
            return Route.refused(
                    SqlStates.FEATURE_NOT_SUPPORTED,
                    "this connection is bound by forKey(...) to shard " + c.pinnedShard() + ", but a write to the"
                            + " reference table " + table + " runs on every shard: call unbind() first");
        }
        if (!twoPhaseCommit && holders.size() > 1) {
            return Route.refused(
                    SqlStates.FEATURE_NOT_SUPPORTED,
                    "a write to the reference table " + table + " runs on every shard's primary in one transaction,"
                            + " which needs twoPhaseCommit=true (PostgreSQL two-phase commit: every primary needs"
                            + " max_prepared_transactions > 0, and a ZooKeeper URL)");
        }
        return transactionLegs(
                r,
                c,
                holders,
                Route.Target.EVERY_SHARD,
                "a write to the reference table " + table,
                shard -> "a write to the reference table " + table + " runs on every shard (shard " + shard + " too)");
    }

    /**
     * The shards holding the declared tables — sharded tables' rows, reference tables, and the DDL and views over
     * them: those owning ranges of the ring, and the home shard. A shard just added owns none, has none of them, and
     * takes no part in DDL or reference writes until a move gives it ranges: that move creates the declared tables
     * there from its source's definitions, and its cutover copies the reference tables' rows while writes to them
     * are held.
     */
    public static List<Integer> holders(RoutingState r) {
        List<Integer> owners = r.ring().shards();
        List<Integer> holders = new ArrayList<>();
        for (int shard : r.shardIds()) {
            if (owners.contains(shard) || shard == r.homeShard()) {
                holders.add(shard);
            }
        }
        return holders;
    }

    /**
     * A read no single shard answers: one leg per shard. With {@code crossShardConsistency=atomic} and no shard in
     * the connection's transaction, every shard's primary, for one checked snapshot per shard ({@link
     * Route.Why#ATOMIC_SNAPSHOT}); otherwise the transaction's connection where it has one, the primary with
     * {@code readFrom=primary} or in a transaction, else a replica by {@link ReadPolicy}.
     */
    private Route crossShard(RoutingState r, Plan plan, RouteContext c, String why) {
        Route refused = requireEveryShard(c, "the read needs every shard", null);
        if (refused != null) {
            return refused;
        }
        List<Route> legs = new ArrayList<>();
        boolean inTransaction = c.transactionShard() >= 0;
        if (c.snapshotTransaction() || (!inTransaction && snapshotWanted(r, c))) {
            for (int shard : holders(r)) {
                Node participant = c.participant(shard);
                if (participant == null && inTransaction) {
                    return notInSnapshot(shard);
                }
                legs.add(
                        participant != null
                                ? Route.node(shard, participant, Route.Use.TRANSACTION, Route.Why.SNAPSHOT_TRANSACTION)
                                : Route.node(
                                        shard, r.primary(shard), Route.Use.SNAPSHOT, Route.Why.SNAPSHOT_TRANSACTION));
            }
            return Route.legs(Route.Target.CROSS_SHARD, legs, why);
        }
        // a transaction that has not written has nothing of its own to see: in READ COMMITTED a statement reads the
        // moment it starts, which an atomic read apart from the transaction's connections gives
        boolean apart = !inTransaction
                || (!c.transactionWrote()
                        && !c.transactionBound()
                        && c.isolation() < Connection.TRANSACTION_REPEATABLE_READ);
        boolean atomic = atomicCrossShard && apart;
        boolean primary = c.readFromPrimary() || plan.onPrimary() || !c.autoCommit();
        // a shard owning no range has no rows of its own (a shard just added may not even have the tables yet)
        for (int shard : holders(r)) {
            if (atomic) {
                legs.add(Route.node(
                        shard,
                        r.primary(shard),
                        inTransaction ? Route.Use.APART : Route.Use.AUTOCOMMIT,
                        Route.Why.ATOMIC_SNAPSHOT));
                continue;
            }
            Node participant = c.participant(shard);
            if (participant == null && c.transactionSettings()) {
                return Route.refused(
                        SqlStates.FEATURE_NOT_SUPPORTED,
                        "this transaction keeps a setting of its own (set_config(..., true)) that the part of this"
                                + " cross-shard read on shard " + shard + " would not see: that part would read outside"
                                + " the transaction ("
                                + (atomicCrossShard
                                        ? "which wrote, or runs REPEATABLE READ or SERIALIZABLE"
                                        : "crossShardConsistency=relaxed")
                                + "); give the statement its shard key, or read before the transaction writes");
            }
            Route leg = participant != null
                    ? Route.node(shard, participant, Route.Use.TRANSACTION, Route.Why.TRANSACTION)
                    : primary
                            ? Route.node(shard, r.primary(shard), Route.Use.AUTOCOMMIT, primaryWhy(plan, c))
                            : read(r, shard, c, Route.Use.AUTOCOMMIT);
            if (leg.target() == Route.Target.REFUSED) {
                return leg;
            }
            legs.add(leg);
        }
        return Route.legs(Route.Target.CROSS_SHARD, legs, why);
    }

    /**
     * Why a statement may not reach every shard now, or null.
     *
     * @param why what the statement needs, for the forKey refusal
     * @param what the statement, for the move refusal; null when it may run during a move (a read keeps to the
     *     rows each shard owns)
     */
    private Route requireEveryShard(RouteContext c, String why, String what) {
        if (c.pinnedShard() >= 0) {
            return Route.refused(
                    SqlStates.FEATURE_NOT_SUPPORTED,
                    "this connection is bound by forKey(...) to shard " + c.pinnedShard() + ", but " + why
                            + ": call unbind() first");
        }
        String move = what == null ? null : moves.activeMove();
        if (move != null) {
            return Route.refused(
                    SqlStates.MOVE_IN_PROGRESS,
                    "shard move " + move + " is running: " + what + " would reach the moving rows on two shards; run"
                            + " it when the move is done, or give it the shard key");
        }
        return null;
    }
}
