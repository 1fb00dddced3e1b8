package io.shardline.router.sql;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.router.sql.Plan.Target;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.KeyType;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.ShardedTable;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Foreign keys that hold on every shard are created; those that cannot hold across shards are refused. */
class ForeignKeysTest {
    static final ClusterTopology TOPOLOGY = TwoShards.topology(
            List.of(
                    new ShardedTable("public", "district", "d_w_id", KeyType.INTEGER),
                    new ShardedTable("public", "customer", "c_w_id", KeyType.INTEGER),
                    new ShardedTable("public", "history", "h_w_id", KeyType.INTEGER),
                    new ShardedTable("public", "stock", "s_w_id", KeyType.INTEGER),
                    new ShardedTable("public", "order_line", "ol_w_id", KeyType.INTEGER),
                    new ShardedTable("public", "tenant", "name", KeyType.TEXT)),
            List.of(new ReferenceTable("public", "item"), new ReferenceTable("public", "country")),
            List.of());

    /** district's primary key, as the catalog would give it. */
    private final StatementAnalyzer analyzer = new StatementAnalyzer(
            TOPOLOGY,
            new Catalog() {
                @Override
                public List<String> columns(ShardedTable table) {
                    return List.of();
                }

                @Override
                public List<String> primaryKey(String schema, String table) {
                    return table.equals("district") ? List.of("d_w_id", "d_id") : List.of();
                }
            },
            null);

    private Plan plan(String sql) {
        return analyzer.analyze(sql);
    }

    @Test
    void keysThatStayOnOneShardAreCreatedOnEveryShard() {
        for (String sql : List.of(
                "CREATE TABLE stock (s_i_id int NOT NULL REFERENCES item (i_id), s_w_id int NOT NULL,"
                        + " PRIMARY KEY (s_w_id, s_i_id))",
                "CREATE TABLE stock (s_i_id int REFERENCES item, s_w_id int)",
                "CREATE TABLE customer (c_id int, c_d_id int, c_w_id int, PRIMARY KEY (c_w_id, c_d_id, c_id),"
                        + " CONSTRAINT c_fkey FOREIGN KEY (c_w_id, c_d_id) REFERENCES district (d_w_id, d_id))",
                // the referenced primary key read from the catalog
                "CREATE TABLE customer (c_id int, c_d_id int, c_w_id int,"
                        + " FOREIGN KEY (c_w_id, c_d_id) REFERENCES district)",
                "ALTER TABLE customer ADD CONSTRAINT c_fkey FOREIGN KEY (c_w_id, c_d_id) REFERENCES public.district"
                        + " (d_w_id, d_id)",
                "ALTER TABLE stock ADD COLUMN s_country text REFERENCES country (code), ADD COLUMN s_x int",
                "CREATE TABLE item (i_id int PRIMARY KEY, i_country text REFERENCES country)")) {
            assertThat(plan(sql).target()).as(sql).isEqualTo(Target.ALL_PRIMARIES);
        }
        // tables of the home shard referencing each other or a reference table
        assertThat(plan("CREATE TABLE audit (id int, c text REFERENCES country, w int REFERENCES warehouse)")
                        .target())
                .isEqualTo(Target.HOME);
    }

    @Test
    void keysThatCannotHoldAcrossShardsAreRefusedNamingTheConstraint() {
        Plan history = plan("CREATE TABLE history (h_c_id int, h_c_d_id int, h_c_w_id int, h_d_id int, h_w_id int,"
                + " CONSTRAINT h_customer FOREIGN KEY (h_c_w_id, h_c_d_id, h_c_id) REFERENCES customer (c_w_id,"
                + " c_d_id, c_id))");
        assertThat(history.target()).isEqualTo(Target.REFUSED);
        assertThat(history.refusal())
                .contains("h_customer", "public.history", "public.customer", "shard key h_w_id", "c_w_id");
        Plan orderLine = plan("ALTER TABLE order_line ADD FOREIGN KEY (ol_supply_w_id, ol_i_id) REFERENCES stock"
                + " (s_w_id, s_i_id)");
        assertThat(orderLine.target()).isEqualTo(Target.REFUSED);
        assertThat(orderLine.refusal()).contains("ol_w_id", "s_w_id");

        assertThat(plan("CREATE TABLE stock (s_w_id int REFERENCES warehouse (w_id))")
                        .refusal())
                .contains("warehouse is not sharded", "./shardline table reference warehouse");
        assertThat(plan("CREATE TABLE audit (w int, c_w int REFERENCES customer (c_w_id))")
                        .refusal())
                .contains("audit is not sharded and lives on the home shard");
        assertThat(plan("CREATE TABLE item (i_id int, w int REFERENCES stock (s_w_id))")
                        .refusal())
                .contains("reference table public.item", "public.stock is sharded");
        assertThat(plan("CREATE TABLE country (code text, cap int REFERENCES capitals)")
                        .refusal())
                .contains("capitals lives only on the home shard");
        // the shard keys paired, but hashed differently
        assertThat(plan("CREATE TABLE stock (s_w_id int REFERENCES tenant (name))")
                        .refusal())
                .contains("different key types");
        // the referenced columns unknown: named, or refused
        assertThat(plan("CREATE TABLE stock (s_w_id int, FOREIGN KEY (s_w_id) REFERENCES customer)")
                        .refusal())
                .contains("name the referenced columns");
    }
}
