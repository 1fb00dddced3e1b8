package io.shardline.router.sql;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.router.sql.Plan.Target;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.KeyType;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.ShardedTable;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Reads of views over sharded tables are routed like reads of their tables; their DDL runs on every shard. */
class ViewsTest {
    static final ClusterTopology TOPOLOGY = TwoShards.topology(
            List.of(
                    new ShardedTable("public", "users", "user_id", KeyType.INTEGER),
                    new ShardedTable("public", "orders", "user_id", KeyType.INTEGER)),
            List.of(new ReferenceTable("public", "item")),
            List.of());

    /** Views as pg_get_viewdef prints them. */
    static final Map<String, Catalog.View> VIEWS = Map.of(
            "active_users",
            new Catalog.View(false, " SELECT users.user_id,\n    users.name\n   FROM users\n  WHERE users.active;"),
            "user_totals",
            new Catalog.View(
                    false,
                    " SELECT orders.user_id,\n    sum(orders.amount) AS total\n   FROM orders\n  GROUP BY orders.user_id;"),
            "top_users",
            new Catalog.View(false, " SELECT users.user_id\n   FROM users\n  ORDER BY users.score DESC\n LIMIT 10;"),
            "countries_v",
            new Catalog.View(false, " SELECT countries.code\n   FROM countries;"),
            "item_v",
            new Catalog.View(false, " SELECT item.i_id\n   FROM item;"),
            "nested",
            new Catalog.View(false, " SELECT active_users.user_id\n   FROM active_users;"),
            "user_names",
            new Catalog.View(true, " SELECT users.user_id, users.name\n   FROM users;"),
            "totals_eur",
            new Catalog.View(
                    false,
                    " SELECT orders.user_id,\n    sum(orders.amount) AS \"amount.eur\"\n   FROM orders\n  GROUP BY"
                            + " orders.user_id;"));

    private final StatementAnalyzer analyzer = new StatementAnalyzer(
            TOPOLOGY,
            new Catalog() {
                @Override
                public List<String> columns(ShardedTable table) {
                    return List.of();
                }

                @Override
                public Set<String> schemasWith(String relation) {
                    return VIEWS.containsKey(relation) || relation.equals("countries") ? Set.of("public") : Set.of();
                }

                @Override
                public SearchPath defaultSearchPath() {
                    return new SearchPath(List.of("public"));
                }

                @Override
                public Optional<View> view(String schema, String name) {
                    return schema.equals("public") ? Optional.ofNullable(VIEWS.get(name)) : Optional.empty();
                }
            },
            null);

    private Plan plan(String sql) {
        return analyzer.analyze(sql);
    }

    /**
     * A dot inside a quoted name of a view's definition goes to JSqlParser as another character; the expanded text
     * run on the shards has the dot again (it had the private-use character: a column PostgreSQL named otherwise).
     */
    @Test
    void aViewsQuotedNameHoldingADotIsExpandedAsWritten() {
        Plan p = plan("SELECT * FROM totals_eur WHERE user_id = 5");
        assertThat(p.target()).isEqualTo(Target.KEYED);
        assertThat(p.expanded()).contains("\"amount.eur\"").doesNotContain("\uE000");
    }

    @Test
    void aViewExposingTheKeyIsReadOnTheKeysShard() {
        Plan keyed = plan("SELECT name FROM active_users WHERE user_id = ?");
        assertThat(keyed.target()).isEqualTo(Target.KEYED);
        assertThat(keyed.keyGroups().get(0).sources())
                .extracting(KeySource::toString)
                .containsExactly("$1");
        assertThat(plan("SELECT total FROM user_totals t WHERE t.user_id = 5").target())
                .isEqualTo(Target.KEYED);
        assertThat(plan("SELECT * FROM nested WHERE user_id = 3").target()).isEqualTo(Target.KEYED);
        assertThat(plan("SELECT * FROM active_users a JOIN orders o ON o.user_id = a.user_id WHERE o.user_id = 3")
                        .target())
                .isEqualTo(Target.KEYED);
    }

    @Test
    void otherReadsOfItAreAnsweredAcrossShardsFromItsDefinition() {
        Plan all = plan("SELECT count(*) FROM active_users");
        assertThat(all.target()).isEqualTo(Target.CROSS_SHARD);
        assertThat(all.crossShardSql("ignored"))
                .contains("FROM users", "active_users")
                .doesNotContain("FROM active_users");
        // LIMIT inside: the view's rows for one key may depend on other shards' rows
        assertThat(plan("SELECT * FROM top_users WHERE user_id = 5").target()).isEqualTo(Target.CROSS_SHARD);
        assertThat(plan("SELECT * FROM (SELECT user_id, row_number() OVER () AS n FROM users) u WHERE user_id = 1")
                        .target())
                .isEqualTo(Target.CROSS_SHARD);
        // views of the home shard's tables stay there, views of reference tables wherever the statement is
        Plan home = plan("SELECT * FROM countries_v");
        assertThat(home.target()).isEqualTo(Target.HOME);
        assertThat(home.expanded()).isNull();
        assertThat(plan("SELECT * FROM item_v").target()).isEqualTo(Target.ANY);
    }

