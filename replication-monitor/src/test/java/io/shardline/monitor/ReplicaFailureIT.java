package io.shardline.monitor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.topology.ReplicaState;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Replica and connection failures under load on a real cascade: s0-primary -> s0-hub1 -> s0-leaf1, and
 * s0-hub2. Nodes are killed with SIGKILL and backends terminated with {@code pg_terminate_backend}.
 */
class ReplicaFailureIT {
    private static MonitoredCluster fixture;
    private static LocalCluster cluster;
    private static Map<Integer, String> nodeByPort;

    @BeforeAll
    static void start() throws SQLException {
        fixture = MonitoredCluster.start("failures", 2, 1, List.of());
        cluster = fixture.cluster;
        nodeByPort = fixture.nodeByPort();
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE events (id bigint)");
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
    void killingAHubLosesNoReadAndItsLeafFallsOutUntilTheHubIsBack() throws Exception {
        PgNode hub1 = cluster.node("s0-hub1");
        List<ReadLoop> loops = new ArrayList<>();
        try {
            for (int i = 0; i < 4; i++) {
                loops.add(new ReadLoop(nodeByPort, cluster.shardlineUrl()));
            }
            loops.get(0).awaitServedBy("s0-hub1", Duration.ofSeconds(20));
            loops.get(0).awaitServedBy("s0-leaf1", Duration.ofSeconds(20));
            long killedAt = System.nanoTime();
            hub1.kill();
            try {
                await().atMost(Duration.ofSeconds(15))
                        .until(() -> monitor().report("s0-leaf1").orElseThrow().state() != ReplicaState.STREAMING);
                long leafOutAt = System.nanoTime();
                Thread.sleep(3000);
                List<ReadLoop.Read> afterKill = reads(loops, killedAt);
                List<ReadLoop.Read> afterLeafOut =
                        reads(loops, leafOutAt + Duration.ofMillis(300).toNanos());
                System.out.printf(
                        "hub1 killed: %d reads since, served by %s; leaf reported %s %d ms after the kill;"
                                + " client errors: %d%n",
                        afterKill.size(),
                        afterKill.stream()
                                .map(ReadLoop.Read::node)
                                .distinct()
                                .sorted()
                                .toList(),
                        monitor().report("s0-leaf1").orElseThrow().state(),
                        Duration.ofNanos(leafOutAt - killedAt).toMillis(),
                        errors(loops).size());
                assertThat(errors(loops)).as("errors the application saw").isEmpty();
                assertThat(afterKill).hasSizeGreaterThan(500);
                assertThat(afterLeafOut).isNotEmpty().noneMatch(r -> r.node().equals("s0-leaf1"));
                assertThat(afterLeafOut).anyMatch(r -> r.node().equals("s0-hub2"));
            } finally {
                hub1.start();
            }
            // the background probe lets the hub in again, and the leaf follows once it streams again
            loops.get(0).awaitServedBy("s0-hub1", Duration.ofSeconds(30));
            loops.get(0).awaitServedBy("s0-leaf1", Duration.ofSeconds(30));
            assertThat(errors(loops)).isEmpty();
        } finally {
            for (ReadLoop loop : loops) {
                loop.close();
            }
        }
    }

    @Test
    void aReadWhoseReplicaConnectionBreaksIsRetriedElsewhere() throws Exception {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl() + "?maxStalenessMs=-1");
                Statement s = c.createStatement()) {
            CompletableFuture<String> read = CompletableFuture.supplyAsync(() -> {
                try (ResultSet rs = s.executeQuery("SELECT inet_server_port() FROM pg_sleep(0.8)")) {
                    rs.next();
                    return nodeByPort.get(rs.getInt(1));
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            String terminated = terminateBackendRunning("pg_sleep(0.8)", "s0-hub1", "s0-hub2", "s0-leaf1");
            String servedBy = read.get(10, TimeUnit.SECONDS);
            System.out.printf("read broken on %s, retried and served by %s%n", terminated, servedBy);
            assertThat(servedBy).isNotNull().isNotEqualTo(terminated);
        }
    }

    @Test
    void aWriteWhoseConnectionBreaksIsReportedAsUnknownAndNotRetried() throws Exception {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            CompletableFuture<SQLException> write = CompletableFuture.supplyAsync(() -> catchThrowableOfType(
                    SQLException.class, () -> s.executeUpdate("INSERT INTO events SELECT 1 FROM pg_sleep(0.8)")));
            terminateBackendRunning("pg_sleep(0.8)", "s0-primary");
            SQLException e = write.get(10, TimeUnit.SECONDS);
            assertThat(e.getSQLState()).isEqualTo("08007");
            assertThat(e.getMessage())
                    .contains("the outcome of this statement on s0-primary is unknown")
                    .contains("does not retry writes");
            // not retried: the terminated insert never committed and nothing else ran it
            try (ResultSet rs = s.executeQuery("SELECT count(*) FROM events WHERE id = 1")) {
                rs.next();
                assertThat(rs.getLong(1)).isZero();
            }
        }
    }

    @Test
    void aTransactionWhoseConnectionBreaksFailsUntilRolledBack() throws Exception {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            s.executeUpdate("INSERT INTO events VALUES (2)");
            terminateBackendRunning("INSERT INTO events VALUES (2)", "s0-primary");
            SQLException broken =
                    catchThrowableOfType(SQLException.class, () -> s.executeUpdate("INSERT INTO events VALUES (3)"));
            assertThat(broken.getSQLState()).as(broken.toString()).isIn("57P01", "08006", "08003");
            SQLException lost =
                    catchThrowableOfType(SQLException.class, () -> s.executeUpdate("INSERT INTO events VALUES (4)"));
            assertThat(lost.getSQLState()).isEqualTo("25P02");
            assertThat(lost.getMessage()).contains("was rolled back when its connection broke", "call rollback()");
            SQLException commit = catchThrowableOfType(SQLException.class, c::commit);
            assertThat(commit.getSQLState()).isEqualTo("40000");
            assertThat(commit.getMessage()).contains("nothing was committed");
            s.executeUpdate("INSERT INTO events VALUES (5)");
            c.commit();
            try (ResultSet rs = s.executeQuery("SELECT array_agg(id ORDER BY id)::text FROM events WHERE id >= 2")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("{5}");
            }
        }
    }

    /** Terminates the Shardline backend whose query contains {@code text} on whichever of {@code nodes} runs it. */
    private static String terminateBackendRunning(String text, String... nodes) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (System.nanoTime() < deadline) {
            for (String node : nodes) {
                try (Connection admin = cluster.node(node).connect();
                        Statement s = admin.createStatement();
                        ResultSet rs = s.executeQuery("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                + " WHERE application_name = 'shardline' AND position('"
                                + text.replace("'", "''") + "' IN query) > 0 AND pid <> pg_backend_pid()")) {
                    rs.next();
                    if (rs.getInt(1) > 0) {
                        return node;
                    }
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no backend ran '" + text + "'");
    }

    private static List<ReadLoop.Read> reads(List<ReadLoop> loops, long since) {
        return loops.stream().flatMap(l -> l.readsStartedAfter(since).stream()).toList();
    }

    private static List<Throwable> errors(List<ReadLoop> loops) {
        return loops.stream().flatMap(l -> l.errors().stream()).toList();
    }
}
