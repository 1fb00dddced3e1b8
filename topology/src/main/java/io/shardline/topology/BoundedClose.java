package io.shardline.topology;

/** A close that may block on an unreachable ZooKeeper, run on a daemon thread and waited for a bounded time. */
final class BoundedClose {
    private BoundedClose() {}

    /**
     * Runs {@code close} on a daemon thread named {@code name} and waits up to {@code waitMs} for it.
     *
     * @return whether it ended within the wait (else it goes on in the background); false too when the caller was
     *     interrupted (its interrupt status is kept)
     */
    static boolean run(String name, long waitMs, Runnable close) {
        Thread closing = new Thread(close, name);
        closing.setDaemon(true);
        closing.start();
        try {
            closing.join(waitMs);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return !closing.isAlive();
    }
}
