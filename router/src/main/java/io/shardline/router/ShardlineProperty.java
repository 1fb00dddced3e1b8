package io.shardline.router;

import java.sql.SQLException;
import java.util.Arrays;
import java.util.Locale;
import java.util.Properties;
import java.util.stream.Collectors;

/**
 * Every property of a {@code jdbc:shardline:} URL, with its default and meaning. Properties come from the
 * URL's query string or the {@link Properties} given to {@code connect}; pgjdbc properties for the physical
 * connections are passed through with the prefix {@code pg.} (e.g. {@code pg.sslmode=require}).
 */
public enum ShardlineProperty {
    USER("user", null, "Database user for every node. Default: the cluster's user from the topology."),
    PASSWORD("password", null, "Database password. Never logged, never stored in ZooKeeper."),
    READ_FROM(
            "readFrom",
            "replica",
            "Where autocommit reads go: 'replica' (the shard's replicas, round-robin; the primary when it has none)"
                    + " or 'primary'. Per connection: SET shardline.read_from = 'primary'."),
    CONNECT_TIMEOUT_MS(
            "connectTimeoutMs",
            "10000",
            "Milliseconds to wait for ZooKeeper at connect, and for a connection to a node."),
    POOL_SIZE(
            "poolSize",
            "20",
            "Maximum physical connections per node (one HikariCP pool per node). A logical connection holds one"
                    + " physical connection per node it has used until it closes, so make this at least the"
                    + " application's own pool size."),
    ANALYSIS_CACHE_SIZE(
            "analysisCacheSize",
            "10000",
            "Statements whose analysis is cached, by SQL text. Prepared statements are analyzed once.");

    /** The prefix of pgjdbc properties passed through to the physical connections. */
    public static final String PGJDBC_PREFIX = "pg.";

    private final String name;
    private final String defaultValue;
    private final String description;

    ShardlineProperty(String name, String defaultValue, String description) {
        this.name = name;
        this.defaultValue = defaultValue;
        this.description = description;
    }

    public String getName() {
        return name;
    }

    public String getDefaultValue() {
        return defaultValue;
    }

    public String getDescription() {
        return description;
    }

    /** The value in {@code props}, or the default. */
    public String get(Properties props) {
        return props.getProperty(name, defaultValue);
    }

    /**
     * The value as a positive integer.
     *
     * @throws SQLException (22023) naming the property and the bad value
     */
    public int getPositiveInt(Properties props) throws SQLException {
        String value = get(props);
        try {
            int parsed = Integer.parseInt(value.trim());
            if (parsed > 0) {
                return parsed;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new SQLException(
                "property " + name + " must be a positive integer, not '" + value + "'", SqlStates.INVALID_PARAMETER);
    }

    /**
     * Checks that every key of {@code props} is a known property (or a {@code pg.} pass-through).
     *
     * @throws SQLException (22023) naming the unknown property and listing the known ones
     */
    public static void checkKnown(Properties props) throws SQLException {
        for (String key : props.stringPropertyNames()) {
            if (key.startsWith(PGJDBC_PREFIX) || forName(key) != null) {
                continue;
            }
            throw new SQLException(
                    "unknown property '" + key + "'; known: "
                            + Arrays.stream(values()).map(p -> p.name).collect(Collectors.joining(", "))
                            + ", and pgjdbc properties prefixed with '" + PGJDBC_PREFIX + "'",
                    SqlStates.INVALID_PARAMETER);
        }
        String readFrom = READ_FROM.get(props).toLowerCase(Locale.ROOT);
        if (!readFrom.equals("replica") && !readFrom.equals("primary")) {
            throw new SQLException(
                    "property readFrom must be 'replica' or 'primary', not '" + READ_FROM.get(props) + "'",
                    SqlStates.INVALID_PARAMETER);
        }
    }

    /** The README's property table, generated from this enum (ReadmeTest keeps the README in sync). */
    public static String markdownTable() {
        StringBuilder sb = new StringBuilder("| property | default | meaning |\n|---|---|---|\n");
        for (ShardlineProperty p : values()) {
            sb.append("| `")
                    .append(p.name)
                    .append("` | ")
                    .append(p.defaultValue == null ? "" : "`" + p.defaultValue + "`")
                    .append(" | ")
                    .append(p.description)
                    .append(" |\n");
        }
        return sb.append(
                        "| `pg.*` | | Passed to pgjdbc for the physical connections without the prefix, e.g. `pg.sslmode=require`. |\n")
                .toString();
    }

    /** The property of that name, or null. */
    public static ShardlineProperty forName(String name) {
        for (ShardlineProperty p : values()) {
            if (p.name.equals(name)) {
                return p;
            }
        }
        return null;
    }
}
