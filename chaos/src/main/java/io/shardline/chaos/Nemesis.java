package io.shardline.chaos;

import io.shardline.compose.PgNode;
import io.shardline.router.TcpProxy;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.apache.curator.test.InstanceSpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Injects faults one at a time on a seeded schedule: every kind once, in an order drawn from the seed, then again
 * in another order, with a seeded pause between faults and a seeded time each fault lasts. Each fault is healed
 * (also when injecting it failed) before the next one begins, and recorded in the {@link History} with its start
 * and end. A fault that cannot be injected or healed stops the nemesis, and the round fails.
 */
final class Nemesis {
    private static final Logger LOG = LoggerFactory.getLogger(Nemesis.class);

    /** The faults, with how long each lasts (ms, drawn between the two). */
    enum Kind {
        /** SIGKILL of a hub or a leaf, restarted after */
        REPLICA_KILL(2_000, 6_000),
        /** SIGSTOP of a hub or a leaf and every process it forked, SIGCONT after */
        REPLICA_PAUSE(1_000, 5_000),
        /** WAL replay paused on a replica (it keeps receiving) */
        REPLAY_PAUSE(2_000, 6_000),
        /** a replica applying every commit 3 s late (recovery_min_apply_delay): beyond any bounded read's slack */
        REPLICA_SLOW(2_000, 6_000),
        /**
         * the monitor partitioned from one node (a primary or a replica) by the proxy it reaches that node through:
         * its connections there closed, new ones refused
         */
        MONITOR_PARTITION(2_000, 5_000),
        /** the heartbeat table of a primary locked: the monitor cannot write its heartbeats there */
        HEARTBEAT_BLOCKED(2_000, 5_000),
        MONITOR_KILL(2_000, 5_000),
        MONITOR_PAUSE(1_000, 4_000),
        REBALANCER_KILL(1_000, 4_000),
        REBALANCER_PAUSE(1_000, 4_000),
        /** the bank's router JVM halted between its first PREPARE and its last COMMIT PREPARED */
        ROUTER_KILL_IN_2PC(1_000, 3_000),
        /**
         * the bank's router JVM stopped (SIGSTOP) wherever its commits are, at times past its session timeout: its
         * transactions in doubt are resolved by another router while it sleeps, and it wakes up to finish them
         */
        ROUTER_PAUSE(2_000, 14_000),
        /** the ZooKeeper ensemble's leader killed */
        ZK_LEADER_KILL(2_000, 4_000),
        /** two of three ZooKeeper servers killed: no quorum, for less than the session timeout */
        ZK_QUORUM_LOSS(2_000, 5_000),
        /**
         * the workload's router cut from ZooKeeper for less than its session timeout (10 s), less the renewal of its
         * lease and a reconnection: its session holds, so no write may fail or be held
         */
        ZK_PARTITION_SHORT(2_000, 8_000),
        /** the workload's router cut from ZooKeeper until its session expires */
        ZK_PARTITION_EXPIRY(14_000, 16_000),
        /**
         * the rebalancer killed when the round's move reaches a phase (copying, catching up, fenced, switched,
         * cleaning): injected by the round's move, not by the nemesis's schedule
         */
        REBALANCER_KILL_IN_PHASE(1_000, 1_000),
        /** the rebalancer stopped (SIGSTOP) for 2 to 12 s when the round's move reaches a phase */
        REBALANCER_PAUSE_IN_PHASE(2_000, 12_000);

        final long minMs;
        final long maxMs;

        Kind(long minMs, long maxMs) {
            this.minMs = minMs;
            this.maxMs = maxMs;
        }

        /** The kinds the nemesis draws from its schedule. */
        static List<Kind> scheduled() {
            return java.util.Arrays.stream(values())
                    .filter(k -> k != REBALANCER_KILL_IN_PHASE && k != REBALANCER_PAUSE_IN_PHASE)
                    .toList();
        }

        /** Whether the fault is a ZooKeeper outage meant to be shorter than the routers' session timeout. */
        boolean shortZooKeeperOutage() {
            return this == ZK_LEADER_KILL || this == ZK_QUORUM_LOSS || this == ZK_PARTITION_SHORT;
        }
    }

    private final ChaosCluster cluster;
    private final History history;
    private final Random random;
    private final List<Kind> kinds;
    private volatile boolean running;
    private Thread thread;
    private volatile Throwable failure;

    Nemesis(ChaosCluster cluster, History history, long seed, List<Kind> kinds) {
        this.cluster = cluster;
        this.history = history;
        this.random = new Random(seed);
        this.kinds = List.copyOf(kinds);
    }

    void start() {
        running = true;
        thread = new Thread(this::run, "chaos-nemesis");
        thread.start();
    }

    /** Stops after healing the current fault. */
    void stop() throws InterruptedException {
        running = false;
        thread.join();
        if (failure != null) {
            throw new IllegalStateException("the nemesis failed: " + failure, failure);
        }
    }

    private void run() {
        List<Kind> order = new ArrayList<>();
        try {
            while (running) {
                if (order.isEmpty()) {
                    order.addAll(kinds);
                    Collections.shuffle(order, random);
                }
                sleep(1_000 + random.nextInt(2_000));
                if (!running) {
                    break;
                }
                Kind kind = order.remove(0);
                inject(kind, kind.minMs + (long) random.nextInt((int) (kind.maxMs - kind.minMs + 1)));
            }
        } catch (Throwable t) {
            failure = t;
            LOG.error("the nemesis failed", t);
        }
    }

