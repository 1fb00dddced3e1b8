package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.data.Offset.offset;

import io.shardline.topology.HashRing;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class MovePlanTest {
    @Test
    void theWorkedExampleOfTheJavadoc() {
        HashRing from = HashRing.of(1, new long[] {Long.MIN_VALUE, 0}, new int[] {0, 1});
        HashRing to = HashRing.of(2, new long[] {Long.MIN_VALUE, 0, 100}, new int[] {0, 2, 1});
        MovePlan plan = MovePlan.between(from, to);
        assertThat(plan.transfers())
                .containsExactly(new MovePlan.Transfer(1, 2, List.of(new HashRing.Range(0, 99, 2))));
        assertThat(plan.transfers().get(0).sqlPredicate("h")).isEqualTo("(h >= 0 AND h <= 99)");
        assertThat(MovePlan.between(from, from).transfers()).isEmpty();
    }

    @Test
    void fillingAnEmptyShardMovesAThirdFromEachOfTwoAndNothingBetweenThem() {
        HashRing ring = HashRing.even(List.of(0, 1), HashRing.DEFAULT_RANGES_PER_SHARD);
        MovePlan plan = MovePlan.fillEmptyShards(ring, List.of(2));
        assertThat(plan.to().version()).isEqualTo(ring.version() + 1);
        assertThat(plan.transfers()).extracting(MovePlan.Transfer::source).containsExactlyInAnyOrder(0, 1);
        assertThat(plan.transfers()).allMatch(t -> t.target() == 2);
        for (MovePlan.Transfer t : plan.transfers()) {
            assertThat(t.share()).isCloseTo(1.0 / 6, offset(1e-6));
        }
        assertThat(plan.to().shareByShard().get(2)).isCloseTo(1.0 / 3, offset(1e-6));
    }

    @Test
    void everyHashIsOwnedAfterTheMoveAsTheTransfersSay() {
        HashRing from = HashRing.even(List.of(0, 1, 2), 16);
        MovePlan plan = MovePlan.fillEmptyShards(from, List.of(3, 4));
        SplittableRandom random = new SplittableRandom(3);
        for (int i = 0; i < 100_000; i++) {
            long h = random.nextLong();
            int before = from.shardFor(h);
            int after = plan.to().shardFor(h);
            List<MovePlan.Transfer> covering = plan.transfers().stream()
                    .filter(t -> t.ranges().stream().anyMatch(r -> r.contains(h)))
                    .toList();
            if (before == after) {
                assertThat(covering).isEmpty();
            } else {
                assertThat(covering).singleElement().satisfies(t -> {
                    assertThat(t.source()).isEqualTo(before);
                    assertThat(t.target()).isEqualTo(after);
                });
            }
        }
        assertThat(plan.transfers()).allMatch(t -> t.target() == 3 || t.target() == 4);
    }

    /**
     * The planner lists the empty shards in the topology's order, the cutover in the move's (sorted): both must give
     * the same ring, or keys would route to a shard the copy did not fill.
     */
    @Test
    void theEmptyShardsOrderDoesNotChangeThePlan() {
        HashRing from = HashRing.even(List.of(0, 1), 16);
        MovePlan inTopologyOrder = MovePlan.fillEmptyShards(from, List.of(3, 2));
        MovePlan sorted = MovePlan.fillEmptyShards(from, List.of(2, 3));
        assertThat(inTopologyOrder.to().ranges()).isEqualTo(sorted.to().ranges());
        assertThat(MoveRunner.describe(MoveRunner.records(inTopologyOrder)))
                .isEqualTo(MoveRunner.describe(MoveRunner.records(sorted)))
                .contains("->2 [", "->3 [");
    }

    @Test
    void withoutAnEmptyShardThereIsNothingToPlan() {
        HashRing ring = HashRing.even(List.of(0, 1), 16);
        assertThatThrownBy(() -> MovePlan.fillEmptyShards(ring, List.of()))
                .hasMessageContaining("no empty shard")
                .hasMessageContaining("cluster add-shard");
        assertThatThrownBy(() -> MovePlan.fillEmptyShards(ring, List.of(1))).hasMessageContaining("already owns");
    }
}
