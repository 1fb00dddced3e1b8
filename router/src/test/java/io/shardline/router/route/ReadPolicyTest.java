package io.shardline.router.route;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.router.route.ReadPolicy.Action;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import org.junit.jupiter.api.Test;

/** The worked examples of {@link ReadPolicy}, one by one. */
class ReadPolicyTest {
    static final Node HUB = new Node("s0-hub1", NodeRole.HUB, "h", 1, "s0-primary");
    static final Node LEAF = new Node("s0-leaf1", NodeRole.LEAF, "h", 2, "s0-hub1");

    @Test
    void aReadyReplicaServes() {
        assertThat(ReadPolicy.decide(2, 0, HUB, null, 0, true)).isEqualTo(Action.REPLICA);
        assertThat(ReadPolicy.decide(2, 500, HUB, LEAF, 50, false)).isEqualTo(Action.REPLICA);
    }

    @Test
    void noReplicaWithinTheBoundFallsBackOrFails() {
        assertThat(ReadPolicy.decide(2, 0, null, null, 0, true)).isEqualTo(Action.PRIMARY);
        assertThat(ReadPolicy.decide(2, 0, null, null, 0, false)).isEqualTo(Action.ERROR);
        assertThat(ReadPolicy.decide(0, 0, null, null, 0, false))
                .as("no replicas at all: nothing to fall back from")
                .isEqualTo(Action.PRIMARY);
    }

    @Test
    void aWriteNobodyIsKnownToHaveReplayedGoesToThePrimaryOrWaits() {
        assertThat(ReadPolicy.decide(2, 500, null, LEAF, 0, true)).isEqualTo(Action.PRIMARY);
        assertThat(ReadPolicy.decide(2, 500, null, LEAF, 50, true)).isEqualTo(Action.WAIT);
        assertThat(ReadPolicy.decide(2, CausalToken.UNKNOWN, null, LEAF, 50, true))
                .as("an unknown position cannot be waited for")
                .isEqualTo(Action.PRIMARY);
        assertThat(ReadPolicy.decide(2, CausalToken.PENDING, null, LEAF, 50, true))
                .as("a position not read yet cannot be waited for")
                .isEqualTo(Action.PRIMARY);
    }

    @Test
    void readYourWritesRatherThanStalenessSendsAReadToThePrimaryEvenWithFallbackError() {
        assertThat(ReadPolicy.decide(2, 500, null, LEAF, 0, false)).isEqualTo(Action.PRIMARY);
        assertThat(ReadPolicy.decide(2, 500, null, null, 0, false)).isEqualTo(Action.ERROR);
    }
}
