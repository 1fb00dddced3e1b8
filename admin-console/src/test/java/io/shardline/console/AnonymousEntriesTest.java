package io.shardline.console;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class AnonymousEntriesTest {
    private final AtomicLong now = new AtomicLong(5_000);
    private final AnonymousEntries entries = new AnonymousEntries(now::get);

    @Test
    void overTheLimitAMinuteRequestsAreCountedAndSummedUpOnce() {
        for (int i = 0; i < AnonymousEntries.PER_WINDOW; i++) {
            assertThat(entries.admit("10.0.0.1")).as("request %d", i + 1).isTrue();
        }
        assertThat(entries.drain()).isNull();
        now.addAndGet(10);
        for (int i = 0; i < 1000; i++) {
            now.incrementAndGet();
            assertThat(entries.admit(i == 999 ? "10.0.0.2" : "10.0.0.1")).isFalse();
        }
        AnonymousEntries.Suppressed s = entries.drain();
        assertThat(s).isEqualTo(new AnonymousEntries.Suppressed(1000, 5_011, 6_010, "10.0.0.2"));
        assertThat(entries.drain()).as("drained").isNull();
        assertThat(entries.suppressedTotal()).isEqualTo(1000);
    }

    @Test
    void aNewMinuteStoresAgain() {
        for (int i = 0; i <= AnonymousEntries.PER_WINDOW; i++) {
            entries.admit("10.0.0.1");
        }
        now.addAndGet(AnonymousEntries.WINDOW_MILLIS);
        assertThat(entries.admit("10.0.0.1")).isTrue();
        assertThat(entries.drain().count()).isEqualTo(1);
    }
}
