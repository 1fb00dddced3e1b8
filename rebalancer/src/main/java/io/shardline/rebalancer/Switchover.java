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
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A primary switchover of one shard (planned: the old primary lives) or failover (it is dead).
 *
 * <p>The topology marks the shard with the switchover's id and chosen node: every router holds the shard's writes and
 * acknowledges in {@code routers/} (a mark stays until this run, or a run resuming it, removes it; a second switchover
 * of a held shard is refused). In a switchover, the transactions already open on the old primary end (or are ended
 * after a grace period), the old primary is made read-only (and its autovacuum stopped, so that its WAL ends where the
 * new timeline forks), any transaction still open there is ended, no two-phase transaction may stay prepared, and the
 * chosen hub replays everything; in a failover, the primary must fail three connection attempts. The hub is promoted,
 * the topology naming it primary releases the writes, and the old primary's other replicas are pointed at it.
 *
 * <p>Run again after an interruption, it resumes with the node the mark names: before the promotion it starts over
 * (writes wait meanwhile); after it, it publishes. A failure before the promotion gives the shard back to its old
 * primary; a promotion of unknown outcome keeps the writes held. The old primary stays out of the topology (a live
 * one read-only): it is rebuilt as a standby by the operator.
 */
public final class Switchover {
    private static final Logger LOG = LoggerFactory.getLogger(Switchover.class);
    /** How many tries a failover makes to reach the primary before it takes it for dead. */
    private static final int DEAD_PROBES = 3;
    /** The other client backends of this database with a transaction open (a query appends its own conditions). */
    private static final String OPEN_TRANSACTIONS = " FROM pg_stat_activity WHERE backend_type = 'client backend'"
            + " AND datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL";

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
    /** Runs right after the promotion, before the publication (tests: what the old primary does in between). */
    private Runnable afterPromotion = () -> {};

    public Switchover(CuratorFramework client, String cluster, MoveEstimate.Connector connector, Settings settings) {
        this.client = client;
        this.cluster = cluster;
        this.connector = connector;
        this.settings = settings;
    }

    /** Runs {@code hook} right after the promotion, before the new primary is published (for tests). */
    Switchover afterPromotion(Runnable hook) {
        this.afterPromotion = hook;
        return this;
    }

    /**
     * Switches shard {@code shardId}'s primary over to {@code to} (a hub: a replica of the primary), or, when null,
     * to its hub that has received the most WAL.
     *
     * @throws MoveException saying what failed and in which state it left the shard
     */
    public Result run(int shardId, String to) throws MoveException {
        return change(shardId, to, false, false, false, null);
    }

    /**
     * Replaces shard {@code shardId}'s dead primary by {@code to} (a hub), or, when null, by its hub that has
     * received the most WAL: refused while the primary answers (that is a switchover's work: a live primary left
     * writable would split the shard's writes). What the promoted hub had not received is lost: nothing acknowledged
     * when the primary committed synchronously to its hubs ({@code synchronous_standby_names}).
     *
     * @throws MoveException saying what failed and in which state it left the shard
     */
    public Result failover(int shardId, String to) throws MoveException {
        // watched from now on: the grace a start counts runs while the primary is probed
        try (RouterDepartures departures = RouterDepartures.start(client, cluster)) {
            return change(shardId, to, true, true, false, departures);
        }
    }

    /** {@link #failover} of a primary found dead already (by {@link AutoFailover}), to the hub chosen by WAL. */
    Result failoverConfirmed(int shardId, RouterDepartures departures) throws MoveException {
        return change(shardId, null, true, false, false, departures);
    }

    /**
     * Resumes (for {@link AutoFailover}) a failover whose run died or failed after it marked the shard (a ZooKeeper
     * blip while it gave the shard back or published, a promotion that outlasted its wait): publishes the promoted
     * node, or fails over once the old primary is confirmed dead again, or lifts the hold when it answers.
     */
    Result resumeFailover(int shardId, RouterDepartures departures) throws MoveException {
        return change(shardId, null, true, true, true, departures);
    }

    /**
     * @param resume an automatic resumption of an interrupted failover: its hold is lifted when the old primary
     *     answers again
     * @param departures for a failover, the routers leaving (it cannot make the old primary refuse writes, and a
     *     router that left ZooKeeper may still write there); null for a switchover
     */
    private Result change(
            int shardId, String to, boolean failover, boolean probe, boolean resume, RouterDepartures departures)
            throws MoveException {
        // one run per shard at a time, whoever starts it (command, console, automatic failover); the lock goes with
        // its holder's ZooKeeper session, so a run that died can be resumed
        InterProcessMutex lock = new InterProcessMutex(
                client, ZooKeeperTopologyStore.clusterPath(cluster) + "/switchover-locks/" + shardId);
        try {
            if (!lock.acquire(0, TimeUnit.SECONDS)) {
                throw new MoveException("a switchover or failover of shard " + shardId + " is running: wait for it");
            }
        } catch (MoveException e) {
            throw e;
        } catch (Exception e) {
            throw new MoveException("taking the switchover lock of shard " + shardId + ": " + e.getMessage(), e);
        }
        try {
            return changeLocked(shardId, to, failover, probe, resume, departures);
        } finally {
            try {
                lock.release();
            } catch (Exception e) {
                LOG.warn("releasing the switchover lock of shard {}: {}", shardId, e.toString());
            }
        }
    }

