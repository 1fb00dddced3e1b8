package io.shardline.router.route;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.topology.LagReport;
import io.shardline.topology.LagSnapshot;
import io.shardline.topology.Lsn;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.ReplicaState;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongUnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The driver's replica choice over a fleet (one primary's 4 hubs and 46 leaves): drawn replicas judged until two
 * qualify must give what judging every replica gives — only eligible replicas, each as often as the others.
 */
class ReplicaHealthTest {
    static final long NOW = 1_000_000;
    static final int FLEET = 50;
    static final ReplicaChooser.Bound BOUND = new ReplicaChooser.Bound(1000, 0);

    private final Node[] fleet = fleet();
    private ReplicaHealth health = new ReplicaHealth(Map.of(), 2000, n -> false, () -> fleet, "t");

    @AfterEach
    void close() {
        health.close();
    }

    private static Node[] fleet() {
        Node[] nodes = new Node[FLEET];
        for (int i = 0; i < 4; i++) {
            nodes[i] = new Node("hub" + i, NodeRole.HUB, "h", 1000 + i, "p");
        }
        for (int i = 4; i < FLEET; i++) {
            nodes[i] = new Node("leaf" + i, NodeRole.LEAF, "h", 1000 + i, "hub" + (i % 4));
        }
        return nodes;
    }

    /** A report for each replica: lag by index, fresh, streaming, replayed up to 0/1000. */
    private LagSnapshot lags(LongUnaryOperator lagByIndex) {
        Map<String, LagReport> reports = new HashMap<>();
        for (int i = 0; i < FLEET; i++) {
            long lag = lagByIndex.applyAsLong(i);
            reports.put(
                    fleet[i].name(),
                    new LagReport(
                            fleet[i].name(),
                            0,
                            fleet[i].role(),
                            lag,
                            0,
                            "0/1000",
                            "p",
                            ReplicaState.STREAMING,
                            NOW - 100));
        }
        return new LagSnapshot(reports);
    }

    private Map<Node, Integer> counts(LagSnapshot lag, ReplicaChooser.Bound bound, int choices) {
        Map<Node, Integer> counts = new HashMap<>();
        for (int k = 0; k < choices; k++) {
            Node chosen = health.choose(fleet, lag, bound, NOW);
            counts.merge(chosen == null ? new Node("none", NodeRole.HUB, "h", 0, null) : chosen, 1, Integer::sum);
        }
        return counts;
    }

    @Test
    void everyReplicaOfAFleetTakesItsShare() {
        Map<Node, Integer> counts = counts(lags(i -> 10), BOUND, 100_000);
        assertThat(counts).hasSize(FLEET);
        // 2,000 each on average; a uniform choice stays within ±15 % (about 7 standard deviations)
        assertThat(counts.values()).allSatisfy(c -> assertThat(c).isBetween(1700, 2300));
    }

    @Test
    void onlyReplicasWithinTheBoundAreChosenHoweverFewTheyAre() {
        // 3 of 50 within the bound: most draws miss, the full judgement finds them
        Map<Node, Integer> counts = counts(lags(i -> i % 17 == 0 ? 10 : 5_000), BOUND, 30_000);
        assertThat(counts.keySet()).containsExactlyInAnyOrder(fleet[0], fleet[17], fleet[34]);
        assertThat(counts.values()).allSatisfy(c -> assertThat(c).isBetween(8_500, 11_500));

        // half of them: each eligible one takes an equal share, no other takes any
        Map<Node, Integer> half = counts(lags(i -> i % 2 == 0 ? 10 : 5_000), BOUND, 50_000);
        assertThat(half).hasSize(FLEET / 2);
        assertThat(half.keySet()).allSatisfy(n -> assertThat(indexOf(n) % 2).isZero());
        assertThat(half.values()).allSatisfy(c -> assertThat(c).isBetween(1700, 2300));
    }

