package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import io.shardline.topology.Shard;
import java.sql.SQLException;
import java.util.List;
import org.junit.jupiter.api.Test;

class SwitchoverTest {
    private static final Node PRIMARY = new Node("s0-primary", NodeRole.PRIMARY, "10.0.0.1", 5432, null);
    private static final Node HUB1 = new Node("s0-hub1", NodeRole.HUB, "10.0.0.2", 5432, "s0-primary");
    private static final Node HUB2 = new Node("s0-hub2", NodeRole.HUB, "10.0.0.3", 5432, "s0-primary");
    private static final Node LEAF1 = new Node("s0-leaf1", NodeRole.LEAF, "10.0.0.4", 5432, "s0-hub1");
    private static final Node LEAF2 = new Node("s0-leaf2", NodeRole.LEAF, "10.0.0.5", 5432, "s0-hub2");

    @Test
    void thePromotedHubIsThePrimaryItsLeavesBecomeHubsAndTheOldPrimaryLeaves() {
        Shard before = new Shard(0, List.of(PRIMARY, HUB1, HUB2, LEAF1, LEAF2), "sw1");
        Shard after = Switchover.promoted(before, PRIMARY, HUB1);
        assertThat(after.switchover()).isNull();
        assertThat(after.primary()).isEqualTo(new Node("s0-hub1", NodeRole.PRIMARY, "10.0.0.2", 5432, null));
        assertThat(after.nodes())
                .containsExactly(
                        new Node("s0-hub1", NodeRole.PRIMARY, "10.0.0.2", 5432, null),
                        new Node("s0-hub2", NodeRole.HUB, "10.0.0.3", 5432, "s0-hub1"),
                        new Node("s0-leaf1", NodeRole.HUB, "10.0.0.4", 5432, "s0-hub1"),
                        new Node("s0-leaf2", NodeRole.LEAF, "10.0.0.5", 5432, "s0-hub2"));
    }

    @Test
    void theNumberOfSynchronousStandbysASettingWaitsFor() {
        assertThat(Switchover.synchronousCount("ANY 1 (\"s0-hub1\", \"s0-hub2\")"))
                .isEqualTo(1);
        assertThat(Switchover.synchronousCount("FIRST 2 (a, b, c)")).isEqualTo(2);
        assertThat(Switchover.synchronousCount(" any 3(a,b,c)")).isEqualTo(3);
        assertThat(Switchover.synchronousCount("2 (a, b)")).isEqualTo(2);
        assertThat(Switchover.synchronousCount("a, b")).isEqualTo(1);
        assertThat(Switchover.synchronousCount("*")).isEqualTo(1);
        assertThat(Switchover.synchronousCount("\"2 (x)\""))
                .as("a quoted standby name")
                .isEqualTo(1);
    }

    @Test
    void onlyAConnectionFailureCountsAsADeadPrimary() {
        assertThat(Switchover.unreachable(new SQLException("refused", "08001"))).isTrue();
        assertThat(Switchover.unreachable(new SQLException("broken", "08006"))).isTrue();
        assertThat(Switchover.unreachable(new SQLException(
                        "The hostname 127.0.0.1 could not be verified by hostnameverifier PgjdbcHostnameVerifier.",
                        "08006")))
                .as("a TLS check that fails: a server answered")
                .isFalse();
        assertThat(Switchover.unreachable(new SQLException("The server does not support SSL.", "08004")))
                .isFalse();
        assertThat(Switchover.unreachable(new SQLException(
                        "SSL error: PKIX path building failed: unable to find valid certification path", "08006")))
                .isFalse();
        assertThat(Switchover.unreachable(new SQLException("sorry, too many clients already", "53300")))
                .isFalse();
        assertThat(Switchover.unreachable(new SQLException("password authentication failed", "28P01")))
                .isFalse();
        assertThat(Switchover.unreachable(new SQLException("the database system is starting up", "57P03")))
                .isFalse();
        assertThat(Switchover.unreachable(new SQLException("no state"))).isFalse();
    }
}
