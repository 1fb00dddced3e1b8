package io.shardline.router.exec;

import io.shardline.router.route.ReplicaHealth;
import io.shardline.router.route.RoutingState;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.Shard;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.function.LongSupplier;
import org.postgresql.jdbc.PgConnection;

/**
 * The physical connections one logical connection holds, one per node it used, and the session settings ({@code
 * SET}) replayed on each. When the logical connection closes, each is handed back to its pool reset for the next
 * borrower: {@code DISCARD ALL} where a statement may have left state behind (LISTEN, temporary tables, session
 * advisory locks, {@code set_config(..., false)}, SET ROLE, unwrapped use), {@code RESET ALL} where only SETs ran,
 * nothing otherwise.
 */
final class Attachments {
    private final ClusterRuntime runtime;
    private final Map<String, Physical> byNode = new HashMap<>();
    /**
     * Every pooled connection held now (attached or apart) and its node: the one structure another thread reads, for
     * {@link #abort}.
     */
    private final Map<Connection, Node> held = new ConcurrentHashMap<>();
    /** Set by {@link #abort}: no connection is borrowed any more. */
    private volatile boolean aborted;
    /** Connections of their own outside the transaction ({@link #apart}), while a statement uses them. */
    private final List<Physical> apart = new ArrayList<>(2);

    private final SessionState session = new SessionState();
    /** Whether a replayed setting outlives RESET ALL (SET ROLE): connections replaying it need DISCARD ALL. */
    private boolean lasting;
    /** {@link #setNetworkTimeout}'s, for connections attached later; -1: none set. */
    private int networkTimeoutMs = -1;

    private Executor networkTimeoutExecutor;

    /** The session's staleness bound, in milliseconds (-1: unbounded): what a replica was chosen by. */
    private final LongSupplier maxStalenessMs;

    Attachments(ClusterRuntime runtime, LongSupplier maxStalenessMs) {
        this.runtime = runtime;
        this.maxStalenessMs = maxStalenessMs;
    }

    /**
     * This connection's physical connection to {@code node}, borrowed on first use, with the session's settings.
     * One that pgjdbc closed (a broken socket), that was opened before the node was last ejected, or whose node
     * moved, is replaced unless a transaction runs on it or a {@code forKey} binding holds it.
     *
     * @throws SQLException 08001 when the node cannot be reached, 53300 when its pool has no free connection
     */
    Physical attach(Node node, int shard) throws SQLException {
        if (aborted) {
            throw abortedError();
        }
        Physical p = byNode.get(node.name());
        long now = System.nanoTime();
        if (p != null
                && !p.inTransaction
                && !p.pinned
                && (p.ejectedSince()
                        || p.node != node && !p.node.equals(node)
                        || p.connection.isClosed()
                        || cut(p)
                        || deadAfterIdle(p, now))) {
            detach(p);
            p = null;
        }
        if (p == null) {
            ReplicaHealth.NodeState state = runtime.health().node(node);
            int ejections = state.breaker().ejections();
            p = new Physical(node, shard, hold(node, withTimeout(borrow(node, shard))), state, ejections);
            byNode.put(node.name(), p);
        }
        p.attachedAt = now;
        sync(p);
        return p;
    }

    /**
     * Whether {@code p}'s connection was cut at its socket by another thread (a failover's {@code
     * ClusterRuntime#sever}): HikariCP's proxy still says open, so it would be written to (and a write reported
     * of unknown outcome though nothing was sent).
     */
    static boolean cut(Physical p) throws SQLException {
        return p.node.role() == NodeRole.PRIMARY
                && p.connection.unwrap(PgConnection.class).isClosed();
    }

    /** How long a primary's connection may sit unused before it is checked again when the session comes back. */
    private static final long IDLE_CHECK_NANOS = 2_000_000_000L;

    /**
     * Whether a primary's connection unused for {@link #IDLE_CHECK_NANOS} is dead (as HikariCP checks one idle in its
     * pool): its server went away meanwhile (a failover), and a write sent there would fail with an outcome the
     * driver could not tell ({@code 08007}) though nothing reached a live server.
     */
    private static boolean deadAfterIdle(Physical p, long now) throws SQLException {
        return p.node.role() == NodeRole.PRIMARY && now - p.attachedAt > IDLE_CHECK_NANOS && !p.connection.isValid(1);
    }

