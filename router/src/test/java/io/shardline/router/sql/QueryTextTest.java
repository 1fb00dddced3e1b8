package io.shardline.router.sql;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class QueryTextTest {
    @Test
    void literalsAndCommentsLeaveTheText() {
        assertThat(QueryText.sanitized("UPDATE users SET password = 'hunter2', n = 42 WHERE id = ? -- by admin\n"))
                .isEqualTo("UPDATE users SET password = ?, n = ? WHERE id = ? ");
        assertThat(QueryText.sanitized("SELECT E'a\\'b', $tag$ body $tag$, U&\"col\" FROM \"T\" /* x */"))
                .isEqualTo("SELECT ?, ?, U&\"col\" FROM \"T\" ");
        assertThat(QueryText.sanitized("select 1.5e3")).isEqualTo("select ?");
        assertThat(QueryText.sanitized("SET app.api_key = abc123xyz")).isEqualTo("SET app.api_key = ?");
        assertThat(QueryText.sanitized("SET SESSION role TO admin_secret")).isEqualTo("SET SESSION role TO ?");
        assertThat(QueryText.sanitized("SELECT 'unterminated"))
                .as("not SQL: nothing shown")
                .isNull();
        assertThat(QueryText.operation("SELECT 'unterminated")).isEqualTo("SELECT");
    }

    @Test
    void theOperationIsTheFirstKeyword() {
        assertThat(QueryText.operation("  /* hint */ select 1")).isEqualTo("SELECT");
        assertThat(QueryText.operation("(SELECT 1) UNION (SELECT 2)")).isEqualTo("SELECT");
        assertThat(QueryText.operation("WITH x AS (SELECT 1) SELECT * FROM x")).isEqualTo("WITH");
        assertThat(QueryText.operation(";")).isEqualTo("SQL");
        assertThat(QueryText.operation("-- a comment\n  insert INTO t VALUES (1)"))
                .isEqualTo("INSERT");
        assertThat(QueryText.operation("/* unterminated")).isEqualTo("SQL");
    }
}
