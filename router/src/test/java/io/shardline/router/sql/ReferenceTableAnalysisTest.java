package io.shardline.router.sql;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.router.sql.Plan.Target;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.KeyType;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.ShardedTable;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Statements on reference tables: reads stay where the statement is, writes go to every copy or are refused. */
class ReferenceTableAnalysisTest {
    static final ClusterTopology TOPOLOGY = TwoShards.topology(
            List.of(new ShardedTable("public", "stock", "s_w_id", KeyType.INTEGER)),
            List.of(new ReferenceTable("public", "item")),
            List.of());

    private final StatementAnalyzer analyzer = new StatementAnalyzer(TOPOLOGY);

    private Plan plan(String sql) {
        return analyzer.analyze(sql);
    }

    @Test
    void readsStayOnTheShardTheStatementIsOn() {
        assertThat(plan("SELECT i_price FROM item WHERE i_id = ?").target()).isEqualTo(Target.ANY);
        assertThat(plan("SELECT * FROM public.item").target()).isEqualTo(Target.ANY);
        Plan joined = plan("SELECT s_quantity, i_price FROM stock JOIN item ON i_id = s_i_id WHERE s_w_id = ?");
        assertThat(joined.target()).isEqualTo(Target.KEYED);
        assertThat(joined.keyGroups().get(0).tables())
                .extracting(ShardedTable::table)
                .containsExactly("stock");
        // with a table of the home shard: the home shard (it holds a copy too)
        assertThat(plan("SELECT * FROM item JOIN countries ON true").target()).isEqualTo(Target.HOME);
        // without the key: across shards, each shard joining its copy
        assertThat(plan("SELECT count(*) FROM stock JOIN item ON i_id = s_i_id").target())
                .isEqualTo(Target.CROSS_SHARD);
        // a CTE named like it in a read only hides it
        assertThat(plan("WITH item AS (SELECT 1 AS x) SELECT * FROM item").target())
                .isEqualTo(Target.ANY);
    }

