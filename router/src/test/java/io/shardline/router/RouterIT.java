package io.shardline.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.NodeRole;
import io.shardline.compose.PgNode;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.Shard;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

/** The driver against a real 2-shard cluster, each shard primary -> hub -> leaf. */
class RouterIT {
    private static LocalCluster cluster;
    private static HashRing ring;
    private static String url;
    private static Map<Integer, PgNode> byPort;

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder()
                .name("router")
                .shards(2)
                .hubs(1)
                .leaves(1)
                .start();
        ring = RouterClusters.publish(
                cluster,
                List.of(
                        new ShardedTable("public", "users", "user_id", KeyType.INTEGER),
                        new ShardedTable("public", "Devices", "device_id", KeyType.UUID)));
        url = cluster.shardlineUrl() + "?user=postgres&maxStalenessMs=-1";
        byPort = cluster.nodes().stream().collect(Collectors.toMap(PgNode::port, Function.identity()));
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE users (user_id bigint PRIMARY KEY, name text, doc jsonb)");
            s.execute("CREATE TABLE countries (code text PRIMARY KEY, name text)");
        }
        // reads here may go to any replica (maxStalenessMs=-1): each must have replayed the table first
        RouterClusters.awaitTable(cluster.nodes(), "users");
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (cluster != null) {
            cluster.close();
        }
    }

    /**
     * A shard whose two replicas nothing listens for (another cluster in the same ZooKeeper, shard 0's primary and
     * two replicas at closed ports): an unbounded read tries both, ejects both, and then goes to the primary, or is
     * refused under fallback=error, which keeps reads off the primaries whatever failed them; with a third replica that
     * answers, fallback=error reads there.
     */
    @Test
    void aReadWhoseReplicasCannotBeReachedIsRefusedUnderFallbackErrorElseServedByThePrimary() throws Exception {
        PgNode primary = cluster.primary(0);
        io.shardline.topology.Node p = new io.shardline.topology.Node(
                primary.name(), io.shardline.topology.NodeRole.PRIMARY, primary.host(), primary.port(), null);
        List<io.shardline.topology.Node> nodes = new ArrayList<>(List.of(p));
        for (String name : List.of("gone1", "gone2")) {
            int closed;
            try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
                closed = socket.getLocalPort();
            }
            nodes.add(new io.shardline.topology.Node(
                    name, io.shardline.topology.NodeRole.HUB, "127.0.0.1", closed, p.name()));
        }
        String read = "SELECT inet_server_port() FROM users WHERE user_id = 1 UNION ALL SELECT inet_server_port()";
        String base = publishShardZero("unreachable", nodes);
        try (Connection c = DriverManager.getConnection(base + "&fallback=error");
                Statement s = c.createStatement()) {
            SQLException refused = org.assertj.core.api.Assertions.catchThrowableOfType(
                    SQLException.class, () -> s.executeQuery(read));
            assertThat((Throwable) refused)
                    .as("the read refused, not served by the primary")
                    .isNotNull();
            assertThat(refused.getSQLState()).isEqualTo("55000");
            assertThat(refused.getMessage()).contains("fallback=error");
        }
        try (Connection c = DriverManager.getConnection(base);
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(read)) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getInt(1)).as("served by the primary").isEqualTo(primary.port());
        }
        PgNode hub = cluster.shard(0).stream()
                .filter(n -> n.role() == NodeRole.HUB)
                .findFirst()
                .orElseThrow();
        nodes.add(new io.shardline.topology.Node(
                hub.name(), io.shardline.topology.NodeRole.HUB, hub.host(), hub.port(), p.name()));
        // the two that do not answer are all but certainly drawn first
        String withOne = publishShardZero("unreachable-but-one", nodes) + "&replicaWeights=gone1:1000,gone2:1000";
        for (int i = 0; i < 3; i++) {
            try (Connection c = DriverManager.getConnection(withOne + "&fallback=error");
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery(read)) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getInt(1))
                        .as("served by the replica that answers")
                        .isEqualTo(hub.port());
            }
        }
    }

    /** Publishes a cluster of one shard of {@code nodes}; its URL for unbounded reads. */
    /**
     * A pool validating an idle connection ({@code isValid}) or reading its network timeout while the home shard's
     * primary is down (another cluster in the same ZooKeeper whose shard 0 primary is at a closed port, shard 1 the
     * real one): neither borrows a connection of the home primary, so a connection serving shard 1 stays valid.
     */
    @Test
    void aConnectionIsValidWhileTheHomePrimaryIsDownAndItsTimeoutIsReadWithoutIt() throws Exception {
        int closed;
        try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
            closed = socket.getLocalPort();
        }
        PgNode real = cluster.primary(1);
        ClusterTopology topology = new ClusterTopology(
                "homeless",
                1,
                cluster.database(),
                "postgres",
                0,
                List.of(
                        new Shard(
                                0,
                                List.of(new io.shardline.topology.Node(
                                        "gone-primary",
                                        io.shardline.topology.NodeRole.PRIMARY,
                                        "127.0.0.1",
                                        closed,
                                        null))),
                        new Shard(
                                1,
                                List.of(new io.shardline.topology.Node(
                                        real.name(),
                                        io.shardline.topology.NodeRole.PRIMARY,
                                        real.host(),
                                        real.port(),
                                        null)))),
                List.of(new ShardedTable("public", "users", "user_id", KeyType.INTEGER)));
        HashRing homeless = HashRing.even(topology.shardIds(), HashRing.DEFAULT_RANGES_PER_SHARD);
        try (CuratorFramework client =
                ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10))) {
            ZooKeeperTopologyStore.initialize(client, topology, homeless);
        }
        long key = 1;
        while (homeless.shardFor(KeyHash.hashInt8(key)) != 1) {
            key++;
        }
        String base = "jdbc:shardline:zk://" + cluster.zkConnectString() + "/shardline/clusters/homeless"
                + "?user=postgres&connectTimeoutMs=3000";
        try (Connection fresh = DriverManager.getConnection(base)) {
            assertThat(fresh.isValid(1))
                    .as("nothing held yet: nothing to check")
                    .isTrue();
            assertThat(fresh.getNetworkTimeout()).isZero();
        }
        try (Connection c = DriverManager.getConnection(base);
                Statement s = c.createStatement()) {
            try (ResultSet rs = s.executeQuery(
                    "SELECT inet_server_port() FROM users WHERE user_id = " + key + " UNION ALL SELECT 0")) {
                assertThat(rs.next()).isTrue();
            }
            assertThat(c.isValid(2)).as("its shard 1 connection answers").isTrue();
            assertThat(c.getNetworkTimeout()).isZero();
            c.setNetworkTimeout(Runnable::run, 7000);
            assertThat(c.getNetworkTimeout()).isEqualTo(7000);
        }
        try (Connection timed = DriverManager.getConnection(base + "&pg.socketTimeout=9")) {
            assertThat(timed.getNetworkTimeout()).isEqualTo(9000);
        }
    }

    /**
     * A function called through {@code prepareCall} (pgjdbc's own CallableStatement, not analyzed) counts as a write:
     * the session's next read of that shard must see what it wrote (read-your-writes sends it to the primary until a
     * replica is known to hold it), as for {@code Statement.execute("CALL ...")}.
     */
    @Test
    void aFunctionCalledThroughPrepareCallCountsAsAWriteForReadYourWrites() throws Exception {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE FUNCTION add_country(c text) RETURNS void LANGUAGE plpgsql"
                    + " AS $$BEGIN INSERT INTO countries VALUES (c, c); END$$");
        }
        RouterClusters.awaitTable(cluster.shard(0), "countries");
        try (Connection c = DriverManager.getConnection(url)) {
            ShardlineConnection sc = c.unwrap(ShardlineConnection.class);
            String read = "SELECT name FROM countries WHERE code = 'pc'";
            assertThat(sc.explainRoute(read).get(0).role())
                    .as("before any write")
                    .isNotEqualTo("primary");
            try (java.sql.CallableStatement call = c.prepareCall("{call add_country(?)}")) {
                call.setString(1, "pc");
                call.execute();
            }
            assertThat(sc.explainRoute(read).get(0).role())
                    .as("after the call: its shard's primary, until a replica is known to hold the write")
                    .isEqualTo("primary");
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery(read)) {
                assertThat(rs.next()).as("the call's row is read").isTrue();
            }
        }
    }

    private static String publishShardZero(String name, List<io.shardline.topology.Node> nodes) throws Exception {
        ClusterTopology topology = new ClusterTopology(
                name,
                1,
                cluster.database(),
                "postgres",
                0,
                List.of(new Shard(0, nodes)),
                List.of(new ShardedTable("public", "users", "user_id", KeyType.INTEGER)));
        try (CuratorFramework client =
                ZooKeeperTopologyStore.newClient(cluster.zkConnectString(), Duration.ofSeconds(10))) {
            ZooKeeperTopologyStore.initialize(
                    client, topology, HashRing.even(topology.shardIds(), HashRing.DEFAULT_RANGES_PER_SHARD));
        }
        return "jdbc:shardline:zk://" + cluster.zkConnectString() + "/shardline/clusters/" + name
                + "?user=postgres&maxStalenessMs=-1&connectTimeoutMs=2000";
    }

    private static int shardOf(long userId) {
        return ring.shardFor(KeyHash.hashInt8(userId));
    }

    @Test
    void rowsLandWhereTheRingSaysAndKeyReadsAreServedByThatShardsReplicas() throws Exception {
        try (Connection c = DriverManager.getConnection(url);
                PreparedStatement insert = c.prepareStatement(
                        "INSERT INTO users (user_id, name, doc) VALUES (?, ?, ?::jsonb) RETURNING inet_server_port()")) {
            for (long id = 1; id <= 200; id++) {
                insert.setLong(1, id);
                insert.setString(2, "user-" + id);
                insert.setString(3, "{\"n\": " + id + "}");
                try (ResultSet rs = insert.executeQuery()) {
                    rs.next();
                    PgNode node = byPort.get(rs.getInt(1));
                    assertThat(node.role()).isEqualTo(NodeRole.PRIMARY);
                    assertThat(node.shard()).as("shard of %d", id).isEqualTo(shardOf(id));
                }
            }
        }
        // Direct checks on each primary: every row is on exactly the shard the ring names.
        for (int shard = 0; shard < 2; shard++) {
            try (Connection direct = cluster.primary(shard).connect();
                    ResultSet rs =
                            direct.createStatement().executeQuery("SELECT user_id FROM users WHERE user_id <= 200")) {
                while (rs.next()) {
                    assertThat(shardOf(rs.getLong(1))).isEqualTo(shard);
                }
            }
        }
        try (Connection c = DriverManager.getConnection(url);
                PreparedStatement read =
                        c.prepareStatement("SELECT name, inet_server_port() FROM users WHERE user_id = ?")) {
            for (long id = 1; id <= 200; id += 7) {
                long key = id;
                await().atMost(Duration.ofSeconds(10)).until(() -> {
                    read.setLong(1, key);
                    try (ResultSet rs = read.executeQuery()) {
                        if (!rs.next()) {
                            return false; // the replica has not replayed the insert yet
                        }
                        PgNode node = byPort.get(rs.getInt(2));
                        assertThat(node.role()).isNotEqualTo(NodeRole.PRIMARY);
                        assertThat(node.shard()).isEqualTo(shardOf(key));
                        assertThat(rs.getString(1)).isEqualTo("user-" + key);
                        return true;
                    }
                });
            }
        }
    }

    /**
     * A read whose result set is updatable runs on the primary, through which its rows are written back, and counts as
     * a write; over a sharded table it is refused (a row inserted or re-keyed through it would stay on that shard).
     */
    @Test
    void anUpdatableResultSetReadsAndWritesOnThePrimaryAndIsRefusedOverAShardedTable() throws Exception {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.executeUpdate("INSERT INTO countries VALUES ('de', 'before')");
        }
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            // the row on a replica, where a plain read of it goes
            await().atMost(Duration.ofSeconds(10)).until(() -> {
                try (ResultSet rs = s.executeQuery("SELECT inet_server_port() FROM countries WHERE code = 'de'")) {
                    return rs.next() && byPort.get(rs.getInt(1)).role() != NodeRole.PRIMARY;
                }
            });
            try (Statement updatable = c.createStatement(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_UPDATABLE);
                    ResultSet rs = updatable.executeQuery(
                            "SELECT code, name, inet_server_port() AS port FROM countries WHERE code = 'de'")) {
                assertThat(rs.next()).isTrue();
                assertThat(byPort.get(rs.getInt("port")).role()).isEqualTo(NodeRole.PRIMARY);
            }
            try (PreparedStatement updatable = c.prepareStatement(
                    "SELECT code, name FROM countries WHERE code = ?",
                    ResultSet.TYPE_FORWARD_ONLY,
                    ResultSet.CONCUR_UPDATABLE)) {
                updatable.setString(1, "de");
                try (ResultSet rs = updatable.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                    rs.updateString("name", "Germany");
                    rs.updateRow();
                    rs.moveToInsertRow();
                    rs.updateString("code", "it");
                    rs.updateString("name", "Italy");
                    rs.insertRow();
                }
            }
            try (ResultSet rs = s.executeQuery(
                    "SELECT string_agg(name, ',' ORDER BY code) FROM countries" + " WHERE code IN ('de', 'it')")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("Germany,Italy");
            }
            // a write on an updatable statement (Spring's setUpdatableResults) is a write like any other
            try (PreparedStatement write = c.prepareStatement(
                    "UPDATE users SET name = name WHERE user_id = ?",
                    ResultSet.TYPE_FORWARD_ONLY,
                    ResultSet.CONCUR_UPDATABLE)) {
                write.setLong(1, 1);
                write.executeUpdate();
            }
            try (Statement updatable = c.createStatement(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_UPDATABLE)) {
                assertThatThrownBy(() -> updatable.executeQuery("SELECT user_id, name FROM users WHERE user_id = 1"))
                        .isInstanceOf(SQLException.class)
                        .hasMessageContaining(
                                "updatable result set (CONCUR_UPDATABLE) over the sharded table public.users")
                        .extracting(e -> ((SQLException) e).getSQLState())
                        .isEqualTo("0A000");
            }
            // with a row lock, the usual way to update through a result set
            try (Statement updatable = c.createStatement(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_UPDATABLE)) {
                assertThatThrownBy(() ->
                                updatable.executeQuery("SELECT user_id, name FROM users WHERE user_id = 1 FOR UPDATE"))
                        .hasMessageContaining("over the sharded table public.users");
            }
            try (PreparedStatement updatable = c.prepareStatement(
                    "SELECT user_id, name FROM users WHERE user_id = ?",
                    ResultSet.TYPE_FORWARD_ONLY,
                    ResultSet.CONCUR_UPDATABLE)) {
                updatable.setLong(1, 1);
                assertThatThrownBy(updatable::executeQuery).hasMessageContaining("over the sharded table public.users");
            }
        }
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.executeUpdate("DELETE FROM countries WHERE code IN ('de', 'it')");
        }
    }

    @Test
    void transactionsRunOnTheShardsPrimaryAndReadOtherShardsReadOnlyWithoutTwoPhaseCommit() throws Exception {
        long a = 1001;
        long b = a + 1;
        while (shardOf(b) == shardOf(a)) {
            b++;
        }
        String read = "SELECT inet_server_port(), current_setting('transaction_read_only'), count(*) FROM users"
                + " WHERE user_id = ?";
        try (Connection c = DriverManager.getConnection(url);
                Connection other = DriverManager.getConnection(url + "&readFrom=primary");
                PreparedStatement ps = c.prepareStatement(read);
                Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            s.executeUpdate("INSERT INTO users (user_id, name) VALUES (" + a + ", 'tx')");
            for (long key : new long[] {a, b}) {
                ps.setLong(1, key);
                try (ResultSet rs = ps.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                    assertThat(byPort.get(rs.getInt(1))).as("key %d", key).isEqualTo(cluster.primary(shardOf(key)));
                    // the shard it started on stays read-write; another one read joins READ ONLY
                    assertThat(rs.getString(2)).as("key %d", key).isEqualTo(key == a ? "off" : "on");
                }
            }
            try (ResultSet rs = s.executeQuery("SELECT count(*) FROM countries")) {
                assertThat(rs.next())
                        .as("an unsharded table's read joins the home shard")
                        .isTrue();
            }
            c.commit();
            assertThat(nameOf(other, a))
                    .as("committed without two-phase commit")
                    .isEqualTo("tx");

            // a write on a shard it joined to read is refused, naming why, and fails the transaction
            s.executeUpdate("UPDATE users SET name = 'tx2' WHERE user_id = " + a);
            ps.setLong(1, b);
            ps.executeQuery().close();
            long onB = b;
            assertThatThrownBy(() -> s.executeUpdate("UPDATE users SET name = 'tx2' WHERE user_id = " + onB))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("which it joined to read only")
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("0A000"));
            assertThatThrownBy(c::commit)
                    .hasMessageContaining("it was rolled back on every shard")
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("40000"));
            assertThat(nameOf(other, a))
                    .as("rolled back: a statement of it failed")
                    .isEqualTo("tx");
            c.setAutoCommit(true);
            s.executeUpdate("DELETE FROM users WHERE user_id = " + a);
        }
    }

    /**
     * A shard a read-write transaction joined to read: its COMMIT there loses nothing, so a connection that broke
     * there does not fail the commit of the shard that wrote; a sequence read after the transaction joined the home
     * shard to read runs outside it (PostgreSQL refuses nextval in a READ ONLY transaction).
     */
    @Test
    void aShardJoinedToReadNeitherFailsTheCommitNorTakesTheSequence() throws Exception {
        long a = 4320;
        while (shardOf(a) == 0) {
            a++;
        }
        long b = 4320;
        while (shardOf(b) != 0) {
            b++;
        }
        try (Connection c = DriverManager.getConnection(url);
                Connection other = DriverManager.getConnection(url + "&readFrom=primary");
                Statement s = c.createStatement()) {
            s.execute("CREATE SEQUENCE IF NOT EXISTS joined_seq");
            c.setAutoCommit(false);
            s.executeUpdate("INSERT INTO users (user_id, name) VALUES (" + a + ", 'kept')");
            int readerPid;
            try (ResultSet rs = s.executeQuery("SELECT pg_backend_pid(), count(*) FROM users WHERE user_id = " + b)) {
                rs.next();
                readerPid = rs.getInt(1);
            }
            // each run on a connection of its own, handed back at the next (more runs than a node's pool holds)
            for (int i = 0; i < 30; i++) {
                try (ResultSet rs = s.executeQuery("SELECT nextval('joined_seq')")) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getLong(1)).isPositive();
                }
            }
            try (Connection direct = cluster.primary(shardOf(b)).connect();
                    Statement d = direct.createStatement()) {
                d.execute("SELECT pg_terminate_backend(" + readerPid + ")");
            }
            c.commit();
            c.setAutoCommit(true);
            assertThat(nameOf(other, a)).isEqualTo("kept");

            // a statement that failed where it read fails the transaction: nothing of it commits
            c.setAutoCommit(false);
            s.executeUpdate("UPDATE users SET name = 'lost' WHERE user_id = " + a);
            long onB = b;
            assertThatThrownBy(() -> s.executeQuery("SELECT 1 / 0 FROM users WHERE user_id = " + onB))
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("22012"));
            assertThatThrownBy(c::commit)
                    .hasMessageContaining("rolled back on every shard")
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("40000"));
            c.setAutoCommit(true);
            assertThat(nameOf(other, a)).isEqualTo("kept");

            // so too when the pool evicted the connection it failed on: by the commit that shard's connection is gone,
            // which alone would say it lost nothing. The pool evicts on "cached plan must not change result type": a
            // statement prepared on the home primary's only connection (poolSize=1), then its table's column retyped
            try (Connection one = DriverManager.getConnection(url + "&poolSize=1&readFrom=primary");
                    Statement os = one.createStatement()) {
                os.execute("CREATE TABLE evict_probe (v int)");
                os.execute("INSERT INTO evict_probe VALUES (1)");
                try (PreparedStatement probe = one.prepareStatement("SELECT v FROM evict_probe")) {
                    for (int i = 0; i < 6; i++) { // server-prepared from pgjdbc's fifth execution on
                        probe.executeQuery().close();
                    }
                    try (Connection direct = cluster.primary(0).connect();
                            Statement d = direct.createStatement()) {
                        d.execute("ALTER TABLE evict_probe ALTER COLUMN v TYPE bigint");
                    }
                    one.setAutoCommit(false);
                    os.executeUpdate("UPDATE users SET name = 'lost' WHERE user_id = " + a);
                    assertThatThrownBy(() -> probe.executeQuery().close())
                            .hasMessageContaining("cached plan must not change result type");
                    assertThatThrownBy(one::commit)
                            .satisfies(e ->
                                    assertThat(((SQLException) e).getSQLState()).isEqualTo("40000"));
                    one.setAutoCommit(true);
                }
                os.execute("DROP TABLE evict_probe");
            }
            assertThat(nameOf(other, a)).isEqualTo("kept");

            // a read-only transaction on both shards that sets a tenant commits (it wrote nothing)
            c.setReadOnly(true);
            c.setAutoCommit(false);
            s.executeQuery("SELECT count(*) FROM users WHERE user_id = " + a).close();
            s.executeQuery("SELECT count(*) FROM users WHERE user_id = " + b).close();
            s.executeQuery("SELECT set_config('app.tenant', 'ro', true)").close();
            c.commit();
            c.setAutoCommit(true);
            c.setReadOnly(false);

            // a setting the driver cannot carry (a spelling it does not read) binds the transaction to its shard
            c.setAutoCommit(false);
            s.executeUpdate("UPDATE users SET name = name WHERE user_id = " + a);
            try (PreparedStatement set = c.prepareStatement("SELECT set_config('app.tenant', ?::text, true)")) {
                set.setInt(1, 12);
                set.executeQuery().close();
            }
            assertThatThrownBy(() -> s.executeQuery("SELECT count(*) FROM users WHERE user_id = " + onB))
                    .hasMessageContaining("SAVEPOINT, SET LOCAL or the like")
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("0A000"));
            c.rollback();
            c.setAutoCommit(true);

            // the shard joined READ ONLY is not left so: a batch's transaction of its own there writes
            c.setAutoCommit(false);
            s.executeQuery("SELECT count(*) FROM users WHERE user_id = " + b).close();
            c.commit();
            c.setAutoCommit(true);
            try (PreparedStatement batch =
                    c.prepareStatement("INSERT INTO users (user_id, name) VALUES (?, 'batch')")) {
                for (long key : new long[] {a + 1000, b + 1000, a + 2000, b + 2000}) {
                    batch.setLong(1, key);
                    batch.addBatch();
                }
                assertThat(batch.executeBatch()).containsOnly(1);
            }
            // a tenant set after the first statement is set on the other shard too: a connection broken there (the
            // reader's, then the writer's) loses the transaction, whichever ran the set_config itself
            for (long broken : new long[] {b, a}) {
                c.setAutoCommit(false);
                s.executeUpdate("UPDATE users SET name = 'lost' WHERE user_id = " + a);
                int pid;
                try (ResultSet rs =
                        s.executeQuery("SELECT pg_backend_pid(), count(*) FROM users WHERE user_id = " + broken)) {
                    rs.next();
                    pid = rs.getInt(1);
                }
                s.executeQuery("SELECT count(*) FROM users WHERE user_id = " + (broken == a ? b : a))
                        .close();
                try (Connection direct = cluster.primary(shardOf(broken)).connect();
                        Statement d = direct.createStatement()) {
                    d.execute("SELECT pg_terminate_backend(" + pid + ")");
                }
                SQLException seen = null;
                try {
                    s.executeQuery("SELECT set_config('app.tenant', 'later', true)")
                            .close();
                } catch (SQLException e) {
                    seen = e;
                }
                SQLException atCommit = catchThrowableOfType(SQLException.class, c::commit);
                assertThat(seen != null || atCommit != null)
                        .as("the set_config or the commit fails when shard %d's connection broke", shardOf(broken))
                        .isTrue();
                c.setAutoCommit(true);
                assertThat(nameOf(other, a))
                        .as("broken on shard %d", shardOf(broken))
                        .isEqualTo("kept");
            }
            s.executeUpdate("DELETE FROM users WHERE user_id IN (" + a + ")");
            for (long key : new long[] {a + 1000, b + 1000, a + 2000, b + 2000}) {
                s.executeUpdate("DELETE FROM users WHERE user_id = " + key);
            }
        }
    }

    @Test
    void writesOnAShardedTableWithoutItsKeyAreRefusedNamingTableAndKeyWhileReadsGoAcrossShards() throws Exception {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            for (String sql :
                    List.of("UPDATE users SET name = 'x' WHERE name = 'y'", "DELETE FROM users WHERE user_id > 5")) {
                assertThatThrownBy(() -> s.executeUpdate(sql))
                        .as(sql)
                        .isInstanceOf(SQLException.class)
                        .hasMessageContaining("public.users")
                        .hasMessageContaining("user_id")
                        .satisfies(e ->
                                assertThat(((SQLException) e).getSQLState()).isEqualTo("0A000"));
            }
            long total = 0;
            for (int shard = 0; shard < 2; shard++) {
                try (Connection direct = cluster.primary(shard).connect();
                        Statement d = direct.createStatement();
                        ResultSet rs = d.executeQuery("SELECT count(*) FROM users")) {
                    rs.next();
                    total += rs.getLong(1);
                }
            }
            try (ResultSet rs = s.executeQuery("SELECT count(*) FROM users")) {
                rs.next();
                assertThat(rs.getLong(1)).isEqualTo(total);
            }
        }
    }

    @Test
    void unshardedTablesLiveOnTheHomeShard() throws Exception {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.executeUpdate("INSERT INTO countries VALUES ('fr', 'France')");
            try (Connection home = cluster.primary(0).connect();
                    ResultSet rs = home.createStatement().executeQuery("SELECT name FROM countries")) {
                assertThat(rs.next()).isTrue();
            }
            try (Connection other = cluster.primary(1).connect()) {
                assertThatThrownBy(() -> other.createStatement().executeQuery("SELECT name FROM countries"))
                        .hasMessageContaining("does not exist");
            }
        }
    }

    @Test
    void sessionSettingsApplyOnEveryNodeTheConnectionUses() throws Exception {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("SET application_name = 'shardline-session-test'");
            s.execute("SET statement_timeout = '7s'");
            Set<PgNode> seen = new HashSet<>();
            for (long id = 1; id <= 40; id++) {
                // count(*) always returns a row, so every keyed read reports the settings of the node it ran on.
                try (ResultSet rs = s.executeQuery("SELECT current_setting('application_name'),"
                        + " current_setting('statement_timeout'), inet_server_port(), count(*) FROM users"
                        + " WHERE user_id = " + id)) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getString(1)).isEqualTo("shardline-session-test");
                    assertThat(rs.getString(2)).isEqualTo("7s");
                    seen.add(byPort.get(rs.getInt(3)));
                }
            }
            assertThat(seen).extracting(PgNode::name).contains("s0-hub1", "s0-leaf1", "s1-hub1", "s1-leaf1");
            s.execute("SET shardline.read_from = 'primary'");
            try (ResultSet rs = s.executeQuery("SELECT inet_server_port() FROM users WHERE user_id = 3")) {
                assertThat(rs.next()).isTrue();
                assertThat(byPort.get(rs.getInt(1))).isEqualTo(cluster.primary(shardOf(3)));
            }
            assertThatThrownBy(() -> s.execute("SET shardline.read_from = 'sometimes'"))
                    .hasMessageContaining("'replica' or 'primary'");
        }
    }

    @Test
    void aSettingOfATransactionThatRolledBackIsUndoneOnEveryNode() throws Exception {
        long remote = remoteKey();
        String inTransaction = applicationNameOn(remote);
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("SET application_name = 'before'");
            assertThat(applicationNames(s)).as("on every node").containsOnly("before");

            // before the transaction's first statement, and inside it on its node
            c.setAutoCommit(false);
            s.execute("SET application_name = 'rolled back'");
            s.execute("SET search_path TO pg_catalog, public");
            assertThat(firstString(s, inTransaction)).isEqualTo("rolled back");
            s.execute("SET application_name = 'rolled back inside'");
            assertThat(firstString(s, inTransaction)).isEqualTo("rolled back inside");
            c.rollback();
            c.setAutoCommit(true);
            assertThat(applicationNames(s)).as("after the rollback").containsOnly("before");
            assertThat(showSearchPath(s)).isEqualTo("\"$user\", public");

            // a SET that fails on the transaction's node (its transaction failed), after it ran on the others
            c.setAutoCommit(false);
            assertThatThrownBy(() -> s.executeQuery("SELECT 1 / (count(*) * 0) FROM users WHERE user_id = " + remote))
                    .hasMessageContaining("division by zero");
            assertThatThrownBy(() -> s.execute("SET application_name = 'in an aborted transaction'"))
                    .hasMessageContaining("aborted");
            c.rollback();
            c.setAutoCommit(true);
            assertThat(applicationNames(s)).as("after a SET that failed").containsOnly("before");

            // a COMMIT of a transaction a statement failed in: PostgreSQL rolls it back, pgjdbc says nothing
            c.setAutoCommit(false);
            assertThat(firstString(s, inTransaction)).isEqualTo("before");
            s.execute("SET application_name = 'in a failed transaction'");
            assertThatThrownBy(() -> s.executeQuery("SELECT 1 / (count(*) * 0) FROM users WHERE user_id = " + remote))
                    .hasMessageContaining("division by zero");
            c.commit();
            c.setAutoCommit(true);
            assertThat(applicationNames(s))
                    .as("after a COMMIT that rolled back")
                    .containsOnly("before");

            s.execute("BEGIN");
            s.execute("SET application_name = 'committed'");
            s.execute("COMMIT");
            assertThat(applicationNames(s)).containsOnly("committed");
            s.execute("BEGIN");
            s.execute("RESET application_name");
            s.execute("ROLLBACK");
            assertThat(applicationNames(s)).as("a RESET rolled back").containsOnly("committed");
        }
    }

    @Test
    void aRollbackToASavepointUndoesTheSettingsMadeSinceOnEveryNode() throws Exception {
        String inTransaction = applicationNameOn(remoteKey());
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("SET application_name = 'before'");
            assertThat(applicationNames(s)).containsOnly("before");
            c.setAutoCommit(false);
            s.execute("SET application_name = 'kept'");
            assertThat(firstString(s, inTransaction)).isEqualTo("kept");
            s.execute("SAVEPOINT \"Outer\"");
            s.execute("SET application_name = 'undone'");
            s.execute("SAVEPOINT nested");
            s.execute("SET application_name = 'undone too'");
            s.execute("ROLLBACK TO SAVEPOINT \"Outer\";");
            assertThat(firstString(s, inTransaction))
                    .as("PostgreSQL's own rollback")
                    .isEqualTo("kept");
            Savepoint jdbc = c.setSavepoint();
            s.execute("SET search_path TO pg_catalog, public");
            s.execute("SET application_name = 'undone by JDBC'");
            c.rollback(jdbc);
            s.execute("SAVEPOINT released");
            s.execute("SET application_name = 'released'");
            s.execute("RELEASE SAVEPOINT released");
            c.commit();
            c.setAutoCommit(true);
            assertThat(applicationNames(s)).containsOnly("released");
            assertThat(showSearchPath(s)).isEqualTo("\"$user\", public");

            // a JDBC savepoint rolled back to by SQL, and the reverse; a SET LOCAL outlives both (the session's
            // statement_timeout, replayed, would override it)
            s.execute("SET statement_timeout = '9s'");
            c.setAutoCommit(false);
            assertThat(firstString(s, inTransaction)).isEqualTo("released");
            s.execute("SET LOCAL statement_timeout = '7s'");
            Savepoint named = c.setSavepoint("Named");
            s.execute("SET search_path TO pg_catalog, public");
            s.execute("ROLLBACK TO SAVEPOINT \"Named\"");
            Savepoint unnamed = c.setSavepoint();
            s.execute("SET application_name = 'undone'");
            s.execute("ROLLBACK TO SAVEPOINT jdbc_savepoint_" + unnamed.getSavepointId());
            s.execute("SAVEPOINT by_sql");
            s.execute("SET application_name = 'undone too'");
            s.execute("ROLLBACK TO by_sql");
            s.execute("SET work_mem = '8MB'");
            assertThat(firstString(s, "SHOW statement_timeout"))
                    .as("the SET LOCAL")
                    .isEqualTo("7s");
            c.releaseSavepoint(named);
            c.commit();
            c.setAutoCommit(true);
            assertThat(applicationNames(s)).containsOnly("released");
            assertThat(showSearchPath(s)).isEqualTo("\"$user\", public");

            // a savepoint kept for the transaction's first statement
            s.execute("BEGIN");
            s.execute("SAVEPOINT first");
            s.execute("SET application_name = 'before the first statement'");
            assertThat(firstString(s, inTransaction)).isEqualTo("before the first statement");
            s.execute("SET search_path TO pg_catalog, public");
            s.execute("ROLLBACK TO SAVEPOINT first");
            assertThat(firstString(s, inTransaction)).isEqualTo("before the first statement");
            s.execute("COMMIT");
            assertThat(applicationNames(s)).containsOnly("before the first statement");
            assertThat(showSearchPath(s)).isEqualTo("\"$user\", public");

            // a JDBC savepoint before the transaction's first statement (Spring's nested transaction, say)
            c.setAutoCommit(false);
            Savepoint early = c.setSavepoint();
            assertThat(firstString(s, inTransaction)).isEqualTo("before the first statement");
            s.execute("SET application_name = 'undone early'");
            c.rollback(early);
            c.releaseSavepoint(early);
            assertThatThrownBy(() -> c.rollback(early)).hasMessageContaining("released");
            c.commit();
            c.setAutoCommit(true);
            assertThat(applicationNames(s)).containsOnly("before the first statement");
            assertThatThrownBy(c::setSavepoint).hasMessageContaining("setAutoCommit(false)");

            // a savepoint of a transaction that ended is refused at the call, not sent with the next statement
            c.setAutoCommit(false);
            Savepoint ended = c.setSavepoint();
            assertThat(firstString(s, inTransaction)).isEqualTo("before the first statement");
            c.commit();
            assertThatThrownBy(() -> c.rollback(ended))
                    .isInstanceOfSatisfying(
                            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("3B001"));
            assertThat(firstString(s, inTransaction)).isEqualTo("before the first statement");
            c.rollback();
            c.setAutoCommit(true);
        }
    }

    /** A key off the home shard: its primary is attached after the home primary. */
    private static long remoteKey() {
        return java.util.stream.LongStream.rangeClosed(1, 100)
                .filter(id -> shardOf(id) == 1)
                .findFirst()
                .orElseThrow();
    }

    /** A keyed read that always returns one row: the application_name of the node it ran on. */
    private static String applicationNameOn(long key) {
        return "SELECT current_setting('application_name'), count(*) FROM users WHERE user_id = " + key;
    }

    /**
     * The application_name on each node the connection's keyed reads reach: the replicas of both shards, then their
     * primaries.
     */
    private static Set<String> applicationNames(Statement s) throws SQLException {
        Set<String> names = new HashSet<>();
        Set<PgNode> seen = new HashSet<>();
        for (String from : List.of("replica", "primary")) {
            s.execute("SET shardline.read_from = '" + from + "'");
            for (long id = 1; id <= 40; id++) {
                try (ResultSet rs = s.executeQuery("SELECT current_setting('application_name'), inet_server_port(),"
                        + " count(*) FROM users WHERE user_id = " + id)) {
                    rs.next();
                    names.add(rs.getString(1));
                    seen.add(byPort.get(rs.getInt(2)));
                }
            }
        }
        s.execute("SET shardline.read_from = 'replica'");
        assertThat(seen)
                .as("nodes read")
                .contains(cluster.primary(0), cluster.primary(1))
                .hasSizeGreaterThan(4);
        return names;
    }

    private static String firstString(Statement s, String sql) throws SQLException {
        try (ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static String showSearchPath(Statement s) throws SQLException {
        try (ResultSet rs = s.executeQuery("SHOW search_path")) {
            rs.next();
            return rs.getString(1);
        }
    }

    @Test
    void forKeyBindsOneNodeSoPgjdbcCopyWorks() throws Exception {
        try (Connection c = DriverManager.getConnection(url)) {
            ShardlineConnection sc = c.unwrap(ShardlineConnection.class);
            // unbound, pgjdbc's own methods have no connection to run on; its COPY API routes rows (ClientSqlIT)
            assertThatThrownBy(() -> c.unwrap(PGConnection.class).getBackendPID())
                    .hasMessageContaining("forKey");
            long id = 5000;
            sc.forKey("users", id);
            CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
            long copied = copy.copyIn("COPY users (user_id, name) FROM STDIN", new StringReader(id + "\tcopied\n"));
            assertThat(copied).isEqualTo(1);
            sc.unbind();
            try (Connection direct = cluster.primary(shardOf(id)).connect();
                    ResultSet rs =
                            direct.createStatement().executeQuery("SELECT name FROM users WHERE user_id = " + id)) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("copied");
            }
        }
    }

    @Test
    void explainRouteShowsTheDecisionWithoutRunningIt() throws Exception {
        try (Connection c = DriverManager.getConnection(url)) {
            ShardlineConnection sc = c.unwrap(ShardlineConnection.class);
            var rows = sc.explainRoute("SELECT * FROM users WHERE user_id = ?", 42L);
            assertThat(rows).hasSize(1);
            assertThat(rows.get(0).shard()).isEqualTo(shardOf(42));
            assertThat(rows.get(0).role()).isIn("hub", "leaf");
            assertThat(sc.explainRoute("SELECT * FROM users"))
                    .hasSize(2)
                    .allSatisfy(r -> assertThat(r.reason()).startsWith("cross-shard read"));
            assertThat(sc.explainRoute("DELETE FROM users RETURNING *").get(0).reason())
                    .startsWith("refused (0A000)");
            assertThat(sc.explainRoute("CREATE INDEX ON users (name)")).hasSize(2);
        }
    }

    @Test
    void explainRouteAsSqlAnswersWhatExplainRouteSaysWithoutRunningTheStatement() throws Exception {
        try (Connection c = DriverManager.getConnection(url)) {
            ShardlineConnection sc = c.unwrap(ShardlineConnection.class);
            try (PreparedStatement ps = c.prepareStatement("EXPLAIN ROUTE SELECT * FROM users WHERE user_id = ?")) {
                ps.setLong(1, 42L);
                try (ResultSet rs = ps.executeQuery()) {
                    assertThat(rs.getMetaData().getColumnCount()).isEqualTo(4);
                    assertThat(List.of(
                                    rs.getMetaData().getColumnLabel(1),
                                    rs.getMetaData().getColumnLabel(2),
                                    rs.getMetaData().getColumnLabel(3),
                                    rs.getMetaData().getColumnLabel(4)))
                            .containsExactly("shard", "node", "role", "reason");
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getInt("shard")).isEqualTo(shardOf(42));
                    assertThat(rs.getString("role")).isIn("hub", "leaf");
                    assertThat(rs.getString("node")).startsWith("s" + shardOf(42) + "-");
                    assertThat(rs.next()).isFalse();
                }
            }
            try (Statement s = c.createStatement()) {
                // a refusal is a row, as from explainRoute: the statement is not run, so nothing fails
                try (ResultSet rs = s.executeQuery("explain  route DELETE FROM users RETURNING *")) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getInt("shard")).isEqualTo(-1);
                    assertThat(rs.getString("node")).isNull();
                    assertThat(rs.getString("reason"))
                            .isEqualTo(sc.explainRoute("DELETE FROM users RETURNING *")
                                    .get(0)
                                    .reason());
                }
                try (ResultSet rs = s.executeQuery("EXPLAIN ROUTE SELECT * FROM users")) {
                    int rows = 0;
                    while (rs.next()) {
                        rows++;
                        assertThat(rs.getString("reason")).startsWith("cross-shard read");
                    }
                    assertThat(rows).isEqualTo(2);
                }
                // a write explained is not run
                s.executeUpdate("INSERT INTO users (user_id, name) VALUES (4243, 'x')");
                try (ResultSet rs = s.executeQuery("EXPLAIN ROUTE UPDATE users SET name = 'y' WHERE user_id = 4243")) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getString("role")).isEqualTo("primary");
                }
                try (ResultSet rs = s.executeQuery("SELECT name FROM users WHERE user_id = 4243")) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getString(1)).isEqualTo("x");
                }
                assertThatThrownBy(() -> s.executeQuery("EXPLAIN ROUTE"))
                        .isInstanceOf(SQLException.class)
                        .hasMessageContaining("EXPLAIN ROUTE needs the statement to explain");
                s.executeUpdate("DELETE FROM users WHERE user_id = 4243");
            }
        }
    }

    /**
     * A row-level-security tenant set first ({@code SELECT set_config('app.tenant', ?, true)}, before the transaction
     * touches a table) goes with the transaction to the shard it then writes, whichever that is (it bound the
     * transaction to the home shard: the tenant's write on the other shard was refused without two-phase commit);
     * the statement answers as PostgreSQL does (its value, its alias), and the setting ends with the transaction.
     */
    @Test
    void aTransactionLocalSettingMadeFirstGoesWithTheTransactionToTheShardItWrites() throws Exception {
        long[] keys = {4290, 4291};
        while (shardOf(keys[1]) == shardOf(keys[0])) {
            keys[1]++;
        }
        try (Connection c = DriverManager.getConnection(url);
                Connection other = DriverManager.getConnection(url + "&readFrom=primary")) {
            for (long key : keys) {
                String tenant = "it's \\ tenant " + key;
                c.setAutoCommit(false);
                try (PreparedStatement set = c.prepareStatement("SELECT set_config('app.tenant', ?, true) AS tenant")) {
                    set.setString(1, tenant);
                    try (ResultSet rs = set.executeQuery()) {
                        assertThat(rs.getMetaData().getColumnLabel(1)).isEqualTo("tenant");
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getString(1)).isEqualTo(tenant);
                    }
                }
                try (PreparedStatement ins = c.prepareStatement(
                        "INSERT INTO users (user_id, name) VALUES (?, current_setting('app.tenant'))")) {
                    ins.setLong(1, key);
                    assertThat(ins.executeUpdate()).as("shard %d", shardOf(key)).isEqualTo(1);
                }
                assertThat(nameOf(c, key)).as("read in the transaction").isEqualTo(tenant);
                c.commit();
                c.setAutoCommit(true);
                assertThat(nameOf(other, key))
                        .as("committed on shard %d", shardOf(key))
                        .isEqualTo(tenant);
                try (Statement s = c.createStatement();
                        ResultSet rs = s.executeQuery(
                                "SELECT current_setting('app.tenant', true) FROM users" + " WHERE user_id = " + key)) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getString(1)).as("ended with the transaction").isNullOrEmpty();
                }
            }

            // SHOW answers it before the transaction reached a shard; a session SET of the name since replaces it
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.executeQuery("SELECT set_config('app.tenant', 'kept', true)").close();
                assertThat(show(s, "app.tenant")).isEqualTo("kept");
                s.execute("SET app.tenant = 'session'");
                try (ResultSet rs =
                        s.executeQuery("SELECT current_setting('app.tenant') FROM users WHERE user_id = " + keys[1])) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getString(1)).isEqualTo("session");
                }
            }
            c.rollback();
            // executeUpdate refuses its row as pgjdbc does, after it ran: the transaction keeps it all the same
            try (Statement s = c.createStatement()) {
                assertThatThrownBy(() -> s.executeUpdate("SELECT set_config('app.tenant', 'updated', true)"))
                        .satisfies(e ->
                                assertThat(((SQLException) e).getSQLState()).isEqualTo("0100E"));
                try (ResultSet rs =
                        s.executeQuery("SELECT current_setting('app.tenant') FROM users WHERE user_id = " + keys[1])) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getString(1)).isEqualTo("updated");
                }
            }
            c.rollback();
            // a value the driver does not hold as text (a timestamp) is set where the transaction is, as before
            java.sql.Timestamp asOf = java.sql.Timestamp.valueOf("2024-01-02 03:04:05");
            try (PreparedStatement set = c.prepareStatement("SELECT set_config('app.as_of', ?, true)");
                    Statement s = c.createStatement()) {
                set.setTimestamp(1, asOf);
                String answered;
                try (ResultSet rs = set.executeQuery()) {
                    rs.next();
                    answered = rs.getString(1);
                }
                assertThat(answered).startsWith("2024-01-02 03:04:05");
                try (ResultSet rs = s.executeQuery("SELECT current_setting('app.as_of')")) {
                    rs.next();
                    assertThat(rs.getString(1)).isEqualTo(answered);
                }
            }
            c.rollback();
            c.setAutoCommit(true);

            // a cross-shard read in such a transaction reads every shard with the setting (in its snapshots)...
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.executeQuery("SELECT set_config('app.tenant', 'it''s \\ tenant 4290', true)")
                        .close();
                try (ResultSet rs =
                        s.executeQuery("SELECT count(*) FROM users WHERE name = current_setting('app.tenant')")) {
                    rs.next();
                    assertThat(rs.getLong(1))
                            .as("read with the setting on every shard")
                            .isEqualTo(1);
                }
                // ... and is refused where a part would read outside it: after the transaction wrote
                s.executeUpdate("UPDATE users SET name = name WHERE user_id = " + keys[1]);
                assertThatThrownBy(() ->
                                s.executeQuery("SELECT count(*) FROM users WHERE name = current_setting('app.tenant')"))
                        .isInstanceOf(SQLException.class)
                        .hasMessageContaining("keeps a setting of its own (set_config(..., true))")
                        .satisfies(e ->
                                assertThat(((SQLException) e).getSQLState()).isEqualTo("0A000"));
            }
            c.rollback();
            c.setAutoCommit(true);
        }
    }

    /** COMMIT AND CHAIN, ROLLBACK AND CHAIN as PostgreSQL runs them: the next transaction open at once, alike. */
    @Test
    void anEndAndChainOpensTheNextTransactionWithTheSameCharacteristics() throws Exception {
        try (Connection c = DriverManager.getConnection(url);
                Connection other = DriverManager.getConnection(url + "&readFrom=primary");
                Statement s = c.createStatement()) {
            s.execute("BEGIN ISOLATION LEVEL REPEATABLE READ");
            s.executeUpdate("INSERT INTO users (user_id, name) VALUES (4244, 'committed')");
            s.execute("COMMIT AND CHAIN");
            assertThat(nameOf(other, 4244)).as("committed by the chain").isEqualTo("committed");
            assertThat(show(s, "transaction_isolation")).isEqualTo("repeatable read");
            s.executeUpdate("INSERT INTO users (user_id, name) VALUES (4245, 'rolled back')");
            assertThat(show(s, "transaction_isolation")).as("on its shard").isEqualTo("repeatable read");
            s.execute("ROLLBACK AND CHAIN");
            // still a transaction block, still repeatable read: what follows is undone by the ROLLBACK after it
            assertThat(show(s, "transaction_isolation")).isEqualTo("repeatable read");
            s.executeUpdate("INSERT INTO users (user_id, name) VALUES (4246, 'rolled back too')");
            s.execute("ROLLBACK");
            assertThat(nameOf(other, 4245)).isNull();
            assertThat(nameOf(other, 4246)).isNull();
            assertThat(c.getAutoCommit()).isTrue();

            // outside a transaction block: PostgreSQL's error, nothing begun
            assertThatThrownBy(() -> s.execute("COMMIT AND CHAIN"))
                    .isInstanceOf(SQLException.class)
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("25P01"));
            s.executeUpdate("INSERT INTO users (user_id, name) VALUES (4247, 'autocommit')");
            assertThat(nameOf(other, 4247)).isEqualTo("autocommit");

            // JDBC's autocommit off: the next transaction takes the ended one's own modes
            c.setAutoCommit(false);
            s.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE");
            s.executeUpdate("UPDATE users SET name = 'chained' WHERE user_id = 4247");
            s.execute("END AND CHAIN");
            assertThat(nameOf(other, 4247)).isEqualTo("chained");
            assertThat(show(s, "transaction_isolation")).isEqualTo("serializable");
            c.rollback();
            assertThat(show(s, "transaction_isolation"))
                    .as("the chain's modes end with it")
                    .isEqualTo("read committed");
            c.commit();
            c.setAutoCommit(true);

            // a SET of the default in the transaction is undone by its rollback: the chained one keeps the ended one's
            s.execute("BEGIN ISOLATION LEVEL REPEATABLE READ");
            s.executeUpdate("UPDATE users SET name = 'x' WHERE user_id = 4247");
            s.execute("SET default_transaction_isolation = 'repeatable read'");
            s.execute("ROLLBACK AND CHAIN");
            s.executeUpdate("UPDATE users SET name = 'y' WHERE user_id = 4247");
            assertThat(show(s, "transaction_isolation")).isEqualTo("repeatable read");
            s.execute("ROLLBACK");
            s.executeUpdate("DELETE FROM users WHERE user_id = 4244");
            s.executeUpdate("DELETE FROM users WHERE user_id = 4247");
        }
        // a failed transaction on two shards: COMMIT AND CHAIN rolls it back and chains, without an error, as
        // PostgreSQL
        long a = 4260;
        while (shardOf(a) != 0) {
            a++;
        }
        long b = 4260;
        while (shardOf(b) != 1) {
            b++;
        }
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                Connection other = DriverManager.getConnection(url + "&readFrom=primary");
                Statement s = c.createStatement()) {
            s.execute("BEGIN");
            s.executeUpdate("INSERT INTO users (user_id, name) VALUES (" + a + ", 'a')");
            s.executeUpdate("INSERT INTO users (user_id, name) VALUES (" + b + ", 'b')");
            assertThatThrownBy(() -> s.executeQuery("SELECT 1 / 0")).isInstanceOf(SQLException.class);
            s.execute("COMMIT AND CHAIN");
            s.executeUpdate("INSERT INTO users (user_id, name) VALUES (" + (a + 1000) + ", 'chained')");
            s.execute("ROLLBACK");
            assertThat(nameOf(other, a)).isNull();
            assertThat(nameOf(other, b)).isNull();
            assertThat(nameOf(other, a + 1000))
                    .as("ran in the chained transaction")
                    .isNull();
        }
    }

    /** Found by a differential review against pgjdbc: the first lost writes it reported as done. */
    @Test
    void aStringOfStatementsWithTransactionControlIsRefusedAndTheNextWriteCommits() throws Exception {
        try (Connection c = DriverManager.getConnection(url);
                Connection other = DriverManager.getConnection(url + "&readFrom=primary");
                Statement s = c.createStatement()) {
            assertThatThrownBy(() -> s.execute("BEGIN; INSERT INTO countries VALUES ('zz', 'not run')"))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("several statements in one string include BEGIN")
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("0A000"));
            s.executeUpdate("INSERT INTO countries VALUES ('zy', 'committed')");
            s.execute("COMMIT"); // nothing open: a no-op, as PostgreSQL's warning
            try (Statement o = other.createStatement();
                    ResultSet rs = o.executeQuery("SELECT code FROM countries WHERE code IN ('zy', 'zz')")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("zy");
                assertThat(rs.next()).isFalse();
            }
            s.executeUpdate("DELETE FROM countries WHERE code = 'zy'");
        }
    }

    /** pgjdbc finds a parameter never set before it sends anything: the transaction goes on (22023). */
    @Test
    void aParameterNeverSetFailsItsExecutionOnlyAndTheTransactionGoesOn() throws Exception {
        long k1 = 4250;
        while (shardOf(k1) != 1) {
            k1++;
        }
        long k2 = k1 + 1;
        while (shardOf(k2) != 1) {
            k2++;
        }
        try (Connection c = DriverManager.getConnection(url);
                Connection other = DriverManager.getConnection(url + "&readFrom=primary");
                Statement s = c.createStatement();
                PreparedStatement unset = c.prepareStatement("UPDATE users SET name = 'x' WHERE user_id = ?")) {
            c.setAutoCommit(false);
            s.executeUpdate("INSERT INTO users (user_id, name) VALUES (" + k1 + ", 'a')");
            assertThatThrownBy(unset::executeUpdate)
                    .isInstanceOf(SQLException.class)
                    .hasMessage("No value specified for parameter 1.")
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("22023"));
            s.executeUpdate("INSERT INTO users (user_id, name) VALUES (" + k2 + ", 'b')");
            c.commit();
            assertThat(nameOf(other, k1)).isEqualTo("a");
            assertThat(nameOf(other, k2)).isEqualTo("b");
            c.setAutoCommit(true);
            s.executeUpdate("DELETE FROM users WHERE user_id = " + k1);
            s.executeUpdate("DELETE FROM users WHERE user_id = " + k2);
        }
    }

    private static String nameOf(Connection c, long userId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT name FROM users WHERE user_id = ?")) {
            ps.setLong(1, userId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        }
    }

    private static String show(Statement s, String setting) throws SQLException {
        try (ResultSet rs = s.executeQuery("SHOW " + setting)) {
            rs.next();
            return rs.getString(1);
        }
    }

    @Test
    void aStaticClusterFileRoutesLikeZooKeeper(@TempDir Path dir) throws Exception {
        StringBuilder yaml = new StringBuilder("cluster: router\ndatabase: shardline\nuser: postgres\nshards:\n");
        for (int shard = 0; shard < cluster.shardCount(); shard++) {
            yaml.append("  - id: ").append(shard).append("\n    nodes:\n");
            for (PgNode n : cluster.shard(shard)) {
                yaml.append("      - {name: ")
                        .append(n.name())
                        .append(", role: ")
                        .append(n.role().jsonName())
                        .append(", host: ")
                        .append(n.host())
                        .append(", port: ")
                        .append(n.port())
                        .append(n.upstream().map(u -> ", upstream: " + u.name()).orElse(""))
                        .append("}\n");
            }
        }
        yaml.append("tables:\n  - {schema: public, table: users, keyColumn: user_id, keyType: integer}\n");
        Path file = Files.writeString(dir.resolve("cluster.yaml"), yaml);
        long id = 7777;
        try (Connection c = DriverManager.getConnection("jdbc:shardline:file:" + file + "?readFrom=primary");
                PreparedStatement ps = c.prepareStatement(
                        "INSERT INTO users (user_id, name) VALUES (?, 'from-file') RETURNING inet_server_port()")) {
            ps.setLong(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                assertThat(byPort.get(rs.getInt(1))).isEqualTo(cluster.primary(shardOf(id)));
            }
            try (ResultSet rs = c.createStatement().executeQuery("SELECT name FROM users WHERE user_id = " + id)) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("from-file");
            }
        }
        assertThatThrownBy(() -> DriverManager.getConnection("jdbc:shardline:file:" + dir.resolve("missing.yaml")))
                .hasMessageContaining("cannot read cluster file");
        assertThatThrownBy(() -> DriverManager.getConnection("jdbc:shardline:file:" + file + "?twoPhaseCommit=true"))
                .isInstanceOf(SQLException.class)
                .hasMessageContaining("twoPhaseCommit=true needs a ZooKeeper URL")
                .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("22023"));
    }

    @Test
    void badInputGivesClearErrors() {
        String zk = cluster.zkConnectString();
        assertThatThrownBy(() -> DriverManager.getConnection("jdbc:shardline:zk://" + zk + "/wrong/path"))
                .isInstanceOf(SQLException.class)
                .hasMessageContaining("malformed Shardline URL")
                .hasMessageContaining("/shardline/clusters/<cluster>");
        assertThatThrownBy(() -> DriverManager.getConnection(cluster.shardlineUrl() + "?maxStaleness=5"))
                .hasMessageContaining("unknown property 'maxStaleness'");
        assertThatThrownBy(() -> DriverManager.getConnection(cluster.shardlineUrl() + "?poolSize=-3"))
                .hasMessageContaining("poolSize must be a positive integer");
        assertThatThrownBy(() -> DriverManager.getConnection("jdbc:shardline:zk://" + zk + "/shardline/clusters/nope"))
                .hasMessageContaining("unknown cluster 'nope'")
                .hasMessageContaining("router");
        long start = System.nanoTime();
        assertThatThrownBy(() -> DriverManager.getConnection(
                        "jdbc:shardline:zk://127.0.0.1:1/shardline/clusters/x?connectTimeoutMs=1000"))
                .hasMessageContaining("ZooKeeper at 127.0.0.1:1 is unreachable")
                .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("08001"));
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
        assertThatThrownBy(() -> DriverManager.getConnection(cluster.shardlineUrl() + "?password=s3cret&bogus=1"))
                .hasMessageNotContaining("s3cret");
    }

    /** pgjdbc's own properties, unprefixed as an application moving from jdbc:postgresql: has them, reach every node. */
    @Test
    void pgjdbcPropertiesReachThePhysicalConnections() throws SQLException {
        java.util.Properties props = new java.util.Properties();
        props.setProperty("ApplicationName", "moved-over");
        props.setProperty("reWriteBatchedInserts", "true");
        try (Connection c = DriverManager.getConnection(url, props);
                Statement s = c.createStatement()) {
            java.util.Set<Integer> shards = new java.util.HashSet<>();
            for (long key = 4310; shards.size() < 2; key++) {
                shards.add(shardOf(key));
                try (ResultSet rs = s.executeQuery("INSERT INTO users (user_id, name) VALUES (" + key + ", 'app')"
                        + " ON CONFLICT (user_id) DO UPDATE SET name = excluded.name"
                        + " RETURNING current_setting('application_name')")) {
                    rs.next();
                    assertThat(rs.getString(1)).as("shard %d", shardOf(key)).isEqualTo("moved-over");
                }
            }
            assertThat(c.getClientInfo("ApplicationName"))
                    .as("as pgjdbc answers")
                    .isEqualTo("moved-over");
            c.setClientInfo("ApplicationName", "renamed");
            assertThat(c.getClientInfo().getProperty("ApplicationName")).isEqualTo("renamed");
            s.execute("SET application_name = 'by sql'");
            assertThat(c.getClientInfo("ApplicationName")).isEqualTo("by sql");
            c.setClientInfo("ApplicationName", "renamed");
            try (ResultSet rs = s.executeQuery("SHOW application_name")) {
                rs.next();
                assertThat(rs.getString(1)).as("set again after SQL changed it").isEqualTo("renamed");
            }
        }
        try (Connection c = DriverManager.getConnection(url)) {
            assertThat(c.getClientInfo("ApplicationName")).isEqualTo("shardline");
        }
    }

    @Test
    void ddlOnAShardedTableRunsOnEveryPrimaryAllOrNothing() throws Exception {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE INDEX users_name ON users (name)");
            for (int shard = 0; shard < 2; shard++) {
                try (Connection direct = cluster.primary(shard).connect();
                        ResultSet rs = direct.createStatement()
                                .executeQuery("SELECT count(*) FROM pg_indexes WHERE indexname = 'users_name'")) {
                    rs.next();
                    assertThat(rs.getInt(1)).isEqualTo(1);
                }
            }
            try (Connection direct = cluster.primary(1).connect()) {
                direct.createStatement().execute("DROP INDEX users_name");
            }
            assertThatThrownBy(() -> s.execute("CREATE INDEX users_name ON users (name)"))
                    .hasMessageContaining("failed on shard 0")
                    .hasMessageContaining("No shard was changed");
        }
        try (Connection direct = cluster.primary(1).connect();
                ResultSet rs = direct.createStatement()
                        .executeQuery("SELECT count(*) FROM pg_indexes WHERE indexname = 'users_name'")) {
            rs.next();
            assertThat(rs.getInt(1)).isZero();
        }
    }

    @Test
    void abortFromAnotherThreadCutsTheRunningStatementAndFreesItsPoolSlots() throws Exception {
        // a pool of 2 per node: aborted connections that kept their slots would leave none for the next ones. Keys of
        // no row, all on one shard: the transactions run on its primary and lock nothing
        String small = url + "&poolSize=2&connectTimeoutMs=3000";
        int shard = shardOf(900_001);
        List<Long> keys = new ArrayList<>();
        for (long k = 900_001; keys.size() < 6; k++) {
            if (shardOf(k) == shard) {
                keys.add(k);
            }
        }
        ExecutorService threads = Executors.newFixedThreadPool(4);
        try {
            for (int round = 0; round < 2; round++) {
                List<Connection> running = new ArrayList<>();
                List<Future<?>> sleeps = new ArrayList<>();
                for (int i = 0; i < 2; i++) {
                    long key = keys.get(round * 2 + i);
                    Connection c = DriverManager.getConnection(small);
                    c.setAutoCommit(false);
                    running.add(c);
                    try (Statement s = c.createStatement()) {
                        s.executeUpdate("UPDATE users SET name = name WHERE user_id = " + key);
                    }
                    sleeps.add(threads.submit(() -> {
                        try (Statement s = c.createStatement()) {
                            s.execute("SELECT pg_sleep(60), count(*) FROM users WHERE user_id = " + key);
                        }
                        return null;
                    }));
                }
                awaitSleeping(shard, 2 * (round + 1));
                for (Connection c : running) {
                    c.abort(threads);
                    assertThat(c.isClosed()).isTrue();
                }
                for (Future<?> sleep : sleeps) {
                    // before: abort waited for the statement (a minute), then reset it and handed it back
                    assertThatThrownBy(() -> sleep.get(10, TimeUnit.SECONDS))
                            .isInstanceOf(ExecutionException.class)
                            .cause()
                            .isInstanceOf(SQLException.class)
                            .hasMessageContaining("aborted")
                            .extracting(e -> ((SQLException) e).getSQLState())
                            .isEqualTo("08003");
                }
                assertThatThrownBy(() -> running.get(0).createStatement())
                        .isInstanceOf(SQLException.class)
                        .hasMessageContaining("closed");
            }
            // both slots free again: two transactions on that primary at once
            try (Connection a = DriverManager.getConnection(small);
                    Connection b = DriverManager.getConnection(small);
                    Statement sa = a.createStatement();
                    Statement sb = b.createStatement()) {
                a.setAutoCommit(false);
                b.setAutoCommit(false);
                assertThat(sa.executeUpdate("UPDATE users SET name = name WHERE user_id = " + keys.get(4)))
                        .isZero();
                assertThat(sb.executeUpdate("UPDATE users SET name = name WHERE user_id = " + keys.get(5)))
                        .isZero();
                a.rollback();
                b.rollback();
            }
        } finally {
            threads.shutdownNow();
            // PostgreSQL notices the cut sockets only when pg_sleep ends: their transactions would hold the table's
            // lock against the other tests' DDL until then
            try (Connection c = cluster.primary(shard).connect();
                    Statement s = c.createStatement()) {
                s.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE"
                        + " 'SELECT pg_sleep(60), count(*)%'");
            }
        }
    }

    /** Waits until at least {@code n} sessions (the aborted ones sleep on) run this test's pg_sleep on the primary. */
    private static void awaitSleeping(int shard, int n) {
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            try (Connection c = cluster.primary(shard).connect();
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE query LIKE"
                            + " 'SELECT pg_sleep(60), count(*)%' AND state = 'active'")) {
                rs.next();
                return rs.getInt(1) >= n;
            }
        });
    }
}
