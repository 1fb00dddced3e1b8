package io.shardline.router.sql;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class InsertRowsTest {
    @Test
    void eachShardsStatementHoldsItsRowsAndTheirParametersInOrder() {
        InsertRows rows = InsertRows.of(
                "INSERT INTO t (id, v, n) VALUES (?, lower(?), 1), (?, 'a,(b)', ?),(?, ?, ARRAY[1, 2])"
                        + " ON CONFLICT (id) DO UPDATE SET v = ?",
                true);
        assertThat(rows.size()).isEqualTo(3);
        assertThat(rows.sql(List.of(0, 2)))
                .isEqualTo("INSERT INTO t (id, v, n) VALUES (?, lower(?), 1), (?, ?, ARRAY[1, 2])"
                        + " ON CONFLICT (id) DO UPDATE SET v = ?");
        assertThat(rows.parameters(List.of(0, 2))).containsExactly(1, 2, 5, 6, 7);
        assertThat(rows.sql(List.of(1)))
                .isEqualTo("INSERT INTO t (id, v, n) VALUES (?, 'a,(b)', ?) ON CONFLICT (id) DO UPDATE SET v = ?");
        assertThat(rows.parameters(List.of(1))).containsExactly(3, 4, 7);
    }

    @Test
    void commentsAndStringsBetweenRowsAndAPlainStatementsQuestionMarks() {
        InsertRows rows = InsertRows.of(
                "insert into t values (1, '{\"a\":1}'::jsonb ? 'a') /* (2) */ , -- a row\n(2, 'x)')", false);
        assertThat(rows.size()).isEqualTo(2);
        assertThat(rows.sql(List.of(1))).isEqualTo("insert into t values (2, 'x)')");
        assertThat(rows.parameters(List.of(0, 1))).isEmpty();
    }

    @Test
    void statementsWithoutATopLevelValuesListAreNotSplit() {
        assertThat(InsertRows.of("WITH x AS (SELECT 1) INSERT INTO t VALUES (1), (2)", true))
                .isNull();
        assertThat(InsertRows.of("INSERT INTO t SELECT * FROM (VALUES (1), (2)) v", true))
                .isNull();
        assertThat(InsertRows.of("INSERT INTO t VALUES (1), DEFAULT", true)).isNull();
        assertThat(InsertRows.of("INSERT INTO t VALUES (1", true)).isNull();
    }
}
