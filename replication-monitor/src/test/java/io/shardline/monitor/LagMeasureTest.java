package io.shardline.monitor;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.monitor.ReplicationMonitor.Beat;
import io.shardline.monitor.ReplicationMonitor.SentBeats;
import io.shardline.monitor.ReplicationMonitor.Visible;
import org.junit.jupiter.api.Test;

/** The lag in time a report carries: an upper bound on the replica's staleness, from the monitor's clock only. */
class LagMeasureTest {
    private static final long T0 = 1_800_000_000_000L;
    private static final long MS = 1_000_000;
    /** This monitor's monotonic clock at T0 (unrelated to any wall clock). */
    private static final long N0 = 77_000 * MS;

    private final SentBeats sent = new SentBeats();

    /** Sends a heartbeat at monotonic time {@code nanos}, written by the primary at {@code ts} (its clock). */
    private Visible beat(long nanos, long ts) {
        return new Visible(ts, sent.monitor(), sent.send(nanos));
    }

    @Test
    void aReplicaThatStoppedReplayingShowsItsWholeDelay() {
        // heartbeats every 100 ms, each written 1 ms after it was sent; the replica stopped at the one of T0
        Visible stoppedAt = beat(N0 - MS, T0);
        beat(N0 + 99 * MS, T0 + 100);
        beat(N0 + 199 * MS, T0 + 200);
        Beat newest = new Beat(T0 + 200, 0, N0 + 199 * MS);
        assertThat(ReplicationMonitor.lagMs(newest, stoppedAt, N0 + 250 * MS, sent))
                .as("its data is 250 ms old when sampled")
                .isGreaterThanOrEqualTo(250)
                .isLessThan(260);
    }

    @Test
    void aCaughtUpReplicaShowsNoMoreThanTheTimeSinceTheNewestHeartbeatWasSent() {
        Visible v = beat(N0 - MS, T0);
        assertThat(ReplicationMonitor.lagMs(new Beat(T0, 0, N0 - MS), v, N0 + 29 * MS, sent))
                .isEqualTo(30);
        // the next heartbeat committed and replayed before the monitor recorded it: no negative lag
        Visible next = beat(N0 + 99 * MS, T0 + 100);
        assertThat(ReplicationMonitor.lagMs(new Beat(T0, 0, N0 - MS), next, N0 + 99 * MS, sent))
                .isZero();
    }

    @Test
    void heartbeatsThatStopSucceedingShowTheReplicaFallingBehind() {
        // the last heartbeat accepted was sent 4 s before the sample; the replica has it
        Visible v = beat(N0 - MS, T0);
        assertThat(ReplicationMonitor.lagMs(new Beat(T0, 0, N0 - MS), v, N0 + 4_000 * MS, sent))
                .isGreaterThanOrEqualTo(4_000);
    }

    @Test
    void neitherThePrimarysClockNorAnewPrimaryEntersTheLagOfAReplicaShowingThisMonitorsHeartbeat() {
        // a leaf frozen at a heartbeat of the old primary sent 2 s ago; the new primary's clock is 5 s behind
        Visible frozen = beat(N0 - 2_000 * MS, T0);
        Beat newest = new Beat(T0 - 5_000, 0, N0 - MS);
        assertThat(ReplicationMonitor.lagMs(newest, frozen, N0 + 29 * MS, sent))
                .as("frozen 2 s: the primary-clock formula would say 0")
                .isGreaterThanOrEqualTo(2_000);
        // the primary's clock stepped back 10 s between two heartbeats: the replica still shows 30 ms
        Visible stepped = beat(N0 - MS, T0 - 10_000);
        assertThat(ReplicationMonitor.lagMs(new Beat(T0 - 10_000, 0, N0 - MS), stepped, N0 + 29 * MS, sent))
                .isEqualTo(30);
    }

    @Test
    void anotherMonitorsHeartbeatIsMeasuredAgainstThisMonitorsNewestByThePrimarysClock() {
        beat(N0 - MS, T0);
        Beat newest = new Beat(T0, 0, N0 - MS);
        // another monitor (or this one's previous run, with the same numbers) wrote the one the replica shows
        Visible foreign = new Visible(T0 - 500, "another", 1);
        assertThat(ReplicationMonitor.lagMs(newest, foreign, N0 + 29 * MS, sent))
                .isEqualTo(530);
        Visible newerForeign = new Visible(T0 + 50, "another", 1);
        assertThat(ReplicationMonitor.lagMs(newest, newerForeign, N0 + 29 * MS, sent))
                .isZero();
        // an earlier version's heartbeat: no monitor named
        assertThat(ReplicationMonitor.lagMs(newest, new Visible(T0 - 500, null, 0), N0 + 29 * MS, sent))
                .isEqualTo(530);
    }

    @Test
    void withoutAnyHeartbeatOfThisMonitorTheLagIsUnknown() {
        // before any heartbeat of this monitor succeeded (its primary down since it started) another monitor's
        // heartbeat says nothing this monitor can measure; the replica's clock is not used
        assertThat(ReplicationMonitor.lagMs(null, new Visible(T0, "another", 7), N0, sent))
                .isEqualTo(-1);
        // a heartbeat whose answer was lost (none recorded) but which the replica shows is this monitor's own
        Visible committed = beat(N0 - 40 * MS, T0);
        assertThat(ReplicationMonitor.lagMs(null, committed, N0, sent)).isEqualTo(40);
        // no heartbeat row at all
        assertThat(ReplicationMonitor.lagMs(new Beat(T0, 0, N0), null, N0, sent))
                .isEqualTo(-1);
    }

    @Test
    void onlyTheLastHourOrSoOfHeartbeatsIsKept() {
        Visible first = beat(N0, T0);
        for (int i = 0; i < 60_000; i++) {
            sent.send(N0 + i);
        }
        assertThat(sent.sentNanos(first.monitor(), first.seq())).isNull();
        assertThat(sent.sentNanos(first.monitor(), first.seq() + 60_000)).isEqualTo(N0 + 59_999);
    }
}
