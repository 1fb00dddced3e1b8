package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.topology.HashRing;
import io.shardline.topology.MoveRecord;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A move whose ring changed since its plan: whether its targets own its ranges now (their rows must then stay). */
class StaleMoveTest {
    private static MoveRecord planned(MovePlan plan) {
        return new MoveRecord(
                "m1",
                0,
                MoveRecord.MoveState.CATCHING_UP,
                plan.from().version(),
                plan.to().version(),
                MoveRunner.records(plan),
                null,
                null,
                null,
                0,
                0);
    }

    @Test
    void aRingThatGivesTheMovesRangesToItsTargetIsTold() {
        HashRing ring = HashRing.even(List.of(0, 1), 4);
        MovePlan plan = MovePlan.fillEmptyShards(ring, List.of(2));
        MoveRecord move = planned(plan);
        assertThat(MoveRunner.targetsOwnMovingRanges(ring, move))
                .as("the ring it was planned from")
                .isFalse();
        // an identical move planned at the same time switched first: the ring it published gives the ranges to 2
        assertThat(MoveRunner.targetsOwnMovingRanges(plan.to(), move)).isTrue();
        // a hand edit that changed nothing of these ranges (a version bump)
        HashRing bumped = HashRing.of(
                ring.version() + 1,
                ring.ranges().stream().mapToLong(HashRing.Range::start).toArray(),
                ring.ranges().stream().mapToInt(HashRing.Range::shard).toArray());
        assertThat(MoveRunner.targetsOwnMovingRanges(bumped, move)).isFalse();
    }
}
