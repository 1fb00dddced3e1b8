package io.shardline.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Scope;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.shardline.compose.LocalCluster;
import io.shardline.router.metrics.ShardlineMetrics;
import io.shardline.router.metrics.ShardlineTracing;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.LagReport;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.NodeRole;
import io.shardline.topology.ReplicaState;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.json.JsonMapper;

/**
 * The driver's meters, in a Micrometer registry the application handed it, and its spans, in the OpenTelemetry SDK's
 * in-memory exporter: keyed reads on a replica, writes on the primary, a cross-shard read with its rows shipped and a
 * child span per shard, a two-phase commit and its phases, reads that fell back to the primary and why, fence waits
 * during a move, a replica killed (ejection, retry), and HikariCP's pool gauges per node.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DriverTelemetryIT {
    private static final SimpleMeterRegistry REGISTRY = new SimpleMeterRegistry();
    private static final InMemorySpanExporter SPANS = InMemorySpanExporter.create();
    private static final OpenTelemetrySdk OTEL = OpenTelemetrySdk.builder()
            .setTracerProvider(SdkTracerProvider.builder()
                    .addSpanProcessor(SimpleSpanProcessor.create(SPANS))
                    .build())
            .build();
    private static final Tracer APP = OTEL.getTracer("app");

    private static LocalCluster cluster;
    /** The database's name, the spans' {@code db.namespace}. */
    private static String database;

    private static HashRing ring;
    private static String url;

    @BeforeAll
    static void start() throws SQLException {
        ShardlineMetrics.use(REGISTRY);
        ShardlineTracing.use(OTEL);
        cluster = LocalCluster.builder()
                .name("metrics")
                .shards(2)
                .hubs(1)
                .leaves(0)
                .start();
        ring = RouterClusters.publish(cluster, List.of(new ShardedTable("public", "kv", "k", KeyType.INTEGER)));
        url = cluster.shardlineUrl() + "?user=postgres&twoPhaseCommit=true&maxStalenessMs=-1";
        database = cluster.database();
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE kv (k bigint PRIMARY KEY, v int NOT NULL)");
        }
        RouterClusters.awaitTable(cluster.nodes(), "kv");
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        ShardlineMetrics.useGlobalRegistry();
        ShardlineTracing.useGlobal();
        OTEL.close();
        if (cluster != null) {
            cluster.close();
        }
    }

    private static long keyOn(int shard, long from) {
        long k = from;
        while (ring.shardFor(KeyHash.hashInt8(k)) != shard) {
            k++;
        }
        return k;
    }

    /** The finished spans named {@code name}, newest last. */
    private static List<SpanData> spans(String name) {
        return SPANS.getFinishedSpanItems().stream()
                .filter(s -> s.getName().equals(name))
                .toList();
    }

    /** What the SDK's clock and the test's may differ by (each reads the wall clock to the microsecond). */
    private static final long CLOCKS = TimeUnit.MILLISECONDS.toNanos(1);

    private static long epochNanos() {
        Instant now = Instant.now();
        return TimeUnit.SECONDS.toNanos(now.getEpochSecond()) + now.getNano();
    }

    private static SpanData last(String name) {
        List<SpanData> found = spans(name);
        assertThat(found).as("spans named %s", name).isNotEmpty();
        return found.get(found.size() - 1);
    }

    private static List<SpanData> children(SpanData parent) {
        return SPANS.getFinishedSpanItems().stream()
                .filter(s -> s.getParentSpanId().equals(parent.getSpanId()))
                .toList();
    }

    private static long statements(String... tags) {
        return REGISTRY.find("shardline.statements").tags(tags).timers().stream()
                .mapToLong(Timer::count)
                .sum();
    }

    private static double counter(String name, String... tags) {
        return REGISTRY.find(name).tags(tags).counters().stream()
                .mapToDouble(Counter::count)
                .sum();
    }

    private static int update(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement()) {
            return s.executeUpdate(sql);
        }
    }

    private static long one(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    @Order(1)
    void statementsAreTimedByKindRouteShardAndRole() throws Exception {
        long k0 = keyOn(0, 1);
        long k1 = keyOn(1, 1);
        long writes = statements("kind", "write", "route", "primary", "role", "primary", "outcome", "ok");
        try (Connection c = DriverManager.getConnection(url)) {
            update(c, "INSERT INTO kv VALUES (" + k0 + ", 1)");
            update(c, "INSERT INTO kv VALUES (" + k1 + ", 2)");
            assertThat(statements("kind", "write", "route", "primary", "role", "primary", "outcome", "ok"))
                    .isEqualTo(writes + 2);
            assertThat(statements("kind", "write", "shard", "0", "cluster", "metrics"))
                    .isPositive();
            cluster.awaitReplication(Duration.ofSeconds(30));

            long replicaReads = statements("kind", "read", "route", "replica", "role", "hub", "shard", "1");
            Span app = APP.spanBuilder("app request").startSpan();
            // a connection that wrote nothing: no write of its own to wait for (read-your-writes)
            long before;
            long after;
            try (Scope scope = app.makeCurrent();
                    Connection reader = DriverManager.getConnection(url)) {
                before = epochNanos();
                one(reader, "SELECT v FROM kv WHERE k = " + k1);
                after = epochNanos();
            } finally {
                app.end();
            }
            assertThat(statements("kind", "read", "route", "replica", "role", "hub", "shard", "1"))
                    .isEqualTo(replicaReads + 1);
            SpanData read = last("SELECT " + database);
            assertThat(read.getParentSpanId())
                    .as("the application's current span is the parent")
                    .isEqualTo(app.getSpanContext().getSpanId());
            assertThat(read.getKind()).isEqualTo(SpanKind.CLIENT);
            // the span is made when the statement ends, its start worked back from how long it ran
            assertThat(read.getStartEpochNanos())
                    .as("started when the statement started")
                    .isBetween(before - CLOCKS, after);
            assertThat(read.getEndEpochNanos())
                    .as("ended when it ended")
                    .isBetween(read.getStartEpochNanos() + 1, after + CLOCKS);
            Attributes a = read.getAttributes();
            assertThat(a.get(AttributeKey.stringKey("db.system.name"))).isEqualTo("postgresql");
            assertThat(a.get(AttributeKey.stringKey("db.namespace"))).isEqualTo(database);
            assertThat(a.get(AttributeKey.stringKey("db.operation.name"))).isEqualTo("SELECT");
            assertThat(a.get(AttributeKey.stringKey("shardline.route"))).isEqualTo("replica");
            assertThat(a.get(AttributeKey.longKey("shardline.shard"))).isEqualTo(1L);
            assertThat(a.get(AttributeKey.stringKey("shardline.node"))).isEqualTo("s1-hub1");
            assertThat(a.get(AttributeKey.stringKey("shardline.role"))).isEqualTo("hub");
            assertThat(a.get(AttributeKey.stringKey("shardline.reason"))).isEqualTo("replica");
            assertThat(a.get(AttributeKey.longKey("server.port")))
                    .isEqualTo((long) cluster.node("s1-hub1").port());
            assertThat(a.get(AttributeKey.stringKey("db.query.text")))
                    .as("the text only with traceQueryText=true")
                    .isNull();

            long errors = statements("kind", "read", "outcome", "error");
            catchThrowableOfType(SQLException.class, () -> one(c, "SELECT nope FROM kv WHERE k = " + k1));
            assertThat(statements("kind", "read", "outcome", "error")).isEqualTo(errors + 1);
            SpanData failed = last("SELECT " + database);
            assertThat(failed.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
            assertThat(failed.getAttributes().get(AttributeKey.stringKey("error.type")))
                    .isEqualTo("42703");

            long crossShard = statements("kind", "read", "route", "cross_shard", "shard", "several");
            DistributionSummary rows = REGISTRY.get("shardline.crossshard.rows").summary();
            long reads = rows.count();
            double shipped = rows.totalAmount();
            assertThat(one(c, "SELECT count(*) FROM kv")).isEqualTo(2);
            assertThat(statements("kind", "read", "route", "cross_shard", "shard", "several"))
                    .isEqualTo(crossShard + 1);
            assertThat(rows.count()).isEqualTo(reads + 1);
            assertThat(rows.totalAmount() - shipped)
                    .as("one partial count per shard")
                    .isEqualTo(2);
            SpanData across = last("SELECT " + database);
            assertThat(across.getAttributes().get(AttributeKey.stringKey("shardline.route")))
                    .isEqualTo("cross_shard");
            assertThat(children(across))
                    .as("one child per shard's part")
                    .extracting(s -> s.getAttributes().get(AttributeKey.longKey("shardline.shard")))
                    .containsExactlyInAnyOrder(0L, 1L);
            // started early to be its children's parent: they run within it
            assertThat(children(across)).allSatisfy(part -> {
                assertThat(part.getStartEpochNanos()).isGreaterThanOrEqualTo(across.getStartEpochNanos());
                assertThat(part.getEndEpochNanos()).isLessThanOrEqualTo(across.getEndEpochNanos() + CLOCKS);
            });

            long driver = statements("kind", "txn", "route", "driver");
            c.setAutoCommit(false);
            update(c, "UPDATE kv SET v = v - 1 WHERE k = " + k0);
            update(c, "UPDATE kv SET v = v + 1 WHERE k = " + k1);
            Timer committed = REGISTRY.get("shardline.twophase.commits")
                    .tags("outcome", "committed")
                    .timer();
            long commits = committed.count();
            c.commit();
            assertThat(committed.count()).isEqualTo(commits + 1);
            assertThat(children(last("shardline.two_phase_commit " + database)))
                    .extracting(SpanData::getName)
                    .containsExactly("shardline.prepare", "shardline.decide", "shardline.commit_prepared");
            update(c, "UPDATE kv SET v = v + 1 WHERE k = " + k0);
            update(c, "UPDATE kv SET v = v - 1 WHERE k = " + k1);
            try (Statement s = c.createStatement()) {
                s.execute("COMMIT");
            }
            assertThat(committed.count()).isEqualTo(commits + 2);
            SpanData twoPhase = last("shardline.two_phase_commit " + database);
            assertThat(twoPhase.getParentSpanId())
                    .as("a two-phase commit by a COMMIT statement is that statement's child")
                    .isEqualTo(last("COMMIT " + database).getSpanId());
            assertThat(children(twoPhase))
                    .extracting(SpanData::getName)
                    .containsExactly("shardline.prepare", "shardline.decide", "shardline.commit_prepared");
            c.setAutoCommit(true);
            try (Statement s = c.createStatement()) {
                s.execute("BEGIN");
                s.execute("COMMIT");
            }
            assertThat(statements("kind", "txn", "route", "driver"))
                    .as("the two COMMITs and the BEGIN")
                    .isEqualTo(driver + 3);

            long refused = statements("route", "refused");
            catchThrowableOfType(
                    SQLException.class,
                    () -> update(
                            c,
                            "UPDATE kv SET v = 0 WHERE k IN (" + k0 + ", " + k1
                                    + ") AND false AND v IN (SELECT v FROM kv)"));
            catchThrowableOfType(SQLException.class, () -> update(c, "PREPARE TRANSACTION 'x'"));
            assertThat(statements("route", "refused")).isGreaterThan(refused);
        }
        // HikariCP's own gauges, one pool per node
        assertThat(REGISTRY.find("hikaricp.connections")
                        .tag("pool", "shardline-" + cluster.primary(0).name())
                        .gauge())
                .isNotNull()
                .extracting(Gauge::value)
                .satisfies(v -> assertThat((Double) v).isPositive());
    }

    @Test
    @Order(2)
    void readsThatFallBackToThePrimaryAreCountedByReason() throws Exception {
        long k = keyOn(0, 100);
        double noReport = counter("shardline.reads.fallbacks", "reason", "no_lag_report", "shard", "0");
        // a staleness bound and no replication monitor publishing lag: no replica is known to be within it
        try (Connection c = DriverManager.getConnection(url.replace("maxStalenessMs=-1", "maxStalenessMs=1000"))) {
            one(c, "SELECT count(*) FROM kv WHERE k = " + k);
        }
        assertThat(counter("shardline.reads.fallbacks", "reason", "no_lag_report", "shard", "0"))
                .isEqualTo(noReport + 1);
    }

    @Test
    @Order(3)
    void writesHeldAtAMovesFenceAreTimedPassedOrRefused() throws Exception {
        try (CuratorFramework client =
                        ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
                Connection held = DriverManager.getConnection(url + "&fenceWaitMs=10000");
                Connection refused = DriverManager.getConnection(url + "&fenceWaitMs=300")) {
            MoveScript moves = new MoveScript(client, "metrics");
            long key = keyOn(0, 500);
            long hash = KeyHash.hashInt8(key);
            Timer passed = REGISTRY.get("shardline.fence.waits")
                    .tags("outcome", "passed")
                    .timer();
            Timer failed = REGISTRY.get("shardline.fence.waits")
                    .tags("outcome", "refused")
                    .timer();
            long passedBefore = passed.count();
            long failedBefore = failed.count();

            moves.writeMove("f1", MoveState.FENCED, new long[] {hash, hash}, 0, 1);
            // every router (each URL here is a runtime of its own) holds the moving range
            await().atMost(Duration.ofSeconds(10)).until(() -> moves.routersHolding("f1") == moves.routers());
            SQLException e = catchThrowableOfType(
                    SQLException.class, () -> update(refused, "INSERT INTO kv VALUES (" + key + ", 1)"));
            assertThat(e.getSQLState()).isEqualTo("40001");
            assertThat(failed.count()).isEqualTo(failedBefore + 1);

            CountDownLatch sending = new CountDownLatch(1);
            CompletableFuture<Integer> write = CompletableFuture.supplyAsync(() -> {
                sending.countDown();
                try {
                    return update(held, "INSERT INTO kv VALUES (" + key + ", 1)");
                } catch (SQLException x) {
                    throw new IllegalStateException(x);
                }
            });
            // the write is on its way (a busy pool may start it late); 300 ms later it is still held, at the fence
            // (nothing else holds it that long): its wait is at least the time from then until the move ends
            assertThat(sending.await(10, TimeUnit.SECONDS)).isTrue();
            Thread.sleep(300);
            assertThat(write).isNotDone();
            long heldFrom = System.nanoTime();
            Thread.sleep(300);
            long heldAtLeastMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - heldFrom);
            moves.writeMove("f1", MoveState.ABORTED, new long[] {hash, hash}, 0, 1);
            assertThat(write.get(10, TimeUnit.SECONDS)).isEqualTo(1);
            assertThat(passed.count()).isEqualTo(passedBefore + 1);
            assertThat(last("INSERT " + database).getAttributes().get(AttributeKey.longKey("shardline.fence_wait_ms")))
                    .isGreaterThanOrEqualTo(heldAtLeastMs);
            assertThat(passed.max(TimeUnit.MILLISECONDS)).isGreaterThanOrEqualTo(heldAtLeastMs);
            moves.deleteMoves();
        }
    }

    @Test
    @Order(4)
    void aKilledReplicaIsEjectedAndItsReadRunsElsewhere() throws Exception {
        long k = keyOn(1, 1);
        try (Connection c = DriverManager.getConnection(url)) {
            // the read's connection to the hub exists before the kill
            one(c, "SELECT count(*) FROM kv WHERE k = " + k);
            double ejections = counter("shardline.replicas.ejections", "shard", "1");
            double retries = counter("shardline.retries", "reason", "replica_unreachable");
            cluster.node("s1-hub1").kill();
            assertThat(one(c, "SELECT count(*) FROM kv WHERE k = " + k)).isEqualTo(1);
            assertThat(counter("shardline.replicas.ejections", "shard", "1", "node", "s1-hub1"))
                    .isEqualTo(ejections + 1);
            assertThat(counter("shardline.retries", "reason", "replica_unreachable"))
                    .isEqualTo(retries + 1);
            long onPrimary = statements("kind", "read", "route", "primary", "shard", "1");
            one(c, "SELECT count(*) FROM kv WHERE k = " + k);
            assertThat(statements("kind", "read", "route", "primary", "shard", "1"))
                    .as("the only replica ejected: the primary")
                    .isEqualTo(onPrimary + 1);
            assertThat(counter("shardline.reads.fallbacks", "reason", "ejected", "shard", "1"))
                    .isPositive();
        }
    }

    @Test
    @Order(6)
    void withTraceQueryTextASpanCarriesTheTextWithoutItsLiterals() throws Exception {
        try (Connection c = DriverManager.getConnection(url + "&traceQueryText=true")) {
            one(c, "SELECT count(*) /* secret */ FROM kv WHERE k = 12345 AND 'abc' <> $$x$$");
        }
        assertThat(last("SELECT " + database).getAttributes().get(AttributeKey.stringKey("db.query.text")))
                .isEqualTo("SELECT count(*) FROM kv WHERE k = ? AND ? <> ?");
    }

    /**
     * A short scan runs the final node's own part inside the final query: a child span for the other shard's part
     * only. Once a shard's part of it was slow, every part runs on its own again, side by side: a child each.
     */
    @Test
    @Order(7)
    void aShortScanReadsOnlyTheOtherShardApartUnlessItsPartsAreSlow() throws Exception {
        try (Connection c = DriverManager.getConnection(url + "&readFrom=primary")) {
            for (int k = 1000; k < 1040; k++) {
                update(c, "INSERT INTO kv VALUES (" + k + ", 1) ON CONFLICT (k) DO NOTHING");
            }
            assertThat(one(c, "SELECT k FROM kv WHERE k >= 1000 ORDER BY k LIMIT 5"))
                    .isEqualTo(1000);
            assertThat(children(last("SELECT " + database)))
                    .as("one part read apart: the final node's ran inside the final query")
                    .hasSize(1);
            String slow = "SELECT k FROM kv WHERE k >= 1010 AND pg_sleep(0.002) IS NOT NULL ORDER BY k LIMIT 5";
            assertThat(one(c, slow)).isEqualTo(1010);
            assertThat(one(c, slow)).isEqualTo(1010);
            assertThat(children(last("SELECT " + database)))
                    .as("a part of the first run took longer than 2 ms: every part apart, in parallel")
                    .extracting(s -> s.getAttributes().get(AttributeKey.longKey("shardline.shard")))
                    .containsExactlyInAnyOrder(0L, 1L);
        }
    }

    /** The statement timer's lookups exist per tag set: a PreparedStatement's executions share one. */
    @Test
    @Order(5)
    void repeatedStatementsShareTheirTimer() throws Exception {
        long k = keyOn(0, 1);
        try (Connection c = DriverManager.getConnection(url);
                PreparedStatement ps = c.prepareStatement("UPDATE kv SET v = v WHERE k = ?")) {
            int timers = REGISTRY.find("shardline.statements").timers().size();
            for (int i = 0; i < 100; i++) {
                ps.setLong(1, k);
                ps.executeUpdate();
            }
            assertThat(REGISTRY.find("shardline.statements").timers()).hasSizeLessThanOrEqualTo(timers + 1);
        }
    }

    @Test
    @Order(8)
    void aCopyIsTimedAsOneWriteOnTheShardsItWrote() throws Exception {
        long k0 = keyOn(0, 7_000);
        long k1 = keyOn(1, 7_000);
        String[] ok = {"kind", "write", "route", "every_shard", "outcome", "ok"};
        String[] error = {"kind", "write", "route", "every_shard", "outcome", "error"};
        long copied = statements(ok);
        long failed = statements(error);
        try (Connection c = DriverManager.getConnection(url)) {
            org.postgresql.copy.CopyManager copy =
                    c.unwrap(org.postgresql.PGConnection.class).getCopyAPI();
            String rows = k0 + "\t1\n" + k1 + "\t2\n";
            assertThat(copy.copyIn("COPY kv (k, v) FROM STDIN", new java.io.StringReader(rows)))
                    .isEqualTo(2);
            assertThat(statements(ok)).isEqualTo(copied + 1);
            assertThatThrownBy(() -> copy.copyIn("COPY kv (k, v) FROM STDIN", new java.io.StringReader(rows)))
                    .isInstanceOf(SQLException.class);
            assertThat(statements(error)).isEqualTo(failed + 1);
        }
    }

    @Test
    @Order(9)
    void aBatchIsOneSpanWithItsSizeAndWhereItRan() throws Exception {
        long k0 = keyOn(0, 8_000);
        long k0b = keyOn(0, k0 + 1);
        long k1 = keyOn(1, 8_000);
        String name = "BATCH INSERT " + database;
        try (Connection c = DriverManager.getConnection(url);
                PreparedStatement ps = c.prepareStatement("INSERT INTO kv VALUES (?, ?)")) {
            for (long k : new long[] {k0, k0b}) {
                ps.setLong(1, k);
                ps.setInt(2, 1);
                ps.addBatch();
            }
            ps.executeBatch();
            SpanData one = last(name);
            assertThat(one.getKind()).isEqualTo(SpanKind.CLIENT);
            Attributes a = one.getAttributes();
            assertThat(a.get(AttributeKey.stringKey("db.operation.name"))).isEqualTo("BATCH INSERT");
            assertThat(a.get(AttributeKey.longKey("db.operation.batch.size"))).isEqualTo(2L);
            assertThat(a.get(AttributeKey.stringKey("shardline.route"))).isEqualTo("primary");
            assertThat(a.get(AttributeKey.longKey("shardline.shard"))).isEqualTo(0L);
            assertThat(a.get(AttributeKey.stringKey("shardline.node"))).isEqualTo("s0-primary");
            assertThat(a.get(AttributeKey.stringKey("server.address"))).isNotNull();

            // rows of both shards (two-phase commit), one of them a duplicate: the span says where, and the error
            int spans = spans(name).size();
            for (long k : new long[] {k1, k0}) {
                ps.setLong(1, k);
                ps.setInt(2, 2);
                ps.addBatch();
            }
            assertThatThrownBy(ps::executeBatch).isInstanceOf(java.sql.BatchUpdateException.class);
            assertThat(spans(name)).hasSize(spans + 1);
            SpanData both = last(name);
            assertThat(both.getAttributes().get(AttributeKey.stringKey("shardline.route")))
                    .isEqualTo("every_shard");
            assertThat(both.getStatus().getStatusCode()).isEqualTo(io.opentelemetry.api.trace.StatusCode.ERROR);
            assertThat(both.getAttributes().get(AttributeKey.stringKey("error.type")))
                    .isEqualTo("23505");
        }
    }

    @Test
    @Order(10)
    void aReplicaReadCarriesItsReplicasLagFromTheNewestReport() throws Exception {
        long k = keyOn(0, 9_000); // shard 0: shard 1's hub was killed above
        String report = ZooKeeperTopologyStore.clusterPath(cluster.name()) + "/lag/s0-hub1";
        try (ZooKeeperTopologyStore store = ZooKeeperTopologyStore.connect(
                        cluster.zkConnectString(), cluster.name(), Duration.ofSeconds(10));
                Connection c = DriverManager.getConnection(url)) {
            for (long lagMs : new long[] {37, 52}) {
                // as the replication monitor publishes it; the second one replaces the first (a new lag snapshot)
                byte[] json = JsonMapper.builder()
                        .build()
                        .writeValueAsBytes(new LagReport(
                                "s0-hub1",
                                0,
                                NodeRole.HUB,
                                lagMs,
                                0,
                                "0/0",
                                "s0-primary",
                                ReplicaState.STREAMING,
                                System.currentTimeMillis()));
                if (store.client().checkExists().forPath(report) == null) {
                    store.client().create().creatingParentsIfNeeded().forPath(report, json);
                } else {
                    store.client().setData().forPath(report, json);
                }
                await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
                    one(c, "SELECT count(*) FROM kv WHERE k = " + k);
                    Attributes a = last("SELECT " + database).getAttributes();
                    assertThat(a.get(AttributeKey.stringKey("shardline.node"))).isEqualTo("s0-hub1");
                    assertThat(a.get(AttributeKey.longKey("shardline.lag_ms"))).isEqualTo(lagMs);
                });
            }
            // no report left for a test that expects none
            store.client().delete().forPath(report);
        }
    }
}
