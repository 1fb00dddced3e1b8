package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.HashRing;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.TopologyCodec;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * Two operators (two consoles, a console and the command line) starting a move at the same moment get one move and
 * a refusal: the move is created in one ZooKeeper transaction that checks nobody planned another, and that the
 * topology and the ring are as they were read (before, both could read "no move runs" and create one each).
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class MovePlanRaceIT {
    private static LocalCluster cluster;
    private static CuratorFramework client;

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder()
                .name("planrace")
                .shards(2)
                .hubs(0)
                .leaves(0)
                .start();
        client = MoveWorkload.loadedWithEmptyShard(cluster, "planrace", 100);
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
    @Order(1)
    void movesPlannedAtOnceGiveOneMoveAndRefusals() throws Exception {
        long ring = MoveWorkload.ringVersion(client, "planrace");
        assertThatThrownBy(() -> MoveRunner.plan(client, "planrcae", 0))
                .isInstanceOf(MoveException.class)
                .hasMessageContaining("there is no cluster planrcae");
        assertThat(client.checkExists().forPath(ZooKeeperTopologyStore.clusterPath("planrcae")))
                .as("nothing left behind by a misspelled name")
                .isNull();
        assertThatThrownBy(() -> MoveRunner.plan(client, "planrace", 0, ring + 1))
                .isInstanceOf(MoveException.class)
                .hasMessageContaining("not " + (ring + 1) + " as previewed");
        assertThat(MoveRunner.moves(client, "planrace")).isEmpty();

        int planners = 8;
        CyclicBarrier together = new CyclicBarrier(planners);
        ExecutorService pool = Executors.newFixedThreadPool(planners);
        List<Future<String>> outcomes = new ArrayList<>();
        for (int i = 0; i < planners; i++) {
            outcomes.add(pool.submit(() -> {
                together.await();
                try {
                    return "planned " + MoveRunner.plan(client, "planrace", 0, ring);
                } catch (MoveException refused) {
                    return "refused: " + refused.getMessage();
                }
            }));
        }
        List<String> results = new ArrayList<>();
        for (Future<String> outcome : outcomes) {
            results.add(outcome.get(60, TimeUnit.SECONDS));
        }
        pool.shutdown();
        assertThat(results).filteredOn(r -> r.startsWith("planned")).hasSize(1);
        assertThat(results)
                .filteredOn(r -> r.startsWith("refused"))
                .allMatch(r -> r.contains("one move at a time") || r.contains("another move was planned"));
        List<MoveRecord> moves = MoveRunner.moves(client, "planrace");
        assertThat(moves).as("moves in ZooKeeper").hasSize(1);
    }

    @Test
    @Order(2)
    void aMoveWhoseRingChangedSinceItsPlanIsAbortedSayingWhy() throws Exception {
        List<MoveRecord> planned = MoveRunner.moves(client, "planrace");
        assertThat(planned).hasSize(1);
        String id = planned.get(0).id();
        // a hand edit (or a move planned by an older console) changes the ring while the move is pending
        String ringPath = ZooKeeperTopologyStore.clusterPath("planrace") + "/ring";
        HashRing ring = TopologyCodec.ringFromJson(client.getData().forPath(ringPath), ringPath);
        HashRing edited = HashRing.of(
                ring.version() + 1,
                ring.ranges().stream().mapToLong(HashRing.Range::start).toArray(),
                ring.ranges().stream().mapToInt(HashRing.Range::shard).toArray());
        client.setData().forPath(ringPath, TopologyCodec.ringToJson(edited));
        // before: the move stayed pending, retried every 2 s without a word on its record, and held every other move
        try (Rebalancer rebalancer = Rebalancer.forCluster(client, "planrace", null)) {
            rebalancer.start();
            await().atMost(Duration.ofSeconds(60))
                    .until(() -> MoveRunner.moves(client, "planrace").stream()
                            .anyMatch(m -> m.id().equals(id) && m.state().isTerminal()));
        }
        MoveRecord ended = MoveRunner.moves(client, "planrace").stream()
                .filter(m -> m.id().equals(id))
                .findFirst()
                .orElseThrow();
        assertThat(ended.state()).isEqualTo(MoveRecord.MoveState.ABORTED);
        assertThat(ended.error()).contains("planned from version " + ring.version(), "could not switch");
        assertThat(MoveWorkload.ringVersion(client, "planrace")).isEqualTo(ring.version() + 1);
    }
}
