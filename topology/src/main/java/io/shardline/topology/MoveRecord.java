package io.shardline.topology;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import java.util.Map;

/**
 * One shard move as the rebalancer keeps it in ZooKeeper {@code moves/{id}} (JSON), and as every router reads
 * it to fence writes during the cutover.
 *
 * @param epoch the rebalancer leader's epoch that wrote it: a writer with a lower epoch must not write again
 * @param fromRingVersion the ring version the move starts from
 * @param toRingVersion the ring version the cutover publishes
 * @param cutoverLsn per target shard, its primary's WAL position when the new ring was published: reads of that
 *     shard go to its replicas only once they have replayed that far
 * @param progress how far the current phase is, as the runner last wrote it
 * @param error why the move was aborted or is stuck, or null
 */
public record MoveRecord(
        String id,
        long epoch,
        MoveState state,
        long fromRingVersion,
        long toRingVersion,
        List<Transfer> transfers,
        Map<Integer, String> cutoverLsn,
        Progress progress,
        String error,
        long startedAtMillis,
        long updatedAtMillis) {

    public MoveRecord {
        transfers = transfers == null ? List.of() : List.copyOf(transfers);
        cutoverLsn = cutoverLsn == null ? Map.of() : Map.copyOf(cutoverLsn);
        progress = progress == null ? Progress.NONE : progress;
    }

    /**
     * How far a move is.
     *
     * @param rowsTotal rows of the moving ranges on the sources when the copy started (counted there)
     * @param rowsCopied rows the targets' initial copy has written
     * @param lagBytes source WAL the targets have not confirmed yet (the largest over the transfers); -1 unknown
     * @param rowsCleaned rows deleted from the sources after the switch (or from the targets on abort)
     * @param etaSeconds estimated seconds left in the current phase; -1 unknown
     */
    public record Progress(long rowsTotal, long rowsCopied, long lagBytes, long rowsCleaned, long etaSeconds) {
        public static final Progress NONE = new Progress(0, 0, -1, 0, -1);
    }

    /** Ranges moving from one shard to another; each range is {@code [start, end]} inclusive. */
    public record Transfer(int source, int target, List<long[]> ranges) {
        public Transfer {
            ranges = List.copyOf(ranges);
        }

        boolean contains(long hash) {
            for (long[] r : ranges) {
                if (hash >= r[0] && hash <= r[1]) {
                    return true;
                }
            }
            return false;
        }
    }

    /** Whether {@code hash} is in a range this move moves. */
    public boolean moves(long hash) {
        for (Transfer t : transfers) {
            if (t.contains(hash)) {
                return true;
            }
        }
        return false;
    }

    /** The same record in another state (and with the epoch of its writer). */
    public MoveRecord withState(MoveState next, long writerEpoch, long nowMillis) {
        return new MoveRecord(
                id,
                writerEpoch,
                next,
                fromRingVersion,
                toRingVersion,
                transfers,
                cutoverLsn,
                progress,
                error,
                startedAtMillis,
                nowMillis);
    }

    /** The same record with other progress (and the epoch of its writer). */
    public MoveRecord withProgress(Progress next, long writerEpoch, long nowMillis) {
        return new MoveRecord(
                id,
                writerEpoch,
                state,
                fromRingVersion,
                toRingVersion,
                transfers,
                cutoverLsn,
                next,
                error,
                startedAtMillis,
                nowMillis);
    }

    /** The same record with another error (null: none). */
    public MoveRecord withError(String why) {
        return new MoveRecord(
                id,
                epoch,
                state,
                fromRingVersion,
                toRingVersion,
                transfers,
                cutoverLsn,
                progress,
                why,
                startedAtMillis,
                updatedAtMillis);
    }

    /** The steps of a move, in order; {@link #ABORTED} ends it from any step before {@link #SWITCHED}. */
    public enum MoveState {
        @JsonProperty("planned")
        PLANNED,
        @JsonProperty("schema")
        SCHEMA,
        @JsonProperty("copying")
        COPYING,
        @JsonProperty("catching_up")
        CATCHING_UP,
        /** Routers hold writes to the moving ranges. */
        @JsonProperty("fenced")
        FENCED,
        /** The new ring is published; routers route the ranges to the target. */
        @JsonProperty("switched")
        SWITCHED,
        @JsonProperty("cleaning")
        CLEANING,
        @JsonProperty("done")
        DONE,
        @JsonProperty("aborted")
        ABORTED;

        /** Whether the move is over (nothing of it is active). */
        public boolean isTerminal() {
            return this == DONE || this == ABORTED;
        }
    }
}
