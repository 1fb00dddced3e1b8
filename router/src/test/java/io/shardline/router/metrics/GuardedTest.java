package io.shardline.router.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import io.shardline.router.sql.StatementKind;
import io.shardline.topology.NodeRole;
import java.sql.SQLException;
import org.junit.jupiter.api.Test;

/** Telemetry that throws (a registry, a meter filter, a sampler) changes nothing the driver does. */
class GuardedTest {
    @Test
    void metricsThatThrowAreDropped() {
        DriverMetrics broken = new DriverMetrics() {
            @Override
            public void statement(
                    StatementKind kind, RouteKind route, int shard, NodeRole role, long nanos, boolean failed) {
                throw new IllegalStateException("a meter filter that throws");
            }

            @Override
            public void fenceWait(long nanos, boolean refused) {
                throw new NoSuchMethodError("an older Micrometer");
            }
        };
        DriverMetrics guarded = Guarded.metrics(broken);
        assertThatCode(() -> {
                    guarded.statement(
                            StatementKind.READ, DriverMetrics.RouteKind.PRIMARY, 0, NodeRole.PRIMARY, 1, false);
                    guarded.fenceWait(1, false);
                })
                .doesNotThrowAnyException();
    }

    @Test
    void spansThatThrowAreDroppedAndAStartThatThrowsIsNoSpan() {
        DriverTracing.Span throwing = new DriverTracing.Span() {
            @Override
            public void failed(Throwable e) {
                throw new IllegalStateException("a span processor that throws");
            }

            @Override
            public void close() {
                throw new IllegalStateException("an exporter that throws");
            }

            @Override
            public DriverTracing.Span child(String name, int shard, io.shardline.topology.Node node) {
                throw new IllegalStateException("a sampler that throws");
            }
        };
        DriverTracing tracing = Guarded.tracing(new DriverTracing() {
            @Override
            public Span statement(StatementKind kind, String sql) {
                return throwing;
            }

            @Override
            public Span operation(String name, Span within) {
                throw new IllegalStateException("cannot start");
            }
        });
        DriverTracing.Span span = tracing.statement(StatementKind.WRITE, "UPDATE t SET x = 1");
        assertThatCode(() -> {
                    span.failed(new SQLException("x", "40001"));
                    assertThat(span.child("shardline.prepare", 0, null)).isSameAs(DriverTracing.Span.NONE);
                    span.close();
                })
                .doesNotThrowAnyException();
        assertThat(tracing.operation("COMMIT", DriverTracing.Span.NONE)).isSameAs(DriverTracing.Span.NONE);
    }
}
