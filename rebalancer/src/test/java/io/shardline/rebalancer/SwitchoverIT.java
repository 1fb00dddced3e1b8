package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineConnection;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.KeyType;
import io.shardline.topology.Node;
import io.shardline.topology.Shard;
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
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
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
 * A planned switchover of shard 0's primary to a hub while the driver writes ~200 times a second (autocommit
 * inserts and short transactions on both shards): no write fails, every acknowledged row is on the new primary,
 * the old primary takes no write, the other hub streams from the new primary, and the driver follows without a
 * restart.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class SwitchoverIT {
    private static final List<ShardedTable> TABLES =
            List.of(new ShardedTable("public", "accounts", "id", KeyType.INTEGER));

    private static LocalCluster cluster;
    private static CuratorFramework client;

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder()
                .name("switchover")
                .shards(2)
                .hubs(2)
                .leaves(1)
                .start();
        RouterClusters.publish(cluster, TABLES);
        client = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL DEFAULT 0)");
            s.execute("CREATE SEQUENCE ids"); // on the home shard, 0
        }
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
    void aSwitchoverUnderWritesFailsNoWriteAndTheDriverFollowsIt() throws Exception {
        Queue<String> failures = new ConcurrentLinkedQueue<>();
        AtomicLong inserted = new AtomicLong();
        AtomicLong transactions = new AtomicLong();
        AtomicLong maxNanos = new AtomicLong();
        AtomicBoolean writing = new AtomicBoolean(true);
        Thread inserts = new Thread(() -> insert(writing, inserted, maxNanos, failures), "inserts");
        Thread transfers = new Thread(() -> transfer(writing, transactions, maxNanos, failures), "transfers");
        Thread ids = new Thread(() -> nextval(writing, failures), "ids");
        inserts.start();
        transfers.start();
        ids.start();
        // commits wait for one of the hubs: the promoted hub commits so too (the other hub streams from it)
        String names = "ANY 1 (\"s0-hub1\", \"s0-hub2\")";
        setSynchronousStandbys(cluster.node("s0-primary"), names);
        Switchover.Result result;
        try {
            Thread.sleep(1_500);
            result = new Switchover(client, "switchover", LogicalCopyIT.CONNECT, Switchover.Settings.DEFAULT)
                    .run(0, null);
            Thread.sleep(1_500);
        } finally {
            writing.set(false);
            inserts.join();
            transfers.join();
            ids.join();
        }
        System.out.printf(
                "switchover of shard 0 (%s -> %s) under %d inserts and %d transactions: writes held %d ms, slowest"
                        + " write %d ms, %d failed%n",
                result.from(),
                result.to(),
                inserted.get(),
                transactions.get(),
                result.writesHeldMs(),
                TimeUnit.NANOSECONDS.toMillis(maxNanos.get()),
                failures.size());
        assertThat(failures).as("failed writes").isEmpty();
        assertThat(result.from()).isEqualTo("s0-primary");
        assertThat(result.to()).startsWith("s0-hub");
        assertThat(result.warnings()).isEmpty();

        Shard shard = topology().shard(0);
        assertThat(shard.switchover()).isNull();
        assertThat(shard.primary().name()).isEqualTo(result.to());
        assertThat(shard.nodes()).extracting(Node::name).doesNotContain("s0-primary");
        PgNode promoted = cluster.node(result.to());
        assertThat(promoted.queryString("SELECT pg_is_in_recovery()")).isEqualTo("f");
        assertThat(promoted.queryString("SHOW synchronous_standby_names"))
                .as("the old primary's synchronous standbys, carried")
                .isEqualTo(names);
        assertThat(promoted.queryString(
                        "SELECT string_agg(application_name || ' ' || sync_state, ',') FROM pg_stat_replication"
                                + " WHERE sync_state = 'quorum'"))
                .isEqualTo((result.to().equals("s0-hub1") ? "s0-hub2" : "s0-hub1") + " quorum");
        // every acknowledged insert is there: the driver reads shard 0 from its new primary
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM accounts WHERE id < 0")) {
            rs.next();
            assertThat(rs.getLong(1)).isEqualTo(inserted.get());
        }
        // the old primary takes no write
        PgNode old = cluster.node("s0-primary");
        assertThatThrownBy(() -> old.queryString("INSERT INTO accounts (id) VALUES (-999999999) RETURNING id"))
                .hasMessageContaining("read-only");
        // nor a session that overrides the read-only default (a router writing by a lease it holds after leaving
        // ZooKeeper, ALTER ROLE ... SET default_transaction_read_only = off): its commit is never acknowledged
        ExecutorService overriding = Executors.newSingleThreadExecutor();
        try (Connection c = old.connect()) {
            c.createStatement().execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE");
            Future<Integer> write = overriding.submit(
                    () -> c.createStatement().executeUpdate("INSERT INTO accounts (id) VALUES (-999999998)"));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> "1"
                            .equals(old.queryString(
                                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")));
            assertThat(write).as("the commit waits on the old primary's fence").isNotDone();
            old.queryString(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE wait_event =" + " 'SyncRep'");
            assertThatThrownBy(() -> write.get(10, TimeUnit.SECONDS))
                    .as("never acknowledged: the session ends")
                    .hasCauseInstanceOf(SQLException.class);
        } finally {
            overriding.shutdownNow();
        }
        // the other hub streams from the new primary, and the leaves keep streaming
        String otherHub = result.to().equals("s0-hub1") ? "s0-hub2" : "s0-hub1";
        assertThat(result.repointed()).containsExactly(otherHub);
        await().atMost(Duration.ofSeconds(30))
                .until(() -> String.valueOf(promoted.port())
                        .equals(cluster.node(otherHub)
                                .queryString("SELECT coalesce(sender_port::text, '') FROM pg_stat_wal_receiver")));
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl())) {
            c.createStatement().execute("INSERT INTO accounts (id) VALUES (-1000000000)");
        }
        String lsn = promoted.queryString("SELECT pg_current_wal_lsn()");
        for (Node replica : shard.replicas()) {
            await().atMost(Duration.ofSeconds(30))
                    .alias(replica.name() + " replays the new primary's writes")
                    .until(() -> "t"
                            .equals(cluster.node(replica.name())
                                    .queryString("SELECT pg_last_wal_replay_lsn() >= '" + lsn + "'")));
        }
    }

    /**
     * The worst interleavings, made deterministic: a transaction that wrote on the old primary before the hold writes
     * again and commits while the switchover waits for it; a transaction whose first statement on the shard comes
     * during the hold waits and runs on the new primary.
     */
    @Test
    void aTransactionOpenOnTheOldPrimaryFinishesThereAndOneBegunDuringTheHoldRunsOnTheNewPrimary() throws Exception {
        ShardlineConnection older =
                DriverManager.getConnection(cluster.shardlineUrl()).unwrap(ShardlineConnection.class);
        ShardlineConnection later =
                DriverManager.getConnection(cluster.shardlineUrl()).unwrap(ShardlineConnection.class);
        ShardlineConnection pinned =
                DriverManager.getConnection(cluster.shardlineUrl()).unwrap(ShardlineConnection.class);
        ExecutorService background = Executors.newFixedThreadPool(2);
        try {
            long key = keyOn(older, 1);
            pinned.forKey("accounts", key);
            older.createStatement().execute("INSERT INTO accounts (id) VALUES (" + key + ") ON CONFLICT DO NOTHING");
            older.setAutoCommit(false);
            older.createStatement().execute("UPDATE accounts SET balance = balance + 10 WHERE id = " + key);
            Future<Switchover.Result> switching = background.submit(() -> new Switchover(
                            client,
                            "switchover",
                            LogicalCopyIT.CONNECT,
                            new Switchover.Settings(
                                    Duration.ofSeconds(2), Duration.ofSeconds(30), Duration.ofSeconds(10)))
                    .run(1, "s1-hub1"));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> topology().shard(1).switchover() != null);
            // held: its first statement on shard 1 would begin its transaction on the old primary
            later.setAutoCommit(false);
            Future<Integer> held = background.submit(() -> later.createStatement()
                    .executeUpdate("UPDATE accounts SET balance = balance + 1 WHERE id = " + key));
            Thread.sleep(300);
            assertThat(held).isNotDone();
            assertThat(switching)
                    .as("the switchover waits for the older transaction")
                    .isNotDone();
            // a second operator's switchover to another node is refused while this one runs
            assertThatThrownBy(() -> new Switchover(
                                    client, "switchover", LogicalCopyIT.CONNECT, Switchover.Settings.DEFAULT)
                            .run(1, "s1-hub2"))
                    .isInstanceOf(MoveException.class)
                    .hasMessageContaining("a switchover or failover of shard 1 is running: wait for it");
            older.createStatement().execute("UPDATE accounts SET balance = balance + 10 WHERE id = " + key);
            older.commit();
            Switchover.Result result = switching.get(60, TimeUnit.SECONDS);
            assertThat(held.get(10, TimeUnit.SECONDS)).isEqualTo(1);
            later.commit();
            assertThat(result.to()).isEqualTo("s1-hub1");
            assertThat(result.warnings()).isEmpty();
            assertThat(cluster.node("s1-hub1").queryString("SELECT balance FROM accounts WHERE id = " + key))
                    .isEqualTo("21");
            // a forKey binding made before the switchover does not write to the old primary
            String update = "UPDATE accounts SET balance = balance + 100 WHERE id = " + key;
            assertThatThrownBy(() -> pinned.createStatement().executeUpdate(update))
                    .hasMessageContaining(
                            "the node forKey(...) bound, s1-primary, is no longer the primary of shard 1");
            pinned.forKey("accounts", key);
            assertThat(pinned.createStatement().executeUpdate(update)).isEqualTo(1);
            assertThat(cluster.node("s1-hub1").queryString("SELECT balance FROM accounts WHERE id = " + key))
                    .isEqualTo("121");
        } finally {
            background.shutdownNow();
            older.close();
            later.close();
            pinned.close();
        }
    }

    /**
     * A switchover that fails after the old primary was fenced (its candidate does not replay the last write in time)
     * gives the shard back: the old primary writable, its synchronous standbys as they were, nothing held.
     */
    @Test
    void aSwitchoverThatFailsBeforeThePromotionGivesTheShardBackAsItWas() throws Exception {
        Shard shard = topology().shard(1);
        Node primary = shard.primary();
        List<Node> hubs = shard.replicas().stream()
                .filter(n -> primary.name().equals(n.upstream()))
                .toList();
        PgNode old = cluster.node(primary.name());
        PgNode candidate = cluster.node(hubs.get(0).name());
        String names = "ANY 1 ("
                + hubs.stream()
                        .map(n -> "\"" + n.name() + "\"")
                        .reduce((a, b) -> a + ", " + b)
                        .orElseThrow() + ")";
        setSynchronousStandbys(old, names);
        try (Connection driver = DriverManager.getConnection(cluster.shardlineUrl())) {
            long key = keyOn(driver.unwrap(ShardlineConnection.class), 1);
            driver.createStatement().execute("INSERT INTO accounts (id) VALUES (" + key + ") ON CONFLICT DO NOTHING");
            candidate.queryString("SELECT pg_wal_replay_pause()::text");
            // a write the candidate does not replay (the row may exist already: other tests use the key)
            driver.createStatement().execute("UPDATE accounts SET balance = balance + 1 WHERE id = " + key);
            assertThatThrownBy(() -> impatientSwitchover(hubs.get(0).name()))
                    .isInstanceOf(MoveException.class)
                    .hasMessageContaining("failed before the promotion")
                    .hasMessageContaining("did not replay");
            assertThat(topology().shard(1).primary().name()).isEqualTo(primary.name());
            assertThat(topology().shard(1).switchover()).isNull();
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> names.equals(old.queryString("SHOW synchronous_standby_names")));
            assertThat(old.queryString("SHOW default_transaction_read_only")).isEqualTo("off");
            candidate.queryString("SELECT pg_wal_replay_resume()::text");
            assertThat(driver.createStatement()
                            .executeUpdate("UPDATE accounts SET balance = balance + 1 WHERE id = " + key))
                    .as("the old primary writes and its commits are acknowledged by its synchronous hubs")
                    .isEqualTo(1);

            // a switchover run again after one that died with the fence up restores the operator's setting too
            candidate.queryString("SELECT pg_wal_replay_pause()::text");
            driver.createStatement().execute("UPDATE accounts SET balance = balance + 1 WHERE id = " + key);
            String left = "\"" + CommitFence.STANDBY + ":"
                    + java.util.HexFormat.of().formatHex(names.getBytes(java.nio.charset.StandardCharsets.UTF_8))
                    + "\"";
            setSynchronousStandbys(old, left);
            assertThatThrownBy(() -> impatientSwitchover(hubs.get(0).name()))
                    .isInstanceOf(MoveException.class)
                    .hasMessageContaining("did not replay");
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> names.equals(old.queryString("SHOW synchronous_standby_names")));
            candidate.queryString("SELECT pg_wal_replay_resume()::text");
        } finally {
            candidate.queryString(
                    "SELECT CASE WHEN pg_is_in_recovery() THEN pg_wal_replay_resume()::text END"); // a failure above
            try (Connection c = old.connect()) {
                c.createStatement().execute("ALTER SYSTEM RESET synchronous_standby_names");
                c.createStatement().execute("SELECT pg_reload_conf()");
            }
        }
    }

    /** A switchover of shard 1 to {@code hub} giving its candidate 1 s to replay the old primary's last write. */
    private static Switchover.Result impatientSwitchover(String hub) throws MoveException {
        return new Switchover(
                        client,
                        "switchover",
                        LogicalCopyIT.CONNECT,
                        new Switchover.Settings(Duration.ofSeconds(2), Duration.ofSeconds(5), Duration.ofSeconds(1)))
                .run(1, hub);
    }

    private static void setSynchronousStandbys(PgNode node, String names) throws SQLException {
        try (Connection c = node.connect()) {
            c.createStatement().execute("ALTER SYSTEM SET synchronous_standby_names = '" + names + "'");
            c.createStatement().execute("SELECT pg_reload_conf()");
        }
    }

    /** A key the driver routes to {@code shard}. */
    private static long keyOn(ShardlineConnection c, int shard) throws SQLException {
        for (long k = 1_000_000; ; k++) {
            if (c.explainRoute("SELECT * FROM accounts WHERE id = ?", k).get(0).shard() == shard) {
                return k;
            }
        }
    }

    /** Autocommit {@code nextval} on the home shard's sequence (a read that writes), one every 10 ms. */
    private static void nextval(AtomicBoolean writing, Queue<String> failures) {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                PreparedStatement ps = c.prepareStatement("SELECT nextval('ids')")) {
            long last = 0;
            while (writing.get()) {
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    long id = rs.getLong(1);
                    if (id <= last) {
                        failures.add("nextval went back from " + last + " to " + id);
                    }
                    last = id;
                } catch (SQLException e) {
                    failures.add("nextval: " + e.getSQLState() + " " + e.getMessage());
                }
                Thread.sleep(10);
            }
        } catch (SQLException | InterruptedException e) {
            failures.add("nextval thread: " + e);
        }
    }

    /** Autocommit inserts of keys -1, -2, ... (both shards), one every 5 ms. */
    private static void insert(
            AtomicBoolean writing, AtomicLong inserted, AtomicLong maxNanos, Queue<String> failures) {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                PreparedStatement ps = c.prepareStatement("INSERT INTO accounts (id) VALUES (?)")) {
            long next = -1;
            while (writing.get()) {
                long started = System.nanoTime();
                try {
                    ps.setLong(1, next);
                    ps.executeUpdate();
                    inserted.incrementAndGet();
                    next--;
                } catch (SQLException e) {
                    failures.add("insert " + next + ": " + e.getSQLState() + " " + e.getMessage());
                    next--;
                }
                maxNanos.accumulateAndGet(System.nanoTime() - started, Math::max);
                Thread.sleep(5);
            }
        } catch (SQLException | InterruptedException e) {
            failures.add("insert thread: " + e);
        }
    }

    /** Transactions of two updates on keys 1..100 (both shards), one every 20 ms. */
    private static void transfer(
            AtomicBoolean writing, AtomicLong transactions, AtomicLong maxNanos, Queue<String> failures) {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl())) {
            try (PreparedStatement ps =
                    c.prepareStatement("INSERT INTO accounts (id) VALUES (?) ON CONFLICT (id) DO NOTHING")) {
                for (long k = 1; k <= 100; k++) {
                    ps.setLong(1, k);
                    ps.executeUpdate();
                }
            }
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("UPDATE accounts SET balance = balance + ? WHERE id = ?")) {
                while (writing.get()) {
                    long key = ThreadLocalRandom.current().nextLong(1, 101);
                    long started = System.nanoTime();
                    try {
                        ps.setLong(1, 1);
                        ps.setLong(2, key);
                        ps.executeUpdate();
                        ps.setLong(1, -1);
                        ps.executeUpdate();
                        c.commit();
                        transactions.incrementAndGet();
                    } catch (SQLException e) {
                        failures.add("transaction on " + key + ": " + e.getSQLState() + " " + e.getMessage());
                        c.rollback();
                    }
                    maxNanos.accumulateAndGet(System.nanoTime() - started, Math::max);
                    Thread.sleep(20);
                }
            }
        } catch (SQLException | InterruptedException e) {
            failures.add("transaction thread: " + e);
        }
    }

    private static ClusterTopology topology() throws Exception {
        String path = ZooKeeperTopologyStore.clusterPath("switchover") + "/topology";
        return TopologyCodec.topologyFromJson(client.getData().forPath(path), path);
    }
}
