package io.shardline.router.exec;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.router.route.ReplicaHealth;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** A connection's share of its node's state: the replica choice's in-flight count, the breaker's ejections. */
class PhysicalTest {
    private final ReplicaHealth health = new ReplicaHealth(Map.of(), 1000, n -> false, () -> new Node[0], "t");

    @AfterEach
    void close() {
        health.close(); // an ejection starts its prober
    }

    @Test
    void aReplicasStatementsCountInItsNodesInFlightAndAPrimarysDoNot() {
        Node hub = new Node("s0-hub1", NodeRole.HUB, "localhost", 5433, "s0-primary");
        Node primary = new Node("s0-primary", NodeRole.PRIMARY, "localhost", 5432, null);
        Physical onHub = new Physical(hub, 0, null, health.node(hub), 0);
        Physical onPrimary = new Physical(primary, 0, null, health.node(primary), 0);
        onHub.running();
        onPrimary.running();
        assertThat(health.inFlightCounter(hub).sum()).isEqualTo(1);
        assertThat(health.inFlightCounter(primary).sum())
                .as("no choice counts a primary")
                .isZero();
        // a second connection to the same node (a topology change's new record of it) shares the count
        Physical again = new Physical(
                new Node("s0-hub1", NodeRole.HUB, "10.0.0.9", 6433, "s0-primary"), 0, null, health.node(hub), 0);
        again.running();
        assertThat(health.inFlightCounter(hub).sum()).isEqualTo(2);
        onHub.done();
        again.done();
        onPrimary.done();
        assertThat(health.inFlightCounter(hub).sum()).isZero();
        assertThat(health.inFlightCounter(primary).sum()).isZero();
    }

    @Test
    void aConnectionBorrowedBeforeItsNodesEjectionIsStaleAfterIt() {
        Node hub = new Node("s0-hub1", NodeRole.HUB, "localhost", 5433, "s0-primary");
        ReplicaHealth.NodeState state = health.node(hub);
        Physical before = new Physical(hub, 0, null, state, state.breaker().ejections());
        assertThat(before.ejectedSince()).isFalse();
        health.eject(hub, 0, new java.sql.SQLException("connection refused", "08001"));
        assertThat(before.ejectedSince()).isTrue();
        Physical after =
                new Physical(hub, 0, null, health.node(hub), state.breaker().ejections());
        assertThat(after.ejectedSince()).isFalse();
    }
}
