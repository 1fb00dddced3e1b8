package io.shardline.router.route;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.topology.LagReport;
import io.shardline.topology.LagSnapshot;
import io.shardline.topology.Lsn;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.ReplicaState;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.IntUnaryOperator;
import org.junit.jupiter.api.Test;

class ReplicaChooserTest {
    static final long NOW = 1_000_000;
    static final Node A = new Node("a", NodeRole.HUB, "h", 1, "p");
    static final Node B = new Node("b", NodeRole.LEAF, "h", 2, "a");
    static final Node C = new Node("c", NodeRole.HUB, "h", 3, "p");
    static final Node[] ALL = {A, B, C};

    /** Weights, requests in flight, replay positions the driver saw, and the replicas eligible last time. */
    record FakeStats(
            Map<String, Integer> weights,
            Map<String, Integer> inFlight,
            Map<String, Long> seen,
            Set<String> was,
            Set<String> ejected)
            implements ReplicaChooser.Stats {
        FakeStats(
                Map<String, Integer> weights, Map<String, Integer> inFlight, Map<String, Long> seen, Set<String> was) {
            this(weights, inFlight, seen, was, Set.of());
        }

        static FakeStats plain() {
            return new FakeStats(Map.of(), Map.of(), Map.of(), Set.of());
        }

        @Override
        public boolean isHealthy(Node replica) {
            return !ejected.contains(replica.name());
        }

        @Override
        public boolean wasEligible(Node replica, long boundMs) {
            return was.contains(replica.name());
        }

        @Override
        public int weight(Node replica) {
            return weights.getOrDefault(replica.name(), 1);
        }

        @Override
        public int inFlight(Node replica) {
            return inFlight.getOrDefault(replica.name(), 0);
        }

        @Override
        public long replayedLsn(Node replica, LagReport report) {
            return seen.getOrDefault(replica.name(), 0L);
        }
    }

    static LagSnapshot lags(long a, long b, long c) {
        Map<String, LagReport> m = new HashMap<>();
        m.put("a", report("a", a, ReplicaState.STREAMING, NOW - 100));
        m.put("b", report("b", b, ReplicaState.STREAMING, NOW - 100));
        m.put("c", report("c", c, ReplicaState.STREAMING, NOW - 100));
        return new LagSnapshot(m);
    }

    static LagReport report(String node, long lagMs, ReplicaState state, long observedAt) {
        return new LagReport(node, 0, NodeRole.HUB, lagMs, 0, "0/1000", "p", state, observedAt);
    }

    static Set<Node> eligible(LagSnapshot lag, ReplicaChooser.Bound bound, FakeStats stats) {
        Set<Node> out = new HashSet<>();
        for (Node n : ALL) {
            if (ReplicaChooser.isEligible(n, lag, bound, NOW, 2000, stats)) {
                out.add(n);
            }
        }
        return out;
    }

    static Set<Node> eligible(LagSnapshot lag, long boundMs, Set<String> was) {
        return eligible(lag, new ReplicaChooser.Bound(boundMs, 0), new FakeStats(Map.of(), Map.of(), Map.of(), was));
    }

    static Node choose(LagSnapshot lag, FakeStats stats, IntUnaryOperator random) {
        return ReplicaChooser.choose(ALL, lag, new ReplicaChooser.Bound(1000, 0), NOW, 2000, stats, random);
    }

    /** Chooses among fresh, streaming replicas lagging 1 ms, with the two draws given. */
    static Node chooseWithDraws(Map<String, Integer> weights, Map<String, Integer> inFlight, int first, int second) {
        int[] draws = {first, second};
        int[] i = {0};
        return choose(lags(1, 1, 1), new FakeStats(weights, inFlight, Map.of(), Set.of()), k -> draws[i[0]++]);
    }

    @Test
    void replicasOverTheBoundAreNotEligible() {
        assertThat(eligible(lags(20, 300, 1500), 1000, Set.of())).containsExactlyInAnyOrder(A, B);
    }

    @Test
    void theDeadBandLetsAReplicaInOnlyWellInsideTheBoundAndKeepsItUntilTheBound() {
        // the reports are 100 ms old: 850 ms of lag then may be 950 now
        assertThat(eligible(lags(20, 850, 1500), 1000, Set.of("b"))).containsExactlyInAnyOrder(A, B);
        assertThat(eligible(lags(20, 850, 1500), 1000, Set.of())).containsExactlyInAnyOrder(A);
        assertThat(eligible(lags(20, 800, 1500), 1000, Set.of())).containsExactlyInAnyOrder(A, B);
        // never past the bound, in or not: 901 ms then may be 1,001 now
        assertThat(eligible(lags(20, 901, 1500), 1000, Set.of("b"))).containsExactlyInAnyOrder(A);
        assertThat(eligible(lags(20, 900, 1500), 1000, Set.of("b"))).containsExactlyInAnyOrder(A, B);
    }

