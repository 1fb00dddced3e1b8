package io.shardline.router.txn;

import io.shardline.router.exec.ClusterRuntime;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The client JVM of {@link BankKillIT}: threads moving money between accounts through the driver with
 * twoPhaseCommit, each acknowledged transfer printed as {@code ack}. With probability {@code haltChance} per commit
 * it halts the JVM (as SIGKILL would) at a random point between the first PREPARE and the last COMMIT PREPARED.
 *
 * <p>Arguments: URL, accounts, transfers to make, threads, halt chance.
 */
public final class BankClient {
    private BankClient() {}

    public static void main(String[] args) throws Exception {
        String url = args[0];
        int accounts = Integer.parseInt(args[1]);
        int transfers = Integer.parseInt(args[2]);
        int threads = Integer.parseInt(args[3]);
        double haltChance = Double.parseDouble(args[4]);
        ClusterRuntime.observeTwoPhaseCommits(new TwoPhaseCommit.Observer() {
            @Override
            public void prepared(String gid, int shard) {
                maybeHalt();
            }

            @Override
            public void decided(String gid, TxnLog.Decision decision) {
                maybeHalt();
            }

            @Override
            public void committed(String gid, int shard) {
                maybeHalt();
            }

            private void maybeHalt() {
                // three or four points per commit: a third of the chance at each
                if (ThreadLocalRandom.current().nextDouble() < haltChance / 3) {
                    System.out.flush();
                    Runtime.getRuntime().halt(137);
                }
            }
        });
        AtomicInteger left = new AtomicInteger(transfers);
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Thread worker = new Thread(() -> run(url, accounts, left), "bank-" + t);
            worker.start();
            workers.add(worker);
        }
        for (Thread worker : workers) {
            worker.join();
        }
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    private static void run(String url, int accounts, AtomicInteger left) {
        try (Connection c = DriverManager.getConnection(url)) {
            c.setAutoCommit(false);
            try (PreparedStatement debit =
                            c.prepareStatement("UPDATE accounts SET balance = balance - ? WHERE id = ?");
                    PreparedStatement credit =
                            c.prepareStatement("UPDATE accounts SET balance = balance + ? WHERE id = ?")) {
                while (left.getAndDecrement() > 0) {
                    long from = 1 + ThreadLocalRandom.current().nextLong(accounts);
                    long to = 1 + ThreadLocalRandom.current().nextLong(accounts);
                    if (from == to) {
                        left.incrementAndGet();
                        continue;
                    }
                    long amount = 1 + ThreadLocalRandom.current().nextLong(50);
                    try {
                        // the lower id first on every shard: transfers never wait on each other in a cycle
                        long first = Math.min(from, to);
                        long second = Math.max(from, to);
                        update(first == from ? debit : credit, amount, first);
                        update(second == from ? debit : credit, amount, second);
                        c.commit();
                        synchronized (System.out) {
                            System.out.println("ack");
                        }
                    } catch (SQLException e) {
                        // a lock held by a transaction in doubt (lock_timeout), a retryable conflict: try another
                        c.rollback();
                        left.incrementAndGet();
                    }
                }
            }
        } catch (SQLException e) {
            System.err.println("bank client: " + e);
        }
    }

    private static void update(PreparedStatement s, long amount, long id) throws SQLException {
        s.setLong(1, amount);
        s.setLong(2, id);
        if (s.executeUpdate() != 1) {
            throw new IllegalStateException("account " + id + " is missing");
        }
    }
}
