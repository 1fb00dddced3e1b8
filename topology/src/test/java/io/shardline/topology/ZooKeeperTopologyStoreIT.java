package io.shardline.topology;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Against a real ZooKeeper server (Curator's TestingServer). */
class ZooKeeperTopologyStoreIT {
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
    void aStoreSeesTheInitialTopologyAndEveryChange() {
        ClusterTopology topology = TopologyCodecTest.twoShards();
        ClusterTopology renamed =
                new ClusterTopology("watched", 1, "shardline", "app", 0, topology.shards(), List.of());
        ZooKeeperTopologyStore.initialize(admin, renamed, HashRing.even(List.of(0, 1), 4));

        try (ZooKeeperTopologyStore store =
                ZooKeeperTopologyStore.connect(zk.getConnectString(), "watched", Duration.ofSeconds(10))) {
            assertThat(store.snapshot().topology()).isEqualTo(renamed);
            assertThat(store.source()).endsWith("/shardline/clusters/watched");
            List<TopologySnapshot> seen = new CopyOnWriteArrayList<>();
            store.addListener(seen::add);

            ClusterTopology written = ZooKeeperTopologyStore.updateTopology(
                    admin, "watched", t -> t.withTable(new ShardedTable("public", "users", "id", KeyType.INTEGER)));

            assertThat(written.version()).isEqualTo(2);
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> store.snapshot()
                            .topology()
                            .shardedTable("public", "users")
                            .isPresent());
            assertThat(store.snapshot().topology().version()).isEqualTo(2);
            assertThat(seen).isNotEmpty();
        }
    }

    @Test
    void concurrentUpdatesAreNeitherLostNorDoubled() throws Exception {
        ClusterTopology base = TopologyCodecTest.twoShards();
        ZooKeeperTopologyStore.initialize(
                admin,
                new ClusterTopology("busy", 1, "db", "u", 0, base.shards(), List.of()),
                HashRing.even(List.of(0, 1), 1));
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> futures = new java.util.ArrayList<>();
            for (int i = 0; i < 40; i++) {
                String table = "t" + i;
                futures.add(pool.submit(() -> ZooKeeperTopologyStore.updateTopology(
                        admin, "busy", t -> t.withTable(new ShardedTable("public", table, "id", KeyType.TEXT)))));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        try (ZooKeeperTopologyStore store =
                ZooKeeperTopologyStore.connect(zk.getConnectString(), "busy", Duration.ofSeconds(10))) {
            assertThat(store.snapshot().topology().tables()).hasSize(40);
            assertThat(store.snapshot().topology().version()).isEqualTo(41);
        }
    }

    @Test
    void anUnknownClusterIsNamedWithTheClustersThatExist() {
        ZooKeeperTopologyStore.initialize(
                admin,
                new ClusterTopology(
                        "present",
                        1,
                        "db",
                        "u",
                        0,
                        TopologyCodecTest.twoShards().shards(),
                        List.of()),
                HashRing.even(List.of(0, 1), 1));
        assertThatThrownBy(
                        () -> ZooKeeperTopologyStore.connect(zk.getConnectString(), "absent", Duration.ofSeconds(10)))
                .isInstanceOf(TopologyException.class)
                .hasMessageContaining("unknown cluster 'absent'")
                .hasMessageContaining("present");
    }

    @Test
    void anUnreachableZooKeeperFailsWithinTheTimeoutNamingTheAddress() {
        long start = System.nanoTime();
        assertThatThrownBy(() -> ZooKeeperTopologyStore.connect("127.0.0.1:1", "x", Duration.ofMillis(1500)))
                .isInstanceOf(TopologyException.class)
                .hasMessageContaining("ZooKeeper at 127.0.0.1:1 is unreachable");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
    }

    @Test
    void initializingAnExistingClusterIsRefused() {
        ClusterTopology t = new ClusterTopology(
                "twice", 1, "db", "u", 0, TopologyCodecTest.twoShards().shards(), List.of());
        ZooKeeperTopologyStore.initialize(admin, t, HashRing.even(List.of(0, 1), 1));
        assertThatThrownBy(() -> ZooKeeperTopologyStore.initialize(admin, t, HashRing.even(List.of(0, 1), 1)))
                .isInstanceOf(TopologyException.class)
                .hasMessageContaining("already exists");
    }
}
