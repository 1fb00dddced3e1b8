package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.RouterRegistration;
import io.shardline.topology.ZooKeeperMoveWatcher;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.data.Stat;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.extension.TestWatcher;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Rebalancer processes killed (SIGKILL) in each phase of a move, and one paused (SIGSTOP) while another takes
 * over, under a writer and a reader going through the driver. The next rebalancer completes the move; every
 * acknowledged write is there exactly once; the paused one, resumed, changes nothing.
 *
 * <p>How each phase is held long enough to be killed in: COPYING lasts the copy; the first rebalancer is told
 * never to end CATCHING_UP (a catch-up bound below zero); a registered router that never acknowledges keeps it
 * in FENCED; a slow cleanup rate keeps it in CLEANING. SWITCHED lasts one ZooKeeper write: the test kills on the
 * first sight of it, and reports the state the move was really in (MoveRecoveryIT stops a runner in SWITCHED
 * exactly).
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class RebalancerFailoverIT {
    static final int ROWS = 20_000;
    static final String CLUSTER = "failover";
    /** The most shards a cluster of these tests grows to before the next test starts a fresh one. */
    static final int MAX_SHARDS = 5;

    private static LocalCluster cluster;
    private static CuratorFramework client;
    private static String base;
    private static MoveWorkload workload;
    private final List<Process> processes = new ArrayList<>();
    private final List<Path> logs = new ArrayList<>();

    /** A failure shows what the rebalancers said: their logs are files of their own. */
    @RegisterExtension
    final TestWatcher showLogs = new TestWatcher() {
        @Override
        public void testFailed(ExtensionContext context, Throwable cause) {
            for (Path log : logs) {
                try {
                    List<String> lines = Files.readAllLines(log);
                    System.out.println("---- the last lines of " + log + " ----");
                    lines.subList(Math.max(0, lines.size() - 80), lines.size()).forEach(System.out::println);
                } catch (IOException e) {
                    System.out.println("---- " + log + " cannot be read: " + e.getMessage());
                }
            }
        }
    };

    @BeforeAll
    static void start() throws Exception {
        cluster =
                LocalCluster.builder().name(CLUSTER).shards(2).hubs(1).leaves(0).start();
        RouterClusters.publish(cluster, MoveWorkload.TABLES);
        client = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        base = ZooKeeperTopologyStore.clusterPath(CLUSTER);
        MoveWorkload.load(cluster, ROWS);
        workload = new MoveWorkload(cluster, ROWS, true, 100_000_000);
    }

    /**
     * Stops the rebalancers still running (SIGTERM: their sessions close, the next test's leads at once), and closes
     * this test's routers now: left to close {@code idleCloseMs} later, they left during the next test's cutover,
     * which then waited out their departure grace or was retried.
     */
    @AfterEach
    void stopRebalancers() throws InterruptedException {
        for (Process p : processes) {
            p.destroy();
            if (!p.waitFor(15, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor();
            }
        }
        processes.clear();
        ShardlineDriver.closeAll();
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
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
            names = {"COPYING", "CATCHING_UP", "FENCED", "SWITCHED", "CLEANING"})
    void aRebalancerKilledInAPhaseIsReplacedAndTheMoveCompletes(MoveState phase) throws Exception {
        addEmptyShard();
        workload.start();
        try (StuckRouter stuck = phase == MoveState.FENCED ? new StuckRouter() : null) {
            Process first = rebalancer(
                    phase == MoveState.CATCHING_UP ? -1 : MoveRunner.Settings.DEFAULT.catchUpBytes(),
                    phase == MoveState.CLEANING ? 2000 : MoveRunner.Settings.DEFAULT.deleteRowsPerSecond());
            String id = MoveRunner.plan(client, CLUSTER, 0);
            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            while (!reached(move(id), phase)) {
                assertThat(System.nanoTime()).as("the move reaches " + phase).isLessThan(deadline);
                assertThat(first.isAlive()).as("the first rebalancer runs").isTrue();
                Thread.sleep(1);
            }
            first.destroyForcibly(); // SIGKILL
            first.waitFor();
            MoveRecord killedIn = move(id);
            System.out.printf(
                    "rebalancer (epoch %d) killed in %s, %d of %d rows copied, %d cleaned%n",
                    killedIn.epoch(),
                    killedIn.state(),
                    killedIn.progress().rowsCopied(),
                    killedIn.progress().rowsTotal(),
                    killedIn.progress().rowsCleaned());
            if (phase == MoveState.SWITCHED) {
                assertThat(killedIn.state()).isIn(MoveState.SWITCHED, MoveState.CLEANING);
            } else {
                assertThat(killedIn.state()).isEqualTo(phase);
            }
            if (stuck != null) {
                stuck.close();
            }

            rebalancer(MoveRunner.Settings.DEFAULT.catchUpBytes(), MoveRunner.Settings.DEFAULT.deleteRowsPerSecond());
            await().atMost(Duration.ofSeconds(90))
                    .pollInterval(Duration.ofMillis(100))
                    .until(() -> move(id).state().isTerminal());
            MoveRecord done = move(id);
            assertThat(done.state()).as(String.valueOf(done.error())).isEqualTo(MoveState.DONE);
            assertThat(done.epoch()).as("finished by a later epoch").isGreaterThan(killedIn.epoch());
        } finally {
            workload.stop();
        }
        assertThat(workload.errors()).as("errors the application saw").isEmpty();
        workload.assertNothingLost(client, CLUSTER);
        System.out.printf("writes refused with 40001 and retried so far: %d%n", workload.retried());
    }

    @Test
    void aPausedLeaderResumedAfterATakeoverChangesNothing() throws Exception {
        addEmptyShard();
        workload.start();
        Process first;
        String id;
        try (StuckRouter stuck = new StuckRouter()) {
            first = rebalancer(MoveRunner.Settings.DEFAULT.catchUpBytes(), 20_000);
            id = MoveRunner.plan(client, CLUSTER, 0);
            await().atMost(Duration.ofSeconds(90))
                    .pollInterval(Duration.ofMillis(1))
                    .until(() -> move(id).state() == MoveState.FENCED);
            long firstEpoch = move(id).epoch();
            signal("STOP", first);

            rebalancer(MoveRunner.Settings.DEFAULT.catchUpBytes(), 20_000);
            // the second leads once the first one's ZooKeeper session expires, and claims the move
            await().atMost(Duration.ofSeconds(60))
                    .pollInterval(Duration.ofMillis(100))
                    .until(() -> move(id).epoch() > firstEpoch);
            stuck.close();
            await().atMost(Duration.ofSeconds(60))
                    .pollInterval(Duration.ofMillis(100))
                    .until(() -> move(id).state() == MoveState.DONE);
        } finally {
            workload.stop();
        }
        Stat moveBefore = client.checkExists().forPath(base + "/moves/" + id);
        Stat ringBefore = client.checkExists().forPath(base + "/ring");
        workload.assertNothingLost(client, CLUSTER);

        signal("CONT", first);
        Thread.sleep(5000); // its session is gone; whatever it was doing when it stopped, it tries now
        assertThat(first.isAlive())
                .as("the resumed rebalancer runs on, as a follower")
                .isTrue();
        assertThat(client.checkExists().forPath(base + "/moves/" + id).getMzxid())
                .as("the move was not written again")
                .isEqualTo(moveBefore.getMzxid());
        assertThat(client.checkExists().forPath(base + "/ring").getMzxid())
                .as("the ring was not written again")
                .isEqualTo(ringBefore.getMzxid());
        assertThat(workload.errors()).as("errors the application saw").isEmpty();
        workload.assertNothingLost(client, CLUSTER);
    }

    /**
     * SIGTERM's path: a leader drained while it copies parks the move in COPYING or CATCHING_UP, and one drained
     * during a cutover the routers do not acknowledge finishes that cutover (lifting the fence) before it parks:
     * it never leaves writes held. A standby then takes the move over and completes it.
     */
    @ParameterizedTest
    @EnumSource(
            value = MoveState.class,
            names = {"CATCHING_UP", "FENCED", "CLEANING"})
    void aDrainedLeaderParksTheMoveWithoutHoldingWritesAndAStandbyCompletesIt(MoveState phase) throws Exception {
        addEmptyShard();
        workload.start();
        MoveRunner.Settings d = MoveRunner.Settings.DEFAULT;
        // the first leader never leaves CATCHING_UP in the first case: only the drain ends its step
        MoveRunner.Settings first = new MoveRunner.Settings(
                d.ackTimeout(),
                d.barrierTimeout(),
                phase == MoveState.CATCHING_UP ? -1 : d.catchUpBytes(),
                d.deleteBatch(),
                phase == MoveState.CLEANING ? 2000 : d.deleteRowsPerSecond(),
                d.retryPause());
        CuratorFramework leaderSession =
                ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        CuratorFramework standbySession =
                ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        Rebalancer leader = Rebalancer.forCluster(leaderSession, CLUSTER, null, first);
        Rebalancer standby = null;
        try (StuckRouter stuck = phase == MoveState.FENCED ? new StuckRouter() : null) {
            leader.start();
            await().atMost(Duration.ofSeconds(10)).until(leader::isLeader);
            String id = MoveRunner.plan(client, CLUSTER, 0);
            await().atMost(Duration.ofSeconds(90))
                    .pollInterval(Duration.ofMillis(1))
                    .until(() -> reached(move(id), phase));
            assertThat(leader.status().move()).isEqualTo(id);
            long epoch = move(id).epoch();

            long t0 = System.nanoTime();
            assertThat(leader.drain(Duration.ofSeconds(20)))
                    .as("parked within the bound")
                    .isTrue();
            long drainMs = (System.nanoTime() - t0) / 1_000_000;
            MoveRecord parked = move(id);
            System.out.printf("drained in %s after %d ms; move left in %s%n", phase, drainMs, parked.state());
            assertThat(parked.state())
                    .as("parked where a new leader resumes it, never with writes fenced")
                    .isEqualTo(phase == MoveState.CLEANING ? MoveState.CLEANING : MoveState.CATCHING_UP);
            assertThat(drainMs)
                    .as("parked at the next safe point, not at the drain's bound")
                    .isLessThan(10_000);
            assertThat(parked.epoch()).isEqualTo(epoch);
            assertThat(leader.status().ready()).isFalse();
            assertThat(leader.status().detail()).isEqualTo("stopped");
            if (stuck != null) {
                stuck.close();
            }

            standby = Rebalancer.forCluster(standbySession, CLUSTER, null, d);
            standby.start();
            await().atMost(Duration.ofSeconds(90))
                    .pollInterval(Duration.ofMillis(100))
                    .until(() -> move(id).state().isTerminal());
            MoveRecord done = move(id);
            assertThat(done.state()).as(String.valueOf(done.error())).isEqualTo(MoveState.DONE);
            assertThat(done.epoch()).as("finished by the standby's epoch").isGreaterThan(epoch);
        } finally {
            workload.stop();
            leader.close();
            if (standby != null) {
                standby.close();
            }
            leaderSession.close();
            standbySession.close();
        }
        assertThat(workload.errors()).as("errors the application saw").isEmpty();
        workload.assertNothingLost(client, CLUSTER);
    }

    /** A router that is registered but never acknowledges a fence: a frozen application instance. */
    private static final class StuckRouter implements AutoCloseable {
        private final CuratorFramework session;
        private final RouterRegistration registration;
        private boolean closed;

        StuckRouter() {
            session = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
            registration = new RouterRegistration(session, CLUSTER);
            registration.start();
        }

        @Override
        public void close() throws Exception {
            if (!closed) {
                closed = true;
                registration.close();
                session.close();
            }
        }
    }

    private static boolean reached(MoveRecord move, MoveState phase) {
        if (phase == MoveState.SWITCHED) {
            return move.state().ordinal() >= MoveState.SWITCHED.ordinal();
        }
        if (phase == MoveState.CLEANING) {
            return move.state() == MoveState.CLEANING && move.progress().rowsCleaned() > 0;
        }
        return move.state() == phase;
    }

    /** A rebalancer in a JVM of its own, as {@code ./shardline rebalancer} runs. */
    private Process rebalancer(long catchUpBytes, double deleteRowsPerSecond) throws Exception {
        Path log = Files.createTempFile("rebalancer-", ".log");
        Process p = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-cp",
                        System.getProperty("java.class.path"),
                        "-Dorg.slf4j.simpleLogger.showDateTime=true",
                        "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
                        RebalancerProcess.class.getName(),
                        cluster.zkConnectString(),
                        CLUSTER,
                        Long.toString(catchUpBytes),
                        Double.toString(deleteRowsPerSecond))
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        processes.add(p);
        logs.add(log);
        System.out.println("rebalancer pid " + p.pid() + " logs to " + log);
        return p;
    }

    private static void signal(String signal, Process p) throws Exception {
        assertThat(new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid()))
                        .start()
                        .waitFor())
                .isZero();
    }

    private static MoveRecord move(String id) throws Exception {
        return ZooKeeperMoveWatcher.fromJson(client.getData().forPath(base + "/moves/" + id), id);
    }

    /**
     * Adds an empty shard, on a fresh cluster once this one has {@link #MAX_SHARDS}: each move takes ranges from
     * every shard, so a cluster that grew by a shard per test made each later move slower (3 s more per test).
     */
    private static void addEmptyShard() throws Exception {
        if (cluster.shardCount() >= MAX_SHARDS) {
            stop();
            start();
        }
        int shard = cluster.addShard().get(0).shard();
        ZooKeeperTopologyStore.updateTopology(client, CLUSTER, t -> t.withShard(RouterClusters.shard(cluster, shard)));
    }
}
