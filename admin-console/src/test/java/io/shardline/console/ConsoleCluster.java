package io.shardline.console;

import io.shardline.compose.LocalCluster;
import io.shardline.monitor.ReplicationMonitor;
import io.shardline.rebalancer.Rebalancer;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import org.apache.curator.framework.CuratorFramework;

/**
 * What the console tests run against: a local cluster of two shards (primary, hub, leaf) holding {@code orders},
 * a third shard added empty (so a move can be planned), a replication monitor, a rebalancer, and the console
 * with a viewer and an operator.
 */
final class ConsoleCluster implements AutoCloseable {
    static final List<ShardedTable> TABLES = List.of(new ShardedTable("public", "orders", "order_id", KeyType.INTEGER));

    final LocalCluster cluster;
    final CuratorFramework client;
    final ZooKeeperTopologyStore store;
    final ReplicationMonitor monitor;
    final Rebalancer rebalancer;
    final ConsoleUsers.Generated viewer = ConsoleUsers.generate("viewer", Role.VIEWER);
    final ConsoleUsers.Generated operator = ConsoleUsers.generate("operator", Role.OPERATOR);
    final ConsoleServer console;

    ConsoleCluster(String name, int rows) throws Exception {
        cluster = LocalCluster.builder().name(name).shards(2).hubs(1).leaves(1).start();
        RouterClusters.publish(cluster, TABLES);
        client = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        load(rows);
        int added = cluster.addShard().get(0).shard();
        ZooKeeperTopologyStore.updateTopology(client, name, t -> t.withShard(RouterClusters.shard(cluster, added)));
        store = new ZooKeeperTopologyStore(client, name);
        store.start();
        monitor = new ReplicationMonitor(store, Duration.ofMillis(100), Duration.ofMillis(200), null, null);
        monitor.start();
        rebalancer = Rebalancer.forCluster(client, name, null);
        rebalancer.start();
        console = ConsoleServer.start(
                ConsoleSettings.of(cluster.zkConnectString(), name, List.of(viewer.user(), operator.user()), null)
                        .withPort(0));
    }

    private void load(int rows) throws SQLException {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE orders (order_id bigint PRIMARY KEY, customer text NOT NULL, amount bigint)");
            try (PreparedStatement insert =
                    c.prepareStatement("INSERT INTO orders (order_id, customer, amount) VALUES (?, ?, ?)")) {
                for (int k = 1; k <= rows; k++) {
                    insert.setLong(1, k);
                    insert.setString(2, "c" + k % 97);
                    insert.setLong(3, k);
                    insert.addBatch();
                    if (k % 1000 == 0 || k == rows) {
                        insert.executeBatch();
                    }
                }
            }
        }
    }

    String url() {
        return console.url();
    }

    @Override
    public void close() {
        if (console != null) {
            console.close();
        }
        if (rebalancer != null) {
            rebalancer.close();
        }
        if (monitor != null) {
            monitor.close();
        }
        if (store != null) {
            store.close();
        }
        ShardlineDriver.closeAll();
        if (client != null) {
            client.close();
        }
        cluster.close();
    }
}
