package io.shardline.router.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineConnection;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.KeyType;
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
 * Reads no single shard can answer, through the JDBC surface the sql-tests corpus does not reach: plain
 * statements (literals, the jsonb {@code ?} operator), {@code execute()} + {@code getResultSet()}, a transaction
 * reading its own uncommitted write, EXPLAIN ROUTE, the row limit, a forKey binding. The answers of the
 * corpus itself are compared with a reference PostgreSQL in sql-tests.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class CrossShardReadIT {
    private static LocalCluster cluster;
    private static String url;

    @BeforeAll
    static void start() throws SQLException {
        cluster =
                LocalCluster.builder().name("xread").shards(2).hubs(0).leaves(0).start();
        RouterClusters.publish(
                cluster,
                List.of(
                        new ShardedTable("public", "items", "id", KeyType.INTEGER),
                        new ShardedTable("public", "words", "id", KeyType.INTEGER)));
        url = cluster.shardlineUrl();
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE items (id bigint PRIMARY KEY, grp int NOT NULL, price int NOT NULL,"
                    + " doc jsonb NOT NULL)");
            try (PreparedStatement insert =
                    c.prepareStatement("INSERT INTO items (id, grp, price, doc) VALUES (?, ?, ?, ?::jsonb)")) {
                for (int id = 1; id <= 100; id++) {
                    insert.setLong(1, id);
                    insert.setInt(2, id % 4);
                    insert.setInt(3, id);
                    insert.setString(4, id % 10 == 0 ? "{\"flag\": true}" : "{}");
                    insert.executeUpdate();
                }
            }
        }
        for (int shard = 0; shard < 2; shard++) {
            try (Connection c = cluster.primary(shard).connect();
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT count(*) FROM items")) {
                rs.next();
                assertThat(rs.getInt(1)).as("rows on shard %d", shard).isBetween(1, 99);
            }
        }
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void plainStatementsAggregateEveryShard() throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            assertThat(rows(s.executeQuery(
                            "SELECT grp, count(*), sum(price), avg(price) FROM items GROUP BY grp" + " ORDER BY grp")))
                    .containsExactly(
                            "0|25|1300|52.0000000000000000",
                            "1|25|1225|49.0000000000000000",
                            "2|25|1250|50.0000000000000000",
                            "3|25|1275|51.0000000000000000");
            assertThat(rows(s.executeQuery("SELECT count(*) FROM items WHERE doc ? 'flag'")))
                    .containsExactly("10");
            assertThat(s.execute("SELECT string_agg(id::text, ',' ORDER BY id) FROM items WHERE price > 96"))
                    .isTrue();
            assertThat(rows(s.getResultSet())).containsExactly("97,98,99,100");
            ResultSet labelled = s.executeQuery("SELECT count(*), max(price) AS top FROM items");
            assertThat(labelled.getMetaData().getColumnLabel(1)).isEqualTo("count");
            assertThat(labelled.getMetaData().getColumnLabel(2)).isEqualTo("top");
            assertThat(labelled.getMetaData().getColumnTypeName(1)).isEqualTo("int8");
            assertThat(rows(labelled)).containsExactly("100|100");
        }
    }

    @Test
    void preparedReadsDescribeTheStatementNotTheFinalQuery() throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                PreparedStatement ps = c.prepareStatement(
                        "SELECT grp, max(price) FROM items WHERE price < ? GROUP BY grp" + " ORDER BY grp")) {
            ps.setInt(1, 10);
            assertThat(rows(ps.executeQuery())).containsExactly("0|8", "1|9", "2|6", "3|7");
            assertThat(ps.getParameterMetaData().getParameterCount()).isEqualTo(1);
            assertThat(ps.getMetaData().getColumnLabel(2)).isEqualTo("max");
            ps.setInt(1, 3);
            assertThat(rows(ps.executeQuery())).containsExactly("1|1", "2|2");
        }
    }

    /**
     * Rows travel between the nodes as text and are cast back to their types in the final query: a column's own
     * collation (here ICU's root order, and a nondeterministic case-insensitive one, where the database's default is
     * "C") must come back with them, or ORDER BY, min/max, DISTINCT and GROUP BY across shards differ from one
     * PostgreSQL.
     */
    @Test
    void aColumnsOwnCollationOrdersComparesAndGroupsAcrossShards() throws SQLException {
        String[] words = {"apple", "Apple", "banana", "Banana", "cherry", "Zed", "_x", "eclair", "\u00e9clair"};
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE COLLATION case_insensitive (provider = icu, locale = 'und-u-ks-level2',"
                    + " deterministic = false)");
            // no column has a collation of its own yet: a COLLATE in the statement still comes with the rows
            assertThat(rows(s.executeQuery("SELECT DISTINCT CASE WHEN id % 2 = 0 THEN 'A' ELSE 'a' END COLLATE"
                            + " case_insensitive AS v FROM items")))
                    .hasSize(1);
            s.execute("CREATE TABLE words (id bigint PRIMARY KEY, w text COLLATE \"und-x-icu\" NOT NULL,"
                    + " ci text COLLATE case_insensitive NOT NULL)");
            try (PreparedStatement insert = c.prepareStatement("INSERT INTO words (id, w, ci) VALUES (?, ?, ?)")) {
                for (int i = 0; i < words.length; i++) {
                    insert.setLong(1, i + 1);
                    insert.setString(2, words[i]);
                    insert.setString(3, words[i]);
                    insert.executeUpdate();
                }
            }
        }
        StringBuilder values = new StringBuilder();
        for (String w : words) {
            values.append(values.length() == 0 ? "" : ", ")
                    .append("('")
                    .append(w)
                    .append("')");
        }
        List<String> ordered;
        List<String> groups;
        String range;
        long distinct;
        // what one PostgreSQL answers over the same values
        try (Connection direct = cluster.primary(0).connect();
                Statement s = direct.createStatement()) {
            String v = "(VALUES " + values + ") AS v(x)";
            ordered = rows(s.executeQuery("SELECT x COLLATE \"und-x-icu\" AS w FROM " + v + " ORDER BY 1"));
            range = rows(s.executeQuery("SELECT min(x COLLATE \"und-x-icu\"), max(x COLLATE \"und-x-icu\") FROM " + v))
                    .get(0);
            groups = rows(s.executeQuery("SELECT upper(min(x COLLATE case_insensitive)), count(*) FROM " + v
                    + " GROUP BY x COLLATE case_insensitive ORDER BY 1"));
            distinct =
                    Long.parseLong(rows(s.executeQuery("SELECT count(DISTINCT x COLLATE case_insensitive) FROM " + v))
                            .get(0));
        }
        assertThat(ordered)
                .as("ICU's order differs from C's")
                .isNotEqualTo(ordered.stream().sorted().toList());
        assertThat(distinct).isLessThan(words.length);
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            assertThat(rows(s.executeQuery("SELECT w FROM words ORDER BY w"))).isEqualTo(ordered);
            assertThat(rows(s.executeQuery("SELECT w FROM words ORDER BY w LIMIT 4")))
                    .isEqualTo(ordered.subList(0, 4));
            assertThat(rows(s.executeQuery("SELECT w FROM words WHERE id > 0 ORDER BY w DESC LIMIT 3")))
                    .containsExactly(
                            ordered.get(ordered.size() - 1),
                            ordered.get(ordered.size() - 2),
                            ordered.get(ordered.size() - 3));
            assertThat(rows(s.executeQuery("SELECT min(w), max(w) FROM words"))).containsExactly(range);
            assertThat(rows(s.executeQuery("SELECT upper(min(ci)), count(*) FROM words GROUP BY ci ORDER BY 1")))
                    .isEqualTo(groups);
            assertThat(rows(s.executeQuery("SELECT count(DISTINCT ci) FROM words")))
                    .containsExactly(String.valueOf(distinct));
        }
    }

    @Test
    void aTransactionReadsItsOwnWriteAcrossShards() throws SQLException {
        try (Connection c = DriverManager.getConnection(url)) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE items SET price = price + 1000 WHERE id = 7");
                assertThat(rows(s.executeQuery("SELECT sum(price) FROM items"))).containsExactly("6050");
            } finally {
                c.rollback();
            }
            try (Statement s = c.createStatement()) {
                assertThat(rows(s.executeQuery("SELECT sum(price) FROM items"))).containsExactly("5050");
            }
            c.commit();
        }
    }

    @Test
    void explainRouteNamesEveryShardAndWhatItComputes() throws SQLException {
        try (Connection c = DriverManager.getConnection(url)) {
            List<ShardlineConnection.RouteExplanation> route =
                    c.unwrap(ShardlineConnection.class).explainRoute("SELECT grp, count(*) FROM items GROUP BY grp");
            assertThat(route).hasSize(2);
            assertThat(route.get(0).reason()).contains("cross-shard read", "partial aggregates of public.items");
            assertThat(route).anySatisfy(r -> assertThat(r.reason()).contains("the final query runs here"));
            assertThat(c.unwrap(ShardlineConnection.class)
                            .explainRoute("SELECT * FROM items WHERE id IN (?, ?, ?, ?)", 1, 2, 3, 4)
                            .get(0)
                            .reason())
                    .contains("map to several shards", "rows of public.items, selected on each shard");
        }
    }

    @Test
    void tooManyRowsFailWithTheLimitNamed() throws SQLException {
        try (Connection c = DriverManager.getConnection(url + "?crossShardMaxRows=50");
                Statement s = c.createStatement()) {
            assertThatThrownBy(() -> s.executeQuery("SELECT count(DISTINCT price) FROM items"))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("crossShardMaxRows")
                    .extracting(e -> ((SQLException) e).getSQLState())
                    .isEqualTo("54000");
            assertThat(rows(s.executeQuery("SELECT count(DISTINCT price) FROM items WHERE price <= 40")))
                    .containsExactly("40");
            assertThat(rows(s.executeQuery("SELECT count(*) FROM items"))).containsExactly("100");
        }
    }

    @Test
    void errorsKeepPostgresqlsState() throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            assertThatThrownBy(() -> s.executeQuery("SELECT count(nope) FROM items"))
                    .isInstanceOf(SQLException.class)
                    .extracting(e -> ((SQLException) e).getSQLState())
                    .isEqualTo("42703");
            assertThatThrownBy(() -> s.executeQuery("WITH items AS (SELECT 1) SELECT * FROM items, public.items"))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("CTE named items")
                    .extracting(e -> ((SQLException) e).getSQLState())
                    .isEqualTo("0A000");
            ShardlineConnection bound = c.unwrap(ShardlineConnection.class).forKey("items", 1L);
            assertThatThrownBy(() -> s.executeQuery("SELECT count(*) FROM items"))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("unbind()");
            bound.unbind();
            assertThat(rows(s.executeQuery("SELECT count(*) FROM items"))).containsExactly("100");
        }
    }

    private static List<String> rows(ResultSet rs) throws SQLException {
        List<String> out = new ArrayList<>();
        try (rs) {
            int n = rs.getMetaData().getColumnCount();
            while (rs.next()) {
                StringBuilder row = new StringBuilder();
                for (int i = 1; i <= n; i++) {
                    row.append(i == 1 ? "" : "|").append(rs.getString(i));
                }
                out.add(row.toString());
            }
        }
        return out;
    }
}
