package io.shardline.sqltests;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.UUID;

/**
 * The rows every case reads, loaded identically through the driver (batches routed row by row) and into the
 * reference PostgreSQL. Deterministic: the same rows on every run.
 */
final class Dataset {
    static final int USERS = 300;
    static final String[] TENANTS = {"acme", "globex", "initech", "umbrella", "hooli", "ünïcode-租户", "O'Reilly"};
    static final String[] QUEUES = {"mail", "billing", "search"};
    private static final OffsetDateTime EPOCH = OffsetDateTime.of(2024, 1, 1, 0, 0, 0, 0, ZoneOffset.UTC);

    private Dataset() {}

    /** The uuid of device {@code n}, also used by the cases. */
    static UUID device(int n) {
        return UUID.nameUUIDFromBytes(("device-" + n).getBytes(StandardCharsets.UTF_8));
    }

    static void load(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO users (user_id, name, email, status, score,"
                + " created_at, tags, doc) VALUES (?, ?, ?, ?::user_status, ?, ?, ?, ?::jsonb)")) {
            for (int i = 1; i <= USERS; i++) {
                ps.setLong(1, i);
                ps.setString(2, "user-" + i);
                ps.setString(3, i % 10 == 0 ? null : "u" + i + "@example.com");
                ps.setString(4, i % 7 == 0 ? "banned" : i % 3 == 0 ? "new" : "active");
                ps.setInt(5, (i * 37) % 101);
                ps.setObject(6, EPOCH.plusHours(i * 5L));
                ps.setArray(
                        7,
                        c.createArrayOf(
                                "text", i % 2 == 0 ? new String[] {"even", "t" + (i % 5)} : new String[] {"odd"}));
                ps.setString(
                        8,
                        "{\"level\": " + (i % 5) + ", \"vip\": " + (i % 11 == 0) + ", \"prefs\": {\"lang\": \""
                                + (i % 3 == 0 ? "fr" : "en") + "\"}, \"history\": [" + i + ", " + (i * 2) + "]}");
                ps.addBatch();
            }
            ps.executeBatch();
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO orders (user_id, order_id, amount, status,"
                + " created_at, items) VALUES (?, ?, ?, ?, ?, ?::jsonb)")) {
            for (int u = 1; u <= USERS; u++) {
                for (int o = 1; o <= 1 + u % 5; o++) {
                    ps.setLong(1, u);
                    ps.setInt(2, o);
                    ps.setBigDecimal(3, new java.math.BigDecimal((u * 13 + o * 7) % 500 + "." + (o * 11) % 100));
                    ps.setString(4, o % 3 == 0 ? "refunded" : o % 2 == 0 ? "shipped" : "paid");
                    ps.setObject(5, EPOCH.plusDays(u).plusMinutes(o * 17L));
                    ps.setString(6, "[{\"sku\": \"S" + (o * u % 17) + "\", \"qty\": " + (1 + o % 3) + "}]");
                    ps.addBatch();
                }
            }
            ps.executeBatch();
        }
        try (PreparedStatement ps =
                c.prepareStatement("INSERT INTO events (tenant, event_id, kind, payload) VALUES (?, ?, ?, ?::jsonb)")) {
            for (String tenant : TENANTS) {
                for (int e = 1; e <= 40; e++) {
                    ps.setString(1, tenant);
                    ps.setLong(2, e);
                    ps.setString(3, e % 4 == 0 ? "login" : e % 3 == 0 ? "purchase" : "view");
                    ps.setString(4, "{\"n\": " + e + ", \"src\": \"" + (e % 2 == 0 ? "web" : "app") + "\"}");
                    ps.addBatch();
                }
            }
            ps.executeBatch();
        }
        try (PreparedStatement ps =
                c.prepareStatement("INSERT INTO devices (device_id, owner, model, meta) VALUES (?, ?, ?, ?::jsonb)")) {
            for (int d = 1; d <= 60; d++) {
                ps.setObject(1, device(d));
                ps.setLong(2, d % USERS + 1);
                ps.setString(3, d % 3 == 0 ? "pixel" : d % 2 == 0 ? "iphone" : "fairphone");
                ps.setString(4, "{\"os\": \"" + (d % 2 == 0 ? "ios" : "android") + "\", \"v\": " + (d % 9) + "}");
                ps.addBatch();
            }
            ps.executeBatch();
        }
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO \"Accounts\" (\"AccountId\", \"Balance\", \"Owner Name\") VALUES (?, ?, ?)")) {
            for (int a = 1; a <= 50; a++) {
                ps.setLong(1, a);
                ps.setBigDecimal(2, new java.math.BigDecimal(a * 100 + ".50"));
                ps.setString(3, "Owner " + a);
                ps.addBatch();
            }
            ps.executeBatch();
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO jobs (queue, job_id, state) VALUES (?, ?, ?)")) {
            for (String q : QUEUES) {
                for (int j = 1; j <= 20; j++) {
                    ps.setString(1, q);
                    ps.setLong(2, j);
                    ps.setString(3, j % 4 == 0 ? "done" : "ready");
                    ps.addBatch();
                }
            }
            ps.executeBatch();
        }
        try (Statement s = c.createStatement()) {
            s.executeUpdate("INSERT INTO countries VALUES ('fr', 'France'), ('de', 'Germany'), ('jp', 'Japan')");
        }
    }
}
