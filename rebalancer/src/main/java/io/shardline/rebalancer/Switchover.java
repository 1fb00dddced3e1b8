package io.shardline.rebalancer;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.Lsn;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.RouterRegistration;
import io.shardline.topology.Shard;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.TopologyException;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import org.apache.curator.framework.CuratorFramework;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A planned primary switchover of one shard: the shard's writes are held by every router (the topology marks the
 * shard, each router acknowledges in {@code routers/}), the transactions already open on the old primary end (or are
 * ended after a grace period), the old primary is made read-only, a hub replica replays everything it wrote and is
 * promoted, the other replicas of the old primary stream from it, and the topology naming it primary releases the
 * writes onto it.
 *
 * <p>Run again after an interruption, it resumes: before the promotion it starts over (the mark stays, writes wait
 * meanwhile); after it, it publishes. A failure before the promotion gives the shard back to its old primary.
 * The old primary stays up, read-only and out of the topology: it is rebuilt as a standby by the operator (it may hold
 * WAL its former replicas never received: nothing acknowledged, since it took no write after it went read-only).
 */
public final class Switchover {
    private static final Logger LOG = LoggerFactory.getLogger(Switchover.class);

    /**
     * @param ackTimeout how long the routers have to acknowledge the hold
     * @param transactionGrace how long the transactions open on the old primary have to end before they are ended
     * @param replayTimeout how long the new primary has to replay the old one's last write
     */
    public record Settings(Duration ackTimeout, Duration transactionGrace, Duration replayTimeout) {
        public static final Settings DEFAULT =
                new Settings(Duration.ofSeconds(2), Duration.ofSeconds(5), Duration.ofSeconds(10));
    }

    /**
     * What a switchover did.
     *
     * @param writesHeldMs from the hold's publication to the new topology's
     * @param repointed the replicas now streaming from the new primary (besides those that did already)
     * @param warnings what needs the operator's attention (a replica that could not be repointed...)
     */
    public record Result(
            String id,
            int shard,
            String from,
            String to,
            long topologyVersion,
            long writesHeldMs,
            List<String> repointed,
            List<String> warnings) {}

    private final CuratorFramework client;
    private final String cluster;
    private final MoveEstimate.Connector connector;
    private final Settings settings;

    public Switchover(CuratorFramework client, String cluster, MoveEstimate.Connector connector, Settings settings) {
        this.client = client;
        this.cluster = cluster;
        this.connector = connector;
        this.settings = settings;
    }

    /**
     * Switches shard {@code shardId}'s primary over to {@code to} (a hub: a replica of the primary), or, when null,
     * to its hub that has replayed the most.
     *
     * @throws MoveException saying what failed and in which state it left the shard
     */
    public Result run(int shardId, String to) throws MoveException {
        ClusterTopology topology = topology();
        Shard shard;
        try {
            shard = topology.shard(shardId);
        } catch (IllegalArgumentException e) {
            throw new MoveException(e.getMessage(), e);
        }
        refuseDuringMove();
        Node old = shard.primary();
        Node candidate = candidate(shard, to);
        String id = shard.switchover() != null
                ? shard.switchover()
                : UUID.randomUUID().toString().substring(0, 8);
        long started = System.nanoTime();
        List<String> warnings = new ArrayList<>();
        if (inRecovery(candidate)) {
            hold(shardId, id);
            LOG.info("switchover {}: writes of shard {} held; {} -> {}", id, shardId, old.name(), candidate.name());
            boolean readOnly = false;
            try {
                awaitAcknowledgements(id);
                try (Connection c = connector.connect(old, Duration.ofSeconds(30));
                        Statement s = c.createStatement()) {
                    endOlderTransactions(s, old, warnings);
                    s.execute("ALTER SYSTEM SET default_transaction_read_only = on");
                    s.execute("SELECT pg_reload_conf()");
                    readOnly = true;
                    // every commit of the old primary is at or before this position
                    awaitReplay(candidate, single(s, "SELECT pg_current_wal_lsn()::text"));
                }
                promote(candidate);
            } catch (MoveException | SQLException | RuntimeException e) {
                String why = e.getMessage();
                giveBack(shardId, old, readOnly);
                throw new MoveException(
                        "switchover " + id + " of shard " + shardId + " failed before the promotion (" + why
                                + "): shard " + shardId + " keeps " + old.name() + " as its primary",
                        e);
            }
        } else {
            LOG.info("switchover {}: {} is promoted already: publishing it", id, candidate.name());
        }
        List<String> repointed = repoint(shard, old, candidate, warnings);
        ClusterTopology published;
        try {
            published = ZooKeeperTopologyStore.updateTopology(
                    client, cluster, t -> t.withShardReplaced(promoted(t.shard(shardId), old, candidate)));
        } catch (TopologyException e) {
            throw new MoveException(
                    candidate.name() + " is shard " + shardId + "'s primary now but the topology could not be"
                            + " published (" + e.getMessage() + "): run the switchover again to publish it; writes"
                            + " of the shard wait until then",
                    e);
        }
        long heldMs = Duration.ofNanos(System.nanoTime() - started).toMillis();
        LOG.info(
                "switchover {}: {} is the primary of shard {} (topology version {}), writes were held {} ms",
                id,
                candidate.name(),
                shardId,
                published.version(),
                heldMs);
        return new Result(id, shardId, old.name(), candidate.name(), published.version(), heldMs, repointed, warnings);
    }

