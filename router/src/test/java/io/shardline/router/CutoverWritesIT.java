package io.shardline.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.RouterRegistration;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What a router's fence acknowledgement promises — no write to the fenced ranges in flight, none to start before the
 * switch — tried at its weak points, with moves written to ZooKeeper by hand as the rebalancer would: a write (and a
 * batch) that passed the fence check but waits for a pooled connection; a batch whose rows straddle the cutover; a
 * router that starts during a cutover; a router paused (SIGSTOP, as a long GC pause) until its ZooKeeper session
 * expired while the ring switched.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class CutoverWritesIT {
    private static LocalCluster cluster;
    private static CuratorFramework client;
    private static MoveScript moves;
    private static HashRing original;

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder()
                .name("cutover")
                .shards(2)
                .hubs(0)
                .leaves(0)
                .start();
        original = RouterClusters.publish(cluster, List.of(new ShardedTable("public", "kv", "k", KeyType.INTEGER)));
        client = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        moves = new MoveScript(client, "cutover");
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE kv (k bigint PRIMARY KEY, v text)");
        }
        // each test counts the acknowledgements of its own routers only
        ShardlineDriver.closeAll();
    }

    @AfterEach
    void cleanUp() throws Exception {
        ShardlineDriver.closeAll();
        moves.deleteMoves();
        moves.publish(original);
        for (int shard = 0; shard < 2; shard++) {
            direct(shard, "TRUNCATE kv");
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
    void anAcknowledgementWaitsForAWriteThatPassedTheFenceButWaitsForAConnection() throws Exception {
        long key = 42;
        int from = moves.ring().shardFor(KeyHash.hashInt8(key));
        long other = keyOn(from, 1000);
        String url = cluster.shardlineUrl() + "?poolSize=1&fenceWaitMs=20000&readFrom=primary";
        try (Connection holder = DriverManager.getConnection(url);
                Connection writer = DriverManager.getConnection(url)) {
            // the holder keeps the source primary's only pooled connection in a transaction
            holder.setAutoCommit(false);
            count(holder, other);
            Thread[] writing = new Thread[1];
            CompletableFuture<Integer> write = CompletableFuture.supplyAsync(() -> {
                writing[0] = Thread.currentThread();
                return insert(writer, key);
            });
            await().atMost(Duration.ofSeconds(10)).until(() -> waitsForAPooledConnection(writing[0]));

            moves.writeMove("m1", MoveState.FENCED, moves.rangeOf(key), from, 1 - from);
            await().during(Duration.ofSeconds(1))
                    .atMost(Duration.ofSeconds(3))
                    .until(() -> moves.routersHolding("m1") == 0);
            assertThat(write).as("the write still waits for its connection").isNotDone();

            // a logical connection holds its physical connections until it closes
            holder.close();
            await().atMost(Duration.ofSeconds(10)).until(() -> moves.routersHolding("m1") == 1);
            assertThat(write)
                    .as("the router acknowledged the fence only once the write that passed it had run")
                    .isDone();
            assertThat(write.get()).isEqualTo(1);
            assertThat(countOn(from, key)).isEqualTo(1);
        }
    }

    @Test
    void anAcknowledgementWaitsForABatchThatPassedTheFence() throws Exception {
        int from = 0;
        List<Long> keys = keysOn(from, 2_000_000, 1000);
        long other = keyOn(from, 1000);
        String url = cluster.shardlineUrl() + "?poolSize=1&fenceWaitMs=20000&readFrom=primary";
        try (Connection holder = DriverManager.getConnection(url);
                Connection writer = DriverManager.getConnection(url)) {
            holder.setAutoCommit(false);
            count(holder, other);
            Thread[] writing = new Thread[1];
            CompletableFuture<int[]> batch = CompletableFuture.supplyAsync(() -> {
                writing[0] = Thread.currentThread();
                return insertBatch(writer, keys);
            });
            await().atMost(Duration.ofSeconds(10)).until(() -> waitsForAPooledConnection(writing[0]));

            moves.writeMove("m2", MoveState.FENCED, moves.rangeOf(keys.get(500)), from, 1 - from);
            await().during(Duration.ofSeconds(1))
                    .atMost(Duration.ofSeconds(3))
                    .until(() -> moves.routersHolding("m2") == 0);
            // a logical connection holds its physical connections until it closes
            holder.close();
            await().atMost(Duration.ofSeconds(10)).until(() -> moves.routersHolding("m2") == 1);
            assertThat(batch).isDone();
            assertThat(batch.get()).hasSize(1000).containsOnly(1);
            assertThat(countOn(from, keys)).isEqualTo(1000);
        }
    }

    @Test
    void anAcknowledgementIsForOneFenceAttemptAndCoversWritesLetInBetweenAttempts() throws Exception {
        int from = 0;
        long k0 = keyOn(from, 5000);
        long k1 = keyOn(from, k0 + 1);
        direct(from, "INSERT INTO kv VALUES (" + k0 + ", ''), (" + k1 + ", '')");
        String url = cluster.shardlineUrl() + "?fenceWaitMs=20000&readFrom=primary";
        try (Connection holder = DriverManager.getConnection(url);
                Connection first = DriverManager.getConnection(url);
                Connection second = DriverManager.getConnection(url)) {
            // the holder's row locks keep both writes running on the server, inside the router's gate
            holder.setAutoCommit(false);
            try (Statement s = holder.createStatement()) {
                s.executeQuery("SELECT * FROM kv WHERE k = " + k0 + " FOR UPDATE")
                        .close();
                s.executeQuery("SELECT * FROM kv WHERE k = " + k1 + " FOR UPDATE")
                        .close();
            }
            CompletableFuture<Integer> w0 = CompletableFuture.supplyAsync(() -> update(first, k0));
            await().atMost(Duration.ofSeconds(10)).until(() -> waitingOnLocks(from) == 1);

            MoveRecord attempt1 = moves.writeMove("m5", MoveState.FENCED, moves.rangeOf(k0), from, 1 - from);
            await().during(Duration.ofMillis(500))
                    .atMost(Duration.ofSeconds(3))
                    .until(() -> moves.routersHolding("m5") == 0);
            // the cutover gives up and lifts the fence: a write is let in meanwhile, then the move is fenced again
            moves.writeMove("m5", MoveState.CATCHING_UP, moves.rangeOf(k0), from, 1 - from);
            Thread.sleep(100);
            CompletableFuture<Integer> w1 = CompletableFuture.supplyAsync(() -> update(second, k1));
            await().atMost(Duration.ofSeconds(10)).until(() -> waitingOnLocks(from) == 2);
            Thread.sleep(5);
            MoveRecord attempt2 = moves.writeMove("m5", MoveState.FENCED, moves.rangeOf(k0), from, 1 - from);
            assertThat(RouterRegistration.fenceToken(attempt2)).isNotEqualTo(RouterRegistration.fenceToken(attempt1));

            holder.commit();
            await().atMost(Duration.ofSeconds(10)).until(() -> moves.routersAcknowledging(attempt2) == 1);
            assertThat(w0).isDone();
            assertThat(w1)
                    .as("the acknowledgement of the second attempt waited for the write let in between the attempts")
                    .isDone();
            assertThat(moves.routersAcknowledging(attempt1)).isZero();
        }
    }

    @Test
    void aRouterWhoseRingIsOlderThanAFinishedMoveHoldsWritesUntilItHasTheNewRing() throws Exception {
        long key = 31337;
        int from = original.shardFor(KeyHash.hashInt8(key));
        long version = moves.ring().version();
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl() + "?fenceWaitMs=300")) {
            // ZooKeeper says a move finished on ring version + 1, but this router has not seen that ring
            moves.writeMove("m6", MoveState.DONE, moves.rangeOf(key), from, 1 - from, Map.of(), version + 1);
            SQLException e = await().atMost(Duration.ofSeconds(10))
                    .until(() -> catchThrowableOfType(SQLException.class, () -> insertOrThrow(c, key)), x -> x != null);
            assertThat(e.getSQLState()).isEqualTo("40001");
            assertThat(e.getMessage()).contains("switched to ring version " + (version + 1));
            assertThat(countOn(0, key) + countOn(1, key)).isZero();
            moves.switchRange(KeyHash.hashInt8(key), 1 - from);
            await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> insertOrThrow(c, key) == 1);
            assertThat(countOn(1 - from, key)).as("written by the new ring").isEqualTo(1);
        }
    }

    @Test
    void aBatchWithRowsInAFencedRangeWaitsWholeThenLandsByTheNewRing() throws Exception {
        int from = 0;
        List<Long> keys = keysOn(from, 3_000_000, 1000);
        long[] moving = moves.rangeOf(keys.get(0));
        try (Connection writer = DriverManager.getConnection(cluster.shardlineUrl() + "?fenceWaitMs=20000")) {
            moves.writeMove("m3", MoveState.FENCED, moving, from, 1 - from);
            await().atMost(Duration.ofSeconds(10)).until(() -> moves.routersHolding("m3") == 1);

            CompletableFuture<int[]> batch = CompletableFuture.supplyAsync(() -> insertBatch(writer, keys));
            Thread.sleep(500);
            assertThat(batch).as("held by the row in the fenced range").isNotDone();
            assertThat(countOn(0, keys) + countOn(1, keys))
                    .as("no row of the held batch written")
                    .isZero();

            HashRing next = moves.switchRange(moving[0], 1 - from);
            moves.writeMove("m3", MoveState.SWITCHED, moving, from, 1 - from);
            assertThat(batch.get(20, TimeUnit.SECONDS)).hasSize(1000).containsOnly(1);
            assertOnTheirShards(next, keys);
            assertThat(keys.stream().filter(k -> next.shardFor(KeyHash.hashInt8(k)) != from))
                    .as("rows that moved")
                    .isNotEmpty();
        }
    }

    @Test
    void aMultiRowInsertForSeveralShardsWithARowInAFencedRangeWaitsWholeThenLandsByTheNewRing() throws Exception {
        List<Long> keys = new ArrayList<>(keysOn(0, 4_000_000, 200));
        keys.addAll(keysOn(1, 4_000_000, 200));
        long[] moving = moves.rangeOf(keys.get(0));
        StringBuilder insert = new StringBuilder("INSERT INTO kv (k, v) VALUES ");
        for (int i = 0; i < keys.size(); i++) {
            insert.append(i == 0 ? "" : ", ").append("(").append(keys.get(i)).append(", 'row')");
        }
        try (Connection writer =
                DriverManager.getConnection(cluster.shardlineUrl() + "?fenceWaitMs=20000&twoPhaseCommit=true")) {
            moves.writeMove("m5", MoveState.FENCED, moving, 0, 1);
            await().atMost(Duration.ofSeconds(10)).until(() -> moves.routersHolding("m5") == 1);

            CompletableFuture<Integer> rows = CompletableFuture.supplyAsync(() -> {
                try (Statement s = writer.createStatement()) {
                    return s.executeUpdate(insert.toString());
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            Thread.sleep(500);
            assertThat(rows).as("held by the row in the fenced range").isNotDone();
            assertThat(countOn(0, keys) + countOn(1, keys))
                    .as("no row of the held statement written")
                    .isZero();

            HashRing next = moves.switchRange(moving[0], 1);
            moves.writeMove("m5", MoveState.SWITCHED, moving, 0, 1);
            assertThat(rows.get(20, TimeUnit.SECONDS)).isEqualTo(keys.size());
            assertOnTheirShards(next, keys);
            assertThat(keys.subList(0, 200).stream().filter(k -> next.shardFor(KeyHash.hashInt8(k)) == 1))
                    .as("rows of shard 0 that moved")
                    .isNotEmpty();
        }
    }

    @Test
    void aCopyWhoseLaterRowsFallInAFencedRangeIsHeldThereThenLandsByTheNewRing() throws Exception {
        long seed = keysOn(0, 5_000_000, 1).get(0);
        HashRing.Range range = moves.ring().ranges().stream()
                .filter(r -> r.contains(KeyHash.hashInt8(seed)))
                .findFirst()
                .orElseThrow();
        long[] moving = {range.start(), range.endInclusive()};
        List<Long> outside = new ArrayList<>();
        List<Long> inside = new ArrayList<>();
        for (long k : keysOn(0, 5_000_000, 20_000)) {
            List<Long> to = range.contains(KeyHash.hashInt8(k)) ? inside : outside;
            if (to.size() < (to == inside ? 50 : 1000)) {
                to.add(k);
            }
        }
        assertThat(inside).as("keys in the moving range").hasSize(50);
        // the first batch (1,000 rows) passes the gate at once; the last, with the rows of the fenced range, waits
        List<Long> keys = new ArrayList<>(outside);
        keys.addAll(inside);
        StringBuilder data = new StringBuilder();
        keys.forEach(k -> data.append(k).append("\tcopied\n"));
        try (Connection writer =
                DriverManager.getConnection(cluster.shardlineUrl() + "?fenceWaitMs=20000&twoPhaseCommit=true")) {
            moves.writeMove("m7", MoveState.FENCED, moving, 0, 1);
            await().atMost(Duration.ofSeconds(10)).until(() -> moves.routersHolding("m7") == 1);

            org.postgresql.copy.CopyManager copy =
                    writer.unwrap(org.postgresql.PGConnection.class).getCopyAPI();
            CompletableFuture<Long> loaded = CompletableFuture.supplyAsync(() -> {
                try {
                    return copy.copyIn("COPY kv (k, v) FROM STDIN", new java.io.StringReader(data.toString()));
                } catch (SQLException | java.io.IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            Thread.sleep(500);
            assertThat(loaded).as("held by the rows in the fenced range").isNotDone();
            assertThat(countOn(0, keys) + countOn(1, keys))
                    .as("no row of the held COPY committed")
                    .isZero();

            HashRing next = moves.switchRange(moving[0], 1);
            moves.writeMove("m7", MoveState.SWITCHED, moving, 0, 1);
            assertThat(loaded.get(20, TimeUnit.SECONDS)).isEqualTo(keys.size());
            assertOnTheirShards(next, keys);
            assertThat(countOn(1, inside))
                    .as("the fenced range's rows, on its new shard")
                    .isEqualTo(inside.size());
        }
    }

    @Test
    void aRouterStartedDuringACutoverDoesNotWriteBeforeItKnowsTheMoves() throws Exception {
        long key = 4711;
        int from = moves.ring().shardFor(KeyHash.hashInt8(key));
        moves.writeMove("m4", MoveState.FENCED, moves.rangeOf(key), from, 1 - from);
        for (int i = 0; i < 5; i++) {
            // a new property set each time: a new runtime, with its own ZooKeeper session
            try (Connection c = DriverManager.getConnection(
                    cluster.shardlineUrl() + "?fenceWaitMs=300&analysisCacheSize=" + (1000 + i))) {
                SQLException e = catchThrowableOfType(SQLException.class, () -> insertOrThrow(c, key));
                assertThat((Object) e)
                        .as("run %d: the first write of a new router", i)
                        .isNotNull();
                assertThat(e.getSQLState()).isEqualTo("40001");
            }
            ShardlineDriver.closeAll();
        }
        assertThat(countOn(0, key) + countOn(1, key)).isZero();
    }

    @Test
    void aRouterPausedPastItsSessionDoesNotWriteByTheRingItHad() throws Exception {
        long key = 9001;
        int from = moves.ring().shardFor(KeyHash.hashInt8(key));
        int to = 1 - from;
        for (int shard = 0; shard < 2; shard++) {
            direct(shard, "INSERT INTO kv VALUES (" + key + ", '')");
        }
        int fromPort = cluster.primary(from).port();
        int toPort = cluster.primary(to).port();
        Process writer = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-cp",
                        System.getProperty("java.class.path"),
                        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                        PausedWriter.class.getName(),
                        cluster.shardlineUrl() + "?fenceWaitMs=60000",
                        String.valueOf(key))
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        try {
            BlockingQueue<String> lines = new LinkedBlockingQueue<>();
            Thread reader = new Thread(() -> {
                try (BufferedReader out =
                        new BufferedReader(new InputStreamReader(writer.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line = out.readLine(); line != null; line = out.readLine()) {
                        lines.add(line);
                    }
                } catch (Exception e) {
                    lines.add("closed " + e);
                }
            });
            reader.setDaemon(true);
            reader.start();
            for (int i = 0; i < 3; i++) {
                assertThat(lines.poll(30, TimeUnit.SECONDS)).isEqualTo("ok " + fromPort);
            }
            assertThat(moves.routers()).isEqualTo(1);
            // stopped while it sleeps between writes, as a long GC pause stops it
            signal("STOP", writer.pid());
            await().atMost(Duration.ofSeconds(40))
                    .pollInterval(Duration.ofMillis(200))
                    .until(() -> moves.routers() == 0);
            // its session expired, so a cutover does not wait for it once the rebalancers' grace has passed (the
            // router writes by its ring until its lease, inside that grace, runs out): the range is fenced, then moves
            Thread.sleep(io.shardline.topology.RouterRegistration.DEPARTURE_GRACE_MS);
            long[] range = moves.rangeOf(key);
            moves.writeMove("m7", MoveState.FENCED, range, from, to);
            lines.clear();
            signal("CONT", writer.pid());
            assertThat(lines.poll(3, TimeUnit.SECONDS))
                    .as("no write while the resumed router's view is stale, then while the range is fenced")
                    .isNull();
            moves.switchRange(KeyHash.hashInt8(key), to);
            moves.writeMove("m7", MoveState.SWITCHED, range, from, to);
            List<String> after = new ArrayList<>();
            while (after.size() < 3) {
                String line = lines.poll(60, TimeUnit.SECONDS);
                assertThat(line).as("a line from the resumed writer").isNotNull();
                after.add(line);
            }
            assertThat(after)
                    .as(
                            "every write after the pause goes to the new owner (port %d), none to the old (%d)",
                            toPort, fromPort)
                    .containsOnly("ok " + toPort);
        } finally {
            writer.destroyForcibly().waitFor();
        }
    }

    // ---- helpers ----------------------------------------------------------------------------------------------

    /** Every row of {@code keys} is on the shard {@code ring} gives it, and on no other. */
    private static void assertOnTheirShards(HashRing ring, List<Long> keys) throws SQLException {
        for (int shard = 0; shard < 2; shard++) {
            int s = shard;
            List<Long> owned = keys.stream()
                    .filter(k -> ring.shardFor(KeyHash.hashInt8(k)) == s)
                    .toList();
            assertThat(countOn(shard, keys))
                    .as("rows on shard %d: exactly those the new ring gives it", shard)
                    .isEqualTo(owned.size());
            assertThat(countOn(shard, owned)).isEqualTo(owned.size());
        }
    }

    private static void direct(int shard, String sql) throws SQLException {
        try (Connection c = cluster.primary(shard).connect();
                Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    /** Statements on {@code shard}'s primary waiting for a lock. */
    private static long waitingOnLocks(int shard) {
        return Long.parseLong(cluster.primary(shard)
                .queryString("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"));
    }

    private static int update(Connection c, long key) {
        try (Statement s = c.createStatement()) {
            return s.executeUpdate("UPDATE kv SET v = 'updated' WHERE k = " + key);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void signal(String signal, long pid) throws Exception {
        assertThat(new ProcessBuilder("kill", "-" + signal, String.valueOf(pid))
                        .start()
                        .waitFor())
                .isZero();
    }

    private static boolean waitsForAPooledConnection(Thread t) {
        return t != null
                && Arrays.stream(t.getStackTrace())
                        .anyMatch(f -> f.getClassName().contains("ConcurrentBag"));
    }

    private static long keyOn(int shard, long from) {
        long k = from;
        while (original.shardFor(KeyHash.hashInt8(k)) != shard) {
            k++;
        }
        return k;
    }

    private static List<Long> keysOn(int shard, long from, int n) {
        List<Long> keys = new ArrayList<>();
        for (long k = from; keys.size() < n; k++) {
            if (original.shardFor(KeyHash.hashInt8(k)) == shard) {
                keys.add(k);
            }
        }
        return keys;
    }

    private static void count(Connection c, long key) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM kv WHERE k = " + key)) {
            rs.next();
        }
    }

    private static int insert(Connection c, long key) {
        try {
            return insertOrThrow(c, key);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static int insertOrThrow(Connection c, long key) throws SQLException {
        try (Statement s = c.createStatement()) {
            return s.executeUpdate("INSERT INTO kv (k, v) VALUES (" + key + ", 'x')");
        }
    }

    private static int[] insertBatch(Connection c, List<Long> keys) {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO kv (k, v) VALUES (?, 'batch')")) {
            for (long k : keys) {
                ps.setLong(1, k);
                ps.addBatch();
            }
            return ps.executeBatch();
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static long countOn(int shard, long key) throws SQLException {
        return countOn(shard, List.of(key));
    }

    private static long countOn(int shard, List<Long> keys) throws SQLException {
        StringBuilder in = new StringBuilder();
        for (long k : keys) {
            in.append(in.length() == 0 ? "" : ",").append(k);
        }
        return Long.parseLong(cluster.primary(shard).queryString("SELECT count(*) FROM kv WHERE k IN (" + in + ")"));
    }
}
