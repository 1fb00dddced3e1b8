package io.shardline.router.route;

import io.shardline.topology.LagReport;
import io.shardline.topology.LagSnapshot;
import io.shardline.topology.Lsn;
import io.shardline.topology.Node;
import io.shardline.topology.ReplicaState;
import java.util.function.IntUnaryOperator;

/**
 * Which replica may serve a bounded-staleness read: a pure function over a lag snapshot.
 *
 * <p>A replica is eligible when the monitor's report on it is fresh (observed within {@code freshnessMs}),
 * it is streaming, and its lag is at most the allowed staleness. A replica that was eligible on the last
 * choice keeps its place until its lag exceeds the bound by a dead band (10% of the bound, at least 50 ms),
 * so routing does not flap on lag that hovers around the bound. Among the eligible, two are drawn at random
 * in proportion to their weights and the one with fewer requests in flight per unit of weight wins (power of
 * two choices). A replica of weight 0 serves no reads.
 *
 * <p>Worked examples, bound 1000 ms, dead band 100 ms, reports fresh and streaming:
 * <pre>
 * lags (20, 300, 1500)              eligible: the first two
 * lags (20, 1050), second was in    eligible: both (1050 is inside the dead band)
 * lags (20, 1050), second was out   eligible: the first only
 * no report / stale report / down   not eligible; none eligible -> null (the caller falls back)
 * bound &lt; 0 (unbounded)            every replica is eligible, lag ignored
 * </pre>
 *
 * <p>A replica ejected after a connection error ({@link Stats#isHealthy}) is never eligible.
 *
 * <p>With a read-your-writes position ({@link Bound#minReplayLsn()}), a replica is eligible only if its replay
 * position is known to be at least that far: from the monitor's report or from the driver's own probe of it.
 */
public final class ReplicaChooser {
    private ReplicaChooser() {}

    /**
     * What a read may accept.
     *
     * @param maxStalenessMs the allowed lag; negative for unbounded
     * @param minReplayLsn the position the replica must be known to have replayed (read-your-writes); 0 for none
     */
    public record Bound(long maxStalenessMs, long minReplayLsn) {}

    /** What the driver knows of each replica beyond the monitor's snapshot. */
    public interface Stats {
        /** False while the replica is ejected after a connection error (its {@link CircuitBreaker} is open). */
        boolean isHealthy(Node replica);

        /** Whether it was eligible at the previous choice with the staleness bound {@code boundMs} (the dead band). */
        boolean wasEligible(Node replica, long boundMs);

        /** Its relative share of reads: 1 when not configured, 0 for none. */
        int weight(Node replica);

        /** Requests in flight on it. */
        int inFlight(Node replica);

        /** The highest replay position the driver itself saw on it (0 if none). */
        /** The replay position the driver saw on {@code replica} unless {@code report} (or null) is newer. */
        long replayedLsn(Node replica, LagReport report);
    }

    /**
     * @param random two random numbers are drawn from it: {@code random.applyAsInt(n)} in [0, n)
     * @return the chosen replica, or null when none is eligible
     */
    public static Node choose(
            Node[] replicas,
            LagSnapshot lag,
            Bound bound,
            long nowMillis,
            long freshnessMs,
            Stats stats,
            IntUnaryOperator random) {
        Node[] eligible = new Node[replicas.length];
        int n = 0;
        for (Node replica : replicas) {
            if (stats.weight(replica) > 0 && isEligible(replica, lag, bound, nowMillis, freshnessMs, stats)) {
                eligible[n++] = replica;
            }
        }
        return pick(eligible, n, stats, random);
    }

    /**
     * Of the first {@code n} of {@code eligible} (each of weight &gt; 0), the one the power of two choices picks: two
     * drawn at random in proportion to their weights, the one with fewer requests in flight per unit of weight.
     *
     * @return null when {@code n} is 0
     */
    public static Node pick(Node[] eligible, int n, Stats stats, IntUnaryOperator random) {
        if (n == 0) {
            return null;
        }
        int totalWeight = 0;
        for (int i = 0; i < n; i++) {
            totalWeight += stats.weight(eligible[i]);
        }
        if (n == 1) {
            return eligible[0];
        }
        Node a = draw(eligible, n, totalWeight, stats, random);
        Node b = draw(eligible, n, totalWeight, stats, random);
        // fewer in flight per unit of weight: inFlight(b) / w(b) < inFlight(a) / w(a), without division
        long loadA = (long) stats.inFlight(a) * stats.weight(b);
        long loadB = (long) stats.inFlight(b) * stats.weight(a);
        return loadB < loadA ? b : a;
    }

