package io.shardline.rebalancer;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.Lsn;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.Node;
import io.shardline.topology.RouterRegistration;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.TopologySnapshot;
import io.shardline.topology.ZooKeeperMoveWatcher;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drives one move in ZooKeeper {@code moves/{id}} through {@code PLANNED → SCHEMA → COPYING → CATCHING_UP →
 * FENCED → SWITCHED → CLEANING → DONE}, or to {@code ABORTED} when {@code moves/{id}-abort} exists before the
 * switch. Every step is idempotent and starts from the state in ZooKeeper, so a new leader resumes where the
 * last one stopped. Every write is version-checked and carries this runner's epoch: a runner that finds a
 * newer epoch in the record, or that no longer leads, stops without writing.
 */
public final class MoveRunner {
    private static final Logger LOG = LoggerFactory.getLogger(MoveRunner.class);

    /** Bounds of the cutover. */
    public record Settings(Duration ackTimeout, Duration barrierTimeout, long catchUpBytes, int deleteBatch) {
        public static final Settings DEFAULT =
                new Settings(Duration.ofSeconds(10), Duration.ofSeconds(5), 1 << 20, 5000);
    }

    /** Tells the target how to reach a source primary (credentials included, stored in pg_subscription). */
    @FunctionalInterface
    public interface ConnInfo {
        String of(Node source);
    }

    private final CuratorFramework client;
    private final String cluster;
    private final long epoch;
    private final MoveEstimate.Connector connector;
    private final LogicalCopy.SchemaCopier schema;
    private final ConnInfo connInfo;
    private final Settings settings;
    private final BooleanSupplier stillLeader;
    private final String base;

    public MoveRunner(
            CuratorFramework client,
            String cluster,
            long epoch,
            MoveEstimate.Connector connector,
            LogicalCopy.SchemaCopier schema,
            ConnInfo connInfo,
            Settings settings,
            BooleanSupplier stillLeader) {
        this.stillLeader = stillLeader;
        this.client = client;
        this.cluster = cluster;
        this.epoch = epoch;
        this.connector = connector;
        this.schema = schema;
        this.connInfo = connInfo;
        this.settings = settings;
        this.base = ZooKeeperTopologyStore.clusterPath(cluster);
    }

    /**
     * Writes a new move in {@code PLANNED} that fills the empty shards of the current ring.
     *
     * @return the move's id
     * @throws MoveException when another move is not over, or there is no empty shard
     */
    public static String plan(CuratorFramework client, String cluster, long epoch) throws MoveException {
        String base = ZooKeeperTopologyStore.clusterPath(cluster);
        try {
            for (MoveRecord m : moves(client, cluster)) {
                if (!m.state().isTerminal()) {
                    throw new MoveException("move " + m.id() + " is "
                            + m.state().name().toLowerCase() + ": one move at a time (wait for it, or abort it)");
                }
            }
            TopologySnapshot snapshot = snapshot(client, cluster);
            List<Integer> empty = snapshot.topology().shardIds().stream()
                    .filter(id -> !snapshot.ring().shards().contains(id))
                    .toList();
            MovePlan plan = MovePlan.fillEmptyShards(snapshot.ring(), empty);
            String id = "m" + Long.toString(System.currentTimeMillis(), 36);
            List<MoveRecord.Transfer> transfers = new ArrayList<>();
            for (MovePlan.Transfer t : plan.transfers()) {
                transfers.add(new MoveRecord.Transfer(
                        t.source(),
                        t.target(),
                        t.ranges().stream()
                                .map(r -> new long[] {r.start(), r.endInclusive()})
                                .toList()));
            }
            long now = System.currentTimeMillis();
            MoveRecord move = new MoveRecord(
                    id,
                    epoch,
                    MoveState.PLANNED,
                    plan.from().version(),
                    plan.to().version(),
                    transfers,
                    Map.of(),
                    0,
                    0,
                    -1,
                    null,
                    now,
                    now);
            client.create().creatingParentsIfNeeded().forPath(base + "/moves/" + id, ZooKeeperMoveWatcher.toJson(move));
            return id;
        } catch (MoveException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new MoveException(e.getMessage(), e);
        } catch (Exception e) {
            throw new MoveException("planning a move in ZooKeeper: " + e.getMessage(), e);
        }
    }