    private ClusterTopology topology() throws MoveException {
        String path = ZooKeeperTopologyStore.clusterPath(cluster) + "/topology";
        try {
            return TopologyCodec.topologyFromJson(client.getData().forPath(path), path);
        } catch (Exception e) {
            throw new MoveException("reading the topology of cluster " + cluster + ": " + e.getMessage(), e);
        }
    }

    private void refuseDuringMove() throws MoveException {
        for (MoveRecord move : MoveRunner.moves(client, cluster)) {
            if (!move.state().isTerminal()) {
                throw new MoveException(
                        "move " + move.id() + " is " + move.state().name().toLowerCase(Locale.ROOT)
                                + ": switch the primary over once it is over (or aborted)");
            }
        }
    }

    /** The node to promote: {@code to}, or the hub that replayed the most (a promoted one when resuming). */
    private Node candidate(Shard shard, String to) throws MoveException {
        Node primary = shard.primary();
        List<Node> hubs = shard.replicas().stream()
                .filter(n -> primary.name().equals(n.upstream()))
                .toList();
        if (to != null) {
            Node named = shard.node(to)
                    .orElseThrow(() -> new MoveException("shard " + shard.id() + " has no node " + to + " (its nodes: "
                            + shard.nodes().stream().map(Node::name).toList() + ")"));
            if (named.role() == NodeRole.PRIMARY) {
                throw new MoveException(to + " is shard " + shard.id() + "'s primary already");
            }
            if (!hubs.contains(named)) {
                throw new MoveException(to + " streams from " + named.upstream() + ", not from the primary "
                        + primary.name() + ": switch over to one of "
                        + hubs.stream().map(Node::name).toList());
            }
            return named;
        }
        Node best = null;
        long bestLsn = -1;
        List<String> unreachable = new ArrayList<>();
        for (Node hub : hubs) {
            try (Connection c = connector.connect(hub, Duration.ofSeconds(5));
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")) {
                rs.next();
                if (!rs.getBoolean(1)) {
                    return hub; // promoted by an interrupted run of this switchover
                }
                long lsn = rs.getString(2) == null ? 0 : Lsn.parse(rs.getString(2));
                if (lsn > bestLsn) {
                    best = hub;
                    bestLsn = lsn;
                }
            } catch (SQLException e) {
                unreachable.add(hub.name() + " (" + e.getMessage() + ")");
            }
        }
        if (best == null) {
            throw new MoveException("shard " + shard.id() + " has no reachable hub replica to promote"
                    + (unreachable.isEmpty() ? "" : ": " + unreachable));
        }
        return best;
    }

    private boolean inRecovery(Node node) throws MoveException {
        try (Connection c = connector.connect(node, Duration.ofSeconds(5));
                Statement s = c.createStatement()) {
            return Boolean.parseBoolean(single(s, "SELECT pg_is_in_recovery()::text"));
        } catch (SQLException e) {
            throw new MoveException("reaching " + node.name() + ": " + e.getMessage(), e);
        }
    }

    /** Marks the shard in the topology: every router holds its writes from then on. */
    private void hold(int shardId, String id) throws MoveException {
        try {
            ZooKeeperTopologyStore.updateTopology(
                    client, cluster, t -> t.withShardReplaced(t.shard(shardId).withSwitchover(id)));
        } catch (TopologyException e) {
            throw new MoveException("marking shard " + shardId + " for the switchover: " + e.getMessage(), e);
        }
    }

