package io.shardline.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The short chaos run of every build: two rounds (seeds 1 and 2, or {@code -Dchaos.seed=N} for N and N + 1) of
 * every fault kind on a local cluster, a three-server ZooKeeper ensemble and the monitor, rebalancer and a router in
 * JVMs of their own, each round with a shard move part way through. The long run is {@code bench}'s {@code Chaos}.
 */
@Timeout(value = 15, unit = TimeUnit.MINUTES)
class ChaosIT {
    @Test
    void noGuaranteeIsViolatedUnderFaults() throws Exception {
        long seed = Long.getLong("chaos.seed", 1);
        Path dir = Files.createTempDirectory("shardline-chaos-");
        Report total = new Report();
        try (ChaosRun run = ChaosRun.start(dir)) {
            for (long s = seed; s < seed + 2; s++) {
                Report report = run.round(s, Duration.ofSeconds(60), List.of(Nemesis.Kind.values()));
                System.out.println("---- chaos round with seed " + s + " ----\n" + report.table());
                assertThat(report.violations())
                        .as(
                                "guarantees violated with seed %d (replay: -Dchaos.seed=%d; processes' logs in %s):%n%s",
                                s, s, dir, report.table())
                        .isZero();
                total.merge(report);
            }
        }
        System.out.println("---- chaos, both rounds ----\n" + total.table());
        assertThat(total.operations()).as("operations recorded").isGreaterThan(1_000);
        assertThat(total.boundedReads).as("bounded reads checked").isGreaterThan(100);
        assertThat(total.rywReads).as("read-your-writes reads checked").isGreaterThan(100);
        assertThat(total.atomicReads).as("atomic reads checked").isGreaterThan(100);
        assertThat(total.movesDone + total.movesAborted).as("moves over").isEqualTo(2);
        assertThat(total.faults.values().stream().mapToInt(Integer::intValue).sum())
                .as("faults injected")
                .isGreaterThanOrEqualTo(10);
    }
}
