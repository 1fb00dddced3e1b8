package io.shardline.compose;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Start-up and shutdown: nothing is left running, whether the cluster started or failed half-way. */
class LocalClusterLifecycleIT {

    @Test
    void closeStopsEveryProcessItStartedAddedShardsIncluded() {
        LocalCluster cluster = LocalCluster.builder()
                .name("lifecycle")
                .shards(1)
                .hubs(1)
                .leaves(2)
                .start();
        Path dir = cluster.dir();
        List<PgNode> added = cluster.addShard();
        assertThat(added).extracting(PgNode::name).containsExactly("s1-primary", "s1-hub1", "s1-leaf1", "s1-leaf2");
        assertThat(cluster.shardCount()).isEqualTo(2);
        assertThat(cluster.node("s1-leaf2").upstream().orElseThrow().name()).isEqualTo("s1-hub1");
        assertThat(cluster.node("s1-leaf2").queryString("SELECT pg_is_in_recovery()::text"))
                .isEqualTo("true");
        List<ProcessHandle> started = new ArrayList<>();
        for (PgNode node : cluster.nodes()) {
            ProcessHandle postmaster =
                    ProcessHandle.of(node.pid().orElseThrow()).orElseThrow();
            started.add(postmaster);
            postmaster.descendants().forEach(started::add);
        }
        assertThat(processesMentioning(dir)).hasSizeGreaterThanOrEqualTo(8);

        cluster.close();

        assertThat(started).noneMatch(ProcessHandle::isAlive);
        assertThat(processesMentioning(dir)).isEmpty();
        assertThat(dir).doesNotExist();
        cluster.close();
    }

    @Test
    void aFailedStartStopsWhatHadStartedAndShowsTheServerLog() {
        LocalCluster.Builder builder = LocalCluster.builder()
                .name("broken")
                .shards(1)
                .hubs(1)
                .leaves(1)
                .nodeSetting("s0-leaf1", "max_connections", "not-a-number");
        assertThatThrownBy(builder::start)
                .isInstanceOf(LocalClusterException.class)
                .hasMessageContaining("s0-leaf1 exited during start-up")
                .hasMessageContaining("max_connections");
        assertThat(processesMentioning(Path.of("broken-"))).isEmpty();
    }

    @Test
    void aBadPgBinIsAClearError() {
        Path bogus = Path.of("/nonexistent/pg/bin");
        assertThatThrownBy(() -> LocalCluster.builder().pgBin(bogus).start())
                .isInstanceOf(LocalClusterException.class)
                .hasMessageContaining(bogus.toString())
                .hasMessageContaining("missing initdb");
    }

    @Test
    void invalidShapesAreRefusedBeforeAnythingStarts() {
        assertThatThrownBy(() -> LocalCluster.builder().hubs(0).leaves(1).start())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("leaves stream from hubs");
        assertThatThrownBy(() -> LocalCluster.builder().hubs(8).leaves(65).start())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("0 to 64");
        assertThatThrownBy(() -> LocalCluster.builder().name("no/slashes").start())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no/slashes");
    }

    @Test
    void aDirectoryHoldingAClustersDataIsRefused() throws Exception {
        Path dir = Files.createTempDirectory("shardline-used-");
        Files.createDirectories(dir.resolve("nodes"));
        assertThatThrownBy(() -> LocalCluster.builder().dir(dir).start())
                .isInstanceOf(LocalClusterException.class)
                .hasMessageContaining("already holds a cluster's data");
        ClusterDirectory.deleteRecursively(dir);
    }

    /** Live processes whose command line mentions {@code fragment} (data directories are on it). */
    static List<ProcessHandle> processesMentioning(Path fragment) {
        String needle = fragment.toString();
        return ProcessHandle.allProcesses()
                .filter(p -> p.info().commandLine().map(c -> c.contains(needle)).orElse(false))
                .toList();
    }
}
