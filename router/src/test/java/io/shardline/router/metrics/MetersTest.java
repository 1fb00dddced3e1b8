package io.shardline.router.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.shardline.router.metrics.DriverMetrics.Fallback;
import io.shardline.router.metrics.DriverMetrics.Outcome;
import io.shardline.router.metrics.DriverMetrics.Retry;
import io.shardline.router.metrics.DriverMetrics.RouteKind;
import io.shardline.router.sql.StatementKind;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link Meters#exports(String)} (what alert rules and the dashboard may query) against the names a real Prometheus
 * registry gives the driver's meters.
 */
class MetersTest {
    @AfterEach
    void globalAgain() {
        ShardlineMetrics.useGlobalRegistry();
    }

    @Test
    void statementsTimedInACompositeRegistryReachARegistryAddedToItLater() {
        io.micrometer.core.instrument.composite.CompositeMeterRegistry composite =
                new io.micrometer.core.instrument.composite.CompositeMeterRegistry();
        ShardlineMetrics.use(composite);
        DriverMetrics metrics = MicrometerMetrics.create("c");
        metrics.statement(StatementKind.READ, RouteKind.REPLICA, 0, NodeRole.LEAF, 1_000_000, false);
        io.micrometer.core.instrument.simple.SimpleMeterRegistry added =
                new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        composite.add(added);
        metrics.statement(StatementKind.READ, RouteKind.REPLICA, 0, NodeRole.LEAF, 1_000_000, false);
        metrics.statement(StatementKind.WRITE, RouteKind.PRIMARY, 1, NodeRole.PRIMARY, 1_000_000, true);
        assertThat(added.get("shardline.statements")
                        .tags("route", "replica", "outcome", "ok")
                        .timer()
                        .count())
                .isEqualTo(1);
        assertThat(added.get("shardline.statements")
                        .tags("route", "primary", "outcome", "error")
                        .timer()
                        .count())
                .isEqualTo(1);
    }

    @Test
    void everyScrapedNameIsExportedAndEveryMeterIsScraped() {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        ShardlineMetrics.use(registry);
        DriverMetrics metrics = MicrometerMetrics.create("c");
        Node leaf = new Node("s0-leaf1", NodeRole.LEAF, "127.0.0.1", 5432, "s0-hub1");
        metrics.statement(StatementKind.READ, RouteKind.REPLICA, 0, NodeRole.LEAF, 1_000_000, false);
        metrics.fallback(0, Fallback.EJECTED);
        metrics.rywWait(1_000, true);
        metrics.fenceWait(1_000, false);
        metrics.retry(Retry.REPLICA_UNREACHABLE);
        metrics.ejected(leaf, 0);
        metrics.probed(leaf, false);
        metrics.twoPhaseCommit(Outcome.UNKNOWN, 1_000);
        metrics.recovered(Outcome.COMMITTED);
        metrics.rowsShipped(10);

        Set<String> scraped = registry.scrape()
                .lines()
                .filter(l -> l.startsWith("shardline_"))
                .map(l -> l.replaceAll("[{ ].*", ""))
                .collect(Collectors.toSet());
        assertThat(scraped)
                .allSatisfy(name -> assertThat(Meters.exports(name)).as(name).isTrue());
        assertThat(scraped)
                .contains(
                        "shardline_statements_seconds_count",
                        "shardline_reads_fallbacks_total",
                        "shardline_twophase_commits_seconds_count",
                        "shardline_replicas_probes_total",
                        "shardline_crossshard_rows_count");
        // every meter but the pools' (HikariCP's own) shows up under a name it exports
        Arrays.stream(Meters.values())
                .filter(m -> m != Meters.POOLS)
                .forEach(m -> assertThat(scraped).as(m.meter).anyMatch(n -> n.startsWith(m.meter.replace('.', '_'))));
        assertThat(Meters.exports("shardline_statements_total")).isFalse();
        assertThat(Meters.exports("shardline_reads_fallbacks")).isFalse();
        assertThat(Meters.exports("hikaricp_connections_active")).isTrue();
    }
}