    /**
     * Brings {@code p} to the session's settings, when it lags behind them. One that may hold settings the session
     * does not ({@link Physical#resync}) is reset first, outside a transaction only: a reset inside one would also
     * undo its SET LOCALs (a row-level-security tenant, a local role); it is reset when the transaction ends.
     */
    void sync(Physical p) throws SQLException {
        boolean reset = p.resync && !p.inTransaction;
        if (p.sessionVersion == session.version() && !reset) {
            return;
        }
        p.isolation = -1;
        try (Statement s = p.connection.createStatement()) {
            if (reset) {
                // what the pool's connection started with; RESET ALL leaves the role and session authorization
                s.execute("RESET SESSION AUTHORIZATION");
                s.execute("RESET ROLE");
                s.execute("RESET ALL");
                p.serializableDefault = false;
                p.resync = false;
            }
            for (String sql : session.replay()) {
                s.execute(sql);
                if (setsIsolation(sql)) {
                    // at once: a later replayed query (set_config) would run under it
                    notSerializableOnStandby(p, s);
                }
            }
        }
        p.sessionVersion = session.version();
        p.sessionDirty |= lasting;
    }

    /** Whether a SET (or set_config, RESET ALL, DISCARD ALL) may change the session's default isolation level. */
    private static boolean setsIsolation(String sql) {
        String lower = sql.toLowerCase(java.util.Locale.ROOT).strip();
        return lower.contains("isolation") || lower.matches("(reset|discard)\\s+all\\b.*");
    }

    /**
     * A hot standby takes a serializable default and then refuses every query ("cannot use serializable mode in a hot
     * standby"): on a replica, whose reads need no level, the default becomes repeatable read (its snapshot is the
     * replica's either way).
     */
    private static void notSerializableOnStandby(Physical p, Statement s) throws SQLException {
        if (p.node.role() == io.shardline.topology.NodeRole.PRIMARY) {
            return;
        }
        // SHOW and SET take no snapshot: a standby runs them under a serializable default (a query it refuses)
        String level;
        try (java.sql.ResultSet rs = s.executeQuery("SHOW default_transaction_isolation")) {
            rs.next();
            level = rs.getString(1);
        }
        p.serializableDefault = "serializable".equals(level);
        if (p.serializableDefault) {
            s.execute("SET default_transaction_isolation TO 'repeatable read'");
        }
    }

    /** The session's settings now, for {@link #restoreSettings}. */
    Settings saveSettings() {
        return new Settings(session.copy(), lasting);
    }

    /** Changes with every change of the session's settings. */
    int settingsVersion() {
        return session.version();
    }

    /** The session's settings at one moment. */
    record Settings(SessionState state, boolean lasting) {}

    /**
     * Returns to the settings {@code saved} held: a transaction whose SETs ran rolled back. Each connection is reset
     * and given them again before its next use ({@link #sync}), whether PostgreSQL undid them there (it ran in the
     * transaction) or not (it ran outside it).
     */
    void restoreSettings(Settings saved) {
        session.restore(saved.state());
        // connections that replay a SET ROLE again must not go back to the pool with only RESET ALL
        lasting |= saved.lasting();
        for (Physical p : byNode.values()) {
            if (p.inTransaction) {
                // a rollback to a savepoint: PostgreSQL undid them there itself (a replay would undo SET LOCALs)
                p.sessionVersion = session.version();
            } else {
                p.resync = true;
            }
        }
    }

    /**
     * Sets the network timeout of every connection attached now and later ({@code Connection.setNetworkTimeout}):
     * a connection to a node first used after the call must not wait on a dead node for the operating system's TCP
     * timeout.
     */
    void setNetworkTimeout(Executor executor, int milliseconds) throws SQLException {
        networkTimeoutExecutor = executor;
        networkTimeoutMs = milliseconds;
        for (Physical p : byNode.values()) {
            p.connection.setNetworkTimeout(executor, milliseconds);
        }
        for (Physical p : apart) {
            p.connection.setNetworkTimeout(executor, milliseconds);
        }
    }

    /** The network timeout the application set, or -1 when it set none. */
    int networkTimeout() {
        return networkTimeoutMs;
    }

    /** {@code c} with the application's network timeout, when it set one (closed when it cannot take it). */
    private Connection withTimeout(Connection c) throws SQLException {
        if (networkTimeoutMs >= 0) {
            try {
                c.setNetworkTimeout(networkTimeoutExecutor, networkTimeoutMs);
            } catch (SQLException e) {
                c.close();
                throw e;
            }
        }
        return c;
    }

    /**
     * A pooled connection to {@code node}; for a primary, given up ({@link NodePools.Abandoned}) while none comes
     * and the topology names another primary for {@code shard}, or a switchover holds it (a dead primary replaced).
     */
    private Connection borrow(Node node, int shard) throws SQLException {
        if (node.role() != NodeRole.PRIMARY) {
            return borrowReplica(node);
        }
        return runtime.pools().borrow(node, () -> {
            RoutingState r = runtime.routing();
            if (!node.equals(r.primary(shard))) {
                return false;
            }
            for (Shard s : r.switching()) {
                if (s.id() == shard) {
                    return false;
                }
            }
            return true;
        });
    }

