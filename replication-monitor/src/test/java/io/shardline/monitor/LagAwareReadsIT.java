package io.shardline.monitor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.router.ShardlineConnection;
import io.shardline.topology.KeyType;
import io.shardline.topology.ReplicaState;
import io.shardline.topology.ShardedTable;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The driver's lag-aware replica choice against the monitor's measurements on a real cascade: s0-primary ->
 * s0-hub1 -> s0-leaf1. Every read asks PostgreSQL which port served it.
 */
class LagAwareReadsIT {
    static final Duration HEARTBEAT = MonitoredCluster.INTERVAL;
    static final long BOUND_MS = 500;

    private static MonitoredCluster fixture;
    private static LocalCluster cluster;
    private static Map<Integer, String> nodeByPort;

    @BeforeAll
    static void start() throws SQLException {
        fixture = MonitoredCluster.start(
                "lagaware", 1, 1, List.of(new ShardedTable("public", "kv", "k", KeyType.INTEGER)));
        cluster = fixture.cluster;
        nodeByPort = fixture.nodeByPort();
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE kv (k bigint PRIMARY KEY, v bigint NOT NULL)");
        }
    }

    @AfterAll
    static void stop() {
        if (fixture != null) {
            fixture.close();
        }
    }

    private static ReplicationMonitor monitor() {
        return fixture.monitor();
    }

    @Test
    void aPausedLeafServesNoBoundedReadsOnceItsLagPassesTheBoundAndServesAgainAfterResume() throws Exception {
        PgNode leaf = cluster.node("s0-leaf1");
        try (ReadLoop reader = new ReadLoop(nodeByPort, cluster.shardlineUrl() + "?maxStalenessMs=" + BOUND_MS)) {
            reader.awaitServedBy("s0-leaf1", Duration.ofSeconds(20));
            long pausedAt = System.nanoTime();
            leaf.pauseReplay();
            try {
                // the lag passes the bound at most BOUND_MS after the pause; then two heartbeats of grace
                long cutoff = pausedAt
                        + Duration.ofMillis(BOUND_MS + 2 * HEARTBEAT.toMillis()).toNanos();
                Thread.sleep(BOUND_MS + 2 * HEARTBEAT.toMillis() + 3000);
                List<ReadLoop.Read> after = reader.readsStartedAfter(cutoff);
                long onLeaf =
                        after.stream().filter(r -> r.node().equals("s0-leaf1")).count();
                long onHub =
                        after.stream().filter(r -> r.node().equals("s0-hub1")).count();
                System.out.printf(
                        "leaf paused: of %d reads after the bound + 2 heartbeats, %d on the leaf, %d on the hub%n",
                        after.size(), onLeaf, onHub);
                assertThat(after).as("reads after the cutoff").hasSizeGreaterThan(100);
                assertThat(onLeaf)
                        .as("reads served by the paused leaf after the cutoff")
                        .isZero();
                assertThat(onHub).as("reads still served by the hub").isPositive();
                assertThat(monitor().report("s0-leaf1").orElseThrow().lagMs()).isGreaterThan(BOUND_MS);
            } finally {
                leaf.resumeReplay();
            }
            long resumedAt = System.nanoTime();
            reader.awaitServedBy("s0-leaf1", Duration.ofSeconds(10));
            System.out.printf(
                    "leaf resumed: serving again after %d ms%n",
                    Duration.ofNanos(System.nanoTime() - resumedAt).toMillis());
            assertThat(reader.errors()).isEmpty();
        }
    }

    @Test
    void whenTheMonitorStopsPublishingBoundedReadsGoToThePrimary() throws Exception {
        try (ReadLoop reader = new ReadLoop(
                nodeByPort, cluster.shardlineUrl() + "?maxStalenessMs=" + BOUND_MS + "&lagFreshnessMs=1000")) {
            reader.awaitServedBy("s0-hub1", Duration.ofSeconds(20));
            monitor().close();
            long stoppedAt = System.nanoTime();
            Thread.sleep(1000 + 2000);
            List<ReadLoop.Read> after =
                    reader.readsStartedAfter(stoppedAt + Duration.ofMillis(1500).toNanos());
            System.out.printf(
                    "monitor stopped: %d reads after its reports went stale, on %s%n",
                    after.size(), after.stream().map(r -> r.node()).distinct().toList());
            assertThat(after).hasSizeGreaterThan(50).allMatch(r -> r.node().equals("s0-primary"));
            assertThat(reader.errors()).isEmpty();
        } finally {
            fixture.startMonitor();
        }
    }

    @Test
    void whenTheMonitorStopsItsLastReportsAgeOutWithinTheBoundNotTheFreshnessLimit() throws Exception {
        // lagFreshnessMs stays 2000: a replica that stopped replaying when the monitor did would be read up to that
        // much staler than the bound if only the report's freshness counted
        try (ReadLoop reader = new ReadLoop(nodeByPort, cluster.shardlineUrl() + "?maxStalenessMs=" + BOUND_MS)) {
            reader.awaitServedBy("s0-hub1", Duration.ofSeconds(20));
            monitor().close();
            long stoppedAt = System.nanoTime();
            Thread.sleep(2000);
            List<ReadLoop.Read> after = reader.readsStartedAfter(
                    stoppedAt + Duration.ofMillis(BOUND_MS + 300).toNanos());
            System.out.printf(
                    "monitor stopped: %d reads from the bound on, on %s%n",
                    after.size(), after.stream().map(r -> r.node()).distinct().toList());
            assertThat(after).hasSizeGreaterThan(50).allMatch(r -> r.node().equals("s0-primary"));
            assertThat(reader.errors()).isEmpty();
        } finally {
            fixture.startMonitor();
        }
    }

    @Test
    void fallbackErrorRefusesBoundedReadsWithNoFreshReplica() throws Exception {
        PgNode leaf = cluster.node("s0-leaf1");
        PgNode hub = cluster.node("s0-hub1");
        leaf.pauseReplay();
        hub.pauseReplay();
        try (Connection c = DriverManager.getConnection(
                        cluster.shardlineUrl() + "?maxStalenessMs=" + BOUND_MS + "&fallback=error");
                Statement s = c.createStatement()) {
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> monitor().report("s0-hub1").orElseThrow().state() == ReplicaState.PAUSED
                            && monitor().report("s0-leaf1").orElseThrow().state() == ReplicaState.PAUSED);
            Thread.sleep(500);
            SQLException refused = catchThrowableOfType(SQLException.class, () -> s.executeQuery("SELECT 1"));
            assertThat(refused.getSQLState()).isEqualTo("55000");
            assertThat(refused.getMessage()).contains("no replica of shard 0 is within 500 ms");
            s.execute("SET shardline.max_staleness = 'unbounded'");
            try (ResultSet rs = s.executeQuery("SELECT 1")) {
                assertThat(rs.next()).isTrue();
            }
        } finally {
            hub.resumeReplay();
            leaf.resumeReplay();
        }
    }

    @Test
    void readYourWritesWithALaggingReplicaHasNoViolations() throws Exception {
        PgNode leaf = cluster.node("s0-leaf1");
        // The leaf stays within the staleness bound (1000 ms) but is always ~300 ms behind the writes.
        leaf.setApplyDelay(Duration.ofMillis(300));
        try {
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> monitor().report("s0-leaf1").orElseThrow().lagMs() > 200);
            for (long waitMs : new long[] {0, 50}) {
                RywResult result = writeThenRead(cluster.shardlineUrl() + "?rywWaitMs=" + waitMs, 10_000);
                System.out.printf(
                        "read-your-writes, rywWaitMs=%d: %d pairs in %d ms, %d violations, reads served by the hub %d,"
                                + " by the lagging leaf %d, by the primary %d (%.1f%% by replicas)%n",
                        waitMs,
                        result.pairs,
                        result.elapsedMs,
                        result.violations,
                        result.byNode.getOrDefault("s0-hub1", 0),
                        result.byNode.getOrDefault("s0-leaf1", 0),
                        result.byNode.getOrDefault("s0-primary", 0),
                        100.0 * (result.pairs - result.byNode.getOrDefault("s0-primary", 0)) / result.pairs);
                assertThat(result.violations)
                        .as("reads that missed the session's own write")
                        .isZero();
                if (waitMs > 0) {
                    assertThat(result.byNode.getOrDefault("s0-hub1", 0))
                            .as("reads served by the caught-up hub")
                            .isPositive();
                }
            }
        } finally {
            leaf.setApplyDelay(Duration.ZERO);
        }
    }

    /**
     * A read chosen for the leaf while it is within the bound, that then waits for a connection to it (its pool's only
     * one is held by another logical connection) while the leaf falls seconds behind: when a connection could come it
     * is judged again and goes to the primary. The choice alone let it run on the leaf, past the bound, once the
     * connection came.
     */
    @Test
    void aReadThatWaitedForTheLeafsConnectionWhileItFellBehindGoesToThePrimary() throws Exception {
        assertThat(readAfterWaitingWhileTheLeafFellBehind(""))
                .as("the node that served the read, started once the leaf was past the bound")
                .isEqualTo("s0-primary");
        // under fallback=error the read routed again is refused, as one routed then would be
        assertThat(readAfterWaitingWhileTheLeafFellBehind("&fallback=error")).isEqualTo("55000");
    }

    /** The node that served the read, or the SQLState it failed with. */
    private String readAfterWaitingWhileTheLeafFellBehind(String settings) throws Exception {
        PgNode leaf = cluster.node("s0-leaf1");
        String url = cluster.shardlineUrl()
                + "?maxStalenessMs=1000&poolSize=1&connectTimeoutMs=30000&replicaWeights=s0-hub1:0" + settings;
        String read = "SELECT inet_server_port(), count(*) FROM kv WHERE k = 1";
        ExecutorService reader = Executors.newSingleThreadExecutor();
        await().atMost(Duration.ofSeconds(15))
                .until(() -> monitor().report("s0-leaf1").orElseThrow().lagMs() < 300);
        try (Connection holder = DriverManager.getConnection(url);
                Connection waiting = DriverManager.getConnection(url)) {
            assertThat(servedBy(holder, read)).as("the holder's read").isEqualTo("s0-leaf1");
            // the leaf's only pooled connection stays with the holder until it closes
            Future<String> waited = reader.submit(() -> {
                try {
                    return servedBy(waiting, read);
                } catch (SQLException e) {
                    return e.getSQLState();
                }
            });
            // a head start only: the read chooses the leaf at once, and the leaf's lag passes the bound only 1 s or
            // more after the delay below is set, so a later start chooses it too; the assertion shows it waits
            Thread.sleep(300);
            assertThat(waited).as("the read waits for the leaf's connection").isNotDone();
            leaf.setApplyDelay(Duration.ofSeconds(3));
            await().atMost(Duration.ofSeconds(15))
                    .until(() -> monitor().report("s0-leaf1").orElseThrow().lagMs() > 1500);
            holder.close();
            return waited.get(30, TimeUnit.SECONDS);
        } finally {
            reader.shutdownNow();
            leaf.setApplyDelay(Duration.ZERO);
        }
    }

    private static String servedBy(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            assertThat(rs.next()).isTrue();
            return nodeByPort.get(rs.getInt(1));
        }
    }

    /**
     * The session reads its commit's position only when a replica could serve the read (no round trip per write):
     * the hub is paused and the leaf replays 1 s behind, so lag reports newer than the commit (which make the session
     * read its position) show the leaf replaying, but short of the commit, for a second. Every read in that window must still see the write (the
     * primary serves it), and once the leaf replayed it, the leaf serves the reads.
     */
    @Test
    void aCommitsPositionReadLazilyNeverSendsAReadToAReplicaThatLacksTheWrite() throws Exception {
        PgNode hub = cluster.node("s0-hub1");
        PgNode leaf = cluster.node("s0-leaf1");
        hub.pauseReplay();
        leaf.setApplyDelay(Duration.ofSeconds(1));
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl() + "?maxStalenessMs=60000");
                PreparedStatement write = c.prepareStatement(
                        "INSERT INTO kv (k, v) VALUES (-2, ?) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v");
                PreparedStatement read = c.prepareStatement("SELECT v, inet_server_port() FROM kv WHERE k = -2")) {
            for (int round = 0; round < 3; round++) {
                long value = System.nanoTime();
                write.setLong(1, value);
                write.executeUpdate();
                long written = System.nanoTime();
                Map<String, Integer> byNode = new HashMap<>();
                long firstOnLeafMs = -1;
                while (firstOnLeafMs < 0
                        && System.nanoTime() - written < Duration.ofSeconds(15).toNanos()) {
                    try (ResultSet rs = read.executeQuery()) {
                        assertThat(rs.next()).isTrue();
                        String node = nodeByPort.get(rs.getInt(2));
                        assertThat(rs.getLong(1))
                                .as(
                                        "round %d: a read served by %s %d ms after the write",
                                        round,
                                        node,
                                        Duration.ofNanos(System.nanoTime() - written)
                                                .toMillis())
                                .isEqualTo(value);
                        byNode.merge(node, 1, Integer::sum);
                        if (node.equals("s0-leaf1")) {
                            firstOnLeafMs = Duration.ofNanos(System.nanoTime() - written)
                                    .toMillis();
                        }
                    }
                    Thread.sleep(2);
                }
                System.out.printf(
                        "lazy causal token, round %d: reads by node %s, the leaf first served one %d ms after the"
                                + " write%n",
                        round, byNode, firstOnLeafMs);
                assertThat(byNode).as("round %d: reads by node", round).doesNotContainKey("s0-hub1");
                assertThat(firstOnLeafMs)
                        .as("round %d: the leaf serves the reads once it replayed the write", round)
                        .isGreaterThanOrEqualTo(1000);
            }
        } finally {
            leaf.setApplyDelay(Duration.ZERO);
            hub.resumeReplay();
        }
    }

    /**
     * A token given out reads the position of the session's pending commits; inside a transaction that failed on that
     * primary it must read it elsewhere, not drop the shard from the token.
     */
    @Test
    void aTokenGivenOutInsideAFailedTransactionStillCarriesTheSessionsWrite() throws Exception {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            s.executeUpdate("INSERT INTO kv (k, v) VALUES (-3, 1) ON CONFLICT (k) DO UPDATE SET v = 1");
            c.setAutoCommit(false);
            SQLException failed = catchThrowableOfType(
                    SQLException.class, () -> s.executeUpdate("UPDATE kv SET v = v / 0 WHERE k = -3"));
            assertThat(failed.getSQLState()).isEqualTo("22012");
            assertThat(c.unwrap(ShardlineConnection.class).causalToken()).matches("lagaware@0=[0-9A-F]+/[0-9A-F]+");
            c.rollback();
        }
    }

    /**
     * A COMMIT whose connection broke may have committed: the session's next read must not go to a replica that may
     * lack it, as after a commit. A deferred trigger ends the backend during COMMIT (the driver reports 08007).
     */
    @Test
    void aCommitWhoseOutcomeIsUnknownKeepsTheSessionsReadsOffReplicasThatMayLackIt() throws Exception {
        try (Connection admin = cluster.primary(0).connect();
                Statement a = admin.createStatement()) {
            a.execute("CREATE TABLE dies_at_commit (k bigint PRIMARY KEY)");
            a.execute("CREATE FUNCTION die() RETURNS trigger LANGUAGE plpgsql AS"
                    + " $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$");
            a.execute("CREATE CONSTRAINT TRIGGER die AFTER INSERT ON dies_at_commit DEFERRABLE INITIALLY DEFERRED"
                    + " FOR EACH ROW EXECUTE FUNCTION die()");
        }
        String read = "SELECT inet_server_port(), count(*) FROM kv WHERE k = -4";
        PgNode hub = cluster.node("s0-hub1");
        PgNode leaf = cluster.node("s0-leaf1");
        // both replicas replay 5 s behind, within the bound
        hub.setApplyDelay(Duration.ofSeconds(5));
        leaf.setApplyDelay(Duration.ofSeconds(5));
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl() + "?maxStalenessMs=60000");
                Statement s = c.createStatement()) {
            // before any write, once the driver has the monitor's lag reports, a replica serves the read
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> !servedBy(s, read).equals("s0-primary"));
            c.setAutoCommit(false);
            s.executeUpdate("INSERT INTO kv (k, v) VALUES (-4, 1) ON CONFLICT (k) DO UPDATE SET v = 1");
            s.executeUpdate("INSERT INTO dies_at_commit VALUES (1)");
            SQLException unknown = catchThrowableOfType(SQLException.class, c::commit);
            assertThat(unknown.getSQLState()).isEqualTo("08007");
            c.setAutoCommit(true);
            assertThat(servedBy(s, read)).as("a read after the unknown outcome").isEqualTo("s0-primary");
        } finally {
            leaf.setApplyDelay(Duration.ZERO);
            hub.setApplyDelay(Duration.ZERO);
        }
    }

    private static String servedBy(Statement s, String read) throws SQLException {
        try (ResultSet rs = s.executeQuery(read)) {
            assertThat(rs.next()).isTrue();
            return nodeByPort.get(rs.getInt(1));
        }
    }

    @Test
    void aCausalTokenCarriesWritesToAnotherConnection() throws Exception {
        try (Connection writer = DriverManager.getConnection(cluster.shardlineUrl());
                Connection reader = DriverManager.getConnection(cluster.shardlineUrl() + "?rywWaitMs=2000");
                Statement w = writer.createStatement();
                Statement r = reader.createStatement()) {
            ShardlineConnection shardline = writer.unwrap(ShardlineConnection.class);
            assertThat(shardline.causalToken()).isEqualTo("lagaware@");
            cluster.node("s0-hub1").pauseReplay();
            cluster.node("s0-leaf1").pauseReplay();
            try {
                w.executeUpdate("INSERT INTO kv (k, v) VALUES (-1, 7) ON CONFLICT (k) DO UPDATE SET v = 7");
                String token = shardline.causalToken();
                assertThat(token).matches("lagaware@0=[0-9A-F]+/[0-9A-F]+");
                r.execute("SET shardline.causal_token = '" + token + "'");
                try (ResultSet rs = r.executeQuery("SHOW shardline.causal_token")) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getString(1)).isEqualTo(token);
                }
                // Both replicas are paused behind the write: the token sends the read to the primary.
                try (ResultSet rs = r.executeQuery("SELECT v, inet_server_port() FROM kv WHERE k = -1")) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getLong(1)).isEqualTo(7);
                    assertThat(nodeByPort.get(rs.getInt(2))).isEqualTo("s0-primary");
                }
            } finally {
                cluster.node("s0-leaf1").resumeReplay();
                cluster.node("s0-hub1").resumeReplay();
            }
            SQLException other = catchThrowableOfType(
                    SQLException.class, () -> r.execute("SET shardline.causal_token = 'elsewhere@0=0/1'"));
            assertThat(other.getSQLState()).isEqualTo("22023");
            assertThat(other.getMessage()).contains("of cluster 'elsewhere'");
        }
    }

    record RywResult(int pairs, long elapsedMs, int violations, Map<String, Integer> byNode) {}

    /** Writes a fresh value to a random key, then reads it back on the same connection, {@code pairs} times. */
    static RywResult writeThenRead(String url, int pairs) throws SQLException {
        Map<String, Integer> byNode = new HashMap<>();
        int violations = 0;
        SplittableRandom random = new SplittableRandom(42);
        long start = System.nanoTime();
        try (Connection c = DriverManager.getConnection(url);
                PreparedStatement write = c.prepareStatement(
                        "INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v");
                PreparedStatement read = c.prepareStatement("SELECT v, inet_server_port() FROM kv WHERE k = ?")) {
            for (int i = 0; i < pairs; i++) {
                long key = random.nextLong(1, 1000);
                long value = System.nanoTime();
                write.setLong(1, key);
                write.setLong(2, value);
                write.executeUpdate();
                read.setLong(1, key);
                try (ResultSet rs = read.executeQuery()) {
                    boolean found = rs.next();
                    if (!found || rs.getLong(1) != value) {
                        violations++;
                    }
                    byNode.merge(found ? nodeByPort.get(rs.getInt(2)) : "no row", 1, Integer::sum);
                }
            }
        }
        return new RywResult(pairs, Duration.ofNanos(System.nanoTime() - start).toMillis(), violations, byNode);
    }
}