    private Result changeLocked(
            int shardId, String to, boolean failover, boolean probe, boolean resume, RouterDepartures departures)
            throws MoveException {
        String what = failover ? "failover" : "switchover";
        ClusterTopology topology = topology();
        Shard shard;
        try {
            shard = topology.shard(shardId);
        } catch (IllegalArgumentException e) {
            throw new MoveException(e.getMessage(), e);
        }
        refuseDuringMove();
        Node old = shard.primary();
        Node candidate;
        String id = shard.switchover();
        if (id != null && !probe) {
            throw new MoveException("switchover " + id + " of shard " + shardId + " was interrupted: an operator"
                    + " resumes it (shard switchover or failover), not the automatic failover");
        }
        if (id != null) {
            // an interrupted run: it goes on with the node it chose, whoever runs it again
            String marked = id.substring(id.indexOf(' ') + 1);
            if (to != null && !to.equals(marked)) {
                throw new MoveException("switchover " + id + " of shard " + shardId + " is under way to " + marked
                        + ": run it again without --to, or with --to " + marked);
            }
            candidate = shard.node(marked)
                    .orElseThrow(() -> new MoveException("the switchover mark of shard " + shardId + " names " + marked
                            + ", which is not one of its nodes: correct the topology by hand"));
        } else {
            candidate = candidate(shard, to);
        }
        long started = System.nanoTime();
        List<String> warnings = new ArrayList<>();
        // the old primary's synchronous_standby_names (from ALTER SYSTEM), carried to the new one
        String synchronousStandbys = null;
        if (inRecovery(candidate)) {
            if (failover && probe) {
                try {
                    confirmDead(old);
                } catch (MoveException alive) {
                    if (id != null && resume) {
                        throw liftInterrupted(shardId, id, shard, old, candidate, alive);
                    }
                    throw alive;
                }
                started = System.nanoTime(); // the writes are held from the mark on
            }
            if (id == null) {
                id = (failover ? Shard.FAILOVER_MARK : "")
                        + UUID.randomUUID().toString().substring(0, 8) + " " + candidate.name();
                hold(shardId, id);
            } else if (failover && !id.startsWith(Shard.FAILOVER_MARK)) {
                // a switchover's hold taken over by a failover: the routers must cut their connections to the old
                // primary too, and acknowledge that
                id = remark(shardId, id, Shard.FAILOVER_MARK + id);
            }
            LOG.info("{} {}: writes of shard {} held; {} -> {}", what, id, shardId, old.name(), candidate.name());
            boolean readOnly = false;
            CommitFence fence = null;
            boolean promoting = false;
            Detached detached = Detached.NONE;
            try {
                awaitAcknowledgements(id, failover);
                if (failover) {
                    awaitDeparted(departures);
                    // the other hubs stop taking WAL from the old primary, which may be stalled rather than dead: once
                    // it resumes, they would acknowledge its commits as synchronous standbys and take WAL the new
                    // timeline does not have
                    detached = detach(shard, old, candidate, true, warnings);
                    // the hubs received what they will from the old primary by now: none may hold more than it
                    mostAdvanced(shard, old, candidate, warnings);
                } else {
                    try (Connection c = connector.connect(old, Duration.ofSeconds(30));
                            Statement s = c.createStatement()) {
                        endOlderTransactions(s, old, warnings);
                        readOnly = true;
                        s.execute("ALTER SYSTEM SET default_transaction_read_only = on");
                        // its WAL should end where the new primary's timeline forks: nothing of its own writes more
                        s.execute("ALTER SYSTEM SET autovacuum = off");
                        s.execute("SELECT pg_reload_conf()");
                        pause(100); // the backends take the reload before their next command
                        endOpenTransactions(s, old, warnings);
                        awaitNoPreparedTransactions(s, old);
                        fence = CommitFence.of(s);
                        synchronousStandbys = fence.before();
                        fence.raise(s);
                        pause(100); // the WAL senders and the checkpointer take the reload
                        for (String weak : fence.weaknesses(s)) {
                            String warning = "the commit fence on " + old.name() + " may not hold: " + weak + "; a"
                                    + " session overriding the read-only default could commit there unseen";
                            LOG.warn("switchover: {}", warning);
                            warnings.add(warning);
                        }
                        // every commit of the old primary is at or before this position
                        awaitReplay(candidate, single(s, "SELECT pg_current_wal_lsn()::text"));
                    }
                    // what the old primary writes from now on (a running autovacuum, a checkpoint) must not reach a hub
                    // past the candidate's fork: the other hubs take their WAL from the candidate, which has at least
                    // what each has when it is promoted
                    detached = detach(shard, old, candidate, false, warnings);
                    awaitReceived(candidate, detached.received());
                }
                promoting = true;
                promote(candidate);
                afterPromotion.run();
            } catch (MoveException | SQLException | RuntimeException e) {
                String why = e.getMessage();
                if (promoting && !standbyStill(candidate)) {
                    throw new MoveException(
                            "the promotion of " + candidate.name() + " failed (" + why + ") and it is not known to"
                                    + " be a standby still: the writes of shard " + shardId + " stay held. Run the "
                                    + what + " again once " + candidate.name() + " answers",
                            e);
                }
                giveBack(shardId, id, old, readOnly, fence, detached, candidate);
                throw new MoveException(
                        what + " " + id + " of shard " + shardId + " failed before the promotion (" + why + "): shard "
                                + shardId + " keeps " + old.name() + " as its primary",
                        e);
            }
        } else if (id == null) {
            throw new MoveException(candidate.name() + " is not in recovery, but no switchover of shard " + shardId
                    + " is under way: promoted by something else? (turn on ./shardline shard follow-external-promotions, or"
                    + " correct the topology by hand)");
        } else {
            LOG.info("{} {}: {} is promoted already: publishing it", what, id, candidate.name());
        }
        ClusterTopology published;
        String mark = id;
        try {
            published = ZooKeeperTopologyStore.updateTopology(client, cluster, t -> {
                Shard now = t.shard(shardId);
                if (!mark.equals(now.switchover())) {
                    throw new TopologyException("shard " + shardId + " is no longer held by switchover " + mark
                            + " (it is " + (now.switchover() == null ? "not held" : "held by " + now.switchover())
                            + ")");
                }
                return t.withShardReplaced(promoted(now, old, candidate));
            });
        } catch (TopologyException e) {
            throw new MoveException(
                    candidate.name() + " is shard " + shardId + "'s primary now but the topology could not be"
                            + " published (" + e.getMessage() + "): run the " + what + " again to publish it;"
                            + " writes of the shard wait until then",
                    e);
        }
        long heldMs = Duration.ofNanos(System.nanoTime() - started).toMillis();
        LOG.info(
                "{} {}: {} is the primary of shard {} (topology version {}), writes were held {} ms",
                what,
                id,
                candidate.name(),
                shardId,
                published.version(),
                heldMs);
        if (!failover) {
            endFencedCommits(old, warnings);
        }
        List<String> repointed = repoint(shard, old, candidate, warnings);
        if (synchronousStandbys != null) {
            carrySynchronousStandbys(candidate, synchronousStandbys, warnings);
        }
        return new Result(id, shardId, old.name(), candidate.name(), published.version(), heldMs, repointed, warnings);
    }

