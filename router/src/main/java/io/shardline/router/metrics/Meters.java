package io.shardline.router.metrics;

/**
 * The driver's meters: name, type, tags (besides {@code cluster}, on every one) and meaning. The README's table is
 * generated from this list ({@link #markdownTable()}).
 */
public enum Meters {
    STATEMENTS(
            "shardline.statements",
            "timer",
            "kind, route, shard, role, outcome",
            "Statements the application ran (a prepared statement's batch counts once): kind (read, write, ddl, txn, session, utility),"
                    + " route (replica, primary, every_shard, cross_shard, driver, refused), shard (its id; several"
                    + " when it ran on more than one or none), role of the node (primary, hub, leaf, none), outcome"
                    + " (ok, error)."),
    FALLBACKS(
            "shardline.reads.fallbacks",
            "counter",
            "shard, reason",
            "Reads a replica could have served that went to the primary: no_replica, no_lag_report (no monitor"
                    + " publishing, or its reports older than lagFreshnessMs), lag_above_bound, not_replayed (the"
                    + " session's write, read-your-writes), ryw_timeout (not replayed within rywWaitMs), ejected."),
    RYW_WAITS(
            "shardline.reads.ryw.waits",
            "timer",
            "outcome",
            "Reads that waited for a replica to replay the session's write: replayed, or primary (gave up after"
                    + " rywWaitMs)."),
    FENCE_WAITS(
            "shardline.fence.waits",
            "timer",
            "outcome",
            "Writes held at a shard move's fence: passed (ran when it lifted), refused (40001 after fenceWaitMs)."),
    RETRIES(
            "shardline.retries",
            "counter",
            "reason",
            "Work the driver ran again: replica_unreachable (a read on a replica whose connection broke),"
                    + " cross_shard_rerouted, cross_shard_moved (a cutover during a cross-shard read),"
                    + " snapshot_retaken (an atomic read's snapshots saw a transaction half committed)."),
    EJECTIONS(
            "shardline.replicas.ejections",
            "counter",
            "node, shard",
            "Replicas taken out of the read rotation after a connection failure."),
    PROBES("shardline.replicas.probes", "counter", "node, outcome", "Probes of ejected replicas: up, down."),
    TWO_PHASE_COMMITS(
            "shardline.twophase.commits",
            "timer",
            "outcome",
            "Two-phase commits of transactions that wrote on several shards: committed, rolled_back, unknown"
                    + " (08007: the connection broke during the commit)."),
    RECOVERIES(
            "shardline.twophase.recoveries",
            "counter",
            "outcome",
            "Participants (one per shard) of in-doubt two-phase commits this driver's background recovery finished:"
                    + " committed, rolled_back."),
    ROWS_SHIPPED(
            "shardline.crossshard.rows",
            "distribution summary",
            "",
            "Rows each cross-shard read gathered from the shards for its final query (a spilled source's rows on the"
                    + " final node itself included)."),
    POOLS(
            "hikaricp.connections*",
            "gauges, timers",
            "pool",
            "HikariCP's own meters of each node's pool (pool = shardline-NODE, shardline-NODE-2... for a second"
                    + " runtime with pools to a node of that name): connections, active, idle, pending, acquire, usage,"
                    + " timeouts.");

    final String meter;
    private final String type;
    private final String tags;
    final String description;

    Meters(String meter, String type, String tags, String description) {
        this.meter = meter;
        this.type = type;
        this.tags = tags;
        this.description = description;
    }

    /**
     * Whether one of these meters appears in a Prometheus scrape under {@code name} (Micrometer's naming: a
     * timer's {@code _seconds_count}, {@code _seconds_sum} and {@code _seconds_max}, a counter's {@code _total}, a
     * distribution summary's {@code _count}, {@code _sum} and {@code _max}; HikariCP's {@code hikaricp_connections*}).
     */
    public static boolean exports(String name) {
        for (Meters m : values()) {
            String base = m.meter.replace('.', '_');
            boolean match = switch (m.type) {
                case "timer" ->
                    name.equals(base + "_seconds_count")
                            || name.equals(base + "_seconds_sum")
                            || name.equals(base + "_seconds_max");
                case "counter" -> name.equals(base + "_total");
                case "distribution summary" ->
                    name.equals(base + "_count") || name.equals(base + "_sum") || name.equals(base + "_max");
                default -> base.endsWith("*") && name.startsWith(base.substring(0, base.length() - 1));
            };
            if (match) {
                return true;
            }
        }
        return false;
    }

    /** The README's table of meters. */
    public static String markdownTable() {
        StringBuilder sb = new StringBuilder("| meter | type | tags | meaning |\n|---|---|---|---|\n");
        for (Meters m : values()) {
            sb.append("| `")
                    .append(m.meter)
                    .append("` | ")
                    .append(m.type)
                    .append(" | ")
                    .append(m.tags)
                    .append(" | ")
                    .append(m.description)
                    .append(" |\n");
        }
        return sb.toString();
    }
}
