package io.shardline.monitor;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.shardline.topology.LagReport;
import io.shardline.topology.ReplicaState;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * The Micrometer gauges of one replica's lag, tagged {@code node}, {@code shard} and {@code role}:
 * {@code shardline.replica.lag} (seconds), {@code shardline.replica.lag.bytes}, {@code shardline.replica.up} and
 * {@code shardline.replica.report.age} (seconds) (Prometheus: {@code shardline_replica_lag_seconds},
 * {@code shardline_replica_lag_bytes}, {@code shardline_replica_up}, {@code shardline_replica_report_age_seconds}). Published by the monitor that measures and by the console that reads ZooKeeper,
 * so both expose the same series.
 */
public final class LagGauges {
    private LagGauges() {}

    /**
     * Registers the three gauges of {@code report}'s replica, reading its newest report from {@code latest}.
     *
     * @return the meters, for {@link MeterRegistry#remove(Meter)}
     */
    public static List<Meter> register(MeterRegistry registry, LagReport report, Supplier<LagReport> latest) {
        return register(registry, report, latest, latest);
    }

    /**
     * The same, with the report age taken from {@code published}: the newest report that reached ZooKeeper (a
     * monitor measures on, and its own measurement stays fresh, while its publishing fails or another one leads).
     */
    public static List<Meter> register(
            MeterRegistry registry, LagReport report, Supplier<LagReport> latest, Supplier<LagReport> published) {
        String[] tags = {
            "node", report.node(),
            "shard", String.valueOf(report.shard()),
            "role", report.role().name().toLowerCase(Locale.ROOT)
        };
        return List.of(
                Gauge.builder("shardline.replica.lag", () -> seconds(latest.get()))
                        .baseUnit("seconds")
                        .description("Replication lag by heartbeat; NaN when unknown")
                        .tags(tags)
                        .register(registry),
                Gauge.builder("shardline.replica.lag.bytes", () -> bytes(latest.get()))
                        .baseUnit("bytes")
                        .description("WAL not yet replayed; NaN when unknown")
                        .tags(tags)
                        .register(registry),
                Gauge.builder("shardline.replica.up", () -> up(latest.get()))
                        .description("1 when the replica answers and streams, else 0")
                        .tags(tags)
                        .register(registry),
                Gauge.builder("shardline.replica.report.age", () -> age(published.get()))
                        .baseUnit("seconds")
                        .description("Age of the newest lag report; it grows when no monitor measures the replica")
                        .tags(tags)
                        .register(registry));
    }

    private static double seconds(LagReport r) {
        return r == null || r.lagMs() < 0 ? Double.NaN : r.lagMs() / 1000.0;
    }

    private static double bytes(LagReport r) {
        return r == null || r.lagBytes() < 0 ? Double.NaN : r.lagBytes();
    }

    private static double age(LagReport r) {
        return r == null ? Double.NaN : Math.max(0, System.currentTimeMillis() - r.observedAtMillis()) / 1000.0;
    }

    private static double up(LagReport r) {
        return r != null && r.state() == ReplicaState.STREAMING ? 1 : 0;
    }
}
