package io.shardline.router.exec;

import io.shardline.router.SqlStates;
import java.sql.SQLException;
import java.util.function.BooleanSupplier;

/**
 * How long the driver may hold a statement before it is sent (at a shard move's fence, while its ZooKeeper lease is
 * out): {@code fenceWaitMs}, or the statement's query timeout when that is shorter — an application's timeout
 * ({@code Statement.setQueryTimeout}, Spring's {@code @Transactional(timeout = ...)}) also bounds what the driver
 * waits — and until {@code Statement.cancel()}.
 *
 * @param fenceWaitMs the runtime's {@code fenceWaitMs}
 * @param queryTimeoutSeconds the statement's query timeout; 0 for none
 * @param canceled whether the statement was canceled meanwhile
 */
record HoldLimit(long fenceWaitMs, int queryTimeoutSeconds, BooleanSupplier canceled) {
    /** Held up to {@code fenceWaitMs}, not cancelable. */
    static HoldLimit of(long fenceWaitMs) {
        return new HoldLimit(fenceWaitMs, 0, () -> false);
    }

    /** Whether the query timeout ends the hold before {@code fenceWaitMs}. */
    private boolean byTimeout() {
        return queryTimeoutSeconds > 0 && queryTimeoutSeconds * 1_000L < fenceWaitMs;
    }

    /** How long the statement may be held, in milliseconds. */
    long ms() {
        return byTimeout() ? queryTimeoutSeconds * 1_000L : fenceWaitMs;
    }

    /**
     * The refusal of a statement held {@link #ms} (or canceled after {@code heldMs}): 40001 (retry it) after {@code
     * fenceWaitMs}; 57014 (query canceled) when its query timeout or a cancel ended the wait.
     *
     * @param why why it was held
     * @param what the statement ("the write", "this COMMIT")
     * @param notDone what did not happen ("not run", "not sent")
     * @param then what the application should do after {@code fenceWaitMs}
     */
    SQLException refused(String why, String what, String notDone, String then, long heldMs) {
        if (canceled.getAsBoolean()) {
            return new SQLException(
                    why + "; " + what + " was canceled (Statement.cancel) after it was held " + heldMs + " ms, and "
                            + notDone,
                    SqlStates.QUERY_CANCELED);
        }
        if (byTimeout()) {
            return new SQLException(
                    why + "; " + what + " was held " + ms() + " ms, its query timeout (" + queryTimeoutSeconds
                            + " s), and " + notDone,
                    SqlStates.QUERY_CANCELED);
        }
        return new SQLException(
                why + "; " + what + " was held " + fenceWaitMs + " ms (fenceWaitMs) and " + notDone + ": " + then,
                SqlStates.RETRY_WRITE);
    }
}
