package io.shardline.console;

import io.shardline.rebalancer.MoveDisplay;
import io.shardline.rebalancer.MoveEstimate;
import io.shardline.rebalancer.MoveException;
import io.shardline.rebalancer.MovePlan;
import io.shardline.rebalancer.MoveRunner;
import io.shardline.rebalancer.Rebalancer;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.Node;
import io.shardline.topology.TopologySnapshot;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import org.apache.curator.framework.CuratorFramework;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Service;

/** Plans, starts, aborts and lists moves: what the rebalance page and {@code /api/moves} do. */
@Service
final class MoveService {
    /** The copy rate the plan's time estimate assumes (as {@code move plan}'s default). */
    static final double COPY_BYTES_PER_SECOND = 50e6;

    private final CuratorFramework curator;
    private final ClusterView cluster;
    private final ConsoleSettings settings;

    /** How long a counted preview is shown again (while the topology and the ring are unchanged). */
    static final long PLAN_CACHE_MS = 30_000;
    /** How long the count may wait on one primary (connect, login, each read). */
    static final Duration COUNT_TIMEOUT = Duration.ofSeconds(60);

    private final Object counting = new Object();
    private volatile Counted lastPreview;

    MoveService(CuratorFramework curator, ClusterView cluster, ConsoleSettings settings) {
        this.curator = curator;
        this.cluster = cluster;
        this.settings = settings;
    }

    /**
     * What starting a move now would do: the empty shards' share of every source, counted on the sources (a scan of
     * every sharded table there). Counted once at a time and kept {@link #PLAN_CACHE_MS} while the topology and the
     * ring stay as they were: a page or a script asking again and again does not scan the primaries each time.
     */
    Views.Plan preview() {
        TopologySnapshot snapshot = cluster.snapshot();
        Counted counted = lastPreview;
        if (counted == null || !counted.fresh(snapshot)) {
            synchronized (counting) {
                counted = lastPreview;
                if (counted == null || !counted.fresh(snapshot)) {
                    counted = new Counted(
                            snapshot.topology().version(),
                            snapshot.ring().version(),
                            System.currentTimeMillis(),
                            count(snapshot));
                    lastPreview = counted;
                }
            }
        }
        Views.Plan p = counted.plan();
        return new Views.Plan(
                p.fromRingVersion(),
                p.toRingVersion(),
                p.emptyShards(),
                p.transfers(),
                p.rows(),
                p.bytes(),
                p.estimateSeconds(),
                cluster.rebalancer().running());
    }

    /**
     * {@code connector} with every connection bounded by {@link #COUNT_TIMEOUT} (connect, login, each read): a hung
     * primary must not hold the count, and every preview request waiting behind it, for the TCP timeout.
     */
    private static MoveEstimate.Connector bounded(MoveEstimate.Connector connector) {
        return new MoveEstimate.Connector() {
            @Override
            public Connection connect(Node node) throws SQLException {
                return connector.connect(node, COUNT_TIMEOUT);
            }

            @Override
            public Connection connect(Node node, Duration timeout) throws SQLException {
                return connector.connect(node, timeout);
            }
        };
    }

    /** A preview as counted at {@code atMillis} for those versions. */
    private record Counted(long topologyVersion, long ringVersion, long atMillis, Views.Plan plan) {
        boolean fresh(TopologySnapshot now) {
            return topologyVersion == now.topology().version()
                    && ringVersion == now.ring().version()
                    && System.currentTimeMillis() - atMillis < PLAN_CACHE_MS;
        }
    }

    private Views.Plan count(TopologySnapshot snapshot) {
        ClusterTopology topology = snapshot.topology();
        HashRing ring = snapshot.ring();
        List<Integer> empty = emptyShards(snapshot);
        MovePlan plan = MovePlan.fillEmptyShards(ring, empty);
        MoveEstimate estimate;
        try {
            estimate = MoveEstimate.of(
                    topology,
                    plan,
                    bounded(Rebalancer.connector(topology, settings.dbPassword(), "shardline-console")),
                    COPY_BYTES_PER_SECOND);
        } catch (SQLException e) {
            throw new ConsoleException(
                    HttpStatus.SERVICE_UNAVAILABLE, "could not count the rows to move: " + e.getMessage(), e);
        }
        List<Views.TransferPlan> transfers = new ArrayList<>();
        for (MoveEstimate.TransferEstimate t : estimate.transfers()) {
            transfers.add(new Views.TransferPlan(
                    t.transfer().source(),
                    t.transfer().target(),
                    t.transfer().ranges().stream()
                            .map(r -> new long[] {r.start(), r.endInclusive()})
                            .toList(),
                    t.transfer().share(),
                    t.rows(),
                    t.bytes(),
                    t.tables().stream()
                            .map(x -> new Views.TablePlan(x.table().qualifiedName(), x.rows(), x.bytes(), x.missing()))
                            .toList()));
        }
        return new Views.Plan(
                ring.version(),
                plan.to().version(),
                empty,
                transfers,
                estimate.rows(),
                estimate.bytes(),
                estimate.time().toMillis() / 1000.0,
                cluster.rebalancer().running());
    }

