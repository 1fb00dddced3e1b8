package io.shardline.console;

import java.util.ArrayList;
import java.util.List;

/**
 * Lays out one shard's cascade (primary, then the replicas streaming from each node below it) as boxes and edges
 * for the replication page's SVG: each node centred over the nodes that stream from it, as their lag reports say
 * (see {@link Views.NodeView#streamsFrom()}).
 */
final class CascadeLayout {
    static final int BOX_WIDTH = 176;
    static final int BOX_HEIGHT = 56;
    private static final int GAP_X = 24;
    private static final int GAP_Y = 44;
    private static final int MARGIN = 8;

    /** A node's box; {@code x}, {@code y} is its top left corner. */
    record Box(String name, String role, String status, int x, int y) {}

    /** From the bottom centre of the upstream's box to the top centre of the replica's. */
    record Edge(int x1, int y1, int x2, int y2) {}

    record Graph(int shard, int width, int height, List<Box> boxes, List<Edge> edges) {}

    private CascadeLayout() {}

    static Graph of(Views.ShardView shard) {
        List<Box> boxes = new ArrayList<>();
        List<Edge> edges = new ArrayList<>();
        Views.NodeView primary = shard.nodes().stream()
                .filter(n -> n.role().equals("primary"))
                .findFirst()
                .orElseThrow();
        int[] nextLeafX = {MARGIN};
        int[] depth = {0};
        place(shard.nodes(), primary, 0, nextLeafX, depth, boxes, edges);
        // replicas whose upstream is not in the shard (misconfigured): a row of their own at the bottom
        for (Views.NodeView n : shard.nodes()) {
            if (boxes.stream().noneMatch(b -> b.name().equals(n.name()))) {
                depth[0] = Math.max(depth[0], 1);
                boxes.add(new Box(n.name(), n.role(), n.status(), nextLeafX[0], y(depth[0] + 1)));
                nextLeafX[0] += BOX_WIDTH + GAP_X;
                depth[0]++;
            }
        }
        int width = boxes.stream().mapToInt(b -> b.x() + BOX_WIDTH).max().orElse(BOX_WIDTH) + MARGIN;
        int height = boxes.stream().mapToInt(b -> b.y() + BOX_HEIGHT).max().orElse(BOX_HEIGHT) + MARGIN;
        return new Graph(shard.id(), width, height, boxes, edges);
    }

    /** Places {@code node} and its subtree; returns the x of its box. */
    private static int place(
            List<Views.NodeView> nodes,
            Views.NodeView node,
            int level,
            int[] nextLeafX,
            int[] depth,
            List<Box> boxes,
            List<Edge> edges) {
        depth[0] = Math.max(depth[0], level);
        List<Views.NodeView> children =
                nodes.stream().filter(n -> node.name().equals(n.streamsFrom())).toList();
        int x;
        List<Integer> childXs = new ArrayList<>();
        for (Views.NodeView child : children) {
            childXs.add(place(nodes, child, level + 1, nextLeafX, depth, boxes, edges));
        }
        if (childXs.isEmpty()) {
            x = nextLeafX[0];
            nextLeafX[0] += BOX_WIDTH + GAP_X;
        } else {
            x = (childXs.get(0) + childXs.get(childXs.size() - 1)) / 2;
        }
        int y = y(level);
        for (int cx : childXs) {
            edges.add(new Edge(x + BOX_WIDTH / 2, y + BOX_HEIGHT, cx + BOX_WIDTH / 2, y(level + 1)));
        }
        boxes.add(new Box(node.name(), node.role(), node.status(), x, y));
        return x;
    }

    private static int y(int level) {
        return MARGIN + level * (BOX_HEIGHT + GAP_Y);
    }
}
