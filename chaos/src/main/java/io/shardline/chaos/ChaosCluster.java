package io.shardline.chaos;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.NodeRole;
import io.shardline.compose.PgNode;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.router.TcpProxy;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingCluster;

/**
 * What the chaos rounds run on: a local cluster of two shards (primary, hub, leaf), a three-server ZooKeeper
 * ensemble, a TCP proxy per ZooKeeper server between the workload's router and the ensemble (to partition
 * them), and the monitor, the rebalancer and the bank's router, each in a JVM of its own.
 */
final class ChaosCluster implements AutoCloseable {
    static final String NAME = "chaos";
    static final Duration HEARTBEAT = Duration.ofMillis(100);
    static final int ACCOUNTS = 100;
    static final long OPENING = 1_000;
    static final int COUNTERS = 64;
    /** Clock rows: enough that every shard holds some, whatever the ring. */
    static final int CLOCKS = 16;
    /** The staleness bound of the workload's bounded reads, and how old a lag report may be. */
    static final long BOUND_MS = 500;

    static final long FRESHNESS_MS = 1_000;
    static final List<ShardedTable> TABLES = List.of(
            new ShardedTable("public", "items", "id", KeyType.INTEGER),
            new ShardedTable("public", "counters", "k", KeyType.INTEGER),
            new ShardedTable("public", "marks", "k", KeyType.INTEGER),
            new ShardedTable("public", "clock", "k", KeyType.INTEGER),
            new ShardedTable("public", "accounts", "id", KeyType.INTEGER),
            new ShardedTable("public", "ryw", "k", KeyType.INTEGER));

    final LocalCluster pg;
    final TestingCluster zk;
    final List<TcpProxy> proxies;
    final CuratorFramework client;
    final ChildProcess monitor;
    final ChildProcess rebalancer;
    final ChildProcess bank;
    /** How long ZooKeeper does not answer a client (straight to the ensemble, not through the proxies). */
    final ZooKeeperProbe zkProbe;

    private ChaosCluster(
            LocalCluster pg,
            TestingCluster zk,
            List<TcpProxy> proxies,
            CuratorFramework client,
            Path dir,
            Consumer<String> bankLines) {
        this.pg = pg;
        this.zk = zk;
        this.proxies = proxies;
        this.client = client;
        this.zkProbe = new ZooKeeperProbe(zk.getConnectString());
        this.monitor = new ChildProcess("monitor", dir, line -> {}, "monitor", zk.getConnectString(), NAME);
        this.rebalancer = new ChildProcess("rebalancer", dir, line -> {}, "rebalancer", zk.getConnectString(), NAME);
        this.bank = new ChildProcess(
                "bank",
                dir,
                bankLines,
                "bank",
                url(zk.getConnectString(), "twoPhaseCommit=true&pg.options=-c%20lock_timeout%3D2000"),
                Integer.toString(ACCOUNTS),
                "2");
    }

    /**
     * Starts everything, creates and fills the tables, and starts the monitor, the rebalancer and the bank.
     *
     * @param dir where the processes' logs go (the cluster's data goes where {@link LocalCluster} puts it)
     * @param bankLines what the bank's router prints for each transfer
     */
    static ChaosCluster start(Path dir, Consumer<String> bankLines) throws Exception {
        TestingCluster zk = new TestingCluster(3);
        zk.start();
        LocalCluster pg = null;
        List<TcpProxy> proxies = new ArrayList<>();
        try {
            pg = LocalCluster.builder().name(NAME).shards(2).hubs(1).leaves(1).start();
            for (InstanceSpec spec : zk.getInstances()) {
                proxies.add(new TcpProxy("127.0.0.1:" + spec.getPort()));
            }
            CuratorFramework client = ZooKeeperTopologyStore.newClient(zk.getConnectString(), Duration.ofSeconds(10));
            ClusterTopology topology = RouterClusters.topology(pg, TABLES);
            ZooKeeperTopologyStore.initialize(
                    client, topology, HashRing.even(topology.shardIds(), HashRing.DEFAULT_RANGES_PER_SHARD));
            ChaosCluster cluster = new ChaosCluster(pg, zk, proxies, client, dir, bankLines);
            cluster.load();
            cluster.monitor.start();
            cluster.rebalancer.start();
            cluster.bank.start();
            return cluster;
        } catch (Exception | Error e) {
            for (TcpProxy p : proxies) {
                p.close();
            }
            if (pg != null) {
                pg.close();
            }
            zk.close();
            throw e;
        }
    }

