package io.shardline.cli;

import io.shardline.compose.ClusterDescriptor;
import io.shardline.compose.LocalCluster;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.IOException;
import java.io.PrintWriter;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * The demo's sample workload, through the {@code jdbc:shardline:} driver like an application: a sharded
 * table {@code demo_orders}, one writer inserting and updating orders (~50 per second, each read back at once:
 * read-your-writes) and two readers of random orders (~100 per second each). Every 10 s it prints what it did,
 * which nodes served the reads and any error.
 */
final class DemoWorkload implements AutoCloseable {
    static final String TABLE = "demo_orders";
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss");

    private final PrintWriter out;
    private final String url;
    private final Path dir;
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final AtomicLong maxOrder = new AtomicLong();
    private final LongAdder writes = new LongAdder();
    private final LongAdder reads = new LongAdder();
    private final LongAdder errors = new LongAdder();
    private final Map<String, LongAdder> servedBy = new ConcurrentHashMap<>();
    private final Map<Integer, String> nodeByPort = new ConcurrentHashMap<>();
    private volatile String lastError;
    private final Thread[] threads;

    private DemoWorkload(PrintWriter out, LocalCluster cluster, String url) {
        this.out = out;
        this.url = url;
        this.dir = cluster.dir();
        cluster.nodes().forEach(n -> nodeByPort.put(n.port(), n.name()));
        threads = new Thread[] {
            new Thread(this::write, "demo-writer"),
            new Thread(this::read, "demo-reader-1"),
            new Thread(this::read, "demo-reader-2"),
            new Thread(this::report, "demo-report")
        };
    }

    /** Declares and creates {@code demo_orders}, then starts the workload's threads. */
    static DemoWorkload start(PrintWriter out, LocalCluster cluster, String url, ZooKeeperTopologyStore store)
            throws SQLException {
        ZooKeeperTopologyStore.updateTopology(
                store.client(),
                cluster.name(),
                t -> t.withTable(new ShardedTable("public", TABLE, "order_id", KeyType.INTEGER)));
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS " + TABLE + " (order_id bigint PRIMARY KEY, customer text NOT NULL,"
                    + " amount numeric(10,2) NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())");
        }
        DemoWorkload workload = new DemoWorkload(out, cluster, url);
        for (Thread t : workload.threads) {
            t.setDaemon(true);
            t.start();
        }
        return workload;
    }

    private void write() {
        loop(20, c -> {
            try (PreparedStatement insert = c.prepareStatement(
                            "INSERT INTO " + TABLE + " (order_id, customer, amount) VALUES (?, ?, ?)");
                    PreparedStatement update = c.prepareStatement(
                            "UPDATE " + TABLE + " SET amount = amount + ?, updated_at = now() WHERE order_id = ?");
                    PreparedStatement check = c.prepareStatement(
                            "SELECT amount, inet_server_port() FROM " + TABLE + " WHERE order_id = ?")) {
                ThreadLocalRandom random = ThreadLocalRandom.current();
                long id;
                if (maxOrder.get() < 100 || random.nextInt(3) == 0) {
                    id = maxOrder.incrementAndGet();
                    insert.setLong(1, id);
                    insert.setString(2, "customer-" + random.nextInt(1000));
                    insert.setBigDecimal(3, BigDecimal.valueOf(random.nextInt(10_000), 2));
                    insert.executeUpdate();
                } else {
                    id = 1 + random.nextLong(maxOrder.get());
                    update.setBigDecimal(1, BigDecimal.ONE);
                    update.setLong(2, id);
                    update.executeUpdate();
                }
                writes.increment();
                check.setLong(1, id);
                readOne(check);
            }
        });
    }

    private void read() {
        loop(10, c -> {
            try (PreparedStatement ps =
                    c.prepareStatement("SELECT amount, inet_server_port() FROM " + TABLE + " WHERE order_id = ?")) {
                long max = maxOrder.get();
                ps.setLong(1, max == 0 ? 1 : 1 + ThreadLocalRandom.current().nextLong(max));
                readOne(ps);
            }
        });
    }

    private void readOne(PreparedStatement ps) throws SQLException {
        try (ResultSet rs = ps.executeQuery()) {
            if (rs.next()) {
                servedBy.computeIfAbsent(nodeName(rs.getInt(2)), k -> new LongAdder())
                        .increment();
            }
        }
        reads.increment();
    }

    /** The node listening on {@code port}; shards added since the start are read from cluster.json. */
    private String nodeName(int port) {
        String name = nodeByPort.get(port);
        if (name == null) {
            try {
                ClusterDescriptor.read(dir).nodes().forEach(n -> nodeByPort.put(n.port(), n.name()));
            } catch (IOException e) {
                // keep the port as the name
            }
            name = nodeByPort.getOrDefault(port, "port " + port);
        }
        return name;
    }

    /** One unit of work on a connection of its own. */
    private interface Work {
        void run(Connection c) throws SQLException;
    }

    private void loop(long pauseMs, Work work) {
        while (running.get()) {
            try (Connection c = DriverManager.getConnection(url)) {
                while (running.get()) {
                    work.run(c);
                    Thread.sleep(pauseMs);
                }
            } catch (SQLException e) {
                errors.increment();
                lastError = e.getSQLState() + " " + e.getMessage();
                pause(1000);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private void report() {
        while (running.get()) {
            pause(10_000);
            if (!running.get()) {
                return;
            }
            Map<String, Long> served = new TreeMap<>();
            servedBy.forEach((node, n) -> served.put(node, n.sumThenReset()));
            served.values().removeIf(n -> n == 0);
            long failed = errors.sumThenReset();
            String line = String.format(
                    "%s  workload: %d writes, %d reads in 10 s; reads served by %s; %s",
                    LocalTime.now().format(TIME),
                    writes.sumThenReset(),
                    reads.sumThenReset(),
                    served.isEmpty()
                            ? "-"
                            : served.toString().replaceAll("[{}]", "").replace('=', ' '),
                    failed == 0 ? "no errors" : failed + " errors, last: " + lastError);
            synchronized (out) {
                out.println(line);
                out.flush();
            }
        }
    }

    private static void pause(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() throws InterruptedException {
        running.set(false);
        for (Thread t : threads) {
            t.interrupt();
            t.join(2000);
        }
        // the driver's pools, before the cluster they connect to stops
        ShardlineDriver.closeAll();
    }

    @Override
    public String toString() {
        return "the demo workload";
    }
}