    @Test
    void aShardsFewReplicasAreJudgedAllAndShareReadsEvenly() {
        Node[] three = {fleet[0], fleet[4], fleet[5]};
        LagSnapshot lag = lags(i -> i == 5 ? 5_000 : 10);
        Map<Node, Integer> counts = new HashMap<>();
        for (int k = 0; k < 30_000; k++) {
            counts.merge(health.choose(three, lag, BOUND, NOW), 1, Integer::sum);
        }
        // the third lags beyond the bound: the other two take half each
        assertThat(counts.keySet()).containsExactlyInAnyOrder(fleet[0], fleet[4]);
        assertThat(counts.values()).allSatisfy(c -> assertThat(c).isBetween(14_000, 16_000));

        // one of them busy: it is chosen only when both draws fall on it, a quarter of the time
        health.inFlightCounter(fleet[0]).add(3);
        counts.clear();
        for (int k = 0; k < 30_000; k++) {
            counts.merge(health.choose(three, lag, BOUND, NOW), 1, Integer::sum);
        }
        assertThat(counts.get(fleet[0])).isBetween(6_800, 8_200);
        assertThat(health.choose(new Node[] {fleet[5]}, lag, BOUND, NOW)).isNull();
        assertThat(health.choose(new Node[] {fleet[4]}, lag, BOUND, NOW)).isEqualTo(fleet[4]);
    }

    @Test
    void noneWithinTheBoundGivesNone() {
        assertThat(health.choose(fleet, lags(i -> 5_000), BOUND, NOW)).isNull();
        assertThat(health.choose(fleet, LagSnapshot.EMPTY, BOUND, NOW)).isNull();
        assertThat(health.choose(fleet, LagSnapshot.EMPTY, new ReplicaChooser.Bound(-1, 0), NOW))
                .as("unbounded: any replica, no report needed")
                .isNotNull();
    }

    @Test
    void anEjectedReplicaOfAFleetIsNeverChosen() {
        for (int i = 0; i < FLEET; i += 5) {
            health.eject(fleet[i], 0, new SQLException("connection refused", "08001"));
        }
        Map<Node, Integer> counts = counts(lags(i -> 10), BOUND, 20_000);
        assertThat(counts).hasSize(FLEET - 10);
        assertThat(counts.keySet()).allSatisfy(n -> assertThat(indexOf(n) % 5).isNotZero());
    }

    @Test
    void theDeadBandHoldsForDrawnReplicasToo() {
        // every replica within the bound once, then all at 850 ms in reports 100 ms old (950 ms now): inside the
        // 100 ms dead band below the bound, they stay in
        counts(lags(i -> 10), BOUND, 20_000);
        assertThat(counts(lags(i -> 850), BOUND, 20_000)).hasSize(FLEET);
        // past the bound: out, and at 950 again they do not come back (they were out at the last choice)
        assertThat(health.choose(fleet, lags(i -> 901), BOUND, NOW)).isNull();
        assertThat(health.choose(fleet, lags(i -> 850), BOUND, NOW)).isNull();
        assertThat(counts(lags(i -> 800), BOUND, 20_000)).hasSize(FLEET);
    }

    @Test
    void fewerRequestsInFlightWinTheDraw() {
        // ten replicas each hold 5 requests: a draw pairing one with an idle replica always picks the idle one
        for (int i = 0; i < 10; i++) {
            health.inFlightCounter(fleet[i]).add(5);
        }
        Map<Node, Integer> counts = counts(lags(i -> 10), BOUND, 50_000);
        int busy = 0;
        for (int i = 0; i < 10; i++) {
            busy += counts.getOrDefault(fleet[i], 0);
        }
        // uniform would give 10,000; chosen only when both draws are busy: (10/50)^2 of the time, 2,000
        assertThat(busy).isBetween(1_500, 2_500);
    }

