package io.shardline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.ClusterDescriptor;
import io.shardline.console.ConsoleServer;
import io.shardline.console.ConsoleSettings;
import io.shardline.console.ConsoleUsers;
import io.shardline.console.Role;
import io.shardline.monitor.ReplicationMonitor;
import io.shardline.rebalancer.Rebalancer;
import io.shardline.topology.ZkCredentials;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.zookeeper.KeeperException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * {@code cluster up} makes a secured cluster: its credentials owner-only in its directory, nobody without them
 * reads or changes its ZooKeeper data, and every component works with its own identity — the driver (the router
 * identity from cluster.json's URL: DDL, writes, a two-phase commit, a move's fences), the command line
 * ({@code --dir}), the replication monitor, the rebalancer (a move) and the console (its audit log).
 */
class SecuredClusterIT {
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @Test
    void everyComponentWorksWithItsIdentityAndNobodyElseTouchesTheCluster() throws Exception {
        Path dir = Files.createTempDirectory("shardline-secure-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        ShardlineProcess up = new ShardlineProcess("cluster", "up", "--dir", dir.toString());
        try {
            await().atMost(Duration.ofSeconds(90))
                    .failFast("cluster up exited: " + up.err, () -> !up.process.isAlive())
                    .until(() -> Files.exists(dir.resolve(ClusterDescriptor.FILE_NAME)));
            ClusterDescriptor d = ClusterDescriptor.read(dir);
            Path credentials = dir.resolve(ZkCredentials.FILE);
            for (Path secret : List.of(credentials, dir.resolve(ClusterDescriptor.FILE_NAME))) {
                assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(secret)))
                        .as("%s", secret)
                        .isEqualTo("rw-------");
            }
            ZkCredentials admin = ZkCredentials.read(credentials, "admin");
            ZkCredentials router = ZkCredentials.read(credentials, "router");
            assertThat(d.jdbcUrl()).contains("zkUser=router", "zkPassword=");
            assertThat(up.out.toString() + up.err).doesNotContain(router.password(), admin.password());

            outsiderIsRefused(d);
            String base = d.jdbcUrl().substring(0, d.jdbcUrl().indexOf('?'));
            assertThatThrownBy(() -> DriverManager.getConnection(base).close())
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("refused access to /shardline/clusters/demo/topology")
                    .hasMessageContaining("zkUser and zkPassword")
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("08001"));

            assertThat(ShardlineProcess.inProcess(
                            "table", "shard", "accounts", "--key", "id", "--type", "bigint", "--dir", dir.toString()))
                    .contains("public.accounts is sharded by id");
            String url = d.jdbcUrl() + "&twoPhaseCommit=true";
            try (Connection c = DriverManager.getConnection(url);
                    Statement s = c.createStatement()) {
                s.execute("CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL)");
                try (PreparedStatement insert = c.prepareStatement("INSERT INTO accounts VALUES (?, 100)")) {
                    for (int id = 1; id <= 200; id++) {
                        insert.setLong(1, id);
                        insert.addBatch();
                    }
                    insert.executeBatch();
                }
                c.setAutoCommit(false);
                s.executeUpdate("UPDATE accounts SET balance = balance - 10 WHERE id = 1");
                s.executeUpdate("UPDATE accounts SET balance = balance + 10 WHERE id = 2");
                s.executeUpdate("UPDATE accounts SET balance = balance + 0 WHERE id = 3");
                s.executeUpdate("UPDATE accounts SET balance = balance + 0 WHERE id = 4");
                c.commit(); // ids 1-4 span both shards: a two-phase commit, its decision in txns/
                c.setAutoCommit(true);
                assertThat(sum(s)).isEqualTo(20_000);
            }

