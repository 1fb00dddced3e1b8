package io.shardline.topology;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.json.JsonMapper;

/** The routers' view of the monitor's lag reports, against a real ZooKeeper server (Curator's TestingServer). */
class ZooKeeperLagWatcherIT {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final String LAG = ZooKeeperTopologyStore.clusterPath("lagged") + "/lag/";

    private static TestingServer zk;
    private static CuratorFramework admin;

    @BeforeAll
    static void start() throws Exception {
        zk = new TestingServer();
        admin = ZooKeeperTopologyStore.newClient(zk.getConnectString(), Duration.ofSeconds(10));
    }

    @AfterAll
    static void stop() throws Exception {
        admin.close();
        zk.close();
    }

    @Test
    void eachReportWrittenChangedOrDeletedIsSeenAndTheOthersAreKept() throws Exception {
        for (int i = 1; i <= 50; i++) {
            write(report("s0-leaf" + i, 10, 1_000));
        }
        try (CuratorFramework client = ZooKeeperTopologyStore.newClient(zk.getConnectString(), Duration.ofSeconds(10));
                ZooKeeperLagWatcher watcher = new ZooKeeperLagWatcher(client, "lagged")) {
            watcher.start();
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> watcher.snapshot().reports().size() == 50);
            LagSnapshot before = watcher.snapshot();

            write(report("s0-leaf7", 900, 2_000));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> watcher.snapshot().get("s0-leaf7").lagMs() == 900);
            LagSnapshot after = watcher.snapshot();
            assertThat(after.reports()).hasSize(50);
            assertThat(after.get("s0-leaf8")).isEqualTo(before.get("s0-leaf8"));
            assertThat(after.get("s0-leaf7").observedAtMillis()).isEqualTo(2_000);

            admin.delete().forPath(LAG + "s0-leaf3");
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> watcher.snapshot().get("s0-leaf3") == null);
            assertThat(watcher.snapshot().reports()).hasSize(49);

            // a report that cannot be read is dropped, not kept at its last good value
            admin.setData().forPath(LAG + "s0-leaf9", "{not json".getBytes(StandardCharsets.UTF_8));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> watcher.snapshot().get("s0-leaf9") == null);
            assertThat(watcher.snapshot().reports()).hasSize(48);

            // dated before the epoch or with a lag below -1 (unknown): not a report
            write(report("s0-leaf10", 10, Long.MIN_VALUE));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> watcher.snapshot().get("s0-leaf10") == null);
            assertThat(watcher.snapshot().reports()).hasSize(47);
            write(report("s0-leaf10", 10, 4_000));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> watcher.snapshot().get("s0-leaf10") != null);

            // dated 5 s ahead of this host's clock (the monitor's clock is): it counts as made when it arrived
            long before5s = System.currentTimeMillis();
            write(report("s0-leaf11", 20, before5s + 5_000));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> watcher.snapshot().get("s0-leaf11").lagMs() == 20);
            long arrived = watcher.snapshot().get("s0-leaf11").observedAtMillis();
            assertThat(arrived).isBetween(before5s, System.currentTimeMillis());

            write(report("s0-leaf3", 5, 3_000));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> watcher.snapshot().get("s0-leaf3") != null);
            assertThat(watcher.snapshot().get("s0-leaf3").lagMs()).isEqualTo(5);
            assertThat(watcher.snapshot().reports()).hasSize(49);
        }
    }

    /**
     * A report dated an hour ahead (the monitor's clock), written, then read by a router that starts 2 s later: it
     * counts as made when ZooKeeper stored it, not when that router read it (a router started long after the monitor
     * stopped would take its last report as new).
     */
    @Test
    void aReportDatedAheadCountsAsMadeWhenZooKeeperStoredIt() throws Exception {
        long before = System.currentTimeMillis();
        write(report("s9-leaf1", 10, before + 3_600_000));
        long written = System.currentTimeMillis();
        Thread.sleep(2_000);
        try (CuratorFramework client = ZooKeeperTopologyStore.newClient(zk.getConnectString(), Duration.ofSeconds(10));
                ZooKeeperLagWatcher watcher = new ZooKeeperLagWatcher(client, "lagged")) {
            watcher.start();
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> watcher.snapshot().get("s9-leaf1") != null);
            assertThat(watcher.snapshot().get("s9-leaf1").observedAtMillis()).isBetween(before - 1_000, written);
        } finally {
            admin.delete().forPath(LAG + "s9-leaf1");
        }
    }

    private static LagReport report(String node, long lagMs, long observedAt) {
        return new LagReport(node, 0, NodeRole.LEAF, lagMs, 0, "0/1000", "s0-hub1", ReplicaState.STREAMING, observedAt);
    }

    private static void write(LagReport report) throws Exception {
        byte[] data = JSON.writeValueAsBytes(report);
        if (admin.checkExists().forPath(LAG + report.node()) == null) {
            admin.create().creatingParentsIfNeeded().forPath(LAG + report.node(), data);
        } else {
            admin.setData().forPath(LAG + report.node(), data);
        }
    }
}
