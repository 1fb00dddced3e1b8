package io.shardline.chaos;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;

/** The operations and faults of one round, appended to by every client thread and the nemesis. */
final class History {
    private final ConcurrentLinkedQueue<Op> ops = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Fault> faults = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<long[]> moves = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<String> crashes = new ConcurrentLinkedQueue<>();

    /** A client operation that ended with something other than an SQLException. */
    void crash(String what) {
        crashes.add(what);
    }

    List<String> crashes() {
        return new ArrayList<>(crashes);
    }

    void add(Op op) {
        ops.add(op);
    }

    void add(Fault fault) {
        faults.add(fault);
    }

    /** A move that was not over from {@code startMs} to {@code endMs} (wall-clock). */
    void moveWindow(long startMs, long endMs) {
        moves.add(new long[] {startMs, endMs});
    }

    List<Op> ops() {
        return new ArrayList<>(ops);
    }

    List<Fault> faults() {
        return new ArrayList<>(faults);
    }

    List<long[]> moveWindows() {
        return new ArrayList<>(moves);
    }
}