    private void awaitAcknowledgements(String id) throws MoveException {
        long deadline = System.nanoTime() + settings.ackTimeout().toNanos();
        String token = RouterRegistration.switchoverToken(id);
        while (true) {
            List<String> missing = RouterRegistration.notAcknowledged(client, cluster, token);
            if (missing.isEmpty()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new MoveException(missing.size() + " router(s) did not acknowledge the hold within "
                        + settings.ackTimeout().toMillis() + " ms: " + missing);
            }
            pause(5);
        }
    }

    /**
     * Waits for the client transactions open on the old primary when the routers acknowledged (theirs may still
     * write there: they began before the hold); ends those still open after the grace period.
     */
    private void endOlderTransactions(Statement s, Node old, List<String> warnings) throws SQLException, MoveException {
        String since = single(s, "SELECT clock_timestamp()::text");
        String older = " FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
                + " AND xact_start < '" + since + "'::timestamptz";
        long deadline = System.nanoTime() + settings.transactionGrace().toNanos();
        while (Long.parseLong(single(s, "SELECT count(*)" + older)) > 0) {
            if (System.nanoTime() > deadline) {
                long ended = Long.parseLong(single(s, "SELECT count(pg_terminate_backend(pid))" + older));
                String warning = ended + " transaction(s) still open on " + old.name() + " after "
                        + settings.transactionGrace().toMillis() + " ms were ended (rolled back)";
                LOG.warn("switchover: {}", warning);
                warnings.add(warning);
                return;
            }
            pause(2);
        }
    }

    private void awaitReplay(Node candidate, String lsn) throws SQLException, MoveException {
        long deadline = System.nanoTime() + settings.replayTimeout().toNanos();
        try (Connection c = connector.connect(candidate, settings.replayTimeout());
                Statement s = c.createStatement()) {
            while (!Boolean.parseBoolean(single(s, "SELECT (pg_last_wal_replay_lsn() >= '" + lsn + "')::text"))) {
                if (System.nanoTime() > deadline) {
                    throw new MoveException(candidate.name() + " did not replay up to " + lsn + " within "
                            + settings.replayTimeout().toMillis() + " ms");
                }
                pause(1);
            }
        }
    }

    private void promote(Node candidate) throws SQLException, MoveException {
        try (Connection c = connector.connect(candidate, Duration.ofSeconds(70));
                Statement s = c.createStatement()) {
            if (!Boolean.parseBoolean(single(s, "SELECT pg_promote(true, 60)::text"))) {
                throw new MoveException(candidate.name() + " was not promoted within 60 s");
            }
        }
    }

    /** Before the promotion: the old primary takes writes again, and the mark goes (the writes are released). */
    private void giveBack(int shardId, Node old, boolean readOnly) {
        if (readOnly) {
            try (Connection c = connector.connect(old, Duration.ofSeconds(10));
                    Statement s = c.createStatement()) {
                s.execute("ALTER SYSTEM RESET default_transaction_read_only");
                s.execute("SELECT pg_reload_conf()");
            } catch (SQLException e) {
                LOG.error(
                        "switchover: {} could not be made writable again ({}): run ALTER SYSTEM RESET"
                                + " default_transaction_read_only and SELECT pg_reload_conf() there",
                        old.name(),
                        e.getMessage());
            }
        }
        try {
            ZooKeeperTopologyStore.updateTopology(
                    client, cluster, t -> t.withShardReplaced(t.shard(shardId).withSwitchover(null)));
        } catch (TopologyException e) {
            LOG.error(
                    "switchover: the hold of shard {} could not be lifted ({}): its writes wait until the switchover"
                            + " is run again",
                    shardId,
                    e.getMessage());
        }
    }

    /**
     * Points the old primary's other replicas at the new primary (PostgreSQL reloads {@code primary_conninfo}),
     * with their slots created there first; the new primary's own replicas follow its promotion by themselves.
     */
    private List<String> repoint(Shard shard, Node old, Node candidate, List<String> warnings) {
        List<String> repointed = new ArrayList<>();
        for (Node n : shard.replicas()) {
            if (n.equals(candidate) || !old.name().equals(n.upstream())) {
                continue;
            }
            try (Connection c = connector.connect(n, Duration.ofSeconds(10));
                    Statement s = c.createStatement();
                    Connection p = connector.connect(candidate, Duration.ofSeconds(10));
                    Statement ps = p.createStatement()) {
                String slot = single(s, "SHOW primary_slot_name");
                if (slot != null && !slot.isEmpty()) {
                    ps.execute("SELECT pg_create_physical_replication_slot(" + literal(slot) + ", true) WHERE NOT"
                            + " EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = " + literal(slot) + ")");
                }
                String conninfo = withHostAndPort(single(s, "SHOW primary_conninfo"), candidate);
                s.execute("ALTER SYSTEM SET primary_conninfo = " + literal(conninfo));
                s.execute("SELECT pg_reload_conf()");
                repointed.add(n.name());
            } catch (SQLException e) {
                // the conninfo is never in the message: it may hold a password
                String warning = n.name() + " could not be pointed at " + candidate.name() + " (" + e.getMessage()
                        + "): it still streams from " + old.name();
                LOG.warn("switchover: {}", warning);
                warnings.add(warning);
            }
        }
        return repointed;
    }

