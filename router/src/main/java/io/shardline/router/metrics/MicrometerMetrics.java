package io.shardline.router.metrics;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.metrics.micrometer.MicrometerMetricsTrackerFactory;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.shardline.router.sql.StatementKind;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.Supplier;

/**
 * The driver's meters in a Micrometer registry, all tagged with {@code cluster}. Meters are made on first use and
 * kept in arrays indexed by their tags' values, so the statement path finds its timer without allocating.
 */
final class MicrometerMetrics implements DriverMetrics {
    /** Shards 0..63 have a slot each; {@value #SEVERAL} is "several or none", {@value #OTHER} any shard above. */
    private static final int SEVERAL = 64;

    private static final int OTHER = 65;
    private static final int SHARD_SLOTS = 66;
    private static final int ROLES = NodeRole.values().length + 1;
    private static final int ROUTE_KINDS = RouteKind.values().length;

    private final MeterRegistry registry;
    /**
     * The registries a composite registry (the global one) forwards to; null for another registry. Without any, a
     * statement's timer records nowhere, after scanning an empty identity map (2 % of a point read's client CPU in a
     * profile): the statement is not timed then. A registry added later gets the meters made from then on.
     */
    private final Set<MeterRegistry> forwardsTo;

    private final String cluster;
    private final AtomicReferenceArray<Timer> statements =
            new AtomicReferenceArray<>(StatementKind.values().length * ROUTE_KINDS * ROLES * SHARD_SLOTS * 2);
    private final AtomicReferenceArray<Counter> fallbacks =
            new AtomicReferenceArray<>(Fallback.values().length * SHARD_SLOTS);
    private final Timer[] rywWaits = new Timer[2];
    private final Timer[] fenceWaits = new Timer[2];
    private final Counter[] retries = new Counter[Retry.values().length];
    private final Timer[] twoPhaseCommits = new Timer[Outcome.values().length];
    private final Counter[] recoveries = new Counter[Outcome.values().length];
    private final DistributionSummary rowsShipped;

    private MicrometerMetrics(MeterRegistry registry, String cluster) {
        this.registry = registry;
        this.forwardsTo = registry instanceof CompositeMeterRegistry composite ? composite.getRegistries() : null;
        this.cluster = cluster;
        for (int i = 0; i < 2; i++) {
            String outcome = i == 0 ? "replayed" : "primary";
            rywWaits[i] = Timer.builder(Meters.RYW_WAITS.meter)
                    .description(Meters.RYW_WAITS.description)
                    .tags("cluster", cluster, "outcome", outcome)
                    .register(registry);
            fenceWaits[i] = Timer.builder(Meters.FENCE_WAITS.meter)
                    .description(Meters.FENCE_WAITS.description)
                    .tags("cluster", cluster, "outcome", i == 0 ? "passed" : "refused")
                    .register(registry);
        }
        for (Retry r : Retry.values()) {
            retries[r.ordinal()] = Counter.builder(Meters.RETRIES.meter)
                    .description(Meters.RETRIES.description)
                    .tags("cluster", cluster, "reason", tag(r))
                    .register(registry);
        }
        for (Outcome o : Outcome.values()) {
            twoPhaseCommits[o.ordinal()] = Timer.builder(Meters.TWO_PHASE_COMMITS.meter)
                    .description(Meters.TWO_PHASE_COMMITS.description)
                    .tags("cluster", cluster, "outcome", tag(o))
                    .register(registry);
            recoveries[o.ordinal()] = Counter.builder(Meters.RECOVERIES.meter)
                    .description(Meters.RECOVERIES.description)
                    .tags("cluster", cluster, "outcome", tag(o))
                    .register(registry);
        }
        rowsShipped = DistributionSummary.builder(Meters.ROWS_SHIPPED.meter)
                .description(Meters.ROWS_SHIPPED.description)
                .baseUnit("rows")
                .tags("cluster", cluster)
                .register(registry);
    }