    private static String url(String zkConnect, String params) {
        return "jdbc:shardline:zk://" + zkConnect + ZooKeeperTopologyStore.clusterPath(NAME) + "?" + params;
    }

    /** The workload's router: through the proxies, so that the nemesis can cut it from ZooKeeper. */
    String routerUrl(String params) {
        return url(proxies.stream().map(TcpProxy::address).collect(Collectors.joining(",")), params);
    }

    private void load() throws SQLException {
        try (Connection c = DriverManager.getConnection(url(zk.getConnectString(), "twoPhaseCommit=true"));
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE items (id bigint PRIMARY KEY, v bigint NOT NULL)");
            s.execute("CREATE TABLE counters (k bigint PRIMARY KEY, n bigint NOT NULL)");
            // the keyless updates' own table: their rows, locked while a two-phase commit is in doubt, hold no keyed
            // write
            s.execute("CREATE TABLE marks (k bigint PRIMARY KEY, touched bigint NOT NULL)");
            s.execute("CREATE TABLE clock (k bigint PRIMARY KEY, v bigint NOT NULL)");
            s.execute("CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL)");
            s.execute("CREATE TABLE ryw (k bigint PRIMARY KEY, v bigint NOT NULL)");
            insert(c, "INSERT INTO counters (k, n) VALUES (?, 0)", COUNTERS);
            insert(c, "INSERT INTO marks (k, touched) VALUES (?, 0)", COUNTERS);
            insert(c, "INSERT INTO clock (k, v) VALUES (?, 0)", CLOCKS);
            insert(c, "INSERT INTO accounts (id, balance) VALUES (?, " + OPENING + ")", ACCOUNTS);
        } finally {
            ShardlineDriver.closeAll();
        }
    }

    private static void insert(Connection c, String sql, int rows) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (long k = 1; k <= rows; k++) {
                ps.setLong(1, k);
                ps.addBatch();
            }
            ps.executeBatch();
        }
    }

    /** Starts a shard with no ranges and adds it to the topology: the next move fills it. */
    void addEmptyShard() {
        int added = pg.addShard().get(0).shard();
        ZooKeeperTopologyStore.updateTopology(client, NAME, t -> t.withShard(RouterClusters.shard(pg, added)));
    }

    List<PgNode> replicas() {
        return pg.nodes().stream().filter(n -> n.role() != NodeRole.PRIMARY).toList();
    }

    List<PgNode> primaries() {
        List<PgNode> primaries = new ArrayList<>();
        for (int s = 0; s < pg.shardCount(); s++) {
            primaries.add(pg.primary(s));
        }
        return primaries;
    }

    /** The ensemble's leader, asked of each server ({@code srvr}); empty when none says it leads. */
    Optional<InstanceSpec> zkLeader() {
        for (InstanceSpec spec : zk.getInstances()) {
            try (Socket s = new Socket("127.0.0.1", spec.getPort())) {
                s.setSoTimeout(2_000);
                OutputStream out = s.getOutputStream();
                out.write("srvr".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                BufferedReader in =
                        new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
                for (String line = in.readLine(); line != null; line = in.readLine()) {
                    if (line.startsWith("Mode: leader")) {
                        return Optional.of(spec);
                    }
                }
            } catch (IOException e) {
                // a server down or not answering: not the leader
            }
        }
        return Optional.empty();
    }

    @Override
    public void close() throws Exception {
        ShardlineDriver.closeAll();
        for (ChildProcess p : List.of(bank, rebalancer, monitor)) {
            p.close();
        }
        client.close();
        zkProbe.close();
        for (TcpProxy p : proxies) {
            p.close();
        }
        pg.close();
        zk.close();
    }
}
