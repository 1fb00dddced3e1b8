package io.shardline.router.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.sql.SQLException;
import org.junit.jupiter.api.Test;

class StalenessSettingTest {
    @Test
    void acceptsMillisecondsSecondsAndUnbounded() throws SQLException {
        assertThat(LogicalConnection.parseStaleness("200ms")).isEqualTo(200);
        assertThat(LogicalConnection.parseStaleness(" 2s ")).isEqualTo(2000);
        assertThat(LogicalConnection.parseStaleness("1.5s")).isEqualTo(1500);
        assertThat(LogicalConnection.parseStaleness("750")).isEqualTo(750);
        assertThat(LogicalConnection.parseStaleness("0")).isZero();
        assertThat(LogicalConnection.parseStaleness("UNBOUNDED")).isEqualTo(-1);
        assertThat(LogicalConnection.parseStaleness("-1")).isEqualTo(-1);
    }

    @Test
    void refusesAnythingElseNamingTheValue() {
        for (String bad : new String[] {"", "fast", "-5", "2 minutes", "-1s", "NaN", "Infinity"}) {
            SQLException e = catchThrowableOfType(SQLException.class, () -> LogicalConnection.parseStaleness(bad));
            assertThat((Object) e).as(bad).isNotNull();
            assertThat(e.getMessage())
                    .contains("shardline.max_staleness must be like")
                    .contains("'" + bad + "'");
        }
    }
}
