package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.curator.framework.CuratorFramework;

/**
 * The application during a move: a writer that inserts users and increments balances through the driver, a batch
 * writer that inserts users 1,000 at a time (batches straddle the cutover), and a reader that reads users, recording
 * what was acknowledged; afterwards {@link #assertNothingLost} checks the move's invariants over every shard.
 */
final class MoveWorkload {
    static final List<ShardedTable> TABLES = LogicalCopyIT.TABLES;
    static final int BATCH = 1_000;

    private final LocalCluster cluster;
    private final long rows;
    private final boolean retryFenced;
    private final Map<Long, AtomicLong> increments = new ConcurrentHashMap<>();
    private final List<Long> inserted = Collections.synchronizedList(new ArrayList<>());
    private final ConcurrentLinkedQueue<long[]> latencies = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
    private final AtomicLong reads = new AtomicLong();
    private final AtomicLong retried = new AtomicLong();
    private final AtomicLong batches = new AtomicLong();
    private final AtomicBoolean running = new AtomicBoolean();
    private final List<Thread> threads = new ArrayList<>();
    private final AtomicLong nextKey;

    /**
     * @param rows the users and orders {@link #load} created (keys 1..rows)
     * @param retryFenced whether a write refused with 40001 (held past fenceWaitMs) is retried, as an
     *     application does, instead of counted as an error
     * @param firstKey the first key the writer inserts (distinct per workload on one cluster)
     */
    MoveWorkload(LocalCluster cluster, long rows, boolean retryFenced, long firstKey) {
        this.cluster = cluster;
        this.rows = rows;
        this.retryFenced = retryFenced;
        this.nextKey = new AtomicLong(firstKey);
    }