    /** Every move of the cluster, oldest first. */
    public static List<MoveRecord> moves(CuratorFramework client, String cluster) throws MoveException {
        String path = ZooKeeperTopologyStore.clusterPath(cluster) + "/moves";
        List<MoveRecord> moves = new ArrayList<>();
        try {
            if (client.checkExists().forPath(path) != null) {
                for (String child : client.getChildren().forPath(path)) {
                    byte[] data = client.getData().forPath(path + "/" + child);
                    if (data != null && data.length > 0) {
                        moves.add(ZooKeeperMoveWatcher.fromJson(data, child));
                    }
                }
            }
        } catch (Exception e) {
            throw new MoveException("reading the moves of cluster " + cluster + ": " + e.getMessage(), e);
        }
        moves.sort(Comparator.comparingLong(MoveRecord::startedAtMillis));
        return moves;
    }

    /** Asks the runner of move {@code id} to abort it (honoured before the switch). */
    public static void requestAbort(CuratorFramework client, String cluster, String id) throws MoveException {
        try {
            String path = ZooKeeperTopologyStore.clusterPath(cluster) + "/moves/" + id + "-abort";
            if (client.checkExists().forPath(path) == null) {
                client.create().forPath(path);
            }
        } catch (Exception e) {
            throw new MoveException("requesting the abort of move " + id + ": " + e.getMessage(), e);
        }
    }

    /**
     * Runs move {@code id} until it is over (or a newer leader owns it).
     *
     * @return the state it ended in
     * @throws MoveException when a step fails; the move stays in its state for a retry or an abort
     */
    public MoveState run(String id) throws MoveException {
        while (true) {
            Versioned current = read(id);
            MoveRecord move = current.move;
            if (!stillLeader.getAsBoolean()) {
                LOG.info("no longer the leader: leaving move {} in {}", id, move.state());
                return move.state();
            }
            if (move.epoch() > epoch) {
                LOG.info("move {} belongs to epoch {} now (ours {}): stopping", id, move.epoch(), epoch);
                return move.state();
            }
            if (move.state().isTerminal()) {
                return move.state();
            }
            TopologySnapshot snapshot = snapshot(client, cluster);
            List<LogicalCopy> copies = copies(move, snapshot.topology());
            if (abortRequested(id) && move.state().ordinal() < MoveState.SWITCHED.ordinal()) {
                abort(current, copies, snapshot.topology(), "aborted on request");
                continue;
            }
            MoveState next = step(move, copies, snapshot);
            if (next != null && !write(current, move.withState(next, epoch, System.currentTimeMillis()))) {
                LOG.info("move {} was changed by someone else; reading it again", id);
            }
        }
    }

    /** One step; returns the next state, or null when the step wrote the record itself. */
    private MoveState step(MoveRecord move, List<LogicalCopy> copies, TopologySnapshot snapshot) throws MoveException {
        switch (move.state()) {
            case PLANNED:
                for (LogicalCopy copy : copies) {
                    copy.checkPreconditions();
                }
                return MoveState.SCHEMA;
            case SCHEMA:
                for (LogicalCopy copy : copies) {
                    copy.createSchema();
                }
                return MoveState.COPYING;
            case COPYING:
                for (LogicalCopy copy : copies) {
                    copy.startCopy(connInfo.of(snapshot.topology()
                            .shard(transferOf(copy, move).source())
                            .primary()));
                }
                waitUntil(move, copies, c -> c.progress().copied(), "the initial copy");
                return MoveState.CATCHING_UP;
            case CATCHING_UP:
                waitUntil(move, copies, c -> c.progress().lagBytes() <= settings.catchUpBytes(), "the catch-up");
                return MoveState.FENCED;
            case FENCED:
                cutover(move, copies, snapshot);
                return null;
            case SWITCHED:
                return MoveState.CLEANING;
            case CLEANING:
                for (LogicalCopy copy : copies) {
                    copy.dropReplication();
                    MoveRecord.Transfer t = transferOf(copy, move);
                    copy.deleteMovingRows(snapshot.topology().shard(t.source()).primary(), settings.deleteBatch());
                }
                return MoveState.DONE;
            default:
                throw new IllegalStateException("not a running state: " + move.state());
        }
    }

