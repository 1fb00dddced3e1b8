package io.shardline.router.jdbc;

import io.shardline.router.ShardlineConnection;
import io.shardline.router.SqlStates;
import io.shardline.router.route.CausalToken;
import io.shardline.router.route.ReplicaChooser;
import io.shardline.router.route.RoutingState;
import io.shardline.router.sql.CrossShardQuery;
import io.shardline.router.sql.Plan;
import io.shardline.router.sql.StatementKind;
import io.shardline.topology.Lsn;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.ShardedTable;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Array;
import java.sql.Blob;
import java.sql.CallableStatement;
import java.sql.Clob;
import java.sql.DatabaseMetaData;
import java.sql.NClob;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLClientInfoException;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.SQLXML;
import java.sql.Savepoint;
import java.sql.Statement;
import java.sql.Struct;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The logical connection an application holds. It routes every statement to one node (or every primary,
 * for DDL on sharded tables), holds one physical connection per node it has used, replays the session's
 * {@code SET}s on each, and binds a transaction to the shard of its first statement.
 */
public final class LogicalConnection implements ShardlineConnection {
    private static final Pattern SET_VALUE =
            Pattern.compile("(?is)^\\s*set\\s+(?:session\\s+)?[\\w.\"]+\\s*(?:=|to)\\s*'?([^';]*)'?\\s*;?\\s*$");

    private final ClusterRuntime runtime;
    private final String url;
    private final Map<String, Physical> attached = new HashMap<>();
    private final SessionState session = new SessionState();
    private final CrossShardRead crossShardRead;
    private final List<LogicalStatement> statements = new ArrayList<>();
    /** Statements of a transaction that has no shard yet (SET TRANSACTION, SAVEPOINT...), replayed on binding. */
    private final List<String> pendingTransactionStatements = new ArrayList<>();

    private final Map<String, String> clientInfo = new LinkedHashMap<>();
    private boolean closed;
    private boolean autoCommit = true;
    private boolean explicitTransaction;
    private boolean readOnly;
    private int isolation = TRANSACTION_READ_COMMITTED;
    private boolean isolationSet;
    private boolean readFromPrimary;
    /** This connection's staleness bound for replica reads, ms; negative: unbounded. */
    private long maxStalenessMs;
    /** What this session wrote, per shard (read-your-writes). */
    private CausalToken causalToken;
    /** Whether the current transaction ran a statement that writes. */
    private boolean transactionWrote;
    /** Why the current transaction was lost with its connection; statements fail until rollback(). */
    private String lostTransaction;

    private int holdability = ResultSet.CLOSE_CURSORS_AT_COMMIT;
    private Map<String, Class<?>> typeMap = new HashMap<>();
    /** The physical connection of the current transaction, once its first statement chose the shard. */
    private Physical transaction;
    /** The transaction's connections to other shards (twoPhaseCommit), in the order it reached them. */
    private final List<Physical> otherShards = new ArrayList<>();
    /** Whether the transaction ran SAVEPOINT, SET LOCAL or the like, which bind it to its first shard. */
    private boolean transactionBound;
    /** The physical connection of a {@link #forKey} binding. */
    private Physical pinned;

    public LogicalConnection(ClusterRuntime runtime, String url) {
        this.runtime = runtime;
        this.url = url;
        this.readFromPrimary = runtime.readSettings().readFromPrimary();
        this.maxStalenessMs = runtime.readSettings().maxStalenessMs();
        this.causalToken = CausalToken.empty(cluster());
        this.crossShardRead = new CrossShardRead(this, runtime);
    }

    private String cluster() {
        return runtime.routing().snapshot().topology().cluster();
    }

    CrossShardRead crossShardRead() {
        return crossShardRead;
    }

    RoutingState routing() {
        return runtime.routing();
    }

    // ---- routing -------------------------------------------------------------------------------------

    /**
     * The physical connection {@code plan} runs on with these parameters ({@code null} parameters for a
     * plain statement). Binds a transaction on its first statement.
     */
    Physical target(Plan plan, Object[] parameters) throws SQLException {
        checkOpen();
        checkTransactionNotLost();
        if (plan.kind() != StatementKind.READ && plan.target() == Plan.Target.KEYED) {
            runtime.awaitWritable(plan, parameters);
        }
        RoutingState r = runtime.routing();
        int shard = shardOf(plan, parameters, r);
        Physical binding = pinned != null ? pinned : transaction;
        if (binding != null) {
            if (pinned == null && binding.shard != shard) {
                return joinTransaction(r, shard);
            }
            if (binding.shard != shard) {
                throw new SQLException(
                        "this connection is bound by forKey(...) to shard " + binding.shard
                                + ", but the statement needs shard " + shard + ": call unbind() first",
                        SqlStates.FEATURE_NOT_SUPPORTED);
            }
            if (!autoCommit && transaction == null) {
                beginOn(binding);
            }
            return binding;
        }
        boolean primary = plan.kind() != StatementKind.READ || readFromPrimary || (!autoCommit && !readOnly);
        if (autoCommit) {
            return primary ? attach(r.primary(shard), shard) : readReplica(r, shard);
        }
        Physical p = primary ? attach(r.primary(shard), shard) : readReplica(r, shard);
        beginOn(p);
        return p;
    }