    @Test
    void aReadYourWritesPositionIsHonouredAmongDrawnReplicas() {
        long position = Lsn.parse("0/2000");
        for (int i = 0; i < FLEET; i += 10) {
            health.sawReplayed(fleet[i], position);
        }
        Map<Node, Integer> counts = counts(lags(i -> 10), new ReplicaChooser.Bound(1000, position), 10_000);
        assertThat(counts.keySet()).allSatisfy(n -> assertThat(indexOf(n) % 10).isZero());
        assertThat(counts).hasSize(5);
    }

    /**
     * The driver saw a replica at 0/2000; a lag report made after that says 0/1000 (the replica was rebuilt or
     * restarted from an earlier position): a read that must see 0/1800 does not go there.
     */
    @Test
    void aNewerReportOfAnEarlierPositionOverridesWhatTheDriverSaw() {
        long seen = Lsn.parse("0/2000");
        long now = System.currentTimeMillis();
        health.sawReplayed(fleet[0], seen);
        Node[] one = {fleet[0]};
        ReplicaChooser.Bound mustSee = new ReplicaChooser.Bound(1000, Lsn.parse("0/1800"));
        LagSnapshot older = new LagSnapshot(Map.of(fleet[0].name(), report(fleet[0], "0/1000", now - 500)));
        assertThat(health.choose(one, older, mustSee, now)).isEqualTo(fleet[0]);
        LagSnapshot newer = new LagSnapshot(Map.of(fleet[0].name(), report(fleet[0], "0/1000", now + 1_000)));
        assertThat(health.choose(one, newer, mustSee, now + 1_100)).isNull();
    }

    /**
     * What a choice caches (each replica array's states, each node's report in the last snapshot read) never outlives
     * what it stands for: a new topology's array of new node records keeps an ejection (by name), a snapshot read
     * again after another is read again, and arrays beyond the cache's size still choose right.
     */
    @Test
    void aChoiceCachesNothingStaleAcrossTopologiesAndSnapshots() {
        Node[] two = {fleet[0], fleet[4]};
        LagSnapshot fine = lags(i -> 10);
        LagSnapshot late = lags(i -> i == 0 ? 5_000 : 10);
        health.eject(fleet[4], 0, new SQLException("connection refused", "08001"));
        assertThat(health.choose(two, fine, BOUND, NOW)).isEqualTo(fleet[0]);
        assertThat(health.choose(two, late, BOUND, NOW)).isNull();
        assertThat(health.choose(two, fine, BOUND, NOW)).isEqualTo(fleet[0]);

        for (int k = 0; k < ReplicaHealth.RESOLVED_ARRAYS + 600; k++) {
            Node[] renewed = {
                new Node(fleet[0].name(), NodeRole.HUB, "h2", 2000, "p"),
                new Node(fleet[4].name(), NodeRole.LEAF, "h2", 2004, "hub0")
            };
            LagSnapshot lag = k % 2 == 0 ? fine : late;
            assertThat(health.choose(renewed, lag, BOUND, NOW))
                    .as("array %d, %s", k, k % 2 == 0 ? "fresh" : "late")
                    .isEqualTo(k % 2 == 0 ? renewed[0] : null);
        }
    }

    private static LagReport report(Node node, String replayLsn, long observedAt) {
        return new LagReport(node.name(), 0, node.role(), 10, 0, replayLsn, "p", ReplicaState.STREAMING, observedAt);
    }

    @Test
    void weightsAreJudgedOverTheWholeFleet() {
        health.close();
        Map<String, Integer> weights = new HashMap<>();
        weights.put(fleet[0].name(), 0);
        health = new ReplicaHealth(weights, 2000, n -> false, () -> fleet, "t");
        Map<Node, Integer> counts = counts(lags(i -> 10), BOUND, 20_000);
        assertThat(counts).hasSize(FLEET - 1).doesNotContainKey(fleet[0]);
    }

    private int indexOf(Node node) {
        for (int i = 0; i < FLEET; i++) {
            if (fleet[i].equals(node)) {
                return i;
            }
        }
        return -1;
    }
}
