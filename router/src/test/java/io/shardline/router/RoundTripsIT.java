package io.shardline.router;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.NodeRole;
import io.shardline.compose.PgNode;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * No statement the application did not ask for on the common paths: each workload runs the same JDBC calls through
 * the driver and through plain pgjdbc connected by hand to the nodes the driver would use, on a cluster logging every
 * statement ({@code log_statement = all}), and the statements the servers logged are compared. Before this test the
 * driver sent {@code SET SESSION CHARACTERISTICS ...} before every transaction of a connection whose isolation was set
 * once, and {@code SELECT pg_current_wal_insert_lsn()} after every write.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class RoundTripsIT {
    private static final int ROUNDS = 20;
    private static final Pattern LOGGED = Pattern.compile("(?m)LOG:\\s+(statement|execute [^:]+): (.*)$");

    /** TPC-C-shaped transactions run on each side: every kind of the mix, most of them many times. */
    private static final int TRANSACTIONS = 150;

    private static LocalCluster cluster;
    private static HashRing ring;
    private static String url;
    private static int shard;

    /** A workload: what an application does, given its connection (already set up by {@link #setUp}). */
    enum Workload {
        POINT_SELECT {
            @Override
            void run(Connection c, long key) throws SQLException {
                select(c, key);
            }
        },
        AUTOCOMMIT_UPDATE {
            @Override
            void run(Connection c, long key) throws SQLException {
                update(c, key);
            }
        },
        /** Isolation set once on the connection (as a benchmark kit or a pool's {@code transactionIsolation} does). */
        READ_WRITE_TRANSACTION {
            @Override
            void setUp(Connection c) throws SQLException {
                c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
                c.setAutoCommit(false);
            }

            @Override
            void run(Connection c, long key) throws SQLException {
                select(c, key);
                update(c, key);
                update(c, key);
                c.commit();
            }
        },
        READ_ONLY_TRANSACTION {
            @Override
            void setUp(Connection c) throws SQLException {
                c.setReadOnly(true);
                c.setAutoCommit(false);
            }

            @Override
            void run(Connection c, long key) throws SQLException {
                select(c, key);
                select(c, key);
                c.commit();
            }
        },
        /** A write, then a read of it: read-your-writes sends the read where the write is (here: the primary). */
        WRITE_THEN_READ {
            @Override
            void run(Connection c, long key) throws SQLException {
                update(c, key);
                select(c, key);
            }
        };

        void setUp(Connection c) throws SQLException {}

        abstract void run(Connection c, long key) throws SQLException;
    }

    @BeforeAll
    static void start() throws Exception {
        cluster = LocalCluster.builder()
                .name("trips")
                .shards(2)
                .hubs(1)
                .leaves(0)
                .setting("log_statement", "all")
                .start();
        List<ShardedTable> sharded = new ArrayList<>(TpccWorkload.SHARDED);
        sharded.add(new ShardedTable("public", "kv", "k", KeyType.INTEGER));
        ring = RouterClusters.publish(cluster, sharded, TpccWorkload.REFERENCE);
        url = cluster.shardlineUrl() + "?user=postgres&maxStalenessMs=-1";
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE kv (k bigint PRIMARY KEY, v bigint NOT NULL)");
            s.execute("INSERT INTO kv VALUES (1, 0)");
            for (String ddl : TpccWorkload.SCHEMA) {
                s.execute(ddl);
            }
        }
        shard = ring.shardFor(KeyHash.hashInt8(1));
        cluster.awaitReplication(Duration.ofSeconds(30));
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (cluster != null) {
            cluster.close();
        }
    }

    @ParameterizedTest
    @EnumSource(Workload.class)
    void theDriverSendsWhatPlainPgjdbcSends(Workload workload) throws Exception {
        Map<String, Integer> direct;
        try (Connection primary = cluster.primary(shard).connect();
                Connection replica = replica().connect()) {
            Connection c =
                    workload == Workload.POINT_SELECT || workload == Workload.READ_ONLY_TRANSACTION ? replica : primary;
            direct = logged(c, workload);
        }
        Map<String, Integer> driver;
        try (Connection c = DriverManager.getConnection(url)) {
            driver = logged(c, workload);
        }
        assertThat(driver)
                .as(
                        "statements the servers logged for %d rounds of %s, through the driver and directly",
                        ROUNDS, workload)
                .isEqualTo(direct);
    }

    /**
     * The TPC-C-shaped mix (a statement prepared per execution, as kits do; reference-table reads inside write
     * transactions; {@code FOR UPDATE}, batches of order lines, rollbacks): from the same data and the same inputs,
     * one terminal through the driver and one on plain pgjdbc connected to the warehouse's primary send the same
     * statements, as often, prepared on the server alike.
     */
    @Test
    void theTpccShapedMixSendsWhatPlainPgjdbcSends() throws Exception {
        int home = TpccWorkload.warehouses(ring, 1).get(0);
        int homeShard = ring.shardFor(KeyHash.hashInt8(home));
        TpccWorkload workload = new TpccWorkload(List.of(home), false);
        Map<String, Integer> direct;
        try (Connection c = cluster.primary(homeShard).connect()) {
            direct = tpccLogged(c, workload, home);
        }
        Map<String, Integer> driver;
        try (Connection c = DriverManager.getConnection(url)) {
            driver = tpccLogged(c, workload, home);
        }
        assertThat(direct.values().stream().mapToInt(Integer::intValue).sum())
                .as("statements of %d transactions", TRANSACTIONS)
                .isGreaterThan(TRANSACTIONS * 5);
        assertThat(driver)
                .as(
                        "statements the servers logged for %d TPC-C-shaped transactions, through the driver and directly",
                        TRANSACTIONS)
                .isEqualTo(direct);
    }

    /**
     * Loads warehouse {@code home} afresh (every TPC-C table emptied first, through the driver), runs 20 transactions
     * of the mix on {@code c} (pgjdbc's statement cache warmed), then {@link #TRANSACTIONS} from a fixed seed; returns
     * what every node logged during those: each statement's text with how often.
     */
    private static Map<String, Integer> tpccLogged(Connection c, TpccWorkload workload, int home) throws Exception {
        try (Connection loader = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                Statement s = loader.createStatement()) {
            s.execute("TRUNCATE order_line, new_order, orders, history, customer, district, stock, warehouse, item");
            TpccWorkload.load(loader, List.of(home), 42);
        }
        c.setAutoCommit(false);
        tpcc(c, workload, home, new Random(1), 20);
        long[] offsets = new long[cluster.nodes().size()];
        for (int i = 0; i < offsets.length; i++) {
            offsets[i] = cluster.nodes().get(i).logFile().toFile().length();
        }
        tpcc(c, workload, home, new Random(7), TRANSACTIONS);
        Map<String, Integer> counts = new TreeMap<>();
        for (int i = 0; i < offsets.length; i++) {
            for (String statement : statementsSince(cluster.nodes().get(i), offsets[i])) {
                counts.merge(statement, 1, Integer::sum);
            }
        }
        return counts;
    }

    private static void tpcc(Connection c, TpccWorkload workload, int home, Random random, int transactions)
            throws SQLException {
        for (int t = 0; t < transactions; t++) {
            try {
                workload.run(TpccWorkload.kind(random), c, random, home);
                c.commit();
            } catch (TpccWorkload.ExpectedRollback e) {
                c.rollback();
            }
        }
    }

    /**
     * The isolation level is set on a physical connection only when it changes — but a statement the driver does not
     * follow may change the session's default under it: the level set once must still hold in the next transaction.
     */
    @Test
    void anIsolationSetOnceHoldsAfterAStatementTheDriverDoesNotFollowChangedTheDefault() throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
            c.setAutoCommit(false);
            assertThat(isolation(s)).isEqualTo("serializable");
            c.commit();
            c.setAutoCommit(true);
            s.execute("SET default_transaction_isolation = 'read committed'; SELECT 1");
            c.setAutoCommit(false);
            assertThat(isolation(s)).as("the next transaction's isolation").isEqualTo("serializable");
            c.commit();
        }
    }

    /**
     * A cross-shard {@code ORDER BY ... LIMIT} read in autocommit mode: each shard's part is bounded by its LIMIT, so
     * it runs as one statement, without the transaction a cursor would need (one round trip to end it per shard) —
     * the final node's part inside the final query when the parts are quick (a {@code UNION ALL} there).
     */
    @Test
    void aCrossShardScanWithASmallLimitSendsEachShardItsQueryAlone() throws Exception {
        String scan = "SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT 10";
        try (Connection c = DriverManager.getConnection(url + "&crossShardConsistency=relaxed");
                PreparedStatement ps = c.prepareStatement(scan)) {
            long[] offsets = new long[cluster.nodes().size()];
            for (int i = 0; i < offsets.length; i++) {
                offsets[i] = cluster.nodes().get(i).logFile().toFile().length();
            }
            for (int round = 0; round < ROUNDS; round++) {
                ps.setLong(1, 0);
                try (ResultSet rs = ps.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getLong(1)).isEqualTo(1);
                }
            }
            List<String> parts = new ArrayList<>();
            for (int i = 0; i < offsets.length; i++) {
                parts.addAll(statementsSince(cluster.nodes().get(i), offsets[i]));
            }
            assertThat(parts)
                    .as("what the shards logged for %d cross-shard reads", ROUNDS)
                    .noneMatch(p -> p.endsWith(": BEGIN") || p.endsWith(": ROLLBACK") || p.endsWith(": COMMIT"))
                    .filteredOn(p -> p.contains("ORDER BY")
                            && p.contains("LIMIT 10")
                            && (!p.contains("unnest") || p.contains("UNION ALL")))
                    .as("each read's two parts: alone, or the final node's inside the final query")
                    .hasSize(2 * ROUNDS);
            assertThat(parts)
                    .as("reads whose final node's part ran inside the final query (a part slower than 2 ms, on a"
                            + " busy host, makes the next read run its parts apart)")
                    .anyMatch(p -> p.contains("unnest") && p.contains("UNION ALL"));
        }
    }

    private static String isolation(Statement s) throws SQLException {
        try (ResultSet rs = s.executeQuery("SELECT current_setting('transaction_isolation')")) {
            assertThat(rs.next()).isTrue();
            return rs.getString(1);
        }
    }

    /**
     * Runs the workload 6 times (connections, plans, catalogs and server-side statements warmed), then {@link
     * #ROUNDS} times; returns what every node logged during the rounds: each statement's text with how often.
     */
    private static Map<String, Integer> logged(Connection c, Workload workload) throws Exception {
        workload.setUp(c);
        for (int warm = 0; warm < 6; warm++) {
            workload.run(c, 1); // pgjdbc prepares a statement on the server at its 5th use (prepareThreshold)
        }
        long[] offsets = new long[cluster.nodes().size()];
        for (int i = 0; i < offsets.length; i++) {
            offsets[i] = cluster.nodes().get(i).logFile().toFile().length();
        }
        for (int round = 0; round < ROUNDS; round++) {
            workload.run(c, 1);
        }
        Map<String, Integer> counts = new TreeMap<>();
        for (int i = 0; i < offsets.length; i++) {
            for (String statement : statementsSince(cluster.nodes().get(i), offsets[i])) {
                counts.merge(statement, 1, Integer::sum);
            }
        }
        return counts;
    }

    private static List<String> statementsSince(PgNode node, long offset) throws IOException {
        List<String> statements = new ArrayList<>();
        try (RandomAccessFile f = new RandomAccessFile(node.logFile().toFile(), "r")) {
            byte[] added = new byte[(int) (f.length() - offset)];
            f.seek(offset);
            f.readFully(added);
            Matcher m = LOGGED.matcher(new String(added, StandardCharsets.UTF_8));
            while (m.find()) {
                // named (server-prepared, S_1...) or unnamed: the driver must prepare as often as pgjdbc does
                statements.add(m.group(1).replaceAll("S_[0-9]+", "S_n") + ": "
                        + m.group(2).trim());
            }
        }
        return statements;
    }

    private static PgNode replica() {
        return cluster.shard(shard).stream()
                .filter(n -> n.role() != NodeRole.PRIMARY)
                .findFirst()
                .orElseThrow();
    }

    static void select(Connection c, long key) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT v FROM kv WHERE k = ?")) {
            ps.setLong(1, key);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).isTrue();
            }
        }
    }

    static void update(Connection c, long key) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE kv SET v = v + 1 WHERE k = ?")) {
            ps.setLong(1, key);
            assertThat(ps.executeUpdate()).isEqualTo(1);
        }
    }
}
