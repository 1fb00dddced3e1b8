package io.shardline.topology;

import java.util.Map;

/**
 * The replication lag of every replica as last published by the monitor, keyed by node name. Immutable;
 * a change in ZooKeeper produces a new snapshot.
 */
public record LagSnapshot(Map<String, LagReport> reports) {
    /** No measurements: no replica is known to be within any staleness bound. */
    public static final LagSnapshot EMPTY = new LagSnapshot(Map.of());

    public LagSnapshot {
        reports = Map.copyOf(reports);
    }

    /** The report of {@code node}, or null. */
    public LagReport get(String node) {
        return reports.get(node);
    }
}