    /**
     * A pooled connection to a replica chosen for a read, given up ({@link NodePools.Abandoned}, nothing sent) when
     * its lag plus its report's age passed the session's bound while the read waited for it: the choice was right
     * when it was made, and a read that starts seconds later (every connection of the pool lent out) must be judged
     * again.
     */
    private Connection borrowReplica(Node node) throws SQLException {
        long bound = maxStalenessMs.getAsLong();
        if (bound < 0) {
            return runtime.pools().borrow(node);
        }
        Connection c = runtime.pools().borrow(node, () -> runtime.router().stillServes(node, bound));
        // judged again also after a quick borrow: a cross-shard read chooses every part's replica first, then opens
        // them one after the other
        if (!runtime.router().stillServes(node, bound)) {
            c.close();
            throw new NodePools.Abandoned(node);
        }
        return c;
    }

    /**
     * A connection to {@code node} of its own, outside this connection's transaction, with the session's settings:
     * handed back by {@link #releaseApart()}.
     */
    Physical apart(Node node, int shard) throws SQLException {
        java.sql.Connection connection;
        try {
            connection = hold(node, withTimeout(runtime.pools().borrow(node)));
        } catch (SQLException e) {
            throw new SQLException(
                    "an atomic cross-shard read inside a transaction reads " + node.name() + " on a connection of its"
                            + " own, apart from the transaction's: " + e.getMessage(),
                    e.getSQLState(),
                    e);
        }
        ReplicaHealth.NodeState state = runtime.health().node(node);
        Physical p =
                new Physical(node, shard, connection, state, state.breaker().ejections());
        try (Statement s = connection.createStatement()) {
            for (String sql : session.replay()) {
                s.execute(sql);
            }
        } catch (SQLException e) {
            unhold(connection);
            runtime.pools().evict(node, connection);
            throw e;
        }
        p.sessionVersion = session.version();
        p.sessionDirty |= lasting;
        apart.add(p);
        return p;
    }

    /** Hands back every connection {@link #apart} gave (the transaction they read beside ended). */
    void releaseAllApart() {
        releaseApart(new ArrayList<>(apart));
    }

    /** Hands back connections {@link #apart} gave, reset for their next borrower. */
    void releaseApart(List<Physical> given) {
        for (Physical p : given) {
            if (apart.remove(p)) {
                reset(p);
            }
        }
    }

    /** Drops a connection that must not be reused (it broke): the pool closes it. */
    void detach(Physical p) {
        byNode.remove(p.node.name(), p);
        apart.remove(p);
        unhold(p.connection);
        runtime.pools().evict(p.node, p.connection);
    }

    /** {@code c}, borrowed for {@code node}, noted as held; evicted and refused once {@link #abort} ran. */
    private Connection hold(Node node, Connection c) throws SQLException {
        held.put(c, node);
        runtime.held(c, node);
        if (aborted) {
            unhold(c);
            runtime.pools().evict(node, c);
            throw abortedError();
        }
        if (runtime.severing(node)) {
            // borrowed once a failover's cut may have passed it by: nothing is sent there, the statement is routed
            // again and held (registered before the check, so either the cut sees it or this sees the hold)
            unhold(c);
            runtime.pools().evict(node, c);
            throw new NodePools.Abandoned(node);
        }
        return c;
    }

    /** {@code c} is no longer held (handed back, evicted or cut): true when it was. */
    private boolean unhold(Connection c) {
        runtime.released(c);
        return held.remove(c) != null;
    }

    /**
     * {@code Connection.abort}, from any thread: every connection held now is cut at its socket (a statement running
     * on it fails at once) and evicted from its pool, on {@code executor}; none is borrowed after.
     */
    void abort(Executor executor) {
        aborted = true;
        for (Map.Entry<Connection, Node> e : held.entrySet()) {
            Connection c = e.getKey();
            if (unhold(c)) {
                executor.execute(() -> {
                    try {
                        c.unwrap(PgConnection.class).abort(Runnable::run);
                    } catch (SQLException | RuntimeException ignored) {
                        // closed already: the eviction below is all that is left
                    }
                    runtime.pools().evict(e.getValue(), c);
                });
            }
        }
    }

    /** Whether {@link #abort} ran. */
    boolean aborted() {
        return aborted;
    }

    static SQLException abortedError() {
        return new SQLException("this connection was aborted (Connection.abort)", "08003");
    }

