package io.shardline.topology;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.compose.LocalCluster;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@link KeyHash} against a live PostgreSQL on random values: every hash must be equal, bit for bit. */
class KeyHashIT {
    private static final int VALUES = 20_000;
    private static LocalCluster cluster;
    private static Connection connection;
    private final SplittableRandom random = new SplittableRandom(20261123);

    @BeforeAll
    static void start() throws SQLException {
        cluster = LocalCluster.builder()
                .name("keyhash")
                .shards(1)
                .hubs(0)
                .leaves(0)
                .start();
        connection = cluster.primary(0).connect();
    }

    @AfterAll
    static void stop() throws SQLException {
        if (connection != null) {
            connection.close();
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void int8() throws SQLException {
        List<Long> values = new ArrayList<>();
        values.addAll(List.of(0L, 1L, -1L, Long.MIN_VALUE, Long.MAX_VALUE, 1L << 32, -(1L << 32)));
        while (values.size() < VALUES) {
            // Mix full-range values with small ones, where the sign-folding of the halves matters.
            values.add(random.nextBoolean() ? random.nextLong() : random.nextLong(-100_000, 100_000));
        }
        assertMatchesServer("bigint", "hashint8extended", values.toArray(Long[]::new), v -> KeyHash.hashInt8((Long) v));
    }

    @Test
    void int4() throws SQLException {
        List<Integer> values = new ArrayList<>(List.of(0, 1, -1, Integer.MIN_VALUE, Integer.MAX_VALUE));
        while (values.size() < VALUES) {
            values.add(random.nextInt());
        }
        assertMatchesServer(
                "integer", "hashint4extended", values.toArray(Integer[]::new), v -> KeyHash.hashInt4((Integer) v));
        assertMatchesServer(
                "integer", "hashint8extended", values.toArray(Integer[]::new), v -> KeyHash.hashInt4((Integer) v));
    }

    @Test
    void textIncludingUnicode() throws SQLException {
        List<String> values = new ArrayList<>(List.of("", "a", "Grüße", "世界", "🚀🚀", "e\u0301"));
        while (values.size() < VALUES) {
            values.add(randomText(random.nextInt(0, 40)));
        }
        assertMatchesServer(
                "text", "hashtextextended", values.toArray(String[]::new), v -> KeyHash.hashText((String) v));
    }

    @Test
    void uuid() throws SQLException {
        List<UUID> values = new ArrayList<>(List.of(new UUID(0, 0), new UUID(-1, -1)));
        while (values.size() < VALUES) {
            values.add(new UUID(random.nextLong(), random.nextLong()));
        }
        assertMatchesServer("uuid", "uuid_hash_extended", values.toArray(UUID[]::new), v -> KeyHash.hashUuid((UUID) v));
    }

    private void assertMatchesServer(String sqlType, String function, Object[] values, Function<Object, Long> ours)
            throws SQLException {
        Array array = connection.createArrayOf(sqlType, values);
        String sql =
                "SELECT " + function + "(v, 0) FROM unnest(?::" + sqlType + "[]) WITH ORDINALITY AS t(v, n) ORDER BY n";
        int checked = 0;
        try (PreparedStatement ps = connection.prepareStatement(sql)) {
            ps.setArray(1, array);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    Object value = values[checked];
                    assertThat(ours.apply(value))
                            .as("%s(%s, 0)", function, value)
                            .isEqualTo(rs.getLong(1));
                    checked++;
                }
            }
        }
        assertThat(checked).isEqualTo(values.length);
    }

    /** Random text over ASCII, Latin, CJK and astral code points (no NUL: PostgreSQL text cannot hold it). */
    private String randomText(int codePoints) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < codePoints; i++) {
            int cp;
            switch (random.nextInt(4)) {
                case 0 -> cp = random.nextInt(0x20, 0x7f);
                case 1 -> cp = random.nextInt(0xa0, 0x800);
                case 2 -> cp = random.nextInt(0x4e00, 0x9fff);
                default -> cp = random.nextInt(0x1f300, 0x1faff);
            }
            sb.appendCodePoint(cp);
        }
        return sb.toString();
    }
}