    /**
     * Publishes {@link LogicalCopyIT#TABLES} in {@code cluster} (named {@code name}), loads {@code rows} rows
     * through the driver, and adds an empty shard to the cluster and its topology: ready for a move. Returns a
     * ZooKeeper client of the cluster, for the caller to close.
     */
    static CuratorFramework loadedWithEmptyShard(LocalCluster cluster, String name, long rows) throws SQLException {
        io.shardline.router.RouterClusters.publish(cluster, LogicalCopyIT.TABLES);
        CuratorFramework client =
                ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), java.time.Duration.ofSeconds(10));
        load(cluster, rows);
        int added = cluster.addShard().get(0).shard();
        ZooKeeperTopologyStore.updateTopology(
                client, name, t -> t.withShard(io.shardline.router.RouterClusters.shard(cluster, added)));
        return client;
    }

    /** The version of cluster {@code name}'s ring in ZooKeeper now. */
    static long ringVersion(CuratorFramework client, String name) {
        try {
            return TopologyCodec.ringFromJson(
                            client.getData().forPath(ZooKeeperTopologyStore.clusterPath(name) + "/ring"), "ring")
                    .version();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** The topology of cluster {@code name} in ZooKeeper now. */
    static io.shardline.topology.ClusterTopology topology(CuratorFramework client, String name) {
        try {
            return TopologyCodec.topologyFromJson(
                    client.getData().forPath(ZooKeeperTopologyStore.clusterPath(name) + "/topology"), "topology");
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Creates users and orders through the driver, with {@code rows} rows each. */
    static void load(LocalCluster cluster, long rows) throws SQLException {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE users (user_id bigint PRIMARY KEY, name text NOT NULL, balance bigint NOT NULL"
                    + " DEFAULT 0)");
            s.execute("CREATE TABLE orders (order_id bigint PRIMARY KEY, user_id bigint, amount bigint)");
            try (PreparedStatement users = c.prepareStatement("INSERT INTO users (user_id, name) VALUES (?, ?)");
                    PreparedStatement orders =
                            c.prepareStatement("INSERT INTO orders (order_id, user_id, amount) VALUES (?, ?, ?)")) {
                for (long k = 1; k <= rows; k++) {
                    users.setLong(1, k);
                    users.setString(2, "u" + k);
                    users.addBatch();
                    orders.setLong(1, k);
                    orders.setLong(2, k % 1000);
                    orders.setLong(3, k);
                    orders.addBatch();
                    if (k % 5000 == 0 || k == rows) {
                        users.executeBatch();
                        orders.executeBatch();
                    }
                }
            }
        }
    }

    /** Starts writing and reading; after {@link #stop} it may start again, keeping what it recorded. */
    void start() {
        running.set(true);
        threads.add(new Thread(this::write, "move-writer"));
        threads.add(new Thread(this::writeBatches, "move-batch-writer"));
        threads.add(new Thread(this::read, "move-reader"));
        threads.forEach(Thread::start);
    }

    void stop() throws InterruptedException {
        running.set(false);
        for (Thread t : threads) {
            t.join();
        }
        threads.clear();
    }

    /** What the application saw go wrong (none expected). */
    List<Throwable> errors() {
        return List.copyOf(errors);
    }

    /** Writes refused with 40001 and retried. */
    long retried() {
        return retried.get();
    }

    long reads() {
        return reads.get();
    }

    /** {@code [start nanos, latency nanos]} of every write. */
    List<long[]> latencies() {
        return List.copyOf(latencies);
    }

    /**
     * Every row on the shard the current ring names, exactly once; users = loaded + acknowledged inserts;
     * balances = acknowledged increments; no publication, subscription or logical slot left anywhere.
     */
    void assertNothingLost(CuratorFramework client, String clusterName) throws Exception {
        HashRing ring = TopologyCodec.ringFromJson(
                client.getData().forPath(ZooKeeperTopologyStore.clusterPath(clusterName) + "/ring"), "ring");
        long users = 0;
        long balance = 0;
        long orders = 0;
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            PgNode primary = cluster.primary(shard);
            assertThat(Long.parseLong(primary.queryString("SELECT (SELECT count(*) FROM pg_publication) +"
                            + " (SELECT count(*) FROM pg_subscription) + (SELECT count(*) FROM pg_replication_slots"
                            + " WHERE slot_type = 'logical')")))
                    .as("publications, subscriptions and logical slots left on shard %d", shard)
                    .isZero();
            assertThat(primary.queryString("SELECT to_regclass('shardline.move_barrier') IS NULL"))
                    .as("the cutover's barrier table left on shard %d", shard)
                    .isEqualTo("t");
            if (!"t".equals(primary.queryString("SELECT to_regclass('users') IS NOT NULL"))) {
                assertThat(ring.shards())
                        .as("a shard without tables owns no range")
                        .doesNotContain(shard);
                continue;
            }
            for (ShardedTable table : TABLES) {
                String hash = table.keyType().sqlHashExpression(table.keyColumn());
                String owned = ring.sqlPredicate(shard, hash);
                assertThat(Long.parseLong(primary.queryString(
                                "SELECT count(*) FROM " + table.table() + " WHERE NOT (" + owned + ")")))
                        .as("rows of %s on shard %d that the ring gives to another shard", table.table(), shard)
                        .isZero();
            }
            users += Long.parseLong(primary.queryString("SELECT count(*) FROM users"));
            balance += Long.parseLong(primary.queryString("SELECT coalesce(sum(balance), 0) FROM users"));
            orders += Long.parseLong(primary.queryString("SELECT count(*) FROM orders"));
        }
        assertThat(users).as("users = loaded + acknowledged inserts").isEqualTo(rows + inserted.size());
        assertThat(orders).isEqualTo(rows);
        assertThat(balance)
                .as("sum of balances = acknowledged increments")
                .isEqualTo(
                        increments.values().stream().mapToLong(AtomicLong::get).sum());
        // the balance of every 97th incremented user, on the shard the ring names: one query per shard
        Map<Integer, Map<Long, Long>> sampled = new HashMap<>();
        for (Map.Entry<Long, AtomicLong> e : increments.entrySet()) {
            if (e.getKey() % 97 == 0) {
                sampled.computeIfAbsent(ring.shardFor(KeyHash.hashInt8(e.getKey())), k -> new HashMap<>())
                        .put(e.getKey(), e.getValue().get());
            }
        }
        for (Map.Entry<Integer, Map<Long, Long>> owned : sampled.entrySet()) {
            Map<Long, Long> found = new HashMap<>();
            try (Connection c = cluster.primary(owned.getKey()).connect();
                    PreparedStatement ps =
                            c.prepareStatement("SELECT user_id, balance FROM users WHERE user_id = ANY(?)")) {
                ps.setArray(
                        1, c.createArrayOf("bigint", owned.getValue().keySet().toArray()));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        found.put(rs.getLong(1), rs.getLong(2));
                    }
                }
            }
            assertThat(found)
                    .as("balances of sampled users on their shard %d", owned.getKey())
                    .isEqualTo(owned.getValue());
        }
        // every acknowledged insert on the shard the ring names: one query per shard
        Map<Integer, List<Long>> byOwner = new HashMap<>();
        synchronized (inserted) {
            for (long key : inserted) {
                byOwner.computeIfAbsent(ring.shardFor(KeyHash.hashInt8(key)), k -> new ArrayList<>())
                        .add(key);
            }
        }
        for (Map.Entry<Integer, List<Long>> owned : byOwner.entrySet()) {
            try (Connection c = cluster.primary(owned.getKey()).connect();
                    PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM users WHERE user_id = ANY(?)")) {
                ps.setArray(1, c.createArrayOf("bigint", owned.getValue().toArray()));
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    assertThat(rs.getLong(1))
                            .as("acknowledged inserts present on their shard %d", owned.getKey())
                            .isEqualTo(owned.getValue().size());
                }
            }
        }
    }

    private void write() {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                PreparedStatement insert = c.prepareStatement("INSERT INTO users (user_id, name) VALUES (?, ?)");
                PreparedStatement update =
                        c.prepareStatement("UPDATE users SET balance = balance + 1 WHERE user_id = ?")) {
            while (running.get()) {
                long t0 = System.nanoTime();
                boolean isInsert = ThreadLocalRandom.current().nextInt(4) == 0;
                long key = isInsert
                        ? nextKey.getAndIncrement()
                        : ThreadLocalRandom.current().nextLong(1, rows + 1);
                while (true) {
                    try {
                        if (isInsert) {
                            insert.setLong(1, key);
                            insert.setString(2, "new");
                            insert.executeUpdate();
                            inserted.add(key);
                        } else {
                            update.setLong(1, key);
                            update.executeUpdate();
                            increments
                                    .computeIfAbsent(key, k -> new AtomicLong())
                                    .incrementAndGet();
                        }
                        break;
                    } catch (SQLException e) {
                        if (!retryFenced || !"40001".equals(e.getSQLState()) || !running.get()) {
                            errors.add(e);
                            break;
                        }
                        retried.incrementAndGet();
                        Thread.sleep(20);
                    }
                }
                latencies.add(new long[] {t0, System.nanoTime() - t0});
                Thread.sleep(1);
            }
        } catch (SQLException | InterruptedException e) {
            errors.add(e);
        }
    }

    /** Batches of {@value #BATCH} inserts of new users, one every 500 ms; a whole batch is acknowledged or not. */
    private void writeBatches() {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                PreparedStatement insert = c.prepareStatement("INSERT INTO users (user_id, name) VALUES (?, ?)")) {
            while (running.get()) {
                long first = nextKey.getAndAdd(BATCH);
                while (true) {
                    for (long key = first; key < first + BATCH; key++) {
                        insert.setLong(1, key);
                        insert.setString(2, "batch");
                        insert.addBatch();
                    }
                    try {
                        int[] counts = insert.executeBatch();
                        for (int i = 0; i < counts.length; i++) {
                            if (counts[i] != 1) {
                                errors.add(new AssertionError("batch row " + (first + i) + " count " + counts[i]));
                            }
                        }
                        for (long key = first; key < first + BATCH; key++) {
                            inserted.add(key);
                        }
                        batches.incrementAndGet();
                        break;
                    } catch (SQLException e) {
                        if (!retryFenced || !"40001".equals(e.getSQLState()) || !running.get()) {
                            errors.add(e);
                            break;
                        }
                        retried.incrementAndGet();
                        Thread.sleep(20);
                    }
                }
                Thread.sleep(500);
            }
        } catch (SQLException | InterruptedException e) {
            errors.add(e);
        }
    }

    /** Batches of inserts acknowledged. */
    long batches() {
        return batches.get();
    }

    private void read() {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                PreparedStatement ps = c.prepareStatement("SELECT name FROM users WHERE user_id = ?")) {
            while (running.get()) {
                ps.setLong(1, ThreadLocalRandom.current().nextLong(1, rows + 1));
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        errors.add(new AssertionError("a user vanished during the move"));
                    }
                }
                reads.incrementAndGet();
                Thread.sleep(2);
            }
        } catch (SQLException | InterruptedException e) {
            errors.add(e);
        }
    }
}
