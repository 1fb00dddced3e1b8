package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.shardline.compose.LocalCluster;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.MoveRecord;
import java.sql.SQLException;
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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Two operators (two consoles, a console and the command line) starting a move at the same moment get one move and
 * a refusal: the move is created in one ZooKeeper transaction that checks nobody planned another, and that the
 * topology and the ring are as they were read (before, both could read "no move runs" and create one each).
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
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
    void movesPlannedAtOnceGiveOneMoveAndRefusals() throws Exception {
        long ring = MoveWorkload.ringVersion(client, "planrace");
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
}
