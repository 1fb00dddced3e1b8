package io.shardline.topology;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The consistent-hash ring: the signed 64-bit hash space cut into ranges (virtual nodes), each owned by one
 * shard, with a version that changes only when ranges move.
 *
 * <p>Range {@code i} covers {@code [start(i), start(i + 1))}; the last one runs to {@link Long#MAX_VALUE}
 * inclusive, the first starts at {@link Long#MIN_VALUE}. A key belongs to the range holding its
 * {@link KeyHash} value.
 *
 * <p>The ranges are data, stored in ZooKeeper, not derived from hashing shard names: the initial ring
 * {@link #even(List, int) cuts the space evenly}, so load is balanced up to sampling noise, and
 * {@link #withShardAdded(int)} hands the new shard whole ranges (splitting at most one per shard) so that it
 * owns 1/(N+1) of the space and nothing moves between old shards.
 *
 * <p>Example: {@code HashRing.even(List.of(0, 1), 2)} has four ranges owned by 0, 1, 0, 1 starting at
 * -2^63, -2^62, 0 and 2^62.
 */
public final class HashRing {
    /** Ranges per shard in a new ring: small enough for short publication filters, enough to spread moves. */
    public static final int DEFAULT_RANGES_PER_SHARD = 16;

    private final long version;
    private final long[] starts;
    private final int[] owners;

    private HashRing(long version, long[] starts, int[] owners) {
        this.version = version;
        this.starts = starts;
        this.owners = owners;
    }

    /**
     * A ring from explicit ranges.
     *
     * @param starts the first hash of each range, strictly increasing, the first {@link Long#MIN_VALUE}
     * @param owners the shard owning each range
     * @throws IllegalArgumentException when the ranges do not cover the hash space exactly once
     */
    public static HashRing of(long version, long[] starts, int[] owners) {
        if (starts.length == 0 || starts.length != owners.length) {
            throw new IllegalArgumentException("a ring needs one owner per range and at least one range");
        }
        if (starts[0] != Long.MIN_VALUE) {
            throw new IllegalArgumentException(
                    "the first range must start at " + Long.MIN_VALUE + ", not " + starts[0]);
        }
        for (int i = 1; i < starts.length; i++) {
            if (starts[i] <= starts[i - 1]) {
                throw new IllegalArgumentException(
                        "range starts must increase: " + starts[i - 1] + " then " + starts[i]);
            }
        }
        for (int owner : owners) {
            if (owner < 0) {
                throw new IllegalArgumentException("shard ids are 0 or more, not " + owner);
            }
        }
        return new HashRing(version, starts.clone(), owners.clone());
    }

    /**
     * A ring of version 1 cutting the hash space into {@code shards.size() * rangesPerShard} equal ranges,
     * dealt to the shards in turn.
     */
    public static HashRing even(List<Integer> shards, int rangesPerShard) {
        if (shards.isEmpty() || rangesPerShard < 1) {
            throw new IllegalArgumentException("an even ring needs at least one shard and one range per shard");
        }
        int n = shards.size() * rangesPerShard;
        long[] starts = new long[n];
        int[] owners = new int[n];
        // Step = 2^64 / n, computed without overflow as the unsigned quotient.
        long step = Long.divideUnsigned(-1L, n) + (Long.remainderUnsigned(-1L, n) == n - 1 ? 1 : 0);
        for (int i = 0; i < n; i++) {
            starts[i] = Long.MIN_VALUE + step * i;
            owners[i] = shards.get(i % shards.size());
        }
        return new HashRing(1, starts, owners);
    }

    /** The version; a cutover publishes a higher one. */
    public long version() {
        return version;
    }

    /** The number of ranges. */
    public int rangeCount() {
        return starts.length;
    }

    /** The shard owning {@code hash}. A binary search over the range starts: no allocation. */
    public int shardFor(long hash) {
        int i = Arrays.binarySearch(starts, hash);
        return owners[i >= 0 ? i : -i - 2];
    }

    /** The ranges, in hash order. */
    public List<Range> ranges() {
        List<Range> ranges = new ArrayList<>(starts.length);
        for (int i = 0; i < starts.length; i++) {
            ranges.add(new Range(starts[i], endOf(i), owners[i]));
        }
        return Collections.unmodifiableList(ranges);
    }

    /**
     * The predicate selecting the rows this ring gives {@code shard}, inside PostgreSQL: its ranges' {@link
     * Range#sqlPredicate} joined with OR, in parentheses; {@code false} when it owns none.
     */
    public String sqlPredicate(int shard, String hashExpression) {
        List<String> owned = new ArrayList<>();
        for (Range r : ranges()) {
            if (r.shard() == shard) {
                owned.add("(" + r.sqlPredicate(hashExpression) + ")");
            }
        }
        return owned.isEmpty() ? "false" : "(" + String.join(" OR ", owned) + ")";
    }

    /** The shards owning at least one range, ascending. */
    public List<Integer> shards() {
        return Arrays.stream(owners).distinct().sorted().boxed().toList();
    }

    /** The share of the hash space each shard owns, from 0 to 1. */
    public Map<Integer, Double> shareByShard() {
        Map<Integer, Double> share = new TreeMap<>();
        for (Range r : ranges()) {
            share.merge(r.shard(), r.share(), Double::sum);
        }
        return share;
    }

    /**
     * The next ring version with {@code newShard} added: every existing shard hands over 1/(N+1) of what it
     * owns, as whole ranges plus at most one split range, so the new shard owns 1/(N+1) of the hash space
     * and no range moves between existing shards.
     *
     * @throws IllegalArgumentException when {@code newShard} already owns ranges
     */
    public HashRing withShardAdded(int newShard) {
        List<Integer> existing = shards();
        if (existing.contains(newShard)) {
            throw new IllegalArgumentException("shard " + newShard + " already owns ranges");
        }
        int n = existing.size();
        TreeMap<Long, Integer> next = new TreeMap<>();
        for (int i = 0; i < starts.length; i++) {
            next.put(starts[i], owners[i]);
        }
        for (int shard : existing) {
            // What this shard gives away, in units of the hash space (2^64 does not fit in a long: use doubles
            // only for the target, exact longs for boundaries).
            double toGive = shareOf(shard) / (n + 1);
            for (Range r : ranges()) {
                if (r.shard() != shard || toGive <= 0) {
                    continue;
                }
                if (r.share() <= toGive) {
                    next.put(r.start(), newShard);
                    toGive -= r.share();
                } else {
                    // Split: the new shard takes the upper part of this range.
                    long width = (long) (toGive * 0x1p64);
                    long splitAt = r.endInclusive() - width + 1;
                    if (splitAt > r.start()) {
                        next.put(splitAt, newShard);
                    }
                    toGive = 0;
                }
            }
        }
        return fromMap(version + 1, next);
    }

    private double shareOf(int shard) {
        double share = 0;
        for (Range r : ranges()) {
            if (r.shard() == shard) {
                share += r.share();
            }
        }
        return share;
    }

    private static HashRing fromMap(long version, TreeMap<Long, Integer> ranges) {
        // Merge neighbours with the same owner so the ring stays small.
        List<Long> s = new ArrayList<>();
        List<Integer> o = new ArrayList<>();
        for (Map.Entry<Long, Integer> e : ranges.entrySet()) {
            if (o.isEmpty() || !o.get(o.size() - 1).equals(e.getValue())) {
                s.add(e.getKey());
                o.add(e.getValue());
            }
        }
        return of(
                version,
                s.stream().mapToLong(Long::longValue).toArray(),
                o.stream().mapToInt(Integer::intValue).toArray());
    }

    private long endOf(int i) {
        return i + 1 < starts.length ? starts[i + 1] - 1 : Long.MAX_VALUE;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HashRing
                && ((HashRing) o).version == version
                && Arrays.equals(((HashRing) o).starts, starts)
                && Arrays.equals(((HashRing) o).owners, owners);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(version) * 31 + Arrays.hashCode(starts);
    }

    @Override
    public String toString() {
        return "HashRing{version=" + version + ", ranges=" + starts.length + ", shares=" + shareByShard() + "}";
    }

    /**
     * One range of hashes, {@code [start, endInclusive]}, owned by {@code shard}.
     *
     * <p>{@link #sqlPredicate(String)} selects its rows inside PostgreSQL.
     */
    public record Range(long start, long endInclusive, int shard) {
        /** The fraction of the hash space this range covers. */
        public double share() {
            // endInclusive - start + 1 may overflow a long: compute as unsigned.
            double width = (double) (endInclusive - start) + 1.0;
            if (endInclusive - start < 0) {
                width += 0x1p64;
            }
            return width / 0x1p64;
        }

        /** Whether {@code hash} falls in this range. */
        public boolean contains(long hash) {
            return hash >= start && hash <= endInclusive;
        }

        /**
         * The predicate selecting this range's rows, e.g. {@code hashint8extended("id"::bigint, 0) >= -10 AND
         * hashint8extended("id"::bigint, 0) <= 99}; the open ends of the hash space are left out.
         */
        public String sqlPredicate(String hashExpression) {
            List<String> parts = new ArrayList<>(2);
            if (start != Long.MIN_VALUE) {
                parts.add(hashExpression + " >= " + start);
            }
            if (endInclusive != Long.MAX_VALUE) {
                parts.add(hashExpression + " <= " + endInclusive);
            }
            return parts.isEmpty() ? "true" : String.join(" AND ", parts);
        }
    }
}