    @Test
    void aReportsAgeCountsAsLagAReplicaMayHaveGatheredSince() {
        // a monitor that stopped publishing: its last reports age, and a replica that stopped replaying right after
        // the last one is that much further behind now
        Map<String, LagReport> m = new HashMap<>();
        m.put("a", report("a", 300, ReplicaState.STREAMING, NOW - 600));
        m.put("b", report("b", 300, ReplicaState.STREAMING, NOW - 800));
        // dated ahead of this host's clock: no negative age
        m.put("c", report("c", 300, ReplicaState.STREAMING, NOW + 5000));
        assertThat(eligible(new LagSnapshot(m), 1000, Set.of())).containsExactlyInAnyOrder(A, C);
    }

    @Test
    void unknownStaleOrBrokenReportsAreNotEligible() {
        Map<String, LagReport> m = new HashMap<>();
        m.put("a", report("a", 10, ReplicaState.STREAMING, NOW - 5000));
        m.put("b", report("b", 10, ReplicaState.PAUSED, NOW));
        m.put("c", report("c", -1, ReplicaState.DOWN, NOW));
        assertThat(eligible(new LagSnapshot(m), 1000, Set.of())).isEmpty();
        // a lag that would wrap around when the report's age is added to it
        m.put("c", report("c", Long.MAX_VALUE, ReplicaState.STREAMING, NOW - 5));
        assertThat(eligible(new LagSnapshot(m), 1000, Set.of("c"))).isEmpty();
        assertThat(eligible(LagSnapshot.EMPTY, 1000, Set.of())).isEmpty();
        assertThat(choose(LagSnapshot.EMPTY, FakeStats.plain(), k -> 0)).isNull();
    }

    @Test
    void anUnboundedReadIgnoresLag() {
        assertThat(eligible(LagSnapshot.EMPTY, -1, Set.of())).containsExactlyInAnyOrder(A, B, C);
    }

    @Test
    void anEjectedReplicaIsNeverEligible() {
        FakeStats bEjected = new FakeStats(Map.of(), Map.of(), Map.of(), Set.of(), Set.of("b"));
        assertThat(eligible(lags(1, 1, 1), new ReplicaChooser.Bound(1000, 0), bEjected))
                .containsExactlyInAnyOrder(A, C);
        assertThat(eligible(LagSnapshot.EMPTY, new ReplicaChooser.Bound(-1, 0), bEjected))
                .containsExactlyInAnyOrder(A, C);
        assertThat(ReplicaChooser.leastLagging(
                        ALL, lags(300, 1, 500), new ReplicaChooser.Bound(1000, 0), NOW, 2000, bEjected))
                .isEqualTo(A);
    }

    @Test
    void aReadYourWritesPositionNeedsAReplicaKnownToHaveReplayedIt() {
        // every report says replayed to 0/1000
        ReplicaChooser.Bound upTo1000 = new ReplicaChooser.Bound(1000, Lsn.parse("0/1000"));
        ReplicaChooser.Bound upTo2000 = new ReplicaChooser.Bound(1000, Lsn.parse("0/2000"));
        assertThat(eligible(lags(1, 1, 1), upTo1000, FakeStats.plain())).containsExactlyInAnyOrder(A, B, C);
        assertThat(eligible(lags(1, 1, 1), upTo2000, FakeStats.plain())).isEmpty();
        // the driver's own probe saw b at 0/2400
        FakeStats probed = new FakeStats(Map.of(), Map.of(), Map.of("b", Lsn.parse("0/2400")), Set.of());
        assertThat(eligible(lags(1, 1, 1), upTo2000, probed)).containsExactlyInAnyOrder(B);
        // the position does not replace the staleness bound: b lags too much
        assertThat(eligible(lags(1, 5000, 1), upTo2000, probed)).isEmpty();
        // unbounded staleness still needs the position
        assertThat(eligible(LagSnapshot.EMPTY, new ReplicaChooser.Bound(-1, Lsn.parse("0/2000")), probed))
                .containsExactlyInAnyOrder(B);
        assertThat(eligible(lags(1, 1, 1), new ReplicaChooser.Bound(1000, CausalToken.UNKNOWN), probed))
                .isEmpty();
    }

