package io.shardline.bench;

import io.shardline.chaos.ChaosRun;

/**
 * The long chaos run (the build runs a short one, {@code ChaosIT}): rounds of every fault kind on a local
 * cluster, a three-server ZooKeeper ensemble and the monitor, rebalancer and a router in JVMs of their own, each
 * round with a shard move, checked over its history.
 *
 * <p>{@code java -cp bench/target/benchmarks.jar io.shardline.bench.Chaos SECONDS FIRST_SEED [ROUND_SECONDS]}, e.g.
 * {@code Chaos 1800 100 300} for 30 minutes of six rounds, seeds 100 to 105. It prints each round's figures and
 * their sum, and exits with 1 naming the failing seeds when a guarantee was violated.
 */
public final class Chaos {
    private Chaos() {}

    public static void main(String[] args) throws Exception {
        ChaosRun.main(args);
    }
}