    static MicrometerMetrics create(String cluster) {
        MeterRegistry chosen = ShardlineMetrics.registry();
        return new MicrometerMetrics(chosen != null ? chosen : Metrics.globalRegistry, cluster);
    }

    private static String tag(Enum<?> value) {
        return value.name().toLowerCase(Locale.ROOT);
    }

    private static int slot(int shard) {
        return shard < 0 ? SEVERAL : shard < SEVERAL ? shard : OTHER;
    }

    private static String shardTag(int slot, int shard) {
        return slot == SEVERAL ? "several" : slot == OTHER ? "other" : Integer.toString(shard);
    }

    private static <M> M get(AtomicReferenceArray<M> meters, int index, Supplier<M> make) {
        M meter = meters.get(index);
        if (meter == null) {
            // registering the same id again returns the meter registered first
            meter = make.get();
            meters.set(index, meter);
        }
        return meter;
    }

    @Override
    public void statement(StatementKind kind, RouteKind route, int shard, NodeRole role, long nanos, boolean failed) {
        if (forwardsTo != null && forwardsTo.isEmpty()) {
            return;
        }
        int s = slot(shard);
        int r = role == null ? ROLES - 1 : role.ordinal();
        int index = (((kind.ordinal() * ROUTE_KINDS + route.ordinal()) * ROLES + r) * SHARD_SLOTS + s) * 2
                + (failed ? 1 : 0);
        Timer timer = statements.get(index);
        if (timer != null) {
            timer.record(nanos, TimeUnit.NANOSECONDS); // the common case: no meter to make, no lambda
            return;
        }
        get(
                        statements,
                        index,
                        () -> Timer.builder(Meters.STATEMENTS.meter)
                                .description(Meters.STATEMENTS.description)
                                .tags(
                                        "cluster",
                                        cluster,
                                        "kind",
                                        tag(kind),
                                        "route",
                                        tag(route),
                                        "shard",
                                        shardTag(s, shard),
                                        "role",
                                        role == null ? "none" : tag(role),
                                        "outcome",
                                        failed ? "error" : "ok")
                                .register(registry))
                .record(nanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public void fallback(int shard, Fallback reason) {
        int s = slot(shard);
        get(
                        fallbacks,
                        reason.ordinal() * SHARD_SLOTS + s,
                        () -> Counter.builder(Meters.FALLBACKS.meter)
                                .description(Meters.FALLBACKS.description)
                                .tags("cluster", cluster, "shard", shardTag(s, shard), "reason", tag(reason))
                                .register(registry))
                .increment();
    }

    @Override
    public void rywWait(long nanos, boolean replayed) {
        rywWaits[replayed ? 0 : 1].record(nanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public void fenceWait(long nanos, boolean refused) {
        fenceWaits[refused ? 1 : 0].record(nanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public void retry(Retry reason) {
        retries[reason.ordinal()].increment();
    }

    @Override
    public void ejected(Node replica, int shard) {
        Counter.builder(Meters.EJECTIONS.meter)
                .description(Meters.EJECTIONS.description)
                .tags("cluster", cluster, "node", replica.name(), "shard", Integer.toString(shard))
                .register(registry)
                .increment();
    }

    @Override
    public void probed(Node replica, boolean up) {
        Counter.builder(Meters.PROBES.meter)
                .description(Meters.PROBES.description)
                .tags("cluster", cluster, "node", replica.name(), "outcome", up ? "up" : "down")
                .register(registry)
                .increment();
    }

    @Override
    public void twoPhaseCommit(Outcome outcome, long nanos) {
        twoPhaseCommits[outcome.ordinal()].record(nanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public void recovered(Outcome outcome) {
        recoveries[outcome.ordinal()].increment();
    }

    @Override
    public void rowsShipped(long rows) {
        rowsShipped.record(rows);
    }

    @Override
    public void pool(HikariConfig config) {
        config.setMetricsTrackerFactory(new MicrometerMetricsTrackerFactory(registry));
    }
}
