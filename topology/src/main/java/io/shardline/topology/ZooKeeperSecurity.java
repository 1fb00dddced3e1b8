package io.shardline.topology;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.json.JsonMapper;

/**
 * Secures a cluster's data in ZooKeeper: records its two identities ({@link ZkCredentials}: admin and router) in
 * its {@code security} node, creates the nodes the router role may write in ({@code routers}, {@code txns},
 * {@code schema}) and sets every existing node's ACL by {@link ZooKeeperAcls#forPath}. From then on every client
 * built by {@link ZooKeeperTopologyStore#newClient} gives the nodes it creates the same ACLs.
 */
public final class ZooKeeperSecurity {
    /** The node under a cluster's that holds its identities' ids (no password). */
    public static final String NODE = "security";

    private static final Logger LOG = LoggerFactory.getLogger(ZooKeeperSecurity.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();
    /**
     * The nodes whose content turns a setting of the leading rebalancer on (its AutoFailover and
     * ExternalPromotions).
     */
    private static final List<String> SETTINGS = List.of("auto-failover", "follow-external-promotions");

    private static final List<String> PRE_CREATED =
            List.of("routers", "txns", "schema", "lag", "monitor", "rebalancer", "moves", "switchover-locks", "audit");
    /** ZooKeeper's ephemeral owner of a container node. */
    private static final long CONTAINER_OWNER = Long.MIN_VALUE;

    private ZooKeeperSecurity() {}

    /**
     * Secures {@code cluster} (again: the same identities are accepted, and every node's ACL is set anew).
     *
     * @param client authenticated as {@code admin} (built with it)
     * @return how many nodes' ACLs were set
     * @throws TopologyException when the cluster does not exist, is secured with another admin, or ZooKeeper
     *     refuses
     */
    public static int secure(CuratorFramework client, String cluster, ZkCredentials admin, ZkCredentials router) {
        String base = ZooKeeperTopologyStore.clusterPath(cluster);
        ZooKeeperAcls.Ids ids = new ZooKeeperAcls.Ids(admin.digestId(), router.digestId());
        try {
            if (client.checkExists().forPath(base + "/topology") == null) {
                throw new TopologyException("unknown cluster '" + cluster + "': no " + base + "/topology");
            }
            ZooKeeperAcls.Ids existing = ZooKeeperAcls.read(client, cluster);
            if (existing != null && !existing.equals(ids)) {
                throw new TopologyException("cluster '" + cluster + "' is secured already, with other identities ("
                        + user(existing.admin()) + ", " + user(existing.router()) + ")");
            }
            byte[] data = JSON.writeValueAsString(ids).getBytes(StandardCharsets.UTF_8);
            if (existing == null) {
                client.create().withACL(ZooKeeperAcls.forPath("/" + NODE, ids)).forPath(base + "/" + NODE, data);
            }
            // the nodes the router role may write in, and every other node whose children mean something: the router
            // identity may create children of the cluster's node (routers/ again), so none of these may be missing
            // for it to create with an ACL of its own (a lag/ where it could forge reports, a monitor/ or
            // rebalancer/ where it could hold the leadership, a moves/ or an audit/ of its own)
            for (String node : PRE_CREATED) {
                persistent(client, base + "/" + node, new byte[0]);
            }
            // their existence must not turn a setting on: the router identity may add nodes here
            for (String setting : SETTINGS) {
                if (client.checkExists().forPath(base + "/" + setting) == null) {
                    persistent(client, base + "/" + setting, "off".getBytes(StandardCharsets.UTF_8));
                }
            }
            ZooKeeperAcls.forget(cluster);
            int set = setAcls(client, base, "", ids);
            for (String shared : List.of(ZooKeeperTopologyStore.ROOT, "/shardline")) {
                try {
                    client.setACL()
                            .withACL(Arrays.asList(
                                    new ACL(Perms.READ | Perms.CREATE, ZooDefs.Ids.ANYONE_ID_UNSAFE),
                                    new ACL(Perms.ALL, new org.apache.zookeeper.data.Id("digest", ids.admin()))))
                            .forPath(shared);
                } catch (KeeperException.NoAuthException secured) {
                    // another cluster's admin secured it first: its ACL lets every cluster be added already
                }
            }
            LOG.info("cluster {} secured: {} nodes, admin {}, router {}", cluster, set, admin.user(), router.user());
            return set;
        } catch (TopologyException e) {
            throw e;
        } catch (KeeperException.NoAuthException e) {
            throw refused(client, e.getPath(), e);
        } catch (Exception e) {
            throw new TopologyException("could not secure cluster '" + cluster + "': " + e, e);
        }
    }

    /**
     * Makes {@code path} a persistent node: created when missing; a container node (which ZooKeeper deletes once it
     * is empty) without children replaced. A container with children stays (the router identity may re-create it).
     */
    private static void persistent(CuratorFramework client, String path, byte[] data) throws Exception {
        Stat stat = client.checkExists().forPath(path);
        if (stat != null && stat.getEphemeralOwner() == CONTAINER_OWNER && stat.getNumChildren() == 0) {
            try {
                client.delete().quietly().withVersion(stat.getVersion()).forPath(path);
                stat = null;
            } catch (KeeperException.NotEmptyException | KeeperException.BadVersionException inUse) {
                return; // a router registered meanwhile: it stays a container
            }
        }
        if (stat == null) {
            try {
                client.create().withMode(CreateMode.PERSISTENT).forPath(path, data);
            } catch (KeeperException.NodeExistsException meanwhile) {
                // created meanwhile
            }
        }
    }

    private static int setAcls(CuratorFramework client, String base, String relative, ZooKeeperAcls.Ids ids)
            throws Exception {
        String path = base + relative;
        List<String> children;
        try {
            client.setACL().withACL(ZooKeeperAcls.forPath(relative, ids)).forPath(path);
            children = new ArrayList<>(client.getChildren().forPath(path));
        } catch (KeeperException.NoNodeException gone) {
            return 0; // an ephemeral node that went away
        }
        int set = 1;
        for (String child : children) {
            set += setAcls(client, base, relative + "/" + child, ids);
        }
        return set;
    }

    private static String user(String digestId) {
        int colon = digestId.indexOf(':');
        return colon < 0 ? digestId : digestId.substring(0, colon);
    }

    /** The error of a refused ZooKeeper request: which node, and what credentials are needed. */
    public static TopologyException refused(CuratorFramework client, String path, Exception cause) {
        return new TopologyException(
                "ZooKeeper at " + client.getZookeeperClient().getCurrentConnectionString()
                        + " refused access to " + path
                        + ": the cluster is secured and these credentials may not do that"
                        + " (the driver: zkUser and zkPassword, the router identity; the command line and the processes:"
                        + " --dir with the cluster's " + ZkCredentials.FILE + ", or SHARDLINE_ZK_USER and"
                        + " SHARDLINE_ZK_PASSWORD, the admin identity)",
                cause);
    }
}
