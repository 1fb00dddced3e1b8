package io.shardline.topology;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.curator.test.TestingServer;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooDefs;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * A secured cluster against a real ZooKeeper server: nobody without credentials reads or changes anything of it,
 * the router identity only what the driver needs, the admin everything; a cluster not secured stays open.
 */
class ZooKeeperSecurityIT {
    private static final String BASE = ZooKeeperTopologyStore.clusterPath("locked");
    private static final ZkCredentials ADMIN = ZkCredentials.generate("shardline");
    private static final ZkCredentials ROUTER = ZkCredentials.generate("router");
    private static TestingServer zk;
    private static CuratorFramework admin;
    private static CuratorFramework router;
    private static CuratorFramework nobody;

    @BeforeAll
    static void start() throws Exception {
        zk = new TestingServer();
        Duration timeout = Duration.ofSeconds(10);
        admin = ZooKeeperTopologyStore.newClient(zk.getConnectString(), timeout, ADMIN);
        ClusterTopology two = TopologyCodecTest.twoShards();
        for (String name : List.of("locked", "open")) {
            ZooKeeperTopologyStore.initialize(
                    admin,
                    new ClusterTopology(name, 1, "shardline", "app", 0, two.shards(), List.of()),
                    HashRing.even(List.of(0, 1), 4));
        }
        admin.create().creatingParentsIfNeeded().forPath(BASE + "/moves/m0", "{}".getBytes());
        admin.create().creatingParentsIfNeeded().forPath(BASE + "/audit/e-", "{}".getBytes());
        assertThat(ZooKeeperSecurity.secure(admin, "locked", ADMIN, ROUTER)).isGreaterThanOrEqualTo(9);
        router = ZooKeeperTopologyStore.newClient(zk.getConnectString(), timeout, ROUTER);
        // an outsider's client: plain Curator, none of Shardline's code
        nobody = CuratorFrameworkFactory.newClient(zk.getConnectString(), new RetryOneTime(100));
        nobody.start();
        nobody.blockUntilConnected();
    }

    @AfterAll
    static void stop() throws Exception {
        for (AutoCloseable c : new AutoCloseable[] {nobody, router, admin, zk}) {
            if (c != null) {
                c.close();
            }
        }
    }

    private static void refused(String what, Executable action) {
        assertThatThrownBy(action::execute).as(what).isInstanceOf(KeeperException.NoAuthException.class);
    }

    @Test
    void withoutCredentialsNothingOfTheClusterCanBeReadOrChanged() {
        refused("read topology", () -> nobody.getData().forPath(BASE + "/topology"));
        refused("write topology", () -> nobody.setData().forPath(BASE + "/topology", "{}".getBytes()));
        refused("write ring", () -> nobody.setData().forPath(BASE + "/ring", "{}".getBytes()));
        refused("delete ring", () -> nobody.delete().forPath(BASE + "/ring"));
        refused("add a move", () -> nobody.create().forPath(BASE + "/moves/m9", "{}".getBytes()));
        refused("change a move", () -> nobody.setData().forPath(BASE + "/moves/m0", "{}".getBytes()));
        refused("decide a transaction", () -> nobody.create().forPath(BASE + "/txns/g1", "COMMIT".getBytes()));
        refused(
                "register a router",
                () -> nobody.create().withMode(CreateMode.EPHEMERAL).forPath(BASE + "/routers/r"));
        refused("write the audit log", () -> nobody.create().forPath(BASE + "/audit/e-1", "{}".getBytes()));
        refused("delete the audit log", () -> nobody.delete().forPath(BASE + "/audit/e-0000000000"));
        refused("turn auto failover on", () -> nobody.create().forPath(BASE + "/auto-failover"));
        refused(
                "change an ACL",
                () -> nobody.setACL().withACL(ZooDefs.Ids.OPEN_ACL_UNSAFE).forPath(BASE + "/topology"));
        assertThatThrownBy(() ->
                        ZooKeeperTopologyStore.connect(zk.getConnectString(), "locked", Duration.ofSeconds(5), null))
                .isInstanceOf(TopologyException.class)
                .hasMessageContaining("refused access to " + BASE + "/topology")
                .hasMessageContaining("zkUser and zkPassword");
    }

