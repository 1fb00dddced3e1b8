package io.shardline.router.exec;

import io.shardline.router.SqlStates;
import io.shardline.router.metrics.DriverMetrics;
import io.shardline.router.txn.TxnMarks;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;

/**
 * One snapshot per shard in which every multi-shard transaction is whole: what atomic cross-shard reads and
 * read-only REPEATABLE READ transactions spanning shards read in.
 *
 * <p>Each shard's transaction (its connection in autocommit-off mode, opened by the caller) takes its snapshot with
 * its first statement, all at once; then each shard is asked, inside its snapshot, for the {@link TxnMarks} of the
 * others (one round trip each, in parallel). A transaction committed in one shard's snapshot whose part on another
 * shard that one's snapshot does not show is seen half: every transaction is rolled back and the snapshots taken
 * again (backing off from 1 to 100 ms) until none is, for at most {@value #WAIT_MS} ms (or the query timeout).
 */
final class Snapshots {
    /** How long the snapshots are taken again while a transaction is seen half. */
    static final long WAIT_MS = 5_000;

    private final ExecutorService pool;
    private final Set<CrossShardRead.Cancellable> running;
    private final int queryTimeoutSeconds;
    private final DriverMetrics metrics;

    /** @param running where the statements running on the shards are kept while they run (for cancel) */
    Snapshots(
            ExecutorService pool,
            Set<CrossShardRead.Cancellable> running,
            int queryTimeoutSeconds,
            DriverMetrics metrics) {
        this.metrics = metrics;
        this.pool = pool;
        this.running = running;
        this.queryTimeoutSeconds = queryTimeoutSeconds;
    }

