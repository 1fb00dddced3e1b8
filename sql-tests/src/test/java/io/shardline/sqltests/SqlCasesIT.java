package io.shardline.sqltests;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.compose.LocalCluster;
import io.shardline.compose.ReplicationWaiter;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import tools.jackson.core.type.TypeReference;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * Runs every case of {@code cases/*.yaml} through the driver on a 2-shard cascading cluster and on a plain
 * PostgreSQL holding the same rows: results must be equal (in order where the SQL orders them, else as
 * multisets), and every refused case must fail with its documented SQLState.
 */
class SqlCasesIT {
    static final List<ShardedTable> SHARDED = List.of(
            new ShardedTable("public", "users", "user_id", KeyType.INTEGER),
            new ShardedTable("public", "orders", "user_id", KeyType.INTEGER),
            new ShardedTable("public", "notes", "user_id", KeyType.INTEGER),
            new ShardedTable("public", "events", "tenant", KeyType.TEXT),
            new ShardedTable("public", "jobs", "queue", KeyType.TEXT),
            new ShardedTable("public", "devices", "device_id", KeyType.UUID),
            new ShardedTable("public", "Accounts", "AccountId", KeyType.INTEGER));
    private static final String[] CASE_FILES = {
        "point-reads.yaml",
        "writes.yaml",
        "clients.yaml",
        "orm.yaml",
        "types.yaml",
        "transactions.yaml",
        "session.yaml",
        "refused.yaml",
        "cross-shard.yaml",
        "adversarial.yaml",
        "reads.yaml",
        "orm-writes.yaml",
        "heldout3.yaml",
        "heldout4.yaml",
        "heldout5.yaml",
        "heldout6.yaml",
        "heldout7.yaml",
        "heldout8.yaml",
        "heldout9.yaml",
        "heldout10.yaml"
    };

    private static LocalCluster cluster;
    private static LocalCluster reference;
    /** After each case that wrote (~860 of the runs): its connections kept, not opened per wait. */
    private static ReplicationWaiter replicated;

    private static Connection driver;
    private static Connection plain;
    private static int same;
    private static final List<String> refused = new ArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        cluster = LocalCluster.builder()
                .name("sqltests")
                .shards(2)
                .hubs(1)
                .leaves(1)
                .start();
        reference = LocalCluster.builder()
                .name("reference")
                .shards(1)
                .hubs(0)
                .leaves(0)
                .start();
        RouterClusters.publish(cluster, SHARDED);
        driver = DriverManager.getConnection(cluster.shardlineUrl() + "?maxStalenessMs=-1");
        plain = reference.primary(0).connect();
        String schema = resource("schema.sql");
        for (String ddl : schema.split(";\\s*\\n")) {
            String sql = ddl.replaceAll("(?m)^--.*$", "").trim();
            if (!sql.isEmpty()) {
                try (Statement a = driver.createStatement();
                        Statement b = plain.createStatement()) {
                    a.execute(sql);
                    b.execute(sql);
                }
            }
        }
        Dataset.load(driver);
        Dataset.load(plain);
        replicated = cluster.replicationWaiter();
        replicated.await(Duration.ofSeconds(30));
    }

    @AfterAll
    static void stop() throws SQLException {
        System.out.printf(
                "sql-tests: %d case(s) equal to the reference, %d refused as documented%n", same, refused.size());
        refused.forEach(r -> System.out.println("  refused: " + r));
        if (replicated != null) {
            replicated.close();
        }
        if (driver != null) {
            driver.close();
        }
        if (plain != null) {
            plain.close();
        }
        ShardlineDriver.closeAll();
        if (cluster != null) {
            cluster.close();
        }
        if (reference != null) {
            reference.close();
        }
    }

    @TestFactory
    Stream<DynamicTest> cases() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (String file : CASE_FILES) {
            List<SqlCase> cases =
                    new YAMLMapper().readValue(resource("cases/" + file), new TypeReference<List<SqlCase>>() {});
            for (SqlCase declared : cases) {
                for (SqlCase c : declared.expand()) {
                    tests.add(DynamicTest.dynamicTest(file + ": " + c.name(), () -> run(c)));
                }
            }
        }
        assertThat(tests).hasSizeGreaterThanOrEqualTo(200);
        return tests.stream();
    }

    private static void run(SqlCase c) throws Exception {
        String error = c.expectedError();
        if (error != null) {
            Result r = c.steps() != null ? steps(driver, c) : execute(driver, c);
            if (c.steps() != null) {
                String last = r.rows().get(r.rows().size() - 1).get(0);
                r = last.startsWith("error ") ? Result.error(last.substring(6).split(":")[0], last) : r;
            }
            assertThat(r.sqlState())
                    .as("%s should be refused with %s, got %s", c.sql(), error, r)
                    .isEqualTo(error);
            refused.add(c.name() + ": " + r.error());
            return;
        }
        Result expected = c.steps() != null ? steps(plain, c) : execute(plain, c);
        Result actual = c.steps() != null ? steps(driver, c) : execute(driver, c);
        if (c.writes()) {
            replicated.await(Duration.ofSeconds(30));
        }
        if (!c.isOrdered()) {
            expected = expected.unordered();
            actual = actual.unordered();
        }
        assertThat(actual.comparable())
                .as("%s%n driver:    %s%n reference: %s", c.sql(), actual, expected)
                .isEqualTo(expected.comparable());
        same++;
    }

    /** Runs the steps in one transaction; the result is every step's result, in order. */
    private static Result steps(Connection conn, SqlCase c) throws SQLException {
        List<List<String>> all = new ArrayList<>();
        conn.setAutoCommit(false);
        try {
            for (SqlCase step : c.steps()) {
                Result r = execute(conn, step);
                all.add(List.of(String.valueOf(step.isOrdered() ? r : r.unordered())));
            }
            conn.commit();
        } catch (SQLException e) {
            conn.rollback();
            all.add(List.of("error " + e.getSQLState()));
        } finally {
            conn.setAutoCommit(true);
        }
        return new Result(List.of("steps"), all, -1, null, null);
    }

    private static Result execute(Connection conn, SqlCase c) {
        try {
            if (c.batch() != null) {
                try (PreparedStatement ps = conn.prepareStatement(c.sql())) {
                    for (List<Object> row : c.batch()) {
                        bind(conn, ps, row);
                        ps.addBatch();
                    }
                    int[] counts = ps.executeBatch();
                    return new Result(
                            List.of("batch"),
                            List.of(Arrays.stream(counts)
                                    .mapToObj(String::valueOf)
                                    .toList()),
                            -1,
                            null,
                            null);
                }
            }
            if (c.generatedKeys() != null) {
                try (PreparedStatement ps =
                        conn.prepareStatement(c.sql(), c.generatedKeys().toArray(String[]::new))) {
                    bind(conn, ps, c.params());
                    int count = ps.executeUpdate();
                    try (ResultSet keys = ps.getGeneratedKeys()) {
                        Result r = rows(keys);
                        return new Result(r.columns(), r.rows(), count, null, null);
                    }
                }
            }
            try (PreparedStatement ps = conn.prepareStatement(c.sql())) {
                bind(conn, ps, c.params());
                if (ps.execute()) {
                    try (ResultSet rs = ps.getResultSet()) {
                        return rows(rs);
                    }
                }
                return new Result(List.of(), List.of(), ps.getUpdateCount(), null, null);
            }
        } catch (SQLException e) {
            return Result.error(e.getSQLState(), e.getMessage());
        }
    }

    private static Result rows(ResultSet rs) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        List<String> columns = new ArrayList<>();
        for (int i = 1; i <= md.getColumnCount(); i++) {
            columns.add(md.getColumnLabel(i) + ":" + md.getColumnTypeName(i));
        }
        List<List<String>> rows = new ArrayList<>();
        while (rs.next()) {
            List<String> row = new ArrayList<>();
            for (int i = 1; i <= md.getColumnCount(); i++) {
                row.add(rs.getString(i));
            }
            rows.add(row);
        }
        return new Result(columns, rows, -1, null, null);
    }

    /**
     * Binds YAML values: numbers, strings, booleans, null, and typed maps {@code {uuid: ...}},
     * {@code {timestamptz: ...}}, {@code {array: type, values: [...]}}, {@code {device: n}}, {@code {nullOf: type}}.
     */
    @SuppressWarnings("unchecked")
    private static void bind(Connection conn, PreparedStatement ps, List<Object> params) throws SQLException {
        for (int i = 0; i < params.size(); i++) {
            Object p = params.get(i);
            int index = i + 1;
            if (p == null) {
                ps.setNull(index, Types.NULL);
            } else if (p instanceof Integer n) {
                ps.setInt(index, n);
            } else if (p instanceof Long n) {
                ps.setLong(index, n);
            } else if (p instanceof Map<?, ?> m) {
                Map<String, Object> typed = (Map<String, Object>) m;
                if (typed.containsKey("uuid")) {
                    ps.setObject(index, UUID.fromString((String) typed.get("uuid")));
                } else if (typed.containsKey("device")) {
                    ps.setObject(index, Dataset.device(((Number) typed.get("device")).intValue()));
                } else if (typed.containsKey("timestamptz")) {
                    ps.setObject(index, OffsetDateTime.parse((String) typed.get("timestamptz")));
                } else if (typed.containsKey("array")) {
                    ps.setArray(
                            index,
                            conn.createArrayOf(
                                    (String) typed.get("array"), ((List<Object>) typed.get("values")).toArray()));
                } else if (typed.containsKey("nullOf")) {
                    ps.setNull(index, typed.get("nullOf").equals("bigint") ? Types.BIGINT : Types.VARCHAR);
                } else {
                    throw new IllegalArgumentException("unknown typed parameter " + typed);
                }
            } else {
                ps.setObject(index, p);
            }
        }
    }

    private static String resource(String name) throws IOException {
        try (InputStream in = SqlCasesIT.class.getResourceAsStream("/" + name)) {
            if (in == null) {
                throw new IOException("missing test resource " + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
