package io.shardline.monitor;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.monitor.ReplicationMonitor.Beat;
import org.junit.jupiter.api.Test;

/** The lag in time a report carries: an upper bound on the replica's staleness, from the monitor's clock only. */
class LagMeasureTest {
    private static final long T0 = 1_800_000_000_000L;

    @Test
    void aReplicaThatStoppedReplayingShowsItsWholeDelay() {
        // heartbeats every 100 ms, each written 1 ms after it was sent; the replica stopped at the one of T0
        Beat newest = new Beat(T0 + 200, 0, T0 + 199);
        long lag = ReplicationMonitor.lagMs(newest, T0, 250, T0 + 250);
        assertThat(lag)
                .as("its data is 250 ms old when sampled")
                .isGreaterThanOrEqualTo(250)
                .isLessThan(260);
    }

    @Test
    void aCaughtUpReplicaShowsNoMoreThanTheTimeSinceTheNewestHeartbeatWasSent() {
        Beat newest = new Beat(T0, 0, T0 - 1);
        assertThat(ReplicationMonitor.lagMs(newest, T0, 30, T0 + 29)).isEqualTo(30);
    }

    @Test
    void theReplicasClockDoesNotEnterOnceAHeartbeatSucceeded() {
        Beat newest = new Beat(T0, 0, T0 - 1);
        // the replica's clock runs 5 s ahead (ageMs says 5,030) or 5 s behind (a negative age)
        assertThat(ReplicationMonitor.lagMs(newest, T0, 5_030, T0 + 29)).isEqualTo(30);
        assertThat(ReplicationMonitor.lagMs(newest, T0, -4_970, T0 + 29)).isEqualTo(30);
    }

    @Test
    void heartbeatsThatStopSucceedingShowTheReplicaFallingBehind() {
        // the last heartbeat accepted was sent 4 s before the sample; the replica has it
        Beat newest = new Beat(T0, 0, T0 - 1);
        assertThat(ReplicationMonitor.lagMs(newest, T0, 10, T0 + 4_000)).isGreaterThanOrEqualTo(4_000);
    }

    @Test
    void aReplicaShowingAHeartbeatNewerThanTheOneRecordedShowsNoNegativeLag() {
        // the next heartbeat committed and replayed before the monitor recorded it
        Beat newest = new Beat(T0, 0, T0 - 1);
        assertThat(ReplicationMonitor.lagMs(newest, T0 + 100, 1, T0 + 20)).isZero();
    }

    @Test
    void beforeAnyHeartbeatSucceededTheReplicasOwnAgeIsTheMeasureAndNoHeartbeatIsUnknown() {
        assertThat(ReplicationMonitor.lagMs(null, T0, 700, T0 + 5)).isEqualTo(700);
        assertThat(ReplicationMonitor.lagMs(null, T0, -3, T0 + 5)).isZero();
        assertThat(ReplicationMonitor.lagMs(new Beat(T0, 0, T0), null, 0, T0)).isEqualTo(-1);
    }
}