    /**
     * Takes the snapshots on {@code sources} (connections with autocommit off, no transaction open): on return each
     * holds its snapshot in an open transaction; on failure every one was rolled back.
     *
     * @param begin the statement each transaction starts with, before its snapshot ({@code SET TRANSACTION ...})
     * @throws SQLException 40001 naming the transaction still half committed after that (in doubt: recovery or
     *     {@code txn recover} finishes it); a shard's error as {@link CrossShardRead.SourceFailed}
     */
    void take(List<Physical> sources, String begin) throws SQLException {
        long waitMs = queryTimeoutSeconds > 0 ? Math.min(WAIT_MS, queryTimeoutSeconds * 1000L) : WAIT_MS;
        long deadline = System.nanoTime() + waitMs * 1_000_000;
        long backoffMs = 1;
        while (true) {
            String half;
            try {
                half = once(sources, begin);
            } catch (SQLException e) {
                rollback(sources);
                throw e;
            }
            if (half == null) {
                return;
            }
            rollback(sources);
            if (System.nanoTime() - deadline > 0) {
                throw new SQLException(
                        "no moment was found within " + waitMs + " ms at which every shard shows multi-shard"
                                + " transactions whole: " + half + ". If it stays so, the transaction is in doubt"
                                + " ('./shardline txn in-doubt'; recovery finishes it); retry, or read with"
                                + " crossShardConsistency=relaxed",
                        SqlStates.RETRY_WRITE);
            }
            try {
                Thread.sleep(backoffMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SQLException("interrupted while reading the shards", "57014", e);
            }
            backoffMs = Math.min(100, backoffMs * 2);
            metrics.retry(DriverMetrics.Retry.SNAPSHOT_RETAKEN);
        }
    }

    /** Ends each source's transaction (a broken connection is left to the caller's failure handling). */
    private static void rollback(List<Physical> sources) {
        for (Physical p : sources) {
            try {
                p.connection.rollback();
            } catch (SQLException e) {
                // a broken connection: the statement's failure reports it
            }
        }
    }

    /** One attempt: null when the snapshots are consistent (left open), else what is seen half. */
    private String once(List<Physical> order, String begin) throws SQLException {
        List<TxnMarks.Snapshot> snapshots = new ArrayList<>();
        List<Boolean> marked = new ArrayList<>();
        for (Object[] taken : parallel(order, p -> snapshot(p, begin))) {
            snapshots.add((TxnMarks.Snapshot) taken[0]);
            marked.add((Boolean) taken[1]);
        }
        List<String> half = parallel(order, p -> {
            int me = order.indexOf(p);
            if (!marked.get(me) || order.size() < 2) {
                return null;
            }
            try (PreparedStatement ps = p.connection.prepareStatement(TxnMarks.unseen(order.size() - 1))) {
                int index = 1;
                for (int i = 0; i < order.size(); i++) {
                    if (i == me) {
                        continue;
                    }
                    TxnMarks.Snapshot other = snapshots.get(i);
                    ps.setInt(index++, order.get(i).shard);
                    ps.setString(index++, Long.toUnsignedString(other.xmin()));
                    ps.setString(index++, Long.toUnsignedString(other.xmax()));
                    String[] xip = new String[other.xip().length];
                    for (int x = 0; x < xip.length; x++) {
                        xip[x] = Long.toUnsignedString(other.xip()[x]);
                    }
                    ps.setArray(index++, p.connection.createArrayOf("text", xip));
                }
                CrossShardRead.Cancellable cancel = ps::cancel;
                running.add(cancel);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        int other = rs.getInt(2);
                        for (int i = 0; i < order.size(); i++) {
                            if (order.get(i).shard == other
                                    && !snapshots.get(i).sees(Long.parseUnsignedLong(rs.getString(3)))) {
                                return "transaction " + rs.getString(1) + " is committed on shard " + p.shard
                                        + " and not yet on shard " + other;
                            }
                        }
                    }
                } finally {
                    running.remove(cancel);
                }
            }
            return null;
        });
        for (String h : half) {
            if (h != null) {
                return h;
            }
        }
        return null;
    }

    /** Starts {@code p}'s transaction: its snapshot, and whether the shard has {@link TxnMarks#TABLE}. */
    private Object[] snapshot(Physical p, String begin) throws SQLException {
        try (Statement s = p.connection.createStatement()) {
            CrossShardRead.Cancellable cancel = s::cancel;
            running.add(cancel);
            try {
                s.execute(begin + "; " + TxnMarks.SNAPSHOT);
            } finally {
                running.remove(cancel);
            }
            while (!s.getMoreResults() && s.getUpdateCount() != -1) {
                // past SET's update count to the snapshot's rows
            }
            try (ResultSet rs = s.getResultSet()) {
                rs.next();
                return new Object[] {TxnMarks.Snapshot.parse(rs.getString(1)), rs.getBoolean(2)};
            }
        }
    }

    /** A task on one source that may fail with the shard's error. */
    @FunctionalInterface
    private interface OnSource<T> {
        T run(Physical p) throws SQLException;
    }

    /**
     * Runs {@code task} on every source at once (the first on the calling thread); their results in order, or the
     * first failure as the shard's.
     */
    private <T> List<T> parallel(List<Physical> order, OnSource<T> task) throws SQLException {
        List<Callable<T>> tasks = new ArrayList<>(order.size());
        for (Physical p : order) {
            tasks.add(() -> task.run(p));
        }
        List<Future<T>> futures = CrossShardRead.fanOut(pool, tasks, true);
        List<T> results = new ArrayList<>();
        CrossShardRead.SourceFailed failure = null;
        boolean interrupted = false;
        for (int i = 0; i < futures.size(); i++) {
            try {
                results.add(futures.get(i).get());
            } catch (ExecutionException e) {
                if (failure == null) {
                    failure = CrossShardRead.SourceFailed.of(order.get(i), e);
                }
            } catch (InterruptedException e) {
                interrupted = true;
                futures.forEach(CrossShardRead::awaitQuietly);
                break;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
            throw new SQLException("interrupted while reading the shards", "57014");
        }
        if (failure != null) {
            throw failure;
        }
        return results;
    }
}
