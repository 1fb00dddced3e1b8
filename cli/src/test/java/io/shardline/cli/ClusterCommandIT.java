package io.shardline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.ClusterDescriptor;
import io.shardline.rebalancer.MovePlan;
import io.shardline.rebalancer.Rebalancer;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.LongStream;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code cluster up} in a separate JVM, as a user runs it, and {@code cluster down} from this one. */
class ClusterCommandIT {

    @Test
    void upWritesTheDescriptorAndDownLeavesNothingRunning() throws Exception {
        Path dir = Files.createTempDirectory("shardline-cli-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path out = dir.resolve("up.out");
        Process up = startCli(out, "cluster", "up", "--dir", dir.toString());
        try {
            await().atMost(Duration.ofSeconds(60))
                    .pollInterval(Duration.ofMillis(200))
                    .failFast("cluster up exited", () -> !up.isAlive())
                    .until(() -> Files.exists(dir.resolve("cluster.json")));

            ClusterDescriptor descriptor = ClusterDescriptor.read(dir);
            assertThat(descriptor.name()).isEqualTo("demo");
            assertThat(descriptor.nodes()).hasSize(6);
            assertThat(Files.readString(out)).contains("Local cluster 'demo' is up");
            ClusterDescriptor.Node leaf = descriptor.shard(1).get(2);
            try (Connection c = DriverManager.getConnection(
                    "jdbc:postgresql://" + leaf.host() + ":" + leaf.port() + "/" + descriptor.database(),
                    descriptor.user(),
                    "")) {
                assertThat(c.createStatement().executeQuery("SELECT 1").next()).isTrue();
            }

            StringWriter shardOut = new StringWriter();
            CommandLine table = ShardlineCli.commandLine();
            table.setOut(new PrintWriter(shardOut));
            assertThat(table.execute(
                            "table", "shard", "users", "--key", "user_id", "--type", "bigint", "--dir", dir.toString()))
                    .isZero();
            assertThat(shardOut.toString()).contains("public.users is sharded by user_id (integer) over 2 shards");

            // a reference table that exists must exist on every shard, with as many rows
            for (int shard = 0; shard < 2; shard++) {
                ClusterDescriptor.Node primary = descriptor.shard(shard).get(0);
                try (Connection c = DriverManager.getConnection(
                                "jdbc:postgresql://" + primary.host() + ":" + primary.port() + "/"
                                        + descriptor.database(),
                                descriptor.user(),
                                "");
                        Statement st = c.createStatement()) {
                    st.execute("CREATE TABLE countries (code text PRIMARY KEY)");
                    st.execute("INSERT INTO countries VALUES ('fr')");
                    if (shard == 1) {
                        st.execute("INSERT INTO countries VALUES ('de')");
                    }
                }
                StringWriter refErr = new StringWriter();
                CommandLine reference = ShardlineCli.commandLine();
                reference.setErr(new PrintWriter(refErr));
                assertThat(reference.execute("table", "reference", "countries", "--dir", dir.toString()))
                        .isNotZero();
                assertThat(refErr.toString())
                        .contains(
                                shard == 0
                                        ? "public.countries exists on some shards but not on shards [1]"
                                        : "public.countries differs between the shards {0=1 rows, checksum ");
            }
            ClusterDescriptor.Node second = descriptor.shard(1).get(0);
            try (Connection c = DriverManager.getConnection(
                            "jdbc:postgresql://" + second.host() + ":" + second.port() + "/" + descriptor.database(),
                            descriptor.user(),
                            "");
                    Statement st = c.createStatement()) {
                st.execute("DELETE FROM countries WHERE code = 'de'");
            }
            StringWriter refOut = new StringWriter();
            CommandLine reference = ShardlineCli.commandLine();
            reference.setOut(new PrintWriter(refOut));
            assertThat(reference.execute("table", "reference", "countries", "--dir", dir.toString()))
                    .isZero();
            assertThat(refOut.toString())
                    .contains("public.countries is a reference table: every shard holding data (2 of 2) holds all of"
                            + " its rows");
            StringWriter shown = new StringWriter();
            CommandLine show = ShardlineCli.commandLine();
            show.setOut(new PrintWriter(shown));
            assertThat(show.execute("topology", "show", "--dir", dir.toString()))
                    .isZero();
            assertThat(shown.toString())
                    .contains("shard 0 (home of unsharded tables): 16 range(s), 50.0% of the hash space")
                    .contains("s1-leaf1")
                    .contains("public.users")
                    .contains("reference tables (every shard holds all of their rows):\n  public.countries")
                    .contains("ring version 1: 32 ranges");

            // a third shard, started by this JVM while 'cluster up' owns the cluster
            StringWriter addOut = new StringWriter();
            CommandLine add = ShardlineCli.commandLine();
            add.setOut(new PrintWriter(addOut));
            assertThat(add.execute("cluster", "add-shard", "--dir", dir.toString()))
                    .isZero();
            assertThat(addOut.toString())
                    .contains(
                            "Shard 2 is up", "registered (topology version 4); it owns no key ranges yet", "s2-leaf1");
            ClusterDescriptor grown = ClusterDescriptor.read(dir);
            assertThat(grown.nodes()).hasSize(9);
            ClusterDescriptor.Node newLeaf = grown.shard(2).get(2);
            try (Connection c = DriverManager.getConnection(
                    "jdbc:postgresql://" + newLeaf.host() + ":" + newLeaf.port() + "/" + grown.database(),
                    grown.user(),
                    "")) {
                assertThat(c.createStatement()
                                .executeQuery("SELECT pg_is_in_recovery()")
                                .next())
                        .isTrue();
            }
            StringWriter grownShown = new StringWriter();
            CommandLine showAgain = ShardlineCli.commandLine();
            showAgain.setOut(new PrintWriter(grownShown));
            assertThat(showAgain.execute("topology", "show", "--dir", dir.toString()))
                    .isZero();
            assertThat(grownShown.toString()).contains("shard 2: 0 range(s), 0.0% of the hash space", "s2-hub1");

            // the plan counts the rows that would move to the empty shard
            try (Connection c = DriverManager.getConnection(grown.jdbcUrl());
                    Statement st = c.createStatement()) {
                st.execute("CREATE TABLE users (user_id bigint PRIMARY KEY, name text)");
                // objects the new shard needs before it serves keys: a type, a function, a view
                st.execute("CREATE TYPE tier AS ENUM ('free', 'paid')");
                st.execute("CREATE FUNCTION user_tier(p_id bigint) RETURNS tier LANGUAGE sql STABLE AS"
                        + " $$ SELECT CASE WHEN p_id % 2 = 0 THEN 'paid'::tier ELSE 'free'::tier END"
                        + " FROM users WHERE user_id = p_id $$");
                st.execute("CREATE VIEW user_names AS SELECT user_id, upper(name) AS loud FROM users");
                try (PreparedStatement insert = c.prepareStatement("INSERT INTO users (user_id, name) VALUES (?, ?)")) {
                    for (long k = 1; k <= 5000; k++) {
                        insert.setLong(1, k);
                        insert.setString(2, "u" + k);
                        insert.addBatch();
                    }
                    insert.executeBatch();
                }
            } finally {
                ShardlineDriver.closeAll();
            }
            HashRing ring;
            try (ZooKeeperTopologyStore store =
                    ZooKeeperTopologyStore.connect(grown.zk(), grown.name(), Duration.ofSeconds(10))) {
                ring = store.snapshot().ring();
            }
            MovePlan expected = MovePlan.fillEmptyShards(ring, List.of(2));
            long moving = LongStream.rangeClosed(1, 5000)
                    .filter(k ->
                            ring.shardFor(KeyHash.hashInt8(k)) != expected.to().shardFor(KeyHash.hashInt8(k)))
                    .count();
            StringWriter planOut = new StringWriter();
            CommandLine plan = ShardlineCli.commandLine();
            plan.setOut(new PrintWriter(planOut));
            assertThat(plan.execute("move", "plan", "--dir", dir.toString())).isZero();
            assertThat(planOut.toString())
                    .contains("ring version 1 -> 2, filling empty shard(s) [2]")
                    .contains("shard 0 -> shard 2:", "shard 1 -> shard 2:")
                    .contains(String.format("Total: %,d rows", moving));

            // move start needs a rebalancer; with one, --wait follows the move to its end
            StringWriter noRebalancer = new StringWriter();
            CommandLine refused = ShardlineCli.commandLine();
            refused.setErr(new PrintWriter(noRebalancer));
            assertThat(refused.execute("move", "start", "--dir", dir.toString()))
                    .isEqualTo(1);
            assertThat(noRebalancer.toString()).contains("no rebalancer is running for cluster demo");
            try (CuratorFramework zk = ZooKeeperTopologyStore.newClient(grown.zk(), Duration.ofSeconds(10));
                    Rebalancer rebalancer = RebalancerCommand.start(zk, grown.name())) {
                await().atMost(Duration.ofSeconds(10)).until(rebalancer::isLeader);
                StringWriter moveOut = new StringWriter();
                CommandLine move = ShardlineCli.commandLine();
                move.setOut(new PrintWriter(moveOut));
                assertThat(move.execute("move", "start", "--wait", "--dir", dir.toString()))
                        .as(moveOut.toString())
                        .isZero();
                assertThat(moveOut.toString())
                        .contains(
                                "started",
                                "copying",
                                "moved rows deleted from the sources",
                                "done in",
                                "ring version 2");
            }
            StringWriter afterMove = new StringWriter();
            CommandLine showMoved = ShardlineCli.commandLine();
            showMoved.setOut(new PrintWriter(afterMove));
            assertThat(showMoved.execute("topology", "show", "--dir", dir.toString()))
                    .isZero();
            assertThat(afterMove.toString()).contains("shard 2: 3 range(s), 33.3% of the hash space");
            long onNewShard = Long.parseLong(queryPrimary(grown, 2, "SELECT count(*) FROM users"));
            assertThat(onNewShard).isEqualTo(moving);
            // the new shard got the schema objects and views: a call and a view read for one of its keys
            StringWriter functionOut = new StringWriter();
            CommandLine function = ShardlineCli.commandLine();
            function.setOut(new PrintWriter(functionOut));
            assertThat(function.execute("function", "shard", "user_tier", "--key-arg", "1", "--dir", dir.toString()))
                    .isZero();
            assertThat(functionOut.toString())
                    .contains("public.user_tier is distributed by argument 1 (integer): each call runs on that key's"
                            + " shard (topology");
            long onShard2 = LongStream.rangeClosed(1, 5000)
                    .filter(k -> expected.to().shardFor(KeyHash.hashInt8(k)) == 2)
                    .findFirst()
                    .orElseThrow();
            try (Connection c = DriverManager.getConnection(grown.jdbcUrl());
                    PreparedStatement call = c.prepareStatement("SELECT user_tier(?)");
                    PreparedStatement view = c.prepareStatement("SELECT loud FROM user_names WHERE user_id = ?")) {
                call.setLong(1, onShard2);
                view.setLong(1, onShard2);
                try (ResultSet rs = call.executeQuery()) {
                    rs.next();
                    assertThat(rs.getString(1)).isEqualTo(onShard2 % 2 == 0 ? "paid" : "free");
                }
                try (ResultSet rs = view.executeQuery()) {
                    rs.next();
                    assertThat(rs.getString(1)).isEqualTo("U" + onShard2);
                }
            } finally {
                ShardlineDriver.closeAll();
            }
            // the new shard got the reference table before it owned ranges
            assertThat(queryPrimary(grown, 2, "SELECT string_agg(code, ',') FROM countries"))
                    .isEqualTo("fr");

            StringWriter downOut = new StringWriter();
            CommandLine cli = ShardlineCli.commandLine();
            cli.setOut(new PrintWriter(downOut));
            int rc = cli.execute("cluster", "down", "--dir", dir.toString());

            assertThat(rc).isZero();
            assertThat(downOut.toString()).contains("Stopped the local cluster");
            assertThat(up.isAlive()).isFalse();
            assertThat(processesMentioning(dir)).isEmpty();
            assertThat(dir.resolve("cluster.json")).doesNotExist();
        } finally {
            up.destroyForcibly();
        }
    }

    private static String queryPrimary(ClusterDescriptor d, int shard, String sql) throws Exception {
        ClusterDescriptor.Node primary = d.shard(shard).get(0);
        try (Connection c = DriverManager.getConnection(
                        "jdbc:postgresql://" + primary.host() + ":" + primary.port() + "/" + d.database(),
                        d.user(),
                        "");
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    @Test
    void theDemoStopsOnSigtermAndDeletesItsData() throws Exception {
        Path out = Files.createTempFile("shardline-demo-", ".out");
        Process demo = startCli(out, "demo");
        try {
            await().atMost(Duration.ofSeconds(60))
                    .pollInterval(Duration.ofMillis(200))
                    .failFast("demo exited", () -> !demo.isAlive())
                    .until(() -> Files.readString(out).contains("Press Ctrl-C to stop"));
            String printed = Files.readString(out);
            assertThat(printed)
                    .contains("s0-primary", "s1-leaf1", "psql -h 127.0.0.1", "jdbc:shardline:zk://127.0.0.1:");
            Matcher descriptor =
                    Pattern.compile("Cluster descriptor: (\\S+)/cluster.json").matcher(printed);
            assertThat(descriptor.find()).isTrue();
            Path dir = Path.of(descriptor.group(1));
            assertThat(dir.resolve("cluster.json")).exists();

            demo.destroy();

            assertThat(demo.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(processesMentioning(dir)).isEmpty();
            assertThat(dir).doesNotExist();
        } finally {
            demo.destroyForcibly();
            Files.deleteIfExists(out);
        }
    }

    @Test
    void downOnADirectoryWithoutAClusterSaysSo() throws Exception {
        Path dir = Files.createTempDirectory("shardline-empty-");
        StringWriter err = new StringWriter();
        CommandLine cli = ShardlineCli.commandLine();
        cli.setErr(new PrintWriter(err));
        assertThat(cli.execute("cluster", "down", "--dir", dir.toString())).isEqualTo(1);
        assertThat(err.toString()).contains("no local cluster in " + dir);
    }

    @Test
    void everySubcommandHasHelp() {
        for (List<String> command : List.of(
                List.of("--help"),
                List.of("demo", "--help"),
                List.of("cluster", "--help"),
                List.of("cluster", "up", "--help"),
                List.of("cluster", "down", "--help"),
                List.of("table", "shard", "--help"),
                List.of("table", "reference", "--help"),
                List.of("function", "shard", "--help"),
                List.of("topology", "show", "--help"),
                List.of("monitor", "--help"),
                List.of("shard", "add", "--help"),
                List.of("move", "start", "--help"),
                List.of("rebalancer", "--help"))) {
            StringWriter help = new StringWriter();
            CommandLine cli = ShardlineCli.commandLine();
            cli.setOut(new PrintWriter(help));
            assertThat(cli.execute(command.toArray(String[]::new)))
                    .as("%s", command)
                    .isZero();
            assertThat(help.toString()).as("%s", command).startsWith("Usage: shardline");
        }
    }

    /** Runs the CLI in its own JVM, as the launcher does, with its output going to {@code out}. */
    private static Process startCli(Path out, String... args) throws Exception {
        return new ProcessBuilder(ShardlineProcess.command(args))
                .redirectErrorStream(true)
                .redirectOutput(out.toFile())
                .start();
    }

    private static List<ProcessHandle> processesMentioning(Path dir) {
        return ProcessHandle.allProcesses()
                .filter(p -> p.info()
                        .commandLine()
                        .map(c -> c.contains(dir.toString()))
                        .orElse(false))
                .toList();
    }
}
