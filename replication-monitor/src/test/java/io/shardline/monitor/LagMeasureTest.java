package io.shardline.monitor;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The lag in time a report carries: an upper bound on the replica's staleness, the time since the monitor sent the
 * heartbeat the replica shows, by the monitor's monotonic clock only.
 */
class LagMeasureTest {
    private static final long MS = 1_000_000;
    /** The monitor's monotonic clock at some instant (unrelated to any wall clock; may be negative). */
    private static final long N0 = -77_000 * MS;

    @Test
    void aReplicaShowingTheHeartbeatSentAtSomeInstantIsAtMostThatOld() {
        // the replica stopped at the heartbeat sent 250 ms before the sample; later ones committed on the primary
        assertThat(ReplicationMonitor.lagMs(N0 - 250 * MS, N0)).isEqualTo(250);
        // a caught-up replica: the newest heartbeat, sent 29.2 ms before (rounded up: never fresher than it is)
        assertThat(ReplicationMonitor.lagMs(N0 - 29_200_000, N0)).isEqualTo(30);
        // heartbeats that stop succeeding: the last one the replica shows was sent 4 s ago
        assertThat(ReplicationMonitor.lagMs(N0 - 4_000 * MS, N0)).isEqualTo(4_000);
    }

    @Test
    void neverNegative() {
        assertThat(ReplicationMonitor.lagMs(N0 + MS, N0)).isZero();
        assertThat(ReplicationMonitor.lagMs(N0, N0)).isZero();
    }
}
