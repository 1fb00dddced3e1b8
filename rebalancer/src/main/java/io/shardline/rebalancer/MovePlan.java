package io.shardline.rebalancer;

import io.shardline.topology.HashRing;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * What changes between two ring versions: for each (source, target) pair of shards, the hash ranges whose
 * owner goes from source to target. A pure function of the two rings.
 *
 * <p>Worked example: from {@code [MIN..-1] -> 0, [0..MAX] -> 1} to {@code [MIN..-1] -> 0, [0..99] -> 2,
 * [100..MAX] -> 1} the plan is one transfer {@code 1 -> 2: [0..99]}.
 *
 * @param from the ring now
 * @param to the ring after the move
 * @param transfers the ranges each (source, target) pair moves, in ring order; empty when the rings agree
 */
public record MovePlan(HashRing from, HashRing to, List<Transfer> transfers) {
    public MovePlan {
        transfers = List.copyOf(transfers);
    }

    /**
     * Ranges moving from one shard to another.
     *
     * @param ranges maximal runs of the hash space, each with {@code shard() == target}
     */
    public record Transfer(int source, int target, List<HashRing.Range> ranges) {
        public Transfer {
            ranges = List.copyOf(ranges);
        }

        /** The fraction of the hash space that moves. */
        public double share() {
            return ranges.stream().mapToDouble(HashRing.Range::share).sum();
        }

        /**
         * The predicate selecting the moving rows, e.g. {@code (h >= 10 AND h <= 99) OR (h >= 500)}, for a
         * publication's row filter or a cleanup {@code DELETE}.
         */
        public String sqlPredicate(String hashExpression) {
            List<String> parts = new ArrayList<>();
            for (HashRing.Range r : ranges) {
                parts.add("(" + r.sqlPredicate(hashExpression) + ")");
            }
            return String.join(" OR ", parts);
        }
    }

    /** The transfers that turn {@code from} into {@code to}. */
    public static MovePlan between(HashRing from, HashRing to) {
        TreeSet<Long> boundaries = new TreeSet<>();
        from.ranges().forEach(r -> boundaries.add(r.start()));
        to.ranges().forEach(r -> boundaries.add(r.start()));
        Map<List<Integer>, List<HashRing.Range>> moving = new LinkedHashMap<>();
        List<Long> starts = new ArrayList<>(boundaries);
        for (int i = 0; i < starts.size(); i++) {
            long start = starts.get(i);
            long end = i + 1 < starts.size() ? starts.get(i + 1) - 1 : Long.MAX_VALUE;
            int source = from.shardFor(start);
            int target = to.shardFor(start);
            if (source == target) {
                continue;
            }
            List<HashRing.Range> ranges = moving.computeIfAbsent(List.of(source, target), k -> new ArrayList<>());
            HashRing.Range last = ranges.isEmpty() ? null : ranges.get(ranges.size() - 1);
            if (last != null && last.endInclusive() != Long.MAX_VALUE && last.endInclusive() + 1 == start) {
                ranges.set(ranges.size() - 1, new HashRing.Range(last.start(), end, target));
            } else {
                ranges.add(new HashRing.Range(start, end, target));
            }
        }
        List<Transfer> transfers = new ArrayList<>();
        moving.forEach((pair, ranges) -> transfers.add(new Transfer(pair.get(0), pair.get(1), ranges)));
        return new MovePlan(from, to, transfers);
    }

    /**
     * The plan that gives every empty shard its share: {@link HashRing#withShardAdded} once per shard in
     * {@code emptyShards}, in ascending order of id whatever the order given (each takes 1/(N+1) from the shards
     * before it): the plan and the cutover that publishes its ring agree however each lists the shards.
     *
     * @throws IllegalArgumentException when a shard in {@code emptyShards} already owns ranges, or there is none
     */
    public static MovePlan fillEmptyShards(HashRing ring, List<Integer> emptyShards) {
        if (emptyShards.isEmpty()) {
            throw new IllegalArgumentException(
                    "no empty shard to move ranges to: add one first (./shardline cluster add-shard or shard add)");
        }
        HashRing next = ring;
        for (int shard : emptyShards.stream().distinct().sorted().toList()) {
            next = next.withShardAdded(shard);
        }
        // one version step for the whole move, however many shards it fills
        return between(ring, HashRing.of(ring.version() + 1, starts(next), owners(next)));
    }

    private static long[] starts(HashRing ring) {
        return ring.ranges().stream().mapToLong(HashRing.Range::start).toArray();
    }

    private static int[] owners(HashRing ring) {
        return ring.ranges().stream().mapToInt(HashRing.Range::shard).toArray();
    }
}