    /**
     * FENCED: every live router holds writes to the moving ranges; transactions that started before are
     * waited out on each source; the targets apply the sources' WAL up to now; then the new ring and SWITCHED
     * are written together.
     */
    private void cutover(MoveRecord move, List<LogicalCopy> copies, TopologySnapshot snapshot) throws MoveException {
        awaitAcks(move);
        for (LogicalCopy copy : copies) {
            Node source =
                    snapshot.topology().shard(transferOf(copy, move).source()).primary();
            awaitOlderTransactions(source);
            long lsn = copy.sourceLsn();
            long deadline = System.nanoTime() + settings.barrierTimeout().toNanos();
            while (!copy.appliedUpTo(lsn)) {
                if (System.nanoTime() > deadline) {
                    throw new MoveException("the target of " + copy.name() + " did not apply up to " + Lsn.format(lsn)
                            + " within " + settings.barrierTimeout().toMillis() + " ms");
                }
                pause(2);
            }
        }
        Map<Integer, String> cutoverLsn = new HashMap<>();
        for (MoveRecord.Transfer t : move.transfers()) {
            Node target = snapshot.topology().shard(t.target()).primary();
            cutoverLsn.put(t.target(), query(target, "SELECT pg_current_wal_lsn()::text"));
        }
        HashRing ring = snapshot.ring();
        if (ring.version() != move.fromRingVersion()) {
            throw new MoveException("the ring is at version " + ring.version() + ", the move expected "
                    + move.fromRingVersion() + ": someone else changed it");
        }
        HashRing next = MovePlan.fillEmptyShards(ring, targets(move)).to();
        MoveRecord switched = new MoveRecord(
                move.id(),
                epoch,
                MoveState.SWITCHED,
                move.fromRingVersion(),
                next.version(),
                move.transfers(),
                cutoverLsn,
                move.rowsCopied(),
                move.rowsTotal(),
                0,
                null,
                move.startedAtMillis(),
                System.currentTimeMillis());
        try {
            Stat ringStat = new Stat();
            client.getData().storingStatIn(ringStat).forPath(base + "/ring");
            Versioned current = read(move.id());
            client.transaction()
                    .forOperations(
                            client.transactionOp()
                                    .setData()
                                    .withVersion(ringStat.getVersion())
                                    .forPath(base + "/ring", TopologyCodec.ringToJson(next)),
                            client.transactionOp()
                                    .setData()
                                    .withVersion(current.version)
                                    .forPath(base + "/moves/" + move.id(), ZooKeeperMoveWatcher.toJson(switched)));
            LOG.info("move {}: ring version {} published", move.id(), next.version());
        } catch (KeeperException.BadVersionException e) {
            throw new MoveException("move " + move.id() + " or the ring changed during the cutover: not switched", e);
        } catch (Exception e) {
            throw new MoveException("publishing the new ring of move " + move.id() + ": " + e.getMessage(), e);
        }
    }

    private static List<Integer> targets(MoveRecord move) {
        return move.transfers().stream()
                .map(MoveRecord.Transfer::target)
                .distinct()
                .sorted()
                .toList();
    }

    private void awaitAcks(MoveRecord move) throws MoveException {
        long deadline = System.nanoTime() + settings.ackTimeout().toNanos();
        String routers = base + "/routers";
        while (true) {
            List<String> missing = new ArrayList<>();
            try {
                if (client.checkExists().forPath(routers) != null) {
                    for (String child : client.getChildren().forPath(routers)) {
                        try {
                            byte[] data = client.getData().forPath(routers + "/" + child);
                            if (!RouterRegistration.read(data, child)
                                    .fencesHeld()
                                    .contains(move.id())) {
                                missing.add(child);
                            }
                        } catch (KeeperException.NoNodeException gone) {
                            // that router's session ended: it no longer writes
                        }
                    }
                }
            } catch (Exception e) {
                throw new MoveException("reading the routers' acknowledgements: " + e.getMessage(), e);
            }
            if (missing.isEmpty()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new MoveException(missing.size() + " router(s) did not acknowledge the fence of move " + move.id()
                        + " within " + settings.ackTimeout().toMillis() + " ms: " + missing);
            }
            pause(5);
        }
    }

    /** Waits until every transaction running on {@code source} when this was called has ended. */
    private void awaitOlderTransactions(Node source) throws MoveException {
        try (Connection c = connector.connect(source);
                Statement s = c.createStatement()) {
            long xid;
            try (ResultSet rs = s.executeQuery("SELECT txid_current()")) {
                rs.next();
                xid = rs.getLong(1);
            }
            long deadline = System.nanoTime() + settings.barrierTimeout().toNanos();
            while (true) {
                try (ResultSet rs = s.executeQuery("SELECT txid_snapshot_xmin(txid_current_snapshot())")) {
                    rs.next();
                    if (rs.getLong(1) > xid) {
                        return;
                    }
                }
                if (System.nanoTime() > deadline) {
                    throw new MoveException("transactions older than the fence still run on " + source.name()
                            + " after " + settings.barrierTimeout().toMillis() + " ms");
                }
                pause(2);
            }
        } catch (SQLException e) {
            throw new MoveException("waiting out transactions on " + source.name() + ": " + e.getMessage(), e);
        }
    }

