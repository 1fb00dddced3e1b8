package io.shardline.router.exec;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The gate's drain: every write that entered before a fence's flip is waited for, whatever drains gave up before. */
class InFlightWritesTest {
    /** Polls the drain made while the write stayed in flight: a drain that had stopped waiting would make none. */
    private static final int POLLS = 50;

    /** The drain, on another thread; {@code waiting} counts down once per poll that still saw a write in flight. */
    private static CompletableFuture<Boolean> drainInBackground(InFlightWrites writes, CountDownLatch waiting) {
        return CompletableFuture.supplyAsync(() -> writes.drain(() -> false, n -> waiting.countDown()));
    }

    @Test
    void aFenceAfterASwitchoverDrainThatGaveUpStillWaitsForTheWriteItLeftRunning() throws Exception {
        InFlightWrites writes = new InFlightWrites();
        int longWrite = writes.enter(); // a long batch, let in before anything was fenced
        assertThat(writes.drain(() -> true, n -> {}))
                .as("the switchover's capped drain gives up")
                .isFalse();

        CountDownLatch waiting = new CountDownLatch(POLLS);
        CompletableFuture<Boolean> moveFence = drainInBackground(writes, waiting);
        assertThat(waiting.await(5, TimeUnit.SECONDS))
                .as("still waiting for the write after %d polls", POLLS)
                .isTrue();
        assertThat(moveFence).as("acknowledged while the write still runs").isNotDone();
        writes.exit(longWrite);
        assertThat(moveFence.get(5, TimeUnit.SECONDS)).isTrue();
    }

    /** Drains that gave up, then a fence whose new epoch's slot is the long write's own (15), or past it (19). */
    @Test
    void aWriteLeftRunningThroughAFullTurnOfTheRingIsStillWaitedFor() throws Exception {
        for (int gaveUp : new int[] {InFlightWrites.SLOTS - 1, InFlightWrites.SLOTS + 3}) {
            InFlightWrites writes = new InFlightWrites();
            int longWrite = writes.enter();
            for (int i = 0; i < gaveUp; i++) {
                int quick = writes.enter();
                writes.exit(quick);
                writes.drain(() -> true, n -> {}); // each gives up at once
            }
            CountDownLatch waiting = new CountDownLatch(POLLS);
            CompletableFuture<Boolean> fence = drainInBackground(writes, waiting);
            assertThat(waiting.await(5, TimeUnit.SECONDS))
                    .as("still waiting after %d drains that gave up", gaveUp)
                    .isTrue();
            assertThat(fence).as("after %d drains that gave up", gaveUp).isNotDone();
            writes.exit(longWrite);
            assertThat(fence.get(5, TimeUnit.SECONDS)).isTrue();
        }
    }

    @Test
    void writesEnteringAfterTheFlipAreNotWaitedFor() throws Exception {
        InFlightWrites writes = new InFlightWrites();
        int before = writes.enter();
        CountDownLatch waiting = new CountDownLatch(1);
        CompletableFuture<Boolean> fence = drainInBackground(writes, waiting);
        assertThat(waiting.await(5, TimeUnit.SECONDS))
                .as("flipped, waiting for the earlier write")
                .isTrue();
        int after = writes.enter(); // sees the fence in its check: not one the fence waits for
        writes.exit(before);
        assertThat(fence.get(5, TimeUnit.SECONDS)).isTrue();
        writes.exit(after);
        assertThat(writes.drain(() -> false, n -> {})).isTrue();
    }
}
