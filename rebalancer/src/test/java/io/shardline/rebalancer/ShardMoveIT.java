package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.shardline.compose.LocalCluster;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A whole move on a real cluster: a third shard added to two holding 100,000 rows in two sharded tables, while
 * a writer inserts and updates through the driver, another inserts batches of 1,000 rows, and a reader reads. Afterwards every acknowledged write is
 * there exactly once, on the shard the new ring names, and nothing of the move is left behind.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ShardMoveIT {
    static final int ROWS = 50_000;
    static final MoveEstimate.Connector CONNECT = LogicalCopyIT.CONNECT;

    private static LocalCluster cluster;
    private static CuratorFramework client;

    @BeforeAll
    static void start() throws SQLException {
        cluster =
                LocalCluster.builder().name("move").shards(2).hubs(1).leaves(1).start();
        client = MoveWorkload.loadedWithEmptyShard(cluster, "move", ROWS);
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
        MoveWorkload workload = new MoveWorkload(cluster, ROWS, false, 10_000_000);
        workload.start();
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
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        MoveMetrics metrics = MoveMetrics.bind(client, "move", registry);
        AtomicLong copiedWhileActive = new AtomicLong(-1);
        ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor();
        sampler.scheduleAtFixedRate(
                () -> {
                    if (gauge(registry, "shardline.move.active") == 1) {
                        copiedWhileActive.accumulateAndGet(
                                (long) gauge(registry, "shardline.move.rows.copied"), Math::max);
                    }
                },
                0,
                20,
                TimeUnit.MILLISECONDS);
        long started = System.nanoTime();
        String id = MoveRunner.plan(client, "move", 1);
        MoveState end = runner.run(id);
        long moveMs = Duration.ofNanos(System.nanoTime() - started).toMillis();
        Thread.sleep(1000);
        workload.stop();

        assertThat(end).isEqualTo(MoveState.DONE);
        assertThat(workload.errors()).as("errors the application saw").isEmpty();
        assertThat(workload.batches())
                .as("batches of 1,000 inserts acknowledged during the move")
                .isGreaterThan(5);
        HashRing ring = TopologyCodec.ringFromJson(
                client.getData().forPath(ZooKeeperTopologyStore.clusterPath("move") + "/ring"), "ring");
        assertThat(ring.shards()).containsExactlyInAnyOrder(0, 1, 2);
        workload.assertNothingLost(client, "move");
        MoveRecord.Progress progress = MoveRunner.moves(client, "move").get(0).progress();
        assertThat(progress.rowsCopied()).as("rows copied").isGreaterThanOrEqualTo(progress.rowsTotal());
        assertThat(progress.rowsTotal()).as("rows counted to copy").isBetween(2L * ROWS / 4, 2L * ROWS / 2);
        assertThat(progress.rowsCleaned())
                .as("rows deleted from the sources")
                .isGreaterThanOrEqualTo(progress.rowsTotal());
        sampler.shutdownNow();
        assertThat(copiedWhileActive.get())
                .as("rows copied, as the gauge showed during the move")
                .isPositive();
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
            assertThat(gauge(registry, "shardline.move.active")).isZero();
            assertThat(gauge(registry, "shardline.move.phase")).isEqualTo(MoveState.DONE.ordinal());
            assertThat(gauge(registry, "shardline.move.rows.copied")).isEqualTo(progress.rowsCopied());
        });
        metrics.close();
        assertThat(registry.getMeters()).isEmpty();

        List<long[]> all = workload.latencies();
        long[] sorted = all.stream().mapToLong(l -> l[1]).sorted().toArray();
        System.out.printf(
                "move of 1/3 of %d rows under %d writes (%.0f/s) and %d reads: %d ms; write latency p50 %.1f ms,"
                        + " p99 %.1f ms, max %.1f ms%n",
                2 * ROWS,
                all.size(),
                all.size() / ((moveMs + 2000) / 1000.0),
                workload.reads(),
                moveMs,
                sorted[sorted.length / 2] / 1e6,
                sorted[(int) (sorted.length * 0.99)] / 1e6,
                sorted[sorted.length - 1] / 1e6);
        assertThat(all.size() / ((moveMs + 2000) / 1000.0))
                .as("writes per second")
                .isGreaterThan(200);
    }

    private static double gauge(SimpleMeterRegistry registry, String name) {
        return registry.get(name).gauge().value();
    }

    private static ClusterTopology topology() {
        return MoveWorkload.topology(client, "move");
    }
}
