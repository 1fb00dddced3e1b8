package io.shardline.router.sql;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.DistributedFunction;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.Shard;
import io.shardline.topology.ShardedTable;
import java.util.List;

/** A two-shard topology (one primary each, home shard 0) for analysis tests. */
final class TwoShards {
    private TwoShards() {}

    static ClusterTopology topology(
            List<ShardedTable> tables, List<ReferenceTable> references, List<DistributedFunction> functions) {
        return new ClusterTopology(
                "t",
                1,
                "db",
                "u",
                0,
                List.of(
                        new Shard(0, List.of(new Node("s0", NodeRole.PRIMARY, "h", 1, null))),
                        new Shard(1, List.of(new Node("s1", NodeRole.PRIMARY, "h", 2, null)))),
                tables,
                references,
                functions);
    }
}
