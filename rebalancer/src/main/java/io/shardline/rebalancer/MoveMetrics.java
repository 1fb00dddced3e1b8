package io.shardline.rebalancer;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.ZooKeeperMoveWatcher;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToDoubleFunction;
import org.apache.curator.framework.CuratorFramework;

/**
 * The progress of a cluster's latest move as Micrometer gauges, read from ZooKeeper {@code moves/} (so any
 * process can publish them, leader or not), tagged {@code cluster}:
 *
 * <ul>
 *   <li>{@code shardline.move.active}: 1 while a move runs, else 0
 *   <li>{@code shardline.move.phase}: the state's step, 0 planned ... 7 done, 8 aborted; -1 no move yet
 *   <li>{@code shardline.move.phase.duration}: seconds the running move has been in that step (0 when none runs)
 *   <li>{@code shardline.move.rows.expected} (rows to copy; not {@code .total}, which Prometheus reads as a counter), {@code .rows.copied}, {@code .rows.cleaned}
 *   <li>{@code shardline.move.lag.bytes}: how far the targets are behind their sources (-1 unknown)
 *   <li>{@code shardline.move.eta}: seconds left in the current phase (-1 unknown)
 * </ul>
 */
public final class MoveMetrics implements AutoCloseable {
    private final ZooKeeperMoveWatcher watcher;
    private final MeterRegistry registry;
    private final List<Meter> meters = new ArrayList<>();
    private String phaseMove;
    private MoveState phase;
    private long phaseSince;

    private MoveMetrics(CuratorFramework client, String cluster, MeterRegistry registry) {
        this.watcher = new ZooKeeperMoveWatcher(client, cluster, () -> {});
        this.registry = registry;
        meters.add(Gauge.builder("shardline.move.phase.duration", this, MoveMetrics::phaseSeconds)
                .baseUnit("seconds")
                .description("time the running move has spent in its current step; 0 when none runs")
                .tag("cluster", cluster)
                .register(registry));
        gauge(
                "shardline.move.active",
                cluster,
                "1 while a move runs",
                m -> m.state().isTerminal() ? 0 : 1,
                0);
        gauge(
                "shardline.move.phase",
                cluster,
                "step of the latest move",
                m -> m.state().ordinal(),
                -1);
        gauge(
                "shardline.move.rows.expected",
                cluster,
                "rows the move copies",
                m -> m.progress().rowsTotal(),
                0);
        gauge(
                "shardline.move.rows.copied",
                cluster,
                "rows copied so far",
                m -> m.progress().rowsCopied(),
                0);
        gauge(
                "shardline.move.rows.cleaned",
                cluster,
                "moved rows deleted",
                m -> m.progress().rowsCleaned(),
                0);
        gauge(
                "shardline.move.lag.bytes",
                cluster,
                "targets' WAL lag",
                m -> m.progress().lagBytes(),
                -1);
        gauge(
                "shardline.move.eta",
                cluster,
                "seconds left in the phase",
                m -> m.progress().etaSeconds(),
                -1);
    }

    /**
     * Seconds the latest move has been in its state, 0 once it is over: from the record's update time when this
     * process first saw the state (a process started during a phase counts from the phase's last progress).
     */
    private synchronized double phaseSeconds() {
        MoveRecord m = watcher.latest();
        if (m == null || m.state().isTerminal()) {
            return 0;
        }
        if (!m.id().equals(phaseMove) || m.state() != phase) {
            phaseMove = m.id();
            phase = m.state();
            phaseSince = m.updatedAtMillis();
        }
        return Math.max(0, System.currentTimeMillis() - phaseSince) / 1000.0;
    }

    /** Registers the gauges of {@code cluster}'s moves with {@code registry} until closed. */
    public static MoveMetrics bind(CuratorFramework client, String cluster, MeterRegistry registry) {
        MoveMetrics metrics = new MoveMetrics(client, cluster, registry);
        metrics.watcher.start();
        return metrics;
    }

    private void gauge(String name, String cluster, String help, ToDoubleFunction<MoveRecord> f, double none) {
        meters.add(Gauge.builder(name, watcher, w -> w.latest() == null ? none : f.applyAsDouble(w.latest()))
                .description(help)
                .tag("cluster", cluster)
                .register(registry));
    }

    @Override
    public void close() {
        meters.forEach(registry::remove);
        watcher.close();
    }
}
