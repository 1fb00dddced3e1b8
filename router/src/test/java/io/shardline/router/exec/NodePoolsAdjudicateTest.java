package io.shardline.router.exec;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.SQLExceptionOverride.Override;
import io.shardline.router.ShardlineExceptionOverride;
import java.sql.SQLException;
import org.junit.jupiter.api.Test;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

/** Which errors make a pool (the driver's per node, the application's of logical connections) evict a connection. */
class NodePoolsAdjudicateTest {
    private static PSQLException server(String state, String message, String routine) {
        return new PSQLException(
                new ServerErrorMessage("SERROR\0C" + state + "\0M" + message + "\0R" + routine + "\0"));
    }

    @Test
    void postgresqlsFeatureNotSupportedKeepsThePhysicalConnection() {
        assertThat(NodePools.adjudicate(server(
                        "0A000", "FOR UPDATE is not allowed with aggregate functions", "transformLockingClause")))
                .isEqualTo(Override.DO_NOT_EVICT);
    }

    @Test
    void aChangedCachedPlanAStandbysSerializableRefusalAndConnectionErrorsEvict() {
        assertThat(NodePools.adjudicate(
                        server("0A000", "cached plan must not change result type", "RevalidateCachedQuery")))
                .isEqualTo(Override.CONTINUE_EVICT);
        assertThat(NodePools.adjudicate(server(
                        "0A000",
                        "cannot use serializable mode in a hot standby",
                        "GetSerializableTransactionSnapshot")))
                .isEqualTo(Override.CONTINUE_EVICT);
        assertThat(NodePools.adjudicate(new SQLException("I/O error", "08006"))).isEqualTo(Override.CONTINUE_EVICT);
        SQLException batch = new SQLException("batch refused", "0A000");
        batch.setNextException(new SQLException("connection reset", "08006"));
        assertThat(NodePools.adjudicate(batch))
                .as("a connection error down the chain")
                .isEqualTo(Override.CONTINUE_EVICT);
    }

    @Test
    void theApplicationsPoolKeepsALogicalConnectionAfterARefusal() {
        ShardlineExceptionOverride override = new ShardlineExceptionOverride();
        assertThat(override.adjudicate(new SQLException("Shardline cannot route this statement", "0A000")))
                .isEqualTo(Override.DO_NOT_EVICT);
        assertThat(override.adjudicate(new SQLException("closed", "08003"))).isEqualTo(Override.CONTINUE_EVICT);
    }
}