    private List<Integer> emptyShards(TopologySnapshot snapshot) {
        List<Integer> empty = snapshot.topology().shardIds().stream()
                .filter(id -> !snapshot.ring().shards().contains(id))
                .toList();
        if (empty.isEmpty()) {
            throw new ConsoleException(
                    HttpStatus.CONFLICT,
                    "every shard of cluster " + snapshot.topology().cluster() + " owns ranges already: there is"
                            + " nothing to move until an empty shard is added");
        }
        return empty;
    }

    /**
     * Starts the planned move; a running rebalancer carries it out.
     *
     * @param expectedRingVersion when not null, the ring version the caller previewed: refused if it changed
     */
    Views.Started start(Long expectedRingVersion) {
        TopologySnapshot snapshot = cluster.snapshot();
        if (expectedRingVersion != null
                && expectedRingVersion != snapshot.ring().version()) {
            throw new ConsoleException(
                    HttpStatus.CONFLICT,
                    "the ring is at version " + snapshot.ring().version() + ", not " + expectedRingVersion
                            + " as previewed: preview the plan again");
        }
        emptyShards(snapshot);
        Views.ServiceView rebalancer = cluster.rebalancer();
        if (rebalancer.detail().startsWith(ClusterView.UNREACHABLE)) {
            throw new ConsoleException(
                    HttpStatus.SERVICE_UNAVAILABLE, rebalancer.detail() + "; try again when it answers");
        }
        if (!rebalancer.running()) {
            throw new ConsoleException(
                    HttpStatus.CONFLICT,
                    "no rebalancer is running for cluster " + settings.cluster() + ": start one first"
                            + " (./shardline rebalancer --zk " + settings.zk() + " --name " + settings.cluster() + ")");
        }
        try {
            // the ring version checked again where the move is created, atomically (the snapshot above is a cache)
            String id = MoveRunner.plan(
                    curator, settings.cluster(), 0, expectedRingVersion == null ? -1 : expectedRingVersion);
            return new Views.Started(id, "move " + id + " started");
        } catch (MoveException e) {
            throw new ConsoleException(HttpStatus.CONFLICT, e.getMessage(), e);
        }
    }

    /** Asks the rebalancer to abort move {@code id}. */
    Views.MoveView abort(String id) {
        MoveRecord move = find(id);
        if (move.state().isTerminal()) {
            throw new ConsoleException(
                    HttpStatus.CONFLICT,
                    "move " + id + " is " + MoveDisplay.phase(move.state()) + ": nothing to abort");
        }
        if (!abortable(move.state())) {
            throw new ConsoleException(
                    HttpStatus.CONFLICT,
                    "move " + id + " is " + MoveDisplay.phase(move.state())
                            + ": the new ring is published, so it can no longer be aborted; it finishes by itself");
        }
        try {
            MoveRunner.requestAbort(curator, settings.cluster(), id);
        } catch (MoveException e) {
            throw new ConsoleException(HttpStatus.SERVICE_UNAVAILABLE, e.getMessage(), e);
        }
        return view(move);
    }

    /** Every move, newest first. */
    List<Views.MoveView> list() {
        List<Views.MoveView> views =
                new ArrayList<>(moves().stream().map(MoveService::view).toList());
        Collections.reverse(views);
        return views;
    }

    Views.MoveView get(String id) {
        return view(find(id));
    }

    private MoveRecord find(String id) {
        if (id == null || !id.matches("[A-Za-z0-9_-]{1,64}")) {
            throw new ConsoleException(HttpStatus.BAD_REQUEST, "'" + id + "' is not a move id");
        }
        return moves().stream()
                .filter(m -> m.id().equals(id))
                .findFirst()
                .orElseThrow(() -> new ConsoleException(
                        HttpStatus.NOT_FOUND, "no move '" + id + "' in cluster " + settings.cluster()));
    }

    private List<MoveRecord> moves() {
        try {
            return MoveRunner.moves(curator, settings.cluster());
        } catch (MoveException e) {
            throw new ConsoleException(HttpStatus.SERVICE_UNAVAILABLE, e.getMessage(), e);
        }
    }

    private static boolean abortable(MoveState state) {
        return state.ordinal() < MoveState.SWITCHED.ordinal();
    }

    static Views.MoveView view(MoveRecord m) {
        MoveRecord.Progress p = m.progress();
        return new Views.MoveView(
                m.id(),
                m.state().name().toLowerCase(Locale.ROOT),
                MoveDisplay.phase(m.state()),
                m.fromRingVersion(),
                m.toRingVersion(),
                m.transfers().stream()
                        .map(t -> new Views.TransferView(
                                t.source(),
                                t.target(),
                                t.ranges().size(),
                                t.ranges().stream()
                                        .mapToDouble(r -> new HashRing.Range(r[0], r[1], t.target()).share())
                                        .sum()))
                        .toList(),
                new Views.ProgressView(p.rowsTotal(), p.rowsCopied(), p.lagBytes(), p.rowsCleaned(), p.etaSeconds()),
                (int) Math.round(100 * (m.state() == MoveState.DONE ? 1.0 : MoveDisplay.fractionDone(m))),
                MoveDisplay.progress(m),
                m.error(),
                m.startedAtMillis(),
                m.updatedAtMillis(),
                !m.state().isTerminal() && abortable(m.state()));
    }
}
