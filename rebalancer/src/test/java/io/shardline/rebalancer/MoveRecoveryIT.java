package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.Node;
import io.shardline.topology.RouterRegistration;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperMoveWatcher;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A move whose leader stops in each phase is finished by the next leader (a higher epoch), the old leader then
 * writes nothing; an aborted move leaves the ring and the data as they were. Each case adds an empty shard
 * and moves ranges to it; the invariants are checked over all shards.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class MoveRecoveryIT {
    static final int ROWS = 20_000;
    static final List<ShardedTable> TABLES = LogicalCopyIT.TABLES;
    /** The most shards a cluster of these tests grows to before the next test starts a fresh one. */
    static final int MAX_SHARDS = 6;

    private static LocalCluster cluster;
    private static CuratorFramework client;
    private static String base;
    private static long epoch;
    /** Only for its checks: these tests move data at rest. */
    private static MoveWorkload nothingWritten;
    /** The routers leaving, seen as a rebalancer sees them: from the start of the tests on. */
    private static RouterDepartures departures;

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder()
                .name("recovery")
                .shards(2)
                .hubs(1)
                .leaves(0)
                .start();
        RouterClusters.publish(cluster, TABLES);
        client = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        base = ZooKeeperTopologyStore.clusterPath("recovery");
        departures = RouterDepartures.start(client, "recovery");
        MoveWorkload.load(cluster, ROWS);
        nothingWritten = new MoveWorkload(cluster, ROWS, false, 0);
    }

    /**
     * The routers this test's checks opened leave now: left to close {@code idleCloseMs} later, they left in the middle
     * of the next test's cutover, which then waited out their departure grace or failed and was retried.
     */
    @AfterEach
    void closeRouters() {
        ShardlineDriver.closeAll();
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (departures != null) {
            departures.close();
            departures = null;
        }
        if (client != null) {
            client.close();
            client = null;
        }
        if (cluster != null) {
            cluster.close();
            cluster = null;
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = MoveState.class,
            names = {"SCHEMA", "COPYING", "CATCHING_UP", "FENCED", "SWITCHED", "CLEANING"})
    void aLeaderThatStopsInAPhaseIsReplacedAndTheMoveCompletes(MoveState phase) throws Exception {
        addEmptyShard();
        String id = MoveRunner.plan(client, "recovery", 0);
        long oldEpoch = ++epoch;
        MoveState stoppedIn =
                runner(oldEpoch, () -> state(id).ordinal() < phase.ordinal()).run(id);
        assertThat(stoppedIn).as("the first leader stopped in").isEqualTo(phase);

        long newEpoch = ++epoch;
        assertThat(runner(newEpoch, () -> true).run(id)).isEqualTo(MoveState.DONE);
        assertThat(ZooKeeperMoveWatcher.fromJson(client.getData().forPath(base + "/moves/" + id), id)
                        .epoch())
                .isEqualTo(newEpoch);

        // the old leader wakes up: it finds a newer epoch and writes nothing
        int version = client.checkExists().forPath(base + "/moves/" + id).getVersion();
        assertThat(runner(oldEpoch, () -> true).run(id)).isEqualTo(MoveState.DONE);
        assertThat(client.checkExists().forPath(base + "/moves/" + id).getVersion())
                .isEqualTo(version);

        nothingWritten.assertNothingLost(client, "recovery");
    }

    @Test
    void anAbortedMoveLeavesTheRingAndTheDataAsTheyWere() throws Exception {
        int target = addEmptyShard();
        HashRing before = ring();
        // copied and catching up: the target holds the moving rows, the subscription streams
        String id = planStoppedIn(MoveState.CATCHING_UP);
        assertThat(Long.parseLong(cluster.primary(target).queryString("SELECT count(*) FROM users")))
                .isPositive();
        MoveRunner.requestAbort(client, "recovery", id);
        assertThat(runner(++epoch, () -> true).run(id)).isEqualTo(MoveState.ABORTED);
        assertThat(ring()).isEqualTo(before);
        PgNode targetPrimary = cluster.primary(target);
        assertThat(targetPrimary.queryString("SELECT count(*) FROM users")).isEqualTo("0");
        assertThat(targetPrimary.queryString("SELECT count(*) FROM orders")).isEqualTo("0");
        nothingWritten.assertNothingLost(client, "recovery");
    }

    /**
     * The target applies each barrier 400 ms after it arrives (apply workers slowed by load): the barriers of the
     * move's sources are waited for at once. Waited for in turn, two of them passed the cutover's 800 ms bound and
     * every cutover failed.
     */
    @Test
    void theCutoverWaitsForTheBarriersOfAllSourcesAtOnce() throws Exception {
        int target = addEmptyShard();
        try (Connection c = cluster.primary(target).connect();
                Statement s = c.createStatement()) {
            s.execute("CREATE SCHEMA IF NOT EXISTS shardline");
            s.execute("CREATE TABLE IF NOT EXISTS shardline.move_barrier (copy text PRIMARY KEY, seq bigint NOT NULL)");
            s.execute("CREATE FUNCTION shardline.slow_barrier() RETURNS trigger LANGUAGE plpgsql AS"
                    + " $$BEGIN PERFORM pg_sleep(0.4); RETURN NEW; END$$");
            s.execute("CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON shardline.move_barrier FOR EACH ROW EXECUTE"
                    + " FUNCTION shardline.slow_barrier()");
            s.execute("ALTER TABLE shardline.move_barrier ENABLE ALWAYS TRIGGER slow");
        }
        try {
            String id = MoveRunner.plan(client, "recovery", 0);
            MoveRecord planned = move(id);
            assertThat(planned.transfers().stream()
                            .map(MoveRecord.Transfer::source)
                            .distinct()
                            .count())
                    .as("sources of the move")
                    .isGreaterThanOrEqualTo(2);
            // the runner stops at its first failed cutover: the move then carries the error
            MoveState end = runner(++epoch, () -> move(id).error() == null).run(id);
            assertThat(move(id).error()).as("the move's error").isNull();
            assertThat(end).isEqualTo(MoveState.DONE);
            nothingWritten.assertNothingLost(client, "recovery");
        } finally {
            try (Connection c = cluster.primary(target).connect();
                    Statement s = c.createStatement()) {
                s.execute("DROP FUNCTION shardline.slow_barrier() CASCADE");
            }
        }
    }

    private static MoveRecord move(String id) {
        try {
            return ZooKeeperMoveWatcher.fromJson(client.getData().forPath(base + "/moves/" + id), id);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * An operator aborts a move whose ranges the ring already gives to its target (an identical move planned at the
     * same time switched first, or a hand edit): the target's rows are the only live copy of those ranges, so the
     * abort drops the move's replication and keeps them.
     */
    @Test
    void anAbortAfterTheRingGaveTheRangesToTheTargetKeepsTheTargetsRows() throws Exception {
        addEmptyShard();
        HashRing before = ring();
        String id = planStoppedIn(MoveState.CATCHING_UP);
        // the move fills every shard without data (those earlier tests added, too)
        List<Integer> targets = record(id).transfers().stream()
                .map(MoveRecord.Transfer::target)
                .distinct()
                .sorted()
                .toList();
        Map<Integer, String> copied = new TreeMap<>();
        for (int target : targets) {
            copied.put(target, cluster.primary(target).queryString("SELECT count(*) FROM users"));
        }
        assertThat(copied.values().stream().mapToLong(Long::parseLong).sum()).isPositive();
        // what an identical move planned at the same time and switched first published
        HashRing switched = MovePlan.fillEmptyShards(before, targets).to();
        client.setData().forPath(base + "/ring", TopologyCodec.ringToJson(switched));

        MoveRunner.requestAbort(client, "recovery", id);
        assertThat(runner(++epoch, () -> true).run(id)).isEqualTo(MoveState.ABORTED);
        assertThat(record(id).error()).contains("their rows there were kept");
        String ofTheMove = " LIKE 'shardline\\_" + id + "\\_%'";
        for (int target : targets) {
            PgNode primary = cluster.primary(target);
            assertThat(primary.queryString("SELECT count(*) FROM users"))
                    .as("shard %d's rows, the only copy the ring names", target)
                    .isEqualTo(copied.get(target));
            assertThat(primary.queryString("SELECT count(*) FROM pg_subscription WHERE subname" + ofTheMove))
                    .isEqualTo("0");
        }
        for (int source : before.shards()) {
            assertThat(cluster.primary(source)
                            .queryString("SELECT count(*) FROM pg_replication_slots WHERE slot_name" + ofTheMove))
                    .isEqualTo("0");
        }

        // as it was for the next tests: the ring before (a newer version), no rows on the targets
        client.setData()
                .forPath(
                        base + "/ring",
                        TopologyCodec.ringToJson(HashRing.of(
                                switched.version() + 1,
                                before.ranges().stream()
                                        .mapToLong(HashRing.Range::start)
                                        .toArray(),
                                before.ranges().stream()
                                        .mapToInt(HashRing.Range::shard)
                                        .toArray())));
        for (int target : targets) {
            execute(cluster.primary(target), "DELETE FROM orders");
            execute(cluster.primary(target), "DELETE FROM users");
        }
        nothingWritten.assertNothingLost(client, "recovery");
    }

    /**
     * A slot's creation waits for every transaction older than it on the source: an abort meanwhile ends that wait
     * (the operator need not find and end the transaction), and leaves no slot behind, then or once the transaction
     * ends.
     */
    @Test
    void anAbortWhileASlotWaitsForAnOldTransactionOnTheSourceEndsTheWaitAndLeavesNoSlot() throws Exception {
        int target = addEmptyShard();
        HashRing before = ring();
        String id = planStoppedIn(MoveState.COPYING);
        PgNode source = cluster.primary(record(id).transfers().get(0).source());
        String slots = "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'shardline\\_" + id + "\\_%'";
        ExecutorService running = Executors.newSingleThreadExecutor();
        try (Connection old = source.connect();
                Statement s = old.createStatement()) {
            old.setAutoCommit(false);
            s.executeQuery("SELECT txid_current()").close(); // a transaction with an id, left open
            String oldPid;
            try (ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
                rs.next();
                oldPid = rs.getString(1);
            }
            long theEpoch = ++epoch;
            Future<MoveState> run =
                    running.submit(() -> runner(theEpoch, () -> true).run(id));
            await().atMost(Duration.ofSeconds(30))
                    .pollInterval(Duration.ofMillis(100))
                    .failFast(run::isDone)
                    .until(() -> source.queryString(slots).equals("1"));
            Thread.sleep(1_000);
            assertThat(run)
                    .as(
                            "the copy waits for the old transaction: %s",
                            source.queryString(
                                    "SELECT string_agg(backend_type || ' ' || coalesce(wait_event_type, '') || ' '"
                                            + " || coalesce(wait_event, '') || ' ' || left(query, 60), '; ')"
                                            + " FROM pg_stat_activity"))
                    .isNotDone();
            MoveRecord.Transfer waiting = record(id).transfers().get(0);
            LogicalCopy copy = new LogicalCopy(
                    id,
                    new MovePlan.Transfer(waiting.source(), waiting.target(), List.of()),
                    topology(),
                    LogicalCopyIT.CONNECT,
                    null,
                    false);
            assertThat(copy.oldestSourceTransactions())
                    .as("what the log names when the copy is slow to open")
                    .startsWith("pid " + oldPid + " (")
                    .contains("idle in transaction");

            MoveRunner.requestAbort(client, "recovery", id);
            assertThat(run.get(20, TimeUnit.SECONDS))
                    .as("aborted while the old transaction is still open")
                    .isEqualTo(MoveState.ABORTED);
            assertThat(source.queryString(slots))
                    .as("slots left while it is open")
                    .isEqualTo("0");
            old.rollback();
        } finally {
            running.shutdownNow();
        }
        Thread.sleep(500);
        assertThat(source.queryString(slots)).as("slots left once it ended").isEqualTo("0");
        assertThat(ring()).isEqualTo(before);
        assertThat(cluster.primary(target).queryString("SELECT count(*) FROM users"))
                .isEqualTo("0");
        nothingWritten.assertNothingLost(client, "recovery");
    }

    /**
     * A runner aborted, then superseded, while its copy's opening is held on the target (before its slot exists)
     * returns only once that opening stopped: nothing of it runs on after it, so no slot appears after the next
     * runner's cleanup.
     */
    @Test
    void aRunnerSupersededWhileAnOpeningIsHeldLeavesNothingRunningAndTheAbortLeavesNoSlot() throws Exception {
        int target = addEmptyShard();
        HashRing before = ring();
        String id = planStoppedIn(MoveState.COPYING);
        PgNode targetPrimary = cluster.primary(target);
        String deleting = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'DELETE FROM%'";
        AtomicBoolean leading = new AtomicBoolean(true);
        ExecutorService running = Executors.newSingleThreadExecutor();
        try (Connection lock = targetPrimary.connect();
                Statement s = lock.createStatement()) {
            lock.setAutoCommit(false);
            s.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"); // the opening's DELETE of stale rows waits
            long theEpoch = ++epoch;
            Future<MoveState> run =
                    running.submit(() -> runner(theEpoch, leading::get).run(id));
            await().atMost(Duration.ofSeconds(30))
                    .pollInterval(Duration.ofMillis(100))
                    .failFast(run::isDone)
                    .until(() -> !targetPrimary.queryString(deleting).equals("0"));
            MoveRunner.requestAbort(client, "recovery", id);
            leading.set(false);
            Thread.sleep(1_000); // the DELETE gives up at its lock_timeout (2 s): look before
            if (run.isDone()) {
                assertThat(targetPrimary.queryString(deleting))
                        .as("openings of a runner that returned, still at work")
                        .isEqualTo("0");
            }
            lock.rollback();
            catchThrowable(() -> run.get(30, TimeUnit.SECONDS)); // superseded
            assertThat(run).isDone();
        } finally {
            running.shutdownNow();
        }
        assertThat(runner(++epoch, () -> true).run(id)).isEqualTo(MoveState.ABORTED);
        Thread.sleep(500);
        for (MoveRecord.Transfer t : record(id).transfers()) {
            assertThat(cluster.primary(t.source())
                            .queryString("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'shardline\\_"
                                    + id + "\\_%'"))
                    .as("slots of the move left on shard %d", t.source())
                    .isEqualTo("0");
        }
        assertThat(ring()).isEqualTo(before);
        assertThat(targetPrimary.queryString("SELECT count(*) FROM users")).isEqualTo("0");
        nothingWritten.assertNothingLost(client, "recovery");
    }

    /**
     * Each copy subscribes as soon as its own pipes committed, never before: when a target refuses the rows of one
     * copy, every other copy is subscribed (its rows are copied) and the refused one is not, and the next run copies
     * only the refused one and completes the move.
     */
    @Test
    void aCopyWhosePipeFailsStaysUnsubscribedWhileTheOthersSubscribeAndTheNextRunFinishesTheMove() throws Exception {
        addEmptyShard();
        String id = MoveRunner.plan(client, "recovery", 0);
        try {
            assertThat(runner(++epoch, () -> state(id).ordinal() < MoveState.COPYING.ordinal())
                            .run(id))
                    .isEqualTo(MoveState.COPYING);
            List<MoveRecord.Transfer> transfers = record(id).transfers();
            assertThat(transfers).as("copies from more than one source").hasSizeGreaterThan(1);
            MoveRecord.Transfer refused = transfers.get(0);
            String refusedRows = new MovePlan.Transfer(
                            refused.source(),
                            refused.target(),
                            refused.ranges().stream()
                                    .map(r -> new HashRing.Range(r[0], r[1], refused.target()))
                                    .toList())
                    .sqlPredicate(TABLES.get(0).keyType().sqlHashExpression("user_id"));
            PgNode refusing = cluster.primary(refused.target());
            execute(refusing, "ALTER TABLE users ADD CONSTRAINT refuse_one_copy CHECK (NOT (" + refusedRows + "))");
            assertThatThrownBy(() -> runner(++epoch, () -> true).run(id))
                    .isInstanceOf(MoveException.class)
                    .hasMessageContaining("copying the moving rows")
                    .hasMessageContaining("refuse_one_copy");
            Set<String> subscribed = new TreeSet<>();
            Set<String> others = new TreeSet<>();
            for (MoveRecord.Transfer t : transfers) {
                String names = cluster.primary(t.target())
                        .queryString("SELECT coalesce(string_agg(subname, ','), '') FROM pg_subscription");
                subscribed.addAll(List.of(names.split(",")));
                if (t != refused) {
                    others.add("shardline_" + id + "_" + t.source() + "_" + t.target());
                }
            }
            subscribed.remove("");
            assertThat(subscribed).as("the subscriptions after the failed copy").isEqualTo(others);

            execute(refusing, "ALTER TABLE users DROP CONSTRAINT refuse_one_copy");
            assertThat(runner(++epoch, () -> true).run(id)).isEqualTo(MoveState.DONE);
        } finally {
            if (!state(id).isTerminal()) {
                MoveRunner.requestAbort(client, "recovery", id);
                runner(++epoch, () -> true).run(id);
            }
        }
        nothingWritten.assertNothingLost(client, "recovery");
    }

    @Test
    void aTargetThatHangsDuringTheCutoverGetsTheFenceLiftedInsteadOfHoldingWrites() throws Exception {
        int target = addEmptyShard();
        String id = MoveRunner.plan(client, "recovery", 0);
        // the cutover waits for this router's acknowledgement: the target is frozen before it is given
        // a barrier of 2 s: the cutovers after the thaw must not time out on a host busy with another test's cluster
        MoveRunner.Settings settings = new MoveRunner.Settings(
                Duration.ofSeconds(30), Duration.ofSeconds(2), 1 << 20, 1000, 20_000, Duration.ofSeconds(1));
        ExecutorService runs = Executors.newSingleThreadExecutor();
        try (CuratorFramework session =
                        ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
                RouterRegistration router = new RouterRegistration(session, "recovery")) {
            router.start();
            assertThat(router.awaitCreated(10_000)).isTrue();
            Future<MoveState> run =
                    runs.submit(() -> runner(++epoch, () -> true, settings).run(id));
            // the run cannot pass FENCED without the acknowledgement: if it ended, its failure is the finding
            await().atMost(Duration.ofSeconds(120)).until(() -> run.isDone() || state(id) == MoveState.FENCED);
            assertThat(run.isDone())
                    .as("the move ended before its cutover (%s): %s", record(id), outcome(run))
                    .isFalse();
            MoveRecord fenced = record(id);
            PgNode hung = cluster.primary(target);
            hung.freeze();
            long lifted;
            try {
                long acked = System.nanoTime();
                router.update(ring().version(), List.of(RouterRegistration.fenceToken(fenced)));
                await().atMost(Duration.ofSeconds(15))
                        .pollInterval(Duration.ofMillis(20))
                        .until(() -> state(id) != MoveState.FENCED);
                lifted = Duration.ofNanos(System.nanoTime() - acked).toMillis();
                assertThat(record(id).state()).isEqualTo(MoveState.CATCHING_UP);
                assertThat(record(id).error()).contains("the last cutover failed");
            } finally {
                hung.thaw();
            }
            System.out.printf("a hung target: the fence was lifted %d ms after the last acknowledgement%n", lifted);
            router.close();
            assertThat(run.get(2, TimeUnit.MINUTES)).isEqualTo(MoveState.DONE);
        } finally {
            runs.shutdownNow();
        }
        nothingWritten.assertNothingLost(client, "recovery");
    }

    /**
     * A router cut off from ZooKeeper writes by its ring past the earliest expiry of its session (so that outages
     * shorter than its session timeout hold none of its writes): a cutover goes on without a router only
     * {@link RouterRegistration#DEPARTURE_GRACE_MS} after its node went, whether it went before the fence or while
     * the cutover waited for its acknowledgement (the fence is lifted then, and tried again).
     */
    @Test
    void aCutoverGoesOnWithoutARouterOnlyAGraceAfterItsNodeWent() throws Exception {
        addEmptyShard();
        String id = planStoppedIn(MoveState.CATCHING_UP);
        String router = base + "/routers/";
        byte[] acknowledgesNothing = "{\"host\":\"gone\",\"pid\":1,\"ringVersion\":0,\"fencesHeld\":[]}".getBytes();
        client.create()
                .creatingParentsIfNeeded()
                .withMode(CreateMode.EPHEMERAL)
                .forPath(router + "before-the-fence", acknowledgesNothing);
        client.create().withMode(CreateMode.EPHEMERAL).forPath(router + "during-the-fence", acknowledgesNothing);
        client.delete().forPath(router + "before-the-fence");
        long left = System.nanoTime();
        List<String> errors = new CopyOnWriteArrayList<>();
        long[] fencedAfterMs = {-1};
        ExecutorService runs = Executors.newSingleThreadExecutor();
        try {
            Future<MoveState> run =
                    runs.submit(() -> runner(++epoch, () -> true).run(id));
            await().atMost(Duration.ofSeconds(30))
                    .pollInterval(Duration.ofMillis(2))
                    .until(() -> run.isDone() || state(id) == MoveState.FENCED);
            fencedAfterMs[0] = Duration.ofNanos(System.nanoTime() - left).toMillis();
            // the other one goes while the cutover waits for its acknowledgement
            client.delete().forPath(router + "during-the-fence");
            await().atMost(Duration.ofSeconds(10))
                    .pollInterval(Duration.ofMillis(5))
                    .until(() -> {
                        MoveRecord r = record(id);
                        if (r.error() != null) {
                            errors.add(r.error());
                        }
                        return r.state() != MoveState.FENCED;
                    });
            assertThat(run.get(2, TimeUnit.MINUTES)).isEqualTo(MoveState.DONE);
        } finally {
            runs.shutdownNow();
        }
        System.out.printf("a router gone before the fence: fenced %d ms after%n", fencedAfterMs[0]);
        assertThat(fencedAfterMs[0])
                .as("fenced that long after a router went")
                .isGreaterThanOrEqualTo(RouterRegistration.DEPARTURE_GRACE_MS - 50);
        assertThat(String.join(" | ", errors)).contains("a router left ZooKeeper less than");
        nothingWritten.assertNothingLost(client, "recovery");
    }

    /**
     * A leader that stopped with the move fenced, an abort asked for meanwhile: the next leader lifts the fence before
     * it deletes the copied rows, instead of holding the writes to the moving ranges for the whole cleanup.
     */
    @Test
    void anAbortOfAFencedMoveLiftsTheFenceBeforeTheCleanup() throws Exception {
        int target = addEmptyShard();
        HashRing before = ring();
        String id = planStoppedIn(MoveState.FENCED);
        MoveRunner.requestAbort(client, "recovery", id);
        List<MoveState> seen = new CopyOnWriteArrayList<>();
        try (CuratorCache cache = CuratorCache.build(client, base + "/moves/" + id)) {
            cache.listenable().addListener((type, old, data) -> {
                if (data != null && data.getData() != null && data.getData().length > 0) {
                    seen.add(ZooKeeperMoveWatcher.fromJson(data.getData(), id).state());
                }
            });
            cache.start();
            await().atMost(Duration.ofSeconds(10)).until(() -> !seen.isEmpty());
            // deleting at 2,000 rows a second: a fence held through it would hold writes for seconds
            MoveRunner.Settings slowCleanup = new MoveRunner.Settings(
                    Duration.ofSeconds(5), Duration.ofMillis(800), 1 << 20, 1000, 2000, Duration.ofSeconds(1));
            assertThat(runner(++epoch, () -> true, slowCleanup).run(id)).isEqualTo(MoveState.ABORTED);
            await().atMost(Duration.ofSeconds(10)).until(() -> seen.get(seen.size() - 1) == MoveState.ABORTED);
        }
        assertThat(seen.get(0)).isEqualTo(MoveState.FENCED);
        assertThat(seen).as("the states the move was seen in").contains(MoveState.CATCHING_UP);
        assertThat(seen.indexOf(MoveState.CATCHING_UP))
                .as("unfenced before the cleanup ended")
                .isLessThan(seen.indexOf(MoveState.ABORTED));
        assertThat(ring()).isEqualTo(before);
        assertThat(cluster.primary(target).queryString("SELECT count(*) FROM users"))
                .isEqualTo("0");
        nothingWritten.assertNothingLost(client, "recovery");
    }

    /**
     * A new connection that takes longer to open than the barrier allows (a fresh rebalancer JVM on a loaded host:
     * TCP, TLS and login) used to fail every cutover, the move never leaving CATCHING_UP: the cutover's connections
     * are opened before the fence now, once each.
     */
    @Test
    void connectionsSlowerToOpenThanTheBarrierDoNotFailTheCutover() throws Exception {
        addEmptyShard();
        String id = MoveRunner.plan(client, "recovery", 0);
        List<String> timedConnects = new CopyOnWriteArrayList<>();
        MoveEstimate.Connector slow = new MoveEstimate.Connector() {
            @Override
            public Connection connect(Node node) throws SQLException {
                return LogicalCopyIT.CONNECT.connect(node);
            }

            @Override
            public Connection connect(Node node, Duration timeout) throws SQLException {
                timedConnects.add(node.name());
                try {
                    Thread.sleep(1000); // longer than the barrier's 800 ms
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new SQLException("interrupted", e);
                }
                return LogicalCopyIT.CONNECT.connect(node, timeout);
            }

            @Override
            public Connection connectForReplication(Node node) throws SQLException {
                return LogicalCopyIT.CONNECT.connectForReplication(node);
            }
        };
        MoveRunner runner = runner(++epoch, () -> true, MoveRunner.Settings.DEFAULT, slow);
        ExecutorService runs = Executors.newSingleThreadExecutor();
        Set<String> errors = ConcurrentHashMap.newKeySet();
        try {
            Future<MoveState> run = runs.submit(() -> runner.run(id));
            await().atMost(Duration.ofSeconds(150))
                    .pollInterval(Duration.ofMillis(20))
                    .until(() -> {
                        String error = record(id).error();
                        if (error != null) {
                            errors.add(error);
                        }
                        return run.isDone();
                    });
            assertThat(run.get()).isEqualTo(MoveState.DONE);
        } finally {
            runs.shutdownNow();
            if (!state(id).isTerminal()) {
                MoveRunner.requestAbort(client, "recovery", id);
                runner(++epoch, () -> true).run(id);
            }
        }
        assertThat(timedConnects).as("connections opened for the cutover").isNotEmpty();
        // a cutover may still fail for another reason on a busy host (a barrier not applied in 800 ms, its broken
        // connection opened again), never for want of time to connect
        assertThat(errors).noneMatch(e -> e.contains("connecting to"));
        if (errors.isEmpty()) {
            assertThat(timedConnects)
                    .as("one cutover, one connection to each primary")
                    .doesNotHaveDuplicates();
        }
        nothingWritten.assertNothingLost(client, "recovery");
    }

    private static String outcome(Future<MoveState> run) {
        if (!run.isDone()) {
            return "still running";
        }
        try {
            return "ended in " + run.get();
        } catch (Exception e) {
            StringWriter trace = new StringWriter();
            e.printStackTrace(new PrintWriter(trace));
            return "failed: " + trace;
        }
    }

    private static MoveRunner runner(long epoch, BooleanSupplier stillLeader) throws MoveException {
        return runner(epoch, stillLeader, MoveRunner.Settings.DEFAULT);
    }

    private static MoveRunner runner(long epoch, BooleanSupplier stillLeader, MoveRunner.Settings settings)
            throws MoveException {
        return runner(epoch, stillLeader, settings, LogicalCopyIT.CONNECT);
    }

    /** A runner whose connections to the nodes come from {@code connector} (the schema copy's aside). */
    private static MoveRunner runner(
            long epoch, BooleanSupplier stillLeader, MoveRunner.Settings settings, MoveEstimate.Connector connector)
            throws MoveException {
        return new MoveRunner(
                client,
                "recovery",
                epoch,
                connector,
                new PgDumpSchema(PgDumpSchema.locatePgDump(), topology(), null, LogicalCopyIT.CONNECT),
                source -> "host=" + source.host() + " port=" + source.port() + " dbname=shardline user=postgres",
                settings,
                stillLeader,
                departures);
    }

    private static MoveRecord record(String id) throws Exception {
        return ZooKeeperMoveWatcher.fromJson(client.getData().forPath(base + "/moves/" + id), id);
    }

    /** A move planned onto the shards as they are, whose first runner stopped when it reached {@code phase}. */
    private static String planStoppedIn(MoveState phase) throws Exception {
        String id = MoveRunner.plan(client, "recovery", 0);
        assertThat(runner(++epoch, () -> state(id).ordinal() < phase.ordinal()).run(id))
                .isEqualTo(phase);
        return id;
    }

    private static void execute(PgNode node, String sql) throws SQLException {
        try (Connection c = node.connect();
                Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    /**
     * Adds an empty shard, on a fresh cluster once this one has {@link #MAX_SHARDS}: each move takes ranges from
     * every shard, so a cluster that grew by a shard per test made each later move slower (17 sources and 88 pipes
     * by the last test, 68 s for it alone).
     */
    private static int addEmptyShard() throws SQLException {
        if (cluster.shardCount() >= MAX_SHARDS) {
            stop();
            start();
        }
        int shard = cluster.addShard().get(0).shard();
        ZooKeeperTopologyStore.updateTopology(
                client, "recovery", t -> t.withShard(RouterClusters.shard(cluster, shard)));
        return shard;
    }

    private static MoveState state(String id) {
        try {
            return ZooKeeperMoveWatcher.fromJson(client.getData().forPath(base + "/moves/" + id), id)
                    .state();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static HashRing ring() throws Exception {
        return TopologyCodec.ringFromJson(client.getData().forPath(base + "/ring"), "ring");
    }

    private static ClusterTopology topology() {
        try {
            return TopologyCodec.topologyFromJson(client.getData().forPath(base + "/topology"), "topology");
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
