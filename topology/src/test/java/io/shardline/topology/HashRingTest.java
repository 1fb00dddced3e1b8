package io.shardline.topology;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class HashRingTest {
    private static final int KEYS = 2_000_000;

    @Test
    void sixteenShardsCarryEvenLoadForTwoMillionRandomKeys() {
        List<Integer> shards = IntStream.range(0, 16).boxed().toList();
        HashRing ring = HashRing.even(shards, HashRing.DEFAULT_RANGES_PER_SHARD);
        long[] load = new long[16];
        SplittableRandom random = new SplittableRandom(42);
        for (int i = 0; i < KEYS; i++) {
            load[ring.shardFor(KeyHash.hashInt8(random.nextLong()))]++;
        }
        double mean = KEYS / 16.0;
        double max = IntStream.range(0, 16).mapToLong(i -> load[i]).max().orElseThrow();
        assertThat(max / mean).isLessThanOrEqualTo(1.05);
        assertThat(ring.shareByShard().values()).allSatisfy(s -> assertThat(s).isCloseTo(1 / 16.0, within(1e-9)));
    }

    @Test
    void addingAShardMovesKeysOnlyToItAndAboutOneOverNPlusOne() {
        for (int n : new int[] {1, 2, 3, 7, 16}) {
            HashRing before = HashRing.even(IntStream.range(0, n).boxed().toList(), HashRing.DEFAULT_RANGES_PER_SHARD);
            HashRing after = before.withShardAdded(n);
            assertThat(after.version()).isEqualTo(before.version() + 1);
            SplittableRandom random = new SplittableRandom(n);
            int moved = 0;
            for (int i = 0; i < KEYS; i++) {
                long hash = KeyHash.hashText(Long.toHexString(random.nextLong()));
                int from = before.shardFor(hash);
                int to = after.shardFor(hash);
                if (from != to) {
                    assertThat(to).as("a moved key goes to the new shard").isEqualTo(n);
                    moved++;
                }
            }
            double expected = 1.0 / (n + 1);
            assertThat((double) moved / KEYS)
                    .as("share moved with %d shards", n)
                    .isCloseTo(expected, within(expected * 0.05));
            assertThat(after.shareByShard())
                    .allSatisfy((shard, share) -> assertThat(share).isCloseTo(expected, within(1e-6)));
        }
    }

    @Test
    void repeatedAddsStayBalanced() {
        HashRing ring = HashRing.even(List.of(0, 1), HashRing.DEFAULT_RANGES_PER_SHARD);
        for (int shard = 2; shard < 10; shard++) {
            ring = ring.withShardAdded(shard);
        }
        assertThat(ring.shards()).hasSize(10);
        assertThat(ring.shareByShard().values()).allSatisfy(s -> assertThat(s).isCloseTo(0.1, within(1e-6)));
    }

    @Test
    void lookupFollowsRangeBoundariesExactly() {
        HashRing ring = HashRing.even(List.of(0, 1), 2);
        assertThat(ring.ranges())
                .extracting(HashRing.Range::start)
                .containsExactly(Long.MIN_VALUE, -(1L << 62), 0L, 1L << 62);
        assertThat(ring.shardFor(Long.MIN_VALUE)).isEqualTo(0);
        assertThat(ring.shardFor(-(1L << 62) - 1)).isEqualTo(0);
        assertThat(ring.shardFor(-(1L << 62))).isEqualTo(1);
        assertThat(ring.shardFor(-1)).isEqualTo(1);
        assertThat(ring.shardFor(0)).isEqualTo(0);
        assertThat(ring.shardFor(Long.MAX_VALUE)).isEqualTo(1);
        assertThat(ring.ranges().get(3).endInclusive()).isEqualTo(Long.MAX_VALUE);
    }

    @Test
    void rangesPrintAsServerSidePredicates() {
        HashRing.Range middle = new HashRing.Range(-10, 99, 0);
        assertThat(middle.sqlPredicate("h")).isEqualTo("h >= -10 AND h <= 99");
        HashRing ring = HashRing.of(1, new long[] {Long.MIN_VALUE, 0, 100}, new int[] {0, 1, 0});
        assertThat(ring.sqlPredicate(0, "h")).isEqualTo("((h <= -1) OR (h >= 100))");
        assertThat(ring.sqlPredicate(1, "h")).isEqualTo("((h >= 0 AND h <= 99))");
        assertThat(ring.sqlPredicate(2, "h")).isEqualTo("false");
        assertThat(new HashRing.Range(Long.MIN_VALUE, 5, 0).sqlPredicate("h")).isEqualTo("h <= 5");
        assertThat(new HashRing.Range(Long.MIN_VALUE, Long.MAX_VALUE, 0).sqlPredicate("h"))
                .isEqualTo("true");
        assertThat(new HashRing.Range(Long.MIN_VALUE, Long.MAX_VALUE, 0).share())
                .isEqualTo(1.0);
    }

    @Test
    void malformedRingsAreRefused() {
        assertThatThrownBy(() -> HashRing.of(1, new long[] {0}, new int[] {0}))
                .hasMessageContaining("first range must start at");
        assertThatThrownBy(() -> HashRing.of(1, new long[] {Long.MIN_VALUE, 5, 5}, new int[] {0, 1, 0}))
                .hasMessageContaining("must increase");
        assertThatThrownBy(() -> HashRing.even(List.of(0), 4).withShardAdded(0))
                .hasMessageContaining("already owns ranges");
    }
}
