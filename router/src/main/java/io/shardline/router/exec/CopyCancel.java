package io.shardline.router.exec;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.postgresql.PGConnection;

/**
 * A COPY cancelled from another thread than the one reading or writing it, which may be waiting on a shard's server
 * (behind a lock there, or on the output of a statement that runs long) while it holds the COPY's lock: the servers
 * the COPY reached are asked to cancel until that thread lets go — asked again, as a part may be only starting when
 * first asked, and a server ignores a cancel of an idle connection. A server that does not answer (down, cut off)
 * would keep the thread waiting: after {@link #ABORT_MS} the connections are closed on this side, which ends any wait
 * on them.
 */
final class CopyCancel {
    /** How often the servers are asked again while the other thread waits. */
    private static final long REPEAT_MS = 200;

    /** How long the servers are asked before their connections are closed on this side. */
    private static final long ABORT_MS = 2_000;

    private CopyCancel() {}

    /** The connections a cancel reaches now (none once the COPY ended: they may be back in their pools). */
    interface Reached {
        Iterable<Physical> now();
    }

    /**
     * Takes {@code lock}, asking the servers of {@code reached} to cancel while another thread holds it. An interrupt
     * of the calling thread does not stop the cancel; it is set again when the lock is taken. The caller unlocks.
     */
    static void lock(ReentrantLock lock, Reached reached) {
        if (lock.tryLock()) {
            return;
        }
        boolean interrupted = false;
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ABORT_MS);
        boolean aborted = false;
        while (true) {
            for (Physical p : reached.now()) {
                cancel(p);
            }
            try {
                if (lock.tryLock(REPEAT_MS, TimeUnit.MILLISECONDS)) {
                    break;
                }
            } catch (InterruptedException e) {
                interrupted = true;
            }
            if (!aborted && System.nanoTime() - deadline > 0) {
                aborted = true;
                for (Physical p : reached.now()) {
                    abort(p);
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Asks {@code p}'s server to cancel what it runs (pgjdbc sends it on a connection of its own). */
    private static void cancel(Physical p) {
        try {
            p.connection.unwrap(PGConnection.class).cancelQuery();
        } catch (SQLException | RuntimeException e) {
            // the COPY still ends once the other thread lets go
        }
    }

    /** Closes {@code p}'s connection on this side: a thread waiting on it fails at once. */
    private static void abort(Physical p) {
        try {
            ((Connection) p.connection.unwrap(PGConnection.class)).abort(Runnable::run);
        } catch (SQLException | RuntimeException e) {
            // nothing more this side can do: the waiting thread's own timeout ends its wait
        }
    }
}
