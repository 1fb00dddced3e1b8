package io.shardline.topology;

import java.io.Closeable;
import java.util.function.Consumer;

/**
 * Where the router gets the topology and the ring: ZooKeeper ({@link ZooKeeperTopologyStore}) or a file
 * ({@link FileTopologyStore}). The current snapshot is always in memory; reading it costs a volatile read.
 */
public interface TopologyStore extends Closeable {

    /** The current topology and ring. */
    TopologySnapshot snapshot();

    /** Calls {@code listener} with every new snapshot, on a store thread; it must not block. */
    void addListener(Consumer<TopologySnapshot> listener);

    /** Where the topology comes from, for messages: {@code zk://host:port/shardline/clusters/demo}. */
    String source();

    @Override
    void close();
}
