package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.topology.HashRing;
import io.shardline.topology.MoveRecord;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A move whose ring changed since its plan: whether its targets own its ranges now (their rows must then stay), and
 * which parts of its ranges they do not (an abort deletes the targets' rows of those only).
 */
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

    @Test
    void theRingsPartsTheTargetsDoNotOwnAreTheOnlyRowsAnAbortDeletes() {
        HashRing ring = HashRing.even(List.of(0, 1), 4);
        MovePlan plan = MovePlan.fillEmptyShards(ring, List.of(2));
        MoveRecord move = planned(plan);
        assertThat(MoveRunner.partsTargetsDoNotOwn(ring, move))
                .as("the ring it was planned from: every part")
                .isEqualTo(plan.transfers());
        assertThat(MoveRunner.partsTargetsDoNotOwn(plan.to(), move))
                .as("the ring an identical move published")
                .isEmpty();

        // a hand edit that gives the target only the middle of the first moving range
        MovePlan.Transfer first = plan.transfers().get(0);
        HashRing.Range moving = first.ranges().get(0);
        long third = (moving.endInclusive() - moving.start()) / 3;
        long middleStart = moving.start() + third;
        long middleEnd = moving.start() + 2 * third;
        HashRing edited = withMiddleGivenTo(ring, middleStart, middleEnd, first.target());
        assertThat(MoveRunner.targetsOwnMovingRanges(edited, move))
                .as("a part inside a range, neither of its ends")
                .isTrue();
        List<MovePlan.Transfer> parts = MoveRunner.partsTargetsDoNotOwn(edited, move);
        assertThat(parts.get(0).ranges())
                .startsWith(
                        new HashRing.Range(moving.start(), middleStart - 1, first.target()),
                        new HashRing.Range(middleEnd + 1, moving.endInclusive(), first.target()));
        assertThat(parts.get(0).ranges().subList(2, parts.get(0).ranges().size()))
                .isEqualTo(first.ranges().subList(1, first.ranges().size()));
        assertThat(parts.subList(1, parts.size()))
                .isEqualTo(plan.transfers().subList(1, plan.transfers().size()));
    }

    /** {@code ring}, a version later, with {@code [start, end]} (inside one of its ranges) given to {@code shard}. */
    private static HashRing withMiddleGivenTo(HashRing ring, long start, long end, int shard) {
        List<Long> starts = new java.util.ArrayList<>();
        List<Integer> owners = new java.util.ArrayList<>();
        for (HashRing.Range r : ring.ranges()) {
            starts.add(r.start());
            owners.add(r.shard());
            if (r.start() < start && end < r.endInclusive()) {
                starts.add(start);
                owners.add(shard);
                starts.add(end + 1);
                owners.add(r.shard());
            }
        }
        return HashRing.of(
                ring.version() + 1,
                starts.stream().mapToLong(Long::longValue).toArray(),
                owners.stream().mapToInt(Integer::intValue).toArray());
    }
}
