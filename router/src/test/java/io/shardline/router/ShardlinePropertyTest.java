package io.shardline.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.sql.SQLException;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;

class ShardlinePropertyTest {
    static Properties props(String key, String value) {
        Properties p = new Properties();
        p.setProperty(key, value);
        return p;
    }

    @Test
    void replicaWeightsParseNodeColonWeight() throws SQLException {
        assertThat(ShardlineProperty.replicaWeights(props("replicaWeights", " s0-hub1:3, s0-leaf1:0 ")))
                .isEqualTo(Map.of("s0-hub1", 3, "s0-leaf1", 0));
        assertThat(ShardlineProperty.replicaWeights(new Properties())).isEmpty();
    }

    @Test
    void malformedReplicaWeightsNameTheBadEntry() {
        for (String bad : new String[] {"s0-hub1", "s0-hub1:x", ":3", "s0-hub1:-1", "a:1,,b:2"}) {
            SQLException e = catchThrowableOfType(
                    SQLException.class, () -> ShardlineProperty.replicaWeights(props("replicaWeights", bad)));
            assertThat((Object) e).as(bad).isNotNull();
            assertThat(e.getSQLState()).isEqualTo(SqlStates.INVALID_PARAMETER);
            assertThat(e.getMessage()).contains("replicaWeights must be like");
        }
    }

    @Test
    void badFallbackAndStalenessAreRefusedNamingTheProperty() {
        SQLException fallback = catchThrowableOfType(
                SQLException.class, () -> ShardlineProperty.checkKnown(props("fallback", "replica")));
        assertThat(fallback.getMessage()).contains("fallback must be 'primary' or 'error', not 'replica'");
        SQLException staleness = catchThrowableOfType(
                SQLException.class, () -> ShardlineProperty.MAX_STALENESS_MS.getLong(props("maxStalenessMs", "1s")));
        assertThat(staleness.getMessage()).contains("maxStalenessMs must be a whole number, not '1s'");
    }

    /** pgjdbc's own property names, as an application moving from jdbc:postgresql: has them, pass through. */
    @Test
    void pgjdbcPropertyNamesPassThroughUnprefixedButNotThoseChoosingTheNode() throws SQLException {
        for (String key : new String[] {"reWriteBatchedInserts", "ApplicationName", "sslmode", "stringtype"}) {
            ShardlineProperty.checkKnown(props(key, "x"));
            assertThat(ShardlineProperty.pgjdbcName(key)).isEqualTo(key);
        }
        assertThat(ShardlineProperty.pgjdbcName("pg.sslmode")).isEqualTo("sslmode");
        assertThat(ShardlineProperty.pgjdbcName("user")).as("the driver's own").isNull();
        assertThat(ShardlineProperty.pgjdbcName("poolSize")).isNull();
        for (String key : new String[] {
            "PGHOST", "PGPORT", "PGDBNAME", "replication", "autosave", "pg.autosave", "readOnly", "readOnlyMode"
        }) {
            assertThat(ShardlineProperty.pgjdbcName(key)).as(key).isNull();
            SQLException e =
                    catchThrowableOfType(SQLException.class, () -> ShardlineProperty.checkKnown(props(key, "x")));
            assertThat((Object) e).as(key).isNotNull();
            assertThat(e.getSQLState()).isEqualTo(SqlStates.INVALID_PARAMETER);
            assertThat(e.getMessage()).contains("pgjdbc's property '" + key + "' cannot be used through Shardline");
        }
        for (String key : new String[] {"autosave", "pg.readOnly", "readOnlyMode"}) {
            String pgjdbcDefault =
                    key.equals("autosave") ? "never" : key.equals("pg.readOnly") ? "false" : "transaction";
            ShardlineProperty.checkKnown(props(key, pgjdbcDefault)); // pgjdbc's default: nothing changes
        }
        SQLException typo = catchThrowableOfType(
                SQLException.class, () -> ShardlineProperty.checkKnown(props("reWriteBatchedInsert", "true")));
        assertThat(typo.getMessage()).contains("unknown property 'reWriteBatchedInsert'");
    }

    @Test
    void aZooKeeperUserWithoutItsPasswordIsRefusedBeforeZooKeeperIsAsked() {
        for (String query : new String[] {"zkUser=router", "zkPassword=x", "zkUser=a:b&zkPassword=x"}) {
            SQLException e = catchThrowableOfType(
                    SQLException.class,
                    () -> java.sql.DriverManager.getConnection(
                                    "jdbc:shardline:zk://127.0.0.1:1/shardline/clusters/nowhere?" + query)
                            .close());
            assertThat((Object) e).as(query).isNotNull();
            assertThat(e.getSQLState()).as(query).isEqualTo(SqlStates.INVALID_PARAMETER);
            assertThat(e.getMessage()).as(query).containsAnyOf("go together", "ZooKeeper user 'a:b' is invalid");
            assertThat(e.getMessage()).doesNotContain("=x");
        }
    }
}
