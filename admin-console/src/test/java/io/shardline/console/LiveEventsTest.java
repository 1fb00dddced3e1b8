package io.shardline.console;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.springframework.web.servlet.mvc.method.annotation.SseEmitter;

class LiveEventsTest {

    /** A page that reads every tick, or one whose every write blocks (a client that stopped reading). */
    private static final class Page extends SseEmitter {
        final AtomicInteger ticks = new AtomicInteger();
        final CountDownLatch blocked;
        volatile Throwable endedWith;

        Page(CountDownLatch blocked) {
            super(60_000L);
            this.blocked = blocked;
        }

        @Override
        public void send(SseEventBuilder event) throws IOException {
            if (blocked != null) {
                try {
                    blocked.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                throw new IOException("broken pipe");
            }
            ticks.incrementAndGet();
        }

        @Override
        public void completeWithError(Throwable ex) {
            endedWith = ex;
        }
    }

    @Test
    void aPageThatStopsReadingNeitherHoldsUpTheOthersNorStaysForever() throws Exception {
        AtomicInteger made = new AtomicInteger();
        LiveEvents events = new LiveEvents(
                () -> {
                    made.incrementAndGet();
                    return new LiveEvents.Tick(0, 1, 1, 0, null, List.of(), List.of(), null);
                },
                2_500);
        CountDownLatch release = new CountDownLatch(1);
        try {
            Page stalled = new Page(release);
            Page reading = new Page(null);
            events.subscribe(stalled);
            events.subscribe(reading);
            // before: one thread wrote to every page in turn, and the stalled write held every later tick
            await().atMost(Duration.ofSeconds(10)).until(() -> reading.ticks.get() >= 4);
            await().atMost(Duration.ofSeconds(10)).until(() -> stalled.endedWith != null);
            assertThat(stalled.endedWith).hasMessageContaining("stopped reading");
            int after = made.get();
            await().atMost(Duration.ofSeconds(5)).until(() -> made.get() > after + 1);
            await().atMost(Duration.ofSeconds(5)).until(() -> reading.ticks.get() >= after);
        } finally {
            release.countDown();
            events.destroy();
        }
    }
}
