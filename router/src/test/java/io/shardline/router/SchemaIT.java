package io.shardline.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.shardline.compose.LocalCluster;
import io.shardline.topology.DistributedFunction;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.ShardedTable;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * DDL on every shard, checked on each shard's primary directly: a statement that fails on one shard leaves every
 * shard as it was (with and without two-phase commit, failing on the first shard or a later one), DDL inside an
 * application's transaction commits on every shard or none, and commands PostgreSQL runs only outside transaction
 * blocks are reported per shard.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class SchemaIT {
    private static LocalCluster cluster;
    private static HashRing ring;
    private static String url;

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder()
                .name("schema")
                .shards(2)
                .hubs(0)
                .leaves(0)
                .start();
        ring = RouterClusters.publish(
                cluster,
                List.of(
                        new ShardedTable("public", "acct", "id", KeyType.INTEGER),
                        new ShardedTable("public", "holding", "acct_id", KeyType.INTEGER),
                        new ShardedTable("public", "note", "acct_id", KeyType.INTEGER),
                        new ShardedTable("public", "transfer", "from_id", KeyType.INTEGER)),
                List.of(new ReferenceTable("public", "item")),
                List.of(new DistributedFunction("public", "acct_balance", 1, KeyType.INTEGER, false)));
        url = cluster.shardlineUrl() + "?user=postgres";
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE acct (id int PRIMARY KEY, balance int NOT NULL DEFAULT 0)");
            s.execute("CREATE TABLE migrations (version int PRIMARY KEY)");
            s.execute("CREATE TABLE item (i_id int PRIMARY KEY, i_name text NOT NULL, i_price numeric NOT NULL)");
            s.execute("CREATE TABLE holding (acct_id int NOT NULL, i_id int NOT NULL REFERENCES item,"
                    + " PRIMARY KEY (acct_id, i_id))");
        }
    }

    /** The first account id from 1 on that lives on {@code shard}. */
    private static int acctOn(int shard) {
        int id = 1;
        while (ring.shardFor(KeyHash.hashInt8(id)) != shard) {
            id++;
        }
        return id;
    }

    private static long count(int shard, String sql) throws SQLException {
        try (Connection c = cluster.primary(shard).connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (cluster != null) {
            cluster.close();
        }
    }

    /** The columns of {@code table} on shard {@code shard}'s primary, read directly. */
    private static List<String> columns(int shard, String table) throws SQLException {
        List<String> names = new ArrayList<>();
        try (Connection c = cluster.primary(shard).connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT column_name FROM information_schema.columns WHERE table_name = '"
                        + table + "' ORDER BY ordinal_position")) {
            while (rs.next()) {
                names.add(rs.getString(1));
            }
        }
        return names;
    }

    private static boolean hasIndex(int shard, String index) throws SQLException {
        try (Connection c = cluster.primary(shard).connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT to_regclass('public." + index + "') IS NOT NULL")) {
            rs.next();
            return rs.getBoolean(1);
        }
    }

    private static void onShard(int shard, String sql) throws SQLException {
        try (Connection c = cluster.primary(shard).connect();
                Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    @Test
    void aFanOutThatFailsOnOneShardLeavesEveryShardAsItWas() throws SQLException {
        for (String options : List.of("", "&twoPhaseCommit=true")) {
            for (int failing = 0; failing < 2; failing++) {
                String column = "c" + failing + (options.isEmpty() ? "_local" : "_2pc");
                onShard(failing, "ALTER TABLE acct ADD COLUMN " + column + " int"); // only there
                try (Connection c = DriverManager.getConnection(url + options);
                        Statement s = c.createStatement()) {
                    int shard = failing;
                    assertThatThrownBy(() -> s.execute("ALTER TABLE acct ADD COLUMN note_" + column
                                    + " text, ADD COLUMN " + column + " int"))
                            .isInstanceOf(SQLException.class)
                            .hasMessageContaining("failed on shard " + shard)
                            .hasMessageContaining("No shard was changed")
                            .extracting(e -> ((SQLException) e).getSQLState())
                            .isEqualTo("42701");
                    // the connection works on: nothing is left open on any primary
                    s.executeUpdate("INSERT INTO acct (id) VALUES (" + (100 + failing) + ") ON CONFLICT DO NOTHING");
                }
                for (int shard = 0; shard < 2; shard++) {
                    assertThat(columns(shard, "acct")).as("shard " + shard).doesNotContain("note_" + column);
                }
                onShard(failing, "ALTER TABLE acct DROP COLUMN " + column);
            }
        }
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.executeUpdate("DELETE FROM acct WHERE id = 100");
            s.executeUpdate("DELETE FROM acct WHERE id = 101");
        }
    }

    @Test
    void ddlInsideATransactionCommitsOnEveryShardOrNone() throws SQLException {
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            s.executeUpdate("INSERT INTO migrations VALUES (1)"); // the home shard: the transaction starts there
            s.execute("ALTER TABLE acct ADD COLUMN rolled_back int");
            s.execute("CREATE INDEX acct_rolled_back ON acct (rolled_back)");
            c.rollback();
            for (int shard = 0; shard < 2; shard++) {
                assertThat(columns(shard, "acct")).doesNotContain("rolled_back");
                assertThat(hasIndex(shard, "acct_rolled_back")).isFalse();
            }

            s.executeUpdate("INSERT INTO migrations VALUES (2)");
            s.execute("ALTER TABLE acct ADD COLUMN tier int NOT NULL DEFAULT 1");
            s.execute("CREATE INDEX acct_tier ON acct (tier)");
            // a loader's INSERT without a column list in the same transaction sees the new column
            s.executeUpdate("INSERT INTO acct VALUES (7, 70, 3)");
            c.commit();
            for (int shard = 0; shard < 2; shard++) {
                assertThat(columns(shard, "acct")).contains("tier");
                assertThat(hasIndex(shard, "acct_tier")).isTrue();
            }
            c.setAutoCommit(true);
            // and after the commit, in autocommit mode
            s.executeUpdate("INSERT INTO acct VALUES (8, 80, 4)");
            try (ResultSet rs = s.executeQuery("SELECT sum(tier) FROM acct WHERE id IN (7, 8)")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(7);
            }
            try (ResultSet rs = s.executeQuery("SELECT count(*) FROM migrations")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(1);
            }
            s.execute("ALTER TABLE acct DROP COLUMN tier");
            s.executeUpdate("DELETE FROM acct WHERE id = 7");
            s.executeUpdate("DELETE FROM acct WHERE id = 8");
        }
    }

    @Test
    void ddlInATransactionOnSeveralShardsNeedsTwoPhaseCommit() throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            s.executeUpdate("INSERT INTO migrations VALUES (3)");
            assertThatThrownBy(() -> s.execute("ALTER TABLE acct ADD COLUMN never int"))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("twoPhaseCommit=true")
                    .extracting(e -> ((SQLException) e).getSQLState())
                    .isEqualTo("0A000");
            c.rollback();
        }
        for (int shard = 0; shard < 2; shard++) {
            assertThat(columns(shard, "acct")).doesNotContain("never");
        }
    }

    @Test
    void concurrentIndexesRunOnEachShardAndAreReportedPerShard() throws SQLException {
        onShard(1, "CREATE INDEX acct_balance ON acct (balance)"); // only there
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                Statement s = c.createStatement()) {
            assertThatThrownBy(() -> s.execute("CREATE INDEX CONCURRENTLY acct_balance ON acct (balance)"))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("failed on 1 of 2 shards: shard 1")
                    .hasMessageContaining("succeeded on shards [0]");
            assertThat(hasIndex(0, "acct_balance")).isTrue();
            c.setAutoCommit(false);
            assertThatThrownBy(() -> s.execute("DROP INDEX CONCURRENTLY acct_balance"))
                    .isInstanceOf(SQLException.class)
                    .extracting(e -> ((SQLException) e).getSQLState())
                    .isEqualTo("25001");
            c.setAutoCommit(true);
            s.execute("DROP INDEX CONCURRENTLY acct_balance");
        }
        assertThat(hasIndex(0, "acct_balance")).isFalse();
        assertThat(hasIndex(1, "acct_balance")).isFalse();
    }

    @Test
    void aReferenceTableIsWrittenOnEveryShardAndReadWhereTheStatementIs() throws SQLException {
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                Statement s = c.createStatement()) {
            // a loader's batch: every row on every shard's copy, the counts of one copy
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO item VALUES (?, ?, ?)")) {
                for (int i = 1; i <= 100; i++) {
                    ps.setInt(1, i);
                    ps.setString(2, "item " + i);
                    ps.setBigDecimal(3, java.math.BigDecimal.valueOf(i));
                    ps.addBatch();
                }
                assertThat(ps.executeBatch()).hasSize(100).containsOnly(1);
            }
            for (int shard = 0; shard < 2; shard++) {
                assertThat(count(shard, "SELECT count(*) FROM item")).isEqualTo(100);
            }
            assertThat(s.executeUpdate("UPDATE item SET i_price = i_price + 1 WHERE i_id <= 10"))
                    .isEqualTo(10);
            try (ResultSet rs = s.executeQuery("INSERT INTO item VALUES (101, 'new', 5) RETURNING i_id")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getInt(1)).isEqualTo(101);
                assertThat(rs.next()).isFalse();
            }
            for (int shard = 0; shard < 2; shard++) {
                assertThat(count(shard, "SELECT sum(i_price) FROM item")).isEqualTo(5050 + 10 + 5);
            }

            // a sharded table's foreign key to it holds on every shard
            for (int shard = 0; shard < 2; shard++) {
                int acct = acctOn(shard);
                s.executeUpdate("INSERT INTO holding VALUES (" + acct + ", 7)");
                assertThatThrownBy(() -> s.executeUpdate("INSERT INTO holding VALUES (" + acct + ", 999)"))
                        .isInstanceOf(SQLException.class)
                        .extracting(e -> ((SQLException) e).getSQLState())
                        .isEqualTo("23503");
            }

            // a transaction on shard 1 reads it there, joined with its sharded rows
            int acct = acctOn(1);
            c.setAutoCommit(false);
            s.executeUpdate("INSERT INTO acct VALUES (" + acct + ", 10) ON CONFLICT DO NOTHING");
            try (ResultSet rs = s.executeQuery(
                    "SELECT i_name, i_price FROM holding JOIN item USING (i_id)" + " WHERE acct_id = " + acct)) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("item 7");
            }
            var route = c.unwrap(ShardlineConnection.class).explainRoute("SELECT * FROM item WHERE i_id = 1");
            assertThat(route).hasSize(1);
            assertThat(route.get(0).shard()).isEqualTo(1);
            // a write to it joins every shard to the transaction
            s.executeUpdate("UPDATE item SET i_name = 'renamed' WHERE i_id = 1");
            c.rollback();
            c.setAutoCommit(true);
            for (int shard = 0; shard < 2; shard++) {
                assertThat(count(shard, "SELECT count(*) FROM item WHERE i_name = 'renamed'"))
                        .isZero();
            }
            // an updatable result set would write one copy: refused
            try (Statement updatable = c.createStatement(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_UPDATABLE)) {
                assertThatThrownBy(() -> updatable.executeQuery("SELECT * FROM item WHERE i_id = 1"))
                        .isInstanceOf(SQLException.class)
                        .hasMessageContaining("CONCUR_UPDATABLE")
                        .hasMessageContaining("public.item");
            }
            s.executeUpdate("DELETE FROM holding WHERE acct_id = " + acctOn(0));
            s.executeUpdate("DELETE FROM holding WHERE acct_id = " + acctOn(1));
        }
    }

    /** The rows of {@code sql}, each as its columns' text joined by '|'. */
    private static List<String> rows(Connection c, String sql) throws SQLException {
        List<String> rows = new ArrayList<>();
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            while (rs.next()) {
                StringBuilder row = new StringBuilder();
                for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
                    row.append(i == 1 ? "" : "|").append(rs.getString(i));
                }
                rows.add(row.toString());
            }
        }
        return rows;
    }

    @Test
    void joinsWithAReferenceTableRunOnEachShardAndAnswerLikeOnePostgres() throws SQLException {
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                Statement s = c.createStatement()) {
            s.executeUpdate("INSERT INTO item SELECT i, 'part ' || (i % 7), (i % 5) + 0.5"
                    + " FROM generate_series(2001, 2030) i ON CONFLICT DO NOTHING");
            try (PreparedStatement ps =
                    c.prepareStatement("INSERT INTO holding VALUES (?, ?) ON CONFLICT DO NOTHING")) {
                for (int a = 5000; a < 5200; a++) {
                    for (int k = 0; k < 3; k++) {
                        ps.setInt(1, a);
                        ps.setInt(2, 2001 + (a * 7 + k) % 30);
                        ps.addBatch();
                    }
                }
                ps.executeBatch();
            }
            // one PostgreSQL holding every row: shard 0's primary, with every shard's holdings in a temporary table
            // of the same name (pg_temp comes first in the search path)
            try (Connection one = cluster.primary(0).connect();
                    Statement o = one.createStatement()) {
                o.execute("CREATE TEMP TABLE holding (acct_id int, i_id int)");
                for (int shard = 0; shard < 2; shard++) {
                    try (Connection direct = cluster.primary(shard).connect()) {
                        for (String row : rows(
                                direct,
                                "SELECT acct_id, i_id FROM public.holding WHERE acct_id BETWEEN 5000 AND 5199")) {
                            o.execute("INSERT INTO holding VALUES (" + row.replace('|', ',') + ")");
                        }
                    }
                }
                String range = " h.acct_id BETWEEN 5000 AND 5199";
                List<String> queries = List.of(
                        "SELECT i.i_name, count(*), sum(i.i_price) FROM holding h JOIN item i ON i.i_id = h.i_id"
                                + " WHERE" + range + " GROUP BY i.i_name ORDER BY 1",
                        "SELECT h.acct_id, i.i_name FROM holding h JOIN item i ON i.i_id = h.i_id WHERE" + range
                                + " ORDER BY i.i_price DESC, h.acct_id, i.i_name LIMIT 7",
                        "SELECT count(*) FROM holding h LEFT JOIN item i ON i.i_id = h.i_id AND i.i_price > 2"
                                + " WHERE" + range + " AND i.i_id IS NULL",
                        "SELECT count(*), sum(i.i_price) FROM holding h, item i WHERE i.i_id = h.i_id AND" + range,
                        "SELECT count(*) FROM item i RIGHT JOIN holding h ON i.i_id = h.i_id WHERE" + range,
                        "SELECT count(*) FROM item i LEFT JOIN holding h ON i.i_id = h.i_id AND" + range
                                + " WHERE i.i_id > 2000");
                for (String sql : queries) {
                    assertThat(rows(c, sql)).as(sql).isEqualTo(rows(one, sql)).isNotEmpty();
                }
                assertThat(c.unwrap(ShardlineConnection.class).explainRoute(queries.get(0)))
                        .allSatisfy(leg ->
                                assertThat(leg.reason()).contains("joined with the reference table public.item"));
            }
        } finally {
            try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                    Statement s = c.createStatement()) {
                s.executeUpdate("DELETE FROM holding WHERE acct_id BETWEEN 5000 AND 5199");
                s.executeUpdate("DELETE FROM item WHERE i_id > 2000");
            }
        }
    }

    @Test
    void aReferenceWriteThatFailsOnOneShardChangesNoCopy() throws SQLException {
        onShard(1, "INSERT INTO item VALUES (500, 'only on shard 1', 1)");
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                Statement s = c.createStatement()) {
            assertThatThrownBy(() -> s.executeUpdate("INSERT INTO item VALUES (500, 'x', 1), (501, 'y', 1)"))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("failed on shard 1")
                    .extracting(e -> ((SQLException) e).getSQLState())
                    .isEqualTo("23505");
        }
        assertThat(count(0, "SELECT count(*) FROM item WHERE i_id IN (500, 501)"))
                .isZero();
        assertThat(count(1, "SELECT count(*) FROM item WHERE i_id = 501")).isZero();
        onShard(1, "DELETE FROM item WHERE i_id = 500");
        // without two-phase commit a write to it is refused, naming the property, and writes nothing
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            assertThatThrownBy(() -> s.executeUpdate("INSERT INTO item VALUES (502, 'z', 1)"))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("twoPhaseCommit=true")
                    .extracting(e -> ((SQLException) e).getSQLState())
                    .isEqualTo("0A000");
        }
        for (int shard = 0; shard < 2; shard++) {
            assertThat(count(shard, "SELECT count(*) FROM item WHERE i_id = 502"))
                    .isZero();
        }
    }

    @Test
    void foreignKeysBetweenShardedTablesOnTheirKeysHoldAndOthersAreRefusedAtCreate() throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE note (acct_id int NOT NULL REFERENCES acct (id), body text)");
            for (int shard = 0; shard < 2; shard++) {
                int acct = acctOn(shard);
                s.executeUpdate("INSERT INTO acct VALUES (" + acct + ", 0) ON CONFLICT DO NOTHING");
                s.executeUpdate("INSERT INTO note VALUES (" + acct + ", 'hello')");
                int missing = acct + 100_000;
                while (ring.shardFor(KeyHash.hashInt8(missing)) != shard) {
                    missing++;
                }
                int absent = missing;
                assertThatThrownBy(() -> s.executeUpdate("INSERT INTO note VALUES (" + absent + ", 'x')"))
                        .isInstanceOf(SQLException.class)
                        .extracting(e -> ((SQLException) e).getSQLState())
                        .isEqualTo("23503");
            }
            // the receiving account may be on another shard: refused before it runs anywhere
            assertThatThrownBy(() -> s.execute("CREATE TABLE transfer (from_id int NOT NULL, to_id int NOT NULL,"
                            + " CONSTRAINT transfer_to FOREIGN KEY (to_id) REFERENCES acct (id))"))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("transfer_to")
                    .hasMessageContaining("shard key from_id")
                    .extracting(e -> ((SQLException) e).getSQLState())
                    .isEqualTo("0A000");
            for (int shard = 0; shard < 2; shard++) {
                assertThat(count(shard, "SELECT count(*) FROM pg_class WHERE relname = 'transfer'"))
                        .isZero();
            }
            assertThatThrownBy(() -> s.execute("ALTER TABLE note ADD COLUMN v int REFERENCES migrations (version)"))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("migrations is not sharded");
        }
    }

    @Test
    void aViewOverAShardedTableIsOnEveryShardAndAnswersLikeOnePostgres() throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE VIEW rich AS SELECT id, balance FROM acct WHERE balance >= 1000");
            for (int shard = 0; shard < 2; shard++) {
                int acct = acctOn(shard) + 1_000_000;
                while (ring.shardFor(KeyHash.hashInt8(acct)) != shard) {
                    acct++;
                }
                s.executeUpdate("INSERT INTO acct VALUES (" + acct + ", " + (1000 * (shard + 1)) + ")");
                assertThat(count(shard, "SELECT count(*) FROM pg_views WHERE viewname = 'rich'"))
                        .isEqualTo(1);
            }
            long expected = count(0, "SELECT coalesce(sum(balance), 0) FROM acct WHERE balance >= 1000")
                    + count(1, "SELECT coalesce(sum(balance), 0) FROM acct WHERE balance >= 1000");
            assertThat(expected).isEqualTo(3000);
            try (ResultSet rs = s.executeQuery("SELECT sum(balance) FROM rich")) {
                rs.next();
                assertThat(rs.getLong(1)).isEqualTo(expected);
            }
            int onOne = acctOn(1) + 1_000_000;
            while (ring.shardFor(KeyHash.hashInt8(onOne)) != 1) {
                onOne++;
            }
            var route =
                    c.unwrap(ShardlineConnection.class).explainRoute("SELECT balance FROM rich WHERE id = ?", onOne);
            assertThat(route).hasSize(1);
            assertThat(route.get(0).shard()).isEqualTo(1);
            try (PreparedStatement ps = c.prepareStatement("SELECT balance FROM rich WHERE id = ?")) {
                ps.setInt(1, onOne);
                try (ResultSet rs = ps.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getLong(1)).isEqualTo(2000);
                }
            }
            s.execute("CREATE MATERIALIZED VIEW rich_snapshot AS SELECT id FROM acct");
            assertThatThrownBy(() -> s.executeQuery("SELECT count(*) FROM rich_snapshot"))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("materialized view")
                    .extracting(e -> ((SQLException) e).getSQLState())
                    .isEqualTo("0A000");
            s.execute("DROP MATERIALIZED VIEW rich_snapshot");
            s.execute("DROP VIEW rich");
            for (int shard = 0; shard < 2; shard++) {
                assertThat(count(shard, "SELECT count(*) FROM pg_class WHERE relname IN ('rich', 'rich_snapshot')"))
                        .isZero();
            }
        }
    }

    @Test
    void aDistributedFunctionRunsOnItsKeysShard() throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            // every shard gets it (CREATE FUNCTION runs on every primary)
            s.execute("CREATE FUNCTION acct_balance(p_id int) RETURNS int LANGUAGE sql STABLE"
                    + " AS $$ SELECT balance FROM acct WHERE id = p_id $$");
            for (int shard = 0; shard < 2; shard++) {
                int acct = acctOn(shard) + 2_000_000;
                while (ring.shardFor(KeyHash.hashInt8(acct)) != shard) {
                    acct++;
                }
                s.executeUpdate("INSERT INTO acct VALUES (" + acct + ", " + (70 + shard) + ")");
                try (PreparedStatement ps = c.prepareStatement("SELECT acct_balance(?)")) {
                    ps.setInt(1, acct);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        assertThat(rs.getInt(1)).as("shard %d", shard).isEqualTo(70 + shard);
                    }
                }
                var route = c.unwrap(ShardlineConnection.class).explainRoute("SELECT acct_balance(?)", acct);
                assertThat(route.get(0).shard()).isEqualTo(shard);
            }
            // keys on two shards in one call: refused, not answered from one
            assertThatThrownBy(() ->
                            s.executeQuery("SELECT acct_balance(" + acctOn(0) + ") + acct_balance(" + acctOn(1) + ")"))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("acct_balance")
                    .extracting(e -> ((SQLException) e).getSQLState())
                    .isEqualTo("0A000");
        }
    }
}