    /** The shard with {@code candidate} as its primary, the old primary gone and the cascade's roles by depth. */
    static Shard promoted(Shard shard, Node old, Node candidate) {
        Map<String, String> upstream = new HashMap<>();
        for (Node n : shard.nodes()) {
            if (n.equals(old) || n.name().equals(candidate.name())) {
                continue;
            }
            upstream.put(n.name(), old.name().equals(n.upstream()) ? candidate.name() : n.upstream());
        }
        List<Node> nodes = new ArrayList<>();
        nodes.add(new Node(candidate.name(), NodeRole.PRIMARY, candidate.host(), candidate.port(), null));
        for (Node n : shard.nodes()) {
            String up = upstream.get(n.name());
            if (up == null) {
                continue;
            }
            NodeRole role = up.equals(candidate.name()) ? NodeRole.HUB : NodeRole.LEAF;
            nodes.add(new Node(n.name(), role, n.host(), n.port(), up));
        }
        return new Shard(shard.id(), nodes, null);
    }

    /**
     * {@code conninfo} (libpq's {@code key=value} form) with {@code host} and {@code port} of {@code node}; every
     * other setting kept as it was.
     */
    static String withHostAndPort(String conninfo, Node node) {
        Map<String, String> settings = parseConninfo(conninfo);
        settings.remove("hostaddr");
        settings.put("host", node.host());
        settings.put("port", Integer.toString(node.port()));
        StringBuilder out = new StringBuilder();
        for (Map.Entry<String, String> e : settings.entrySet()) {
            if (out.length() > 0) {
                out.append(' ');
            }
            out.append(e.getKey())
                    .append("='")
                    .append(e.getValue().replace("\\", "\\\\").replace("'", "\\'"))
                    .append('\'');
        }
        return out.toString();
    }

    /** libpq's {@code key=value} pairs, values bare or single-quoted with backslash escapes. */
    static Map<String, String> parseConninfo(String conninfo) {
        Map<String, String> settings = new LinkedHashMap<>();
        int i = 0;
        int n = conninfo.length();
        while (i < n) {
            while (i < n && Character.isWhitespace(conninfo.charAt(i))) {
                i++;
            }
            if (i == n) {
                break;
            }
            int eq = conninfo.indexOf('=', i);
            if (eq < 0) {
                throw new IllegalArgumentException("a connection string setting without '=' at position " + i);
            }
            String key = conninfo.substring(i, eq).trim();
            i = eq + 1;
            while (i < n && Character.isWhitespace(conninfo.charAt(i))) {
                i++;
            }
            StringBuilder value = new StringBuilder();
            if (i < n && conninfo.charAt(i) == '\'') {
                i++;
                while (i < n && conninfo.charAt(i) != '\'') {
                    char c = conninfo.charAt(i);
                    if (c == '\\' && i + 1 < n) {
                        c = conninfo.charAt(++i);
                    }
                    value.append(c);
                    i++;
                }
                if (i == n) {
                    throw new IllegalArgumentException("an unterminated quoted value of " + key);
                }
                i++;
            } else {
                while (i < n && !Character.isWhitespace(conninfo.charAt(i))) {
                    char c = conninfo.charAt(i);
                    if (c == '\\' && i + 1 < n) {
                        c = conninfo.charAt(++i);
                    }
                    value.append(c);
                    i++;
                }
            }
            settings.put(key, value.toString());
        }
        return settings;
    }

    private static String literal(String value) {
        return "'" + value.replace("'", "''") + "'";
    }

    private static String single(Statement s, String sql) throws SQLException {
        try (ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static void pause(long ms) throws MoveException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MoveException("interrupted during the switchover", e);
        }
    }
}
