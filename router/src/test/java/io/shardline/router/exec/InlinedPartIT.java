package io.shardline.router.exec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.router.MoveScript;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineConnection;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.LongStream;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A short cross-shard scan runs the final node's own part inside the final query, after the other shards' parts
 * were read. A move that starts in between (its copy already on the final node) must not show that node's copy of
 * another shard's rows: the read is routed again and reads each shard's owned rows only.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class InlinedPartIT {
    private static final String SCAN = "SELECT id, v FROM scan_rows WHERE id >= ? ORDER BY id LIMIT 10";

    private static LocalCluster cluster;
    private static HashRing ring;
    private static CuratorFramework client;
    private static String url;

    @BeforeAll
    static void start() throws Exception {
        cluster = LocalCluster.builder()
                .name("inlined")
                .shards(2)
                .hubs(0)
                .leaves(0)
                .start();
        ring = RouterClusters.publish(cluster, List.of(new ShardedTable("public", "scan_rows", "id", KeyType.INTEGER)));
        client = ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10));
        url = cluster.shardlineUrl() + "?crossShardConsistency=relaxed&readFrom=primary";
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE scan_rows (id bigint PRIMARY KEY, v text)");
            for (int id = 1; id <= 40; id++) {
                s.execute("INSERT INTO scan_rows VALUES (" + id + ", 'v" + id + "')");
            }
        }
    }

    @AfterEach
    void noHook() throws Exception {
        CrossShardRead.afterGathering = null;
        new MoveScript(client, "inlined").deleteMoves();
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (client != null) {
            client.close();
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    private static void run(int shard, String sql) throws SQLException {
        try (Connection c = cluster.primary(shard).connect();
                Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    /**
     * Waits until this runtime's move watcher has seen the move: DDL on a sharded table is then refused (55006), as
     * {@code explainRoute} says without running it.
     */
    private static void awaitMoveSeen() {
        await().atMost(Duration.ofSeconds(10))
                .pollInterval(Duration.ofMillis(20))
                .until(() -> {
                    try (Connection c = DriverManager.getConnection(url)) {
                        return c.unwrap(ShardlineConnection.class)
                                .explainRoute("ALTER TABLE scan_rows ADD COLUMN w int")
                                .get(0)
                                .reason()
                                .startsWith("refused (55006");
                    }
                });
    }

    private static List<Long> scan(Connection c, long from) throws SQLException {
        List<Long> ids = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(SCAN)) {
            ps.setLong(1, from);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ids.add(rs.getLong(1));
                    assertThat(rs.getString(2)).isEqualTo("v" + rs.getLong(1));
                }
            }
        }
        return ids;
    }

    @Test
    void aScanAnswersRightWithTheFinalNodesPartInsideTheFinalQuery() throws Exception {
        try (Connection c = DriverManager.getConnection(url)) {
            for (long from = 1; from <= 40; from += 7) {
                List<Long> expected = LongStream.rangeClosed(from, Math.min(40, from + 9))
                        .boxed()
                        .toList();
                assertThat(scan(c, from)).as("ids from %d", from).isEqualTo(expected);
            }
        }
    }

    @Test
    void aMoveStartingBetweenThePartsAndTheFinalQueryRoutesTheScanAgain() throws Exception {
        int home;
        try (Connection c = DriverManager.getConnection(url)) {
            // the final query runs on the home shard (where unsharded tables live)
            home = c.unwrap(ShardlineConnection.class)
                    .explainRoute("SELECT 1")
                    .get(0)
                    .shard();
        }
        int other = 1 - home;
        long key = LongStream.rangeClosed(11, 20)
                .filter(k -> ring.shardFor(KeyHash.hashInt8(k)) == other)
                .findFirst()
                .orElseThrow();
        MoveScript script = new MoveScript(client, "inlined");
        AtomicInteger gathered = new AtomicInteger();
        CrossShardRead.afterGathering = () -> {
            if (gathered.incrementAndGet() > 1) {
                return;
            }
            try {
                // the move starts: its copy of the key's range already holds the key's row on the final node
                script.writeMove("inlined-m", MoveState.COPYING, script.rangeOf(key), other, home);
                run(home, "INSERT INTO scan_rows VALUES (" + key + ", 'v" + key + "')");
                awaitMoveSeen();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        };
        try (Connection c = DriverManager.getConnection(url)) {
            assertThat(scan(c, 11))
                    .as("each id once: the final node's copy of %d (shard %d's) not read", key, other)
                    .isEqualTo(LongStream.rangeClosed(11, 20).boxed().toList());
        } finally {
            run(home, "DELETE FROM scan_rows WHERE id = " + key);
        }
        assertThat(gathered.get())
                .as("the parts read again once the move was seen")
                .isEqualTo(2);
    }
}
