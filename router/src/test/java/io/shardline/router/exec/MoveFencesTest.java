package io.shardline.router.exec;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.router.route.RoutingState;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.Shard;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.TopologySnapshot;
import java.sql.SQLException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which shards' switchover holds a statement: those it runs on. */
class MoveFencesTest {
    private static final ClusterTopology TOPOLOGY = new ClusterTopology(
            "t",
            1,
            "db",
            "app",
            0,
            List.of(shard(0), shard(1), shard(2)),
            List.of(new ShardedTable("public", "users", "user_id", KeyType.INTEGER)),
            List.of());
    private static final RoutingState ROUTING = new RoutingState(
            new TopologySnapshot(TOPOLOGY, HashRing.even(TOPOLOGY.shardIds(), HashRing.DEFAULT_RANGES_PER_SHARD)), 100);

    private static Shard shard(int id) {
        return new Shard(id, List.of(new Node("s" + id + "-primary", NodeRole.PRIMARY, "h", 5432, null)));
    }

    private static long keyOn(int shard) {
        long k = 1;
        while (ROUTING.ring().shardFor(KeyHash.hashInt8(k)) != shard) {
            k++;
        }
        return k;
    }

    private static boolean touches(String sql, int shard, Object... params) throws SQLException {
        Object[] p = new Object[params.length + 1];
        System.arraycopy(params, 0, p, 1, params.length);
        return MoveFences.touches(
                ROUTING,
                ROUTING.plan(sql),
                List.<Object[]>of(p),
                TOPOLOGY.shards().get(shard));
    }

    @Test
    void anUpdateOrDeleteWhoseKeysSpanShardsRunsOnEveryShardSoEverySwitchoverHoldsIt() throws SQLException {
        String delete = "DELETE FROM users WHERE user_id IN (?, ?)";
        // keys on shards 0 and 1: it runs on every shard (two-phase commit), shard 2 too
        assertThat(touches(delete, 2, keyOn(0), keyOn(1))).isTrue();
        // keys on one shard: that shard only
        assertThat(touches(delete, 2, keyOn(0), keyOn(0))).isFalse();
        assertThat(touches(delete, 0, keyOn(0), keyOn(0))).isTrue();
        // a read of keys on two shards reads those shards only
        assertThat(touches("SELECT * FROM users WHERE user_id IN (?, ?)", 2, keyOn(0), keyOn(1)))
                .isFalse();
    }
}
