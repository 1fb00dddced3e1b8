package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A whole move on a real cluster: a third shard added to two holding 100,000 rows in two sharded tables, while
 * a writer inserts and updates through the driver and a reader reads. Afterwards every acknowledged write is
 * there exactly once, on the shard the new ring names, and nothing of the move is left behind.
 */
class ShardMoveIT {
    static final int ROWS = 50_000;
    static final List<ShardedTable> TABLES = LogicalCopyIT.TABLES;
    static final MoveEstimate.Connector CONNECT = LogicalCopyIT.CONNECT;

    private static LocalCluster cluster;
    private static CuratorFramework client;

    @BeforeAll
    static void start() throws SQLException {
        cluster =
                LocalCluster.builder().name("move").shards(2).hubs(1).leaves(1).start();
        RouterClusters.publish(cluster, TABLES);
        client = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE users (user_id bigint PRIMARY KEY, name text NOT NULL, balance bigint NOT NULL"
                    + " DEFAULT 0)");
            s.execute("CREATE TABLE orders (order_id bigint PRIMARY KEY, user_id bigint, amount bigint)");
            try (PreparedStatement users = c.prepareStatement("INSERT INTO users (user_id, name) VALUES (?, ?)");
                    PreparedStatement orders =
                            c.prepareStatement("INSERT INTO orders (order_id, user_id, amount) VALUES (?, ?, ?)")) {
                for (long k = 1; k <= ROWS; k++) {
                    users.setLong(1, k);
                    users.setString(2, "u" + k);
                    users.addBatch();
                    orders.setLong(1, k);
                    orders.setLong(2, k % 1000);
                    orders.setLong(3, k);
                    orders.addBatch();
                    if (k % 5000 == 0) {
                        users.executeBatch();
                        orders.executeBatch();
                    }
                }
            }
        }
        int added = cluster.addShard().get(0).shard();
        ZooKeeperTopologyStore.updateTopology(client, "move", t -> t.withShard(RouterClusters.shard(cluster, added)));
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (client != null) {
            client.close();
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void aMoveUnderWritesLosesNothingAndLeavesNothingBehind() throws Exception {
        Map<Long, AtomicLong> increments = new ConcurrentHashMap<>();
        List<Long> inserted = Collections.synchronizedList(new ArrayList<>());
        ConcurrentLinkedQueue<long[]> latencies = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
        AtomicLong reads = new AtomicLong();
        AtomicBoolean running = new AtomicBoolean(true);
        Thread writer = new Thread(() -> write(running, increments, inserted, latencies, errors), "writer");
        Thread reader = new Thread(() -> read(running, reads, errors), "reader");
        writer.start();
        reader.start();
        Thread.sleep(1000);

        MoveRunner runner = new MoveRunner(
                client,
                "move",
                1,
                CONNECT,
                new PgDumpSchema(PgDumpSchema.locatePgDump(), topology(), null, CONNECT),
                source -> "host=" + source.host() + " port=" + source.port() + " dbname=shardline user=postgres",
                MoveRunner.Settings.DEFAULT,
                () -> true);
        long started = System.nanoTime();
        String id = MoveRunner.plan(client, "move", 1);
        MoveState end = runner.run(id);
        long moveMs = Duration.ofNanos(System.nanoTime() - started).toMillis();
        Thread.sleep(1000);
        running.set(false);
        writer.join();
        reader.join();

        assertThat(end).isEqualTo(MoveState.DONE);
        assertThat(errors).as("errors the application saw").isEmpty();
        HashRing ring = TopologyCodec.ringFromJson(
                client.getData().forPath(ZooKeeperTopologyStore.clusterPath("move") + "/ring"), "ring");
        assertThat(ring.shards()).containsExactlyInAnyOrder(0, 1, 2);

        // every row on the shard the new ring names, exactly once
        long users = 0;
        long balance = 0;
        long orders = 0;
        for (int shard = 0; shard < 3; shard++) {
            PgNode primary = cluster.primary(shard);
            for (ShardedTable table : TABLES) {
                String hash = table.keyType().sqlHashExpression(table.keyColumn());
                int owner = shard;
                String owned = ring.ranges().stream()
                        .filter(r -> r.shard() == owner)
                        .map(r -> "(" + r.sqlPredicate(hash) + ")")
                        .reduce((a, b) -> a + " OR " + b)
                        .orElse("false");
                assertThat(Long.parseLong(primary.queryString(
                                "SELECT count(*) FROM " + table.table() + " WHERE NOT (" + owned + ")")))
                        .as("rows of %s on shard %d that the ring gives to another shard", table.table(), shard)
                        .isZero();
            }
            users += Long.parseLong(primary.queryString("SELECT count(*) FROM users"));
            balance += Long.parseLong(primary.queryString("SELECT coalesce(sum(balance), 0) FROM users"));
            orders += Long.parseLong(primary.queryString("SELECT count(*) FROM orders"));
            assertThat(Long.parseLong(primary.queryString("SELECT (SELECT count(*) FROM pg_publication) +"
                            + " (SELECT count(*) FROM pg_subscription) + (SELECT count(*) FROM pg_replication_slots"
                            + " WHERE slot_type = 'logical')")))
                    .as("publications, subscriptions and logical slots left on shard %d", shard)
                    .isZero();
        }
        long acknowledgedIncrements =
                increments.values().stream().mapToLong(AtomicLong::get).sum();
        assertThat(users).isEqualTo(ROWS + inserted.size());
        assertThat(orders).isEqualTo(ROWS);
        assertThat(balance).as("sum of balances = acknowledged increments").isEqualTo(acknowledgedIncrements);
        for (Map.Entry<Long, AtomicLong> e : increments.entrySet()) {
            if (e.getKey() % 97 == 0) {
                assertThat(balanceOf(ring, e.getKey())).isEqualTo(e.getValue().get());
            }
        }

        List<long[]> all = new ArrayList<>(latencies);
        long[] sorted = all.stream().mapToLong(l -> l[1]).sorted().toArray();
        System.out.printf(
                "move of 1/3 of %d rows under %d writes (%.0f/s) and %d reads: %d ms; write latency p50 %.1f ms,"
                        + " p99 %.1f ms, max %.1f ms%n",
                2 * ROWS,
                all.size(),
                all.size() / ((moveMs + 2000) / 1000.0),
                reads.get(),
                moveMs,
                sorted[sorted.length / 2] / 1e6,
                sorted[(int) (sorted.length * 0.99)] / 1e6,
                sorted[sorted.length - 1] / 1e6);
        assertThat(all.size() / ((moveMs + 2000) / 1000.0))
                .as("writes per second")
                .isGreaterThan(200);
    }

    private static ClusterTopology topology() {
        try {
            return TopologyCodec.topologyFromJson(
                    client.getData().forPath(ZooKeeperTopologyStore.clusterPath("move") + "/topology"), "topology");
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static long balanceOf(HashRing ring, long key) throws SQLException {
        PgNode primary = cluster.primary(ring.shardFor(io.shardline.topology.KeyHash.hashInt8(key)));
        return Long.parseLong(primary.queryString("SELECT balance FROM users WHERE user_id = " + key));
    }

    /** Inserts new users and increments random balances through the driver, recording what was acknowledged. */
    private static void write(
            AtomicBoolean running,
            Map<Long, AtomicLong> increments,
            List<Long> inserted,
            ConcurrentLinkedQueue<long[]> latencies,
            ConcurrentLinkedQueue<Throwable> errors) {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                PreparedStatement insert = c.prepareStatement("INSERT INTO users (user_id, name) VALUES (?, ?)");
                PreparedStatement update =
                        c.prepareStatement("UPDATE users SET balance = balance + 1 WHERE user_id = ?")) {
            long next = 10_000_000;
            while (running.get()) {
                long t0 = System.nanoTime();
                try {
                    if (ThreadLocalRandom.current().nextInt(4) == 0) {
                        insert.setLong(1, next);
                        insert.setString(2, "new");
                        insert.executeUpdate();
                        inserted.add(next++);
                    } else {
                        long key = ThreadLocalRandom.current().nextLong(1, ROWS + 1);
                        update.setLong(1, key);
                        update.executeUpdate();
                        increments.computeIfAbsent(key, k -> new AtomicLong()).incrementAndGet();
                    }
                } catch (SQLException e) {
                    errors.add(e);
                }
                latencies.add(new long[] {t0, System.nanoTime() - t0});
                Thread.sleep(1);
            }
        } catch (SQLException | InterruptedException e) {
            errors.add(e);
        }
    }

    private static void read(AtomicBoolean running, AtomicLong reads, ConcurrentLinkedQueue<Throwable> errors) {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                PreparedStatement ps = c.prepareStatement("SELECT name FROM users WHERE user_id = ?")) {
            while (running.get()) {
                ps.setLong(1, ThreadLocalRandom.current().nextLong(1, ROWS + 1));
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
