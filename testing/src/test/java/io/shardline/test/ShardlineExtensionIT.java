package io.shardline.test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import javax.sql.DataSource;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * The extension's lifecycle, seen from outside: test classes run by a JUnit launcher of their own, and what is left
 * running after them. A class's cluster stops after the class; a shared one serves every class asking for its shape
 * and stops at the end of the run; a wrong shape fails the class with its reason.
 */
class ShardlineExtensionIT {
    /** What the classes below saw, by class name. */
    static final Map<String, String> SEEN = new ConcurrentHashMap<>();

    private static TestExecutionSummary run(Class<?>... classes) {
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        var request = LauncherDiscoveryRequestBuilder.request();
        for (Class<?> c : classes) {
            request.selectors(selectClass(c));
        }
        LauncherFactory.create().execute(request.build(), listener);
        return listener.getSummary();
    }

    private static String primaryUrl(ShardlineTestCluster cluster) {
        return cluster.primary(0).jdbcUrl();
    }

    private static void assertStopped(String jdbcUrl) {
        assertThatThrownBy(() ->
                        DriverManager.getConnection(jdbcUrl, "postgres", null).close())
                .as("the cluster's servers are stopped")
                .isInstanceOf(SQLException.class);
    }

    @ShardlineCluster(shards = 1, hubs = 0, leaves = 0, monitor = false)
    static class OwnCluster {
        @Test
        void first(ShardlineTestCluster cluster, DataSource db) throws SQLException {
            SEEN.put("own.first", primaryUrl(cluster));
            try (Connection c = db.getConnection();
                    ResultSet rs = c.createStatement().executeQuery("SELECT 40 + 2")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(42);
            }
        }

        @Test
        void second(ShardlineTestCluster cluster) {
            SEEN.put("own.second", primaryUrl(cluster));
        }

        @Nested
        class Inner {
            @Test
            void nested(ShardlineTestCluster cluster) {
                SEEN.put("own.nested", primaryUrl(cluster));
            }
        }
    }

    @ShardlineCluster(shards = 1, hubs = 0, leaves = 0, monitor = false, shared = true)
    static class SharedA {
        @Test
        void a(ShardlineTestCluster cluster) {
            SEEN.put("shared.a", primaryUrl(cluster));
        }
    }

    @ShardlineCluster(shards = 1, hubs = 0, leaves = 0, monitor = false, shared = true)
    static class SharedB {
        @Test
        void b(ShardlineTestCluster cluster) throws SQLException {
            SEEN.put("shared.b", primaryUrl(cluster));
            // still running while the second class runs
            DriverManager.getConnection(primaryUrl(cluster), "postgres", null).close();
        }
    }

    @ShardlineCluster(hubs = 0, leaves = 1)
    static class LeavesWithoutHubs {
        @Test
        void never(ShardlineTestCluster cluster) {
            SEEN.put("bad", "ran");
        }
    }

    @ExtendWith(ShardlineExtension.class)
    static class NoAnnotation {
        @Test
        void wantsACluster(ShardlineTestCluster cluster) {
            SEEN.put("none", "ran");
        }
    }

    @Test
    void aClassesClusterServesItsTestsAndNestedClassesThenStops() {
        TestExecutionSummary summary = run(OwnCluster.class);
        assertThat(summary.getFailures()).isEmpty();
        assertThat(summary.getTestsSucceededCount()).isEqualTo(3);
        assertThat(SEEN.get("own.first"))
                .isNotNull()
                .isEqualTo(SEEN.get("own.second"))
                .isEqualTo(SEEN.get("own.nested"));
        assertStopped(SEEN.get("own.first"));
    }

    @Test
    void aSharedClusterServesEveryClassOfItsShapeAndStopsAtTheEndOfTheRun() {
        TestExecutionSummary summary = run(SharedA.class, SharedB.class);
        assertThat(summary.getFailures()).isEmpty();
        assertThat(summary.getTestsSucceededCount()).isEqualTo(2);
        assertThat(SEEN.get("shared.a")).isNotNull().isEqualTo(SEEN.get("shared.b"));
        assertStopped(SEEN.get("shared.a"));
    }

    @Test
    void aWrongShapeOrTheExtensionWithoutItsAnnotationFailsTheClassWithTheReason() {
        TestExecutionSummary bad = run(LeavesWithoutHubs.class);
        assertThat(SEEN).doesNotContainKey("bad");
        List<Throwable> failures = bad.getFailures().stream()
                .map(TestExecutionSummary.Failure::getException)
                .toList();
        assertThat(failures)
                .singleElement()
                .extracting(Throwable::getMessage)
                .isEqualTo("@ShardlineCluster on " + LeavesWithoutHubs.class.getName()
                        + ": leaves stream from hubs: leaves = 1 needs hubs >= 1");

        TestExecutionSummary none = run(NoAnnotation.class);
        assertThat(SEEN).doesNotContainKey("none");
        assertThat(none.getFailures())
                .singleElement()
                .extracting(f -> f.getException().getMessage())
                .asString()
                .contains("has no @ShardlineCluster");
    }
}
