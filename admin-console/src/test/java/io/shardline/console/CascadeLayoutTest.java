package io.shardline.console;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class CascadeLayoutTest {
    private static Views.NodeView node(String name, String role, String upstream) {
        return new Views.NodeView(name, role, "127.0.0.1", 5432, upstream, null, "ok");
    }

    @Test
    void placesEachNodeAboveTheReplicasStreamingFromIt() {
        Views.ShardView shard = new Views.ShardView(
                0,
                0.5,
                16,
                List.of(
                        node("s0-primary", "primary", null),
                        node("s0-hub1", "hub", "s0-primary"),
                        node("s0-hub2", "hub", "s0-primary"),
                        node("s0-leaf1", "leaf", "s0-hub1"),
                        node("s0-leaf2", "leaf", "s0-hub1"),
                        node("s0-leaf3", "leaf", "s0-hub2")));
        CascadeLayout.Graph graph = CascadeLayout.of(shard);
        Map<String, CascadeLayout.Box> boxes =
                graph.boxes().stream().collect(Collectors.toMap(CascadeLayout.Box::name, Function.identity()));
        assertThat(boxes).hasSize(6);
        assertThat(boxes.get("s0-primary").y()).isLessThan(boxes.get("s0-hub1").y());
        assertThat(boxes.get("s0-hub1").y())
                .isEqualTo(boxes.get("s0-hub2").y())
                .isLessThan(boxes.get("s0-leaf1").y());
        // a hub is centred over its leaves; leaves do not overlap
        assertThat(boxes.get("s0-hub1").x())
                .isEqualTo((boxes.get("s0-leaf1").x() + boxes.get("s0-leaf2").x()) / 2);
        assertThat(boxes.get("s0-leaf2").x() - boxes.get("s0-leaf1").x())
                .isGreaterThanOrEqualTo(CascadeLayout.BOX_WIDTH);
        assertThat(graph.edges()).hasSize(5);
        assertThat(graph.width()).isGreaterThanOrEqualTo(boxes.get("s0-leaf3").x() + CascadeLayout.BOX_WIDTH);
    }

    @Test
    void aReplicaIsPlacedUnderTheNodeItsFreshLagReportSaysItStreamsFrom() {
        Views.Lag from2 = new Views.Lag(5L, 0L, "0/1", "s0-hub2", "streaming", 0, "ok");
        Views.Lag staleFrom2 = new Views.Lag(null, null, "0/1", "s0-hub2", "streaming", 0, "unknown");
        Views.NodeView moved = new Views.NodeView("s0-leaf1", "leaf", "h", 1, "s0-hub1", from2, "ok");
        Views.NodeView notMeasured = new Views.NodeView("s0-leaf2", "leaf", "h", 1, "s0-hub1", staleFrom2, "unknown");
        assertThat(moved.streamsFrom()).isEqualTo("s0-hub2");
        assertThat(notMeasured.streamsFrom())
                .as("a stale report: the configured upstream")
                .isEqualTo("s0-hub1");
        Views.ShardView shard = new Views.ShardView(
                0,
                1,
                16,
                List.of(
                        node("s0-primary", "primary", null),
                        node("s0-hub1", "hub", "s0-primary"),
                        node("s0-hub2", "hub", "s0-primary"),
                        moved,
                        notMeasured));
        Map<String, CascadeLayout.Box> boxes = CascadeLayout.of(shard).boxes().stream()
                .collect(Collectors.toMap(CascadeLayout.Box::name, Function.identity()));
        // each hub is centred over its only leaf
        assertThat(boxes.get("s0-hub2").x()).isEqualTo(boxes.get("s0-leaf1").x());
        assertThat(boxes.get("s0-hub1").x()).isEqualTo(boxes.get("s0-leaf2").x());
    }

    @Test
    void showsAReplicaWhoseUpstreamIsUnknownInARowOfItsOwn() {
        Views.ShardView shard = new Views.ShardView(
                1, 0.5, 16, List.of(node("s1-primary", "primary", null), node("s1-leaf1", "leaf", "gone")));
        CascadeLayout.Graph graph = CascadeLayout.of(shard);
        assertThat(graph.boxes())
                .extracting(CascadeLayout.Box::name)
                .containsExactlyInAnyOrder("s1-primary", "s1-leaf1");
        assertThat(graph.edges()).isEmpty();
    }
}