    @Test
    void subqueriesExposingTheKeyAreKeyedToo() {
        assertThat(plan("SELECT * FROM (SELECT user_id, name FROM users) u WHERE u.user_id = ?")
                        .target())
                .isEqualTo(Target.KEYED);
        assertThat(plan("SELECT * FROM (SELECT user_id AS id FROM users GROUP BY user_id) u WHERE id = 4")
                        .target())
                .isEqualTo(Target.KEYED);
        assertThat(plan("SELECT * FROM (SELECT user_id FROM users LIMIT 5) u WHERE user_id = 1")
                        .target())
                .isEqualTo(Target.CROSS_SHARD);
        assertThat(plan("SELECT * FROM (SELECT max(user_id) AS user_id FROM users) u WHERE user_id = 1")
                        .target())
                .isEqualTo(Target.CROSS_SHARD);
        assertThat(plan("SELECT * FROM (SELECT DISTINCT ON (name) user_id FROM users) u WHERE user_id = 1")
                        .target())
                .isEqualTo(Target.CROSS_SHARD);
    }

    @Test
    void itIsNeverLeftToOneShard() {
        // inside a parenthesized join: replaced there, and the join (not analyzed by key) is read across shards
        assertThat(plan("SELECT * FROM (active_users a JOIN item i ON i.i_id = a.user_id)")
                        .target())
                .isEqualTo(Target.CROSS_SHARD);
        // where it cannot be replaced: refused
        assertThat(plan("TABLE active_users").target()).isEqualTo(Target.REFUSED);
        // an exported key does not hide a sharded table the analysis did not scope
        assertThat(plan("SELECT count(*) FROM (SELECT user_id FROM users) u, (orders o JOIN item i ON i.i_id ="
                                + " o.user_id) WHERE u.user_id = ?")
                        .target())
                .isEqualTo(Target.CROSS_SHARD);
        // a catalog that cannot be read: whether it is such a view is unknown, so it is refused
        StatementAnalyzer failing = new StatementAnalyzer(
                TOPOLOGY,
                new Catalog() {
                    private long failures;

                    @Override
                    public List<String> columns(ShardedTable table) {
                        return List.of();
                    }

                    @Override
                    public Optional<View> view(String schema, String name) {
                        failures++;
                        return Optional.empty();
                    }

                    @Override
                    public long failures() {
                        return failures;
                    }
                },
                null);
        assertThat(failing.analyze("SELECT * FROM public.active_users WHERE user_id = 1")
                        .refusal())
                .contains("catalog could not be read");
    }

    @Test
    void writesThroughItAndMaterializedOnesAreRefused() {
        assertThat(plan("INSERT INTO active_users VALUES (1, 'x')").refusal()).contains("writes through the view");
        assertThat(plan("SELECT * FROM user_names WHERE user_id = 1").refusal()).contains("materialized view");
        assertThat(plan("SELECT * FROM user_names").target()).isEqualTo(Target.REFUSED);
    }

    @Test
    void itsDdlRunsOnEveryShard() {
        for (String sql : List.of(
                "CREATE VIEW v AS SELECT * FROM users",
                "CREATE OR REPLACE VIEW v AS SELECT i_id FROM item",
                "CREATE VIEW v AS SELECT * FROM active_users",
                "CREATE MATERIALIZED VIEW m AS SELECT user_id FROM orders",
                "DROP VIEW IF EXISTS active_users",
                "ALTER VIEW active_users RENAME TO a",
                "REFRESH MATERIALIZED VIEW user_names")) {
            assertThat(plan(sql).target()).as(sql).isEqualTo(Target.ALL_PRIMARIES);
        }
        assertThat(plan("REFRESH MATERIALIZED VIEW CONCURRENTLY user_names").target())
                .isEqualTo(Target.EACH_PRIMARY);
        assertThat(plan("CREATE VIEW v AS SELECT * FROM countries").target()).isEqualTo(Target.HOME);
        // a temporary view lives on one node: over a sharded table it would read that shard's rows only
        assertThat(plan("CREATE TEMP VIEW v AS SELECT * FROM countries").target())
                .isEqualTo(Target.HOME);
        assertThat(plan("CREATE TEMP VIEW v AS SELECT * FROM users").refusal())
                .contains("temporary view over the sharded table public.users");
        assertThat(plan("DROP VIEW countries_v").target()).isEqualTo(Target.HOME);
        assertThat(plan("DROP VIEW active_users, countries_v").target()).isEqualTo(Target.REFUSED);
    }
}
