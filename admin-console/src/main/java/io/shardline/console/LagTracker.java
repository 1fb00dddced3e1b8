package io.shardline.console;

import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.shardline.monitor.LagGauges;
import io.shardline.topology.LagReport;
import io.shardline.topology.LagSnapshot;
import io.shardline.topology.ZooKeeperLagWatcher;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.stereotype.Component;

/**
 * The lag of every replica as the monitor publishes it in ZooKeeper, sampled once a second into an hour of
 * history (for the charts), and exposed as the {@code shardline_replica_*} gauges. A report older than
 * {@link #STALE_MS} (the monitor stopped, or lost its leader) counts as unknown: a gap in the chart.
 */
@Component
final class LagTracker implements DisposableBean {
    static final int HISTORY_POINTS = 3600;
    static final long STALE_MS = 5_000;

    /** One second of one replica: lag in ms and bytes, or null when unknown. */
    record Point(long atMillis, Long lagMs, Long lagBytes) {}

    private final ZooKeeperLagWatcher watcher;
    private final MeterRegistry registry;
    private final Map<String, ArrayDeque<Point>> history = new ConcurrentHashMap<>();
    private final List<Meter> meters = new ArrayList<>();
    private final ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "shardline-console-lag");
        t.setDaemon(true);
        return t;
    });

    LagTracker(ZooKeeperLagWatcher watcher, MeterRegistry registry) {
        this.watcher = watcher;
        this.registry = registry;
        sampler.scheduleAtFixedRate(this::sample, 0, 1, TimeUnit.SECONDS);
    }

    /** The newest report of every replica. */
    LagSnapshot snapshot() {
        return watcher.snapshot();
    }

    /** Whether {@code report} is too old to be believed (its monitor stopped publishing). */
    static boolean stale(LagReport report, long nowMillis) {
        return nowMillis - report.observedAtMillis() > STALE_MS;
    }

    /** The points of the last {@code seconds} seconds for {@code node}, oldest first. */
    List<Point> history(String node, int seconds) {
        ArrayDeque<Point> points = history.get(node);
        if (points == null) {
            return List.of();
        }
        long since = System.currentTimeMillis() - seconds * 1000L;
        synchronized (points) {
            return points.stream().filter(p -> p.atMillis() >= since).toList();
        }
    }

    /** The replicas with a history. */
    List<String> nodes() {
        return history.keySet().stream().sorted().toList();
    }

    private void sample() {
        long now = System.currentTimeMillis();
        for (LagReport report : watcher.snapshot().reports().values()) {
            boolean known = !stale(report, now) && report.lagMs() >= 0;
            Point point = new Point(
                    now, known ? report.lagMs() : null, known && report.lagBytes() >= 0 ? report.lagBytes() : null);
            ArrayDeque<Point> points = history.computeIfAbsent(report.node(), node -> {
                synchronized (meters) {
                    meters.addAll(LagGauges.register(registry, report, () -> current(node)));
                }
                return new ArrayDeque<>();
            });
            synchronized (points) {
                points.addLast(point);
                while (points.size() > HISTORY_POINTS) {
                    points.removeFirst();
                }
            }
        }
    }

    /** The newest report of {@code node}, or null when it is stale (so the gauges read NaN, not a stale value). */
    private LagReport current(String node) {
        LagReport report = watcher.snapshot().get(node);
        return report == null || stale(report, System.currentTimeMillis()) ? null : report;
    }

    @Override
    public void destroy() {
        sampler.shutdownNow();
        synchronized (meters) {
            meters.forEach(registry::remove);
        }
    }
}
