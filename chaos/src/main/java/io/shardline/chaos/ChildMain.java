package io.shardline.chaos;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.shardline.monitor.ReplicationMonitor;
import io.shardline.rebalancer.MoveRunner;
import io.shardline.rebalancer.Rebalancer;
import io.shardline.router.TcpProxy;
import io.shardline.router.exec.ClusterRuntime;
import io.shardline.router.txn.TwoPhaseCommit;
import io.shardline.router.txn.TxnLog;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.curator.framework.CuratorFramework;

/**
 * The processes the nemesis kills and pauses, each in a JVM of its own, as {@code ./shardline} runs them:
 *
 * <ul>
 *   <li>{@code monitor ZK CLUSTER}: the replication monitor, heartbeats and samples every 100 ms, reaching each node
 *       through a proxy that {@code cut NODE} and {@code restore NODE} on standard input partition;
 *   <li>{@code rebalancer ZK CLUSTER}: a rebalancer with the default settings;
 *   <li>{@code bank URL ACCOUNTS THREADS}: a router moving money between accounts with two-phase commit. Each
 *       transfer prints {@code op OUTCOME INVOKE_MS COMPLETE_MS}. A line {@code halt} on standard input makes it
 *       halt (as SIGKILL would) at the next point between its first PREPARE and its last COMMIT PREPARED;
 *       {@code stop} makes it finish its transfers and exit.
 * </ul>
 */
public final class ChildMain {
    private ChildMain() {}

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "monitor" -> monitor(args[1], args[2]);
            case "rebalancer" -> rebalancer(args[1], args[2]);
            case "bank" -> bank(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            default -> throw new IllegalArgumentException("unknown process '" + args[0] + "'");
        }
    }

    /**
     * The monitor reaches every node through a TCP proxy of its own: {@code cut NODE} on standard input partitions
     * it from that node (its connections there closed, new ones refused), {@code restore NODE} ends the partition.
     */
    private static void monitor(String zk, String cluster) throws IOException {
        Map<String, TcpProxy> proxies = new ConcurrentHashMap<>();
        ReplicationMonitor.Connector throughProxy = (node, url, props) -> {
            TcpProxy proxy = proxies.computeIfAbsent(node.name(), n -> {
                try {
                    return new TcpProxy(node.address());
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            return DriverManager.getConnection(url.replace(node.address(), proxy.address()), props);
        };
        ZooKeeperTopologyStore store = ZooKeeperTopologyStore.connect(zk, cluster, Duration.ofSeconds(10));
        ReplicationMonitor monitor = new ReplicationMonitor(
                store, ChaosCluster.HEARTBEAT, ChaosCluster.HEARTBEAT, null, new SimpleMeterRegistry(), throughProxy);
        monitor.start();
        started();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                String[] command = line.split(" ");
                TcpProxy proxy = command.length == 2 ? proxies.get(command[1]) : null;
                if (proxy != null && command[0].equals("cut")) {
                    proxy.cut();
                } else if (proxy != null && command[0].equals("restore")) {
                    proxy.restore();
                }
            }
        }
        monitor.close();
    }

    private static void rebalancer(String zk, String cluster) throws Exception {
        CuratorFramework client = ZooKeeperTopologyStore.newClient(zk, Duration.ofSeconds(10));
        Rebalancer.forCluster(client, cluster, null, MoveRunner.Settings.DEFAULT)
                .start();
        started();
        Thread.currentThread().join();
    }

    private static void started() {
        System.out.println("started");
        System.out.flush();
    }

    private static void bank(String url, int accounts, int threads) throws Exception {
        AtomicBoolean halt = new AtomicBoolean();
        AtomicBoolean stop = new AtomicBoolean();
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
                // armed: halt at one of the points a commit passes, chosen at random
                if (halt.get() && ThreadLocalRandom.current().nextInt(3) == 0) {
                    System.out.flush();
                    Runtime.getRuntime().halt(137);
                }
            }
        });
        started(); // before any transfer's line
        Thread[] workers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            workers[t] = new Thread(() -> transfers(url, accounts, stop), "bank-" + t);
            workers[t].start();
        }
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                if (line.equals("halt")) {
                    halt.set(true);
                } else if (line.equals("stop")) {
                    break;
                }
            }
        }
        stop.set(true);
        for (Thread w : workers) {
            w.join();
        }
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    private static void transfers(String url, int accounts, AtomicBoolean stop) {
        while (!stop.get()) {
            try (Connection c = DriverManager.getConnection(url)) {
                c.setAutoCommit(false);
                try (PreparedStatement debit =
                                c.prepareStatement("UPDATE accounts SET balance = balance - ? WHERE id = ?");
                        PreparedStatement credit =
                                c.prepareStatement("UPDATE accounts SET balance = balance + ? WHERE id = ?")) {
                    while (!stop.get()) {
                        if (!transfer(c, debit, credit, accounts)) {
                            break; // the connection may be broken: a new one
                        }
                    }
                }
            } catch (SQLException e) {
                pause();
            }
        }
    }

    /** One transfer, printed with its outcome; false when it failed in a way that calls for a new connection. */
    private static boolean transfer(Connection c, PreparedStatement debit, PreparedStatement credit, int accounts) {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        long from = 1 + random.nextLong(accounts);
        long to = 1 + random.nextLong(accounts - 1);
        if (to >= from) {
            to++;
        }
        long amount = 1 + random.nextLong(50);
        long first = Math.min(from, to);
        long second = Math.max(from, to);
        long invoked = System.currentTimeMillis();
        boolean committing = false;
        try {
            update(first == from ? debit : credit, amount, first);
            update(second == from ? debit : credit, amount, second);
            committing = true;
            c.commit();
            print(Op.Outcome.OK, invoked);
            return true;
        } catch (SQLException e) {
            print(committing && !ChaosWorkload.definite(e) ? Op.Outcome.UNKNOWN : Op.Outcome.FAILED, invoked);
            try {
                c.rollback();
            } catch (SQLException ignored) {
                return false;
            }
            pause();
            return !committing;
        }
    }

    private static void update(PreparedStatement s, long amount, long id) throws SQLException {
        s.setLong(1, amount);
        s.setLong(2, id);
        if (s.executeUpdate() != 1) {
            throw new SQLException("account " + id + " is missing", "P0002");
        }
    }

    private static void print(Op.Outcome outcome, long invoked) {
        long now = System.currentTimeMillis();
        synchronized (System.out) {
            System.out.println("op " + outcome + " " + invoked + " " + now);
        }
    }

    private static void pause() {
        try {
            Thread.sleep(20);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
