package io.shardline.topology;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.ACLProvider;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The ACL of every znode Shardline creates, from its path: a secured cluster (one with a {@code security} node,
 * see {@link ZooKeeperSecurity}) gives its admin identity every right everywhere and its router identity only what
 *  the driver needs (see {@link #forPath(String, Ids)}); nobody else has any. Nodes of a cluster that is not secured
 * stay open, as before. (The lists are mutable ones: ZooKeeper's check of an ACL asks whether it contains null,
 * which {@code List.of} answers with an exception.) The identities are read from the cluster's {@code security} node the first time one of
 * its nodes is created (and again after 10 s while the cluster is open; at once in the JVM that secures it).
 */
public final class ZooKeeperAcls implements ACLProvider {
    /** A secured cluster's identities, as ACL ids ({@code user:digest}). */
    public record Ids(String admin, String router) {}

    private static final JsonMapper JSON = JsonMapper.builder().build();
    /** How long a client may go on taking a cluster for open after it was secured (another process's). */
    public static final Duration OPEN_RECHECK = Duration.ofSeconds(10);

    private static final long OPEN_RECHECK_NANOS = OPEN_RECHECK.toNanos();
    private static final int READ = Perms.READ;

    private record Known(Ids ids, long readAtNanos) {}

    /** Every provider of this JVM, so that securing a cluster ends their "open" answers at once. */
    private static final Map<CuratorFramework, ZooKeeperAcls> ALL = Collections.synchronizedMap(new WeakHashMap<>());

    private volatile CuratorFramework client;
    private final Map<String, Known> clusters = new ConcurrentHashMap<>();

    /** Set once the client is built (the provider is given to its builder first). */
    void attach(CuratorFramework client) {
        this.client = client;
        ALL.put(client, this);
    }

    /** Makes every provider of this JVM read {@code cluster}'s identities again before its next node. */
    static void forget(String cluster) {
        synchronized (ALL) {
            for (ZooKeeperAcls acls : ALL.values()) {
                acls.clusters.remove(cluster);
            }
        }
    }

    /**
     * Reads {@code cluster}'s identities for {@code client}'s provider now (a store's start), so that creating a
     * node later asks ZooKeeper nothing more while the cluster is secured.
     */
    static void preload(CuratorFramework client, String cluster) {
        ZooKeeperAcls acls = ALL.get(client);
        if (acls != null) {
            acls.ids(cluster);
        }
    }

    @Override
    public List<ACL> getDefaultAcl() {
        return ZooDefs.Ids.OPEN_ACL_UNSAFE;
    }

    @Override
    public List<ACL> getAclForPath(String path) {
        String cluster = clusterOf(path);
        if (cluster == null) {
            // /shardline and /shardline/clusters, shared by every cluster: anyone may read them and add a cluster
            return Arrays.asList(new ACL(READ | Perms.CREATE, ZooDefs.Ids.ANYONE_ID_UNSAFE));
        }
        Ids ids = ids(cluster);
        if (ids == null) {
            return ZooDefs.Ids.OPEN_ACL_UNSAFE;
        }
        return forPath(
                path.substring(ZooKeeperTopologyStore.clusterPath(cluster).length()), ids);
    }

    /**
     * The ACL of a secured cluster's node at {@code relative} (its path under the cluster's node, "" for that node,
     * else starting with '/'): admin everything; router reads everything but the audit log, creates and deletes
     *  under {@code routers} and {@code txns}, writes its own registration and the {@code schema} mark, adds nodes
     * to the cluster's (it re-creates {@code routers}, a container node).
     */
    public static List<ACL> forPath(String relative, Ids ids) {
        ACL admin = new ACL(Perms.ALL, digest(ids.admin()));
        int routerPerms;
        if (relative.equals("/audit") || relative.startsWith("/audit/")) {
            return Arrays.asList(admin);
        } else if (relative.isEmpty()) {
            // the driver re-creates routers/ (a container ZooKeeper deletes when it is empty) and txns/; nothing whose
            // mere existence means something can be added by it (auto-failover is kept, saying off, by secure())
            routerPerms = READ | Perms.CREATE;
        } else if (relative.equals("/routers") || relative.equals("/txns")) {
            routerPerms = READ | Perms.CREATE | Perms.DELETE;
        } else if (relative.startsWith("/routers/")) {
            routerPerms = READ | Perms.WRITE;
        } else if (relative.equals("/schema")) {
            routerPerms = READ | Perms.WRITE;
        } else {
            routerPerms = READ;
        }
        return Arrays.asList(admin, new ACL(routerPerms, digest(ids.router())));
    }

    private static Id digest(String id) {
        return new Id("digest", id);
    }

    /** The cluster a path under {@link ZooKeeperTopologyStore#ROOT} belongs to, or null. */
    static String clusterOf(String path) {
        String root = ZooKeeperTopologyStore.ROOT + "/";
        if (!path.startsWith(root)) {
            return null;
        }
        int end = path.indexOf('/', root.length());
        return end < 0 ? path.substring(root.length()) : path.substring(root.length(), end);
    }

    private Ids ids(String cluster) {
        Known known = clusters.get(cluster);
        long now = System.nanoTime();
        if (known != null && (known.ids() != null || now - known.readAtNanos() < OPEN_RECHECK_NANOS)) {
            return known.ids();
        }
        Ids ids;
        try {
            ids = read(client, cluster);
        } catch (TopologyException e) {
            if (known == null) {
                throw e;
            }
            // the cluster was open when last read: it stays so until ZooKeeper answers again (a create now fails
            // on its own connection anyway), rather than failing here on every node Curator creates
            ids = known.ids();
        }
        clusters.put(cluster, new Known(ids, now));
        return ids;
    }

    /**
     * A cluster's identities from its {@code security} node, or null when it has none (not secured).
     *
     * @throws TopologyException when ZooKeeper fails or refuses
     */
    public static Ids read(CuratorFramework client, String cluster) {
        String path = ZooKeeperTopologyStore.clusterPath(cluster) + "/" + ZooKeeperSecurity.NODE;
        try {
            // the raw client: Curator may ask for an ACL on its event thread, where a Curator call would wait on itself
            byte[] data = client.getZookeeperClient().getZooKeeper().getData(path, false, null);
            JsonNode json = JSON.readTree(new String(data, StandardCharsets.UTF_8));
            return new Ids(json.path("admin").asString(), json.path("router").asString());
        } catch (KeeperException.NoNodeException open) {
            return null;
        } catch (KeeperException.NoAuthException e) {
            throw ZooKeeperSecurity.refused(client, path, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TopologyException("interrupted while reading " + path, e);
        } catch (Exception e) {
            throw new TopologyException("could not read " + path + " from ZooKeeper: " + e, e);
        }
    }
}
