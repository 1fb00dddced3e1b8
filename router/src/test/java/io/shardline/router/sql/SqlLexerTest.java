package io.shardline.router.sql;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class SqlLexerTest {
    private static String forParser(String sql) {
        return SqlLexer.forParser(sql, SqlLexer.tokenize(sql));
    }

    /** PostgreSQL's names hold no #: doc#>'{a}' is doc #> '{a}', which JSqlParser reads only with a space. */
    @Test
    void anOperatorStartingWithHashRightAfterAWordIsSetApart() {
        assertThat(forParser("SELECT doc#>'{a}', doc#>>'{b}', doc #- '{c}', x#y FROM t WHERE doc#>'{d}' IS NOT NULL"))
                .isEqualTo("SELECT doc #>'{a}', doc #>>'{b}', doc #- '{c}', x #y FROM t WHERE doc #>'{d}' IS NOT NULL");
    }

    /**
     * Nor @: Hibernate writes u1_0.tags@>array[cast(? as text)], which JSqlParser read as a name tags@ and > . Only @>:
     * JSqlParser takes a spaced @@q or @?'..' for a system variable and fails.
     */
    @Test
    void anOperatorStartingWithAtRightAfterAWordIsSetApart() {
        assertThat(forParser("select u1_0.tags from users u1_0 where u1_0.tags@>array[cast(? as text)] and d@@q"
                        + " and a <@ b and t@?'$.x'"))
                .isEqualTo("select u1_0.tags from users u1_0 where u1_0.tags @>array[cast(? as text)] and d@@q"
                        + " and a <@ b and t@?'$.x'");
    }

    @Test
    void likeWrittenAsItsOperatorIsLikeForTheParser() {
        assertThat(forParser("SELECT 1 FROM t WHERE (a ~~ 'x%'::text) AND b !~~* ?"))
                .isEqualTo("SELECT 1 FROM t WHERE (a  LIKE  'x%'::text) AND b  NOT ILIKE  ?");
        assertThat(forParser("SELECT a ~~* 'x' FROM t")).isEqualTo("SELECT a  ILIKE  'x' FROM t");
        // other operators made of the same characters, a regular expression match and strings stay as written
        assertThat(forParser("SELECT a ~ 'x', a !~ 'y', a ~~~ b, '~~' FROM t"))
                .isEqualTo("SELECT a ~ 'x', a !~ 'y', a ~~~ b, '~~' FROM t");
    }

    @Test
    void stringsContinuedOnTheNextLineAreOneString() {
        assertThat(forParser("SELECT 'abc'\n   'def' FROM t")).isEqualTo("SELECT 'abcdef' FROM t");
        assertThat(forParser("SELECT 'a'\n'b'\n'c''d'")).isEqualTo("SELECT 'abc''d'");
        // on one line PostgreSQL refuses them: left for it to say so
        assertThat(forParser("SELECT 'abc' 'def'")).isEqualTo("SELECT 'abc' 'def'");
    }

    @Test
    void anAssignmentIntoAPathOfSubscriptsKeepsItsFirstSubscriptForTheParser() {
        assertThat(forParser("UPDATE users SET doc['h8']['n'] = to_jsonb(score), doc['list'][3] = '\"p\"',"
                        + " tags[1] = 'x' WHERE user_id = ?"))
                .isEqualTo("UPDATE users SET doc['h8']= to_jsonb(score), doc['list']= '\"p\"', tags[1] = 'x'"
                        + " WHERE user_id = ?");
        assertThat(forParser("INSERT INTO t (k) VALUES (1) ON CONFLICT (k) DO UPDATE SET \"D\"[1][2]['x'] = 1"))
                .isEqualTo("INSERT INTO t (k) VALUES (1) ON CONFLICT (k) DO UPDATE SET \"D\"[1]= 1");
        // subscripts compared, not assigned, or nested inside one, stay as written
        assertThat(forParser("SELECT 1 FROM t WHERE doc['a']['b'] = '1' AND a[b[1][2]] = 1"))
                .isEqualTo("SELECT 1 FROM t WHERE doc['a']['b'] = '1' AND a[b[1][2]] = 1");
        assertThat(forParser("UPDATE t SET a[1][2] >= 1")).isEqualTo("UPDATE t SET a[1][2] >= 1");
        // only targets of a SET list: not comparisons after a comma elsewhere, nor a row of targets
        assertThat(forParser("SELECT a, m[1][2] = 3, f(x, m[1][2] = 3) FROM t"))
                .isEqualTo("SELECT a, m[1][2] = 3, f(x, m[1][2] = 3) FROM t");
        assertThat(forParser("UPDATE t SET x = 1 WHERE k = 1 AND (a, m[1][2]) = (1, 2)"))
                .isEqualTo("UPDATE t SET x = 1 WHERE k = 1 AND (a, m[1][2]) = (1, 2)");
        assertThat(forParser("UPDATE t SET (a, m[1][2]) = (1, 2)")).isEqualTo("UPDATE t SET (a, m[1][2]) = (1, 2)");
        // a placeholder in a later subscript: left out, it would shift the numbers of the ones after it
        assertThat(forParser("UPDATE t SET doc['a'][?] = ? WHERE k = ?"))
                .isEqualTo("UPDATE t SET doc['a'][?] = ? WHERE k = ?");
    }

    @Test
    void anOnConflictAfterAFromListAndKeywordLabelsReadAsPostgreSqlReadsThem() {
        assertThat(forParser(
                        "INSERT INTO o (a, b) SELECT k.uid, g FROM k, generate_series(1, 3) g ON CONFLICT DO NOTHING"))
                .isEqualTo("INSERT INTO o (a, b) SELECT k.uid, g FROM k, generate_series(1, 3) g WHERE true ON CONFLICT"
                        + " DO NOTHING");
        // a WHERE or no FROM before it: as written
        assertThat(forParser("INSERT INTO o (a) SELECT 1 FROM k WHERE x ON CONFLICT DO NOTHING"))
                .isEqualTo("INSERT INTO o (a) SELECT 1 FROM k WHERE x ON CONFLICT DO NOTHING");
        assertThat(forParser("INSERT INTO o (a) SELECT 1 FROM k FOR UPDATE ON CONFLICT DO NOTHING"))
                .isEqualTo("INSERT INTO o (a) SELECT 1 FROM k FOR UPDATE ON CONFLICT DO NOTHING");
        assertThat(forParser("INSERT INTO o (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET b = 2"))
                .isEqualTo("INSERT INTO o (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET b = 2");
        assertThat(forParser("UPDATE t SET d = 1 WHERE k = 1 RETURNING d -> 'inner' AS inner, d AS Union"))
                .isEqualTo("UPDATE t SET d = 1 WHERE k = 1 RETURNING d -> 'inner' AS \"inner\", d AS \"union\"");
        assertThat(forParser("CREATE VIEW v AS SELECT 1 AS a")).isEqualTo("CREATE VIEW v AS SELECT 1 AS a");
    }
}
