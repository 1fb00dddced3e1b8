package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.ReferenceTable;
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
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A shard added to a cluster with a reference table gets it before it owns ranges: a move to the new shard while
 * writers keep updating and inserting reference rows (some held at the cutover) ends with every shard's copy alike
 * and every acknowledged write in it, and a sharded table's foreign key to the reference table holds on the new
 * shard.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ReferenceTableMoveIT {
    private static final int ITEMS = 200;
    private static final int HOLDERS = 3_000;
    private static LocalCluster cluster;
    private static CuratorFramework client;
    private static String url;

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder()
                .name("refmove")
                .shards(2)
                .hubs(0)
                .leaves(0)
                .start();
        RouterClusters.publish(
                cluster,
                List.of(new ShardedTable("public", "holding", "acct_id", KeyType.INTEGER)),
                // item references category, yet is declared first: the new shard gets category first
                List.of(new ReferenceTable("public", "item"), new ReferenceTable("public", "category")));
        url = cluster.shardlineUrl() + "?twoPhaseCommit=true";
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE category (c_id serial PRIMARY KEY, name text NOT NULL)");
            for (String name : List.of("tools", "toys", "books")) {
                s.executeUpdate("INSERT INTO category (name) VALUES ('" + name + "')"); // ids from each copy's sequence
            }
            s.execute("CREATE TABLE item (i_id int PRIMARY KEY, qty bigint NOT NULL DEFAULT 0,"
                    + " c_id int NOT NULL DEFAULT 1 REFERENCES category)");
            s.execute("CREATE TABLE holding (acct_id bigint NOT NULL, i_id int NOT NULL REFERENCES item,"
                    + " PRIMARY KEY (acct_id, i_id))");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO item VALUES (?, 0)")) {
                for (int i = 1; i <= ITEMS; i++) {
                    ps.setInt(1, i);
                    ps.addBatch();
                }
                ps.executeBatch();
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO holding VALUES (?, ?)")) {
                for (long a = 1; a <= HOLDERS; a++) {
                    ps.setLong(1, a);
                    ps.setInt(2, (int) (a % ITEMS) + 1);
                    ps.addBatch();
                }
                ps.executeBatch();
            }
        }
        client = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        int added = cluster.addShard().get(0).shard();
        ZooKeeperTopologyStore.updateTopology(
                client, "refmove", t -> t.withShard(RouterClusters.shard(cluster, added)));
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

    /** The item table of shard {@code shard}'s primary, as text. */
    private static String items(int shard) throws SQLException {
        try (Connection c = cluster.primary(shard).connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*), coalesce(sum(qty), 0),"
                        + " md5(coalesce(string_agg(i_id || ':' || qty, ',' ORDER BY i_id), '')) FROM item")) {
            rs.next();
            return rs.getLong(1) + " rows, qty " + rs.getLong(2) + ", " + rs.getString(3);
        }
    }

    @Test
    void aNewShardGetsTheReferenceTablesWhileTheyAreWritten() throws Exception {
        try (Connection c = cluster.primary(2).connect();
                ResultSet rs = c.createStatement().executeQuery("SELECT to_regclass('item') IS NULL")) {
            rs.next();
            assertThat(rs.getBoolean(1))
                    .as("the new shard has no copy before the move")
                    .isTrue();
        }
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicLong increments = new AtomicLong();
        AtomicLong inserted = new AtomicLong();
        AtomicLong held = new AtomicLong();
        ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
        List<Thread> writers = List.of(
                new Thread(() -> {
                    try (Connection c = DriverManager.getConnection(url + "&fenceWaitMs=5000");
                            PreparedStatement ps = c.prepareStatement("UPDATE item SET qty = qty + 1 WHERE i_id = ?")) {
                        while (running.get()) {
                            ps.setInt(1, ThreadLocalRandom.current().nextInt(1, ITEMS + 1));
                            long t0 = System.nanoTime();
                            if (ps.executeUpdate() == 1) {
                                increments.incrementAndGet();
                            }
                            if (System.nanoTime() - t0 > 50_000_000L) {
                                held.incrementAndGet(); // waited at the cutover's fence
                            }
                        }
                    } catch (SQLException e) {
                        errors.add(e.getSQLState() + " " + e.getMessage());
                    }
                }),
                new Thread(() -> {
                    try (Connection c = DriverManager.getConnection(url + "&fenceWaitMs=5000");
                            PreparedStatement ps = c.prepareStatement("INSERT INTO item VALUES (?, 1)")) {
                        for (int i = ITEMS + 1; running.get(); i++) {
                            ps.setInt(1, i);
                            ps.executeUpdate();
                            inserted.incrementAndGet();
                        }
                    } catch (SQLException e) {
                        errors.add(e.getSQLState() + " " + e.getMessage());
                    }
                }));
        writers.forEach(Thread::start);
        Thread.sleep(500);

        MoveRunner runner = new MoveRunner(
                client,
                "refmove",
                1,
                ShardMoveIT.CONNECT,
                new PgDumpSchema(
                        PgDumpSchema.locatePgDump(),
                        MoveWorkload.topology(client, "refmove"),
                        null,
                        ShardMoveIT.CONNECT),
                source -> "host=" + source.host() + " port=" + source.port() + " dbname=shardline user=postgres",
                MoveRunner.Settings.DEFAULT,
                () -> true);
        MoveState end = runner.run(MoveRunner.plan(client, "refmove", 1));
        Thread.sleep(500);
        running.set(false);
        for (Thread w : writers) {
            w.join(30_000);
        }

        assertThat(end).isEqualTo(MoveState.DONE);
        assertThat(errors).as("errors the writers saw").isEmpty();
        assertThat(increments.get()).as("reference updates acknowledged").isGreaterThan(50);
        String expected = (ITEMS + inserted.get()) + " rows, qty " + (increments.get() + inserted.get()) + ", ";
        String home = items(0);
        assertThat(home).startsWith(expected);
        for (int shard = 1; shard < 3; shard++) {
            assertThat(items(shard)).as("shard %d's copy", shard).isEqualTo(home);
        }

        // the new shard owns ranges now: its holdings' foreign key to the reference table holds there
        HashRing ring = TopologyCodec.ringFromJson(
                client.getData().forPath(ZooKeeperTopologyStore.clusterPath("refmove") + "/ring"), "ring");
        long onNew = 1;
        while (ring.shardFor(KeyHash.hashInt8(onNew)) != 2) {
            onNew++;
        }
        long acct = onNew;
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            assertThatThrownBy(() -> s.executeUpdate("INSERT INTO holding VALUES (" + acct + ", 999999)"))
                    .isInstanceOf(SQLException.class)
                    .extracting(e -> ((SQLException) e).getSQLState())
                    .isEqualTo("23503");
            s.executeUpdate("INSERT INTO holding VALUES (" + acct + ", " + ITEMS + ") ON CONFLICT DO NOTHING");
            // and a write to the reference table now reaches its copy too
            s.executeUpdate("UPDATE item SET qty = -1 WHERE i_id = 1");
        }
        for (int shard = 0; shard < 3; shard++) {
            try (Connection c = cluster.primary(shard).connect();
                    ResultSet rs = c.createStatement().executeQuery("SELECT qty FROM item WHERE i_id = 1")) {
                rs.next();
                assertThat(rs.getLong(1)).as("shard %d", shard).isEqualTo(-1);
            }
        }
        // the new shard's copy of the sequence was set as the source's: a default id is the same on every copy
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.executeUpdate("INSERT INTO category (name) VALUES ('games')");
        }
        for (int shard = 0; shard < 3; shard++) {
            try (Connection c = cluster.primary(shard).connect();
                    ResultSet rs = c.createStatement()
                            .executeQuery("SELECT string_agg(c_id || name, ',' ORDER BY c_id) FROM category")) {
                rs.next();
                assertThat(rs.getString(1)).as("shard %d", shard).isEqualTo("1tools,2toys,3books,4games");
            }
        }
        System.out.printf(
                "move to a new shard under reference writes: %d updates and %d inserts acknowledged, %d held at the"
                        + " cutover%n",
                increments.get(), inserted.get(), held.get());
    }
}