    /**
     * The transaction's connection to {@code shard}, joining it there first: a transaction that reaches a second
     * shard commits with two-phase commit.
     *
     * @throws SQLException 0A000 when twoPhaseCommit is off, or the transaction ran SAVEPOINT / SET LOCAL
     */
    private Physical joinTransaction(RoutingState r, int shard) throws SQLException {
        for (Physical p : otherShards) {
            if (p.shard == shard) {
                return p;
            }
        }
        if (runtime.twoPhaseCommit() == null) {
            throw new SQLException(
                    "this transaction runs on shard " + transaction.shard + ", but the statement needs shard " + shard
                            + ": a transaction on several shards needs twoPhaseCommit=true (PostgreSQL two-phase"
                            + " commit: every primary needs max_prepared_transactions > 0, and a ZooKeeper URL)",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        if (transactionBound) {
            throw new SQLException(
                    "this transaction ran SAVEPOINT, SET LOCAL or the like on shard " + transaction.shard
                            + ", which cannot span shards, and the statement needs shard " + shard,
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        Physical p = readOnly ? readReplica(r, shard) : attach(r.primary(shard), shard);
        p.connection.setAutoCommit(false);
        if (isolationSet) {
            p.connection.setTransactionIsolation(isolation);
        }
        p.connection.setReadOnly(readOnly);
        otherShards.add(p);
        return p;
    }

    /** Every connection of the current transaction, its first shard's first. */
    private List<Physical> participants() {
        List<Physical> all = new ArrayList<>();
        if (transaction != null) {
            all.add(transaction);
        }
        all.addAll(otherShards);
        return all;
    }

    private boolean inTransaction(Physical p) {
        return p == transaction || otherShards.contains(p);
    }

    private int shardOf(Plan plan, Object[] parameters, RoutingState r) throws SQLException {
        switch (plan.target()) {
            case KEYED:
                return r.shardFor(plan, parameters);
            case HOME:
            case DRIVER:
            case BOUND:
                return pinned != null ? pinned.shard : transaction != null ? transaction.shard : r.homeShard();
            case REFUSED:
                throw new SQLException(
                        "Shardline cannot route this statement: " + plan.refusal(), SqlStates.FEATURE_NOT_SUPPORTED);
            case CROSS_SHARD:
                throw new SQLException(
                        "this read needs every shard (" + plan.refusal() + "): run it with execute or executeQuery,"
                                + " not in a batch",
                        SqlStates.FEATURE_NOT_SUPPORTED);
            default:
                throw new IllegalStateException("not a single-node plan: " + plan.target());
        }
    }

    private void beginOn(Physical p) throws SQLException {
        p.connection.setAutoCommit(false);
        if (isolationSet) {
            p.connection.setTransactionIsolation(isolation);
        }
        p.connection.setReadOnly(readOnly);
        transaction = p;
        try (Statement s = p.connection.createStatement()) {
            for (String sql : pendingTransactionStatements) {
                s.execute(sql);
            }
        } finally {
            pendingTransactionStatements.clear();
        }
    }

    /**
     * A replica of the shard within this connection's staleness bound that has replayed this session's writes
     * there; when none is, the primary (or a 55000 error with {@code fallback=error} when no replica is within
     * the bound at all); when the chosen one cannot be reached, the primary.
     */
    private Physical readReplica(RoutingState r, int shard) throws SQLException {
        long written = Math.max(causalToken.lsn(shard), runtime.cutoverLsn(shard));
        Node chosen = runtime.chooseReplica(r, shard, new ReplicaChooser.Bound(maxStalenessMs, written));
        if (chosen == null && written > 0) {
            Physical caughtUp = replicaAwaitingReplay(r, shard, written);
            if (caughtUp != null) {
                return caughtUp;
            }
        }
        if (chosen == null) {
            if (!runtime.readSettings().fallbackToPrimary()
                    && r.replicas(shard).length > 0
                    && (written == 0 || runtime.chooseReplica(r, shard, staleness()) == null)) {
                throw new SQLException(
                        "no replica of shard " + shard + " is within " + maxStalenessMs + " ms of staleness (or no"
                                + " replication monitor publishes their lag), and fallback=error keeps the read off"
                                + " the primary",
                        SqlStates.NO_FRESH_REPLICA);
            }
            return attach(r.primary(shard), shard);
        }
        Physical p = attachReplica(chosen, shard);
        if (p == null) {
            Node other = runtime.chooseReplica(r, shard, new ReplicaChooser.Bound(maxStalenessMs, written));
            p = other == null ? null : attachReplica(other, shard);
        }
        return p != null ? p : attach(r.primary(shard), shard);
    }

    /** A connection to a replica, or null (the replica ejected) when it cannot be reached. */
    private Physical attachReplica(Node replica, int shard) throws SQLException {
        try {
            return attach(replica, shard);
        } catch (SQLException e) {
            if (!ConnectionErrors.isConnectionError(e)) {
                throw e;
            }
            runtime.eject(replica, e);
            return null;
        }
    }

    private ReplicaChooser.Bound staleness() {
        return new ReplicaChooser.Bound(maxStalenessMs, 0);
    }

    /**
     * With {@code rywWaitMs > 0}: the least lagging replica within the staleness bound, once it has replayed
     * {@code lsn} (polled until then); null when none is within the bound or it did not catch up in time.
     */
    private Physical replicaAwaitingReplay(RoutingState r, int shard, long lsn) throws SQLException {
        long waitMs = runtime.readSettings().rywWaitMs();
        if (waitMs == 0 || lsn == CausalToken.UNKNOWN) {
            return null;
        }
        Node candidate = runtime.leastLaggingReplica(r, shard, maxStalenessMs);
        if (candidate == null) {
            return null;
        }
        Physical p = attachReplica(candidate, shard);
        if (p == null) {
            return null;
        }
        long deadline = System.nanoTime() + waitMs * 1_000_000;
        while (true) {
            long replayed = p.replayLsn();
            runtime.sawReplayed(candidate, replayed);
            if (replayed >= lsn) {
                return p;
            }
            if (System.nanoTime() - deadline > 0) {
                return null;
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

    /**
     * A statement of {@code kind} failed on {@code p} with {@code e}; returns what to throw. On a
     * connection-level error (see {@link ConnectionErrors}) the physical connection is dropped (the next
     * statement gets a fresh one), a replica is ejected, a transaction on it is lost (statements fail with
     * 25P02 until rollback()), and a write outside a transaction becomes 08007: it may or may not have
     * committed, and it is never retried.
     */
    SQLException failed(Physical p, StatementKind kind, SQLException e) {
        if (!ConnectionErrors.isConnectionError(e)) {
            return e;
        }
        detach(p);
        if (p.node.role() != NodeRole.PRIMARY) {
            runtime.eject(p.node, e);
        }
        if (p == pinned) {
            pinned = null;
        }
        if (inTransaction(p)) {
            List<Physical> rest = participants();
            rest.remove(p);
            endTransaction();
            for (Physical other : rest) {
                try {
                    other.connection.rollback();
                    other.connection.setAutoCommit(true);
                } catch (SQLException ignored) {
                    // broken as well: the pool validates it before lending it again
                }
            }
            lostTransaction = "the transaction on " + p.node.name() + " was rolled back when its connection broke ("
                    + e.getMessage() + ")" + (rest.isEmpty() ? "" : ", and on the other shards it reached");
            return e;
        }
        if (writes(kind)) {
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
     * Whether a read that failed with {@code e} on replica {@code p} (already ejected by {@link #failed}) may
     * run once more elsewhere: an autocommit read on a replica that broke. Sleeps a jittered 5-25 ms first,
     * so that the readers of a replica that just died do not all land on the next one at once.
     */
    boolean retryElsewhere(Physical p, StatementKind kind, SQLException e) throws SQLException {
        if (kind != StatementKind.READ
                || p.node.role() == NodeRole.PRIMARY
                || !autoCommit
                || transaction != null
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

    private static boolean writes(StatementKind kind) {
        return kind == StatementKind.WRITE || kind == StatementKind.DDL || kind == StatementKind.UTILITY;
    }

    private void detach(Physical p) {
        attached.remove(p.node.name(), p);
        runtime.pools().evict(p.node, p.connection);
    }

    private void checkTransactionNotLost() throws SQLException {
        if (lostTransaction != null) {
            throw new SQLException(
                    lostTransaction + ": call rollback() and run the transaction again",
                    SqlStates.IN_FAILED_TRANSACTION);
        }
    }

    /** After a statement of {@code kind} ran on {@code p}: a committed write advances the causal token. */
    void executed(Physical p, StatementKind kind) {
        if (kind == StatementKind.READ || kind == StatementKind.TXN || kind == StatementKind.SESSION) {
            return;
        }
        if (inTransaction(p)) {
            transactionWrote = true;
        } else if (p.node.role() == NodeRole.PRIMARY) {
            recordCommit(p);
        }
    }

    private void recordCommit(Physical p) {
        if (runtime.readSettings().readYourWrites()) {
            causalToken = causalToken.advance(p.shard, p.currentLsn());
        }
    }

    Physical attach(Node node, int shard) throws SQLException {
        Physical p = attached.get(node.name());
        int ejections = runtime.ejections(node);
        if (p != null && !inTransaction(p) && (p.connection.isClosed() || p.ejections != ejections)) {
            // pgjdbc closes a connection it can no longer trust (a broken socket, a DateStyle change), and one
            // opened before the node was last ejected may be a dead socket: replace it.
            detach(p);
            p = null;
        }
        if (p == null) {
            p = new Physical(node, shard, runtime.pools().borrow(node), runtime.inFlight(node), ejections);
            attached.put(node.name(), p);
        }
        if (p.sessionVersion != session.version()) {
            try (Statement s = p.connection.createStatement()) {
                for (String sql : session.replay()) {
                    s.execute(sql);
                }
            }
            p.sessionVersion = session.version();
        }
        return p;
    }

    /**
     * Every shard's primary in the current transaction, for a write without a shard key ({@link
     * Plan.Target#EVERY_SHARD}); in autocommit mode the caller commits (or rolls back) right after.
     *
     * @throws SQLException 0A000 when twoPhaseCommit is off or the connection is bound by forKey; 55006 while a
     *     shard move runs (its rows are on two shards until the cleanup)
     */
    List<Physical> everyShard(Plan plan) throws SQLException {
        checkOpen();
        checkTransactionNotLost();
        if (runtime.twoPhaseCommit() == null) {
            throw new SQLException(
                    "Shardline cannot route this statement: " + plan.refusal() + ". With twoPhaseCommit=true it runs"
                            + " on every shard in one transaction; otherwise add the key = ? (or IN (...)) to its WHERE",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        requireEveryShard(
                "the statement has no shard key and would run on every shard", "a write without the shard key");
        RoutingState r = runtime.routing();
        List<Physical> all = new ArrayList<>();
        for (int shard : r.shardIds()) {
            if (transaction == null) {
                Physical p = attach(r.primary(shard), shard);
                beginOn(p);
                all.add(p);
            } else if (transaction.shard == shard) {
                all.add(transaction);
            } else {
                all.add(joinTransaction(r, shard));
            }
        }
        return all;
    }

    /**
     * One connection per shard for a read no single shard can answer, by shard id: outside a transaction a
     * replica within the staleness bound (as any read), inside one the transaction's connection where it has one
     * and the primary elsewhere. The home shard's serves the final query.
     *
     * @throws SQLException 0A000 when the connection is bound by forKey; 55006 while a shard move runs (its rows
     *     are on two shards until the cleanup)
     */
    Map<Integer, Physical> crossShardSources() throws SQLException {
        checkOpen();
        checkTransactionNotLost();
        requireEveryShard("the read needs every shard", "a read across shards");
        RoutingState r = runtime.routing();
        boolean primary = readFromPrimary || !autoCommit;
        Map<Integer, Physical> sources = new LinkedHashMap<>();
        for (int shard : r.shardIds()) {
            Physical source = null;
            for (Physical p : participants()) {
                if (p.shard == shard) {
                    source = p;
                }
            }
            if (source == null) {
                source = primary ? attach(r.primary(shard), shard) : readReplica(r, shard);
            }
            sources.put(shard, source);
        }
        return sources;
    }

    /**
     * Checks that a statement may reach every shard now.
     *
     * @param why what the statement needs, for the forKey error
     * @param what the statement, for the move error
     * @throws SQLException 0A000 when the connection is bound by forKey; 55006 while a shard move runs (its rows are
     *     on two shards until the cleanup)
     */
    private void requireEveryShard(String why, String what) throws SQLException {
        if (pinned != null) {
            throw new SQLException(
                    "this connection is bound by forKey(...) to shard " + pinned.shard + ", but " + why
                            + ": call unbind() first",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        String move = runtime.activeMove();
        if (move != null) {
            throw new SQLException(
                    "shard move " + move + " is running: " + what + " would reach the moving rows on two shards; run"
                            + " it when the move is done, or give it the shard key",
                    SqlStates.MOVE_IN_PROGRESS);
        }
    }

    /** Every primary, attached, for DDL on sharded tables. */
    List<Physical> allPrimaries() throws SQLException {
        checkOpen();
        if (transaction != null || !autoCommit || pinned != null) {
            throw new SQLException(
                    "DDL on sharded tables runs on every shard and cannot be part of a transaction or a forKey binding:"
                            + " run it in autocommit mode",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        String move = runtime.activeMove();
        if (move != null) {
            throw new SQLException(
                    "shard move " + move + " is running: DDL on sharded tables would break its replication; run it"
                            + " when the move is done",
                    SqlStates.MOVE_IN_PROGRESS);
        }
        RoutingState r = runtime.routing();
        List<Physical> all = new ArrayList<>();
        for (int shard : r.shardIds()) {
            all.add(attach(r.primary(shard), shard));
        }
        return all;
    }

    // ---- statements the driver handles itself ----------------------------------------------------------

    /**
     * Runs a TXN/SESSION statement the driver handles. Returns the physical statement that produced a result
     * (SHOW) or null.
     */
    Statement handle(Plan plan, String sql) throws SQLException {
        checkOpen();
        String command = plan.command();
        switch (command) {
            case "BEGIN":
                if (autoCommit) {
                    autoCommit = false;
                    explicitTransaction = true;
                }
                return null;
            case "COMMIT":
                try {
                    commit();
                } finally {
                    endExplicitTransaction();
                }
                return null;
            case "ROLLBACK":
                try {
                    rollback();
                } finally {
                    endExplicitTransaction();
                }
                return null;
            case "SET":
            case "RESET":
            case "DISCARD":
                if (plan.setting() != null && plan.setting().startsWith("shardline.")) {
                    shardlineSetting(command, plan.setting(), sql);
                    return null;
                }
                applyToSession(command, plan.setting(), sql);
                return null;
            case "SHOW":
                return show(plan.setting(), sql);
            default:
                throw new IllegalStateException("not a driver command: " + command);
        }
    }

    /** Runs a statement that belongs to the current transaction (SAVEPOINT, SET LOCAL...). */
    Physical boundTarget(Plan plan, String sql) throws SQLException {
        checkOpen();
        checkTransactionNotLost();
        Physical binding = transaction != null ? transaction : pinned;
        if (binding != null) {
            if (transaction != null) {
                checkSingleShard(sql.strip());
                transactionBound = true;
            }
            return binding;
        }
        if (!autoCommit) {
            pendingTransactionStatements.add(sql);
            return null;
        }
        // Outside a transaction PostgreSQL itself says what is wrong (or ignores SET LOCAL with a warning).
        RoutingState r = runtime.routing();
        return attach(r.primary(r.homeShard()), r.homeShard());
    }

    private void endExplicitTransaction() throws SQLException {
        if (explicitTransaction) {
            explicitTransaction = false;
            autoCommit = true;
        }
    }

    private void applyToSession(String command, String setting, String sql) throws SQLException {
        if (attached.isEmpty()) {
            RoutingState r = runtime.routing();
            attach(r.primary(r.homeShard()), r.homeShard());
        }
        for (Physical p : attached.values()) {
            try (Statement s = p.connection.createStatement()) {
                s.execute(sql);
            }
        }
        if (command.equals("SET")) {
            session.set(setting, sql);
        } else {
            session.reset(setting);
        }
        for (Physical p : attached.values()) {
            p.sessionVersion = session.version();
        }
    }

    private void shardlineSetting(String command, String setting, String sql) throws SQLException {
        boolean reset = command.equals("RESET");
        Matcher m = SET_VALUE.matcher(sql);
        String raw = reset || !m.matches() ? "" : m.group(1).trim();
        String value = raw.toLowerCase(Locale.ROOT);
        switch (setting) {
            case "shardline.read_from":
                if (reset) {
                    readFromPrimary = runtime.readSettings().readFromPrimary();
                } else if (value.equals("primary") || value.equals("replica")) {
                    readFromPrimary = value.equals("primary");
                } else {
                    throw new SQLException(
                            "shardline.read_from must be 'replica' or 'primary', not '" + value + "'",
                            SqlStates.INVALID_PARAMETER);
                }
                return;
            case "shardline.max_staleness":
                maxStalenessMs = reset ? runtime.readSettings().maxStalenessMs() : parseStaleness(value);
                return;
            case "shardline.causal_token":
                if (reset) {
                    causalToken = CausalToken.empty(cluster());
                    return;
                }
                try {
                    causalToken = causalToken.merge(CausalToken.parse(raw, cluster()));
                } catch (IllegalArgumentException e) {
                    throw new SQLException(e.getMessage(), SqlStates.INVALID_PARAMETER, e);
                }
                return;
            default:
                throw new SQLException(
                        "unknown Shardline setting '" + setting
                                + "': the settings are shardline.read_from ('replica' or 'primary'),"
                                + " shardline.max_staleness (e.g. '200ms', '2s', 'unbounded') and"
                                + " shardline.causal_token (from causalToken())",
                        SqlStates.INVALID_PARAMETER);
        }
    }

    /** {@code 200ms}, {@code 2s}, {@code 500} (ms) or {@code unbounded}; as ms, -1 for unbounded. */
    static long parseStaleness(String value) throws SQLException {
        String v = value.trim().toLowerCase(Locale.ROOT);
        if (v.equals("unbounded") || v.equals("-1")) {
            return -1;
        }
        double ms = -1;
        try {
            if (v.endsWith("ms")) {
                ms = Double.parseDouble(v.substring(0, v.length() - 2).trim());
            } else if (v.endsWith("s")) {
                ms = Double.parseDouble(v.substring(0, v.length() - 1).trim()) * 1000;
            } else {
                ms = Double.parseDouble(v);
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        if (!(ms >= 0) || Double.isInfinite(ms)) {
            throw new SQLException(
                    "shardline.max_staleness must be like '200ms', '2s' or 'unbounded', not '" + value + "'",
                    SqlStates.INVALID_PARAMETER);
        }
        return Math.round(ms);
    }

    private Statement show(String setting, String sql) throws SQLException {
        RoutingState r = runtime.routing();
        Physical p = transaction != null
                ? transaction
                : pinned != null ? pinned : attach(r.primary(r.homeShard()), r.homeShard());
        Statement s = p.connection.createStatement();
        if (setting != null && setting.startsWith("shardline.")) {
            String value;
            if (setting.equals("shardline.read_from")) {
                value = readFromPrimary ? "primary" : "replica";
            } else if (setting.equals("shardline.max_staleness")) {
                value = maxStalenessMs < 0 ? "unbounded" : maxStalenessMs + "ms";
            } else if (setting.equals("shardline.causal_token")) {
                value = causalToken.format();
            } else {
                s.close();
                throw new SQLException("unknown Shardline setting '" + setting + "'", SqlStates.INVALID_PARAMETER);
            }
            // The value is the driver's; PostgreSQL only shapes it into a result set.
            s.execute("SELECT '" + value.replace("'", "''") + "'::text AS \"" + setting + "\"");
        } else {
            s.execute(sql);
        }
        return s;
    }

    // ---- ShardlineConnection ---------------------------------------------------------------------------

    @Override
    public ShardlineConnection forKey(String table, Object key) throws SQLException {
        checkOpen();
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
        try {
            shard = r.ring().shardFor(sharded.keyType().hash(key));
        } catch (IllegalArgumentException e) {
            throw new SQLException("forKey: " + e.getMessage(), SqlStates.INVALID_TEXT_REPRESENTATION, e);
        }
        if (transaction != null && transaction.shard != shard) {
            throw new SQLException(
                    "forKey: the current transaction runs on shard " + transaction.shard + ", the key is on shard "
                            + shard,
                    SqlStates.INVALID_TRANSACTION_STATE);
        }
        pinned = attach(r.primary(shard), shard);
        return this;
    }

    @Override
    public void unbind() throws SQLException {
        checkOpen();
        pinned = null;
    }

    @Override
    public String causalToken() throws SQLException {
        checkOpen();
        return causalToken.format();
    }

    @Override
    public List<RouteExplanation> explainRoute(String sql, Object... parameters) throws SQLException {
        RoutingState r = runtime.routing();
        Plan plan = r.plan(sql);
        Object[] params = new Object[parameters.length + 1];
        System.arraycopy(parameters, 0, params, 1, parameters.length);
        if (r.readsEveryShard(plan, params)) {
            return explainCrossShard(
                    r,
                    sql,
                    plan.target() == Plan.Target.CROSS_SHARD
                            ? plan.refusal()
                            : "its shard key values map to several shards");
        }
        switch (plan.target()) {
            case REFUSED:
                return List.of(new RouteExplanation(-1, null, null, "refused (0A000): " + plan.refusal()));
            case ALL_PRIMARIES:
            case EVERY_SHARD: {
                if (plan.target() == Plan.Target.EVERY_SHARD && runtime.twoPhaseCommit() == null) {
                    return List.of(new RouteExplanation(
                            -1, null, null, "refused (0A000): " + plan.refusal() + " (twoPhaseCommit is off)"));
                }
                List<RouteExplanation> rows = new ArrayList<>();
                for (int shard : r.shardIds()) {
                    Node n = r.primary(shard);
                    rows.add(new RouteExplanation(
                            shard,
                            n.name(),
                            "primary",
                            plan.target() == Plan.Target.ALL_PRIMARIES
                                    ? plan.kind() + " on every shard's primary"
                                    : "no shard key (" + plan.refusal() + "): on every shard's primary in one"
                                            + " two-phase-commit transaction"));
                }
                return rows;
            }
            case DRIVER:
                return List.of(new RouteExplanation(-1, null, null, "handled by the driver: " + plan.command()));
            default: {
                int shard = plan.target() == Plan.Target.KEYED ? r.shardFor(plan, params) : r.homeShard();
                boolean primary = plan.kind() != StatementKind.READ || readFromPrimary || (!autoCommit && !readOnly);
                long written = causalToken.lsn(shard);
                Node replica = primary
                        ? null
                        : runtime.chooseReplica(r, shard, new ReplicaChooser.Bound(maxStalenessMs, written));
                Node n = replica != null ? replica : r.primary(shard);
                String why = plan.target() == Plan.Target.KEYED
                        ? "key " + plan.keyGroups().get(0).sources() + " of "
                                + plan.keyGroups().get(0).tables().get(0).qualifiedName() + " -> shard " + shard
                        : "no sharded table -> home shard " + shard;
                why += primary
                        ? "; " + plan.kind() + " -> primary"
                        : replica != null
                                ? "; READ -> a replica within "
                                        + (maxStalenessMs < 0 ? "any" : maxStalenessMs + " ms of")
                                        + " staleness (power of two choices)"
                                : written > 0
                                        ? "; READ -> primary: no replica within " + maxStalenessMs
                                                + " ms of staleness is known to have replayed this session's write"
                                                + " at " + Lsn.format(written)
                                        : "; READ -> primary: no replica within " + maxStalenessMs + " ms of staleness";
                return List.of(
                        new RouteExplanation(shard, n.name(), n.role().name().toLowerCase(Locale.ROOT), why));
            }
        }
    }

    // ---- Connection ------------------------------------------------------------------------------------

    /** One row per shard: what it computes for a cross-shard read, and that the home shard combines. */
    private List<RouteExplanation> explainCrossShard(RoutingState r, String sql, String why) throws SQLException {
        CrossShardQuery query = r.crossShard(sql, true);
        boolean primary = readFromPrimary || !autoCommit;
        List<RouteExplanation> rows = new ArrayList<>();
        for (int shard : r.shardIds()) {
            rows.add(new RouteExplanation(
                    shard,
                    primary ? r.primary(shard).name() : null,
                    primary ? "primary" : "replica",
                    "cross-shard read (" + why + "): " + query.description()
                            + (shard == r.homeShard() ? "; the final query runs here" : "")));
        }
        return rows;
    }

    @Override
    public Statement createStatement() throws SQLException {
        return createStatement(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY, holdability);
    }

    @Override
    public Statement createStatement(int resultSetType, int resultSetConcurrency) throws SQLException {
        return createStatement(resultSetType, resultSetConcurrency, holdability);
    }

    @Override
    public Statement createStatement(int type, int concurrency, int holdability) throws SQLException {
        checkOpen();
        LogicalStatement s = new LogicalStatement(this, new StatementOptions(type, concurrency, holdability));
        statements.add(s);
        return s;
    }

    @Override
    public PreparedStatement prepareStatement(String sql) throws SQLException {
        return prepare(sql, new StatementOptions(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY, holdability));
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int type, int concurrency) throws SQLException {
        return prepare(sql, new StatementOptions(type, concurrency, holdability));
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int type, int concurrency, int holdability)
            throws SQLException {
        return prepare(sql, new StatementOptions(type, concurrency, holdability));
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int autoGeneratedKeys) throws SQLException {
        StatementOptions o = new StatementOptions(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY, holdability);
        o.autoGeneratedKeys = autoGeneratedKeys;
        return prepare(sql, o);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int[] columnIndexes) throws SQLException {
        StatementOptions o = new StatementOptions(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY, holdability);
        o.columnIndexes = columnIndexes;
        return prepare(sql, o);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, String[] columnNames) throws SQLException {
        StatementOptions o = new StatementOptions(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY, holdability);
        o.columnNames = columnNames;
        return prepare(sql, o);
    }

    private PreparedStatement prepare(String sql, StatementOptions options) throws SQLException {
        checkOpen();
        LogicalStatement.requireSql(sql);
        LogicalPreparedStatement s = new LogicalPreparedStatement(
                this, options, sql, runtime.routing().plan(sql));
        statements.add(s);
        return s;
    }

    void forget(LogicalStatement s) {
        statements.remove(s);
    }

    @Override
    public CallableStatement prepareCall(String sql) throws SQLException {
        return homePhysical().connection.prepareCall(sql);
    }

    @Override
    public CallableStatement prepareCall(String sql, int type, int concurrency) throws SQLException {
        return homePhysical().connection.prepareCall(sql, type, concurrency);
    }

    @Override
    public CallableStatement prepareCall(String sql, int type, int concurrency, int holdability) throws SQLException {
        return homePhysical().connection.prepareCall(sql, type, concurrency, holdability);
    }

    /** The transaction's or binding's connection, else the home shard's primary. */
    private Physical homePhysical() throws SQLException {
        checkOpen();
        if (transaction != null) {
            return transaction;
        }
        if (pinned != null) {
            return pinned;
        }
        RoutingState r = runtime.routing();
        Physical p = attach(r.primary(r.homeShard()), r.homeShard());
        if (!autoCommit) {
            beginOn(p);
        }
        return p;
    }

    @Override
    public String nativeSQL(String sql) throws SQLException {
        checkOpen();
        return sql;
    }

    @Override
    public void setAutoCommit(boolean autoCommit) throws SQLException {
        checkOpen();
        if (autoCommit && !this.autoCommit) {
            commit();
        }
        this.autoCommit = autoCommit;
        explicitTransaction = false;
    }

    @Override
    public boolean getAutoCommit() throws SQLException {
        checkOpen();
        return autoCommit;
    }

    @Override
    public void commit() throws SQLException {
        checkOpen();
        pendingTransactionStatements.clear();
        if (lostTransaction != null) {
            String why = lostTransaction;
            lostTransaction = null;
            throw new SQLException(why + ": nothing was committed", SqlStates.TRANSACTION_ROLLBACK);
        }
        if (!otherShards.isEmpty()) {
            commitOnShards();
            return;
        }
        if (transaction != null) {
            Physical t = transaction;
            boolean wrote = transactionWrote;
            endTransaction();
            try {
                t.connection.commit();
            } catch (SQLException e) {
                if (!ConnectionErrors.isConnectionError(e)) {
                    throw e;
                }
                detach(t);
                if (t.node.role() != NodeRole.PRIMARY) {
                    runtime.eject(t.node, e);
                }
                throw new SQLException(
                        "the outcome of COMMIT on " + t.node.name() + " is unknown: the connection broke while it ran ("
                                + e.getMessage() + "), so the transaction may or may not have committed. Shardline"
                                + " does not retry it; check whether it took effect before running it again",
                        SqlStates.OUTCOME_UNKNOWN,
                        e);
            }
            t.connection.setAutoCommit(true);
            if (wrote && t.node.role() == NodeRole.PRIMARY) {
                recordCommit(t);
            }
        }
    }

    /**
     * Commits a transaction that reached several shards: two-phase commit when it may have written, else a plain
     * commit on each (a read-only transaction has nothing to make atomic).
     */
    private void commitOnShards() throws SQLException {
        List<Physical> all = participants();
        boolean wrote = transactionWrote;
        endTransaction();
        if (readOnly) {
            SQLException failure = null;
            for (Physical p : all) {
                try {
                    p.connection.commit();
                    p.connection.setAutoCommit(true);
                } catch (SQLException e) {
                    failure = e;
                }
            }
            if (failure != null) {
                throw failure;
            }
            return;
        }
        Map<Integer, java.sql.Connection> byShard = new LinkedHashMap<>();
        for (Physical p : all) {
            byShard.put(p.shard, p.connection);
        }
        runtime.twoPhaseCommit().commit(runtime.nextGid(), byShard);
        if (wrote) {
            for (Physical p : all) {
                recordCommit(p);
            }
        }
    }

    private void endTransaction() {
        transaction = null;
        otherShards.clear();
        transactionWrote = false;
        transactionBound = false;
    }

    /** @throws SQLException 0A000 when a statement that binds a transaction to one shard runs in one on several */
    private void checkSingleShard(String what) throws SQLException {
        if (!otherShards.isEmpty()) {
            throw new SQLException(
                    what + " in a transaction on several shards ("
                            + participants().stream().map(p -> p.shard).toList()
                            + ") is not supported: savepoints and SET LOCAL would apply to one shard only",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
    }

    @Override
    public void rollback() throws SQLException {
        checkOpen();
        pendingTransactionStatements.clear();
        lostTransaction = null;
        List<Physical> all = participants();
        endTransaction();
        SQLException failure = null;
        for (Physical p : all) {
            try {
                p.connection.rollback();
                p.connection.setAutoCommit(true);
            } catch (SQLException e) {
                failure = e;
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public Savepoint setSavepoint() throws SQLException {
        return transactionConnection("setSavepoint").setSavepoint();
    }

    @Override
    public Savepoint setSavepoint(String name) throws SQLException {
        return transactionConnection("setSavepoint").setSavepoint(name);
    }

    @Override
    public void rollback(Savepoint savepoint) throws SQLException {
        transactionConnection("rollback(Savepoint)").rollback(savepoint);
    }

    @Override
    public void releaseSavepoint(Savepoint savepoint) throws SQLException {
        transactionConnection("releaseSavepoint").releaseSavepoint(savepoint);
    }

    private java.sql.Connection transactionConnection(String what) throws SQLException {
        checkOpen();
        checkTransactionNotLost();
        if (autoCommit) {
            throw new SQLException(
                    what + " needs a transaction: call setAutoCommit(false) first", SqlStates.NO_ACTIVE_TRANSACTION);
        }
        if (transaction == null) {
            if (pinned != null) {
                beginOn(pinned);
            } else {
                throw new SQLException(
                        what + " before the transaction's first statement: the first statement decides which shard the"
                                + " transaction runs on, so run it first",
                        SqlStates.INVALID_TRANSACTION_STATE);
            }
        }
        checkSingleShard(what);
        transactionBound = true;
        return transaction.connection;
    }

    @Override
    public void close() throws SQLException {
        if (closed) {
            return;
        }
        closed = true;
        SQLException failure = null;
        for (LogicalStatement s : new ArrayList<>(statements)) {
            try {
                s.close();
            } catch (SQLException e) {
                failure = e;
            }
        }
        for (Physical p : participants()) {
            try {
                p.connection.rollback();
                p.connection.setAutoCommit(true);
            } catch (SQLException e) {
                failure = e;
            }
        }
        endTransaction();
        for (Physical p : attached.values()) {
            try {
                if (!session.isEmpty()) {
                    try (Statement s = p.connection.createStatement()) {
                        s.execute("RESET ALL");
                    }
                }
            } catch (SQLException e) {
                // The pool validates the connection; a broken one is discarded there.
            }
            try {
                p.connection.close();
            } catch (SQLException e) {
                failure = e;
            }
        }
        attached.clear();
        pinned = null;
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public boolean isClosed() {
        return closed;
    }

    @Override
    public DatabaseMetaData getMetaData() throws SQLException {
        DatabaseMetaData physical = homePhysical().connection.getMetaData();
        return (DatabaseMetaData) Proxy.newProxyInstance(
                DatabaseMetaData.class.getClassLoader(),
                new Class<?>[] {DatabaseMetaData.class},
                (proxy, method, args) -> {
                    switch (method.getName()) {
                        case "getConnection":
                            return this;
                        case "getURL":
                            return url;
                        case "getDriverName":
                            return "Shardline (over " + physical.getDriverName() + ")";
                        default:
                            try {
                                return method.invoke(physical, args);
                            } catch (InvocationTargetException e) {
                                throw e.getCause();
                            }
                    }
                });
    }

    @Override
    public void setReadOnly(boolean readOnly) throws SQLException {
        checkOpen();
        this.readOnly = readOnly;
        for (Physical p : participants()) {
            p.connection.setReadOnly(readOnly);
        }
    }

    @Override
    public boolean isReadOnly() throws SQLException {
        checkOpen();
        return readOnly;
    }

    @Override
    public void setCatalog(String catalog) throws SQLException {
        checkOpen();
    }

    @Override
    public String getCatalog() throws SQLException {
        return runtime.routing().snapshot().topology().database();
    }

    @Override
    public void setTransactionIsolation(int level) throws SQLException {
        checkOpen();
        isolation = level;
        isolationSet = true;
        for (Physical p : participants()) {
            p.connection.setTransactionIsolation(level);
        }
    }

    @Override
    public int getTransactionIsolation() throws SQLException {
        checkOpen();
        return isolation;
    }

    @Override
    public SQLWarning getWarnings() throws SQLException {
        checkOpen();
        return null;
    }

    @Override
    public void clearWarnings() throws SQLException {
        checkOpen();
    }

    @Override
    public Map<String, Class<?>> getTypeMap() throws SQLException {
        return typeMap;
    }

    @Override
    public void setTypeMap(Map<String, Class<?>> map) throws SQLException {
        typeMap = map;
    }

    @Override
    public void setHoldability(int holdability) throws SQLException {
        this.holdability = holdability;
    }

    @Override
    public int getHoldability() throws SQLException {
        return holdability;
    }

    @Override
    public Clob createClob() throws SQLException {
        return homePhysical().connection.createClob();
    }

    @Override
    public Blob createBlob() throws SQLException {
        return homePhysical().connection.createBlob();
    }

    @Override
    public NClob createNClob() throws SQLException {
        return homePhysical().connection.createNClob();
    }

    @Override
    public SQLXML createSQLXML() throws SQLException {
        return homePhysical().connection.createSQLXML();
    }

    @Override
    public boolean isValid(int timeout) throws SQLException {
        if (closed) {
            return false;
        }
        RoutingState r = runtime.routing();
        return attach(r.primary(r.homeShard()), r.homeShard()).connection.isValid(timeout);
    }

    @Override
    public void setClientInfo(String name, String value) throws SQLClientInfoException {
        clientInfo.put(name, value);
    }

    @Override
    public void setClientInfo(Properties properties) throws SQLClientInfoException {
        properties.forEach((k, v) -> clientInfo.put((String) k, (String) v));
    }

    @Override
    public String getClientInfo(String name) throws SQLException {
        return clientInfo.get(name);
    }

    @Override
    public Properties getClientInfo() throws SQLException {
        Properties p = new Properties();
        p.putAll(clientInfo);
        return p;
    }

    @Override
    public Array createArrayOf(String typeName, Object[] elements) throws SQLException {
        return homePhysical().connection.createArrayOf(typeName, elements);
    }

    @Override
    public Struct createStruct(String typeName, Object[] attributes) throws SQLException {
        return homePhysical().connection.createStruct(typeName, attributes);
    }

    @Override
    public void setSchema(String schema) throws SQLException {
        String sql = "SET search_path TO \"" + schema.replace("\"", "\"\"") + "\"";
        applyToSession("SET", "search_path", sql);
    }

    @Override
    public String getSchema() throws SQLException {
        return homePhysical().connection.getSchema();
    }

    @Override
    public void abort(Executor executor) throws SQLException {
        close();
    }

    @Override
    public void setNetworkTimeout(Executor executor, int milliseconds) throws SQLException {
        for (Physical p : attached.values()) {
            p.connection.setNetworkTimeout(executor, milliseconds);
        }
    }

    @Override
    public int getNetworkTimeout() throws SQLException {
        return homePhysical().connection.getNetworkTimeout();
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        if (iface.isInstance(this)) {
            return iface.cast(this);
        }
        Physical binding = transaction != null ? transaction : pinned;
        if (binding == null) {
            throw new SQLException(
                    "unwrap(" + iface.getSimpleName()
                            + ") needs the connection bound to one node: call forKey(table, key),"
                            + " or run the transaction's first statement",
                    SqlStates.INVALID_TRANSACTION_STATE);
        }
        return binding.connection.unwrap(iface);
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) throws SQLException {
        if (iface.isInstance(this)) {
            return true;
        }
        Physical binding = transaction != null ? transaction : pinned;
        return binding != null && binding.connection.isWrapperFor(iface);
    }

    boolean autoCommit() {
        return autoCommit;
    }

    void checkOpen() throws SQLException {
        if (closed) {
            throw new SQLException("this Shardline connection is closed", SqlStates.CONNECTION_DOES_NOT_EXIST);
        }
    }
}