    @Test
    void anUnboundedReadThatMustSeeAWriteAvoidsAReplicaCutOffFromItsUpstream() {
        // after a failover, b is left on the old timeline: past the token's position, its receiver not streaming
        Map<String, LagReport> m = new HashMap<>();
        m.put("a", new LagReport("a", 0, NodeRole.HUB, 1, 0, "0/3000", "p", ReplicaState.STREAMING, NOW - 100));
        m.put("b", new LagReport("b", 0, NodeRole.HUB, -1, -1, "0/9000", null, ReplicaState.DISCONNECTED, NOW - 100));
        m.put("c", new LagReport("c", 0, NodeRole.HUB, -1, -1, null, null, ReplicaState.DOWN, NOW - 100));
        FakeStats cSeen = new FakeStats(Map.of(), Map.of(), Map.of("c", Lsn.parse("0/9000")), Set.of());
        LagSnapshot lag = new LagSnapshot(m);
        assertThat(eligible(lag, new ReplicaChooser.Bound(-1, Lsn.parse("0/2000")), cSeen))
                .containsExactly(A);
        // reads that need no write still take any replica, and a report too old to trust says nothing
        assertThat(eligible(lag, new ReplicaChooser.Bound(-1, 0), cSeen)).containsExactlyInAnyOrder(A, B, C);
        Map<String, LagReport> old = new HashMap<>(m);
        old.put(
                "b",
                new LagReport("b", 0, NodeRole.HUB, -1, -1, "0/9000", null, ReplicaState.DISCONNECTED, NOW - 5000));
        assertThat(eligible(new LagSnapshot(old), new ReplicaChooser.Bound(-1, Lsn.parse("0/2000")), cSeen))
                .containsExactlyInAnyOrder(A, B);
        // nor is such a replica the one a read waits on for the write (it would pass the position at once)
        FakeStats aEjected = new FakeStats(Map.of(), Map.of(), Map.of("c", Lsn.parse("0/9000")), Set.of(), Set.of("a"));
        assertThat(ReplicaChooser.leastLagging(
                        ALL, lag, new ReplicaChooser.Bound(-1, Lsn.parse("0/2000")), NOW, 2000, aEjected))
                .isNull();
        assertThat(ReplicaChooser.leastLagging(
                        ALL, lag, new ReplicaChooser.Bound(-1, Lsn.parse("0/2000")), NOW, 2000, cSeen))
                .isEqualTo(A);
    }

    @Test
    void theLeastLaggingReplicaWithinTheBoundIsTheOneToWaitFor() {
        ReplicaChooser.Bound bound = new ReplicaChooser.Bound(1000, Lsn.parse("0/9000"));
        assertThat(ReplicaChooser.leastLagging(ALL, lags(300, 20, 1500), bound, NOW, 2000, FakeStats.plain()))
                .isEqualTo(B);
        assertThat(ReplicaChooser.leastLagging(ALL, lags(3000, 2000, 1500), bound, NOW, 2000, FakeStats.plain()))
                .isNull();
    }

    @Test
    void powerOfTwoChoicesPrefersFewerRequestsInFlight() {
        Map<String, Integer> equal = Map.of("a", 1, "b", 1, "c", 1);
        Map<String, Integer> inFlight = Map.of("a", 5, "b", 1, "c", 9);
        assertThat(chooseWithDraws(equal, inFlight, 0, 1)).isEqualTo(B);
        assertThat(chooseWithDraws(equal, inFlight, 2, 0)).isEqualTo(A);
    }

    @Test
    void weightsShareReadsInProportionAndZeroServesNone() {
        FakeStats stats = new FakeStats(Map.of("a", 3, "b", 1, "c", 0), Map.of(), Map.of(), Set.of());
        Map<Node, Integer> counts = new HashMap<>();
        SplittableRandom random = new SplittableRandom(7);
        for (int k = 0; k < 40_000; k++) {
            counts.merge(choose(lags(1, 1, 1), stats, random::nextInt), 1, Integer::sum);
        }
        assertThat(counts).doesNotContainKey(C);
        // both draws idle: the first draw wins, so the share of a is its weight share, 3/4
        assertThat(counts.get(A) / 40_000.0).isBetween(0.72, 0.78);
    }

    @Test
    void weightedLoadComparesRequestsPerUnitOfWeight() {
        // a: 4 in flight at weight 4 (1 per unit); b: 2 in flight at weight 1 (2 per unit) -> a.
        // Total weight 6: ticket 4 draws b (a covers 0-3), ticket 0 draws a.
        Map<String, Integer> weights = Map.of("a", 4, "b", 1, "c", 1);
        assertThat(chooseWithDraws(weights, Map.of("a", 4, "b", 2, "c", 9), 4, 0))
                .isEqualTo(A);
        assertThat(chooseWithDraws(weights, Map.of("a", 9, "b", 2, "c", 9), 4, 0))
                .isEqualTo(B);
    }
}
