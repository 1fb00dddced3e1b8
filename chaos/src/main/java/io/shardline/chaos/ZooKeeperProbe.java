package io.shardline.chaos;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooKeeper;

/**
 * How long ZooKeeper did not answer a client, as a client sees it: a session of its own on the whole ensemble asks
 * {@code exists /} every 20 ms, and every pause between two answers longer than {@link #GAP_MS} is kept. A server's own
 * word ({@code srvr}: "leader") says nothing of the clients: a survivor of a lost quorum still calls itself leader
 * for a moment, and a new leader serves only once the followers synced and the clients reconnected.
 */
final class ZooKeeperProbe implements AutoCloseable {
    static final long GAP_MS = 150;
    private static final int SESSION_TIMEOUT_MS = 10_000;

    private final String connectString;
    /** Pauses between two answers: {start, end} in {@link System#currentTimeMillis()}. */
    private final List<long[]> gaps = new CopyOnWriteArrayList<>();

    private final Thread thread;
    private volatile boolean running = true;
    private volatile long lastAnswer;

    ZooKeeperProbe(String connectString) {
        this.connectString = connectString;
        this.lastAnswer = System.currentTimeMillis();
        this.thread = new Thread(this::run, "chaos-zookeeper-probe");
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        ZooKeeper zk = null;
        while (running) {
            try {
                if (zk == null) {
                    zk = new ZooKeeper(connectString, SESSION_TIMEOUT_MS, event -> {});
                }
                zk.exists("/", false);
                long now = System.currentTimeMillis();
                if (now - lastAnswer > GAP_MS) {
                    gaps.add(new long[] {lastAnswer, now});
                }
                lastAnswer = now;
            } catch (KeeperException.SessionExpiredException e) {
                close(zk);
                zk = null;
            } catch (InterruptedException e) {
                break;
            } catch (Exception e) {
                // no answer: the gap grows
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                break;
            }
        }
        close(zk);
    }

    private static void close(ZooKeeper zk) {
        if (zk == null) {
            return;
        }
        try {
            zk.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Waits until ZooKeeper answered after {@code healedMs}, then returns the longest pause between two answers that
     * overlaps {@code [fromMs, healedMs]} (0 when none was longer than {@link #GAP_MS}).
     */
    long outageMs(long fromMs, long healedMs) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 60_000;
        while (lastAnswer <= healedMs) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("ZooKeeper did not answer a client 60 s after the fault was healed");
            }
            Thread.sleep(20);
        }
        long longest = 0;
        for (long[] gap : new ArrayList<>(gaps)) {
            if (gap[1] >= fromMs && gap[0] <= healedMs) {
                longest = Math.max(longest, gap[1] - gap[0]);
            }
        }
        return longest;
    }

    @Override
    public void close() throws InterruptedException {
        running = false;
        thread.interrupt();
        thread.join(5_000);
    }
}
