package io.shardline.router.exec;

import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/**
 * The writes let through the gate and not yet ended, counted by the epoch they entered in, for {@link MoveFences}: a
 * fence flips the epoch and waits for every write counted before the flip. The counters form a ring of {@link
 * #SLOTS}, not two by parity: a drain that gave up (a switchover's, capped) leaves its writes counted in their slot,
 * and a later drain still waits for them — with two slots the next flip reused theirs for the new epoch's writes and
 * waited only on the other one, so a move's fence was acknowledged while a write that passed its check before the
 * fence still ran (and could commit on the source after the cutover).
 *
 * <p>Cost per write: one atomic increment, one decrement, one volatile read.
 */
final class InFlightWrites {
    static final int SLOTS = 16;
    private static final int MASK = SLOTS - 1;

    private final AtomicLongArray counts = new AtomicLongArray(SLOTS);
    private volatile int epoch;

    /** Counts a write entering now; the ticket it gives back to {@link #exit}. */
    int enter() {
        int e = epoch;
        counts.incrementAndGet(e & MASK);
        return e;
    }

    /** Ends a write {@link #enter} counted. */
    void exit(int ticket) {
        counts.decrementAndGet(ticket & MASK);
    }

    /**
     * Flips the epoch and waits until no write counted before the flip is in flight, or {@code giveUp} says to stop
     * (checked between polls). Writes of an epoch {@link #SLOTS} flips older (left by drains that gave up) share
     * the new epoch's slot: they are waited for before the flip.
     *
     * @param waiting told, between polls, how many writes it still waits for
     * @return whether every write counted before the flip ended
     */
    boolean drain(BooleanSupplier giveUp, java.util.function.LongConsumer waiting) {
        int next = epoch + 1;
        while (counts.get(next & MASK) > 0) {
            if (giveUp.getAsBoolean()) {
                epoch = next;
                return false;
            }
            waiting.accept(counts.get(next & MASK));
            LockSupport.parkNanos(100_000);
        }
        epoch = next;
        for (long before = countedBefore(next); before > 0; before = countedBefore(next)) {
            if (giveUp.getAsBoolean()) {
                return false;
            }
            waiting.accept(before);
            LockSupport.parkNanos(100_000);
        }
        return true;
    }

    /** The writes in flight that entered in an epoch before {@code epoch}. */
    private long countedBefore(int epoch) {
        long n = 0;
        for (int slot = 0; slot < SLOTS; slot++) {
            if (slot != (epoch & MASK)) {
                n += counts.get(slot);
            }
        }
        return n;
    }
}