    /**
     * Marks every connection, attached or used apart, as possibly changed behind the driver's back: each is reset with
     * {@code DISCARD ALL} before its next borrower.
     */
    void allMayHaveChanged() {
        for (Physical p : byNode.values()) {
            p.sessionMayHaveChanged();
        }
        for (Physical p : apart) {
            p.sessionMayHaveChanged();
        }
    }

    /** Every attached connection. */
    List<Physical> all() {
        return new ArrayList<>(byNode.values());
    }

    boolean isEmpty() {
        return byNode.isEmpty();
    }

    /**
     * Lets go of the connections, outside a transaction and a binding, to nodes the topology no longer has as they were
     * attached: a former primary after a failover or switchover (dead, or read-only), a replica moved or removed. A
     * SET would otherwise fail on a dead one, and a read of the session's defaults take a former primary's.
     */
    void releaseFormer() {
        RoutingState r = runtime.routing();
        for (Physical p : all()) {
            if (!p.inTransaction && !p.pinned && !current(r, p)) {
                detach(p);
            }
        }
    }

    /** Whether the topology still has {@code p}'s node as it was attached (role and address). */
    static boolean current(RoutingState r, Physical p) {
        try {
            if (p.node.role() == NodeRole.PRIMARY) {
                return p.node.equals(r.primary(p.shard));
            }
            for (Node n : r.replicas(p.shard)) {
                if (n.equals(p.node)) {
                    return true;
                }
            }
            return false;
        } catch (RuntimeException gone) {
            return false; // its shard is gone
        }
    }

    /**
     * Applies a SET/RESET/DISCARD to every attached connection and records it for the ones attached later.
     *
     * @param setting the parameter, {@code all} for RESET ALL; for DISCARD what it discards ({@code all}, {@code temp}...)
     * @param lasting whether RESET ALL does not undo it: the connections are reset with DISCARD ALL before reuse
     */
    void apply(String command, String setting, String sql, boolean lasting) throws SQLException {
        boolean discardAll = command.equals("DISCARD") && "all".equals(setting);
        // connections outside the transaction first: one failing there leaves the transaction's untouched
        List<Physical> all = new ArrayList<>(byNode.values());
        all.sort(Comparator.comparing(p -> p.inTransaction));
        for (int i = 0; i < all.size(); i++) {
            Physical p = all.get(i);
            try {
                sync(p);
            } catch (SQLException e) {
                throw markRan(all.subList(0, i + 1), e);
            }
            p.isolation = -1;
            try (Statement s = p.connection.createStatement()) {
                s.execute(sql);
                if (setsIsolation(sql)) {
                    notSerializableOnStandby(p, s);
                }
            } catch (SQLException e) {
                throw markRan(all.subList(0, i), e); // it did not run where it failed
            }
            if (discardAll) {
                p.sessionDirty = false;
            } else if (lasting) {
                p.sessionDirty = true;
            }
        }
        this.lasting = !discardAll && (this.lasting || lasting);
        if (command.equals("DISCARD") && !discardAll) {
            return; // DISCARD TEMP, PLANS, SEQUENCES leave the settings as they are
        }
        if (command.equals("SET")) {
            session.set(setting, sql);
        } else if (discardAll) {
            session.discardAll();
        } else {
            session.reset(setting);
        }
        for (Physical p : all) {
            p.sessionVersion = session.version();
        }
    }

    /** The connections a SET ran on hold a setting the session does not record: reset before their next use. */
    private static SQLException markRan(List<Physical> ran, SQLException e) {
        for (Physical p : ran) {
            p.resync = true;
            p.sessionVersion = -1;
        }
        return e;
    }

    /**
     * Hands every connection back to its pool, reset for its next borrower (see the class comment); one that cannot
     * be reset is closed instead. Call after the transaction ended.
     *
     * @return the first failure to close, or null
     */
    SQLException release() {
        releaseAllApart();
        SQLException failure = null;
        for (Physical p : byNode.values()) {
            SQLException e = reset(p);
            failure = failure == null ? e : failure;
        }
        byNode.clear();
        return failure;
    }

    /** Resets {@code p} and hands it back to its pool (one that cannot be reset is evicted); the close's failure. */
    private SQLException reset(Physical p) {
        if (!unhold(p.connection) && aborted) {
            return null; // cut and evicted by abort
        }
        String reset = p.sessionDirty || p.resync ? "DISCARD ALL" : session.version() > 0 ? "RESET ALL" : null;
        if (reset != null) {
            try (Statement s = p.connection.createStatement()) {
                s.execute(reset);
            } catch (SQLException e) {
                runtime.pools().evict(p.node, p.connection);
                return null;
            }
        }
        try {
            p.connection.close();
            return null;
        } catch (SQLException e) {
            return e;
        }
    }
}