    /**
     * An interrupted failover resumed automatically whose old primary answers again: it keeps the shard. Unless the
     * candidate may have a promotion pending (the interrupted run may have sent {@code pg_promote}, which a hub with
     * a replay backlog acts on late: giving the shard back then would leave two writable primaries), the other hubs
     * are pointed back at the old primary, what an interrupted switchover left on it (the read-only default,
     * autovacuum off, the commit fence) is undone, and the hold is lifted.
     *
     * @return the exception to throw, saying which
     */
    private MoveException liftInterrupted(
            int shardId, String id, Shard shard, Node old, Node candidate, MoveException alive) throws MoveException {
        if (!standbyStill(candidate)) {
            return new MoveException(
                    alive.getMessage() + "; " + candidate.name() + " may be promoted by the"
                            + " interrupted run (a promotion pending, or not a standby): the hold of failover " + id
                            + " stays",
                    alive);
        }
        boolean readOnly;
        CommitFence fence;
        try (Connection c = connector.connect(old, Duration.ofSeconds(10));
                Statement s = c.createStatement()) {
            fence = CommitFence.of(s);
            readOnly = CommitFence.restoredFrom(single(s, "SHOW synchronous_standby_names")) != null
                    || "on".equals(single(s, "SHOW default_transaction_read_only"));
        } catch (SQLException e) {
            return new MoveException(
                    alive.getMessage() + "; its settings could not be read (" + e.getMessage()
                            + "): the hold of failover " + id + " stays",
                    alive);
        }
        List<Node> hubs = otherHubs(shard, old, candidate);
        List<String> slots = new ArrayList<>();
        for (Node hub : hubs) {
            try (Connection c = connector.connect(hub, HUB_CONNECT);
                    Statement s = c.createStatement()) {
                String slot = single(s, "SHOW primary_slot_name");
                if (slot != null && !slot.isEmpty()) {
                    slots.add(slot);
                }
            } catch (SQLException e) {
                LOG.info("failover {}: {} not reached to name its slot ({})", id, hub.name(), e.getMessage());
            }
        }
        giveBack(shardId, id, old, readOnly, fence, new Detached(hubs, slots, 0), candidate);
        return new MoveException(
                alive.getMessage() + "; the hold of interrupted failover " + id + " was lifted: shard " + shardId
                        + " keeps " + old.name(),
                alive);
    }