            try (CuratorFramework client = ZooKeeperTopologyStore.newClient(d.zk(), Duration.ofSeconds(10), admin);
                    ZooKeeperTopologyStore store = new ZooKeeperTopologyStore(client, d.name())) {
                store.start();
                ReplicationMonitor monitor =
                        new ReplicationMonitor(store, Duration.ofMillis(100), Duration.ofMillis(200), null, null);
                monitor.start();
                Rebalancer rebalancer = Rebalancer.forCluster(client, d.name(), null);
                rebalancer.start();
                ConsoleUsers.Generated operator = ConsoleUsers.generate("operator", Role.OPERATOR);
                try (monitor;
                        rebalancer;
                        ConsoleServer console =
                                ConsoleServer.start(ConsoleSettings.of(d.zk(), d.name(), List.of(operator.user()), null)
                                        .withPort(0))) {
                    await().atMost(Duration.ofSeconds(20))
                            .until(() -> client.checkExists().forPath("/shardline/clusters/demo/lag/s1-leaf1") != null);
                    movesUnderWrites(dir, url);
                    HttpResponse<String> abort = HTTP.send(
                            HttpRequest.newBuilder(URI.create(console.url() + "/api/moves/none/abort"))
                                    .header("Authorization", ShardlineProcess.basic(operator))
                                    .POST(HttpRequest.BodyPublishers.noBody())
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
                    assertThat(abort.statusCode()).isIn(404, 409);
                    HttpResponse<String> audit = HTTP.send(
                            HttpRequest.newBuilder(URI.create(console.url() + "/api/audit?limit=5"))
                                    .header("Authorization", ShardlineProcess.basic(operator))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
                    assertThat(audit.body()).contains("\"move.abort\"", "\"operator\"");
                    HttpResponse<String> health = HTTP.send(
                            HttpRequest.newBuilder(URI.create(console.url() + "/actuator/health"))
                                    .header("Authorization", ShardlineProcess.basic(operator))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
                    assertThat(health.statusCode()).as(health.body()).isEqualTo(200);
                }
            }
        } finally {
            up.terminate(); // the cluster stops its servers on SIGTERM
            up.process.waitFor(60, TimeUnit.SECONDS);
            up.close();
        }
    }

    /** Adds a shard and moves ranges to it (the command line, the rebalancer) while the driver writes. */
    private static void movesUnderWrites(Path dir, String url) throws Exception {
        assertThat(ShardlineProcess.inProcess("cluster", "add-shard", "--dir", dir.toString()))
                .contains("Shard 2 is up");
        AtomicBoolean writing = new AtomicBoolean(true);
        AtomicLong written = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread writer = new Thread(() -> {
            try (Connection c = DriverManager.getConnection(url);
                    Statement s = c.createStatement()) {
                for (long id = 1_000; writing.get(); id++) {
                    try {
                        s.execute("INSERT INTO accounts VALUES (" + id + ", 0)");
                        written.incrementAndGet();
                    } catch (SQLException e) {
                        if (!"40001".equals(e.getSQLState())) {
                            throw e;
                        }
                        id--; // held past fenceWaitMs at the cutover: again
                    }
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        writer.start();
        try {
            assertThat(ShardlineProcess.inProcess("move", "start", "--wait", "--dir", dir.toString()))
                    .contains("done");
        } finally {
            writing.set(false);
            writer.join(30_000);
        }
        assertThat(failure.get()).isNull();
        assertThat(written.get()).as("rows written during the move").isPositive();
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM accounts")) {
            rs.next();
            assertThat(rs.getLong(1)).isEqualTo(200 + written.get());
        }
    }

    private static void outsiderIsRefused(ClusterDescriptor d) throws Exception {
        String base = ZooKeeperTopologyStore.clusterPath(d.name());
        try (CuratorFramework outsider = CuratorFrameworkFactory.newClient(d.zk(), new RetryOneTime(100))) {
            outsider.start();
            outsider.blockUntilConnected();
            refused(() -> outsider.getData().forPath(base + "/topology"));
            refused(() -> outsider.setData().forPath(base + "/ring", "{}".getBytes()));
            refused(() -> outsider.create().forPath(base + "/moves", "{}".getBytes()));
            refused(() -> outsider.create().forPath(base + "/txns/shardline_x_1", "COMMIT".getBytes()));
            refused(() -> outsider.create().forPath(base + "/audit", new byte[0]));
            refused(() -> outsider.delete().forPath(base + "/ring"));
        }
    }

    private static void refused(Executable action) {
        assertThatThrownBy(action::execute).isInstanceOf(KeeperException.NoAuthException.class);
    }

    private static long sum(Statement s) throws SQLException {
        try (ResultSet rs = s.executeQuery("SELECT sum(balance) FROM accounts")) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
