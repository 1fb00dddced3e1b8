package io.shardline.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.chaos.Nemesis.Kind;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The short chaos run of every build: two rounds (seeds 1 and 2, or {@code -Dchaos.seed=N} for N and N + 1) on a
 * local cluster, a three-server ZooKeeper ensemble and the monitor, rebalancer and a router in JVMs of their own,
 * each round with a shard move part way through; the first round injects the replicas' and the monitor's faults,
 * the second the rebalancer's, the routers' and ZooKeeper's, so that every kind is injected. The long run, every
 * kind in every round, is {@code bench}'s {@code Chaos}.
 */
@Timeout(value = 15, unit = TimeUnit.MINUTES)
class ChaosIT {
    private static final List<Kind> REPLICAS_AND_MONITOR = List.of(
            Kind.REPLICA_KILL,
            Kind.REPLICA_PAUSE,
            Kind.REPLAY_PAUSE,
            Kind.REPLICA_SLOW,
            Kind.HEARTBEAT_BLOCKED,
            Kind.MONITOR_PARTITION,
            Kind.MONITOR_KILL,
            Kind.MONITOR_PAUSE);
    private static final List<Kind> COORDINATION = List.of(
            Kind.REBALANCER_KILL,
            Kind.REBALANCER_PAUSE,
            Kind.ROUTER_KILL_IN_2PC,
            Kind.ROUTER_PAUSE,
            Kind.ZK_LEADER_KILL,
            Kind.ZK_QUORUM_LOSS,
            Kind.ZK_PARTITION_SHORT,
            Kind.ZK_PARTITION_EXPIRY);

    @Test
    void noGuaranteeIsViolatedUnderFaults() throws Exception {
        long seed = Long.getLong("chaos.seed", 1);
        Path dir = Files.createTempDirectory("shardline-chaos-");
        Report total = new Report();
        try (ChaosRun run = ChaosRun.start(dir)) {
            total.merge(round(run, seed, seed, Duration.ofSeconds(70), REPLICAS_AND_MONITOR, dir));
            total.merge(round(run, seed, seed + 1, Duration.ofSeconds(90), COORDINATION, dir));
        }
        System.out.println("---- chaos, both rounds ----\n" + total.table());
        assertThat(total.faults.keySet()).as("fault kinds injected").containsAll(Kind.scheduled());
        assertThat(total.operations()).as("operations recorded").isGreaterThan(1_000);
        assertThat(total.boundedReads).as("bounded reads checked").isGreaterThan(100);
        assertThat(total.rywReads).as("read-your-writes reads checked").isGreaterThan(100);
        assertThat(total.atomicReads).as("atomic reads checked").isGreaterThan(100);
        assertThat(total.movesDone + total.movesAborted).as("moves over").isEqualTo(2);
    }

    private static Report round(ChaosRun run, long first, long seed, Duration length, List<Kind> kinds, Path dir)
            throws Exception {
        Report report = run.round(seed, length, kinds, false);
        System.out.println("---- chaos round with seed " + seed + " ----\n" + report.table());
        assertThat(report.violations())
                .as(
                        "guarantees violated with seed %d (replay: -Dchaos.seed=%d; processes' logs in %s):%n%s",
                        seed, seed, dir, report.table())
                .isZero();
        return report;
    }
}
