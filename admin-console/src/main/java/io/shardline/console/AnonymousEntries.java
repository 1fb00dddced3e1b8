package io.shardline.console;

import java.util.function.LongSupplier;

/**
 * Keeps unauthenticated requests from flooding the audit log: up to {@link #PER_WINDOW} of their entries per
 * {@link #WINDOW_MILLIS} are stored one by one, the rest only counted, and the count is written as one summary
 * entry ({@link #drain}).
 */
final class AnonymousEntries {
    static final int PER_WINDOW = 20;
    static final long WINDOW_MILLIS = 60_000;

    /** Requests not stored one by one, from {@code firstMillis} to {@code lastMillis}; the last one's address. */
    record Suppressed(long count, long firstMillis, long lastMillis, String lastAddress) {}

    private final LongSupplier clock;
    private long windowStart = Long.MIN_VALUE;
    private int stored;
    private long suppressed;
    private long firstMillis;
    private long lastMillis;
    private String lastAddress;
    private long suppressedTotal;

    AnonymousEntries(LongSupplier clock) {
        this.clock = clock;
    }

    /** Whether an entry of a request from {@code address} is stored; if not, it is counted. */
    synchronized boolean admit(String address) {
        long now = clock.getAsLong();
        if (windowStart == Long.MIN_VALUE || now - windowStart >= WINDOW_MILLIS) {
            windowStart = now;
            stored = 0;
        }
        if (stored < PER_WINDOW) {
            stored++;
            return true;
        }
        if (suppressed == 0) {
            firstMillis = now;
        }
        suppressed++;
        suppressedTotal++;
        lastMillis = now;
        lastAddress = address;
        return false;
    }

    /** The requests counted since the last call, or null when there were none. */
    synchronized Suppressed drain() {
        if (suppressed == 0) {
            return null;
        }
        Suppressed s = new Suppressed(suppressed, firstMillis, lastMillis, lastAddress);
        suppressed = 0;
        return s;
    }

    /** Every request counted and not stored one by one since the start. */
    synchronized long suppressedTotal() {
        return suppressedTotal;
    }
}
