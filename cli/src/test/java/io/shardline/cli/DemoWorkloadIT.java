package io.shardline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.sql.Connection;
import java.sql.ResultSet;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The demo's sample workload, with the demo's replication monitor: it writes and reads through the driver,
 * reads reach the replicas, and it reports every 10 s without errors.
 */
class DemoWorkloadIT {
    @Test
    void theWorkloadWritesReadsAndReportsWithoutErrors() throws Exception {
        try (LocalCluster cluster = LocalCluster.builder().name("workload").start()) {
            LocalTopology.publish(cluster.descriptor());
            StringWriter printed = new StringWriter();
            try (ZooKeeperTopologyStore store = ZooKeeperTopologyStore.connect(
                            cluster.zkConnectString(), "workload", Duration.ofSeconds(10));
                    AutoCloseable monitor = MonitorCommand.start(store, 100, 200, null);
                    DemoWorkload workload =
                            DemoWorkload.start(new PrintWriter(printed), cluster, cluster.shardlineUrl(), store)) {
                await().atMost(Duration.ofSeconds(25))
                        .until(() -> printed.toString().contains("workload:"));
                assertThat(store.snapshot().topology().shardedTable("public", "demo_orders"))
                        .isPresent();
                String line = printed.toString().lines().findFirst().orElseThrow();
                assertThat(line)
                        .matches("\\d\\d:\\d\\d:\\d\\d  workload: [1-9]\\d* writes, [1-9]\\d* reads in 10 s;"
                                + " reads served by .*s\\d-(hub|leaf)1 \\d+.*; no errors");
            }
            ShardlineDriver.closeAll();
            long rows = 0;
            for (int shard = 0; shard < cluster.shardCount(); shard++) {
                try (Connection c = cluster.primary(shard).connect();
                        ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM demo_orders")) {
                    rs.next();
                    assertThat(rs.getLong(1)).as("orders on shard %d", shard).isPositive();
                    rows += rs.getLong(1);
                }
            }
            assertThat(rows).isGreaterThan(100);
        }
    }
}
