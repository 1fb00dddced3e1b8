package io.shardline.router.sql;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.shardline.router.sql.Plan.Target;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.KeyType;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.Shard;
import io.shardline.topology.ShardedTable;
import java.sql.Connection;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class StatementAnalyzerTest {
    static final ClusterTopology TOPOLOGY = new ClusterTopology(
            "t",
            1,
            "db",
            "u",
            0,
            List.of(
                    new Shard(0, List.of(new Node("s0", NodeRole.PRIMARY, "h", 1, null))),
                    new Shard(1, List.of(new Node("s1", NodeRole.PRIMARY, "h", 2, null)))),
            List.of(
                    new ShardedTable("public", "users", "user_id", KeyType.INTEGER),
                    new ShardedTable("public", "orders", "user_id", KeyType.INTEGER),
                    new ShardedTable("public", "Events", "tenant", KeyType.TEXT),
                    new ShardedTable("public", "devices", "id", KeyType.UUID),
                    new ShardedTable("public", "Accounts", "AccountId", KeyType.INTEGER)));

    private final StatementAnalyzer analyzer = new StatementAnalyzer(TOPOLOGY);

    private Plan plan(String sql) {
        return analyzer.analyze(sql);
    }

    private static List<String> sources(Plan p) {
        return p.keyGroups().stream()
                .flatMap(g -> g.sources().stream())
                .map(KeySource::toString)
                .toList();
    }

    @Test
    void anInsertSelectFromAListWithOnConflictAndAKeywordLabelAreKeyed() {
        Plan p = plan("WITH k AS (SELECT ?::bigint AS uid) INSERT INTO orders (user_id, order_id, amount) SELECT k.uid,"
                + " g, 7.5 * g FROM k, generate_series(1, 3) g ON CONFLICT (user_id, order_id) DO NOTHING RETURNING"
                + " user_id");
        assertThat(p.target()).isEqualTo(Target.KEYED);
        assertThat(sources(p)).containsExactly("$1");
        Plan q = plan("UPDATE users SET doc = doc || '{}' WHERE user_id = ? RETURNING doc -> 'inner' AS inner");
        assertThat(q.target()).isEqualTo(Target.KEYED);
        assertThat(sources(q)).containsExactly("$1");
    }

    @Test
    void anInsertSelectTakesItsKeyFromAOneRowValuesList() {
        Plan p = plan("INSERT INTO users (user_id, name) SELECT v.id, v.name FROM (VALUES (?, 'a')) AS v(id, name)");
        assertThat(p.target()).isEqualTo(Target.KEYED);
        assertThat(sources(p)).containsExactly("$1");
        Plan q =
                plan("WITH k(uid, nm) AS (VALUES (?::bigint, ?::text)) INSERT INTO users (user_id, name) SELECT uid, nm"
                        + " FROM k");
        assertThat(q.target()).isEqualTo(Target.KEYED);
        assertThat(sources(q)).containsExactly("$1");
        Plan m = plan("WITH src(id, nm) AS (VALUES (?::bigint, 'x')) MERGE INTO users AS t USING src ON t.user_id ="
                + " src.id WHEN MATCHED THEN UPDATE SET score = 1 WHEN NOT MATCHED THEN INSERT (user_id, name) VALUES"
                + " (src.id, src.nm)");
        assertThat(m.target()).isEqualTo(Target.KEYED);
        assertThat(sources(m)).containsExactly("$1");
        // several rows may belong to several shards; a sharded table read beside the row is read on every shard
        for (String sql : List.of(
                "INSERT INTO users (user_id, name) SELECT v.id, v.name FROM (VALUES (?, 'a'), (?, 'b')) AS v(id, name)",
                "WITH k(uid) AS (VALUES (?), (?)) INSERT INTO users (user_id) SELECT uid FROM k",
                "INSERT INTO orders (user_id, order_id) SELECT v.id, o.order_id FROM (VALUES (?)) AS v(id), orders o",
                "WITH k(uid) AS (VALUES (?)) INSERT INTO orders (user_id, order_id) SELECT k.uid, o.order_id FROM k,"
                        + " orders o",
                "WITH k AS (SELECT ?::bigint AS uid) INSERT INTO orders (user_id, order_id) SELECT k.uid, o.order_id"
                        + " FROM k, orders o")) {
            assertThat(plan(sql).target()).as(sql).isNotEqualTo(Target.KEYED);
        }
    }

    @Test
    void anUpdateAssigningIntoJsonbPathsIsKeyedByItsWhere() {
        Plan p = plan("UPDATE users SET doc['h8']['n'] = to_jsonb(score), doc['list'][3] = '\"p\"' WHERE user_id = ?"
                + " RETURNING user_id, doc['list'][3]");
        assertThat(p.target()).isEqualTo(Target.KEYED);
        assertThat(sources(p)).containsExactly("$1");
        // placeholders in the later subscripts: never keyed by the wrong one
        for (String sql : List.of(
                "UPDATE users SET doc[?][?] = ? WHERE user_id = ?",
                "UPDATE users SET doc['a'][?] = ?, score = 1 WHERE user_id = ?")) {
            Plan q = plan(sql);
            if (q.target() == Target.KEYED) {
                assertThat(sources(q)).as(sql).containsExactly("$" + q.parameterCount());
            }
        }
    }

    @Test
    void pointReadByParameterIsKeyedAndReadOnly() {
        Plan p = plan("SELECT * FROM users WHERE user_id = ?");
        assertThat(p.kind()).isEqualTo(StatementKind.READ);
        assertThat(p.target()).isEqualTo(Target.KEYED);
        assertThat(sources(p)).containsExactly("$1");
        assertThat(p.parameterCount()).isEqualTo(1);
    }

    /**
     * Numeric literals in any spelling are keys: the key type makes of them what PostgreSQL does (an insert of
     * {@code 9523.0} stores 9523; the smallest bigint, whose digits alone overflow a long, is a key as well).
     */
    @Test
    void numericLiteralsOfEverySpellingAreKeys() {
        assertThat(sources(plan("UPDATE users SET score = 1 WHERE user_id = 9507.0")))
                .containsExactly("9507.0");
        assertThat(plan("INSERT INTO users (user_id) VALUES (9523.0)").target()).isEqualTo(Target.KEYED);
        assertThat(sources(plan("INSERT INTO users (user_id) VALUES (-9223372036854775808)")))
                .containsExactly("-9223372036854775808");
        assertThat(sources(plan("SELECT * FROM users WHERE user_id = 9223372036854775808")))
                .as("past 64 bits: no row's key, whichever shard answers")
                .containsExactly("9223372036854775808");
        assertThat(sources(plan("SELECT * FROM users WHERE user_id = -1.5e1"))).containsExactly("-15");
        assertThat(sources(plan("SELECT * FROM users WHERE user_id = +12"))).containsExactly("12");
    }

    /** A CTE of the MERGE as its source is keyed as the same subquery written in USING. */
    @Test
    void aMergeFromACteIsKeyedAsFromASubquery() {
        Plan p = plan("WITH src AS (SELECT ?::bigint AS id, 5::numeric AS amt) MERGE INTO users u USING src ON"
                + " u.user_id = src.id WHEN MATCHED THEN UPDATE SET score = u.score + 1 WHEN NOT MATCHED THEN"
                + " INSERT (user_id, name) VALUES (src.id, 'x')");
        assertThat(p.target()).isEqualTo(Target.KEYED);
        assertThat(sources(p)).containsExactly("$1");
        assertThat(plan("WITH src AS (SELECT user_id AS id FROM orders) MERGE INTO users u USING src ON"
                                + " u.user_id = src.id WHEN NOT MATCHED THEN INSERT (user_id) VALUES (src.id)")
                        .target())
                .as("every order's key")
                .isNotEqualTo(Target.KEYED);
    }

    /** EXCLUDED in ON CONFLICT DO UPDATE is the inserted row: a subquery reading by its key reads the same shard. */
    @Test
    void anUpsertsSubqueryByTheExcludedRowsKeyIsKeyedByTheInsertedKey() {
        Plan p = plan("INSERT INTO users (user_id, name) VALUES (?, 'x') ON CONFLICT (user_id) DO UPDATE SET score ="
                + " (SELECT count(*) FROM orders o WHERE o.user_id = excluded.user_id) RETURNING user_id, score");
        assertThat(p.target()).isEqualTo(Target.KEYED);
        assertThat(sources(p)).containsExactly("$1");
        assertThat(plan("INSERT INTO users (user_id, name) VALUES (?, 'x') ON CONFLICT (user_id) DO UPDATE SET score"
                                + " = (SELECT count(*) FROM orders o WHERE o.user_id = excluded.score)")
                        .target())
                .as("not by its key")
                .isNotEqualTo(Target.KEYED);
    }

    @Test
    void aDeleteUsingAValuesListIsKeyedByItsTable() {
        // the parser's USING list holds the (VALUES ...) where its type says tables: it was refused as a form the
        // analysis did not know (a ClassCastException)
        Plan p = plan("DELETE FROM orders o USING (VALUES (1), (2), (7)) AS v(id) WHERE o.user_id = ?"
                + " AND o.order_id = v.id RETURNING o.order_id");
        assertThat(p.target()).isEqualTo(Target.KEYED);
        assertThat(sources(p)).containsExactly("$1");
        assertThat(sources(plan("DELETE FROM orders o USING users u WHERE o.user_id = ? AND u.user_id = o.user_id")))
                .containsExactly("$1");
    }

    @Test
    void explainAnalyseInEitherSpellingRunsTheWriteItExplains() {
        for (String sql : List.of(
                "EXPLAIN ANALYSE UPDATE users SET name = 'x' WHERE user_id = 7",
                "EXPLAIN (ANALYSE) UPDATE users SET name = 'x' WHERE user_id = 7",
                "EXPLAIN (ANALYSE, BUFFERS) UPDATE users SET name = 'x' WHERE user_id = 7",
                "EXPLAIN ANALYZE UPDATE users SET name = 'x' WHERE user_id = 7")) {
            Plan p = plan(sql);
            assertThat(p.kind()).as(sql).isEqualTo(StatementKind.WRITE);
            assertThat(p.target()).as(sql).isEqualTo(Target.KEYED);
            assertThat(sources(p)).as(sql).containsExactly("7");
        }
        assertThat(plan("EXPLAIN UPDATE users SET name = 'x' WHERE user_id = 7").kind())
                .isEqualTo(StatementKind.READ);
    }

    /**
     * The driver follows transactions by BEGIN, COMMIT...: inside a string of several statements it would not (found
     * by a differential review: "BEGIN; INSERT ..." left the connection in a transaction, later writes never
     * committed).
     */
    @Test
    void severalStatementsInOneStringWithTransactionControlAreRefused() {
        for (String sql : List.of(
                "BEGIN; INSERT INTO settings VALUES (1)",
                "INSERT INTO settings VALUES (1); COMMIT",
                "select 1;\n  rollback",
                "START TRANSACTION; SELECT 1",
                "SAVEPOINT a; SELECT 1",
                "SELECT 1; PREPARE TRANSACTION 'x'",
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END; COMMIT",
                "SELECT 1; END")) {
            Plan p = plan(sql);
            assertThat(p.target()).as(sql).isEqualTo(Target.REFUSED);
            assertThat(p.refusal()).as(sql).contains("several statements in one string include");
        }
        // a function body's BEGIN ... END is a string; one statement with its semicolon is one statement
        assertThat(plan("DO $$BEGIN PERFORM 1; END$$; SELECT 1").target()).isEqualTo(Target.HOME);
        // a SQL-standard function body: its statements and END are the function's (Flyway sends it as one)
        assertThat(plan("CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT a + b; END")
                        .target())
                .isEqualTo(Target.HOME);
        assertThat(plan("CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO settings VALUES (1);"
                                + " SELECT CASE WHEN true THEN 1 END; END;")
                        .target())
                .isEqualTo(Target.HOME);
        assertThat(plan("SELECT 1; SELECT 2").target()).isEqualTo(Target.HOME);
        assertThat(plan("BEGIN;").target()).isEqualTo(Target.DRIVER);
    }

    @Test
    void explainRouteIsTheDriversAndCarriesTheStatementItExplains() {
        Plan p = plan("/* why */ explain Route\n UPDATE users SET name = ? WHERE user_id = ?");
        assertThat(p.target()).isEqualTo(Target.DRIVER);
        assertThat(p.command()).isEqualTo("EXPLAIN ROUTE");
        assertThat(p.setting()).isEqualTo("UPDATE users SET name = ? WHERE user_id = ?");
        assertThat(p.parameterCount()).isEqualTo(2);
        assertThat(plan("EXPLAIN ROUTE").target()).isEqualTo(Target.REFUSED);
        // a column or table named route is PostgreSQL's EXPLAIN of a statement, as before
        assertThat(plan("EXPLAIN SELECT route FROM users WHERE user_id = 7").target())
                .isEqualTo(Target.KEYED);
    }

    @Test
    void jdbcEscapesThatPgjdbcExpandsIntoMorePlaceholdersAreRefusedAndTheOthersKeyed() {
        // pgjdbc sends substring(? from (length(?)+1- ?)), ?: the application binds four, the key fourth
        Plan right = plan("INSERT INTO users (name, user_id) VALUES ({fn right(?, ?)}, ?)");
        assertThat(right.target()).isEqualTo(Target.REFUSED);
        assertThat(right.refusal()).contains("into 4 placeholders where the text has 3");
        assertThat(right.parameterCount()).isEqualTo(4);
        assertThat(plan("UPDATE users SET name = 'x' WHERE user_id = ? AND {fn locate(?, name, ?)} > 0")
                        .target())
                .isEqualTo(Target.REFUSED);
        // escapes pgjdbc translates one placeholder for one keep the analysis's numbering
        Plan ucase = plan("UPDATE users SET name = {fn ucase(?)} WHERE user_id = ?");
        assertThat(ucase.target()).isEqualTo(Target.KEYED);
        assertThat(sources(ucase)).containsExactly("$2");
        Plan ts = plan("SELECT * FROM users WHERE created > {ts '2024-01-01 00:00:00'} AND user_id = ?");
        assertThat(sources(ts)).containsExactly("$1");
        // a brace inside a string is no escape
        assertThat(sources(plan("SELECT * FROM users WHERE name = '{fn right(?, ?)}' AND user_id = ?")))
                .containsExactly("$1");
    }

    @Test
    void aLineCommentEndsAtACarriageReturnAsInPostgresql() {
        // SQL files with CR line ends: the statement after the comment is what PostgreSQL runs
        Plan delete = plan("-- nightly purge\rDELETE FROM orders WHERE user_id = ?");
        assertThat(delete.kind()).isEqualTo(StatementKind.WRITE);
        assertThat(delete.target()).isEqualTo(Target.KEYED);
        assertThat(sources(delete)).containsExactly("$1");
        assertThat(delete.parameterCount()).isEqualTo(1);
        // a second statement after a CR-ended comment is seen, not read as part of the comment
        assertThat(plan("SELECT 1 --\r; DELETE FROM orders WHERE true").target())
                .isEqualTo(Target.REFUSED);
    }

    @Test
    void aSlashBeforeABlockCommentIsADivisionNotALineComment() {
        // PostgreSQL reads 4//**/1 as 4 / 1; read as a // line comment, the WHERE lost its OR and the write went to
        // one shard
        Plan delete = plan("DELETE FROM orders WHERE user_id = 4//**/1 OR user_id > 0");
        assertThat(delete.target()).isNotEqualTo(Target.KEYED);
        Plan update = plan("UPDATE orders SET amount = 0 WHERE user_id = 4 //* half */ 2");
        assertThat(update.target()).isNotEqualTo(Target.KEYED);
        assertThat(sources(plan("SELECT * FROM users WHERE user_id = 8 /* a comment */")))
                .containsExactly("8");
    }

    @Test
    void updateOnlyAndDeleteFromOnlyAreRoutedByTheirKey() {
        Plan update =
                plan("UPDATE ONLY users SET name = name || '!' WHERE ? = user_id AND (score >= 0 OR score IS NULL)"
                        + " RETURNING user_id, name");
        assertThat(update.target()).isEqualTo(Target.KEYED);
        assertThat(sources(update)).containsExactly("$1");
        assertThat(sources(plan("DELETE FROM ONLY users WHERE user_id = 7"))).containsExactly("7");
        // FOR UPDATE is no UPDATE statement: a table named only stays a table
        assertThat(plan("SELECT * FROM users WHERE user_id = 3 FOR UPDATE").target())
                .isEqualTo(Target.KEYED);
    }

    @Test
    void literalsCastsAndParameterOrderAreUnderstood() {
        assertThat(sources(plan("SELECT name FROM users WHERE status = ? AND user_id = ?::bigint")))
                .containsExactly("$2");
        assertThat(sources(plan("SELECT * FROM users WHERE user_id = 42"))).containsExactly("42");
        assertThat(sources(plan("SELECT * FROM users WHERE -7 = user_id"))).containsExactly("-7");
        assertThat(sources(plan("SELECT * FROM users WHERE user_id = CAST(? AS bigint)")))
                .containsExactly("$1");
        assertThat(sources(plan("SELECT * FROM \"Events\" WHERE tenant = 'o''brien'")))
                .containsExactly("o'brien");
        assertThat(sources(plan("SELECT * FROM users WHERE user_id IN (?, ?, 3)")))
                .containsExactly("$1", "$2", "3");
        assertThat(sources(plan("SELECT * FROM users u WHERE u.user_id = ? AND (u.status = 'a')")))
                .containsExactly("$1");
    }

    @Test
    void anInsertWithoutAColumnListFindsItsKeyByTheTablesCatalog() {
        StatementAnalyzer withCatalog = new StatementAnalyzer(
                TOPOLOGY,
                t -> t.table().equals("orders") ? List.of("order_id", "user_id", "amount") : List.of("user_id", "name"),
                null);
        Plan single = withCatalog.analyze("INSERT INTO orders VALUES (?, ?, ?)");
        assertThat(single.target()).isEqualTo(Target.KEYED);
        assertThat(sources(single)).containsExactly("$2");
        assertThat(sources(withCatalog.analyze("INSERT INTO orders VALUES (1, 7, 1.5), (2, 7, 2.5)")))
                .containsExactly("7", "7");
        assertThat(plan("INSERT INTO orders VALUES (1, 7, 1.5)").refusal())
                .as("no catalog at hand")
                .contains("no column list", "name the columns");
        assertThat(withCatalog
                        .analyze("INSERT INTO orders (order_id, amount) VALUES (1, 2)")
                        .refusal())
                .contains("does not set its shard key user_id", "sequence");
    }

    @Test
    void anInsertSelectStaysWhenItsKeyProvablyDoes() {
        Plan byKey =
                plan("INSERT INTO orders (user_id, order_id) SELECT u.user_id, 1 FROM users u WHERE u.user_id = ?");
        assertThat(byKey.target()).isEqualTo(Target.KEYED);
        assertThat(sources(byKey)).containsExactly("$1");
        assertThat(sources(plan("INSERT INTO orders (user_id, order_id) SELECT ?, 1 FROM countries")))
                .as("a parameter key; reading an unsharded table is another matter")
                .isEmpty();
        assertThat(plan("INSERT INTO orders (user_id, order_id) SELECT ?, 1").target())
                .isEqualTo(Target.KEYED);
        assertThat(plan("INSERT INTO orders (user_id, order_id) SELECT user_id + 1, 1 FROM users WHERE user_id = 1")
                        .target())
                .isEqualTo(Target.REFUSED);
        assertThat(plan("INSERT INTO orders (user_id, order_id) SELECT user_id, 1 FROM users")
                        .target())
                .as("rows of every shard")
                .isEqualTo(Target.REFUSED);
    }

    /**
     * PostgreSQL reads {@code a AND doc->>'k' = ? OR c} as {@code (a AND ...) OR c}: every shard. JSqlParser's complex
     * grammar alone took the OR into the JSON operator's right side, and the statement for one keyed by {@code a}.
     */
    @Test
    void anOrAfterAJsonOperatorIsTheWholeConditionsOr() {
        for (String sql : List.of(
                "UPDATE users SET name = 'x' WHERE user_id = ? AND doc->>'kind' = ? OR doc->>'kind' = 'global'",
                "DELETE FROM users WHERE user_id = 5 AND doc->'a' = '1' OR user_id = 7",
                "DELETE FROM users WHERE user_id = 5 AND doc#>'{a}' = '1' OR true",
                "DELETE FROM users WHERE user_id = 5 AND doc #>> '{a}' = '1' OR score > 10")) {
            assertThat(plan(sql).target()).as(sql).isEqualTo(Target.EVERY_SHARD);
        }
        assertThat(plan("SELECT * FROM users WHERE user_id = 5 AND doc->>'a' = '1' OR score > 10")
                        .target())
                .isNotEqualTo(Target.KEYED);
        // the same with the OR inside parentheses stays keyed
        assertThat(plan("SELECT * FROM users WHERE user_id = 5 AND (doc->>'a' = '1' OR score > 10)")
                        .target())
                .isEqualTo(Target.KEYED);
    }

    /**
     * A dot inside a quoted name is part of the name: JSqlParser split {@code "a b.c".user_id} into column user_id of
     * table c in schema "a b", so the alias named nothing and a keyed read went across shards (its rewrite failed with
     * 42P01); {@code "public.users"} is a table of that name, not the sharded users.
     */
    @Test
    void aDotInsideAQuotedNameIsPartOfTheName() {
        Plan aliased = plan("SELECT \"a b.c\".score FROM users \"a b.c\" WHERE \"a b.c\".user_id = ?");
        assertThat(aliased.target()).as(aliased.refusal()).isEqualTo(Target.KEYED);
        assertThat(sources(aliased)).containsExactly("$1");
        Plan written = plan("UPDATE users AS \"u.1\" SET score = 1 WHERE \"u.1\".user_id = 7");
        assertThat(written.target()).as(written.refusal()).isEqualTo(Target.KEYED);
        assertThat(sources(written)).containsExactly("7");
        assertThat(plan("SELECT * FROM \"public.users\" WHERE user_id = ?").target())
                .isEqualTo(Target.HOME);
        assertThat(plan("SELECT * FROM public.\"users\" WHERE user_id = ?").target())
                .isEqualTo(Target.KEYED);
    }

    /**
     * A WITH query's rows carry the key of the sharded table they come from: a data-modifying one's {@code RETURNING}
     * of the key, a SELECT's key column. Its readers are bound only when it is bound by its own conditions, never the
     * reverse: a reader's filter neither narrows the rows it writes nor the rows its other readers see.
     */
    @Test
    void aWithQuerysKeyBindsItsReadersOnlyWhenItIsBoundItself() {
        for (String sql : List.of(
                "WITH bumped AS (UPDATE users SET score = score + 1 WHERE user_id = ? RETURNING user_id, score)"
                        + " SELECT b.user_id, (SELECT count(*) FROM orders o WHERE o.user_id = b.user_id) FROM bumped b",
                "WITH bumped AS (UPDATE users SET score = score + 1 WHERE user_id = ? RETURNING user_id)"
                        + " SELECT o.order_id FROM bumped b JOIN orders o ON o.user_id = b.user_id",
                "WITH i AS (INSERT INTO users (user_id, name) VALUES (?, 'x') RETURNING user_id)"
                        + " INSERT INTO orders (user_id, order_id) SELECT user_id, 1 FROM i",
                "WITH moved AS (DELETE FROM orders WHERE user_id = ? AND order_id = 20 RETURNING user_id, amount)"
                        + " INSERT INTO orders (user_id, order_id, amount) SELECT user_id, 30, amount FROM moved",
                "WITH x AS (SELECT user_id AS uid FROM users WHERE user_id = ?) SELECT * FROM x JOIN orders o ON"
                        + " o.user_id = x.uid",
                "WITH moved AS (DELETE FROM orders WHERE user_id = ? RETURNING *) INSERT INTO orders (user_id,"
                        + " order_id, amount) SELECT user_id, order_id + 100, amount FROM moved",
                "WITH x AS (SELECT * FROM users WHERE user_id = ?) SELECT x.score, (SELECT count(*) FROM orders o"
                        + " WHERE o.user_id = x.user_id) FROM x",
                "SELECT x.score, o.order_id FROM (SELECT * FROM users WHERE user_id = ?) x JOIN orders o ON o.user_id"
                        + " = x.user_id")) {
            Plan p = plan(sql);
            assertThat(p.target()).as("%s: %s", sql, p.refusal()).isEqualTo(Target.KEYED);
            assertThat(sources(p)).as(sql).containsOnly("$1");
        }
        // a reader's filter does not make the DELETE one shard's: it deletes on every shard
        assertThat(plan("WITH d AS (DELETE FROM users WHERE score < 0 RETURNING user_id) SELECT * FROM d JOIN orders o"
                                + " ON o.user_id = d.user_id WHERE d.user_id = 5")
                        .target())
                .isNotEqualTo(Target.KEYED);
        // nor the rows another reader of the same WITH query sees
        assertThat(plan("WITH x AS (SELECT user_id, score FROM users) SELECT a.score, (SELECT max(score) FROM x b) FROM"
                                + " x a WHERE a.user_id = 1")
                        .target())
                .isNotEqualTo(Target.KEYED);
        // readers that do not filter the statement's rows, or of a FROM keeping unmatched rows: no key from it
        String x5 = "WITH x AS (SELECT user_id FROM users WHERE user_id = 5) ";
        String bumped5 = "WITH d AS (UPDATE users SET score = 1 WHERE user_id = 5 RETURNING user_id) ";
        String orEx = "WITH d AS (DELETE FROM users u WHERE u.score < 0 OR EXISTS (SELECT 1 FROM orders o WHERE"
                + " o.user_id = u.user_id AND o.user_id = 5) RETURNING user_id) ";
        for (String sql : List.of(
                x5 + "SELECT * FROM orders o WHERE NOT EXISTS (SELECT 1 FROM x WHERE x.user_id = o.user_id)",
                x5 + "SELECT * FROM orders o WHERE o.amount > 10 OR EXISTS (SELECT 1 FROM x WHERE x.user_id ="
                        + " o.user_id)",
                x5 + "SELECT * FROM orders o WHERE (SELECT count(*) FROM x WHERE x.user_id = o.user_id) = 0",
                x5 + "SELECT o.order_id, (SELECT count(*) FROM x WHERE x.user_id = o.user_id) FROM orders o",
                x5 + "SELECT * FROM orders o, LATERAL (SELECT count(*) FROM x WHERE x.user_id = o.user_id) c",
                x5 + "SELECT * FROM x RIGHT JOIN orders o ON o.user_id = x.user_id",
                x5 + "SELECT * FROM x FULL JOIN orders o ON o.user_id = x.user_id",
                x5 + "DELETE FROM orders o WHERE NOT EXISTS (SELECT 1 FROM x WHERE x.user_id = o.user_id)",
                bumped5 + "UPDATE orders o SET amount = 0 WHERE NOT EXISTS (SELECT 1 FROM d WHERE d.user_id ="
                        + " o.user_id)",
                // bound only by a value of a block that does not filter its rows: the reader's filter must not count
                orEx + "SELECT * FROM d WHERE d.user_id = 5",
                orEx + "INSERT INTO orders (user_id, order_id) SELECT user_id, 1 FROM d WHERE user_id = 5",
                // renamed by position: y.user_id is the score
                "WITH x AS (SELECT user_id, score FROM users WHERE user_id = 5) SELECT * FROM x AS y(score,"
                        + " user_id) JOIN orders o ON o.user_id = y.user_id",
                "WITH x AS (SELECT user_id, score FROM users WHERE user_id = 5) INSERT INTO orders (user_id,"
                        + " order_id) SELECT y.user_id, 1 FROM x AS y(score, user_id)",
                // a WITH query of a subquery: the outer rep is another table
                "SELECT * FROM orders o JOIN rep ON rep.user_id = o.user_id WHERE o.order_id IN (WITH rep AS"
                        + " (SELECT user_id FROM users WHERE user_id = 5) SELECT user_id FROM rep)")) {
            assertThat(plan(sql).target()).as(sql).isNotEqualTo(Target.KEYED);
        }
        // a column list renames by position, a recursive one reads itself: no key
        assertThat(plan("WITH x(k) AS (SELECT score FROM users WHERE user_id = 1) SELECT * FROM x JOIN orders o ON"
                                + " o.user_id = x.k")
                        .target())
                .isNotEqualTo(Target.KEYED);
    }

    /**
     * A second review's findings: each of these needs more than shard(5). A LEFT JOIN ... USING keeps every row of
     * its left side; USING joins only the items since the last comma; a WITH query's name is a table in the bodies
     * of the queries before it; a MERGE source renamed by position; a block that always returns a row (an aggregate
     * however spelled) does not filter.
     */
    @Test
    void joinsUsingSiblingsMergeSourcesAndAggregatesBindOnlyWhatTheyNarrow() {
        String x5 = "WITH x AS (SELECT user_id FROM users WHERE user_id = 5) ";
        for (String sql : List.of(
                x5 + "SELECT * FROM orders o LEFT JOIN x USING (user_id)",
                x5 + "SELECT * FROM orders o LEFT JOIN x USING (user_id) WHERE x.user_id IS NULL",
                x5 + "UPDATE orders o SET amount = 0 FROM orders o2 LEFT JOIN x USING (user_id) WHERE o.user_id ="
                        + " o2.user_id",
                x5 + "INSERT INTO orders (user_id, order_id) SELECT o.user_id, o.order_id + 1000 FROM orders o LEFT"
                        + " JOIN x USING (user_id)",
                "SELECT * FROM orders o LEFT JOIN (SELECT user_id FROM users WHERE user_id = 5) u USING (user_id)",
                "SELECT * FROM users a, orders o JOIN users u USING (user_id) WHERE a.user_id = 5",
                x5 + "SELECT * FROM x, orders o JOIN users u USING (user_id)",
                "WITH a AS (SELECT o.* FROM orders o JOIN rep ON rep.user_id = o.user_id), rep AS (SELECT user_id"
                        + " FROM users WHERE user_id = 5) SELECT * FROM a",
                "WITH x AS (SELECT user_id, score FROM users WHERE user_id = 5) MERGE INTO orders o USING x AS"
                        + " y(score, user_id) ON o.user_id = y.user_id WHEN MATCHED THEN DELETE",
                "WITH x(a, user_id) AS (SELECT score, user_id FROM users WHERE user_id = 5) MERGE INTO orders o USING"
                        + " x ON o.user_id = x.user_id WHEN MATCHED THEN DELETE",
                "DELETE FROM orders o WHERE EXISTS (SELECT \"count\"(*) FROM users u WHERE u.user_id = o.user_id AND"
                        + " u.user_id = 5)",
                "DELETE FROM orders o WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_id = o.user_id AND u.user_id ="
                        + " 5 ORDER BY count(*))",
                "DELETE FROM orders o WHERE EXISTS (SELECT rank(1) WITHIN GROUP (ORDER BY u.score) FROM users u"
                        + " WHERE u.user_id = o.user_id AND u.user_id = 5)",
                "DELETE FROM orders o WHERE EXISTS (SELECT my_sum_agg(u.score) FROM users u WHERE u.user_id ="
                        + " o.user_id AND u.user_id = 5)",
                // a third review's: a LEFT JOIN's item is not an operand of a later USING, nested joins without
                // parentheses, aggregates in DISTINCT ON or a WINDOW clause
                x5 + "SELECT * FROM orders o LEFT JOIN x USING (user_id) JOIN users u USING (user_id)",
                x5 + "SELECT * FROM orders o LEFT JOIN x USING (user_id, order_id) JOIN users u USING (user_id)",
                "SELECT * FROM users a LEFT JOIN orders b JOIN users c ON c.user_id = b.user_id AND c.user_id = 5 ON"
                        + " b.user_id = a.user_id",
                "DELETE FROM orders o WHERE EXISTS (SELECT DISTINCT ON (count(*)) 1 FROM users u WHERE u.user_id ="
                        + " o.user_id AND u.user_id = 5)",
                "DELETE FROM orders o WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_id = o.user_id AND u.user_id ="
                        + " 5 WINDOW w AS (ORDER BY count(*)))")) {
            assertThat(plan(sql).target()).as(sql).isNotEqualTo(Target.KEYED);
        }
        // what they narrow still binds
        for (String sql : List.of(
                "SELECT * FROM orders o JOIN users u USING (user_id) WHERE u.user_id = 5",
                "SELECT * FROM users u LEFT JOIN orders o USING (user_id) WHERE u.user_id = 5",
                "SELECT * FROM users a, orders o JOIN users u USING (user_id) WHERE a.user_id = 5 AND o.user_id = 5",
                "DELETE FROM orders o WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_id = o.user_id AND u.user_id"
                        + " = 5)",
                // unaliased function and VALUES items before a join; a column named like an aggregate
                "SELECT * FROM unnest(ARRAY[5]) JOIN orders o ON true WHERE o.user_id = 5",
                "SELECT o.* FROM orders o WHERE o.user_id IN (SELECT u.user_id FROM users u WHERE u.user_id = 5 ORDER"
                        + " BY u.aggregate_version)")) {
            Plan p = plan(sql);
            assertThat(p.target()).as("%s: %s", sql, p.refusal()).isEqualTo(Target.KEYED);
            assertThat(sources(p)).as(sql).containsOnly("5");
        }
        // a NATURAL LEFT JOIN is not taken for a nested join written without parentheses
        assertThat(plan("SELECT * FROM orders o NATURAL LEFT JOIN users u WHERE o.user_id = 5")
                        .refusal())
                .doesNotContain("parentheses");
    }

    /** A loader gives generated rows one key through a WITH query of one value (a held-out case refused it). */
    @Test
    void anInsertSelectTakesItsKeyFromAWithQueryOfOneValue() {
        Plan cte = plan("WITH k AS (SELECT ?::bigint AS uid) INSERT INTO orders (user_id, order_id) SELECT k.uid, g"
                + " FROM k, generate_series(20, 22) g RETURNING user_id");
        assertThat(cte.target()).as(cte.refusal()).isEqualTo(Target.KEYED);
        assertThat(sources(cte)).containsExactly("$1");
        assertThat(plan("WITH k(uid) AS (SELECT 7) INSERT INTO orders (user_id, order_id) SELECT uid, 1 FROM k")
                        .target())
                .isEqualTo(Target.KEYED);
        assertThat(plan("INSERT INTO orders (user_id, order_id) WITH k AS (SELECT ? AS uid) SELECT x.uid, 1 FROM k x")
                        .target())
                .isEqualTo(Target.KEYED);
        // a WITH query that reads a table, gives several values, or a column another FROM item may own: refused
        for (String refused : List.of(
                "WITH k AS (SELECT user_id AS uid FROM users) INSERT INTO orders (user_id, order_id) SELECT k.uid, 1"
                        + " FROM k",
                "WITH k AS (SELECT 1 AS uid UNION ALL SELECT 2) INSERT INTO orders (user_id, order_id) SELECT k.uid,"
                        + " 1 FROM k",
                "WITH k AS (SELECT 1 AS uid) INSERT INTO orders (user_id, order_id) SELECT uid, 1 FROM k, users",
                "WITH k AS (SELECT 1 AS uid) INSERT INTO orders (user_id, order_id) SELECT k.uid + 1, 1 FROM k",
                // the alias's column list renames by position: x.uid is the WITH query's other (7)
                "WITH k AS (SELECT 5 AS uid, 7 AS other) INSERT INTO orders (user_id, order_id) SELECT x.uid, 1"
                        + " FROM k AS x(other, uid)")) {
            assertThat(plan(refused).target()).as(refused).isEqualTo(Target.REFUSED);
        }
        // a data-modifying WITH query returning its key: that key
        // (aWithQuerysKeyBindsItsReadersOnlyWhenItIsBoundItself)
        Plan moved = plan("WITH moved AS (DELETE FROM orders WHERE user_id = 5 RETURNING user_id) INSERT INTO orders"
                + " (user_id, order_id) SELECT user_id, 30 FROM moved");
        assertThat(moved.target()).as(moved.refusal()).isEqualTo(Target.KEYED);
        assertThat(sources(moved)).containsOnly("5");
    }

    @Test
    void aQualifierNamingASubqueryIsNeverTakenForATableOfTheSameNameInsideIt() {
        // s.user_id is the subquery's output (user_id + 1), not the key of the users table aliased s within it
        assertThat(plan("SELECT * FROM (SELECT user_id + 1 AS user_id FROM users s WHERE s.user_id = 5) s"
                                + " JOIN orders o ON o.user_id = s.user_id")
                        .target())
                .isEqualTo(Target.CROSS_SHARD);
        assertThat(plan("UPDATE orders o SET amount = 1 FROM (SELECT user_id + 1 AS user_id FROM users s"
                                + " WHERE s.user_id = 5) s WHERE o.user_id = s.user_id")
                        .target())
                .isEqualTo(Target.REFUSED);
        assertThat(plan("SELECT * FROM (SELECT 1 AS user_id FROM users s WHERE s.user_id = 5) s WHERE EXISTS"
                                + " (SELECT 1 FROM orders o WHERE o.user_id = s.user_id)")
                        .target())
                .as("a correlated reference to the subquery")
                .isEqualTo(Target.CROSS_SHARD);
        assertThat(plan("WITH s AS (SELECT user_id + 1 AS user_id FROM users s WHERE s.user_id = 5)"
                                + " SELECT * FROM s JOIN orders o ON o.user_id = s.user_id")
                        .target())
                .as("a CTE named like a table alias inside it")
                .isEqualTo(Target.CROSS_SHARD);
        assertThat(plan("MERGE INTO orders o USING (SELECT user_id + 1 AS user_id FROM users s WHERE s.user_id = 5) s"
                                + " ON o.user_id = s.user_id WHEN MATCHED THEN UPDATE SET amount = 1")
                        .target())
                .isEqualTo(Target.REFUSED);
        assertThat(sources(plan("SELECT * FROM users u WHERE u.user_id = ? AND EXISTS"
                        + " (SELECT 1 FROM orders o WHERE o.user_id = u.user_id)")))
                .as("a correlated reference to an outer table still binds")
                .containsExactly("$1");
    }

    /**
     * A key bound inside a subquery that does not filter the statement's rows (under OR or NOT, in a select list or
     * a SET, LATERAL, the outer side of an outer join) must not pin the enclosing query's tables to its shard: they
     * keep rows of every shard.
     */
    @ParameterizedTest
    @ValueSource(
            strings = {
                "SELECT * FROM users u WHERE u.name = 'x' OR EXISTS (SELECT 1 FROM orders o WHERE o.user_id ="
                        + " u.user_id AND o.user_id = 5)",
                "SELECT * FROM users u WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.user_id AND"
                        + " o.user_id = 5)",
                "SELECT * FROM users u WHERE u.user_id NOT IN (SELECT o.user_id FROM orders o WHERE o.user_id = 5)",
                "SELECT u.*, (SELECT count(*) FROM orders o WHERE o.user_id = u.user_id AND o.user_id = 5) FROM users u",
                "SELECT * FROM users u LEFT JOIN LATERAL (SELECT * FROM orders o WHERE o.user_id = u.user_id AND"
                        + " o.user_id = 5) l ON true",
                "SELECT o.*, u.name FROM orders o LEFT JOIN (SELECT user_id, name FROM users WHERE user_id = 5) u"
                        + " ON u.user_id = o.user_id",
                "SELECT * FROM (SELECT user_id, name FROM users WHERE user_id = 5) u FULL JOIN orders o"
                        + " ON o.user_id = u.user_id",
                "SELECT * FROM users u JOIN orders o ON o.user_id = u.user_id AND u.user_id = 5"
                        + " RIGHT JOIN \"Accounts\" a ON a.\"AccountId\" = u.user_id",
                "SELECT * FROM users u WHERE CASE WHEN u.name = 'x' THEN EXISTS (SELECT 1 FROM orders o WHERE"
                        + " o.user_id = u.user_id AND o.user_id = 5) ELSE true END",
                "SELECT * FROM orders o WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_id = o.user_id AND"
                        + " u.user_id = 5 UNION ALL SELECT 1 WHERE o.amount > 100)",
                "SELECT * FROM orders o WHERE EXISTS (SELECT count(*) FROM users u WHERE u.user_id = o.user_id AND"
                        + " u.user_id = 5)",
                "SELECT * FROM orders o WHERE 0 IN (SELECT count(*) FROM users u WHERE u.user_id = o.user_id AND"
                        + " u.user_id = 5)"
            })
    void aKeyBoundWhereItFiltersNoRowOfTheStatementDoesNotPinIt(String sql) {
        assertThat(plan(sql).target()).as(sql).isEqualTo(Target.CROSS_SHARD);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "UPDATE users u SET name = 'x' FROM orders o WHERE o.user_id = u.user_id",
                "DELETE FROM orders o USING users u WHERE u.user_id = o.user_id AND u.name = 'gone'",
                "DELETE FROM orders WHERE user_id IN (SELECT user_id FROM users WHERE name = 'gone')",
                "DELETE FROM orders WHERE user_id IN (SELECT u.user_id FROM users u GROUP BY u.user_id HAVING"
                        + " count(*) > 1)",
                "DELETE FROM orders o WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = o.user_id)",
                "UPDATE orders o SET amount = 0 WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_id = o.user_id AND"
                        + " u.name = 'x')",
                "UPDATE users u SET name = (SELECT max(o.amount)::text FROM orders o WHERE o.user_id = u.user_id)",
                "DELETE FROM orders a USING orders b WHERE a.user_id = b.user_id AND a.amount < b.amount"
            })
    void aWriteWithoutAKeyReadingOnlyRowsJoinedOnItsKeyRunsOnEveryShard(String sql) {
        // each shard's rows of the other tables are all those its own rows can meet
        assertThat(plan(sql).target()).as(sql).isEqualTo(Target.EVERY_SHARD);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "DELETE FROM orders WHERE user_id IN (SELECT user_id FROM users ORDER BY name LIMIT 10)",
                "DELETE FROM orders WHERE user_id IN (SELECT user_id FROM users OFFSET 5)",
                "DELETE FROM orders WHERE user_id IN (SELECT DISTINCT ON (name) user_id FROM users ORDER BY name)",
                "DELETE FROM orders WHERE user_id NOT IN (SELECT user_id FROM users)",
                "DELETE FROM orders WHERE user_id IN (SELECT max(user_id) FROM users GROUP BY name)",
                "DELETE FROM orders WHERE user_id IN (SELECT user_id FROM users UNION SELECT 7)",
                "DELETE FROM orders WHERE amount > (SELECT avg(amount) FROM orders)",
                "DELETE FROM orders WHERE amount IN (SELECT user_id FROM users)",
                "DELETE FROM orders o USING users u WHERE u.user_id = o.user_id OR u.name = 'x'",
                "UPDATE orders o SET amount = 0 FROM users u WHERE u.user_id = o.user_id RETURNING o.user_id"
            })
    void aWriteWithoutAKeyReadingRowsOfOtherShardsIsRefused(String sql) {
        assertThat(plan(sql).target()).as(sql).isEqualTo(Target.REFUSED);
    }

    @Test
    void aMultiRowInsertMaySplitItsRowsByShardWhenItReadsNothingElse() {
        assertThat(plan("INSERT INTO users (user_id, name) VALUES (?, ?), (?, ?) ON CONFLICT DO NOTHING")
                        .splitsRowsWhenSpanning())
                .isTrue();
        for (String whole : List.of(
                "INSERT INTO users (user_id, name) VALUES (?, ?)",
                "INSERT INTO users (user_id, name) VALUES (?, ?), (?, ?) RETURNING user_id",
                "INSERT INTO users (user_id, name) VALUES (?, (SELECT max(name) FROM users WHERE user_id = ?)),"
                        + " (?, 'b')",
                "WITH x AS (SELECT 1) INSERT INTO users (user_id, name) VALUES (1, 'a'), (2, 'b')",
                "INSERT INTO users (user_id, name) VALUES (1, 'a'), (2, 'b') LIMIT 1",
                "INSERT INTO users (user_id, name) VALUES (1, 'a'), (2, 'b') OFFSET 1",
                "INSERT INTO users (user_id, name) SELECT user_id, name FROM users WHERE user_id = ?")) {
            assertThat(plan(whole).splitsRowsWhenSpanning()).as(whole).isFalse();
        }
    }

    @Test
    void anInSubqueryOfTheKeyJoinsItsTableOnTheKey() {
        assertThat(sources(plan("SELECT * FROM orders WHERE user_id = ? AND user_id IN (SELECT user_id FROM users"
                        + " WHERE name = 'x')")))
                .containsExactly("$1");
        for (String notJoined : List.of(
                "SELECT * FROM orders WHERE user_id = ? AND user_id IN (SELECT user_id FROM users ORDER BY name"
                        + " FETCH FIRST 3 ROWS ONLY)",
                "SELECT * FROM orders WHERE user_id = ? OR user_id IN (SELECT user_id FROM users)",
                "SELECT * FROM orders o LEFT JOIN users u ON u.user_id = o.user_id AND o.user_id IN (SELECT"
                        + " user_id FROM users) WHERE o.user_id = ?",
                "SELECT * FROM orders a LEFT JOIN users u ON u.user_id = ? AND u.user_id IN (SELECT a.user_id)",
                "SELECT * FROM orders a LEFT JOIN users u ON u.user_id = ? AND u.user_id IN (SELECT x.user_id FROM"
                        + " users x WHERE x.user_id = a.user_id)")) {
            assertThat(plan(notJoined).target()).as(notJoined).isEqualTo(Target.CROSS_SHARD);
        }
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "DELETE FROM orders o WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = o.user_id AND"
                        + " u.user_id = 5)",
                "UPDATE users u SET name = (SELECT max(o.amount)::text FROM orders o WHERE o.user_id = u.user_id AND"
                        + " o.user_id = 5)",
                "DELETE FROM orders o WHERE o.amount > 0 OR EXISTS (SELECT 1 FROM users u WHERE u.user_id ="
                        + " o.user_id AND u.user_id = 5)",
                "DELETE FROM orders o WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_id = o.user_id AND u.user_id ="
                        + " 5 UNION ALL SELECT 1 WHERE o.amount > 100)",
                "DELETE FROM orders o WHERE EXISTS (SELECT count(*) FROM users u WHERE u.user_id = o.user_id AND"
                        + " u.user_id = 5)",
                "MERGE INTO orders o USING (SELECT 1 AS one) s ON NOT EXISTS (SELECT 1 FROM users x WHERE x.user_id"
                        + " = o.user_id AND x.user_id = 5) WHEN MATCHED THEN DELETE"
            })
    void aWriteWhoseKeyIsBoundOnlyWhereItFiltersNoRowIsNotSentToOneShard(String sql) {
        assertThat(plan(sql).target()).as(sql).isIn(Target.EVERY_SHARD, Target.REFUSED);
    }

    @Test
    void aCastThatCanChangeAKeyIsNotSeenThrough() {
        for (String sql : List.of(
                "SELECT * FROM \"Events\" WHERE tenant::int = 5",
                "SELECT * FROM \"Events\" WHERE tenant = CAST(? AS varchar(3))",
                "SELECT * FROM \"Events\" WHERE tenant::varchar(3) = 'abc'",
                "SELECT * FROM \"Events\" WHERE tenant = ?::char",
                "SELECT * FROM \"Events\" WHERE tenant = ?::citext",
                "SELECT * FROM \"Events\" WHERE tenant = ?::name",
                "SELECT * FROM users WHERE user_id::real = ?")) {
            assertThat(plan(sql).target()).as(sql).isEqualTo(Target.CROSS_SHARD);
        }
        assertThat(plan("INSERT INTO \"Events\" (tenant) VALUES (CAST(? AS varchar(3)))")
                        .target())
                .as("a write whose key the cast may cut")
                .isEqualTo(Target.REFUSED);
        for (String sql : List.of(
                "SELECT * FROM \"Events\" WHERE tenant = ?::text",
                "SELECT * FROM \"Events\" WHERE tenant::varchar = ?",
                "SELECT * FROM \"Events\" WHERE tenant::pg_catalog.text = ?",
                "SELECT * FROM users WHERE user_id = CAST(? AS bigint)",
                "SELECT * FROM users WHERE user_id::text = ?")) {
            assertThat(plan(sql).target()).as(sql).isEqualTo(Target.KEYED);
        }
    }

    @Test
    void aKeyBoundWhereItFiltersTheStatementsRowsStillPinsIt() {
        assertThat(sources(plan("SELECT * FROM orders o WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_id ="
                        + " o.user_id AND u.user_id = ?)")))
                .as("an EXISTS that is a conjunct of the WHERE")
                .containsExactly("$1");
        assertThat(sources(plan("SELECT * FROM orders o JOIN (SELECT user_id FROM users WHERE user_id = ?) u"
                        + " ON u.user_id = o.user_id")))
                .as("a subquery inner-joined in FROM")
                .containsExactly("$1");
        assertThat(sources(plan("SELECT u.*, (SELECT count(*) FROM orders o WHERE o.user_id = u.user_id) FROM users"
                        + " u WHERE u.user_id = ?")))
                .as("a correlated scalar subquery follows the outer key")
                .containsExactly("$1");
        assertThat(plan("SELECT (SELECT name FROM users WHERE user_id = ?), (SELECT count(*) FROM orders WHERE"
                                + " user_id = ?)")
                        .target())
                .as("scalar subqueries binding their own tables only")
                .isEqualTo(Target.KEYED);
        assertThat(sources(plan("DELETE FROM orders o WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_id ="
                        + " o.user_id AND u.user_id = ?)")))
                .containsExactly("$1");
        assertThat(sources(
                        plan("SELECT * FROM users u FULL JOIN orders o ON o.user_id = u.user_id WHERE u.user_id = ?")))
                .as("a WHERE after a FULL join")
                .containsExactly("$1");
        assertThat(sources(plan("UPDATE orders o SET amount = 0 FROM (SELECT user_id FROM users WHERE user_id = ?) u"
                        + " WHERE o.user_id = u.user_id")))
                .as("an UPDATE joining a keyed subquery")
                .containsExactly("$1");
        assertThat(sources(plan("SELECT * FROM users u CROSS JOIN LATERAL (SELECT o.amount FROM orders o WHERE"
                        + " o.user_id = u.user_id AND o.user_id = ?) l")))
                .as("an inner LATERAL join")
                .containsExactly("$1");
        assertThat(sources(plan("SELECT * FROM orders o WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_id ="
                        + " o.user_id AND u.user_id = ? INTERSECT SELECT 1)")))
                .as("an INTERSECT: every branch filters")
                .containsExactly("$1");
        assertThat(sources(plan("SELECT * FROM orders o WHERE EXISTS (SELECT u.user_id FROM users u WHERE u.user_id"
                        + " = o.user_id AND u.user_id = ? GROUP BY u.user_id HAVING count(*) > 0)")))
                .as("an aggregate with GROUP BY gives no row for no rows")
                .containsExactly("$1");
    }

    @Test
    void writableCtesAreAnalyzedAsTheStatementsTheyAre() {
        assertThat(sources(plan("WITH ins AS (INSERT INTO orders (user_id, order_id) VALUES (?, 1) RETURNING user_id)"
                        + " SELECT user_id FROM ins")))
                .containsExactly("$1");
        assertThat(plan("WITH d AS (DELETE FROM orders WHERE order_id = 1 RETURNING *) SELECT count(*) FROM d")
                        .target())
                .as("a keyless delete inside a read")
                .isIn(Target.REFUSED, Target.EVERY_SHARD);
        assertThat(plan("WITH d AS (DELETE FROM orders WHERE order_id = 1 RETURNING user_id)"
                                + " INSERT INTO users (user_id) VALUES (?)")
                        .target())
                .as("a keyless delete ahead of a keyed insert (never the insert on every shard)")
                .isEqualTo(Target.REFUSED);
        assertThat(sources(plan("WITH u AS (UPDATE orders SET amount = 1 WHERE user_id = ? RETURNING user_id)"
                        + " INSERT INTO users (user_id) VALUES (?)")))
                .containsExactlyInAnyOrder("$1", "$2");
    }

    @Test
    void mergeFromASubqueryOrWithoutAnInsertColumnList() {
        Plan subquery = plan("MERGE INTO orders o USING (SELECT user_id, 1 AS order_id, score FROM users"
                + " WHERE user_id = ?) s ON o.user_id = s.user_id AND o.order_id = s.order_id"
                + " WHEN MATCHED THEN UPDATE SET amount = s.score"
                + " WHEN NOT MATCHED THEN INSERT (user_id, order_id, amount) VALUES (s.user_id, s.order_id, s.score)");
        assertThat(subquery.target()).isEqualTo(Target.KEYED);
        assertThat(sources(subquery)).containsExactly("$1");
        assertThat(plan("MERGE INTO orders o USING (SELECT user_id, 1 AS order_id FROM users) s"
                                + " ON o.user_id = s.user_id WHEN MATCHED THEN UPDATE SET amount = 1")
                        .target())
                .as("every user")
                .isEqualTo(Target.REFUSED);
        StatementAnalyzer withCatalog = new StatementAnalyzer(TOPOLOGY, t -> List.of("user_id", "name"), null);
        Plan noColumns = withCatalog.analyze("MERGE INTO users t USING (VALUES (1)) v(x) ON t.user_id = ?"
                + " WHEN NOT MATCHED THEN INSERT VALUES (?, 'a')");
        assertThat(sources(noColumns)).containsExactly("$1", "$2");
        assertThat(withCatalog
                        .analyze("MERGE INTO users t USING (VALUES (1)) v(x) ON t.user_id = ?"
                                + " WHEN NOT MATCHED THEN INSERT VALUES (v.x, ?)")
                        .target())
                .as("the first column, the key, is a source column the ON condition did not bind")
                .isEqualTo(Target.REFUSED);
    }

    @Test
    void identifiersAndStringsAreReadAsPostgreSqlReadsThem() {
        assertThat(sources(plan("SELECT * FROM users WHERE U&\"\\0075ser_id\" = ?")))
                .containsExactly("$1");
        assertThat(sources(plan("SELECT * FROM U&\"!0075sers\" UESCAPE '!' WHERE user_id = 3")))
                .containsExactly("3");
        // only A-Z fold: USERS is users, but ÜSERS is Üsers (no such table)
        assertThat(plan("SELECT * FROM USERS WHERE USER_ID = 1").target()).isEqualTo(Target.KEYED);
        assertThat(plan("SELECT * FROM ÜSERS WHERE user_id = 1").target()).isEqualTo(Target.HOME);
        // a special string is its value, never '' (a key on another shard)
        assertThat(sources(plan("SELECT * FROM \"Events\" WHERE tenant = E'ac\\x6De'")))
                .containsExactly("acme");
        assertThat(sources(plan("SELECT * FROM \"Events\" WHERE tenant = $$acme$$")))
                .containsExactly("acme");
        assertThat(sources(plan("SELECT * FROM \"Events\" WHERE tenant = U&'\\0061cme'")))
                .containsExactly("acme");
        assertThat(plan("SELECT * FROM \"Events\" WHERE tenant = E'a\\\\b'").target())
                .as("a value with a backslash is not passed to the parser as a literal")
                .isEqualTo(Target.CROSS_SHARD);
    }

    @Test
    void grantsCommentsAndRolesGoWhereTheirObjectsAre() {
        for (String everywhere : List.of(
                "GRANT SELECT ON users TO app",
                "GRANT SELECT, UPDATE ON TABLE public.users TO app",
                "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM app",
                "GRANT USAGE ON SCHEMA app TO reader",
                "GRANT reader TO app",
                "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO reader",
                "CREATE ROLE reader",
                "ALTER ROLE reader SET statement_timeout = 0",
                "COMMENT ON COLUMN users.name IS 'x'",
                "COMMENT ON COLUMN public.users.name IS 'x'",
                "COMMENT ON TABLE users IS 'x'",
                "COMMENT ON CONSTRAINT users_pkey ON users IS 'x'",
                "COMMENT ON SCHEMA public IS 'x'",
                "ALTER TABLE users OWNER TO app")) {
            assertThat(plan(everywhere).target()).as(everywhere).isEqualTo(Target.ALL_PRIMARIES);
        }
        for (String home : List.of(
                "GRANT SELECT ON countries TO app",
                "GRANT USAGE ON SEQUENCE ticket_seq TO app",
                "COMMENT ON COLUMN countries.name IS 'x'",
                "COMMENT ON TABLE countries IS 'x'")) {
            assertThat(plan(home).target()).as(home).isEqualTo(Target.HOME);
        }
        assertThat(plan("GRANT SELECT ON users, countries TO app").target())
                .as("sharded and unsharded tables together")
                .isEqualTo(Target.REFUSED);
    }

    /** A catalog where {@code app} holds an unsharded {@code users} and {@code public} the sharded one. */
    private static final Catalog APP_SCHEMA = new Catalog() {
        @Override
        public List<String> columns(ShardedTable table) {
            return List.of("user_id", "name");
        }

        @Override
        public java.util.Set<String> schemasWith(String relation) {
            return relation.equals("users") ? java.util.Set.of("app", "public") : java.util.Set.of("public");
        }

        @Override
        public SearchPath defaultSearchPath() {
            return new SearchPath(List.of("public"));
        }
    };

    @Test
    void anUnqualifiedNameIsTheFirstMatchAlongTheSearchPath() {
        String read = "SELECT * FROM users WHERE user_id = 1";
        assertThat(new StatementAnalyzer(TOPOLOGY, APP_SCHEMA, null)
                        .analyze(read)
                        .target())
                .as("the default path: public.users")
                .isEqualTo(Target.KEYED);
        StatementAnalyzer app = new StatementAnalyzer(TOPOLOGY, APP_SCHEMA, new SearchPath(List.of("app", "public")));
        assertThat(app.analyze(read).target()).as("app.users comes first").isEqualTo(Target.HOME);
        assertThat(app.analyze("SELECT count(*) FROM users").target()).isEqualTo(Target.HOME);
        assertThat(app.analyze("UPDATE users SET name = 'x'").target()).isEqualTo(Target.HOME);
        assertThat(app.analyze("SELECT * FROM public.users WHERE user_id = 1").target())
                .as("qualified")
                .isEqualTo(Target.KEYED);
        assertThat(app.analyze("SELECT * FROM orders WHERE user_id = 1").target())
                .as("no orders in app")
                .isEqualTo(Target.KEYED);
        assertThat(app.analyze("DROP TABLE users").target()).isEqualTo(Target.HOME);
        StatementAnalyzer elsewhere = new StatementAnalyzer(TOPOLOGY, APP_SCHEMA, new SearchPath(List.of("app")));
        assertThat(elsewhere.analyze("SELECT * FROM orders WHERE user_id = 1").target())
                .as("public is not on the path: orders is no sharded table here")
                .isEqualTo(Target.HOME);
        CrossShardPlanner planner =
                new CrossShardPlanner(TOPOLOGY, APP_SCHEMA, new SearchPath(List.of("app", "public")));
        assertThatThrownBy(() -> planner.plan("SELECT count(*) FROM users", false))
                .as("the cross-shard planner resolves names the same way")
                .isInstanceOf(IllegalArgumentException.class);
    }

    /** A custom transaction-local setting, as the transaction carries it to its shards; its is_local as PostgreSQL. */
    @Test
    void aTransactionLocalCustomSettingIsToldApart() {
        Object[] none = null;
        assertThat(plan("SELECT set_config('app.tenant', 'acme', true)").transactionLocalSetting(none))
                .containsExactly("app.tenant", "acme");
        assertThat(plan("SELECT set_config('app.tenant', 'acme', 'on')").transactionLocalSetting(none))
                .containsExactly("app.tenant", "acme");
        Plan prepared = plan("SELECT set_config(?, ?, ?)");
        assertThat(prepared.transactionLocalSetting(new Object[] {null, "app.tenant", "acme", Boolean.TRUE}))
                .containsExactly("app.tenant", "acme");
        assertThat(prepared.transactionLocalSetting(new Object[] {null, "app.tenant", 42, Boolean.TRUE}))
                .as("a value not held as text")
                .isNull();
        assertThat(prepared.transactionLocalName(new Object[] {null, "app.tenant", 42, " T "}))
                .isEqualTo("app.tenant");
        for (String sql : new String[] {
            "SELECT set_config('app.tenant', 'acme', false)",
            "SELECT set_config('app.tenant', 'acme', 'f')",
            "SELECT set_config('statement_timeout', '1s', true)",
            "SELECT set_config('shardline.read_from', 'primary', true)",
            "SELECT set_config('app." + "x".repeat(60) + "', 'acme', true)",
            "SELECT 1"
        }) {
            assertThat(plan(sql).transactionLocalSetting(none)).as(sql).isNull();
        }
        for (String sql : new String[] {
            "SELECT set_config('app.tenant', ?::text, true)",
            "SELECT set_config('app.a', 'x', true), set_config('app.b', 'y', true)",
            "SELECT set_config('role', 'tenant_12', true)"
        }) {
            assertThat(plan(sql).setsUncarried(sql, new Object[] {null, 12}))
                    .as(sql)
                    .isTrue();
        }
        for (String sql : new String[] {
            "SELECT set_config('app.tenant', 'acme', true)",
            "SELECT set_config('app.tenant', 'acme', false)",
            "SELECT set_config('search_path', 'app', false)",
            "SELECT 1"
        }) {
            assertThat(plan(sql).setsUncarried(sql, null)).as(sql).isFalse();
        }
        assertThat(Plan.bool("yes")).isTrue();
        assertThat(Plan.bool("Off")).isFalse();
        assertThat(Plan.bool("o")).as("ambiguous in PostgreSQL too").isNull();
        assertThat(Plan.bool(1)).isNull();
    }

    @Test
    void setConfigAndNoLoadBalanceAreRecognized() {
        Plan config = plan("SELECT set_config('app.tenant', ?, false)");
        assertThat(config.setConfig()).extracting(KeySource::toString).containsExactly("app.tenant", "$1", "false");
        assertThat(plan("SELECT pg_catalog.set_config(?, ?, ?) AS x").setConfig())
                .hasSize(3);
        assertThat(plan("SELECT set_config('a', 'b', false), 1").setConfig()).isEmpty();
        assertThat(plan("SELECT set_config('a', upper('b'), false)").setConfig())
                .isEmpty();
        assertThat(plan("/*NO LOAD BALANCE*/ SELECT * FROM users WHERE user_id = 1")
                        .onPrimary())
                .isTrue();
        assertThat(plan("SELECT * FROM users WHERE user_id = 1 /*NO LOAD BALANCE*/")
                        .onPrimary())
                .as("only leading the statement, as pgpool reads it")
                .isFalse();
    }

    @Test
    void formsThatWouldLandRowsOnAnotherShardAreRefused() {
        for (String sql : List.of(
                // a CTE named like the target hides nothing in PostgreSQL, but would here
                "WITH users AS (SELECT 1) INSERT INTO users (user_id, name) VALUES (7, 'x')",
                "WITH orders AS (SELECT * FROM staging) INSERT INTO orders SELECT * FROM orders",
                // the conflict action re-keys the row in place
                "INSERT INTO users (user_id, name) SELECT o.user_id, 'x' FROM orders o WHERE o.user_id = ?"
                        + " ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id + 1000",
                // a * before the key: its position is unknown
                "INSERT INTO users (org_id, user_id, score) SELECT *, 5 FROM src",
                "INSERT INTO users (user_id, name) SELECT o.*, 'x' FROM orders o WHERE o.user_id = 1",
                // the identity default replaces the key given
                "INSERT INTO users (user_id, name) OVERRIDING USER VALUE VALUES (5, 'x')",
                "INSERT INTO users DEFAULT VALUES",
                "INSERT INTO users (name, user_id) VALUES ('x')",
                // every unmatched source row is inserted with its own key
                "MERGE INTO users t USING orders o ON t.user_id = o.user_id AND t.user_id = 5"
                        + " WHEN NOT MATCHED THEN INSERT (user_id, name) VALUES (o.user_id, 'x')",
                "MERGE INTO users t USING (SELECT user_id FROM orders) s ON t.user_id = s.user_id AND t.user_id = 5"
                        + " WHEN NOT MATCHED THEN INSERT (user_id, name) VALUES (s.user_id, 'x')",
                "MERGE INTO users t USING (VALUES (5)) v(id) ON t.user_id = v.id"
                        + " WHEN NOT MATCHED THEN INSERT DEFAULT VALUES")) {
            assertThat(plan(sql).target()).as(sql).isEqualTo(Target.REFUSED);
        }
        assertThat(plan("WITH users AS (SELECT 1) SELECT * FROM users").target())
                .as("a read naming a CTE like a sharded table")
                .isEqualTo(Target.CROSS_SHARD);
        // an outer join's ON binds no key: every row of its preserved side stays
        assertThat(plan("SELECT * FROM orders o LEFT JOIN users u ON u.user_id = o.user_id AND u.user_id = 5")
                        .target())
                .isEqualTo(Target.CROSS_SHARD);
        assertThat(plan("SELECT * FROM users u LEFT JOIN orders o ON o.user_id = 1 AND EXISTS (SELECT 1 FROM orders x"
                                + " WHERE x.user_id = u.user_id AND x.user_id = o.user_id)")
                        .target())
                .as("nor does a subquery there join the preserved side's key to the pinned one")
                .isEqualTo(Target.CROSS_SHARD);
        assertThat(plan("SELECT * FROM users u JOIN orders o ON o.user_id = 1 AND EXISTS (SELECT 1 FROM orders x"
                                + " WHERE x.user_id = u.user_id AND x.user_id = o.user_id)")
                        .target())
                .as("an inner join's does")
                .isEqualTo(Target.KEYED);
        assertThat(sources(
                        plan("SELECT * FROM users u LEFT JOIN orders o ON o.user_id = u.user_id WHERE u.user_id = ?")))
                .as("the co-located left join an ORM emits stays keyed")
                .containsExactly("$1");
        assertThat(plan("SET standard_conforming_strings = off").target()).isEqualTo(Target.REFUSED);
        assertThat(plan("SELECT * FROM users WHERE name = 'unterminated").target())
                .as("text that cannot be read but names a sharded table")
                .isEqualTo(Target.REFUSED);
        assertThat(plan("DISCARD;").target()).isEqualTo(Target.DRIVER);
        assertThat(plan("SELECT currval('orders_id_seq')").target())
                .as("currval reads the connection's own sequence state: where the connection is")
                .isEqualTo(Target.ANY);
        assertThat(plan("REASSIGN OWNED BY a TO b").target()).isEqualTo(Target.ALL_PRIMARIES);
        assertThat(plan("DROP OWNED BY a").target()).isEqualTo(Target.ALL_PRIMARIES);
    }

    @Test
    void mergeStaysOnOneShardWhenItsOnConditionAndInsertShareTheKey() {
        Plan values = plan("MERGE INTO users t USING (VALUES (?, ?)) AS s(user_id, name) ON t.user_id = s.user_id"
                + " WHEN MATCHED THEN UPDATE SET name = s.name"
                + " WHEN NOT MATCHED THEN INSERT (user_id, name) VALUES (s.user_id, s.name)");
        assertThat(values.kind()).isEqualTo(StatementKind.WRITE);
        assertThat(values.target()).isEqualTo(Target.KEYED);
        assertThat(sources(values)).containsExactly("$1");
        Plan keyed = plan("MERGE INTO users t USING (SELECT user_id FROM orders WHERE user_id = ?) o"
                + " ON t.user_id = o.user_id WHEN NOT MATCHED THEN INSERT (user_id, name) VALUES (o.user_id, 'x')");
        assertThat(sources(keyed)).containsExactly("$1");
        assertThat(plan("MERGE INTO users t USING orders o ON t.user_id = o.user_id AND o.user_id = ?"
                                + " WHEN NOT MATCHED THEN INSERT (user_id, name) VALUES (o.user_id, 'x')")
                        .target())
                .as("every orders row ON does not match is inserted, on every shard")
                .isEqualTo(Target.REFUSED);
        assertThat(sources(plan("MERGE INTO users t USING orders o ON t.user_id = o.user_id AND o.user_id = ?"
                        + " WHEN MATCHED THEN UPDATE SET name = 'x'")))
                .as("only matched rows: ON restricts both")
                .containsExactly("$1");
        assertThat(plan("MERGE INTO users t USING (VALUES (1, 'a')) AS s(user_id, name) ON t.user_id = s.user_id"
                                + " WHEN NOT MATCHED THEN INSERT (user_id, name) VALUES (s.user_id + 1, s.name)")
                        .target())
                .as("inserts a key other than the one matched")
                .isEqualTo(Target.REFUSED);
        assertThat(plan("MERGE INTO users t USING orders o ON t.user_id = o.user_id"
                                + " WHEN MATCHED THEN UPDATE SET name = 'x'")
                        .target())
                .as("every user")
                .isIn(Target.REFUSED, Target.EVERY_SHARD);
    }

    @Test
    void aWritableCteWithAProvableKeyStaysOnOneShard() {
        Plan p = plan(
                "WITH ins AS (INSERT INTO users (user_id, name) VALUES (?, ?) RETURNING user_id) SELECT * FROM ins");
        assertThat(p.kind()).isEqualTo(StatementKind.WRITE);
        assertThat(p.target()).isEqualTo(Target.KEYED);
        assertThat(sources(p)).containsExactly("$1");
        Plan upd = plan("WITH u AS (UPDATE orders SET status = 'x' WHERE user_id = ? RETURNING order_id)"
                + " SELECT count(*) FROM u");
        assertThat(sources(upd)).containsExactly("$1");
        assertThat(plan("WITH d AS (DELETE FROM orders WHERE status = 'x' RETURNING user_id) SELECT * FROM d")
                        .target())
                .isEqualTo(Target.REFUSED);
    }

    @Test
    void rowConstructorsBindTheKeyTheyHold() {
        // Hibernate composite ids, jOOQ row comparisons
        Plan hibernate = plan("select o1_0.user_id,o1_0.order_id from orders o1_0"
                + " where (o1_0.order_id,o1_0.user_id)=(?,?) for no key update");
        assertThat(hibernate.kind()).isEqualTo(StatementKind.WRITE);
        assertThat(hibernate.target()).isEqualTo(Target.KEYED);
        assertThat(sources(hibernate)).containsExactly("$2");
        assertThat(sources(plan("SELECT * FROM orders WHERE (user_id, order_id) IN ((?, ?), (?, ?))")))
                .containsExactly("$1", "$3");
        assertThat(sources(plan("UPDATE orders SET status = 'x' WHERE (user_id, order_id) = (7, 1)")))
                .containsExactly("7");
        // a tuple whose key is not a literal or parameter binds nothing: the read goes across shards
        assertThat(plan("SELECT * FROM orders WHERE (user_id, order_id) IN ((?, 1), (user_id + 1, 2))")
                        .target())
                .isEqualTo(Target.CROSS_SHARD);
        assertThat(plan("SELECT * FROM orders WHERE (user_id, order_id) <> (1, 2)")
                        .target())
                .isEqualTo(Target.CROSS_SHARD);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "SELECT * FROM users WHERE user_id = 1 OR user_id = 2",
                "SELECT * FROM users WHERE NOT (user_id = 1)",
                "SELECT * FROM users WHERE user_id + 1 = 2",
                "SELECT * FROM users WHERE user_id <> 5",
                "SELECT * FROM users WHERE user_id IS NULL",
                "SELECT * FROM users WHERE id IN (SELECT id FROM users WHERE user_id = 3)",
                "SELECT count(*) FROM users",
                "SELECT * FROM users WHERE user_id = ANY(?)",
                "SELECT * FROM users WHERE user_id = (SELECT max(user_id) FROM users)",
                "SELECT * FROM users WHERE user_id IN (SELECT user_id FROM orders)",
                "WITH x AS (SELECT * FROM users) SELECT * FROM x WHERE user_id = 1",
                "DELETE FROM users WHERE name = 'x' RETURNING *",
                "UPDATE users SET name = 'x' RETURNING user_id",
                "UPDATE users u SET name = 'x' FROM orders o WHERE o.amount = u.user_id",
                "INSERT INTO users SELECT * FROM users",
                "INSERT INTO users VALUES (1, 'a')",
                "INSERT INTO users (user_id, name) VALUES (nextval('s'), 'a')",
                "UPDATE users SET user_id = 5 WHERE user_id = 4",
                "SELECT * FROM users u JOIN countries c ON c.code = u.country WHERE u.user_id = 1",
                "SELECT * FROM users u JOIN orders o ON o.id = u.user_id WHERE u.user_id = 1",
                "SELECT * FROM users u LEFT JOIN orders o ON o.user_id = 5",
                "SELECT * FROM users u FULL JOIN orders o ON o.user_id = u.user_id AND u.user_id = 5",
                "COPY users FROM STDIN"
            })
    void trapsAndUnroutableStatementsAreNeverGuessed(String sql) {
        Plan p = plan(sql);
        boolean read = sql.startsWith("SELECT") || sql.startsWith("WITH");
        assertThat(p.target())
                .as("%s: a read goes across shards, a write is refused", sql)
                .isEqualTo(read ? Target.CROSS_SHARD : Target.REFUSED);
        assertThat(p.refusal()).as(sql).contains("public.");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "UPDATE users SET name = 'x' WHERE name = 'y'",
                "DELETE FROM users",
                "UPDATE users SET name = ? WHERE user_id > ?",
                "DELETE FROM users WHERE name LIKE 'a%' AND user_id IS NOT NULL"
            })
    void writesWithoutAKeyOnOneShardedTableGoToEveryShard(String sql) {
        Plan p = plan(sql);
        assertThat(p.target()).as(sql).isEqualTo(Target.EVERY_SHARD);
        assertThat(p.kind()).isEqualTo(StatementKind.WRITE);
        assertThat(p.refusal()).as(sql).contains("public.users", "no usable value for its shard key user_id");
    }

    @Test
    void coLocatedJoinsOnTheKeyAreKeyed() {
        Plan p = plan("SELECT * FROM users u JOIN orders o ON o.user_id = u.user_id WHERE u.user_id = ?");
        assertThat(p.target()).isEqualTo(Target.KEYED);
        assertThat(p.keyGroups()).hasSize(1);
        assertThat(p.keyGroups().get(0).tables())
                .extracting(ShardedTable::table)
                .containsExactlyInAnyOrder("users", "orders");
        Plan two = plan("SELECT * FROM users u, orders o WHERE u.user_id = ? AND o.user_id = ?");
        assertThat(two.keyGroups()).hasSize(2);
    }

    @Test
    void subqueriesAndCtesAreKeyedWhenEveryBlockBindsItsKey() {
        Plan cte = plan("WITH recent AS (SELECT * FROM orders WHERE user_id = ? ORDER BY order_id DESC LIMIT 3)"
                + " SELECT r.order_id FROM recent r");
        assertThat(cte.target()).isEqualTo(Target.KEYED);
        assertThat(sources(cte)).containsExactly("$1");
        Plan in = plan(
                "SELECT * FROM users WHERE user_id = ? AND user_id IN (SELECT user_id FROM orders WHERE user_id = ?)");
        assertThat(in.target()).isEqualTo(Target.KEYED);
        assertThat(sources(in)).containsExactlyInAnyOrder("$1", "$2");
        Plan correlated = plan("SELECT u.name FROM users u WHERE u.user_id = ?"
                + " AND EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.user_id AND o.status = 'paid')");
        assertThat(correlated.target()).isEqualTo(Target.KEYED);
        assertThat(correlated.keyGroups()).hasSize(1);
        Plan fromSubquery = plan("SELECT t.n FROM (SELECT count(*) AS n FROM orders WHERE user_id = 5) t");
        assertThat(sources(fromSubquery)).containsExactly("5");
        Plan leftJoin = plan("SELECT g, o.order_id FROM generate_series(1, 3) g LEFT JOIN orders o ON o.order_id = g"
                + " AND o.user_id = ?");
        assertThat(sources(leftJoin)).containsExactly("$1");
        Plan union = plan("SELECT name FROM users WHERE user_id = 1 UNION SELECT name FROM users WHERE user_id = ?");
        assertThat(sources(union)).containsExactlyInAnyOrder("1", "$1");
    }

    @Test
    void insertsTakeTheKeyFromEveryRow() {
        Plan p = plan("INSERT INTO users (name, user_id) VALUES (?, ?), ('b', 7) RETURNING user_id");
        assertThat(p.kind()).isEqualTo(StatementKind.WRITE);
        assertThat(sources(p)).containsExactly("$2", "7");
        Plan jsonb = plan(
                "INSERT INTO users (user_id, doc) VALUES (?, ?::jsonb) ON CONFLICT (user_id) DO UPDATE SET doc = EXCLUDED.doc");
        assertThat(sources(jsonb)).containsExactly("$1");
        assertThat(jsonb.parameterCount()).isEqualTo(2);
    }

    @Test
    void rowLocksWritingFunctionsAndWritableCtesGoToThePrimary() {
        assertThat(plan("SELECT * FROM users WHERE user_id = ? FOR UPDATE SKIP LOCKED")
                        .kind())
                .isEqualTo(StatementKind.WRITE);
        assertThat(plan("SELECT nextval('seq')").kind()).isEqualTo(StatementKind.WRITE);
        assertThat(plan("SELECT nextval('seq')").target())
                .as("a sequence: the home shard, where sequences live")
                .isEqualTo(Target.SEQUENCE);
        assertThat(plan("SELECT pg_advisory_xact_lock(1)").target())
                .as("no table: where the connection is")
                .isEqualTo(Target.ANY);
        assertThat(plan("SELECT 1").kind()).isEqualTo(StatementKind.READ);
    }

    @Test
    void statementsThatMayLeaveSessionStateBehindAreMarked() {
        for (String sql : List.of(
                "LISTEN jobs",
                "CREATE TEMP TABLE t (a int)",
                "CREATE TEMPORARY TABLE t (a int)",
                "SELECT pg_advisory_lock(42)",
                "SELECT set_config('app.tenant', 'a', false)",
                "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
                "DO $$BEGIN PERFORM 1; END$$",
                "CALL p()",
                "SET ROLE admin",
                "SET SESSION AUTHORIZATION admin")) {
            assertThat(plan(sql).sessionEffects()).as(sql).isTrue();
        }
        for (String sql : List.of(
                "SELECT * FROM users WHERE user_id = 1",
                "SELECT nextval('seq')",
                "CREATE TABLE temps (a int)",
                "SET search_path TO a",
                "SELECT pg_advisory_xact_lock(1)")) {
            assertThat(plan(sql).sessionEffects()).as(sql).isFalse();
        }
    }

    @Test
    void pgjdbcEscapesAndSpecialStringsDoNotBreakAnalysis() {
        Plan p = plan("SELECT * FROM users WHERE doc ?? 'k' AND user_id = ? AND note = E'it\\'s' AND body = $$x$$");
        assertThat(p.target()).isEqualTo(Target.KEYED);
        assertThat(sources(p)).containsExactly("$1");
        assertThat(p.parameterCount()).isEqualTo(1);
    }

    @Test
    void unshardedAndCatalogStatementsGoHome() {
        assertThat(plan("SELECT * FROM countries").target()).isEqualTo(Target.HOME);
        assertThat(plan("UPDATE countries SET name = 'x'").kind()).isEqualTo(StatementKind.WRITE);
        assertThat(plan("UPDATE countries SET name = 'x'").target()).isEqualTo(Target.HOME);
        assertThat(plan("SELECT * FROM pg_catalog.pg_class").target())
                .as("catalogs are on every shard")
                .isEqualTo(Target.ANY);
        assertThat(plan("SELECT now()").target()).isEqualTo(Target.ANY);
        assertThat(plan("NOTIFY jobs").target()).isEqualTo(Target.ANY);
    }

    @Test
    void transactionAndSessionStatementsAreDispatchedByKeyword() {
        assertThat(plan("BEGIN").command()).isEqualTo("BEGIN");
        assertThat(plan("START TRANSACTION READ ONLY").command()).isEqualTo("BEGIN");
        assertThat(plan("commit").command()).isEqualTo("COMMIT");
        assertThat(plan("ROLLBACK TO SAVEPOINT a").target()).isEqualTo(Target.BOUND);
        assertThat(plan("RELEASE SAVEPOINT a").target()).isEqualTo(Target.BOUND);
        // the savepoint's name, folded as PostgreSQL folds it, so that a rollback to it finds the settings it kept
        assertThat(plan("SAVEPOINT \"Outer\"").setting()).isEqualTo("Outer");
        assertThat(plan("savepoint Outer;").setting()).isEqualTo("outer");
        assertThat(plan("ROLLBACK WORK TO SAVEPOINT a").setting()).isEqualTo("a");
        assertThat(plan("ROLLBACK TO b /* last */").setting()).isEqualTo("b");
        assertThat(plan("RELEASE c").command()).isEqualTo("RELEASE");
        assertThat(plan("RELEASE c").setting()).isEqualTo("c");
        assertThat(plan("SET search_path TO a, b").setting()).isEqualTo("search_path");
        assertThat(plan("SET SESSION statement_timeout = 1000").setting()).isEqualTo("statement_timeout");
        assertThat(plan("SET TIME ZONE 'UTC'").setting()).isEqualTo("timezone");
        // one setting however it is named, so that a RESET or a later SET replaces what an earlier one kept
        assertThat(plan("RESET TIME ZONE").setting()).isEqualTo("timezone");
        assertThat(plan("SET \"DateStyle\" = 'SQL, DMY'").setting()).isEqualTo("datestyle");
        assertThat(plan("RESET datestyle").setting()).isEqualTo("datestyle");
        assertThat(plan("SET IntervalStyle TO iso_8601").setting()).isEqualTo("intervalstyle");
        assertThat(plan("SET XML OPTION DOCUMENT").setting()).isEqualTo("xmloption");
        assertThat(plan("SET NAMES 'UTF8'").setting()).isEqualTo("client_encoding");
        assertThat(plan("SHOW TIME ZONE").setting()).isEqualTo("timezone");
        assertThat(plan("SET shardline.read_from = 'primary'").setting()).isEqualTo("shardline.read_from");
        assertThat(plan("SET LOCAL lock_timeout = '1s'").target()).isEqualTo(Target.BOUND);
        assertThat(plan("RESET ALL").setting()).isEqualTo("all");
        assertThat(plan("DISCARD ALL").command()).isEqualTo("DISCARD");
        assertThat(plan("PREPARE TRANSACTION 'x'").target()).isEqualTo(Target.REFUSED);
    }

    /** AND CHAIN keeps a transaction open after it: taken for a plain end, what follows would run in autocommit. */
    @Test
    void anEndOfATransactionAndChainIsTheDriversWithItsChainAndNoChainIsAPlainEnd() {
        for (String sql : List.of(
                "COMMIT AND CHAIN",
                "commit work and chain",
                "END TRANSACTION AND CHAIN",
                "ROLLBACK AND CHAIN",
                "ABORT WORK AND CHAIN")) {
            Plan plan = plan(sql);
            assertThat(plan.target()).as(sql).isEqualTo(Target.DRIVER);
            assertThat(plan.command())
                    .as(sql)
                    .isEqualTo(sql.toUpperCase().startsWith("COMMIT") || sql.startsWith("END") ? "COMMIT" : "ROLLBACK");
            assertThat(plan.setting()).as(sql).isEqualTo("CHAIN");
        }
        assertThat(plan("COMMIT AND NO CHAIN").command()).isEqualTo("COMMIT");
        assertThat(plan("COMMIT AND NO CHAIN").setting()).isNull();
        assertThat(plan("ROLLBACK AND NO CHAIN").command()).isEqualTo("ROLLBACK");
        assertThat(plan("ROLLBACK AND NO CHAIN").setting()).isNull();
        assertThat(plan("ABORT").command()).isEqualTo("ROLLBACK");
        assertThat(plan("END").command()).isEqualTo("COMMIT");
    }

    @Test
    void transactionModesOfBeginAndSetTransactionAreKeptAsTheTransactionsOwn() {
        assertThat(plan("BEGIN").setting()).isNull();
        assertThat(plan("BEGIN;").setting()).isNull();
        assertThat(plan("START TRANSACTION READ ONLY").setting()).isEqualTo("READ ONLY");
        assertThat(plan("begin work isolation level repeatable read, read only").setting())
                .isEqualTo("ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        assertThat(plan("BEGIN TRANSACTION ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE")
                        .setting())
                .isEqualTo("ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE");
        assertThat(plan("START TRANSACTION READ WRITE, ISOLATION LEVEL READ COMMITTED, NOT DEFERRABLE")
                        .setting())
                .isEqualTo("ISOLATION LEVEL READ COMMITTED, READ WRITE, NOT DEFERRABLE");
        Plan bad = plan("BEGIN ISOLATION LEVEL SOMETIMES");
        assertThat(bad.target()).isEqualTo(Target.REFUSED);
        assertThat(bad.refusal()).contains("not an isolation level: SOMETIMES");
        assertThat(plan("START TRANSACTION WRITE ONLY").refusal()).contains("not a transaction mode: WRITE ONLY");
        assertThat(plan("BEGIN , READ ONLY").refusal()).contains("not a transaction mode: ,");
        assertThat(plan("START WORK").refusal()).contains("START must be followed by TRANSACTION");
        assertThat(plan("START TRANSACTION").setting()).isNull();

        Plan set = plan("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
        assertThat(set.target()).isEqualTo(Target.BOUND);
        assertThat(set.command()).isEqualTo("SET TRANSACTION");
        assertThat(set.setting()).isEqualTo("ISOLATION LEVEL REPEATABLE READ");
        assertThat(plan("SET TRANSACTION SNAPSHOT '00000003-0000001B-1'").setting())
                .as("a snapshot is not a mode: bound to the transaction's shard")
                .isNull();
        assertThat(plan("SET TRANSACTION READ ONLY, ISOLATION LEVEL SERIALIZABLE")
                        .setting())
                .isEqualTo("ISOLATION LEVEL SERIALIZABLE, READ ONLY");
        assertThat(TransactionModes.of("ISOLATION LEVEL SERIALIZABLE, READ ONLY"))
                .isEqualTo(new TransactionModes(Connection.TRANSACTION_SERIALIZABLE, true, null));
        assertThat(TransactionModes.of(null)).isEqualTo(TransactionModes.NONE);
    }

    @Test
    void ddlOnShardedTablesGoesToEveryPrimary() {
        assertThat(plan("CREATE TABLE users (user_id bigint primary key)").target())
                .isEqualTo(Target.ALL_PRIMARIES);
        assertThat(plan("CREATE TABLE IF NOT EXISTS public.orders (user_id bigint)")
                        .target())
                .isEqualTo(Target.ALL_PRIMARIES);
        assertThat(plan("CREATE UNIQUE INDEX IF NOT EXISTS i ON ONLY users (x)").target())
                .isEqualTo(Target.ALL_PRIMARIES);
        // outside transaction blocks only: each primary on its own
        assertThat(plan("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON ONLY users (x)")
                        .target())
                .isEqualTo(Target.EACH_PRIMARY);
        assertThat(plan("DROP INDEX CONCURRENTLY i").target()).isEqualTo(Target.EACH_PRIMARY);
        assertThat(plan("VACUUM users").target()).isEqualTo(Target.EACH_PRIMARY);
        assertThat(plan("CREATE INDEX CONCURRENTLY i ON countries (code)").target())
                .isEqualTo(Target.HOME);
        assertThat(plan("ALTER TABLE IF EXISTS users ADD COLUMN x int").target())
                .isEqualTo(Target.ALL_PRIMARIES);
        assertThat(plan("DROP TABLE users, orders").target()).isEqualTo(Target.ALL_PRIMARIES);
        assertThat(plan("TRUNCATE users").target()).isEqualTo(Target.ALL_PRIMARIES);
        assertThat(plan("CREATE TABLE \"Events\" (tenant text)").target()).isEqualTo(Target.ALL_PRIMARIES);
        assertThat(plan("CREATE TABLE events (tenant text)").target()).isEqualTo(Target.HOME);
        assertThat(plan("CREATE TYPE mood AS ENUM ('a')").target()).isEqualTo(Target.ALL_PRIMARIES);
        assertThat(plan("CREATE TABLE countries (code text)").target()).isEqualTo(Target.HOME);
        assertThat(plan("DROP TABLE users, countries").target()).isEqualTo(Target.REFUSED);
    }

    @Test
    void aTableOfTheHomeShardMadeFromEveryShardsRowsOrParentIsRefused() {
        for (String sql : List.of(
                "CREATE TABLE big_users AS SELECT * FROM users WHERE score > 1",
                "CREATE TEMP TABLE mine AS SELECT * FROM orders WHERE user_id = ?",
                "CREATE UNLOGGED TABLE IF NOT EXISTS s.copy (a, b) AS (SELECT user_id, name FROM public.users)",
                "CREATE TABLE users_2024 PARTITION OF users FOR VALUES FROM (1) TO (100)")) {
            Plan p = plan(sql);
            assertThat(p.target()).as(sql).isEqualTo(Target.REFUSED);
            assertThat(p.refusal()).as(sql).containsAnyOf("home shard only", "that shard's rows only");
        }
        assertThat(plan("CREATE TABLE summary AS SELECT * FROM countries").target())
                .as("from a table of the home shard")
                .isEqualTo(Target.HOME);
        assertThat(plan("CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY, users int, code text)")
                        .target())
                .as("a column list's AS and names")
                .isEqualTo(Target.HOME);
        assertThat(plan("CREATE TABLE orders AS SELECT * FROM users").target())
                .as("a sharded table made on each shard from its own rows")
                .isEqualTo(Target.ALL_PRIMARIES);
    }
}