    private static Node draw(Node[] eligible, int n, int totalWeight, Stats stats, IntUnaryOperator random) {
        int ticket = random.applyAsInt(totalWeight);
        for (int i = 0; i < n - 1; i++) {
            ticket -= stats.weight(eligible[i]);
            if (ticket < 0) {
                return eligible[i];
            }
        }
        return eligible[n - 1];
    }

    /**
     * Of the replicas within the staleness of {@code bound} (its replay position ignored), the one with the
     * least lag: the first to replay a write the session waits for. Null when none is within the bound. Never one
     * a fresh report shows cut off from its upstream: it may replay past the write's position without the write.
     */
    public static Node leastLagging(
            Node[] replicas, LagSnapshot lag, Bound bound, long nowMillis, long freshnessMs, Stats stats) {
        Bound staleness = new Bound(bound.maxStalenessMs(), 0);
        Node best = null;
        long bestLag = Long.MAX_VALUE;
        for (Node replica : replicas) {
            LagReport report = lag.get(replica.name());
            if (stats.weight(replica) > 0
                    && isEligible(replica, lag, staleness, nowMillis, freshnessMs, stats)
                    && !(bound.minReplayLsn() > 0 && cutOff(report, nowMillis, freshnessMs))) {
                long lagMs = report == null || report.lagMs() < 0 ? Long.MAX_VALUE - 1 : report.lagMs();
                if (lagMs < bestLag) {
                    best = replica;
                    bestLag = lagMs;
                }
            }
        }
        return best;
    }

    /** Whether one replica may serve a read within {@code bound}. */
    public static boolean isEligible(
            Node replica, LagSnapshot lag, Bound bound, long nowMillis, long freshnessMs, Stats stats) {
        if (!stats.isHealthy(replica)) {
            return false;
        }
        long boundMs = bound.maxStalenessMs();
        LagReport report = lag.get(replica.name());
        return isEligible(
                report,
                bound,
                nowMillis,
                freshnessMs,
                bound.minReplayLsn() > 0 ? stats.replayedLsn(replica, report) : 0,
                boundMs >= 0 && stats.wasEligible(replica, boundMs));
    }

    /**
     * Whether a healthy replica with lag report {@code report} (or null) may serve a read within {@code bound}.
     *
     * @param replayedLsn the highest replay position the driver itself saw on it
     * @param wasEligible whether it was eligible at the previous choice with this bound (the dead band applies)
     */
    static boolean isEligible(
            LagReport report, Bound bound, long nowMillis, long freshnessMs, long replayedLsn, boolean wasEligible) {
        if (bound.minReplayLsn() > 0 && knownReplayLsn(report, replayedLsn) < bound.minReplayLsn()) {
            return false;
        }
        long boundMs = bound.maxStalenessMs();
        if (boundMs < 0) {
            // any staleness, but a read that must see a write does not go to a replica a fresh report shows cut off
            // from its upstream: one left on a timeline the cluster abandoned (a failover) can be past the write's
            // position without holding the write
            return bound.minReplayLsn() <= 0 || !cutOff(report, nowMillis, freshnessMs);
        }
        if (report == null
                || report.state() != ReplicaState.STREAMING
                || report.lagMs() < 0
                || nowMillis - report.observedAtMillis() > freshnessMs) {
            return false;
        }
        // the dead band lies inside the bound: a replica comes in with room to spare and serves until the bound
        long allowed = wasEligible ? boundMs : boundMs - deadBand(boundMs);
        // the lag was measured when the report was made: a replica that stopped replaying just after is that much
        // further behind now (a monitor that stopped publishing leaves reports that age, never replicas served
        // staler than the bound)
        long age = Math.max(0, nowMillis - report.observedAtMillis());
        return report.lagMs() <= allowed - age; // not lagMs + age: a lag near Long.MAX_VALUE would wrap
    }

    private static boolean cutOff(LagReport report, long nowMillis, long freshnessMs) {
        return report != null
                && (report.state() == ReplicaState.DOWN || report.state() == ReplicaState.DISCONNECTED)
                && nowMillis - report.observedAtMillis() <= freshnessMs;
    }

    private static long knownReplayLsn(LagReport report, long seenByDriver) {
        if (report == null || report.replayLsn() == null) {
            return seenByDriver;
        }
        try {
            return Math.max(seenByDriver, Lsn.parse(report.replayLsn()));
        } catch (IllegalArgumentException e) {
            return seenByDriver;
        }
    }

    static long deadBand(long boundMs) {
        return Math.min(Math.max(50, boundMs / 10), boundMs / 2);
    }
}
