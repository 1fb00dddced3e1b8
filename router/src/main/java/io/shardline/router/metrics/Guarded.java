package io.shardline.router.metrics;

import com.zaxxer.hikari.HikariConfig;
import io.shardline.router.sql.StatementKind;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Metrics and spans that can never change what a statement does: whatever a registry, a meter filter, a sampler or a
 * span processor throws is logged once and dropped, so a statement's result, its exception and the driver's
 * bookkeeping around it (fence tickets, two-phase commit phases, connections) are the same with telemetry or without.
 */
final class Guarded {
    private static final Logger LOG = LoggerFactory.getLogger(Guarded.class);
    private static final AtomicBoolean WARNED = new AtomicBoolean();

    private Guarded() {}

    static void failed(String what, Throwable e) {
        if (WARNED.compareAndSet(false, true)) {
            LOG.warn("the driver's {} failed; it goes on without them where they fail: {}", what, e.toString(), e);
        } else {
            LOG.debug("the driver's {} failed: {}", what, e.toString());
        }
    }

    /** {@code metrics}, each call's failure dropped. */
    static DriverMetrics metrics(DriverMetrics metrics) {
        return new DriverMetrics() {
            @Override
            public void statement(
                    StatementKind kind, RouteKind route, int shard, NodeRole role, long nanos, boolean failed) {
                try {
                    metrics.statement(kind, route, shard, role, nanos, failed);
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("metrics", e);
                }
            }

            @Override
            public void fallback(int shard, Fallback reason) {
                try {
                    metrics.fallback(shard, reason);
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("metrics", e);
                }
            }

            @Override
            public void rywWait(long nanos, boolean replayed) {
                try {
                    metrics.rywWait(nanos, replayed);
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("metrics", e);
                }
            }

            @Override
            public void fenceWait(long nanos, boolean refused) {
                try {
                    metrics.fenceWait(nanos, refused);
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("metrics", e);
                }
            }

            @Override
            public void retry(Retry reason) {
                try {
                    metrics.retry(reason);
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("metrics", e);
                }
            }

            @Override
            public void ejected(Node replica, int shard) {
                try {
                    metrics.ejected(replica, shard);
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("metrics", e);
                }
            }

            @Override
            public void probed(Node replica, boolean up) {
                try {
                    metrics.probed(replica, up);
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("metrics", e);
                }
            }

            @Override
            public void twoPhaseCommit(Outcome outcome, long nanos) {
                try {
                    metrics.twoPhaseCommit(outcome, nanos);
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("metrics", e);
                }
            }

            @Override
            public void recovered(Outcome outcome) {
                try {
                    metrics.recovered(outcome);
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("metrics", e);
                }
            }

            @Override
            public void rowsShipped(long rows) {
                try {
                    metrics.rowsShipped(rows);
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("metrics", e);
                }
            }

            @Override
            public void pool(HikariConfig config) {
                try {
                    metrics.pool(config);
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("metrics", e);
                }
            }
        };
    }

    /** {@code tracing}, each call's failure dropped (a span that cannot start is no span). */
    static DriverTracing tracing(DriverTracing tracing) {
        return new DriverTracing() {
            @Override
            public Span statement(StatementKind kind, String sql) {
                try {
                    return span(tracing.statement(kind, sql));
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("traces", e);
                    return Span.NONE;
                }
            }

            @Override
            public Span batch(String sql, int size) {
                try {
                    return span(tracing.batch(sql, size));
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("traces", e);
                    return Span.NONE;
                }
            }

            @Override
            public Span operation(String name, Span within) {
                try {
                    return span(tracing.operation(name, within));
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("traces", e);
                    return Span.NONE;
                }
            }
        };
    }

    /** A span that drops its own failures: not wrapped again. */
    interface SelfGuarded extends DriverTracing.Span {}

    private static DriverTracing.Span span(DriverTracing.Span span) {
        if (span == DriverTracing.Span.NONE || span instanceof SelfGuarded) {
            return span;
        }
        return new DriverTracing.Span() {
            @Override
            public void route(String route, int shard, Node node, String why) {
                try {
                    span.route(route, shard, node, why);
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("traces", e);
                }
            }

            @Override
            public void fenceWait(long nanos) {
                try {
                    span.fenceWait(nanos);
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("traces", e);
                }
            }

            @Override
            public void lagMs(long lagMs) {
                try {
                    span.lagMs(lagMs);
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("traces", e);
                }
            }

            @Override
            public void failed(Throwable cause) {
                try {
                    span.failed(cause);
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("traces", e);
                }
            }

            @Override
            public DriverTracing.Span child(String name, int shard, Node node) {
                try {
                    return span(span.child(name, shard, node));
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("traces", e);
                    return DriverTracing.Span.NONE;
                }
            }

            @Override
            public void close() {
                try {
                    span.close();
                } catch (RuntimeException | LinkageError e) {
                    Guarded.failed("traces", e);
                }
            }
        };
    }
}
