package io.shardline.rebalancer;

import io.shardline.topology.RouterRegistration;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.Closeable;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.framework.state.ConnectionStateListener;
import org.apache.zookeeper.data.Stat;

/**
 * When a router last left {@code routers/}, as this rebalancer saw it: a cutover proceeds without a router only
 * {@link RouterRegistration#DEPARTURE_GRACE_MS} after its node went. A router cut off from ZooKeeper does not know
 * when its session expires and writes by its ring for up to that grace (less a margin) past the earliest expiry, so
 * ZooKeeper outages shorter than the session timeout hold none of its writes.
 *
 * <p>It cannot know who left before it watched, nor while its own connection was down: it starts, and restarts
 * after a (re)connection or once its cache is loaded, as if a router had just left. That delays a move's fence by the
 * grace, never a write.
 */
public final class RouterDepartures implements Closeable {
    private final CuratorFramework client;
    private final CuratorCache cache;
    private final ConnectionStateListener states = (c, state) -> {
        if (state != ConnectionState.SUSPENDED && state != ConnectionState.READ_ONLY) {
            departed();
        }
    };
    private final String routers;
    private volatile long lastNanos = System.nanoTime();
    /** The routers {@link #observe} read last. */
    private Set<String> seen = Set.of();
    /** How many children their parent had had created then ({@code cversion}), -1 when unknown. */
    private int seenChanges = -1;

    private RouterDepartures(CuratorFramework client, String cluster) {
        this.client = client;
        this.routers = ZooKeeperTopologyStore.clusterPath(cluster) + "/routers";
        this.cache = CuratorCache.build(client, routers);
    }

    /** Watches the routers of {@code cluster} from now on. */
    static RouterDepartures start(CuratorFramework client, String cluster) {
        RouterDepartures d = new RouterDepartures(client, cluster);
        try {
            d.cache
                    .listenable()
                    .addListener(CuratorCacheListener.builder()
                            .forDeletes(gone -> d.departed())
                            .forInitialized(d::departed)
                            .build());
            client.getConnectionStateListenable().addListener(d.states);
            d.cache.start();
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
        d.departed();
        try {
            d.observe(); // the routers there now: one that comes and goes before the cache hears of it is still seen
        } catch (MoveException e) {
            // the first cutover reads them
        }
        return d;
    }

    private void departed() {
        lastNanos = System.nanoTime();
    }

    /**
     * Reads the routers registered now: one of those read last time that is gone has just left. The cache hears of a
     * departure a few round trips late; a cutover reads them itself before the fence and while it waits for the
     * acknowledgements, so a router gone in between is never missed.
     *
     * @throws MoveException when ZooKeeper cannot be read
     */
    synchronized void observe() throws MoveException {
        Set<String> now;
        Stat stat = new Stat();
        try {
            now = client.checkExists().forPath(routers) == null
                    ? Set.of()
                    : new HashSet<>(client.getChildren().storingStatIn(stat).forPath(routers));
        } catch (Exception e) {
            throw new MoveException("reading the routers: " + e.getMessage(), e);
        }
        int changes = now.isEmpty() && stat.getCzxid() == 0 ? -1 : stat.getCversion();
        long added = now.stream().filter(r -> !seen.contains(r)).count();
        // cversion counts the children created: more than the routers added since means one came and went between
        // two reads, before the cache heard of it (or left and registered again under the same name)
        if (!now.containsAll(seen) || (seenChanges >= 0 && changes - seenChanges > added)) {
            departed();
        }
        seen = now;
        seenChanges = changes;
    }

    /** How long until every router that left may be taken to write no more (0: now). */
    public long graceLeftMs() {
        long left =
                RouterRegistration.DEPARTURE_GRACE_MS - TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lastNanos);
        return Math.max(0, left);
    }

    @Override
    public void close() {
        client.getConnectionStateListenable().removeListener(states);
        cache.close();
    }
}
