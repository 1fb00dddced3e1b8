package io.shardline.cli;

import picocli.CommandLine.Option;

/** The options that shape a local cluster, shared by {@code cluster up} and {@code demo}. */
final class ClusterShape {
    @Option(names = "--shards", defaultValue = "2", description = "Number of shards (default: ${DEFAULT-VALUE}).")
    int shards;

    @Option(names = "--hubs", defaultValue = "1", description = "Hub replicas per shard (default: ${DEFAULT-VALUE}).")
    int hubs;

    @Option(
            names = "--leaves",
            defaultValue = "1",
            description = "Leaf replicas per shard, streaming from hubs (default: ${DEFAULT-VALUE}).")
    int leaves;

    @Option(names = "--name", defaultValue = "demo", description = "Cluster name (default: ${DEFAULT-VALUE}).")
    String name;
}