    @Test
    void joinsOfShardedTablesWithReferenceTablesRunOnEachShard() {
        CrossShardPlanner planner = new CrossShardPlanner(TOPOLOGY);
        CrossShardQuery rows = planner.plan(
                "SELECT s.s_w_id, i.i_price FROM stock s JOIN item i ON i.i_id = s.s_i_id WHERE i.i_price > ?"
                        + " ORDER BY 2 LIMIT 5",
                true);
        assertThat(rows.sources()).hasSize(1);
        assertThat(rows.sources().get(0).sql())
                .isEqualTo("SELECT s.s_w_id AS _sl_c1, i.i_price AS _sl_c2 FROM stock s JOIN item i ON i.i_id ="
                        + " s.s_i_id WHERE i.i_price > ? ORDER BY _sl_c2 LIMIT 5");
        assertThat(rows.description()).contains("joined with the reference table public.item");
        for (String sql : List.of(
                "SELECT i.i_name, sum(s_quantity) FROM stock s LEFT JOIN item i ON i.i_id = s.s_i_id GROUP BY 1",
                "SELECT count(*) FROM stock s, item i WHERE i.i_id = s.s_i_id AND i.i_price > 3",
                "SELECT count(*) FROM stock s CROSS JOIN item i",
                "SELECT count(*) FROM stock s JOIN item i ON i.i_id = s.s_i_id JOIN stock t ON t.s_w_id = s.s_w_id")) {
            CrossShardQuery q = planner.plan(sql, true);
            assertThat(q.partial()).as(sql).isTrue();
            assertThat(q.sources()).as(sql).hasSize(1);
            assertThat(q.sources().get(0).sql()).as(sql).containsPattern("(JOIN|,) item i");
        }
        // unmatched rows of the reference table would come once per shard; an item FROM first, the same
        for (String sql : List.of(
                "SELECT count(*) FROM stock s RIGHT JOIN item i ON i.i_id = s.s_i_id",
                "SELECT count(*) FROM stock s FULL JOIN item i ON i.i_id = s.s_i_id",
                "SELECT count(*) FROM item i LEFT JOIN stock s ON i.i_id = s.s_i_id",
                "SELECT count(*) FROM stock s JOIN item s ON s.i_id = 1",
                // "a, r JOIN b USING (key)" joins b to r, not to a
                "SELECT count(*) FROM stock a, item r JOIN stock b USING (s_w_id)")) {
            CrossShardQuery q = planner.plan(sql, true);
            assertThat(q.description()).as(sql).doesNotContain("joined");
            // the rows plan: the sharded table's rows shipped, the final query joins the home shard's copy
            assertThat(q.sources())
                    .as(sql)
                    .singleElement()
                    .satisfies(source -> assertThat(source.sql()).doesNotContain("item"));
        }
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "INSERT INTO item VALUES (?, ?, ?)",
                "INSERT INTO item (i_id, i_price) VALUES (1, 2.5), (2, 3.5) ON CONFLICT (i_id) DO NOTHING",
                "UPDATE item SET i_price = i_price * 1.1 WHERE i_id = 3",
                "DELETE FROM item",
                "DELETE FROM public.item WHERE i_id IN (SELECT i_id FROM item WHERE i_price > 10)",
                "MERGE INTO item USING (VALUES (1, 2.0)) v(id, p) ON i_id = v.id WHEN NOT MATCHED THEN INSERT"
                        + " VALUES (v.id, v.p)",
                "WITH n AS (INSERT INTO item VALUES (9, 1.0) RETURNING i_id) SELECT i_id FROM n",
                "INSERT INTO item SELECT i_id + 1000, i_price FROM item"
            })
    void writesGoToEveryCopy(String sql) {
        Plan p = plan(sql);
        assertThat(p.target()).as(sql).isEqualTo(Target.REFERENCE_WRITE);
        assertThat(p.refusal()).isEqualTo("public.item");
        assertThat(p.kind()).isEqualTo(StatementKind.WRITE);
    }

    @Test
    void writesThatWouldDifferPerShardAreRefused() {
        Plan fromSharded = plan("INSERT INTO item SELECT s_i_id, 0 FROM stock WHERE s_w_id = 1");
        assertThat(fromSharded.target()).isEqualTo(Target.REFUSED);
        assertThat(fromSharded.refusal()).contains("public.item", "sharded table public.stock");
        Plan fromHome = plan("INSERT INTO item SELECT id, 0 FROM countries");
        assertThat(fromHome.target()).isEqualTo(Target.REFUSED);
        assertThat(fromHome.refusal()).contains("countries", "home shard");
        assertThat(plan("UPDATE item SET i_price = 1 FROM stock WHERE s_w_id = 1 AND s_i_id = i_id")
                        .target())
                .isEqualTo(Target.REFUSED);
        assertThat(plan("WITH item AS (SELECT 1) DELETE FROM item").target()).isEqualTo(Target.REFUSED);
        assertThat(plan("SELECT 1; DELETE FROM item").target()).isEqualTo(Target.REFUSED);
        assertThat(plan("COPY item FROM STDIN").target()).isEqualTo(Target.REFUSED);
        assertThat(plan("LOCK TABLE item").target()).isEqualTo(Target.REFUSED);
        // a DO block's body is a string: naming a declared table in it is refused, as it would run on one shard
        assertThat(plan("DO $$ BEGIN INSERT INTO item VALUES (1, 2.0); END $$").refusal())
                .contains("DO block naming item");
        assertThat(plan("DO $$ BEGIN PERFORM 1; END $$").target()).isEqualTo(Target.HOME);
    }

    @Test
    void explainsAndSelectIntoRunOnOneShard() {
        // EXPLAIN without ANALYZE runs nothing: one shard's plan, no two-phase transaction
        assertThat(plan("EXPLAIN UPDATE item SET i_price = 1").target()).isEqualTo(Target.HOME);
        assertThat(plan("EXPLAIN ANALYZE UPDATE item SET i_price = 1").target()).isEqualTo(Target.REFERENCE_WRITE);
        // SELECT INTO creates a table that is not declared: on the home shard
        assertThat(plan("SELECT * INTO item_copy FROM item").target()).isEqualTo(Target.HOME);
    }

    @Test
    void writesToOtherTablesReadingItStayWhereTheyWere() {
        assertThat(plan("INSERT INTO stock (s_w_id, s_i_id) SELECT 1, i_id FROM item WHERE i_id < 10")
                        .target())
                .isEqualTo(Target.KEYED);
        assertThat(plan("INSERT INTO countries SELECT i_id FROM item").target()).isEqualTo(Target.HOME);
        assertThat(plan("UPDATE stock SET s_quantity = 1 WHERE s_w_id = 2 AND s_i_id IN (SELECT i_id FROM item)")
                        .target())
                .isEqualTo(Target.KEYED);
    }

    @Test
    void ddlAndMaintenanceRunOnEveryShard() {
        for (String sql : List.of(
                "CREATE TABLE item (i_id int PRIMARY KEY, i_price numeric)",
                "ALTER TABLE item ADD COLUMN i_name text",
                "CREATE INDEX ON item (i_price)",
                "TRUNCATE item",
                "GRANT SELECT ON item, stock TO app",
                "COMMENT ON COLUMN item.i_price IS 'in cents'",
                "DROP TABLE item")) {
            assertThat(plan(sql).target()).as(sql).isEqualTo(Target.ALL_PRIMARIES);
        }
        assertThat(plan("GRANT SELECT ON item, countries TO app").target()).isEqualTo(Target.REFUSED);
        assertThat(plan("VACUUM item").target()).isEqualTo(Target.EACH_PRIMARY);
        assertThat(plan("COPY item TO STDOUT").target()).isEqualTo(Target.HOME);
    }
}
