package io.shardline.router;

import java.sql.SQLException;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.stream.Collectors;
import org.postgresql.PGProperty;

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
            "Where autocommit reads go: 'replica' (a replica of the shard within maxStalenessMs, the one with fewer"
                    + " requests in flight of two drawn at random; the primary when none is) or 'primary'. Per"
                    + " connection: SET shardline.read_from = 'primary'."),
    MAX_STALENESS_MS(
            "maxStalenessMs",
            "1000",
            "How stale a replica read may be, in ms: a read goes to a replica whose lag, as measured by the replication"
                    + " monitor, plus the age of that measurement, is at most this; -1 reads any replica regardless of"
                    + " lag (a read that must see this session's write still needs a replica past its position, and"
                    + " not one a fresh lag report shows cut off from its upstream, as a replica left on an abandoned"
                    + " timeline after a failover is). Without a running monitor no lag is known and bounded reads go"
                    + " to the primary. Per connection: SET shardline.max_staleness = '200ms'."),
    FALLBACK(
            "fallback",
            "primary",
            "When no replica is within maxStalenessMs, or the replicas a read was sent to could not serve it"
                    + " (unreachable, or fallen behind while it waited for a connection): 'primary' (read from the"
                    + " primary) or 'error' (fail the read with SQLState 55000; nothing is sent to the primary)."),
    LAG_FRESHNESS_MS(
            "lagFreshnessMs",
            "2000",
            "A lag report older than this (the monitor stopped publishing) makes its replica ineligible for bounded"
                    + " reads."),
    READ_YOUR_WRITES(
            "readYourWrites",
            "true",
            "After a write commits on a shard, this connection's reads there go only to replicas known to have"
                    + " replayed it (else to the primary). The commit's position (pg_current_wal_insert_lsn(), one round trip)"
                    + " is read only when a replica could serve such a read, not per write."
                    + " Tokens move between connections with ShardlineConnection.causalToken() and SET"
                    + " shardline.causal_token."),
    RYW_WAIT_MS(
            "rywWaitMs",
            "0",
            "With readYourWrites, how long a read may wait for a replica to replay the session's writes (it polls"
                    + " the replica) before going to the primary; 0 goes to the primary at once."),
    REPLICA_WEIGHTS(
            "replicaWeights",
            null,
            "Relative share of reads per replica, e.g. 's0-hub1:3,s0-leaf1:1'; unlisted replicas weigh 1, weight 0"
                    + " takes no reads."),
    TWO_PHASE_COMMIT(
            "twoPhaseCommit",
            "false",
            "Let a transaction write on several shards: it commits with PostgreSQL's two-phase commit, the decision"
                    + " recorded in ZooKeeper (every primary needs max_prepared_transactions > 0). Off: a transaction"
                    + " that reaches a second shard fails with 0A000. Needs a ZooKeeper URL."),
    FENCE_WAIT_MS(
            "fenceWaitMs",
            "2000",
            "During a shard move's cutover, how long a write to a moving key range is held before it fails with"
                    + " SQLState 40001 (retry it); writes to other ranges are never held. A statement's query timeout,"
                    + " when shorter, ends the hold instead (SQLState 57014, the write not run)."),
    CONNECT_TIMEOUT_MS(
            "connectTimeoutMs",
            "10000",
            "Milliseconds to wait for ZooKeeper at connect, and for a connection to a node."),
    ZK_USER(
            "zkUser",
            null,
            "ZooKeeper digest user of a secured cluster: its router identity (./shardline zk secure prints it, a local"
                    + " cluster keeps it in its zookeeper-credentials.properties). Unset: none (an open cluster)."),
    ZK_PASSWORD("zkPassword", null, "Password of zkUser. Never logged."),
    ZK_TRUST_STORE(
            "zkTrustStore",
            null,
            "Reach ZooKeeper over TLS (its secure client port), its certificate signed by a CA of this file (PEM:"
                    + " .pem/.crt; or a .jks/.p12 store) and naming the host it is reached by. Unset: plain"
                    + " ZooKeeper."),
    ZK_TRUST_STORE_PASSWORD("zkTrustStorePassword", null, "Password of a .jks/.p12 zkTrustStore. Never logged."),
    POOL_SIZE(
            "poolSize",
            "20",
            "Maximum physical connections per node (one HikariCP pool per node). A logical connection holds one"
                    + " physical connection per node it has used until it closes, so make this at least the"
                    + " application's own pool size."),
    CROSS_SHARD_MAX_ROWS(
            "crossShardMaxRows",
            "1000000",
            "A read no single shard can answer fetches each shard's rows (or partial aggregates) and combines them on"
                    + " one node: it fails with SQLState 54000 when the shards return more rows than this, rather than"
                    + " exhaust memory. Aggregates of one table need only a few rows per group."),
    CROSS_SHARD_CONSISTENCY(
            "crossShardConsistency",
            "atomic",
            "'atomic': a cross-shard read sees every multi-shard (two-phase-commit) transaction whole or not at all:"
                    + " it reads every shard's primary in one snapshot per shard, checked and retaken while a"
                    + " transaction is committed on one shard and not yet on another (40001 after 5 s of that); a"
                    + " read-only REPEATABLE READ or SERIALIZABLE transaction takes such snapshots of every shard at"
                    + " its first statement and reads them throughout. 'relaxed': each shard read as it stands, from"
                    + " replicas under maxStalenessMs."),
    IDLE_CLOSE_MS(
            "idleCloseMs",
            "10000",
            "Connections with the same URL and credentials share one runtime (ZooKeeper session, node pools,"
                    + " threads); it closes this many ms after its last connection closed, unless a new one opens."),
    ANALYSIS_CACHE_SIZE(
            "analysisCacheSize",
            "10000",
            "Statements whose analysis is cached, by SQL text. Prepared statements are analyzed once."),
    METRICS(
            "metrics",
            "true",
            "Register the driver's meters (statements, fallbacks, waits, retries, two-phase commits, node pools) with"
                    + " Micrometer when it is on the class path: its global registry, or the one given to"
                    + " ShardlineMetrics.use(registry). false: none."),
    TRACING(
            "tracing",
            "true",
            "Make an OpenTelemetry span per statement (children per shard of a cross-shard read and per phase of a"
                    + " two-phase commit) when the OpenTelemetry API is on the class path, through the application's"
                    + " GlobalOpenTelemetry or ShardlineTracing.use(openTelemetry). false: none."),
    TRACE_QUERY_TEXT(
            "traceQueryText",
            "false",
            "Add each statement's text to its span (db.query.text), literals replaced by ? and comments removed.");

    /** The prefix of pgjdbc properties passed through to the physical connections. */
    public static final String PGJDBC_PREFIX = "pg.";

    /**
     * pgjdbc's properties that choose the node, database or protocol (the topology and the driver decide those), or
     * change what a transaction is behind the driver's back (autosave's savepoints: the driver fails a transaction
     * after an error as PostgreSQL does; read-only: Connection.setReadOnly).
     */
    private static final Set<PGProperty> NOT_PASSED = EnumSet.of(
            PGProperty.PG_HOST,
            PGProperty.PG_PORT,
            PGProperty.PG_DBNAME,
            PGProperty.REPLICATION,
            PGProperty.AUTOSAVE,
            PGProperty.READ_ONLY,
            PGProperty.READ_ONLY_MODE);

    /** Whether {@code value} of pgjdbc's {@code pg} may not be given: one of {@link #NOT_PASSED} but pgjdbc's default. */
    private static boolean refused(PGProperty pg, String value) {
        return NOT_PASSED.contains(pg)
                && (pg.getDefaultValue() == null || !pg.getDefaultValue().equalsIgnoreCase(value));
    }

    /**
     * The name under which {@code key} is passed to pgjdbc for the physical connections, or null when it is not: a
     * {@code pg.}-prefixed key without its prefix, or one of pgjdbc's own property names that is not one of the
     * driver's ({@code user}, {@code password}) and does not choose the node ({@code PGHOST}...).
     */
    public static String pgjdbcName(String key) {
        if (key.startsWith(PGJDBC_PREFIX)) {
            String name = key.substring(PGJDBC_PREFIX.length());
            PGProperty pg = PGProperty.forName(name);
            return pg != null && NOT_PASSED.contains(pg) ? null : name;
        }
        PGProperty pg = PGProperty.forName(key);
        return pg != null && forName(key) == null && !NOT_PASSED.contains(pg) ? key : null;
    }

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
     * The value as {@code true} or {@code false}.
     *
     * @throws SQLException (22023) naming the property and the bad value
     */
    public boolean getBoolean(Properties props) throws SQLException {
        String value = get(props).trim().toLowerCase(Locale.ROOT);
        if (value.equals("true") || value.equals("false")) {
            return value.equals("true");
        }
        throw new SQLException(
                "property " + name + " must be 'true' or 'false', not '" + get(props) + "'",
                SqlStates.INVALID_PARAMETER);
    }

    /**
     * The value as a whole number that is zero or more.
     *
     * @throws SQLException (22023) naming the property and the bad value
     */
    public long getNonNegativeLong(Properties props) throws SQLException {
        String value = get(props);
        try {
            long parsed = Long.parseLong(value.trim());
            if (parsed >= 0) {
                return parsed;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new SQLException(
                "property " + name + " must be a whole number >= 0, not '" + value + "'", SqlStates.INVALID_PARAMETER);
    }

    /**
     * The value as a whole number (which may be negative).
     *
     * @throws SQLException (22023) naming the property and the bad value
     */
    public long getLong(Properties props) throws SQLException {
        String value = get(props);
        try {
            return Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            throw new SQLException(
                    "property " + name + " must be a whole number, not '" + value + "'", SqlStates.INVALID_PARAMETER);
        }
    }

    /**
     * {@code replicaWeights} as node name to weight.
     *
     * @throws SQLException (22023) naming the malformed entry
     */
    public static Map<String, Integer> replicaWeights(Properties props) throws SQLException {
        String value = REPLICA_WEIGHTS.get(props);
        Map<String, Integer> weights = new HashMap<>();
        if (value == null || value.isBlank()) {
            return weights;
        }
        for (String entry : value.split(",")) {
            int colon = entry.lastIndexOf(':');
            String node = colon > 0 ? entry.substring(0, colon).trim() : "";
            int weight = -1;
            try {
                weight = colon > 0 ? Integer.parseInt(entry.substring(colon + 1).trim()) : -1;
            } catch (NumberFormatException e) {
                // reported below
            }
            if (node.isEmpty() || weight < 0) {
                throw new SQLException(
                        "property replicaWeights must be like 's0-hub1:3,s0-leaf1:1' (node:weight, weight >= 0), but"
                                + " has '" + entry.trim() + "'",
                        SqlStates.INVALID_PARAMETER);
            }
            weights.put(node, weight);
        }
        return weights;
    }

    /**
     * Checks that every key of {@code props} is a known property (or a {@code pg.} pass-through).
     *
     * @throws SQLException (22023) naming the unknown property and listing the known ones
     */
    public static void checkKnown(Properties props) throws SQLException {
        for (String key : props.stringPropertyNames()) {
            if (forName(key) != null) {
                continue;
            }
            PGProperty pg =
                    PGProperty.forName(key.startsWith(PGJDBC_PREFIX) ? key.substring(PGJDBC_PREFIX.length()) : key);
            if (pg != null && refused(pg, props.getProperty(key))) {
                throw new SQLException(
                        "pgjdbc's property '" + key + "' cannot be used through Shardline: the cluster's topology"
                                + " names each node and its database, the driver opens ordinary connections, fails a"
                                + " transaction after an error as PostgreSQL does (not autosave's savepoints), and"
                                + " takes read-only from Connection.setReadOnly",
                        SqlStates.INVALID_PARAMETER);
            }
            if (pg != null || key.startsWith(PGJDBC_PREFIX)) {
                continue;
            }
            throw new SQLException(
                    "unknown property '" + key + "'; known: "
                            + Arrays.stream(values()).map(p -> p.name).collect(Collectors.joining(", "))
                            + ", and pgjdbc properties prefixed with '" + PGJDBC_PREFIX + "'",
                    SqlStates.INVALID_PARAMETER);
        }
        String fallback = FALLBACK.get(props).toLowerCase(Locale.ROOT);
        if (!fallback.equals("primary") && !fallback.equals("error")) {
            throw new SQLException(
                    "property fallback must be 'primary' or 'error', not '" + FALLBACK.get(props) + "'",
                    SqlStates.INVALID_PARAMETER);
        }
        String consistency = CROSS_SHARD_CONSISTENCY.get(props).toLowerCase(Locale.ROOT);
        if (!consistency.equals("atomic") && !consistency.equals("relaxed")) {
            throw new SQLException(
                    "property crossShardConsistency must be 'atomic' or 'relaxed', not '"
                            + CROSS_SHARD_CONSISTENCY.get(props) + "'",
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
                        "| `pg.*` | | Passed to pgjdbc for the physical connections without the prefix, e.g. `pg.sslmode=require`."
                                + " pgjdbc's own property names pass through unprefixed too (`sslmode`, `ApplicationName`,"
                                + " `reWriteBatchedInserts`, `stringtype`...), as an application moving from"
                                + " `jdbc:postgresql:` has them; not `PGHOST`, `PGPORT`, `PGDBNAME`, `replication` (the"
                                + " topology names the nodes), `autosave`, `readOnly`, `readOnlyMode` but at pgjdbc's defaults (the"
                                + " driver keeps transactions and read-only mode itself), prefixed or not |\n")
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
