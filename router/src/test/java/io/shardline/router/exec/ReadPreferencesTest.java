package io.shardline.router.exec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.shardline.router.route.CausalToken;
import io.shardline.topology.LagSnapshot;
import java.sql.SQLException;
import org.junit.jupiter.api.Test;

class ReadPreferencesTest {
    @Test
    void acceptsMillisecondsSecondsAndUnbounded() throws SQLException {
        assertThat(ReadPreferences.parseStaleness("200ms")).isEqualTo(200);
        assertThat(ReadPreferences.parseStaleness(" 2s ")).isEqualTo(2000);
        assertThat(ReadPreferences.parseStaleness("1.5s")).isEqualTo(1500);
        assertThat(ReadPreferences.parseStaleness("750")).isEqualTo(750);
        assertThat(ReadPreferences.parseStaleness("0")).isZero();
        assertThat(ReadPreferences.parseStaleness("UNBOUNDED")).isEqualTo(-1);
        assertThat(ReadPreferences.parseStaleness("-1")).isEqualTo(-1);
    }

    @Test
    void refusesAnythingElseNamingTheValue() {
        for (String bad : new String[] {"", "fast", "-5", "2 minutes", "-1s", "NaN", "Infinity"}) {
            SQLException e = catchThrowableOfType(SQLException.class, () -> ReadPreferences.parseStaleness(bad));
            assertThat((Object) e).as(bad).isNotNull();
            assertThat(e.getMessage())
                    .contains("shardline.max_staleness must be like")
                    .contains("'" + bad + "'");
        }
    }

    @Test
    void setResetAndShowTheSessionsReadPreferences() throws SQLException {
        ReadPreferences reads = new ReadPreferences(RuntimeSettings.from(new java.util.Properties()), "demo");
        assertThat(reads.show("shardline.read_from")).isEqualTo("replica");
        reads.apply("SET", "shardline.read_from", "SET shardline.read_from = 'primary'");
        assertThat(reads.readFromPrimary()).isTrue();
        reads.apply("SET", "shardline.max_staleness", "SET shardline.max_staleness TO '250ms'");
        assertThat(reads.show("shardline.max_staleness")).isEqualTo("250ms");
        reads.apply("SET", "shardline.causal_token", "SET shardline.causal_token = 'demo@1=0/3000060'");
        assertThat(reads.writtenLsn(1)).isEqualTo(0x3000060L);
        reads.apply("RESET", "shardline.read_from", "RESET shardline.read_from");
        reads.apply("RESET", "shardline.causal_token", "RESET shardline.causal_token");
        assertThat(reads.readFromPrimary()).isFalse();
        assertThat(reads.writtenLsn(1)).isZero();
        assertThat(catchThrowableOfType(
                                SQLException.class,
                                () -> reads.apply("SET", "shardline.read_from", "SET shardline.read_from = 'both'"))
                        .getSQLState())
                .isEqualTo("22023");
        assertThat(catchThrowableOfType(
                                SQLException.class,
                                () -> reads.apply(
                                        "SET", "shardline.causal_token", "SET shardline.causal_token = 'other@1=0/1'"))
                        .getSQLState())
                .isEqualTo("22023");
        assertThat(catchThrowableOfType(SQLException.class, () -> reads.show("shardline.nope"))
                        .getMessage())
                .contains("unknown Shardline setting 'shardline.nope'");
    }

    @Test
    void aCommitLeavesItsShardPendingUntilItsPositionIsRead() throws SQLException {
        ReadPreferences reads = new ReadPreferences(RuntimeSettings.from(new java.util.Properties()), "demo");
        reads.apply("SET", "shardline.causal_token", "SET shardline.causal_token = 'demo@1=0/3000060'");
        LagSnapshot reports = new LagSnapshot(java.util.Map.of());
        reads.committed(1, reports);
        reads.committed(3, LagSnapshot.EMPTY);
        assertThat(reads.writtenLsn(1)).isEqualTo(CausalToken.PENDING);
        assertThat(reads.writtenLsn(2)).isZero();
        assertThat(reads.pendingSince(1)).isSameAs(reports);
        assertThat(reads.pendingSince(2)).isNull();
        assertThat(reads.pendingShards()).containsExactly(1, 3);
        assertThat(reads.show("shardline.causal_token"))
                .as("only read positions are shown")
                .isEqualTo("demo@1=0/3000060");
        reads.resolved(1, 0x3000100L);
        assertThat(reads.writtenLsn(1)).isEqualTo(0x3000100L);
        assertThat(reads.pendingShards()).containsExactly(3);
        reads.resolved(3, CausalToken.UNKNOWN);
        assertThat(reads.writtenLsn(3)).isEqualTo(CausalToken.UNKNOWN);
        reads.committed(1, reports);
        reads.apply("RESET", "shardline.causal_token", "RESET shardline.causal_token");
        assertThat(reads.pendingShards()).isEmpty();
        assertThat(reads.writtenLsn(1)).isZero();
    }
}
