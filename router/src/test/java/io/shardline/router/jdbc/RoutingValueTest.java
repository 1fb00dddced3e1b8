package io.shardline.router.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigDecimal;
import java.sql.Types;
import org.junit.jupiter.api.Test;

/** A key set with {@code setObject(i, x, targetSqlType)} is routed by the value pgjdbc sends for it. */
class RoutingValueTest {
    @Test
    void aNumberSentAsAnIntegerTypeIsTruncatedAsPgjdbcDoes() {
        assertThat(LogicalPreparedStatement.routingValue(12.7d, Types.BIGINT, true))
                .isEqualTo(12L);
        assertThat(LogicalPreparedStatement.routingValue(new BigDecimal("-12.7"), Types.INTEGER, true))
                .isEqualTo(-12L);
        assertThat(LogicalPreparedStatement.routingValue(6.5d, Types.NUMERIC, true))
                .as("a decimal: half away from zero into a bigint")
                .isEqualTo(new BigDecimal("6.5"));
        assertThat(LogicalPreparedStatement.routingValue(6.5d, Types.DOUBLE, true))
                .isEqualTo(6.5d);
        assertThat(LogicalPreparedStatement.routingValue(42, Types.VARCHAR, true))
                .isEqualTo(42);
        assertThat(LogicalPreparedStatement.routingValue("12.7", Types.BIGINT, true))
                .isEqualTo("12.7");
    }

    @Test
    void aStringSentAsCharLosesItsTrailingBlanksAsItBecomesText() {
        assertThat(LogicalPreparedStatement.routingValue("pg1   ", Types.CHAR, true))
                .isEqualTo("pg1");
        assertThat(LogicalPreparedStatement.routingValue("  pg 1\t ", Types.CHAR, true))
                .isEqualTo("  pg 1\t");
        assertThat(LogicalPreparedStatement.routingValue("   ", Types.CHAR, true))
                .isEqualTo("");
        assertThat(LogicalPreparedStatement.routingValue("pg1   ", Types.VARCHAR, true))
                .isEqualTo("pg1   ");
    }
}
