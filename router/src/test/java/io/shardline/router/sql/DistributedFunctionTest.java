package io.shardline.router.sql;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.router.sql.Plan.Target;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.DistributedFunction;
import io.shardline.topology.KeyType;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.ShardedTable;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Calls of functions declared distributed by a key argument run on that key's shard, and never across shards. */
class DistributedFunctionTest {
    static final ClusterTopology TOPOLOGY = TwoShards.topology(
            List.of(new ShardedTable("public", "stock", "s_w_id", KeyType.INTEGER)),
            List.of(new ReferenceTable("public", "item")),
            List.of(
                    new DistributedFunction("public", "stock_level", 1, KeyType.INTEGER, false),
                    new DistributedFunction("public", "new_order", 2, KeyType.INTEGER, true)));

    private final StatementAnalyzer analyzer = new StatementAnalyzer(TOPOLOGY);

    private Plan plan(String sql) {
        return analyzer.analyze(sql);
    }

    @Test
    void aCallRunsOnItsKeyArgumentsShard() {
        Plan read = plan("SELECT stock_level(?, ?, ?)");
        assertThat(read.target()).isEqualTo(Target.KEYED);
        assertThat(read.kind()).isEqualTo(StatementKind.READ);
        assertThat(read.keyGroups().get(0).sources())
                .extracting(KeySource::toString)
                .containsExactly("$1");
        assertThat(plan("SELECT * FROM public.stock_level(3, 1, 10)").target()).isEqualTo(Target.KEYED);
        // a volatile function writes: a write, on the primary
        Plan write = plan("SELECT new_order(?, ?::int, ?)");
        assertThat(write.kind()).isEqualTo(StatementKind.WRITE);
        assertThat(write.keyGroups().get(0).sources())
                .extracting(KeySource::toString)
                .containsExactly("$2");
        // with a sharded table bound by its key: both must be on one shard
        Plan both = plan("SELECT stock_level(?, 1, 1), count(*) FROM stock WHERE s_w_id = ?");
        assertThat(both.target()).isEqualTo(Target.KEYED);
        assertThat(both.keyGroups()).hasSize(2);
        assertThat(both.refusal()).contains("stock_level");
        // a reference table is on every shard
        assertThat(plan("SELECT stock_level(5, 1, 1) FROM item WHERE i_id = 1").target())
                .isEqualTo(Target.KEYED);
    }

    @Test
    void callsThatCannotRunOnOneShardAreRefusedNotSpread() {
        assertThat(plan("SELECT stock_level(s_w_id, 1, 1) FROM stock WHERE s_w_id = 1")
                        .refusal())
                .contains("argument 1");
        assertThat(plan("SELECT stock_level(1, 1, 1) FROM stock").refusal())
                .contains("without a value for its key s_w_id");
        assertThat(plan("SELECT stock_level(1, 1, 1) FROM countries").refusal()).contains("countries");
        assertThat(plan("SELECT count(*), stock_level(1, 1, 1) FROM stock WHERE s_w_id IN (1, 2) OR s_w_id = 3")
                        .target())
                .isEqualTo(Target.REFUSED);
        assertThat(plan("INSERT INTO item SELECT stock_level(1, 1, 1), 0").refusal())
                .contains("distributed function");
        // calls the analysis cannot key: refused, never run on a shard chosen for another reason
        for (String sql : List.of(
                "COPY (SELECT stock_level(1, 1, 1)) TO STDOUT",
                "SELECT stock_level(1, 1, 1); SELECT 1",
                "DO $$ BEGIN PERFORM stock_level(1, 1, 1); END $$",
                "UPDATE stock SET s_quantity = stock_level(1, 1, 1)")) {
            assertThat(plan(sql).target()).as(sql).isEqualTo(Target.REFUSED);
        }
        // undeclared functions are left where the statement goes
        assertThat(plan("SELECT other_function(1)").target()).isEqualTo(Target.ANY);
    }
}
