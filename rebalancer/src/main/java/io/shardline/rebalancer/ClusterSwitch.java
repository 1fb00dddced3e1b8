package io.shardline.rebalancer;

import io.shardline.topology.ZooKeeperTopologyStore;
import java.nio.charset.StandardCharsets;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;

/**
 * A cluster-wide on/off setting: a node under the cluster's that says {@code on} or {@link #OFF}. A missing node
 * is off; a node saying anything but {@code off} is on (clusters of earlier versions made the node with other data).
 * A secured cluster keeps the node, saying {@code off}, so that the router identity, which may add nodes to the
 * cluster's, cannot turn a setting on by creating it.
 */
final class ClusterSwitch {
    static final String OFF = "off";

    private ClusterSwitch() {}

    static boolean on(CuratorFramework client, String cluster, String node) throws Exception {
        try {
            byte[] data = client.getData().forPath(ZooKeeperTopologyStore.clusterPath(cluster) + "/" + node);
            return !OFF.equals(new String(data, StandardCharsets.UTF_8));
        } catch (KeeperException.NoNodeException off) {
            return false;
        }
    }

    /**
     * Turns the setting on or off.
     *
     * @throws IllegalArgumentException when ZooKeeper holds no such cluster
     */
    static void set(CuratorFramework client, String cluster, String node, boolean on) throws Exception {
        if (client.checkExists().forPath(ZooKeeperTopologyStore.clusterPath(cluster) + "/topology") == null) {
            throw new IllegalArgumentException("ZooKeeper holds no cluster " + cluster + " (no topology at "
                    + ZooKeeperTopologyStore.clusterPath(cluster) + ")");
        }
        String path = ZooKeeperTopologyStore.clusterPath(cluster) + "/" + node;
        byte[] data = (on ? "on" : OFF).getBytes(StandardCharsets.UTF_8);
        if (client.checkExists().forPath(path) == null) {
            client.create().creatingParentsIfNeeded().forPath(path, data);
        } else {
            client.setData().forPath(path, data);
        }
    }
}
