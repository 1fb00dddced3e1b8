package io.shardline.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.PgNode;
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
import java.sql.Types;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The SQL loaders and ORMs emit, run through the driver on a real 2-shard cluster and checked on each shard's primary
 * directly: a benchmark kit's loader writing {@code INSERT INTO t VALUES (?, ...)} batches puts every row on its
 * shard, and the column order it relies on follows DDL run through the driver.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ClientSqlIT {
    private static LocalCluster cluster;
    private static HashRing ring;
    private static String url;

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder()
                .name("clients")
                .shards(2)
                .hubs(1)
                .leaves(0)
                .start();
        ring = RouterClusters.publish(
                cluster,
                List.of(
                        new ShardedTable("public", "stock", "s_w_id", KeyType.INTEGER),
                        new ShardedTable("public", "swap", "id", KeyType.INTEGER),
                        new ShardedTable("public", "twin", "id", KeyType.INTEGER),
                        new ShardedTable("public", "depot", "d_w_id", KeyType.INTEGER),
                        new ShardedTable("public", "cargo", "c_id", KeyType.TEXT),
                        new ShardedTable("public", "label", "l_id", KeyType.TEXT),
                        new ShardedTable("public", "crate", "k", KeyType.INTEGER)),
                List.of(new ReferenceTable("public", "attachment")));
        url = cluster.shardlineUrl() + "?user=postgres";
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            // the key is not the first column: a loader's VALUES are matched to the columns by position
            s.execute("CREATE TABLE stock (s_i_id int NOT NULL, s_w_id int NOT NULL, s_quantity int,"
                    + " s_data text, PRIMARY KEY (s_w_id, s_i_id))");
        }
        RouterClusters.awaitTable(cluster.nodes(), "stock");
    }

    /** The first warehouse from 1 on that lives on {@code shard}. */
    private static int warehouseOn(int shard) {
        int w = 1;
        while (shardOf(w) != shard) {
            w++;
        }
        return w;
    }

    /** A stock row of {@code item} in a warehouse of each shard (a write on both: two-phase commit). */
    private static void stockOnEveryShard(Statement s, int item, int quantity) throws SQLException {
        s.executeUpdate("INSERT INTO stock (s_i_id, s_w_id, s_quantity) VALUES (" + item + ", " + warehouseOn(0) + ", "
                + quantity + "), (" + item + ", " + warehouseOn(1) + ", " + quantity + ")");
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (cluster != null) {
            cluster.close();
        }
    }

    private static int shardOf(long key) {
        return ring.shardFor(KeyHash.hashInt8(key));
    }

    /** The keys of {@code column} in {@code table} on shard {@code shard}'s primary, read directly. */
    /** Waits until a statement starting with {@code prefix} waits for a lock on shard {@code shard}'s primary. */
    private static void awaitLockWait(int shard, String prefix) throws Exception {
        String waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '"
                + prefix.replace("'", "''") + "%'";
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!"1".equals(cluster.primary(shard).queryString(waiting))) {
            assertThat(System.nanoTime() - deadline)
                    .as("a statement waiting on the lock")
                    .isNegative();
            Thread.sleep(20);
        }
    }

    private static List<Long> keysOn(int shard, String table, String column) throws SQLException {
        PgNode primary = cluster.primary(shard);
        try (Connection c = primary.connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT " + column + " FROM " + table)) {
            List<Long> keys = new java.util.ArrayList<>();
            while (rs.next()) {
                keys.add(rs.getLong(1));
            }
            return keys;
        }
    }

    @Test
    void aLoadersBatchesWithoutAColumnListPutEveryRowOnItsShard() throws SQLException {
        int warehouses = 20;
        int items = 100;
        try (Connection c = DriverManager.getConnection(url)) {
            // as the kit's loader does: a transaction per warehouse, committed every 50 rows
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO stock VALUES (?, ?, ?, ?)")) {
                for (int w = 1; w <= warehouses / 2; w++) {
                    for (int i = 1; i <= items; i++) {
                        ps.setInt(1, i);
                        ps.setInt(2, w);
                        ps.setInt(3, 10 + i % 90);
                        ps.setString(4, "data-" + w + "-" + i);
                        ps.addBatch();
                        if (i % 50 == 0) {
                            ps.executeBatch();
                            c.commit();
                        }
                    }
                }
            }
            // autocommit batches mixing warehouses: each shard's rows go as one physical batch
            c.setAutoCommit(true);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO stock VALUES (?, ?, ?, ?)")) {
                for (int i = 1; i <= items; i++) {
                    for (int w = warehouses / 2 + 1; w <= warehouses; w++) {
                        ps.setInt(1, i);
                        ps.setInt(2, w);
                        ps.setInt(3, 10 + i % 90);
                        ps.setString(4, "data-" + w + "-" + i);
                        ps.addBatch();
                    }
                    if (i % 10 == 0) {
                        int[] counts = ps.executeBatch();
                        assertThat(counts).hasSize(10 * warehouses / 2).containsOnly(1);
                    }
                }
            }
            // one multi-row statement per warehouse (all its rows on one shard)
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO stock VALUES (?, ?, 1, 'x'), (?, ?, 2, 'y')")) {
                for (int w = 1; w <= warehouses; w++) {
                    ps.setInt(1, items + 1);
                    ps.setInt(2, w);
                    ps.setInt(3, items + 2);
                    ps.setInt(4, w);
                    ps.addBatch();
                }
                ps.executeBatch();
            }
        }
        int total = 0;
        for (int shard = 0; shard < 2; shard++) {
            List<Long> keys = keysOn(shard, "stock", "s_w_id");
            for (long w : keys) {
                assertThat(shardOf(w))
                        .as("warehouse %d stored on shard %d", w, shard)
                        .isEqualTo(shard);
            }
            total += keys.size();
        }
        assertThat(total).isEqualTo(warehouses * (items + 2));
    }

    @Test
    void theCatalogFollowsDdlRunThroughTheDriver() throws SQLException {
        long key = 7;
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE swap (id bigint PRIMARY KEY, v text)");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO swap VALUES (?, 'first')")) {
                ps.setLong(1, key);
                ps.executeUpdate();
            }
            assertThat(keysOn(shardOf(key), "swap", "id")).containsExactly(key);

            // the key moves to the second column: the cached order must not route by the first
            s.execute("DROP TABLE swap");
            s.execute("CREATE TABLE swap (v text, id bigint PRIMARY KEY)");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO swap VALUES ('second', ?)")) {
                ps.setLong(1, key);
                ps.executeUpdate();
            }
            assertThat(keysOn(shardOf(key), "swap", "id")).containsExactly(key);

            // a column added before nothing, one dropped before the key
            s.execute("ALTER TABLE swap ADD COLUMN w int");
            s.execute("ALTER TABLE swap DROP COLUMN v");
            s.execute("DELETE FROM swap WHERE id = " + key);
            long other = key + 1;
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO swap VALUES (?, 3)")) {
                ps.setLong(1, other);
                ps.executeUpdate();
            }
            assertThat(keysOn(shardOf(other), "swap", "id")).containsExactly(other);
            assertThat(keysOn(1 - shardOf(other), "swap", "id")).isEmpty();
        }
    }

    @Test
    void theColumnOrderFollowsDdlRunThroughAnotherRouter() throws SQLException {
        long key = 11;
        // another router of the cluster: another runtime (its own pools, catalog reads and ZooKeeper session)
        try (Connection other = DriverManager.getConnection(url + "&poolSize=3");
                Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE twin (id bigint PRIMARY KEY, v text)");
            try (PreparedStatement ps = other.prepareStatement("INSERT INTO twin VALUES (?, 'first')")) {
                ps.setLong(1, key);
                ps.executeUpdate();
            }
            s.execute("DROP TABLE twin");
            s.execute("CREATE TABLE twin (v text, id bigint PRIMARY KEY)");
            // ZooKeeper tells the other router; until its watch fires its inserts may still be analyzed the old way
            org.awaitility.Awaitility.await()
                    .atMost(java.time.Duration.ofSeconds(10))
                    .untilAsserted(() -> {
                        try (PreparedStatement ps = other.prepareStatement("INSERT INTO twin VALUES ('second', ?)")) {
                            ps.setLong(1, key + 1);
                            ps.executeUpdate();
                        }
                    });
            assertThat(keysOn(shardOf(key + 1), "twin", "id")).containsExactly(key + 1);
            assertThat(keysOn(1 - shardOf(key + 1), "twin", "id")).isEmpty();
        }
    }

    @Test
    void ddlOnEveryShardRunsFromPreparedStatementsToo() throws SQLException {
        try (Connection c = DriverManager.getConnection(url)) {
            try (PreparedStatement ps = c.prepareStatement("CREATE INDEX stock_quantity ON stock (s_quantity)")) {
                assertThat(ps.execute()).isFalse();
            }
            try (PreparedStatement ps = c.prepareStatement("ALTER TABLE stock ADD COLUMN s_note text")) {
                assertThat(ps.executeUpdate()).isZero();
            }
            try (PreparedStatement ps = c.prepareStatement("COMMENT ON COLUMN stock.s_note IS 'free text'")) {
                ps.executeLargeUpdate();
            }
        }
        for (int shard = 0; shard < 2; shard++) {
            PgNode primary = cluster.primary(shard);
            assertThat(primary.queryString("SELECT count(*) FROM pg_indexes WHERE indexname = 'stock_quantity'"))
                    .as("the index on shard %d", shard)
                    .isEqualTo("1");
            assertThat(primary.queryString("SELECT col_description('stock'::regclass, 5)"))
                    .as("the comment on shard %d", shard)
                    .isEqualTo("free text");
        }
    }

    @Test
    void settingsMadeWithSetConfigReachEveryNodeTheSessionUses() throws SQLException {
        String read = "SELECT current_setting('app.tenant', true), count(*) FROM stock WHERE s_w_id = ?";
        try (Connection c = DriverManager.getConnection(url + "&maxStalenessMs=-1")) {
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT set_config('app.tenant', 'acme', false)")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("acme");
            }
            for (int shard = 0; shard < 2; shard++) {
                assertThat(queryString(c, read, warehouseOn(shard)))
                        .as("on shard %d", shard)
                        .isEqualTo("acme");
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT set_config(?, ?, false)")) {
                ps.setString(1, "app.tenant");
                ps.setString(2, "it's \\ globex");
                ps.executeQuery().close();
            }
            for (int shard = 0; shard < 2; shard++) {
                assertThat(queryString(c, read, warehouseOn(shard))).isEqualTo("it's \\ globex");
            }
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.executeQuery("SELECT set_config('app.tenant', 'local', true)").close();
            }
            c.commit();
            c.setAutoCommit(true);
            assertThat(queryString(c, read, warehouseOn(1)))
                    .as("a transaction-local setting is not recorded")
                    .isEqualTo("it's \\ globex");
            try (Statement s = c.createStatement()) {
                s.execute("RESET ALL");
            }
            assertThat(queryString(c, read, warehouseOn(1))).isEmpty();
        }
    }

    /** JDBC calls frameworks make (JdbcTemplate.setMaxRows, paging readers, the getMoreResults loop) work as in pgjdbc. */
    @Test
    void statementCallsFrameworksMakeWorkAsInPgjdbc() throws SQLException {
        int w = warehouseOn(1);
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            for (int i = 1; i <= 5; i++) {
                s.executeUpdate("INSERT INTO stock (s_i_id, s_w_id) VALUES (" + (7000 + i) + ", " + w + ")");
            }
            s.setMaxRows(3);
            assertThat(rows(s, "SELECT s_i_id FROM stock WHERE s_w_id = " + w))
                    .as("one shard")
                    .isEqualTo(3);
            assertThat(rows(s, "SELECT s_i_id FROM stock ORDER BY s_w_id, s_i_id"))
                    .as("cross-shard")
                    .isEqualTo(3);
            assertThat(s.getMaxRows()).isEqualTo(3);
            assertThatSqlState(() -> s.setMaxRows(-1)).isEqualTo("22023");
            s.setMaxRows(0);
            assertThat(rows(s, "SELECT s_i_id FROM stock WHERE s_w_id = " + w + " AND s_i_id BETWEEN 7001 AND 7005"))
                    .isEqualTo(5);

            // the Javadoc's loop over the results of a statement the driver answers itself ends
            assertThat(s.execute("SET application_name = 'results'")).isFalse();
            int results = 0;
            while (s.getUpdateCount() != -1) {
                assertThat(++results).as("results of a SET").isLessThan(3);
                s.getMoreResults(Statement.CLOSE_CURRENT_RESULT);
            }

            s.setCursorName("ignored, as pgjdbc does");
            s.addBatch("UPDATE stock SET s_quantity = 1 WHERE s_w_id = " + w + " AND s_i_id BETWEEN 7001 AND 7005");
            s.addBatch("UPDATE stock SET s_quantity = 2 WHERE s_w_id = " + w + " AND s_i_id = 7001");
            assertThat(s.executeLargeBatch()).containsExactly(5L, 1L);
            assertThat(s.executeLargeUpdate(
                            "DELETE FROM stock WHERE s_w_id = " + w + " AND s_i_id BETWEEN 7001 AND 7005",
                            Statement.RETURN_GENERATED_KEYS))
                    .isEqualTo(5L);

            // a batch's generated keys: one shard's rows give them all; rows on several shards are refused clearly
            try (PreparedStatement ps =
                    c.prepareStatement("INSERT INTO stock (s_i_id, s_w_id) VALUES (?, ?)", new String[] {"s_i_id"})) {
                for (int i = 7011; i <= 7012; i++) {
                    ps.setInt(1, i);
                    ps.setInt(2, w);
                    ps.addBatch();
                }
                ps.executeBatch();
                try (ResultSet keys = ps.getGeneratedKeys()) {
                    assertThat(keys.next()).isTrue();
                    assertThat(keys.getInt(1)).isEqualTo(7011);
                    assertThat(keys.next()).isTrue();
                    assertThat(keys.getInt(1)).isEqualTo(7012);
                }
                ps.setInt(1, 7013);
                ps.setInt(2, w);
                ps.addBatch();
                ps.setInt(1, 7013);
                ps.setInt(2, warehouseOn(0));
                ps.addBatch();
                // refused before any row is written (refused at getGeneratedKeys, the autocommit batch had committed)
                assertThatSqlState(ps::executeBatch).isEqualTo("0A000");
                assertThat(one(
                                s,
                                "SELECT count(*) FROM stock WHERE s_i_id = 7013 AND s_w_id IN (" + w + ", "
                                        + warehouseOn(0) + ")"))
                        .isEqualTo("0");
            }
            for (int shard = 0; shard < 2; shard++) {
                s.executeUpdate(
                        "DELETE FROM stock WHERE s_w_id = " + warehouseOn(shard) + " AND s_i_id BETWEEN 7001 AND 7013");
            }

            s.execute("SET search_path TO pg_catalog, public");
            c.setSchema(null);
            try (ResultSet rs = s.executeQuery("SHOW search_path")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("\"$user\", public");
            }
        }
    }

    /**
     * A text key set as {@code CHAR} is sent as a {@code bpchar}, whose trailing blanks PostgreSQL drops as it becomes
     * the column's text: routed by that value (it went by the padded one, to another shard, where it made a second row
     * of the same key).
     */
    @Test
    void aTextKeySetAsCharGoesToTheShardOfTheValueStored() throws SQLException {
        String key = "pad0";
        for (int i = 1; ring.shardFor(KeyHash.hashText(key)) == ring.shardFor(KeyHash.hashText(key + "   ")); i++) {
            key = "pad" + i;
        }
        int home = ring.shardFor(KeyHash.hashText(key));
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE label (l_id text PRIMARY KEY, v int)");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO label (l_id, v) VALUES (?, ?)")) {
                ps.setObject(1, key + "   ", Types.CHAR);
                ps.setInt(2, 1);
                assertThat(ps.executeUpdate()).isEqualTo(1);
                ps.setString(1, key);
                ps.setInt(2, 2);
                assertThatSqlState(ps::executeUpdate).as("the same key").isEqualTo("23505");
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT v FROM label WHERE l_id = ?")) {
                ps.setObject(1, key + " ", Types.CHAR);
                try (ResultSet rs = ps.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getInt(1)).isEqualTo(1);
                }
            }
            assertThat(cluster.primary(home).queryString("SELECT count(*) FROM label"))
                    .as("on the shard of %s", key)
                    .isEqualTo("1");
            // pgjdbc's simple protocol inlines it as an untyped literal: the text keeps its blanks, a key of its own
            try (Connection simple = DriverManager.getConnection(url + "&preferQueryMode=simple");
                    PreparedStatement ps = simple.prepareStatement("INSERT INTO label (l_id, v) VALUES (?, 3)")) {
                ps.setObject(1, key + "   ", Types.CHAR);
                assertThat(ps.executeUpdate()).isEqualTo(1);
            }
            assertThat(cluster.primary(ring.shardFor(KeyHash.hashText(key + "   ")))
                            .queryString("SELECT count(*) FROM label WHERE l_id = '" + key + "   '"))
                    .as("on the shard of the padded key")
                    .isEqualTo("1");
            s.execute("DROP TABLE label");
        }
    }

    /** The notices each shard's part raised reach the statement's warnings, as a single node's would. */
    @Test
    void noticesOfEveryShardsPartReachTheStatementsWarnings() throws SQLException {
        int w0 = warehouseOn(0);
        int w1 = warehouseOn(1);
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                Statement s = c.createStatement()) {
            s.execute("CREATE FUNCTION told(x int) RETURNS int LANGUAGE plpgsql AS"
                    + " $$ BEGIN RAISE NOTICE 'told %', x; RETURN x; END $$");
            stockOnEveryShard(s, 7301, 1);
            s.executeQuery("SELECT count(*) FROM stock WHERE s_i_id = 7301 AND told(s_w_id) > 0")
                    .close();
            assertThat(messages(s.getWarnings()))
                    .as("a cross-shard read's parts")
                    .contains("told " + w0, "told " + w1);
            s.clearWarnings();
            assertThat(messages(s.getWarnings())).isEmpty();
            assertThat(s.executeUpdate("UPDATE stock SET s_quantity = 2 WHERE s_i_id = 7301 AND told(s_w_id) > 0"))
                    .isEqualTo(2);
            assertThat(messages(s.getWarnings())).as("a write's on every shard").contains("told " + w0, "told " + w1);
            s.executeUpdate("DELETE FROM stock WHERE s_i_id = 7301 AND s_w_id = " + w0);
            assertThat(messages(s.getWarnings())).as("the next execution's own").isEmpty();
            s.executeUpdate("DELETE FROM stock WHERE s_i_id = 7301 AND s_w_id = " + w1);
            s.execute("DROP FUNCTION told(int)");
        }
    }

    private static List<String> messages(java.sql.SQLWarning first) {
        List<String> messages = new java.util.ArrayList<>();
        for (java.sql.SQLWarning w = first; w != null; w = w.getNextWarning()) {
            messages.add(w.getMessage());
        }
        return messages;
    }

    /** executeUpdate of a statement that returns rows fails as pgjdbc's does, also when the driver answered it. */
    @Test
    void anUpdateWhoseStatementReturnedRowsFailsAsPgjdbcs() throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement();
                PreparedStatement across = c.prepareStatement("SELECT count(*) FROM stock WHERE s_quantity > ?")) {
            for (String sql : List.of("SELECT count(*) FROM stock", "SHOW search_path", "SELECT 1")) {
                assertThatSqlState(() -> s.executeUpdate(sql)).as(sql).isEqualTo("0100E");
                assertThatSqlState(() -> s.executeLargeUpdate(sql)).as(sql).isEqualTo("0100E");
            }
            across.setInt(1, 0);
            assertThatSqlState(across::executeUpdate).isEqualTo("0100E");
            assertThat(s.executeUpdate("SET application_name = 'updated'")).isZero();
            assertThat(one(s, "SHOW application_name")).isEqualTo("updated");

            // pgjdbc's refusal is the client's: the transaction goes on and commits
            int w = warehouseOn(1);
            c.setAutoCommit(false);
            s.executeUpdate("INSERT INTO stock (s_i_id, s_w_id, s_quantity) VALUES (7201, " + w + ", 1)");
            assertThatSqlState(() -> s.executeUpdate("SELECT count(*) FROM stock"))
                    .isEqualTo("0100E");
            s.executeUpdate("UPDATE stock SET s_quantity = 2 WHERE s_i_id = 7201 AND s_w_id = " + w);
            c.commit();
            c.setAutoCommit(true);
            assertThat(one(s, "SELECT s_quantity FROM stock WHERE s_i_id = 7201 AND s_w_id = " + w))
                    .isEqualTo("2");

            // in a batch pgjdbc runs a query and counts its rows
            s.addBatch("UPDATE stock SET s_quantity = 3 WHERE s_i_id = 7201 AND s_w_id = " + w);
            s.addBatch("SELECT s_i_id FROM stock WHERE s_i_id = 7201");
            s.addBatch("SHOW application_name");
            assertThat(s.executeBatch()).containsExactly(1, 1, 1);
            s.executeUpdate("DELETE FROM stock WHERE s_i_id = 7201 AND s_w_id = " + w);
        }
    }

    /**
     * pgjdbc's generated keys are a RETURNING clause: a write without its key, run on every shard, refuses them before
     * any shard is written, as it refuses RETURNING (it committed on both, then getGeneratedKeys failed with 25000 —
     * an application retrying that "failure" wrote twice).
     */
    @Test
    void generatedKeysOfAWriteOnEveryShardAreRefusedBeforeAnyShardIsWritten() throws SQLException {
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                Statement s = c.createStatement()) {
            stockOnEveryShard(s, 7101, 5);
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE stock SET s_quantity = s_quantity + 1 WHERE s_i_id = 7101", new String[] {"s_w_id"})) {
                assertThatSqlState(ps::executeUpdate).isEqualTo("0A000");
            }
            assertThatSqlState(() ->
                            s.executeUpdate("DELETE FROM stock WHERE s_i_id = 7101", Statement.RETURN_GENERATED_KEYS))
                    .isEqualTo("0A000");
            c.setAutoCommit(false);
            assertThatSqlState(() -> s.executeUpdate(
                            "UPDATE stock SET s_quantity = 0 WHERE s_i_id = 7101", Statement.RETURN_GENERATED_KEYS))
                    .isEqualTo("0A000");
            c.rollback();
            c.setAutoCommit(true);
            assertThat(one(s, "SELECT sum(s_quantity) FROM stock WHERE s_i_id = 7101"))
                    .isEqualTo("10");
            assertThat(s.executeUpdate("UPDATE stock SET s_quantity = s_quantity + 1 WHERE s_i_id = 7101"))
                    .isEqualTo(2);
            assertThat(s.executeUpdate("DELETE FROM stock WHERE s_i_id = 7101")).isEqualTo(2);
        }
    }

    /**
     * A physical statement the application unwraps may change its connection behind the driver's back: the
     * connection is reset before the pool hands it out again. Large objects are refused as pgjdbc refuses them, and a
     * statement the driver answers (SHOW) closes its last result when it runs again.
     */
    @Test
    void aPhysicalStatementUnwrappedLeavesNothingOnItsPooledConnection() throws SQLException {
        String small = url + "&poolSize=1";
        try (Connection c = DriverManager.getConnection(small);
                Statement s = c.createStatement()) {
            assertThatSqlState(() -> s.unwrap(org.postgresql.PGStatement.class)).isEqualTo("0A000");
            try (ResultSet rs = s.executeQuery("SELECT 1")) {
                rs.next();
            }
            Statement physical = (Statement) s.unwrap(org.postgresql.PGStatement.class);
            physical.getConnection().createStatement().execute("SET application_name = 'leaked'");
            assertThatThrownBy(c::createBlob).isInstanceOf(java.sql.SQLFeatureNotSupportedException.class);
            assertThatThrownBy(c::createClob).isInstanceOf(java.sql.SQLFeatureNotSupportedException.class);
            // a result set leads back to the logical statement and connection, never to a pooled physical one
            try (ResultSet rs = s.executeQuery("SELECT 1")) {
                assertThat(rs.getStatement()).isSameAs(s);
                assertThat(rs.getStatement().getConnection()).isSameAs(c);
            }
            assertThat(s.execute("SELECT 2")).isTrue();
            assertThat(s.getResultSet()).isSameAs(s.getResultSet());
            assertThat(s.getResultSet().getStatement()).isSameAs(s);
            try (PreparedStatement ps = c.prepareStatement("SELECT ?::int")) {
                ps.setInt(1, 3);
                ps.closeOnCompletion();
                ResultSet rs = ps.executeQuery();
                assertThat(rs.getStatement()).isSameAs(ps);
                rs.close();
                assertThat(ps.isClosed()).as("closed on completion").isTrue();
            }
            ResultSet first = s.executeQuery("SHOW application_name");
            try (ResultSet again = s.executeQuery("SHOW application_name")) {
                assertThat(first.isClosed()).isTrue();
                assertThat(again.next()).isTrue();
            }
        }
        try (Connection c = DriverManager.getConnection(small);
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT current_setting('application_name')")) {
            rs.next();
            assertThat(rs.getString(1)).isNotEqualTo("leaked");
        }
    }

    /** A value the application changes after setting it (a reused buffer or Timestamp) is bound as it was set. */
    @Test
    void aValueChangedAfterItWasSetIsBoundAsItWasSet() throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE kept_values (id int PRIMARY KEY, b bytea, t timestamp)");
            byte[] buffer = {1};
            java.sql.Timestamp at = java.sql.Timestamp.valueOf("2026-01-01 00:00:00");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO kept_values VALUES (?, ?, ?)")) {
                for (int id = 1; id <= 3; id++) {
                    ps.setInt(1, id);
                    buffer[0] = (byte) id;
                    ps.setBytes(2, buffer);
                    at.setTime(at.getTime() + 86_400_000L);
                    ps.setObject(3, at);
                    ps.addBatch();
                }
                ps.executeBatch();
            }
            try (ResultSet rs = s.executeQuery(
                    "SELECT string_agg(get_byte(b, 0) || ' ' || t::date, ', ' ORDER BY id) FROM kept_values")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("1 2026-01-02, 2 2026-01-03, 3 2026-01-04");
            }
        }
    }

    /**
     * A stream parameter of a statement run on several nodes (a reference table's copy on every shard), and of every
     * row of a batch, reaches each node whole: a stream can be read once.
     */
    @Test
    void aStreamParameterReachesEveryNodeTheStatementRunsOn() throws Exception {
        byte[] bytes = new byte[100_000];
        new java.util.Random(7).nextBytes(bytes);
        String text = "stream ".repeat(5_000);
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE attachment (id int PRIMARY KEY, body bytea, note text)");
        }
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true")) {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO attachment VALUES (?, ?, ?)")) {
                ps.setInt(1, 1);
                ps.setBinaryStream(2, new java.io.ByteArrayInputStream(bytes));
                ps.setCharacterStream(3, new java.io.StringReader(text));
                assertThat(ps.executeUpdate()).isEqualTo(1);
                for (int id = 2; id <= 3; id++) {
                    ps.setInt(1, id);
                    ps.setBinaryStream(2, new java.io.ByteArrayInputStream(bytes), bytes.length);
                    ps.setCharacterStream(3, new java.io.StringReader(text + id), text.length() + 1);
                    ps.addBatch();
                }
                assertThat(ps.executeBatch()).containsExactly(1, 1);
                // what pgjdbc does not implement is refused when set, the stream unread
                java.io.Reader unreadable = new java.io.Reader() {
                    @Override
                    public int read(char[] buffer, int off, int len) {
                        throw new AssertionError("read");
                    }

                    @Override
                    public void close() {}
                };
                assertThatThrownBy(() -> ps.setCharacterStream(3, unreadable, 10L))
                        .isInstanceOf(java.sql.SQLFeatureNotSupportedException.class);
                assertThatThrownBy(() -> ps.setClob(3, unreadable))
                        .isInstanceOf(java.sql.SQLFeatureNotSupportedException.class);
                assertThatThrownBy(() -> ps.setBinaryStream(2, new java.io.ByteArrayInputStream(bytes), -1))
                        .isInstanceOf(SQLException.class)
                        .hasMessageContaining("invalid stream length -1 for parameter 2")
                        .extracting(e -> ((SQLException) e).getSQLState())
                        .isEqualTo("22023");
            }
        }
        String expected = "1 " + sha256(bytes) + " " + text.length() + ", 2 " + sha256(bytes) + " "
                + (text.length() + 1) + ", 3 " + sha256(bytes) + " " + (text.length() + 1);
        for (int shard = 0; shard < 2; shard++) {
            try (Connection c = cluster.primary(shard).connect();
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT string_agg(id || ' ' || encode(sha256(body), 'hex') || ' '"
                            + " || length(note), ', ' ORDER BY id) FROM attachment")) {
                rs.next();
                assertThat(rs.getString(1)).as("the rows on shard %d", shard).isEqualTo(expected);
            }
        }
    }

    private static String sha256(byte[] bytes) throws java.security.NoSuchAlgorithmException {
        return java.util.HexFormat.of()
                .formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(bytes));
    }

    private static int rows(Statement s, String sql) throws SQLException {
        int n = 0;
        try (ResultSet rs = s.executeQuery(sql)) {
            while (rs.next()) {
                n++;
            }
        }
        return n;
    }

    @Test
    void theIsolationLevelReportedBeforeAnyStatementIsTheServersDefault() throws SQLException {
        for (int shard = 0; shard < 2; shard++) {
            try (Connection admin = cluster.primary(shard).connect();
                    Statement s = admin.createStatement()) {
                s.execute("CREATE ROLE repeatable LOGIN");
                s.execute("ALTER ROLE repeatable SET default_transaction_isolation = 'repeatable read'");
            }
        }
        try (Connection c = DriverManager.getConnection(url.replace("user=postgres", "user=repeatable"))) {
            assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_REPEATABLE_READ);
            c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
            assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_READ_COMMITTED);
        }
    }

    @Test
    void anUnqualifiedNameFollowsTheSessionsSearchPath() throws SQLException {
        int remote = warehouseOn(1); // not the home shard, where app.stock lives
        String note = "SELECT note FROM stock WHERE s_w_id = ?";
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE SCHEMA app");
            s.execute("CREATE TABLE app.stock (s_w_id int, note text)");
            s.execute("INSERT INTO app.stock VALUES (" + remote + ", 'the unsharded app.stock')");
            s.execute("SET search_path TO app, public");
            ShardlineConnection sc = c.unwrap(ShardlineConnection.class);
            assertThat(sc.explainRoute(note, remote).get(0).shard()).isZero();
            assertThat(queryString(c, note, remote)).isEqualTo("the unsharded app.stock");
            try (PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM stock WHERE s_w_id = ?")) {
                ps.setInt(1, remote);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    assertThat(rs.getLong(1)).as("app.stock's rows").isEqualTo(1);
                }
                // the same prepared statement after the path changes: public.stock, the sharded table
                s.executeQuery("SELECT set_config('search_path', 'public', false)")
                        .close();
                assertThat(sc.explainRoute(note, remote).get(0).shard()).isEqualTo(1);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    assertThat(rs.getLong(1))
                            .as("public.stock's rows on shard 1")
                            .isEqualTo(Long.parseLong(cluster.primary(1)
                                    .queryString("SELECT count(*) FROM stock WHERE s_w_id = " + remote)));
                }
            }
            s.execute("SET search_path TO app, public");
            s.execute("RESET search_path");
            assertThat(sc.explainRoute(note, remote).get(0).shard())
                    .as("the default path")
                    .isEqualTo(1);
        }
    }

    @Test
    void aReadLedByNoLoadBalanceRunsOnThePrimary() throws SQLException {
        int w = warehouseOn(1);
        String sql = "SELECT inet_server_port(), count(*) FROM stock WHERE s_w_id = ?";
        try (Connection c = DriverManager.getConnection(url + "&maxStalenessMs=-1")) {
            assertThat(queryString(c, "/*NO LOAD BALANCE*/ " + sql, w))
                    .isEqualTo(Integer.toString(cluster.primary(1).port()));
            assertThat(queryString(c, sql, w))
                    .as("without it: the replica")
                    .isNotEqualTo(Integer.toString(cluster.primary(1).port()));
            assertThat(c.unwrap(ShardlineConnection.class)
                            .explainRoute("/*NO LOAD BALANCE*/ " + sql, w)
                            .get(0)
                            .reason())
                    .contains("NO LOAD BALANCE");
        }
    }

    /**
     * Spring Data JPA's {@code deleteAllByIdInBatch} and a bulk update by ids: keys on two shards, each shard changes
     * the rows it holds, in one transaction under two-phase commit; refused, naming that setting, without it.
     */
    @Test
    void anUpdateOrDeleteOfKeysOnSeveralShardsRunsOnEachUnderTwoPhaseCommit() throws SQLException {
        int here = warehouseOn(0);
        int there = warehouseOn(1);
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true")) {
            try (PreparedStatement insert =
                    c.prepareStatement("insert into stock (s_i_id, s_w_id, s_quantity) values (?, ?, 1)")) {
                for (int w : new int[] {here, there}) {
                    insert.setInt(1, 777);
                    insert.setInt(2, w);
                    insert.executeUpdate();
                }
            }
            try (PreparedStatement update =
                    c.prepareStatement("update stock set s_quantity=s_quantity+? where s_w_id in (?,?) and s_i_id=?")) {
                update.setInt(1, 10);
                update.setInt(2, here);
                update.setInt(3, there);
                update.setInt(4, 777);
                assertThat(update.executeUpdate()).isEqualTo(2);
            }
            try (Connection without = DriverManager.getConnection(url);
                    PreparedStatement delete =
                            without.prepareStatement("delete from stock where s_w_id in (?,?) and s_i_id=?")) {
                delete.setInt(1, here);
                delete.setInt(2, there);
                delete.setInt(3, 777);
                assertThatThrownBy(delete::executeUpdate)
                        .isInstanceOf(SQLException.class)
                        .hasMessageContaining("twoPhaseCommit=true");
            }
            for (int shard = 0; shard < 2; shard++) {
                try (Connection direct = cluster.primary(shard).connect();
                        Statement s = direct.createStatement();
                        ResultSet rs = s.executeQuery("SELECT s_quantity FROM stock WHERE s_i_id = 777")) {
                    assertThat(rs.next()).as("the row on shard %d", shard).isTrue();
                    assertThat(rs.getInt(1)).isEqualTo(11);
                }
            }
            try (PreparedStatement delete =
                    c.prepareStatement("delete from stock where s_w_id in (?,?) and s_i_id=?")) {
                delete.setInt(1, here);
                delete.setInt(2, there);
                delete.setInt(3, 777);
                assertThat(delete.executeUpdate()).isEqualTo(2);
            }
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT count(*) FROM stock WHERE s_i_id = 777")) {
                rs.next();
                assertThat(rs.getInt(1)).isZero();
            }
        }
    }

    /**
     * A bulk UPDATE or DELETE without a key that reads another sharded table joined to its own on the shard keys
     * (IN, EXISTS, USING, FROM) runs on every shard under two-phase commit: each shard's rows meet only rows of its
     * own. One that reads rows of other shards (a LIMIT in its subquery) is refused, and writes nothing.
     */
    @Test
    void aBulkWriteReadingATableJoinedOnTheShardKeyRunsOnEveryShard() throws SQLException {
        int here = warehouseOn(0);
        int there = warehouseOn(1);
        int open = Math.max(here, there) + 1;
        while (shardOf(open) != 0) {
            open++;
        }
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE depot (d_w_id int PRIMARY KEY, closed boolean NOT NULL)");
            for (int w : new int[] {here, there}) {
                s.executeUpdate("INSERT INTO depot VALUES (" + w + ", true)");
            }
            s.executeUpdate("INSERT INTO depot VALUES (" + open + ", false)");
            for (int w : new int[] {here, there, open}) {
                s.executeUpdate("INSERT INTO stock (s_i_id, s_w_id, s_quantity) SELECT i, " + w + ", 5 FROM"
                        + " generate_series(900, 909) i");
            }
            assertThat(s.executeUpdate("UPDATE stock s SET s_quantity = 0 FROM depot d WHERE d.d_w_id = s.s_w_id"
                            + " AND d.closed AND s.s_i_id >= 900"))
                    .isEqualTo(20);
            assertThat(s.executeUpdate("UPDATE stock SET s_quantity = s_quantity + 1 WHERE s_i_id >= 900 AND"
                            + " EXISTS (SELECT 1 FROM depot d WHERE d.d_w_id = stock.s_w_id AND NOT d.closed)"))
                    .isEqualTo(10);
            // a subquery whose rows depend on other shards' rows: refused, nothing written
            assertThatThrownBy(() -> s.executeUpdate("DELETE FROM stock WHERE s_w_id IN (SELECT d_w_id FROM depot"
                            + " ORDER BY d_w_id LIMIT 1)"))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("s_w_id")
                    .extracting(e -> ((SQLException) e).getSQLState())
                    .isEqualTo("0A000");
            try (Connection without = DriverManager.getConnection(url);
                    Statement w = without.createStatement()) {
                assertThatThrownBy(() -> w.executeUpdate(
                                "DELETE FROM stock WHERE s_w_id IN (SELECT d_w_id FROM depot WHERE closed)"))
                        .isInstanceOf(SQLException.class)
                        .hasMessageContaining("twoPhaseCommit=true");
            }
            assertThat(s.executeUpdate("DELETE FROM stock WHERE s_i_id >= 900 AND s_w_id IN (SELECT d_w_id FROM"
                            + " depot WHERE closed)"))
                    .isEqualTo(20);
            for (int shard = 0; shard < 2; shard++) {
                try (Connection direct = cluster.primary(shard).connect();
                        Statement d = direct.createStatement();
                        ResultSet rs = d.executeQuery("SELECT s_w_id, count(*), min(s_quantity) FROM stock WHERE"
                                + " s_i_id >= 900 GROUP BY s_w_id")) {
                    if (shard == 0) {
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getInt(1)).isEqualTo(open);
                        assertThat(rs.getInt(2)).isEqualTo(10);
                        assertThat(rs.getInt(3)).isEqualTo(6);
                    }
                    assertThat(rs.next())
                            .as("closed depots' stock on shard %d", shard)
                            .isFalse();
                }
            }
            s.executeUpdate("DELETE FROM stock WHERE s_w_id = " + open + " AND s_i_id >= 900");
        }
    }

    /**
     * A multi-row INSERT (MyBatis' foreach, jOOQ's multi-row values) whose rows belong to several shards: under
     * two-phase commit each shard gets a statement of its own rows, all or none; without it, refused naming the
     * setting. Nothing is written by a statement that fails or is refused.
     */
    @Test
    void aMultiRowInsertForSeveralShardsGivesEachShardItsRows() throws SQLException {
        int here = warehouseOn(0);
        int there = warehouseOn(1);
        String upsert = "INSERT INTO stock (s_i_id, s_w_id, s_quantity) VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?)"
                + " ON CONFLICT (s_w_id, s_i_id) DO UPDATE SET s_quantity = ?";
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true")) {
            try (PreparedStatement ps = c.prepareStatement(upsert)) {
                int[][] rows = {{801, here, 1}, {801, there, 2}, {802, here, 3}};
                for (int row = 0; row < rows.length; row++) {
                    for (int col = 0; col < 3; col++) {
                        ps.setInt(row * 3 + col + 1, rows[row][col]);
                    }
                }
                ps.setInt(10, 99);
                assertThat(ps.executeUpdate()).isEqualTo(3);
                assertThat(ps.executeUpdate())
                        .as("again: each row's conflict updates it")
                        .isEqualTo(3);
            }
            assertThat(quantities(0)).containsExactly(here + ":801=99", here + ":802=99");
            assertThat(quantities(1)).containsExactly(there + ":801=99");
            try (Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("INSERT INTO stock (s_i_id, s_w_id, s_quantity) VALUES (803, " + there
                                + ", 7), (803, " + here + ", 8)"))
                        .isEqualTo(2);
                // a row failing on one shard (a duplicate there) writes no row on any
                assertThatThrownBy(() -> s.executeUpdate("INSERT INTO stock (s_i_id, s_w_id, s_quantity) VALUES"
                                + " (804, " + here + ", 1), (803, " + there + ", 1)"))
                        .isInstanceOf(SQLException.class)
                        .hasMessageContaining("shard 1")
                        .extracting(e -> ((SQLException) e).getSQLState())
                        .isEqualTo("23505");
                // generated keys cannot be gathered from several shards: refused before anything runs
                assertThatThrownBy(() -> s.executeUpdate(
                                "INSERT INTO stock (s_i_id, s_w_id) VALUES (805, " + here + "), (805, " + there + ")",
                                Statement.RETURN_GENERATED_KEYS))
                        .isInstanceOf(SQLException.class)
                        .hasMessageContaining("generated keys");
                // inside the application's transaction, a part failing after another ran aborts the transaction:
                // its COMMIT cannot keep the other shard's rows
                c.setAutoCommit(false);
                try (PreparedStatement ps = c.prepareStatement(
                        "INSERT INTO stock (s_i_id, s_w_id, s_quantity) VALUES (?, ?, ?), (?, ?, ?)")) {
                    ps.setInt(1, 808);
                    ps.setInt(2, here);
                    ps.setInt(3, 1);
                    ps.setInt(4, 803); // a duplicate there
                    ps.setInt(5, there);
                    ps.setInt(6, 1);
                    assertThatThrownBy(ps::executeUpdate)
                            .isInstanceOf(SQLException.class)
                            .extracting(e -> ((SQLException) e).getSQLState())
                            .isEqualTo("23505");
                }
                assertThatThrownBy(() -> s.executeQuery("SELECT 1"))
                        .extracting(e -> ((SQLException) e).getSQLState())
                        .isEqualTo("25P02");
                assertThatThrownBy(c::commit)
                        .extracting(e -> ((SQLException) e).getSQLState())
                        .isEqualTo("40000");
                assertThat(quantities(0)).noneMatch(row -> row.endsWith(":808=1"));
                s.executeUpdate("INSERT INTO stock (s_i_id, s_w_id) VALUES (806, " + here + "), (806, " + there + ")");
                c.rollback();
                c.setAutoCommit(true);
            }
            try (Connection without = DriverManager.getConnection(url);
                    Statement s = without.createStatement()) {
                assertThatThrownBy(() -> s.executeUpdate(
                                "INSERT INTO stock (s_i_id, s_w_id) VALUES (807, " + here + "), (807, " + there + ")"))
                        .isInstanceOf(SQLException.class)
                        .hasMessageContaining("twoPhaseCommit=true")
                        .extracting(e -> ((SQLException) e).getSQLState())
                        .isEqualTo("0A000");
            }
            assertThat(quantities(0)).containsExactly(here + ":801=99", here + ":802=99", here + ":803=8");
            assertThat(quantities(1)).containsExactly(there + ":801=99", there + ":803=7");
            try (Statement s = c.createStatement()) {
                s.executeUpdate("DELETE FROM stock WHERE s_i_id BETWEEN 801 AND 809");
            }
        }
    }

    /** The rows of stock with items 801-809 on shard {@code shard}'s primary, as "warehouse:item=quantity". */
    private static List<String> quantities(int shard) throws SQLException {
        try (Connection direct = cluster.primary(shard).connect();
                Statement s = direct.createStatement();
                ResultSet rs = s.executeQuery("SELECT s_w_id, s_i_id, s_quantity FROM stock WHERE s_i_id BETWEEN 801"
                        + " AND 809 ORDER BY s_w_id, s_i_id")) {
            List<String> rows = new java.util.ArrayList<>();
            while (rs.next()) {
                rows.add(rs.getInt(1) + ":" + rs.getInt(2) + "=" + rs.getInt(3));
            }
            return rows;
        }
    }

    @Test
    void hibernatesSequenceStrategyTakesKeysOnTheHomeShardInsideTransactionsOnAnyShard() throws SQLException {
        int remote = warehouseOn(1);
        try (Connection c = DriverManager.getConnection(url)) {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE SEQUENCE item_seq START 5000");
            }
            c.setAutoCommit(false);
            try (PreparedStatement next = c.prepareStatement("select nextval('item_seq')");
                    PreparedStatement insert =
                            c.prepareStatement("insert into stock (s_i_id, s_w_id, s_quantity) values (?, ?, 1)")) {
                for (int i = 0; i < 3; i++) {
                    // as Hibernate does: the key first (the transaction has not chosen a shard), then the insert
                    long id;
                    try (ResultSet rs = next.executeQuery()) {
                        rs.next();
                        id = rs.getLong(1);
                    }
                    insert.setLong(1, id);
                    insert.setInt(2, remote);
                    insert.executeUpdate();
                    // a second key inside the transaction that now runs on shard 1, not the home shard
                    try (ResultSet rs = next.executeQuery()) {
                        rs.next();
                        insert.setLong(1, rs.getLong(1));
                    }
                    insert.executeUpdate();
                    c.commit();
                }
            }
            c.setAutoCommit(true);
            ShardlineConnection sc = c.unwrap(ShardlineConnection.class);
            assertThat(sc.explainRoute("select nextval('item_seq')").get(0).shard())
                    .isZero();
        }
        assertThat(cluster.primary(1)
                        .queryString("SELECT count(*) FROM stock WHERE s_i_id >= 5000 AND s_w_id = " + remote))
                .isEqualTo("6");
        assertThat(cluster.primary(0).queryString("SELECT last_value FROM item_seq"))
                .isEqualTo("5005");
    }

    private static String queryString(Connection c, String sql, Object param) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setObject(1, param);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).isTrue();
                return rs.getString(1);
            }
        }
    }

    /** A one-column, one-row query's text. */
    private static String one(Statement s, String sql) throws SQLException {
        try (ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    @Test
    void transactionModesGivenInSqlApplyOnEveryShardTheTransactionReaches() throws SQLException {
        int w0 = warehouseOn(0);
        int w1 = warehouseOn(1);
        String mode =
                "SELECT current_setting('transaction_isolation') || ' ' || current_setting('transaction_read_only')"
                        + " FROM stock WHERE s_w_id = ";
        try {
            transactionModes(w0, w1, mode);
        } finally {
            try (Connection c = DriverManager.getConnection(url);
                    Statement s = c.createStatement()) {
                s.executeUpdate("DELETE FROM stock WHERE s_i_id = 9001 AND s_w_id = " + w0);
                s.executeUpdate("DELETE FROM stock WHERE s_i_id = 9001 AND s_w_id = " + w1);
            }
        }
    }

    private static void transactionModes(int w0, int w1, String mode) throws SQLException {
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                Statement s = c.createStatement()) {
            s.executeUpdate("INSERT INTO stock VALUES (9001, " + w0 + ", 1, 'm')");
            s.executeUpdate("INSERT INTO stock VALUES (9001, " + w1 + ", 1, 'm')");

            s.execute("BEGIN ISOLATION LEVEL SERIALIZABLE");
            assertThat(c.getTransactionIsolation())
                    .as("as pgjdbc answers it: the level of the transaction begun")
                    .isEqualTo(Connection.TRANSACTION_SERIALIZABLE);
            assertThat(one(s, mode + w0 + " AND s_i_id = 9001")).isEqualTo("serializable off");
            assertThat(one(s, mode + w1 + " AND s_i_id = 9001"))
                    .as("the shard joining the transaction gets its modes too")
                    .isEqualTo("serializable off");
            assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_SERIALIZABLE);
            s.execute("COMMIT");
            assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_READ_COMMITTED);
            c.setAutoCommit(false);
            s.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
            assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_REPEATABLE_READ);
            c.rollback();
            c.setAutoCommit(true);
            assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_READ_COMMITTED);
            try (Connection bound = DriverManager.getConnection(url);
                    Statement bs = bound.createStatement()) {
                // in a forKey binding SET TRANSACTION runs on the bound node, in the transaction begun there
                bound.unwrap(ShardlineConnection.class).forKey("stock", w0);
                bound.setAutoCommit(false);
                bs.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE");
                assertThat(one(bs, "SHOW transaction_isolation")).isEqualTo("serializable");
                assertThat(bound.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_SERIALIZABLE);
                bound.rollback();
                assertThat(bound.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_READ_COMMITTED);
            }
            assertThat(one(s, mode + w1 + " AND s_i_id = 9001"))
                    .as("they were the transaction's own")
                    .isEqualTo("read committed off");

            s.execute("START TRANSACTION READ ONLY");
            assertThatSqlState(() -> s.executeUpdate("UPDATE stock SET s_quantity = 2 WHERE s_w_id = " + w0))
                    .isEqualTo("25006");
            s.execute("ROLLBACK");

            // read-only REPEATABLE READ: one snapshot of every shard, from the first statement on
            s.execute("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
            assertThat(c.unwrap(ShardlineConnection.class).explainRoute(mode + w1))
                    .singleElement()
                    .satisfies(leg -> assertThat(leg.reason()).contains("snapshot of every shard", "REPEATABLE READ"));
            assertThat(one(s, mode + w1 + " AND s_i_id = 9001")).isEqualTo("repeatable read on");
            assertThat(one(s, mode + w0 + " AND s_i_id = 9001")).isEqualTo("repeatable read on");
            assertThatSqlState(() -> s.execute("SAVEPOINT a")).isEqualTo("0A000");
            // the refused SAVEPOINT failed the transaction (as a failing SAVEPOINT in PostgreSQL): it only read, so
            // its COMMIT ends it without an error, as on one shard
            assertThatSqlState(() -> s.executeQuery(mode + w0 + " AND s_i_id = 9001"))
                    .isEqualTo("25P02");
            s.execute("COMMIT");

            // SET TRANSACTION before the first statement, as frameworks send it
            c.setAutoCommit(false);
            s.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE");
            assertThat(one(s, mode + w0 + " AND s_i_id = 9001")).isEqualTo("serializable off");
            assertThat(one(s, mode + w1 + " AND s_i_id = 9001")).isEqualTo("serializable off");
            c.commit();

            // the session's default, set by SQL, decides as the JDBC calls do
            c.setAutoCommit(true);
            s.execute("SET default_transaction_isolation = 'repeatable read'");
            c.setReadOnly(true);
            c.setAutoCommit(false);
            assertThat(c.unwrap(ShardlineConnection.class).explainRoute(mode + w0))
                    .singleElement()
                    .satisfies(leg -> assertThat(leg.reason()).contains("snapshot of every shard"));
            c.rollback();
            c.setAutoCommit(true);
            s.execute("RESET ALL");
            c.setAutoCommit(false);
            assertThat(c.unwrap(ShardlineConnection.class).explainRoute(mode + w0))
                    .singleElement()
                    .satisfies(leg -> assertThat(leg.reason()).doesNotContain("snapshot of every shard"));
            c.rollback();
            c.setReadOnly(false);
            c.setAutoCommit(true);

            // a SET of something else leaves the level JDBC set
            c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
            s.execute("SET default_transaction_read_only = off");
            assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_SERIALIZABLE);
            c.setAutoCommit(false);
            assertThat(one(s, mode + w1 + " AND s_i_id = 9001")).isEqualTo("serializable off");
            c.rollback();
            c.setAutoCommit(true);
            c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);

            assertThatSqlState(() -> s.execute("BEGIN ISOLATION LEVEL SOMETIMES"))
                    .isEqualTo("0A000");
        }
        // without two-phase commit a read-only transaction still reads every shard and commits
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
            assertThat(one(s, mode + w0 + " AND s_i_id = 9001")).isEqualTo("repeatable read on");
            assertThat(one(s, mode + w1 + " AND s_i_id = 9001")).isEqualTo("repeatable read on");
            s.execute("COMMIT");
            assertThat(one(s, "SELECT count(*) FROM stock WHERE s_i_id = 9001")).isEqualTo("2");
        }
    }

    /** The keys of cargo matching {@code like} on shard {@code shard}'s primary, read directly. */
    private static List<String> cargoOn(int shard, String like) throws SQLException {
        try (Connection direct = cluster.primary(shard).connect();
                PreparedStatement ps = direct.prepareStatement("SELECT c_id FROM cargo WHERE c_id LIKE ? ORDER BY 1")) {
            ps.setString(1, like);
            try (ResultSet rs = ps.executeQuery()) {
                List<String> keys = new java.util.ArrayList<>();
                while (rs.next()) {
                    keys.add(rs.getString(1));
                }
                return keys;
            }
        }
    }

    /** Of {@code keys}, those the ring puts on {@code shard}, sorted as PostgreSQL's C collation would. */
    private static List<String> onShard(int shard, List<String> keys) {
        return keys.stream()
                .filter(k -> ring.shardFor(KeyHash.hashText(k)) == shard)
                .sorted()
                .toList();
    }

    private static List<String> keys(String prefix, int count) {
        return java.util.stream.IntStream.range(0, count)
                .mapToObj(i -> prefix + i)
                .toList();
    }

    private static java.io.Reader lines(List<String> keys) {
        return new java.io.StringReader(String.join("\n", keys) + "\n");
    }

    @Test
    void aCopyFromStdinSendsEachRowToTheShardOfItsKeyAllOrNothing() throws Exception {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            // a generated column before the key: COPY without a column list skips it, and so must the key's place
            s.execute("CREATE TABLE cargo (note text, g int GENERATED ALWAYS AS (length(note)) STORED,"
                    + " c_id text COLLATE \"C\" PRIMARY KEY, n int)");
            s.execute("CREATE TABLE loose (v text)");
        }
        RouterClusters.awaitTable(cluster.nodes(), "cargo");
        List<String> odd = List.of("plain", "with,comma", "with\"quote", "tab\there", "back\\slash", "line\nbreak");
        List<String> spread = new java.util.ArrayList<>(odd);
        spread.addAll(keys("k", 10));
        assertThat(onShard(0, spread)).as("keys on shard 0").isNotEmpty();
        assertThat(onShard(1, spread)).as("keys on shard 1").isNotEmpty();
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                Statement s = c.createStatement()) {
            org.postgresql.copy.CopyManager copy =
                    c.unwrap(org.postgresql.PGConnection.class).getCopyAPI();
            // CSV with a header line, the key in the middle, quoted fields holding delimiters, quotes and line ends
            StringBuilder csv = new StringBuilder("note,c_id,n\r\n");
            for (int i = 0; i < spread.size(); i++) {
                csv.append("\"note\nof ")
                        .append(i)
                        .append("\",\"")
                        .append(spread.get(i).replace("\"", "\"\""))
                        .append("\",")
                        .append(i)
                        .append("\r\n");
            }
            assertThat(copy.copyIn(
                            "COPY cargo (note, c_id, n) FROM STDIN WITH (FORMAT csv, HEADER)",
                            new java.io.StringReader(csv.toString())))
                    .isEqualTo(spread.size());
            for (int shard = 0; shard < 2; shard++) {
                assertThat(cargoOn(shard, "%")).as("shard %d", shard).isEqualTo(onShard(shard, spread));
            }
            assertThat(one(s, "SELECT note || '/' || n FROM cargo WHERE c_id = 'line' || chr(10) || 'break'"))
                    .isEqualTo("note\nof 5/5");
            // text format without a column list, the key de-escaped; rows enough for several batches
            StringBuilder text = new StringBuilder();
            List<String> bulk = keys("bulk-\t", 5000);
            for (int i = 0; i < bulk.size(); i++) {
                text.append("\\N\tbulk-\\t").append(i).append('\t').append(i).append('\n');
            }
            assertThat(copy.copyIn(
                            "COPY cargo FROM STDIN",
                            new java.io.ByteArrayInputStream(
                                    text.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8))))
                    .isEqualTo(bulk.size());
            for (int shard = 0; shard < 2; shard++) {
                assertThat(cargoOn(shard, "bulk-%")).as("shard %d", shard).isEqualTo(onShard(shard, bulk));
            }
            // a row failing on one shard (a key there already) writes no row on any
            List<String> fresh = new java.util.ArrayList<>(keys("fresh-", 20));
            fresh.add("k3");
            assertThatThrownBy(() -> copy.copyIn("COPY cargo (c_id) FROM STDIN", lines(fresh)))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("shard " + ring.shardFor(KeyHash.hashText("k3")))
                    .extracting(e -> ((SQLException) e).getSQLState())
                    .isEqualTo("23505");
            assertThat(cargoOn(0, "fresh-%")).isEmpty();
            assertThat(cargoOn(1, "fresh-%")).isEmpty();
            // in the application's transaction: rolled back or committed with it; a failed COPY aborts it
            c.setAutoCommit(false);
            List<String> tx = keys("tx-", 8);
            assertThat(copy.copyIn("COPY cargo (c_id) FROM STDIN", lines(tx))).isEqualTo(8);
            c.rollback();
            assertThat(one(s, "SELECT count(*) FROM cargo WHERE c_id LIKE 'tx-%'"))
                    .isEqualTo("0");
            assertThat(copy.copyIn("COPY cargo (c_id) FROM STDIN", lines(tx))).isEqualTo(8);
            c.commit();
            assertThat(cargoOn(0, "tx-%")).isEqualTo(onShard(0, tx));
            assertThat(cargoOn(1, "tx-%")).isEqualTo(onShard(1, tx));
            assertThat(copy.copyIn("COPY cargo (c_id) FROM STDIN", lines(keys("tx2-", 8))))
                    .isEqualTo(8);
            assertThatThrownBy(() -> copy.copyIn("COPY cargo (c_id) FROM STDIN", lines(List.of("tx-1"))))
                    .isInstanceOf(SQLException.class);
            assertThatSqlState(() -> s.executeQuery("SELECT 1")).isEqualTo("25P02");
            assertThatThrownBy(c::commit).isInstanceOf(SQLException.class);
            c.setAutoCommit(true);
            assertThat(one(s, "SELECT count(*) FROM cargo WHERE c_id LIKE 'tx2-%'"))
                    .isEqualTo("0");
            // what cannot be routed is refused before any row is read, naming why
            assertThatThrownBy(() -> copy.copyIn("COPY attachment FROM STDIN", lines(List.of("1"))))
                    .hasMessageContaining("reference table");
            assertThatThrownBy(() -> copy.copyIn("COPY cargo (note) FROM STDIN", lines(List.of("x"))))
                    .hasMessageContaining("shard key c_id");
            assertThatThrownBy(() -> copy.copyIn("COPY cargo FROM STDIN (FORMAT binary)", lines(List.of("x"))))
                    .hasMessageContaining("binary");
            // a table that is not sharded lives on the home shard
            assertThat(copy.copyIn("COPY loose FROM STDIN", lines(List.of("a", "b", "c"))))
                    .isEqualTo(3);
            assertThat(one(s, "SELECT string_agg(v, ',' ORDER BY v) FROM loose"))
                    .isEqualTo("a,b,c");
            java.io.ByteArrayOutputStream binary = new java.io.ByteArrayOutputStream();
            java.io.DataOutputStream out = new java.io.DataOutputStream(binary);
            out.write("PGCOPY\n\377\r\n\0".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
            out.writeInt(0); // flags
            out.writeInt(0); // no header extension
            out.writeShort(1); // one field
            out.writeInt(1);
            out.write('d');
            out.writeShort(-1); // the end
            assertThat(copy.copyIn(
                            "COPY loose FROM STDIN (FORMAT binary)",
                            new java.io.ByteArrayInputStream(binary.toByteArray())))
                    .isEqualTo(1);
            assertThat(one(s, "SELECT string_agg(v, ',' ORDER BY v) FROM loose"))
                    .isEqualTo("a,b,c,d");
        }
        // a table changed behind the driver's back (on the shards directly): its read of the columns is stale, so a
        // COPY without a column list is refused once, then reads them again
        for (int shard = 0; shard < 2; shard++) {
            try (Connection direct = cluster.primary(shard).connect();
                    Statement s = direct.createStatement()) {
                s.execute("ALTER TABLE cargo ADD COLUMN extra int");
            }
        }
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true")) {
            org.postgresql.copy.CopyManager copy =
                    c.unwrap(org.postgresql.PGConnection.class).getCopyAPI();
            assertThatThrownBy(() -> copy.copyIn("COPY cargo FROM STDIN", lines(List.of("n\tstale\t1\t2"))))
                    .hasMessageContaining("the table changed");
            assertThat(copy.copyIn("COPY cargo FROM STDIN", lines(List.of("n\tfresh\t1\t2"))))
                    .isEqualTo(1);
            assertThat(cargoOn(ring.shardFor(KeyHash.hashText("fresh")), "fresh"))
                    .containsExactly("fresh");
        }
        // nothing else runs on the connection while a COPY is open; closing the connection cancels it
        Connection open = DriverManager.getConnection(url + "&twoPhaseCommit=true");
        org.postgresql.copy.CopyIn running =
                open.unwrap(org.postgresql.PGConnection.class).getCopyAPI().copyIn("COPY cargo (c_id) FROM STDIN");
        byte[] some =
                String.join("\n", keys("open-", 20)).concat("\n").getBytes(java.nio.charset.StandardCharsets.UTF_8);
        running.writeToCopy(some, 0, some.length);
        running.flushCopy();
        // each shard's part has a transaction id already (PostgreSQL's COPY buffers rows before it writes them): a
        // move's cutover, which waits for the transactions with one, waits for it
        for (int shard = 0; shard < 2; shard++) {
            assertThat(cluster.primary(shard)
                            .queryString("SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL"
                                    + " AND query LIKE 'COPY cargo%'"))
                    .as("shard %d", shard)
                    .isEqualTo("1");
        }
        assertThatSqlState(() -> open.createStatement().executeQuery("SELECT 1"))
                .isEqualTo("55000");
        // in autocommit mode commit() is the application's mistake first, as with pgjdbc
        assertThatSqlState(open::commit).isEqualTo("25P01");
        assertThatSqlState(() -> open.setSchema("public")).isEqualTo("55000");
        assertThat(open.isValid(1)).as("a connection with a COPY left open").isFalse();
        java.util.concurrent.CompletableFuture.runAsync(() -> {
                    try {
                        open.close();
                    } catch (SQLException e) {
                        throw new IllegalStateException(e);
                    }
                })
                .get(30, TimeUnit.SECONDS);
        assertThat(running.isActive()).isFalse();
        assertThat(cargoOn(0, "open-%")).isEmpty();
        assertThat(cargoOn(1, "open-%")).isEmpty();
        // without two-phase commit: each shard's rows in a transaction of its own, committed in turn
        try (Connection c = DriverManager.getConnection(url)) {
            List<String> own = keys("own-", 20);
            assertThat(c.unwrap(org.postgresql.PGConnection.class)
                            .getCopyAPI()
                            .copyIn("COPY cargo (c_id) FROM STDIN", lines(own)))
                    .isEqualTo(20);
            assertThat(cargoOn(0, "own-%")).isEqualTo(onShard(0, own));
            assertThat(cargoOn(1, "own-%")).isEqualTo(onShard(1, own));
            // bound by forKey: the rows of that shard go there; a row of another shard fails the whole COPY
            c.unwrap(ShardlineConnection.class).forKey("cargo", "pin-0");
            int pinned = ring.shardFor(KeyHash.hashText("pin-0"));
            List<String> pins = onShard(pinned, keys("pin-", 20));
            org.postgresql.copy.CopyManager copy =
                    c.unwrap(org.postgresql.PGConnection.class).getCopyAPI();
            assertThat(copy.copyIn("COPY cargo (c_id) FROM STDIN", lines(pins))).isEqualTo(pins.size());
            assertThat(cargoOn(pinned, "pin-%")).isEqualTo(pins);
            List<String> mixed = keys("mixed-", 20);
            assertThatThrownBy(() -> copy.copyIn("COPY cargo (c_id) FROM STDIN", lines(mixed)))
                    .hasMessageContaining("bound by forKey");
            assertThat(cargoOn(0, "mixed-%")).isEmpty();
            assertThat(cargoOn(1, "mixed-%")).isEmpty();
        }
        // a writer whose COPY waits on shard 1 (a lock there), cancelled from another thread: it fails at once, not
        // when the lock goes, and nothing of the COPY is written
        List<String> waiting = keys("wait-", 20);
        try (Connection c = DriverManager.getConnection(url);
                Connection locker = cluster.primary(1).connect();
                Statement lock = locker.createStatement()) {
            locker.setAutoCommit(false);
            lock.execute("LOCK TABLE cargo IN ACCESS EXCLUSIVE MODE");
            org.postgresql.copy.CopyIn blocked =
                    c.unwrap(org.postgresql.PGConnection.class).getCopyAPI().copyIn("COPY cargo (c_id) FROM STDIN");
            byte[] rows = String.join("", waiting.stream().map(k -> k + "\n").toList())
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8);
            java.util.concurrent.CompletableFuture<String> writer =
                    java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                        try {
                            blocked.writeToCopy(rows, 0, rows.length);
                            blocked.flushCopy();
                            return "sent";
                        } catch (SQLException e) {
                            return e.getSQLState();
                        }
                    });
            awaitLockWait(1, "COPY cargo");
            assertThat(writer).as("waiting on the lock").isNotDone();
            blocked.cancelCopy();
            assertThat(writer.get(10, TimeUnit.SECONDS)).isEqualTo("57014");
            assertThat(blocked.isActive()).isFalse();
            locker.rollback();
        }
        assertThat(cargoOn(0, "wait-%")).isEmpty();
        assertThat(cargoOn(1, "wait-%")).isEmpty();
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("DROP TABLE cargo");
            s.execute("DROP TABLE loose");
        }
    }

    @Test
    void aCopyToStdoutOfAShardedTableGivesEveryShardsRowsOnceAsOneTable() throws Exception {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE crate (k int PRIMARY KEY, v text, twice int GENERATED ALWAYS AS (k * 2) STORED)");
            s.execute("CREATE TABLE plain_list (v text)");
            s.execute("INSERT INTO plain_list VALUES ('only'), ('home')");
        }
        RouterClusters.awaitTable(cluster.nodes(), "crate");
        java.util.Set<String> expected = new java.util.HashSet<>();
        try (Connection c = DriverManager.getConnection(url);
                PreparedStatement ps = c.prepareStatement("INSERT INTO crate (k, v) VALUES (?, ?)")) {
            for (int k = 1; k <= 200; k++) {
                ps.setInt(1, k);
                ps.setString(2, k % 7 == 0 ? null : "v,\"" + k + "\ttab");
                ps.addBatch();
                expected.add(k + "\t" + (k % 7 == 0 ? "\\N" : "v,\"" + k + "\\ttab"));
            }
            ps.executeBatch();
        }
        assertThat(keysOn(0, "crate", "k")).as("rows on shard 0").isNotEmpty();
        assertThat(keysOn(1, "crate", "k")).as("rows on shard 1").isNotEmpty();
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            org.postgresql.copy.CopyManager copy =
                    c.unwrap(org.postgresql.PGConnection.class).getCopyAPI();
            // text: every row once, the generated column left out as COPY leaves it
            java.io.StringWriter text = new java.io.StringWriter();
            assertThat(copy.copyOut("COPY crate TO STDOUT", text)).isEqualTo(200);
            List<String> lines = List.of(text.toString().split("\n"));
            assertThat(lines).hasSize(200).doesNotHaveDuplicates();
            assertThat(new java.util.HashSet<>(lines)).isEqualTo(expected);
            // CSV with a header: one header line, first, however many shards gave theirs
            java.io.StringWriter csv = new java.io.StringWriter();
            assertThat(copy.copyOut("COPY crate (v, k) TO STDOUT WITH (FORMAT csv, HEADER, FORCE_QUOTE (v))", csv))
                    .isEqualTo(200);
            List<String> csvLines = List.of(csv.toString().split("\n"));
            assertThat(csvLines).hasSize(201);
            assertThat(csvLines.get(0)).isEqualTo("v,k");
            assertThat(csvLines.subList(1, 201)).noneMatch(l -> l.equals("v,k")).contains("\"v,\"\"3\ttab\",3");
            // the older option syntax, and binary: one file header, one trailer, loadable as it is
            java.io.ByteArrayOutputStream binary = new java.io.ByteArrayOutputStream();
            assertThat(copy.copyOut("COPY BINARY crate TO STDOUT", binary)).isEqualTo(200);
            try (Connection direct = cluster.primary(0).connect();
                    Statement d = direct.createStatement()) {
                d.execute("CREATE TEMPORARY TABLE crate_copy (k int, v text)");
                long loaded = direct.unwrap(org.postgresql.PGConnection.class)
                        .getCopyAPI()
                        .copyIn(
                                "COPY crate_copy FROM STDIN (FORMAT binary)",
                                new java.io.ByteArrayInputStream(binary.toByteArray()));
                assertThat(loaded).isEqualTo(200);
                assertThat(one(d, "SELECT count(DISTINCT k) || '/' || sum(k) || '/' || count(v) FROM crate_copy"))
                        .isEqualTo("200/20100/172");
            }
            java.io.StringWriter old = new java.io.StringWriter();
            copy.copyOut("COPY crate (k) TO STDOUT WITH CSV HEADER", old);
            assertThat(old.toString().split("\n")).hasSize(201).startsWith("k");
            // a query one shard answers runs there; one over several shards is refused, not half answered
            java.io.StringWriter keyed = new java.io.StringWriter();
            assertThat(copy.copyOut("COPY (SELECT k, twice FROM crate WHERE k = 14) TO STDOUT", keyed))
                    .isEqualTo(1);
            assertThat(keyed.toString()).isEqualTo("14\t28\n");
            assertThatThrownBy(() -> copy.copyOut(
                            "COPY (SELECT k FROM crate WHERE v IS NULL) TO STDOUT", new java.io.StringWriter()))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("not a query over several shards")
                    .extracting(e -> ((SQLException) e).getSQLState())
                    .isEqualTo("0A000");
            java.io.StringWriter home = new java.io.StringWriter();
            assertThat(copy.copyOut("COPY plain_list TO STDOUT", home)).isEqualTo(2);
            assertThat(home.toString()).isEqualTo("only\nhome\n");
            // an open COPY: nothing else runs until it is read or cancelled
            org.postgresql.copy.CopyOut open = copy.copyOut("COPY crate TO STDOUT");
            assertThat(open.readFromCopy()).isNotNull();
            assertThatSqlState(() -> s.executeQuery("SELECT 1")).isEqualTo("55000");
            open.cancelCopy();
            assertThat(open.isActive()).isFalse();
            // a cancelled stream does not read as one that ended
            assertThatSqlState(open::readFromCopy).isEqualTo("57014");
            assertThat(one(s, "SELECT count(*) FROM crate")).isEqualTo("200");
            // a reader blocked in its second shard's part (a lock there), cancelled from another thread: it fails
            // with 57014 at once, not when the lock goes, and the connection goes on
            int firstShardRows = keysOn(0, "crate", "k").size();
            try (Connection locker = cluster.primary(1).connect();
                    Statement lock = locker.createStatement()) {
                locker.setAutoCommit(false);
                lock.execute("LOCK TABLE crate IN ACCESS EXCLUSIVE MODE");
                org.postgresql.copy.CopyOut waiting = copy.copyOut("COPY crate TO STDOUT");
                java.util.concurrent.atomic.AtomicInteger read = new java.util.concurrent.atomic.AtomicInteger();
                java.util.concurrent.CompletableFuture<String> reader =
                        java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                            try {
                                while (waiting.readFromCopy() != null) {
                                    read.incrementAndGet();
                                }
                                return "ended";
                            } catch (SQLException e) {
                                return e.getSQLState();
                            }
                        });
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (read.get() < firstShardRows && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                assertThat(read.get()).isEqualTo(firstShardRows);
                awaitLockWait(1, "COPY crate");
                assertThat(reader).as("waiting on the lock").isNotDone();
                waiting.cancelCopy();
                assertThat(reader.get(10, TimeUnit.SECONDS)).isEqualTo("57014");
                assertThat(read.get()).isEqualTo(firstShardRows);
                locker.rollback();
            }
            assertThat(one(s, "SELECT count(*) FROM crate")).isEqualTo("200");
            // a column list without the key is still the sharded table's; another statement after it is refused
            java.io.StringWriter names = new java.io.StringWriter();
            assertThat(copy.copyOut("COPY crate (v) TO STDOUT", names)).isEqualTo(200);
            assertThatSqlState(() -> copy.copyOut("COPY crate TO STDOUT; DELETE FROM crate"))
                    .isEqualTo("0A000");
            assertThat(one(s, "SELECT count(*) FROM crate")).isEqualTo("200");
        }
        // in a transaction: its own uncommitted row is among the rows; rolled back, it is gone
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true")) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.executeUpdate("INSERT INTO crate (k, v) VALUES (1000, 'mine')");
            }
            java.io.StringWriter out = new java.io.StringWriter();
            assertThat(c.unwrap(org.postgresql.PGConnection.class).getCopyAPI().copyOut("COPY crate TO STDOUT", out))
                    .isEqualTo(201);
            assertThat(out.toString()).contains("1000\tmine\n");
            c.rollback();
            // bound by forKey: the bound shard's rows, as pgjdbc's COPY on that connection gives them
            c.setAutoCommit(true);
            c.unwrap(ShardlineConnection.class).forKey("crate", 3);
            int pinned = shardOf(3);
            java.io.StringWriter bound = new java.io.StringWriter();
            c.unwrap(org.postgresql.PGConnection.class).getCopyAPI().copyOut("COPY crate (k) TO STDOUT", bound);
            assertThat(bound.toString().lines().map(Long::valueOf).sorted().toList())
                    .isEqualTo(keysOn(pinned, "crate", "k").stream().sorted().toList());
        }
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("DROP TABLE crate");
            s.execute("DROP TABLE plain_list");
        }
    }

    @Test
    void aStatementRefusedInATransactionFailsItAsAnErrorFailsAPostgresqlTransaction() throws SQLException {
        int w0 = warehouseOn(0);
        int w1 = warehouseOn(1);
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.executeUpdate("INSERT INTO stock VALUES (990001, " + w0 + ", 1, 'kept')");
            s.executeUpdate("INSERT INTO stock VALUES (990001, " + w1 + ", 1, 'kept')");
            // without two-phase commit the second shard is refused; the application catches it and commits
            c.setAutoCommit(false);
            s.executeUpdate("UPDATE stock SET s_data = 'half' WHERE s_i_id = 990001 AND s_w_id = " + w0);
            assertThatSqlState(() -> s.executeUpdate(
                            "UPDATE stock SET s_data = 'half' WHERE s_i_id = 990001 AND s_w_id = " + w1))
                    .isEqualTo("0A000");
            assertThatSqlState(() -> s.executeQuery("SELECT 1 FROM stock WHERE s_w_id = " + w0))
                    .isEqualTo("25P02");
            c.commit();
            c.setAutoCommit(true);
            assertThat(one(s, "SELECT s_data FROM stock WHERE s_i_id = 990001 AND s_w_id = " + w0))
                    .as("the write before the refused statement")
                    .isEqualTo("kept");
            // a savepoint recovers it, as after any error
            c.setAutoCommit(false);
            s.executeUpdate("UPDATE stock SET s_data = 'saved' WHERE s_i_id = 990001 AND s_w_id = " + w0);
            java.sql.Savepoint before = c.setSavepoint("before");
            assertThatSqlState(() -> s.executeUpdate("UPDATE stock SET s_data = 'everywhere'"))
                    .isEqualTo("0A000");
            c.rollback(before);
            s.executeUpdate("UPDATE stock SET s_quantity = 2 WHERE s_i_id = 990001 AND s_w_id = " + w0);
            c.commit();
            c.setAutoCommit(true);
            assertThat(one(s, "SELECT s_data || s_quantity FROM stock WHERE s_i_id = 990001 AND s_w_id = " + w0))
                    .isEqualTo("saved2");
            // a cross-shard read failing on the shard the transaction has not reached (read apart from it)
            c.setAutoCommit(false);
            assertThat(one(s, "SELECT s_data FROM stock WHERE s_i_id = 990001 AND s_w_id = " + w0))
                    .isEqualTo("saved");
            assertThatSqlState(() -> s.executeQuery(
                            "SELECT count(*) FROM stock WHERE s_i_id = 990001 AND 1 / (s_w_id - " + w1 + ") > 0"))
                    .isEqualTo("22012");
            assertThatSqlState(() -> s.executeUpdate(
                            "UPDATE stock SET s_data = 'apart' WHERE s_i_id = 990001 AND s_w_id = " + w0))
                    .isEqualTo("25P02");
            c.rollback();
            c.setAutoCommit(true);
            // a savepoint set before the first statement (kept for it, as Spring's nested transactions set them)
            c.setAutoCommit(false);
            java.sql.Savepoint first = c.setSavepoint();
            assertThatSqlState(() -> s.executeUpdate("UPDATE stock SET s_data = 'everywhere'"))
                    .isEqualTo("0A000");
            c.rollback(first);
            s.executeUpdate("UPDATE stock SET s_quantity = 3 WHERE s_i_id = 990001 AND s_w_id = " + w0);
            c.commit();
            c.setAutoCommit(true);
            assertThat(one(s, "SELECT s_quantity FROM stock WHERE s_i_id = 990001 AND s_w_id = " + w0))
                    .isEqualTo("3");
            // refused before the transaction reached a shard: later statements fail until rollback
            c.setAutoCommit(false);
            assertThatSqlState(() -> s.executeUpdate("UPDATE stock SET s_data = 'everywhere'"))
                    .isEqualTo("0A000");
            assertThatSqlState(() -> s.executeUpdate(
                            "UPDATE stock SET s_data = 'after' WHERE s_i_id = 990001 AND s_w_id = " + w1))
                    .isEqualTo("25P02");
            c.rollback();
            s.executeUpdate("UPDATE stock SET s_data = 'after' WHERE s_i_id = 990001 AND s_w_id = " + w1);
            c.commit();
            c.setAutoCommit(true);
            assertThat(one(s, "SELECT s_data FROM stock WHERE s_i_id = 990001 AND s_w_id = " + w1))
                    .isEqualTo("after");
        }
        // on two shards under two-phase commit: after the refusal, neither shard takes a statement or commits
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            s.executeUpdate("UPDATE stock SET s_data = 'both' WHERE s_i_id = 990001 AND s_w_id = " + w0);
            s.executeUpdate("UPDATE stock SET s_data = 'both' WHERE s_i_id = 990001 AND s_w_id = " + w1);
            assertThatSqlState(() -> s.executeUpdate(
                            "UPDATE stock SET s_w_id = s_w_id + 1 WHERE s_i_id = 990001 AND s_w_id = " + w0))
                    .isEqualTo("0A000");
            assertThatSqlState(() ->
                            s.executeUpdate("UPDATE stock SET s_quantity = 9 WHERE s_i_id = 990001 AND s_w_id = " + w1))
                    .isEqualTo("25P02");
            assertThatSqlState(c::commit).isEqualTo("40000");
            c.setAutoCommit(true);
            assertThat(one(s, "SELECT string_agg(s_data, ',') FROM stock WHERE s_i_id = 990001"))
                    .doesNotContain("both");
            s.executeUpdate("DELETE FROM stock WHERE s_i_id = 990001 AND s_w_id = " + w0);
            s.executeUpdate("DELETE FROM stock WHERE s_i_id = 990001 AND s_w_id = " + w1);
        }
    }

    @Test
    void anIsolationLevelSetInAutocommitModeAppliesToAutocommitWritesAndLeavesReplicaReadsWorking()
            throws SQLException {
        int w0 = warehouseOn(0);
        try (Connection writer = DriverManager.getConnection(url);
                Statement s = writer.createStatement()) {
            s.executeUpdate("INSERT INTO stock VALUES (990002, " + w0 + ", 1, 'iso')");
        }
        cluster.awaitReplication(java.time.Duration.ofSeconds(30));
        // reads on the replicas (any lag, no read-your-writes)
        try (Connection c = DriverManager.getConnection(url + "&maxStalenessMs=-1&readYourWrites=false");
                Statement s = c.createStatement()) {
            c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
            // a hot standby refuses every query under SERIALIZABLE: reads on replicas must not get it
            for (int i = 0; i < 10; i++) {
                assertThat(one(s, "SELECT s_data FROM stock WHERE s_i_id = 990002 AND s_w_id = " + w0))
                        .isEqualTo("iso");
            }
            s.executeUpdate("UPDATE stock SET s_quantity = 2 WHERE s_i_id = 990002 AND s_w_id = " + w0);
            c.setAutoCommit(false);
            assertThat(one(s, "SHOW transaction_isolation")).isEqualTo("serializable");
            c.rollback();
            c.setAutoCommit(true);
            c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
            // the primary's connection no longer runs autocommit statements serializable
            assertThat(one(
                            s,
                            "SELECT current_setting('transaction_isolation') FROM stock WHERE s_i_id = 990002"
                                    + " AND s_w_id = " + w0 + " FOR UPDATE"))
                    .isEqualTo("read committed");
            s.executeUpdate("DELETE FROM stock WHERE s_i_id = 990002 AND s_w_id = " + w0);
        }
    }

    @Test
    void postgresqlsOwnFeatureNotSupportedInATransactionLeavesItRecoverableByASavepoint() throws SQLException {
        int w0 = warehouseOn(0);
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            s.executeUpdate("INSERT INTO stock VALUES (990003, " + w0 + ", 1, 'kept')");
            java.sql.Savepoint before = c.setSavepoint();
            // PostgreSQL's 0A000 (HikariCP's node pool evicted the physical connection for it: the transaction was
            // lost there and the rollback to the savepoint failed with 08003)
            assertThatSqlState(() -> s.executeQuery("SELECT count(*) FROM stock WHERE s_w_id = " + w0 + " FOR UPDATE"))
                    .isEqualTo("0A000");
            c.rollback(before);
            c.commit();
            assertThat(one(s, "SELECT s_data FROM stock WHERE s_i_id = 990003 AND s_w_id = " + w0))
                    .isEqualTo("kept");
            c.commit();
            c.setAutoCommit(true);
            s.executeUpdate("DELETE FROM stock WHERE s_i_id = 990003 AND s_w_id = " + w0);
        }
    }

    @Test
    void aSerializableDefaultSetBySqlLeavesReplicaReadsWorking() throws SQLException {
        int w0 = warehouseOn(0);
        try (Connection writer = DriverManager.getConnection(url);
                Statement s = writer.createStatement()) {
            s.executeUpdate("INSERT INTO stock VALUES (990004, " + w0 + ", 1, 'std')");
        }
        cluster.awaitReplication(java.time.Duration.ofSeconds(30));
        String read = "SELECT s_data FROM stock WHERE s_i_id = 990004 AND s_w_id = " + w0;
        try (Connection c = DriverManager.getConnection(url + "&maxStalenessMs=-1&readYourWrites=false");
                Statement s = c.createStatement()) {
            assertThat(one(s, read)).isEqualTo("std"); // a replica attached before the SET
            // replayed on the replicas, a serializable default made a hot standby refuse every query (0A000)
            s.execute("SET default_transaction_isolation = 'serializable'");
            assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_SERIALIZABLE);
            // replayed after it on a replica attached later (shard 1's): a query, run under the default set before
            s.execute("SELECT set_config('application_name', 'after-serializable', false)");
            assertThat(one(s, "SELECT count(*) FROM stock WHERE s_w_id = " + warehouseOn(1) + " AND s_i_id < 0"))
                    .isEqualTo("0");
            for (int i = 0; i < 10; i++) {
                assertThat(one(s, read)).isEqualTo("std");
            }
            c.setAutoCommit(false);
            assertThat(one(s, read + " FOR UPDATE")).isEqualTo("std");
            assertThat(one(s, "SHOW transaction_isolation")).isEqualTo("serializable");
            c.rollback();
            c.setAutoCommit(true);
            s.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE");
            for (int i = 0; i < 10; i++) {
                assertThat(one(s, read)).isEqualTo("std");
            }
        } finally {
            try (Connection c = DriverManager.getConnection(url);
                    Statement s = c.createStatement()) {
                s.executeUpdate("DELETE FROM stock WHERE s_i_id = 990004 AND s_w_id = " + w0);
            }
        }
    }

    @Test
    void anIsolationLevelSetInAutocommitModeAppliesOnAForKeyBindingToo() throws SQLException {
        int w1 = warehouseOn(1);
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            c.unwrap(ShardlineConnection.class).forKey("stock", w1);
            String level = "SELECT current_setting('transaction_isolation')";
            assertThat(one(s, level)).isEqualTo("read committed");
            c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
            // the bound connection's autocommit statements run at the level set (they kept the connection's before)
            assertThat(one(s, level)).isEqualTo("serializable");
            c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
            assertThat(one(s, level)).isEqualTo("read committed");
        }
    }

    @Test
    void aShardJoiningAfterTheDefaultLevelChangedRunsAtTheLevelTheTransactionStartedWith() throws SQLException {
        int w0 = warehouseOn(0);
        int w1 = warehouseOn(1);
        String level = "SELECT current_setting('transaction_isolation'), count(*) FROM stock WHERE s_w_id = ";
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            assertThat(one(s, level + w0)).isEqualTo("read committed");
            // PostgreSQL keeps the running transaction's level when the session's default changes
            s.execute("SET default_transaction_isolation = 'serializable'");
            assertThat(one(s, level + w1)).isEqualTo("read committed");
            c.rollback();
            assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_READ_COMMITTED);
            s.execute("SET default_transaction_isolation = 'repeatable read'");
            c.commit();
            assertThat(one(s, level + w1)).isEqualTo("repeatable read");
            assertThat(one(s, level + w0)).isEqualTo("repeatable read");
            c.rollback();
        }
    }

    @Test
    void twoSetSessionCharacteristicsOfDifferentModesAreBothReplayedOnANodeAttachedLater() throws SQLException {
        int w0 = warehouseOn(0);
        int w1 = warehouseOn(1);
        String level = "SELECT current_setting('transaction_isolation'), count(*) FROM stock WHERE s_w_id = ";
        try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            assertThat(one(s, level + w0)).isEqualTo("read committed");
            c.commit();
            s.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE");
            // one key for both kept only this one: shard 1, attached after, ran read committed
            s.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE");
            c.commit();
            assertThat(one(s, level + w1)).isEqualTo("serializable");
            assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_SERIALIZABLE);
            c.rollback();
        }
    }

    @Test
    void aCommitFailingInSetAutoCommitLeavesAutocommitOffSoThatRollbackWorks() throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE deferred_once (v int UNIQUE DEFERRABLE INITIALLY DEFERRED)");
            c.setAutoCommit(false);
            s.executeUpdate("INSERT INTO deferred_once VALUES (1), (1)");
            // the deferred check fails the commit setAutoCommit(true) makes: as pgjdbc, autocommit stays off
            assertThatSqlState(() -> c.setAutoCommit(true)).isEqualTo("23505");
            assertThat(c.getAutoCommit()).isFalse();
            c.rollback();
            c.setAutoCommit(true);
            assertThat(one(s, "SELECT count(*) FROM deferred_once")).isEqualTo("0");
            s.execute("DROP TABLE deferred_once");
        }
    }

    @Test
    void theLastOfSetTransactionIsolationAndSqlSetSessionCharacteristicsWins() throws SQLException {
        int w0 = warehouseOn(0);
        int w1 = warehouseOn(1);
        String level = "SELECT current_setting('transaction_isolation'), count(*) FROM stock WHERE s_w_id = ";
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
            c.setAutoCommit(false);
            assertThat(one(s, level + w0)).isEqualTo("serializable");
            c.commit();
            // as with pgjdbc, where both set the session's characteristic: the SQL, set last, wins on every shard
            s.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ");
            assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_REPEATABLE_READ);
            assertThat(one(s, level + w0)).isEqualTo("repeatable read");
            c.commit();
            assertThat(one(s, level + w1)).isEqualTo("repeatable read");
            c.commit();
            // a read-only default does not touch the level
            c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
            s.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE");
            assertThat(one(s, level + w1)).isEqualTo("serializable");
            c.commit();
            // undone with the transaction that set it: the level setTransactionIsolation set is back
            s.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED");
            assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_READ_COMMITTED);
            c.rollback();
            assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_SERIALIZABLE);
            assertThat(one(s, level + w0)).isEqualTo("serializable");
            c.commit();
            // a level set after a SET in the same (not yet started) transaction is not undone by its rollback: a
            // SERIALIZABLE retry loop keeps its level after the first rollback
            c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
            s.execute("SET search_path TO public");
            c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
            assertThat(one(s, level + w0)).isEqualTo("serializable");
            c.rollback();
            assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_SERIALIZABLE);
            assertThat(one(s, level + w0)).isEqualTo("serializable");
            c.commit();
            c.setAutoCommit(true);
            c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
        }
    }

    @FunctionalInterface
    private interface Call {
        void run() throws SQLException;
    }

    private static org.assertj.core.api.AbstractStringAssert<?> assertThatSqlState(Call call) {
        try {
            call.run();
        } catch (SQLException e) {
            return assertThat(e.getSQLState());
        }
        return assertThat("no error");
    }
}