    @Test
    void theRouterIdentityReadsAndWritesOnlyWhatTheDriverNeeds() throws Exception {
        try (ZooKeeperTopologyStore store =
                ZooKeeperTopologyStore.connect(zk.getConnectString(), "locked", Duration.ofSeconds(5), ROUTER)) {
            assertThat(store.snapshot().topology().cluster()).isEqualTo("locked");
        }
        String registration =
                router.create().withMode(CreateMode.EPHEMERAL).forPath(BASE + "/routers/r1", "{}".getBytes());
        router.setData().forPath(registration, "{\"ringVersion\":2}".getBytes());
        router.create().forPath(BASE + "/txns/g1", "COMMIT".getBytes());
        router.delete().forPath(BASE + "/txns/g1");
        router.setData().forPath(BASE + "/schema", "ddl".getBytes());
        assertThat(router.getData().forPath(BASE + "/moves/m0")).isNotNull();
        refused("write topology", () -> router.setData().forPath(BASE + "/topology", "{}".getBytes()));
        refused("write ring", () -> router.setData().forPath(BASE + "/ring", "{}".getBytes()));
        refused("add a move", () -> router.create().forPath(BASE + "/moves/m9", "{}".getBytes()));
        refused("abort a move", () -> router.create().forPath(BASE + "/moves/m0-abort"));
        refused("change a move", () -> router.setData().forPath(BASE + "/moves/m0", "{}".getBytes()));
        assertThatThrownBy(() -> router.create().forPath(BASE + "/auto-failover", "on".getBytes()))
                .as("secure() keeps the node, saying off")
                .isInstanceOf(KeeperException.NodeExistsException.class);
        refused("turn auto failover on", () -> router.setData().forPath(BASE + "/auto-failover", "on".getBytes()));
        assertThat(new String(router.getData().forPath(BASE + "/auto-failover")))
                .isEqualTo("off");
        for (String node : List.of("lag", "monitor", "rebalancer", "moves", "switchover-locks", "audit")) {
            assertThatThrownBy(() ->
                            router.create().withACL(ZooDefs.Ids.OPEN_ACL_UNSAFE).forPath(BASE + "/" + node))
                    .as("create %s/ with an ACL of the router's own: secure() made it first", node)
                    .isInstanceOf(KeeperException.NodeExistsException.class);
        }
        refused("forge a lag report", () -> router.create().forPath(BASE + "/lag/s0-hub1", "{}".getBytes()));
        refused("take the monitor's leadership", () -> router.create().forPath(BASE + "/monitor/leader"));
        refused("take the rebalancer's leadership", () -> router.create().forPath(BASE + "/rebalancer/leader"));
        refused("lock a switchover", () -> router.create().forPath(BASE + "/switchover-locks/0"));
        refused("read the audit log", () -> router.getChildren().forPath(BASE + "/audit"));
        refused("write the audit log", () -> router.create().forPath(BASE + "/audit/e-1", "{}".getBytes()));
        refused("change a decision", () -> router.setData().forPath(BASE + "/txns", "x".getBytes()));
        refused(
                "change an ACL",
                () -> router.setACL().withACL(ZooDefs.Ids.OPEN_ACL_UNSAFE).forPath(BASE + "/txns"));
        assertThatThrownBy(() -> ZooKeeperSecurity.secure(router, "locked", ROUTER, ROUTER))
                .as("re-secure with itself as admin")
                .hasMessageContaining("secured already, with other identities");
    }

    @Test
    void nodesEitherIdentityCreatesGetTheClustersAcls() throws Exception {
        admin.create().forPath(BASE + "/moves/m1", "{}".getBytes());
        assertThat(router.getData().forPath(BASE + "/moves/m1")).isNotNull();
        refused("read a new move", () -> nobody.getData().forPath(BASE + "/moves/m1"));
        admin.create().creatingParentsIfNeeded().forPath(BASE + "/switchover-locks/0/lock", new byte[0]);
        refused("delete a new lock", () -> router.delete().forPath(BASE + "/switchover-locks/0/lock"));
        router.create().forPath(BASE + "/txns/g2", "ROLLBACK".getBytes());
        assertThat(new String(admin.getData().forPath(BASE + "/txns/g2"))).isEqualTo("ROLLBACK");
        refused("read a new decision", () -> nobody.getData().forPath(BASE + "/txns/g2"));
        refused("rewrite a decision", () -> router.setData().forPath(BASE + "/txns/g2", "COMMIT".getBytes()));
        admin.delete().forPath(BASE + "/txns/g2");
    }

    @Test
    void theRouterReCreatesTheRegistrationsNodeWhenZooKeeperDeletedIt() throws Exception {
        admin.delete().deletingChildrenIfNeeded().forPath(BASE + "/routers"); // as ZooKeeper does an empty container
        String registration = router.create()
                .creatingParentContainersIfNeeded()
                .withMode(CreateMode.EPHEMERAL)
                .forPath(BASE + "/routers/r3", "{}".getBytes());
        refused("read it", () -> nobody.getData().forPath(registration));
        refused("add beside it", () -> nobody.create().forPath(BASE + "/routers/r4"));
        assertThat(admin.getData().forPath(registration)).isNotNull();
    }

    @Test
    void securingAgainWithOtherIdentitiesIsRefusedAndWithTheSameOnesSetsTheAclsAgain() {
        assertThatThrownBy(() -> ZooKeeperSecurity.secure(admin, "locked", ADMIN, ZkCredentials.generate("router")))
                .isInstanceOf(TopologyException.class)
                .hasMessageContaining("secured already, with other identities (shardline, router)");
        assertThat(ZooKeeperSecurity.secure(admin, "locked", ADMIN, ROUTER)).isGreaterThanOrEqualTo(9);
    }

    @Test
    void withoutCredentialsShardlinesClientSaysWhatIsMissing() {
        try (CuratorFramework client =
                ZooKeeperTopologyStore.newClient(zk.getConnectString(), Duration.ofSeconds(5), null)) {
            assertThatThrownBy(() -> client.create().forPath(BASE + "/moves/m7"))
                    .isInstanceOf(TopologyException.class)
                    .hasMessageContaining("refused access to " + BASE + "/security");
        }
    }

    @Test
    void aClusterNotSecuredStaysOpen() throws Exception {
        String open = ZooKeeperTopologyStore.clusterPath("open");
        nobody.create().creatingParentsIfNeeded().forPath(open + "/moves/m1", "{}".getBytes());
        nobody.setData().forPath(open + "/moves/m1", "{}".getBytes());
        router.delete().forPath(open + "/moves/m1");
    }

    @Test
    void credentialsAreCheckedAndThePasswordIsNeverShown() {
        ZkCredentials c = new ZkCredentials("app", "s3cret pass");
        assertThat(c.toString()).doesNotContain("s3cret");
        assertThat(c.digestId()).startsWith("app:").doesNotContain("s3cret");
        assertThatThrownBy(() -> new ZkCredentials("a:b", "x")).hasMessageContaining("ZooKeeper user 'a:b' is invalid");
        assertThatThrownBy(() -> new ZkCredentials("app", "")).hasMessageContaining("has no password");
    }
}
