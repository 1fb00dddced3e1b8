package io.shardline.router.txn;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.Node;
import io.shardline.topology.Shard;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.apache.curator.framework.CuratorFramework;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds and resolves multi-shard transactions left prepared on shard primaries ({@code pg_prepared_xacts}, ids of
 * {@link Gid}'s form): commit when COMMIT is recorded in {@link TxnLog}; roll back when ROLLBACK is, or when nothing
 * is recorded and the coordinating router is gone (its {@code routers/} node expired) — recorded first, so a
 * coordinator that comes back cannot commit it. A transaction whose coordinator lives and has not decided is left
 * alone for {@value #UNDECIDED_MS} ms: it is between its two phases.
 */
public final class InDoubtTransactions {
    private static final Logger LOG = LoggerFactory.getLogger(InDoubtTransactions.class);
    static final long ROLLBACK_RETENTION_MS = 3_600_000;
    /** How long a live coordinator is trusted to finish a transaction it decided. */
    static final long FINISH_MS = 30_000;
    /**
     * How long a live coordinator is trusted to decide a transaction it prepared (milliseconds a normal commit): past
     * it, its PREPARE on another shard hangs or its thread died, and recovery decides ROLLBACK (it would find that
     * decision and report 40001 if it came back).
     */
    static final long UNDECIDED_MS = 60_000;

    /** Opens a connection to a node's database. */
    @FunctionalInterface
    public interface Connector {
        Connection connect(Node node) throws SQLException;
    }

    /**
     * One prepared transaction on one shard.
     *
     * @param decision what {@link TxnLog} holds for it, or null
     * @param coordinatorAlive whether the router that prepared it still has its {@code routers/} node
     * @param ageMillis how long ago it was prepared, by its server's clock
     */
    public record InDoubt(
            String gid,
            int shard,
            String node,
            String preparedAt,
            String decision,
            boolean coordinatorAlive,
            long ageMillis) {}

    /** What {@link #recover} did. */
    public record Report(int committed, int rolledBack, int left, List<String> errors) {}

    private final CuratorFramework client;
    private final String cluster;
    private final TxnLog log;
    /** A test's hook between the listing and the resolving (a coordinator finishing meanwhile). */
    private volatile Runnable afterListing = () -> {};

    private volatile long undecidedMs = UNDECIDED_MS;

    private final Connector connector;

    public InDoubtTransactions(CuratorFramework client, String cluster, Connector connector) {
        this.client = client;
        this.cluster = cluster;
        this.log = new TxnLog(client, cluster);
        this.connector = connector;
    }

    /**
     * Every Shardline transaction prepared on a primary of {@code topology}.
     *
     * @throws SQLException naming the primary that could not be asked
     */
    public List<InDoubt> list(ClusterTopology topology) throws SQLException {
        return list(topology, null);
    }

    /**
     * The ids of every Shardline transaction prepared on a primary of {@code topology}, of this cluster or another
     * over the same databases: the marks of atomic cross-shard reads are kept for all of them.
     *
     * @throws SQLException naming the primary that could not be asked
     */
    public List<String> preparedOfAnyCluster(ClusterTopology topology) throws SQLException {
        List<String> gids = new ArrayList<>();
        for (Shard shard : topology.shards()) {
            try (Connection c = connector.connect(shard.primary());
                    Statement s = c.createStatement();
                    ResultSet rs =
                            s.executeQuery("SELECT gid FROM pg_prepared_xacts WHERE database = current_database()")) {
                while (rs.next()) {
                    if (Gid.router(rs.getString(1)).isPresent()) {
                        gids.add(rs.getString(1));
                    }
                }
            } catch (SQLException e) {
                throw new SQLException(
                        "listing the prepared transactions of "
                                + shard.primary().name() + ": " + e.getMessage(),
                        e.getSQLState(),
                        e);
            }
        }
        return gids;
    }

    /**
     * {@link #list(ClusterTopology)}; with {@code errors}, a primary that cannot be asked is reported there and
     * skipped, the others listed.
     */
    private List<InDoubt> list(ClusterTopology topology, List<String> errors) throws SQLException {
        List<InDoubt> found = new ArrayList<>();
        Set<String> alive = routers();
        for (Shard shard : topology.shards()) {
            Node primary = shard.primary();
            try (Connection c = connector.connect(primary);
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT gid, prepared::text,"
                            + " (extract(epoch FROM now() - prepared) * 1000)::bigint FROM pg_prepared_xacts"
                            + " WHERE database = current_database() AND gid LIKE '" + Gid.PREFIX
                            + "%' ORDER BY prepared")) {
                while (rs.next()) {
                    String gid = rs.getString(1);
                    Optional<String> router = Gid.router(gid);
                    if (router.isEmpty() || !Gid.of(gid, cluster)) {
                        continue; // not Shardline's, or another cluster's over the same database
                    }
                    String decision =
                            log.find(gid).map(r -> r.decision().name()).orElse(null);
                    found.add(new InDoubt(
                            gid,
                            shard.id(),
                            primary.name(),
                            rs.getString(2),
                            decision,
                            alive.contains(router.get()),
                            rs.getLong(3)));
                }
            } catch (SQLException e) {
                if (errors != null) {
                    errors.add("listing the prepared transactions of shard " + shard.id() + " (" + primary.name()
                            + "): " + e.getMessage());
                    continue;
                }
                throw new SQLException(
                        "could not list the prepared transactions of shard " + shard.id() + " (" + primary.name()
                                + "): " + e.getMessage(),
                        e.getSQLState(),
                        e);
            }
        }
        return found;
    }

    /** Resolves what {@link #list} finds; a primary that cannot be reached is reported and skipped. */
    public Report recover(ClusterTopology topology) throws SQLException {
        return recover(topology, new HashSet<>());
    }

    /**
     * Resolves what {@link #list} finds, {@code abandoned} (transactions the calling coordinator gave up on, see
     * {@link TwoPhaseCommit#abandoned()}) as if their coordinator were gone; each one resolved leaves the set. A
     * decided transaction whose coordinator lives is left to it for {@value #FINISH_MS} ms (it is running COMMIT
     * PREPARED itself). A primary that cannot be reached is reported and skipped.
     */
    public Report recover(ClusterTopology topology, Set<String> abandoned) throws SQLException {
        int committed = 0;
        int rolledBack = 0;
        int left = 0;
        List<String> errors = new ArrayList<>();
        // given up before the listing: one given up meanwhile may be prepared after it (a slow PREPARE whose answer
        // timed out), and must not be dropped for not being listed
        Set<String> givenUp = new HashSet<>(abandoned);
        List<InDoubt> inDoubt = list(topology, errors);
        boolean listedAll = errors.isEmpty();
        afterListing.run();
        Set<String> prepared = new HashSet<>();
        inDoubt.forEach(t -> prepared.add(t.gid()));
        if (listedAll) {
            // given up and no longer prepared anywhere: nothing left to resolve
            givenUp.removeAll(prepared);
            abandoned.removeAll(givenUp);
        }
        for (InDoubt t : inDoubt) {
            String decision = t.decision();
            boolean ownerActs = t.coordinatorAlive() && !abandoned.contains(t.gid());
            if (decision == null) {
                if (ownerActs && t.ageMillis() < undecidedMs) {
                    left++;
                    continue;
                }
                if (ownerActs) {
                    LOG.warn(
                            "transaction {} has been prepared on shard {} for {} ms and its coordinator, still"
                                    + " running, has not decided it: rolled back (its PREPARE on another shard hangs,"
                                    + " or its thread died; it reports 40001 if it comes back)",
                            t.gid(),
                            t.shard(),
                            t.ageMillis());
                }
                decision = log.decide(t.gid(), TxnLog.Decision.ROLLBACK, "recovery")
                        .name();
            } else if (ownerActs) {
                Optional<TxnLog.Record> record = log.find(t.gid());
                if (record.isEmpty()) {
                    continue; // finished and forgotten by its coordinator since it was listed
                }
                if (System.currentTimeMillis() - record.get().atMillis() < FINISH_MS) {
                    left++;
                    continue;
                }
            }
            String command = decision.equals(TxnLog.Decision.COMMIT.name()) ? "COMMIT PREPARED" : "ROLLBACK PREPARED";
            Node primary = topology.shard(t.shard()).primary();
            try (Connection c = connector.connect(primary);
                    Statement s = c.createStatement()) {
                s.execute(command + " '" + Gid.check(t.gid()) + "'");
                if (command.startsWith("COMMIT")) {
                    committed++;
                } else {
                    rolledBack++;
                }
                LOG.info("{} {} on shard {}", command, t.gid(), t.shard());
            } catch (SQLException e) {
                if ("42704".equals(e.getSQLState())) {
                    continue; // resolved meanwhile (another router's recovery, or its coordinator)
                }
                errors.add(command + " '" + t.gid() + "' on shard " + t.shard() + ": " + e.getMessage());
            }
        }
        // A COMMIT no participant holds any more is done with. A ROLLBACK is kept an hour: a coordinator cut off
        // from ZooKeeper may still be running and must find it rather than record COMMIT. The decisions are read
        // before the participants: every participant of a decision read was prepared before it was recorded, so
        // one not listed after it has been resolved (the other order could drop a COMMIT still to be applied).
        List<String> decided = log.gids();
        if (decided.isEmpty() || !listedAll) {
            // a primary not listed may hold a participant of a decision still to be applied there
            return new Report(committed, rolledBack, left, errors);
        }
        Set<String> held = new HashSet<>();
        List<String> again = new ArrayList<>();
        list(topology, again).forEach(t -> held.add(t.gid()));
        if (!again.isEmpty()) {
            errors.addAll(again);
            return new Report(committed, rolledBack, left, errors);
        }
        long now = System.currentTimeMillis();
        for (String gid : decided) {
            if (held.contains(gid)) {
                continue;
            }
            Optional<TxnLog.Record> record = log.find(gid);
            if (record.isPresent()
                    && (record.get().decision() == TxnLog.Decision.COMMIT
                            || now - record.get().atMillis() > ROLLBACK_RETENTION_MS)) {
                log.forget(gid);
            }
        }
        return new Report(committed, rolledBack, left, errors);
    }

    /** How long a live coordinator is trusted to decide what it prepared ({@link #UNDECIDED_MS}; tests). */
    void undecidedAfter(long millis) {
        undecidedMs = millis;
    }

    /** Runs {@code hook} in each recovery right after the in-doubt transactions are listed (tests). */
    void afterListing(Runnable hook) {
        afterListing = hook;
    }

    private Set<String> routers() {
        String path = ZooKeeperTopologyStore.clusterPath(cluster) + "/routers";
        try {
            return client.checkExists().forPath(path) == null
                    ? Set.of()
                    : new HashSet<>(client.getChildren().forPath(path));
        } catch (Exception e) {
            throw new TxnException("could not list the routers of cluster " + cluster + ": " + e.getMessage(), e);
        }
    }
}