    private void inject(Kind kind, long holdMs) throws Exception {
        long start = System.currentTimeMillis();
        String target;
        long outageMs = 0; // how long ZooKeeper did not serve the workload's router
        switch (kind) {
            case REPLICA_KILL -> {
                PgNode node = pick(cluster.replicas());
                target = node.name();
                node.kill();
                try {
                    sleep(holdMs);
                } finally {
                    node.start();
                }
            }
            case REPLICA_PAUSE -> {
                PgNode node = pick(cluster.replicas());
                target = node.name();
                node.freeze();
                try {
                    sleep(holdMs);
                } finally {
                    node.thaw();
                }
            }
            case REPLAY_PAUSE -> {
                PgNode node = pick(cluster.replicas());
                target = node.name();
                node.pauseReplay();
                try {
                    sleep(holdMs);
                } finally {
                    node.resumeReplay();
                }
            }
            case REPLICA_SLOW -> {
                PgNode node = pick(cluster.replicas());
                target = node.name();
                node.setApplyDelay(Duration.ofMillis(3_000));
                try {
                    sleep(holdMs);
                } finally {
                    node.setApplyDelay(Duration.ZERO);
                }
            }
            case HEARTBEAT_BLOCKED -> {
                // the first two shards' primaries: the monitor has written heartbeats there since the start
                PgNode node = pick(cluster.primaries().subList(0, 2));
                target = node.name();
                try (Connection c = node.connect();
                        Statement s = c.createStatement()) {
                    c.setAutoCommit(false);
                    // SHARE conflicts with the heartbeat's writes, not with reads (and is not replayed on standbys)
                    s.execute("LOCK TABLE shardline.heartbeat IN SHARE MODE");
                    sleep(holdMs);
                    c.rollback();
                }
            }
            case MONITOR_PARTITION -> {
                List<PgNode> nodes = new ArrayList<>(cluster.pg.shard(0));
                nodes.addAll(cluster.pg.shard(1));
                PgNode node = pick(nodes);
                target = "monitor-" + node.name();
                cluster.monitor.tell("cut " + node.name());
                try {
                    sleep(holdMs);
                } finally {
                    cluster.monitor.tell("restore " + node.name());
                }
            }
            case MONITOR_KILL, REBALANCER_KILL -> {
                ChildProcess p = kind == Kind.MONITOR_KILL ? cluster.monitor : cluster.rebalancer;
                target = p.name();
                p.kill();
                try {
                    sleep(holdMs);
                } finally {
                    p.start();
                }
            }
            case MONITOR_PAUSE, REBALANCER_PAUSE -> {
                ChildProcess p = kind == Kind.MONITOR_PAUSE ? cluster.monitor : cluster.rebalancer;
                target = p.name();
                p.pause();
                try {
                    sleep(holdMs);
                } finally {
                    p.resume();
                }
            }
            case ROUTER_KILL_IN_2PC -> {
                target = cluster.bank.name();
                cluster.bank.tell("halt");
                if (!cluster.bank.awaitExit(5_000)) {
                    target += " (killed: no commit reached a halting point within 5 s)";
                    cluster.bank.kill();
                }
                try {
                    sleep(holdMs);
                } finally {
                    cluster.bank.start();
                }
            }
            case ROUTER_PAUSE -> {
                target = cluster.bank.name();
                cluster.bank.pause();
                try {
                    sleep(holdMs);
                } finally {
                    cluster.bank.resume();
                }
            }
            case ZK_LEADER_KILL -> {
                InstanceSpec leader =
                        cluster.zkLeader().orElseGet(() -> pick(new ArrayList<>(cluster.zk.getInstances())));
                target = "zookeeper:" + leader.getPort();
                cluster.zk.killServer(leader);
                try {
                    sleep(holdMs);
                } finally {
                    cluster.zk.restartServer(leader);
                }
            }
            case ZK_QUORUM_LOSS -> {
                List<InstanceSpec> servers = new ArrayList<>(cluster.zk.getInstances());
                Collections.shuffle(servers, random);
                List<InstanceSpec> killed = servers.subList(0, 2);
                target = "zookeeper:" + killed.get(0).getPort() + ",zookeeper:"
                        + killed.get(1).getPort();
                try {
                    for (InstanceSpec s : killed) {
                        cluster.zk.killServer(s);
                    }
                    sleep(holdMs);
                } finally {
                    for (InstanceSpec s : killed) {
                        cluster.zk.restartServer(s);
                    }
                }
            }
            case ZK_PARTITION_SHORT, ZK_PARTITION_EXPIRY -> {
                target = "router-zookeeper";
                cluster.proxies.forEach(TcpProxy::cut);
                try {
                    sleep(holdMs);
                } finally {
                    cluster.proxies.forEach(TcpProxy::restore);
                }
            }
            default -> throw new IllegalStateException("unknown fault " + kind);
        }
        long healed = System.currentTimeMillis();
        if (kind == Kind.ZK_PARTITION_SHORT || kind == Kind.ZK_PARTITION_EXPIRY) {
            outageMs = healed - start;
        } else if (kind == Kind.ZK_LEADER_KILL || kind == Kind.ZK_QUORUM_LOSS) {
            // from the last answer before the servers went to the first after: elections and reconnections included
            outageMs = cluster.zkProbe.outageMs(start, healed);
        }
        history.add(new Fault(kind, target, start, healed, outageMs));
        LOG.info("fault {} on {} for {} ms (ZooKeeper out for {} ms)", kind, target, healed - start, outageMs);
    }

    private <T> T pick(List<T> from) {
        return from.get(random.nextInt(from.size()));
    }

    private static void sleep(long ms) throws InterruptedException {
        Thread.sleep(ms);
    }
}
