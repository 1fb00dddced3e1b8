package io.shardline.router.route;

/**
 * Whether reads may go to one replica. A connection-level error ejects it at once (open); while open, a
 * background probe tries it after a back-off (the half-open step: one probe, never an application's request);
 * a probe that succeeds lets reads in again (closed), one that fails doubles the back-off up to a ceiling.
 *
 * <p>Worked example, base 500 ms, ceiling 10 s: failure at t=0 -> open, probe due at 500; probe fails at 500
 * -> due at 1500; fails -> due at 3500; succeeds at 3500 -> closed; a later failure starts again at 500 ms.
 *
 * <p>Thread-safe; {@link #isClosed()} is one volatile read, for the per-statement path.
 */
public final class CircuitBreaker {
    private final long baseMs;
    private final long ceilingMs;
    private volatile boolean open;
    private volatile int ejections;
    private long backoffMs;
    private long probeAtMillis;

    public CircuitBreaker(long baseMs, long ceilingMs) {
        if (baseMs <= 0 || ceilingMs < baseMs) {
            throw new IllegalArgumentException("need 0 < base <= ceiling, not " + baseMs + " and " + ceilingMs);
        }
        this.baseMs = baseMs;
        this.ceilingMs = ceilingMs;
    }

    /** Whether reads may go to the replica. */
    public boolean isClosed() {
        return !open;
    }

    /**
     * A connection-level error on the replica: opens the breaker. Errors while it is already open (requests
     * that were in flight) change nothing.
     *
     * @return whether this error opened it
     */
    public synchronized boolean recordFailure(long nowMillis) {
        if (open) {
            return false;
        }
        open = true;
        ejections++;
        backoffMs = baseMs;
        probeAtMillis = nowMillis + backoffMs;
        return true;
    }

    /**
     * How many times the replica was ejected: a connection opened before the last ejection may be a dead
     * socket to a process that has since been restarted, and is not reused.
     */
    public int ejections() {
        return ejections;
    }

    /** Whether the background probe should try the replica now. */
    public synchronized boolean probeDue(long nowMillis) {
        return open && nowMillis >= probeAtMillis;
    }

    /** The outcome of a probe: success closes the breaker, failure doubles the back-off. */
    public synchronized void recordProbe(boolean succeeded, long nowMillis) {
        if (succeeded) {
            open = false;
            backoffMs = 0;
            return;
        }
        backoffMs = Math.min(ceilingMs, Math.max(baseMs, backoffMs * 2));
        probeAtMillis = nowMillis + backoffMs;
    }

    /** When the next probe is due (epoch ms), for messages; meaningless while closed. */
    public synchronized long probeAtMillis() {
        return probeAtMillis;
    }
}
