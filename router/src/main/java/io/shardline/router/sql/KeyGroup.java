package io.shardline.router.sql;

import io.shardline.topology.ShardedTable;
import java.util.List;

/**
 * Sharded tables whose rows the statement can only combine on one shard (joined on their keys), and the key
 * values that pin them: every value must map to the same shard.
 *
 * @param tables the tables of the group, for messages
 * @param sources the key values; a NULL among them matches no row
 */
public record KeyGroup(List<ShardedTable> tables, List<KeySource> sources) {
    public KeyGroup {
        tables = List.copyOf(tables);
        sources = List.copyOf(sources);
    }
}