    /** Refuses a failover while {@code primary} answers any of three tries, a second apart. */
    private void confirmDead(Node primary) throws MoveException {
        for (int probe = 0; probe < DEAD_PROBES; probe++) {
            if (probe > 0) {
                pause(1_000);
            }
            try (Connection c = connector.connect(primary, Duration.ofSeconds(2));
                    Statement s = c.createStatement()) {
                single(s, "SELECT 1");
                throw new MoveException(primary.name() + " answers: it is not dead. Use a switchover, which keeps every"
                        + " write (a failover would leave it writable beside the promoted node)");
            } catch (SQLException e) {
                if (!unreachable(e)) {
                    throw new MoveException(primary.name() + " answers (" + e.getSQLState() + ": " + e.getMessage()
                            + "): it is not dead. Use a switchover once it takes connections");
                }
                LOG.info("failover: {} does not answer ({})", primary.name(), e.getMessage());
            }
        }
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

    /** The node to promote: {@code to}, or the hub that received the most WAL. */
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
                    ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery(), greatest(pg_last_wal_receive_lsn(),"
                            + " pg_last_wal_replay_lsn())::text")) {
                rs.next();
                if (!rs.getBoolean(1)) {
                    throw new MoveException(hub.name() + " is not in recovery, but no switchover of shard " + shard.id()
                            + " is under way: promoted by something else? (turn on ./shardline shard"
                            + " follow-external-promotions, or correct the topology by hand)");
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

    /**
     * Refuses a failover to {@code candidate} when another hub of {@code old} received more of its WAL: the commits only
     * that hub has (acknowledged, with {@code synchronous_standby_names = 'ANY 1 (...)'}) would be lost, and that hub
     * could never follow the new timeline. A hub that cannot be reached is named in {@code warnings}.
     */
    private void mostAdvanced(Shard shard, Node old, Node candidate, List<String> warnings) throws MoveException {
        Long mine = receivedLsn(candidate);
        if (mine == null) {
            throw new MoveException(candidate.name() + " cannot be reached to compare the WAL it received");
        }
        for (Node hub : shard.replicas()) {
            if (hub.equals(candidate) || !old.name().equals(hub.upstream())) {
                continue;
            }
            Long theirs = receivedLsn(hub);
            if (theirs == null) {
                warnings.add(hub.name() + " could not be reached to compare the WAL it received with "
                        + candidate.name() + "'s: it may hold commits " + candidate.name() + " lacks");
            } else if (theirs > mine) {
                throw new MoveException(hub.name() + " received more of " + old.name() + "'s WAL (up to "
                        + Lsn.format(theirs) + ") than " + candidate.name() + " (" + Lsn.format(mine)
                        + "): promoting " + candidate.name() + " would lose the commits only " + hub.name()
                        + " has; fail over to " + hub.name());
            }
        }
    }

    /** The WAL position {@code node} (a standby) received or replayed, the greater; null when it cannot be reached. */
    private Long receivedLsn(Node node) {
        try (Connection c = connector.connect(node, Duration.ofSeconds(5));
                Statement s = c.createStatement();
                ResultSet rs =
                        s.executeQuery("SELECT greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text")) {
            rs.next();
            return rs.getString(1) == null ? 0L : Lsn.parse(rs.getString(1));
        } catch (SQLException e) {
            return null;
        }
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
            ZooKeeperTopologyStore.updateTopology(client, cluster, t -> {
                Shard now = t.shard(shardId);
                if (now.switchover() != null) {
                    throw new TopologyException("switchover " + now.switchover() + " holds shard " + shardId
                            + " already: run it again to finish it");
                }
                return t.withShardReplaced(now.withSwitchover(id));
            });
        } catch (TopologyException e) {
            throw new MoveException("marking shard " + shardId + " for the switchover: " + e.getMessage(), e);
        }
        // a move planned since refuseDuringMove looked (its plan checks the topology, so one planned after this mark
        // is refused): the mark comes off again and the switchover is refused
        try {
            refuseDuringMove();
        } catch (MoveException during) {
            unmark(shardId, id);
            throw during;
        }
    }

    /** Replaces the mark {@code id} on shard {@code shardId} by {@code newId}; returns {@code newId}. */
    private String remark(int shardId, String id, String newId) throws MoveException {
        try {
            ZooKeeperTopologyStore.updateTopology(client, cluster, t -> {
                Shard now = t.shard(shardId);
                if (!id.equals(now.switchover())) {
                    throw new TopologyException("shard " + shardId + " is no longer held by switchover " + id);
                }
                return t.withShardReplaced(now.withSwitchover(newId));
            });
            return newId;
        } catch (TopologyException e) {
            throw new MoveException("marking shard " + shardId + " for the failover: " + e.getMessage(), e);
        }
    }

    /** Takes switchover {@code id}'s mark off shard {@code shardId} (as it was before {@link #hold}). */
    private void unmark(int shardId, String id) {
        try {
            ZooKeeperTopologyStore.updateTopology(client, cluster, t -> {
                Shard now = t.shard(shardId);
                return id.equals(now.switchover()) ? t.withShardReplaced(now.withSwitchover(null)) : t;
            });
        } catch (TopologyException e) {
            LOG.error(
                    "switchover {}: the hold of shard {} could not be lifted ({}): its writes wait until the"
                            + " switchover is run again",
                    id,
                    shardId,
                    e.getMessage());
        }
    }

    /**
     * Waits until every router that left before the acknowledgements were complete is past
     * {@link RouterRegistration#DEPARTURE_GRACE_MS}: cut off from ZooKeeper, it writes by its view until then, to the
     * old primary if it still reaches it. Those that acknowledged hold the shard's writes whatever happens to them.
     */
    private void awaitDeparted(RouterDepartures departures) throws MoveException {
        departures.observe();
        long left = departures.graceLeftMs();
        if (left > 0) {
            LOG.info("a router left ZooKeeper lately and may still write to the old primary: promoting in {} ms", left);
            pause(left);
        }
    }

    /**
     * How long a failover waits for the routers' acknowledgements at least: a router that is slow (a long GC pause,
     * cut off from ZooKeeper) either acknowledges or loses its session (10 s by default) meanwhile, and is then waited
     * out as one that left. Giving the shard back sooner would release the writes onto a primary taken for dead.
     */
    static final Duration FAILOVER_ACK_TIMEOUT = Duration.ofSeconds(15);

    private void awaitAcknowledgements(String id, boolean failover) throws MoveException {
        Duration timeout = failover && FAILOVER_ACK_TIMEOUT.compareTo(settings.ackTimeout()) > 0
                ? FAILOVER_ACK_TIMEOUT
                : settings.ackTimeout();
        long deadline = System.nanoTime() + timeout.toNanos();
        String token = RouterRegistration.switchoverToken(id);
        boolean logged = false;
        while (true) {
            List<String> missing = RouterRegistration.notAcknowledged(client, cluster, token);
            if (missing.isEmpty()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new MoveException(missing.size() + " router(s) did not acknowledge the hold within "
                        + timeout.toMillis() + " ms: " + missing
                        + (failover
                                ? " (a router of an earlier version does not acknowledge a failover: upgrade it)"
                                : ""));
            }
            if (!logged
                    && System.nanoTime()
                            > deadline
                                    - timeout.toNanos()
                                    + settings.ackTimeout().toNanos()) {
                LOG.warn(
                        "failover {}: router(s) {} did not acknowledge the hold within {} ms: waiting for them to do so"
                                + " or to leave ZooKeeper, up to {} ms",
                        id,
                        missing,
                        settings.ackTimeout().toMillis(),
                        timeout.toMillis());
                logged = true;
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
        String older = OPEN_TRANSACTIONS + " AND xact_start < '" + since + "'::timestamptz";
        long deadline = System.nanoTime() + settings.transactionGrace().toNanos();
        while (Long.parseLong(single(s, "SELECT count(*)" + older)) > 0) {
            if (System.nanoTime() > deadline) {
                long ended = Long.parseLong(single(s, "SELECT count(pg_terminate_backend(pid, 5000))" + older));
                String warning = ended + " transaction(s) still open on " + old.name() + " after "
                        + settings.transactionGrace().toMillis() + " ms were ended (rolled back)";
                LOG.warn("switchover: {}", warning);
                warnings.add(warning);
                return;
            }
            pause(2);
        }
    }

    /**
     * Once the old primary is read-only: ends (and waits out) every client transaction still open in the database,
     * one begun by a path the routers' hold does not see, or a writer racing the reload. Its writes roll back: none
     * was acknowledged.
     */
    private void endOpenTransactions(Statement s, Node old, List<String> warnings) throws SQLException {
        long ended = Long.parseLong(single(s, "SELECT count(pg_terminate_backend(pid, 5000))" + OPEN_TRANSACTIONS));
        if (ended > 0) {
            String warning = ended + " transaction(s) begun on " + old.name() + " after the hold were ended";
            LOG.warn("switchover: {}", warning);
            warnings.add(warning);
        }
    }

    /**
     * Ends the sessions whose commit waits on the old primary's {@link CommitFence} (a session that overrode its
     * read-only default after the final position was read): their writes are not on the new primary, and their
     * clients, told the connection broke (outcome unknown), may run them again there. Only warned when it fails.
     */
    private void endFencedCommits(Node old, List<String> warnings) {
        try (Connection c = connector.connect(old, Duration.ofSeconds(5));
                Statement s = c.createStatement()) {
            long ended = Long.parseLong(single(
                    s,
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
                            + " AND backend_type = 'client backend'"));
            if (ended > 0) {
                String warning = ended + " commit(s) waiting on " + old.name() + "'s commit fence (sessions"
                        + " overriding its read-only default) were not acknowledged: their sessions were ended, the"
                        + " outcome is unknown to their clients (a commit made before the final position was read is"
                        + " on the new primary, one made after is not)";
                LOG.warn("switchover: {}", warning);
                warnings.add(warning);
            }
        } catch (SQLException e) {
            LOG.info("switchover: {} not reached to end commits held by its fence ({})", old.name(), e.getMessage());
        }
    }

    /**
     * Waits (for the grace period) until no transaction is prepared on the old primary: a router's second phase
     * there after the new primary took over would be lost.
     */
    private void awaitNoPreparedTransactions(Statement s, Node old) throws SQLException, MoveException {
        long deadline = System.nanoTime() + settings.transactionGrace().toNanos();
        String count = "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()";
        while (Long.parseLong(single(s, count)) > 0) {
            if (System.nanoTime() > deadline) {
                throw new MoveException(single(s, count) + " two-phase transaction(s) are still prepared on "
                        + old.name() + " after " + settings.transactionGrace().toMillis() + " ms: resolve them"
                        + " (./shardline txn recover) and run the switchover again");
            }
            pause(10);
        }
    }

    /**
     * Whether {@code e} says the node could not be reached (SQLState class 08: refused, timed out, broken): not too
     * many clients, a wrong password, a server starting up or a TLS setting the server's certificate fails (08 too
     * in pgjdbc), which say a server is there.
     */
    static boolean unreachable(SQLException e) {
        if (e.getSQLState() == null || !e.getSQLState().startsWith("08")) {
            return false;
        }
        String m = String.valueOf(e.getMessage());
        return !(m.contains("does not support SSL")
                || m.contains("could not be verified")
                || m.contains("certificate")
                || m.contains("PKIX"));
    }

    /** Whether {@code node} is in recovery; null when it does not answer. */
    /**
     * Whether {@code candidate}, sent {@code pg_promote} that failed or whose answer was lost, stays a standby: it may
     * act on the request a moment later (giving the shard back then would leave two writable nodes), so it must answer
     * "in recovery" for {@link #PROMOTION_SETTLE} and have no promotion request pending.
     */
    private boolean standbyStill(Node candidate) throws MoveException {
        long deadline = System.nanoTime() + PROMOTION_SETTLE.toNanos();
        do {
            if (!Boolean.TRUE.equals(standby(candidate)) || promotionPending(candidate)) {
                return false;
            }
            pause(200);
        } while (System.nanoTime() < deadline);
        return !promotionPending(candidate);
    }

    private static final Duration PROMOTION_SETTLE = Duration.ofSeconds(3);

    /** Whether {@code node}'s data directory holds a promotion request not acted on yet; true when it cannot tell. */
    private boolean promotionPending(Node node) {
        try (Connection c = connector.connect(node, Duration.ofSeconds(5));
                Statement s = c.createStatement()) {
            return Boolean.parseBoolean(single(s, "SELECT (pg_stat_file('promote', true) IS NOT NULL)::text"));
        } catch (SQLException e) {
            return true;
        }
    }

    private Boolean standby(Node node) {
        try (Connection c = connector.connect(node, Duration.ofSeconds(5));
                Statement s = c.createStatement()) {
            return Boolean.parseBoolean(single(s, "SELECT pg_is_in_recovery()::text"));
        } catch (SQLException e) {
            return null;
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

    /**
     * Before the promotion: the hubs {@code detached} are pointed back at the old primary, the old primary takes writes
     * again, and the mark goes (the writes are released); the mark stays when the old primary could not be made
     * writable (the writes would fail there).
     */
    private void giveBack(
            int shardId, String id, Node old, boolean readOnly, CommitFence fence, Detached detached, Node candidate) {
        pointBack(detached.hubs(), old);
        if (readOnly) {
            try (Connection c = connector.connect(old, Duration.ofSeconds(10));
                    Statement s = c.createStatement()) {
                s.execute("ALTER SYSTEM RESET default_transaction_read_only");
                s.execute("ALTER SYSTEM RESET autovacuum");
                if (fence != null) {
                    fence.lower(s); // commits waiting on it complete: the primary stays
                }
                s.execute("SELECT pg_reload_conf()");
            } catch (SQLException e) {
                LOG.error(
                        "switchover {}: {} could not be made writable again ({}): the writes of shard {} stay held."
                                + " Run the switchover again, or a failover if {} is dead",
                        id,
                        old.name(),
                        e.getMessage(),
                        shardId,
                        old.name());
                return;
            }
        }
        unmark(shardId, id);
        dropSlots(detached.slots(), candidate); // after the writes are released: it may wait for the hubs
    }

    /**
     * Points the old primary's other replicas at the new primary (PostgreSQL reloads {@code primary_conninfo}),
     * with their slots created there first; the new primary's own replicas follow its promotion by themselves.
     */
    private List<String> repoint(Shard shard, Node old, Node candidate, List<String> warnings) {
        List<String> repointed = new ArrayList<>();
        for (Node n : otherHubs(shard, old, candidate)) {
            try {
                pointAt(n, candidate);
                repointed.add(n.name());
            } catch (SQLException | RuntimeException e) {
                // the conninfo is never in the message: it may hold a password (Conninfo's errors name none)
                String warning = n.name() + " could not be pointed at " + candidate.name() + " (" + e.getMessage()
                        + "): it still streams from " + old.name();
                LOG.warn("switchover: {}", warning);
                warnings.add(warning);
            }
        }
        return streaming(repointed, shard, old, candidate, warnings);
    }

    /** How long a synchronous standby named by the carried setting may take to stream from the new primary. */
    private static final Duration SYNCHRONOUS_WAIT = Duration.ofSeconds(5);

    /**
     * Sets the old primary's {@code synchronous_standby_names} (its {@code ALTER SYSTEM} value: the promoted hub did not
     * inherit {@code postgresql.auto.conf}) on the new primary, unless that has one of its own, and keeps it only once
     * a standby it names streams from the new primary synchronously (within {@link #SYNCHRONOUS_WAIT}): a setting
     * naming no standby of the new primary (the new primary itself, the old one) would hold every commit. A setting
     * not carried is named in {@code warnings}: the new primary commits asynchronously.
     */
    private void carrySynchronousStandbys(Node candidate, String names, List<String> warnings) {
        try (Connection c = connector.connect(candidate, Duration.ofSeconds(10));
                Statement s = c.createStatement()) {
            if (!single(s, "SHOW synchronous_standby_names").isBlank()) {
                return;
            }
            s.execute("ALTER SYSTEM SET synchronous_standby_names = " + literal(names));
            s.execute("SELECT pg_reload_conf()");
            int wanted = synchronousCount(names);
            String count = "SELECT count(*)::text FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')";
            long deadline = System.nanoTime() + SYNCHRONOUS_WAIT.toNanos();
            while (System.nanoTime() < deadline) {
                if (Integer.parseInt(single(s, count)) >= wanted) {
                    LOG.info("synchronous_standby_names = {} carried to {}", names, candidate.name());
                    return;
                }
                pause(50);
            }
            unsetSynchronousStandbys(s);
            String warning = "synchronous_standby_names = " + literal(names) + " of the old primary was not carried to "
                    + candidate.name() + ": fewer than the " + wanted + " standby(s) it waits for stream from it"
                    + " synchronously within " + SYNCHRONOUS_WAIT.toSeconds() + " s, so it commits asynchronously;"
                    + " set it there once they do";
            LOG.warn("switchover: {}", warning);
            warnings.add(warning);
        } catch (SQLException | MoveException | RuntimeException e) {
            // never left set half-way: a setting no standby meets holds every commit
            String left = "";
            try (Connection c = connector.connect(candidate, Duration.ofSeconds(10));
                    Statement s = c.createStatement()) {
                unsetSynchronousStandbys(s);
            } catch (SQLException again) {
                left = " (and it could not be reset there: check that it is not left set)";
            }
            String warning = "synchronous_standby_names = " + literal(names) + " of the old primary could not be"
                    + " carried to " + candidate.name() + " (" + e.getMessage() + "): it commits asynchronously"
                    + left;
            LOG.warn("switchover: {}", warning);
            warnings.add(warning);
        }
    }

    private static void unsetSynchronousStandbys(Statement s) throws SQLException {
        s.execute("ALTER SYSTEM RESET synchronous_standby_names");
        s.execute("SELECT pg_reload_conf()");
    }

    private static final java.util.regex.Pattern SYNCHRONOUS_COUNT =
            java.util.regex.Pattern.compile("(?i)^\\s*(?:(?:first|any)\\s+)?(\\d+)\\s*\\(");

    /**
     * How many synchronous standbys {@code names} (a {@code synchronous_standby_names} value) waits for: {@code FIRST
     * n (...)}, {@code ANY n (...)} and {@code n (...)} say n; a plain list waits for one.
     */
    static int synchronousCount(String names) {
        java.util.regex.Matcher m = SYNCHRONOUS_COUNT.matcher(names);
        return m.find() ? Math.max(1, Integer.parseInt(m.group(1))) : 1;
    }

    /** The hubs of {@code old} but {@code candidate}. */
    private static List<Node> otherHubs(Shard shard, Node old, Node candidate) {
        return shard.replicas().stream()
                .filter(n -> !n.equals(candidate) && old.name().equals(n.upstream()))
                .toList();
    }

    /** Points {@code hubs}, which {@link #detach} pointed at the candidate, back at the old primary. */
    private void pointBack(List<Node> hubs, Node old) {
        for (Node hub : hubs) {
            try (Connection c = connector.connect(hub, HUB_CONNECT);
                    Statement s = c.createStatement()) {
                setConninfo(s, Conninfo.withHostAndPort(single(s, "SHOW primary_conninfo"), old));
            } catch (SQLException | RuntimeException e) {
                LOG.warn(
                        "{} could not be pointed back at {} ({}): it streams from the hub it was pointed at, not from"
                                + " the primary (set its primary_conninfo by hand)",
                        hub.name(),
                        old.name(),
                        e.getMessage());
            }
        }
    }

    /**
     * Drops the slots {@link #detach} made on {@code candidate} for the hubs pointed at it (a standby keeps the WAL a
     * slot reserves: its disk would fill), each once the hub's WAL receiver went back to the old primary (for up to
     * {@link #DETACH_WAIT}); one still in use is named in the log.
     */
    private void dropSlots(List<String> slots, Node candidate) {
        if (slots.isEmpty()) {
            return;
        }
        try (Connection c = connector.connect(candidate, HUB_CONNECT);
                Statement s = c.createStatement()) {
            for (String slot : slots) {
                long deadline = System.nanoTime() + DETACH_WAIT.toNanos();
                while (true) {
                    String state = single(
                            s,
                            "SELECT coalesce(max(CASE WHEN active THEN 'active' ELSE 'idle' END), 'gone') FROM"
                                    + " pg_replication_slots WHERE slot_name = " + literal(slot));
                    if (state.equals("gone")) {
                        break;
                    }
                    if (state.equals("idle")) {
                        s.execute("SELECT pg_drop_replication_slot(" + literal(slot) + ")");
                        break;
                    }
                    if (System.nanoTime() > deadline) {
                        LOG.warn(
                                "slot {} made on {} for a hub pointed at it is still in use: drop it by hand once"
                                        + " idle (pg_drop_replication_slot), it keeps the WAL it reserves",
                                slot,
                                candidate.name());
                        break;
                    }
                    pause(50);
                }
            }
        } catch (SQLException | MoveException e) {
            LOG.warn(
                    "the slots {} made on {} for the hubs pointed at it could not be dropped ({}): drop them by hand"
                            + " (pg_drop_replication_slot), it keeps the WAL they reserve",
                    slots,
                    candidate.name(),
                    e.getMessage());
        }
    }

    /** Points {@code node}'s WAL receiver at {@code upstream}: {@link #pointAt(Statement, Statement, Node)}. */
    private void pointAt(Node node, Node upstream) throws SQLException {
        try (Connection c = connector.connect(node, Duration.ofSeconds(10));
                Statement s = c.createStatement();
                Connection p = connector.connect(upstream, Duration.ofSeconds(10));
                Statement ps = p.createStatement()) {
            pointAt(s, ps, upstream);
        }
    }

    /**
     * Points the WAL receiver of the node {@code s} is connected to at {@code upstream} ({@code ps} is connected to
     * it): PostgreSQL reloads {@code primary_conninfo} and restarts its WAL receiver when it changed. Its slot is
     * created there first (a standby can hold one too).
     *
     * @return the name of the slot created there, null when none was (it had one, or the node uses none)
     */
    private static String pointAt(Statement s, Statement ps, Node upstream) throws SQLException {
        String slot = single(s, "SHOW primary_slot_name");
        String created = null;
        if (slot != null && !slot.isEmpty()) {
            String made = single(
                    ps,
                    "SELECT count(*)::text FROM (SELECT pg_create_physical_replication_slot(" + literal(slot) + ","
                            + " true) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = "
                            + literal(slot) + ")) made");
            created = "1".equals(made) ? slot : null;
        }
        String before = single(s, "SHOW primary_conninfo");
        String after = Conninfo.withHostAndPort(before, upstream);
        if (!after.equals(before)) {
            setConninfo(s, after);
        }
        return created;
    }

    private static void setConninfo(Statement s, String conninfo) throws SQLException {
        s.execute("ALTER SYSTEM SET primary_conninfo = " + literal(conninfo));
        s.execute("SELECT pg_reload_conf()");
    }

    /** How long the hubs pointed away from the old primary before the promotion may keep receiving from it. */
    private static final Duration DETACH_WAIT = Duration.ofSeconds(5);

    /** The connect timeout to a hub during the hold: one that does not answer within it is not waited for. */
    private static final Duration HUB_CONNECT = Duration.ofSeconds(2);

    /**
     * The hubs {@link #detach} pointed at the candidate, the slots it created there for them, and the most WAL one of
     * them received.
     */
    private record Detached(List<Node> hubs, List<String> slots, long received) {
        static final Detached NONE = new Detached(List.of(), List.of(), 0);
    }

    /**
     * Before the promotion: points the old primary's other hubs at {@code candidate} (a standby still: they cascade
     * from it, and follow its promotion as its own replicas do) and waits until each streams from it. PostgreSQL
     * restarts a WAL receiver with a new {@code primary_conninfo} only once its startup process wants more WAL: a hub
     * with a replay backlog, a recovery conflict, a replay delay or paused replay keeps receiving from the old primary
     * meanwhile. One that does not stream from the candidate within {@link #DETACH_WAIT}, or cannot be reached, is
     * named in {@code warnings} (it may take WAL past the new timeline's fork, and, in a failover, acknowledge the
     * commits of clients other than the routers, which cut theirs, as a synchronous standby of a resumed old primary);
     * the promotion goes on: a hub that lags must not keep a dead primary from being replaced.
     */
    private Detached detach(Shard shard, Node old, Node candidate, boolean failover, List<String> warnings)
            throws MoveException {
        String what = failover ? "failover" : "switchover";
        long started = System.nanoTime();
        List<Node> pointed = new ArrayList<>();
        List<String> slots = new ArrayList<>();
        Map<Node, Connection> connections = new HashMap<>();
        long received = 0;
        try {
            List<Node> hubs = otherHubs(shard, old, candidate);
            if (hubs.isEmpty()) {
                return Detached.NONE;
            }
            try (Connection p = connector.connect(candidate, HUB_CONNECT);
                    Statement ps = p.createStatement()) {
                for (Node hub : hubs) {
                    try {
                        Connection c = connector.connect(hub, HUB_CONNECT);
                        connections.put(hub, c);
                        try (Statement s = c.createStatement()) {
                            String slot = pointAt(s, ps, candidate);
                            if (slot != null) {
                                slots.add(slot);
                            }
                        }
                        pointed.add(hub);
                    } catch (SQLException | RuntimeException e) {
                        String warning = hub.name() + " could not be pointed at " + candidate.name() + " before the"
                                + " promotion (" + e.getMessage() + "): it may take WAL from " + old.name()
                                + " past the new timeline's fork";
                        LOG.warn("{}: {}", what, warning);
                        warnings.add(warning);
                    }
                }
            } catch (SQLException e) {
                throw new MoveException(candidate.name() + " cannot be reached to point the other hubs at it", e);
            }
            long deadline = System.nanoTime() + DETACH_WAIT.toNanos();
            List<Node> waiting = new ArrayList<>(pointed);
            while (true) {
                waiting.removeIf(hub -> streamsFrom(connections.get(hub), candidate));
                if (waiting.isEmpty()) {
                    break;
                }
                if (System.nanoTime() > deadline) {
                    String warning = waiting.stream().map(Node::name).toList() + " did not stream from "
                            + candidate.name() + " within " + DETACH_WAIT.toSeconds() + " s of being pointed at it"
                            + " (PostgreSQL switches a WAL receiver over only once the hub replayed what it"
                            + " received: a replay backlog, a recovery conflict, a replay delay or paused replay):"
                            + " it may still receive WAL from " + old.name() + ", past the new timeline's fork"
                            + " (rebuild it then)";
                    LOG.warn("{}: {}", what, warning);
                    warnings.add(warning);
                    break;
                }
                pause(20);
            }
            for (Node hub : pointed) {
                try (Statement s = connections.get(hub).createStatement()) {
                    String lsn =
                            single(s, "SELECT greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text");
                    received = Math.max(received, lsn == null ? 0 : Lsn.parse(lsn));
                } catch (SQLException | RuntimeException e) {
                    String warning = "the WAL " + hub.name() + " received could not be read (" + e.getMessage()
                            + "): the promotion does not wait for " + candidate.name() + " to have as much";
                    LOG.warn("{}: {}", what, warning);
                    warnings.add(warning);
                }
            }
        } finally {
            for (Connection c : connections.values()) {
                try {
                    c.close();
                } catch (SQLException ignored) {
                    // closing
                }
            }
        }
        LOG.info(
                "{} pointed at {} before the promotion, in {} ms",
                pointed.stream().map(Node::name).toList(),
                candidate.name(),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
        return new Detached(pointed, slots, received);
    }

    /**
     * Whether the WAL receiver of the node {@code c} is connected to streams from {@code upstream}: its sender is the
     * host and port {@link #pointAt} wrote into its {@code primary_conninfo}; false when it cannot be asked.
     */
    private static boolean streamsFrom(Connection c, Node upstream) {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT sender_host, sender_port FROM pg_stat_wal_receiver")) {
            return rs.next()
                    && rs.getInt(2) == upstream.port()
                    && upstream.host().equals(rs.getString(1));
        } catch (SQLException e) {
            return false;
        }
    }

    /**
     * Waits (for the replay timeout) until {@code candidate}, still streaming from the old primary, received at least
     * {@code wanted}, what another hub did before it was pointed at it: promoted earlier, its timeline would fork
     * before WAL that hub holds, and it could not follow it.
     */
    private void awaitReceived(Node candidate, long wanted) throws SQLException, MoveException {
        long deadline = System.nanoTime() + settings.replayTimeout().toNanos();
        try (Connection c = connector.connect(candidate, settings.replayTimeout());
                Statement s = c.createStatement()) {
            String sql = "SELECT (greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) >= '"
                    + Lsn.format(wanted) + "')::text";
            while (!Boolean.parseBoolean(single(s, sql))) {
                if (System.nanoTime() > deadline) {
                    throw new MoveException(candidate.name() + " did not receive up to " + Lsn.format(wanted)
                            + " (what another hub has) within "
                            + settings.replayTimeout().toMillis() + " ms");
                }
                pause(1);
            }
        }
    }

    /** How long a replica pointed at the new primary may take to stream from it before a warning says it does not. */
    private static final Duration STREAMING_WAIT = Duration.ofSeconds(30);

    /**
     * Those of {@code repointed} whose WAL receiver streams from {@code candidate} within {@link #STREAMING_WAIT};
     * each other one is named in {@code warnings} (one that received WAL past the new timeline's fork cannot follow
     * it: it needs rebuilding).
     */
    private List<String> streaming(
            List<String> repointed, Shard shard, Node old, Node candidate, List<String> warnings) {
        List<String> waiting = new ArrayList<>(repointed);
        long deadline = System.nanoTime() + STREAMING_WAIT.toNanos();
        while (true) {
            waiting.removeIf(name -> streamsFrom(shard.node(name).orElseThrow(), candidate, old));
            if (waiting.isEmpty() || System.nanoTime() > deadline) {
                break;
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        for (String name : waiting) {
            String warning = name + " was pointed at " + candidate.name() + " but did not stream from it within "
                    + STREAMING_WAIT.toSeconds() + " s (its pg_stat_wal_receiver): check its log; one that received"
                    + " WAL past the new timeline's fork cannot follow it and needs rebuilding (pg_basebackup or"
                    + " pg_rewind)";
            LOG.warn("switchover: {}", warning);
            warnings.add(warning);
        }
        List<String> verified = new ArrayList<>(repointed);
        verified.removeAll(waiting);
        return verified;
    }

    /**
     * Whether {@code node}'s WAL receiver streams from {@code upstream} now: its sender's port is the upstream's, and
     * its host too unless that port is not the old primary's (a host may be named otherwise than in the topology).
     */
    private boolean streamsFrom(Node node, Node upstream, Node old) {
        try (Connection c = connector.connect(node, Duration.ofSeconds(5));
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT status, sender_host, sender_port FROM pg_stat_wal_receiver")) {
            if (!rs.next() || !"streaming".equals(rs.getString(1)) || rs.getInt(3) != upstream.port()) {
                return false;
            }
            return upstream.host().equals(rs.getString(2)) || upstream.port() != old.port();
        } catch (SQLException e) {
            return false;
        }
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
