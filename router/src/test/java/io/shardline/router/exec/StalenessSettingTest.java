package io.shardline.router.exec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.sql.SQLException;
import org.junit.jupiter.api.Test;

class StalenessSettingTest {
    @Test
    void acceptsMillisecondsSecondsAndUnbounded() throws SQLException {
        assertThat(Session.parseStaleness("200ms")).isEqualTo(200);
        assertThat(Session.parseStaleness(" 2s ")).isEqualTo(2000);
        assertThat(Session.parseStaleness("1.5s")).isEqualTo(1500);
        assertThat(Session.parseStaleness("750")).isEqualTo(750);
        assertThat(Session.parseStaleness("0")).isZero();
        assertThat(Session.parseStaleness("UNBOUNDED")).isEqualTo(-1);
        assertThat(Session.parseStaleness("-1")).isEqualTo(-1);
    }

    @Test
    void refusesAnythingElseNamingTheValue() {
        for (String bad : new String[] {"", "fast", "-5", "2 minutes", "-1s", "NaN", "Infinity"}) {
            SQLException e = catchThrowableOfType(SQLException.class, () -> Session.parseStaleness(bad));
            assertThat((Object) e).as(bad).isNotNull();
            assertThat(e.getMessage())
                    .contains("shardline.max_staleness must be like")
                    .contains("'" + bad + "'");
        }
    }
}
