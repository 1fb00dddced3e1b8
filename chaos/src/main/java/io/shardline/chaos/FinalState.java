package io.shardline.chaos;

import java.util.List;
import java.util.Map;

/**
 * What the shards' primaries hold after a round, read directly (not through the driver), compared with the
 * history by the {@link Checker}.
 *
 * @param itemCopies copies of each of the round's item ids, over every primary
 * @param countersBefore {@code counters.n} by key at the round's start
 * @param countersAfter and at its end
 * @param touchedBefore {@code marks.touched} (the keyless updates' column) by key at the start
 * @param touchedAfter and at the end
 * @param bankSum the sum of the accounts' balances
 * @param bankAccounts how many accounts there are
 * @param prepared prepared transactions left on the primaries
 * @param movesDone moves of the round that ended done
 * @param movesAborted and aborted
 * @param moveProblems what a move left behind or did not finish: publications, subscriptions, slots, barrier
 *     tables, rows on a shard the ring does not give them to, a move not over
 */
record FinalState(
        Map<Long, Integer> itemCopies,
        Map<Long, Long> countersBefore,
        Map<Long, Long> countersAfter,
        Map<Long, Long> touchedBefore,
        Map<Long, Long> touchedAfter,
        long bankSum,
        long bankAccounts,
        long prepared,
        int movesDone,
        int movesAborted,
        List<String> moveProblems) {}
