package io.shardline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.groups.Tuple.tuple;

import io.shardline.compose.ClusterDescriptor;
import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code shard add} registers a shard the cluster does not run itself: here the processes of one more local
 * shard, named to the command only by address.
 */
class ShardCommandIT {
    private static LocalCluster cluster;
    private static ClusterDescriptor descriptor;

    @BeforeAll
    static void start() {
        cluster = LocalCluster.builder()
                .name("external")
                .shards(1)
                .hubs(1)
                .leaves(1)
                .start();
        descriptor = cluster.descriptor();
        LocalTopology.publish(descriptor);
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void aRunningPrimaryAndItsCascadeAreRegisteredAsAnEmptyShard() throws Exception {
        List<PgNode> added = cluster.addShard(); // started, but not registered
        PgNode primary = added.get(0);
        PgNode hub = added.get(1);
        PgNode leaf = added.get(2);

        Run wrongDatabase = run("--primary", address(primary), "--database", "other");
        assertThat(wrongDatabase.rc).isNotZero();
        assertThat(wrongDatabase.err).contains("serves database 'shardline', not 'other'");

        Run replicaAsPrimary = run("--primary", address(hub));
        assertThat(replicaAsPrimary.rc).isNotZero();
        assertThat(replicaAsPrimary.err).contains(address(hub) + " is in recovery");

        Run orphanLeaf = run("--primary", address(primary), "--replica", address(leaf));
        assertThat(orphanLeaf.rc).isNotZero();
        assertThat(orphanLeaf.err).contains("streams from 127.0.0.1:" + hub.port(), "neither " + address(primary));

        Run nobody = run("--primary", "127.0.0.1:1");
        assertThat(nobody.rc).isNotZero();
        assertThat(nobody.err).contains("cannot connect to 127.0.0.1:1");

        Run ok = run("--primary", address(primary), "--replica", address(leaf), "--replica", address(hub));
        assertThat(ok.rc).as(ok.err).isZero();
        assertThat(ok.out).contains("Shard 1 registered in cluster external", "it owns no key ranges yet");

        ClusterTopology topology;
        try (ZooKeeperTopologyStore store =
                ZooKeeperTopologyStore.connect(descriptor.zk(), "external", Duration.ofSeconds(10))) {
            topology = store.snapshot().topology();
            assertThat(store.snapshot().ring().shards()).containsExactly(0);
        }
        List<Node> nodes = topology.shard(1).nodes();
        assertThat(nodes)
                .extracting(Node::role, Node::port, Node::upstream)
                .containsExactly(
                        tuple(NodeRole.PRIMARY, primary.port(), null),
                        tuple(NodeRole.HUB, hub.port(), "s1-primary"),
                        tuple(NodeRole.LEAF, leaf.port(), "s1-hub1"));

        Run again = run("--primary", address(primary));
        assertThat(again.rc).isNotZero();
        assertThat(again.err).contains(address(primary) + " is already a node of cluster external");
    }

    @Test
    void aSwitchoverPromotesTheHubAndRefusesWhatItCannotDo() throws Exception {
        Run leaf = switchover("--shard", "0", "--to", "s0-leaf1");
        assertThat(leaf.rc).isNotZero();
        assertThat(leaf.err).contains("s0-leaf1 streams from s0-hub1, not from the primary s0-primary", "[s0-hub1]");

        Run noShard = switchover("--shard", "7");
        assertThat(noShard.rc).isNotZero();
        assertThat(noShard.err).contains("no shard 7 in cluster external; shards: [0");

        Run ok = switchover("--shard", "0");
        assertThat(ok.rc).as(ok.err).isZero();
        assertThat(ok.out)
                .contains(
                        "Shard 0: s0-hub1 is the primary (was s0-primary)",
                        "s0-primary is read-only and no longer in the topology");
        try (ZooKeeperTopologyStore store =
                ZooKeeperTopologyStore.connect(descriptor.zk(), "external", Duration.ofSeconds(10))) {
            assertThat(store.snapshot().topology().shard(0).nodes())
                    .extracting(Node::name, Node::role, Node::upstream)
                    .containsExactly(
                            tuple("s0-hub1", NodeRole.PRIMARY, null), tuple("s0-leaf1", NodeRole.HUB, "s0-hub1"));
        }
        assertThat(cluster.node("s0-hub1").queryString("SELECT pg_is_in_recovery()"))
                .isEqualTo("f");

        Run again = switchover("--shard", "0", "--to", "s0-primary");
        assertThat(again.rc).isNotZero();
        assertThat(again.err).contains("shard 0 has no node s0-primary");

        Run alive =
                execute(List.of("shard", "failover", "--zk", descriptor.zk(), "--name", "external", "--shard", "0"));
        assertThat(alive.rc).isNotZero();
        assertThat(alive.err).contains("s0-hub1 answers: it is not dead. Use a switchover");
    }

    @Test
    void automaticFailoverIsOffUntilTurnedOnAndSaysSo() {
        List<String> command = List.of("shard", "auto-failover", "--zk", descriptor.zk(), "--name", "external");
        assertThat(execute(command).out).contains("Automatic failover is off for cluster external.");
        Run on = execute(with(command, "on"));
        assertThat(on.rc).as(on.err).isZero();
        assertThat(on.out).contains("Automatic failover is on for cluster external (a rebalancer must run");
        assertThat(execute(command).out).contains("is on for cluster external");
        assertThat(execute(with(command, "off")).out).contains("Automatic failover is off for cluster external.");
        Run bad = execute(with(command, "maybe"));
        assertThat(bad.rc).isNotZero();
        assertThat(bad.err).contains("say 'on' or 'off', not 'maybe'");
        Run mistyped = execute(List.of("shard", "auto-failover", "--zk", descriptor.zk(), "--name", "extrenal", "on"));
        assertThat(mistyped.rc).isNotZero();
        assertThat(mistyped.err).contains("ZooKeeper holds no cluster extrenal");
    }

    private static List<String> with(List<String> command, String... more) {
        List<String> all = new ArrayList<>(command);
        all.addAll(List.of(more));
        return all;
    }

    private static Run switchover(String... args) {
        List<String> all =
                new ArrayList<>(List.of("shard", "switchover", "--zk", descriptor.zk(), "--name", "external"));
        all.addAll(List.of(args));
        return execute(all);
    }

    /**
     * {@code topology init} creates a cluster in ZooKeeper from a cluster file naming servers the cluster does not
     * run (here shard 0's primary and hub of the local cluster), which drivers then use by its name.
     */
    @Test
    void aClusterFileNamingServersYouRunBecomesAClusterInZooKeeper(@TempDir Path dir) throws Exception {
        PgNode primary = cluster.node("s0-primary");
        PgNode hub = cluster.node("s0-hub1");
        Path file = dir.resolve("mine.yaml");
        Files.writeString(
                file,
                String.join(
                        "\n",
                        "cluster: mine",
                        "database: " + descriptor.database(),
                        "user: " + descriptor.user(),
                        "shards:",
                        "  - id: 0",
                        "    nodes:",
                        "      - {name: db0, role: primary, host: 127.0.0.1, port: " + primary.port() + "}",
                        "      - {name: db0-r1, role: hub, host: 127.0.0.1, port: " + hub.port() + ", upstream: db0}",
                        "tables:",
                        "  - {schema: public, table: mine_items, keyColumn: id, keyType: integer}",
                        ""));
        Run init = execute(List.of("topology", "init", "--zk", descriptor.zk(), file.toString()));
        assertThat(init.rc).as(init.err).isZero();
        assertThat(init.out)
                .contains("Cluster mine created in ZooKeeper at " + descriptor.zk())
                .contains(
                        "jdbc:shardline:zk://" + descriptor.zk() + "/shardline/clusters/mine?user=" + descriptor.user())
                .contains("db0-r1");
        String url = "jdbc:shardline:zk://" + descriptor.zk() + "/shardline/clusters/mine?user=" + descriptor.user()
                + (descriptor.password() == null ? "" : "&password=" + descriptor.password());
        try (Connection c = DriverManager.getConnection(url);
                Statement st = c.createStatement()) {
            st.execute("CREATE TABLE mine_items (id bigint PRIMARY KEY, note text)");
            st.execute("INSERT INTO mine_items VALUES (7, 'seven')");
        }
        assertThat(primary.queryString("SELECT note FROM mine_items WHERE id = 7"))
                .isEqualTo("seven");

        Run again = execute(List.of("topology", "init", "--zk", descriptor.zk(), file.toString()));
        assertThat(again.rc).isNotZero();
        assertThat(again.err).contains("cluster 'mine' already exists");

        Path broken = dir.resolve("broken.yaml");
        Files.writeString(
                broken, "cluster: other\nshards: [{id: 0, nodes: [{name: x, role: hub, host: h, port: 1}]}]\n");
        Run bad = execute(List.of("topology", "init", "--zk", descriptor.zk(), broken.toString()));
        assertThat(bad.rc).isNotZero();
        assertThat(bad.err).contains("cluster file " + broken);
    }

    private record Run(int rc, String out, String err) {}

    private static Run run(String... args) {
        List<String> all = new ArrayList<>(List.of("shard", "add", "--zk", descriptor.zk(), "--name", "external"));
        all.addAll(List.of(args));
        return execute(all);
    }

    private static Run execute(List<String> all) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = ShardlineCli.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int rc = cli.execute(all.toArray(String[]::new));
        return new Run(rc, out.toString(), err.toString());
    }

    private static String address(PgNode node) {
        return node.host() + ":" + node.port();
    }
}