    private void abort(Versioned current, List<LogicalCopy> copies, ClusterTopology topology, String why)
            throws MoveException {
        MoveRecord move = current.move;
        for (LogicalCopy copy : copies) {
            copy.dropReplication();
            copy.deleteMovingRows(
                    topology.shard(transferOf(copy, move).target()).primary(), settings.deleteBatch());
        }
        MoveRecord aborted = new MoveRecord(
                move.id(),
                epoch,
                MoveState.ABORTED,
                move.fromRingVersion(),
                move.toRingVersion(),
                move.transfers(),
                move.cutoverLsn(),
                move.rowsCopied(),
                move.rowsTotal(),
                move.lagBytes(),
                why,
                move.startedAtMillis(),
                System.currentTimeMillis());
        write(current, aborted);
    }

    private interface CopyCondition {
        boolean holds(LogicalCopy copy) throws MoveException;
    }

    private void waitUntil(MoveRecord move, List<LogicalCopy> copies, CopyCondition condition, String what)
            throws MoveException {
        while (true) {
            boolean all = true;
            for (LogicalCopy copy : copies) {
                all &= condition.holds(copy);
            }
            if (all) {
                return;
            }
            if (abortRequested(move.id())) {
                return;
            }
            LOG.debug("move {}: waiting for {}", move.id(), what);
            pause(100);
        }
    }

    private MoveRecord.Transfer transferOf(LogicalCopy copy, MoveRecord move) {
        return move.transfers().stream()
                .filter(t -> copy.name().endsWith("_" + t.source() + "_" + t.target()))
                .findFirst()
                .orElseThrow();
    }

    private List<LogicalCopy> copies(MoveRecord move, ClusterTopology topology) {
        List<LogicalCopy> copies = new ArrayList<>();
        for (MoveRecord.Transfer t : move.transfers()) {
            List<HashRing.Range> ranges = t.ranges().stream()
                    .map(r -> new HashRing.Range(r[0], r[1], t.target()))
                    .toList();
            copies.add(new LogicalCopy(
                    move.id(), new MovePlan.Transfer(t.source(), t.target(), ranges), topology, connector, schema));
        }
        return copies;
    }

    private boolean abortRequested(String id) throws MoveException {
        try {
            return client.checkExists().forPath(base + "/moves/" + id + "-abort") != null;
        } catch (Exception e) {
            throw new MoveException("reading the abort request of move " + id + ": " + e.getMessage(), e);
        }
    }

    private record Versioned(MoveRecord move, int version) {}

    private Versioned read(String id) throws MoveException {
        try {
            Stat stat = new Stat();
            byte[] data = client.getData().storingStatIn(stat).forPath(base + "/moves/" + id);
            return new Versioned(ZooKeeperMoveWatcher.fromJson(data, "moves/" + id), stat.getVersion());
        } catch (Exception e) {
            throw new MoveException("reading move " + id + ": " + e.getMessage(), e);
        }
    }

    /** A version-checked write; false when someone else wrote first (or this runner no longer leads). */
    private boolean write(Versioned current, MoveRecord next) throws MoveException {
        if (!stillLeader.getAsBoolean()) {
            return false;
        }
        try {
            client.setData()
                    .withVersion(current.version)
                    .forPath(base + "/moves/" + next.id(), ZooKeeperMoveWatcher.toJson(next));
            LOG.info("move {}: {}", next.id(), next.state().name().toLowerCase());
            return true;
        } catch (KeeperException.BadVersionException e) {
            return false;
        } catch (Exception e) {
            throw new MoveException("writing move " + next.id() + ": " + e.getMessage(), e);
        }
    }

    private String query(Node node, String sql) throws MoveException {
        try (Connection c = connector.connect(node);
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        } catch (SQLException e) {
            throw new MoveException("querying " + node.name() + ": " + e.getMessage(), e);
        }
    }

    private static TopologySnapshot snapshot(CuratorFramework client, String cluster) throws MoveException {
        String base = ZooKeeperTopologyStore.clusterPath(cluster);
        try {
            return new TopologySnapshot(
                    TopologyCodec.topologyFromJson(client.getData().forPath(base + "/topology"), base + "/topology"),
                    TopologyCodec.ringFromJson(client.getData().forPath(base + "/ring"), base + "/ring"));
        } catch (Exception e) {
            throw new MoveException("reading the topology of cluster " + cluster + ": " + e.getMessage(), e);
        }
    }

    private static void pause(long ms) throws MoveException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MoveException("interrupted", e);
        }
    }
}
