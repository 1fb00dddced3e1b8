package io.shardline.monitor;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The lag in time a report carries: an upper bound on the replica's staleness, the time since the monitor sent the
 * heartbeat the replica shows, by the monitor's own clocks only (the larger of its monotonic and wall clocks' say).
 */
class LagMeasureTest {
    private static final long MS = 1_000_000;
    /** The monitor's monotonic clock at some instant (unrelated to any wall clock; may be negative). */
    private static final long N0 = -77_000 * MS;
    /** Its wall clock at that instant. */
    private static final long T0 = 1_800_000_000_000L;

    /** The lag of a replica showing the heartbeat sent {@code ago} ms before the sample, both clocks agreeing. */
    private static long lag(long ago) {
        return ReplicationMonitor.lagMs(N0 - ago * MS, N0, T0 - ago, T0);
    }

    @Test
    void aReplicaShowingTheHeartbeatSentAtSomeInstantIsAtMostThatOld() {
        // the replica stopped at the heartbeat sent 250 ms before the sample; later ones committed on the primary
        assertThat(lag(250)).isEqualTo(250);
        // heartbeats that stop succeeding: the last one the replica shows was sent 4 s ago
        assertThat(lag(4_000)).isEqualTo(4_000);
        // a caught-up replica: the newest heartbeat, sent 29.2 ms before (rounded up: never fresher than it is)
        assertThat(ReplicationMonitor.lagMs(N0 - 29_200_000, N0, T0 - 29, T0)).isEqualTo(30);
    }

    @Test
    void aWallClockSteppedBackDoesNotHideTheDelay() {
        // sent 2 s before the sample; the wall clock went back 5 s meanwhile
        assertThat(ReplicationMonitor.lagMs(N0 - 2_000 * MS, N0, T0 + 3_000, T0))
                .isEqualTo(2_000);
    }

    @Test
    void aSuspendedHostDoesNotHideTheDelay() {
        // sent 200 ms of running before the sample, with the host suspended 10 s in between (the monotonic clock
        // stood still, the wall clock did not)
        assertThat(ReplicationMonitor.lagMs(N0 - 200 * MS, N0, T0 - 10_200, T0)).isEqualTo(10_200);
    }

    @Test
    void neverNegative() {
        assertThat(ReplicationMonitor.lagMs(N0 + MS, N0, T0 + 1, T0)).isZero();
        assertThat(lag(0)).isZero();
    }
}
