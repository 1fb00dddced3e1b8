package io.shardline.chaos;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Checks a round's history against what the primaries hold at its end: no acknowledged write lost or applied
 * twice, no write that failed applied, no bounded read older than its bound allows, no session missing its own
 * write, every atomic read seeing the bank's total and each keyless update on every shard or on none, no prepared
 * transaction left, every move over and clean, and no keyed write failed or held by a short ZooKeeper outage
 * outside a move. Unknown outcomes are counted, not taken as loss.
 */
final class Checker {
    /** An operation slower than this was held. */
    static final long HELD_MS = 1_000;

    /** The routers' ZooKeeper session timeout. */
    static final long SESSION_TIMEOUT_MS = 10_000;

    /**
     * The longest ZooKeeper outage judged to hold no keyed write: the session timeout less 1.5 s. A session expires a
     * whole timeout after the servers last heard from it, which may be a lease renewal (every 500 ms) before the
     * outage, and reconnecting takes up to a second after it: an outage closer to the timeout may expire the session
     * (then writes wait for the new session to read the ring, as they must). Longer ones are reported apart.
     */
    static final long JUDGED_OUTAGE_MS = SESSION_TIMEOUT_MS - 1_500;

    /** How long after a fault is healed its effects are still counted against it. */
    static final long AFTERMATH_MS = 5_000;

    /**
     * How much older than its bound a bounded read's data may be: the dead band of a replica at the bound (10 %,
     * at least 50 ms), the age a lag report may reach before the routers stop trusting it, and one heartbeat
     * interval (the lag measured is exact to one heartbeat).
     */
    static final long STALENESS_SLACK_MS =
            Math.max(ChaosCluster.BOUND_MS / 10, 50) + ChaosCluster.FRESHNESS_MS + ChaosCluster.HEARTBEAT.toMillis();

    private Checker() {}

    static Report check(History history, FinalState state, long seed) {
        Report report = new Report();
        report.seeds.add(seed);
        List<Op> ops = history.ops();
        ops.sort(Comparator.comparingLong(Op::invokeMs));
        ops.forEach(report::op);
        items(ops, state, report);
        increments(ops, state, report);
        keyless(ops, state, report);
        atomicReads(ops, report);
        staleness(ops, report);
        readYourWrites(ops, report);
        faults(history, ops, report);
        if (state.bankSum() != ChaosCluster.ACCOUNTS * ChaosCluster.OPENING
                || state.bankAccounts() != ChaosCluster.ACCOUNTS) {
            report.bankTotalWrong++;
            report.example(
                    "bank at the end",
                    "total " + state.bankSum() + " in " + state.bankAccounts() + " accounts, expected "
                            + ChaosCluster.ACCOUNTS * ChaosCluster.OPENING + " in " + ChaosCluster.ACCOUNTS);
        }
        for (String crash : history.crashes()) {
            report.clientCrashes++;
            report.example("an operation ended with an unexpected exception", crash);
        }
        report.inDoubtLeft = state.prepared();
        report.movesDone = state.movesDone();
        report.movesAborted = state.movesAborted();
        report.moveProblems.addAll(state.moveProblems());
        return report;
    }

    private static void items(List<Op> ops, FinalState state, Report report) {
        for (Op op : ops) {
            if (op.kind() != Op.Kind.INSERT) {
                continue;
            }
            int copies = state.itemCopies().getOrDefault(op.key(), 0);
            if (op.outcome() == Op.Outcome.OK && copies == 0) {
                report.lost++;
                report.example("acknowledged insert lost", "item " + op.key() + " " + when(op));
            } else if (copies > 1) {
                report.duplicated++;
                report.example("insert applied twice", "item " + op.key() + ": " + copies + " copies " + when(op));
            } else if (op.outcome() == Op.Outcome.FAILED && copies > 0) {
                report.failedButApplied++;
                report.example("failed insert applied", "item " + op.key() + " " + when(op) + " " + op.error());
            }
        }
    }

    private static void increments(List<Op> ops, FinalState state, Report report) {
        Map<Long, long[]> byKey = new HashMap<>(); // acknowledged, unknown
        for (Op op : ops) {
            if (op.kind() != Op.Kind.INCREMENT || op.outcome() == Op.Outcome.FAILED) {
                continue;
            }
            long[] c = byKey.computeIfAbsent(op.key(), k -> new long[2]);
            if (op.outcome() == Op.Outcome.OK) {
                c[0]++;
                if (op.result() != 1) {
                    // counted as lost below: the counter did not grow for it
                    report.example("increment matched no row", "counter " + op.key() + " " + when(op));
                }
            } else {
                c[1]++;
            }
        }
        Set<Long> keys = new TreeSet<>(byKey.keySet());
        keys.addAll(state.countersBefore().keySet());
        keys.addAll(state.countersAfter().keySet());
        for (long key : keys) {
            // a row gone counts as zero: everything acknowledged for it lost
            long delta = state.countersAfter().getOrDefault(key, 0L)
                    - state.countersBefore().getOrDefault(key, 0L);
            long[] c = byKey.getOrDefault(key, new long[2]);
            if (delta < c[0]) {
                report.lost += c[0] - delta;
                report.example(
                        "acknowledged increments lost",
                        "counter " + key + ": +" + delta + " for " + c[0] + " acknowledged");
            } else if (delta > c[0] + c[1]) {
                report.duplicated += delta - c[0] - c[1];
                report.example(
                        "increments applied twice or without being asked",
                        "counter " + key + ": +" + delta + " for " + c[0] + " acknowledged and " + c[1] + " unknown");
            }
        }
    }

    private static void keyless(List<Op> ops, FinalState state, Report report) {
        long acknowledged = 0;
        long unknown = 0;
        for (Op op : ops) {
            if (op.kind() == Op.Kind.KEYLESS_UPDATE) {
                if (op.outcome() == Op.Outcome.OK) {
                    acknowledged++;
                    if (op.result() != ChaosCluster.COUNTERS) {
                        report.keylessFractured++;
                        report.example(
                                "keyless update count",
                                op.result() + " rows updated, " + ChaosCluster.COUNTERS + " exist " + when(op));
                    }
                } else if (op.outcome() == Op.Outcome.UNKNOWN) {
                    unknown++;
                }
            }
        }
        List<Long> deltas = new ArrayList<>();
        state.touchedAfter()
                .forEach((k, v) -> deltas.add(v - state.touchedBefore().getOrDefault(k, 0L)));
        long min = deltas.stream().mapToLong(Long::longValue).min().orElse(0);
        long max = deltas.stream().mapToLong(Long::longValue).max().orElse(0);
        if (min != max) {
            report.keylessFractured++;
            report.example("keyless updates applied to some rows only", "rows got +" + min + " to +" + max);
        }
        if (max < acknowledged) {
            report.lost += acknowledged - max;
            report.example("acknowledged keyless updates lost", "+" + max + " for " + acknowledged + " acknowledged");
        } else if (min > acknowledged + unknown) {
            report.duplicated += min - acknowledged - unknown;
            report.example(
                    "keyless updates applied twice",
                    "+" + min + " for " + acknowledged + " acknowledged and " + unknown + " unknown");
        }
    }

    private static void atomicReads(List<Op> ops, Report report) {
        long total = ChaosCluster.ACCOUNTS * ChaosCluster.OPENING;
        for (Op op : ops) {
            if (op.kind() != Op.Kind.ATOMIC_READ || op.outcome() != Op.Outcome.OK) {
                continue;
            }
            report.atomicReads++;
            if (op.key() == 1 && (op.result() != total || op.result2() != ChaosCluster.ACCOUNTS)) {
                report.bankTotalWrong++;
                report.example(
                        "a cross-shard read saw part of a transfer",
                        "sum " + op.result() + " over " + op.result2() + " accounts " + when(op));
            } else if (op.key() == 2 && op.result() != op.result2()) {
                report.fracturedReads++;
                report.example(
                        "a cross-shard read saw part of a keyless update",
                        "touched from " + op.result() + " to " + op.result2() + " " + when(op));
            }
        }
    }

    /**
     * A bounded read of a clock row returned value v: every write of that row acknowledged before the read began,
     * less the bound and its slack, must be at most v (one writer sets each row to ever larger values).
     */
    private static void staleness(List<Op> ops, Report report) {
        Map<Long, List<Op>> writes = new HashMap<>();
        for (Op op : ops) {
            if (op.kind() == Op.Kind.CLOCK_WRITE && op.outcome() == Op.Outcome.OK) {
                writes.computeIfAbsent(op.key(), k -> new ArrayList<>()).add(op);
            }
        }
        writes.values().forEach(list -> list.sort(Comparator.comparingLong(Op::completeMs)));
        for (Op read : ops) {
            if (read.kind() != Op.Kind.CLOCK_READ || read.outcome() != Op.Outcome.OK) {
                continue;
            }
            report.boundedReads++;
            long threshold = read.invokeMs() - read.value() - STALENESS_SLACK_MS;
            List<Op> list = writes.getOrDefault(read.key(), List.of());
            Op missed = null; // the first write acknowledged before the threshold that the read does not show
            for (Op w : list) {
                if (w.completeMs() > threshold) {
                    break;
                }
                if (w.value() > read.result() && missed == null) {
                    missed = w;
                }
            }
            if (missed != null) {
                report.stale++;
                long age = read.invokeMs() - missed.completeMs();
                report.worstStalenessMs = Math.max(report.worstStalenessMs, age - read.value());
                report.example(
                        "bounded read older than its bound",
                        "clock " + read.key() + " read " + read.result() + " " + when(read) + ", but " + missed.value()
                                + " was acknowledged " + age + " ms before it began (bound " + read.value() + " ms)");
            }
        }
    }

    private static void readYourWrites(List<Op> ops, Report report) {
        Map<Long, Long> lastWritten = new HashMap<>(); // by session (one key per session)
        for (Op op : ops) {
            if (op.kind() == Op.Kind.RYW_WRITE && op.outcome() == Op.Outcome.OK) {
                lastWritten.merge(op.session(), op.value(), Math::max);
            } else if (op.kind() == Op.Kind.RYW_READ && op.outcome() == Op.Outcome.OK) {
                report.rywReads++;
                Long expected = lastWritten.get(op.session());
                if (expected != null && op.result() < expected) {
                    report.rywViolations++;
                    report.example(
                            "a session did not read its own write",
                            "session " + op.session() + " wrote " + expected + ", read " + op.result() + " "
                                    + when(op));
                }
            }
        }
    }

    /**
     * Per fault, how long operations failed or were held (from the first such operation begun while it lasted or
     * soon after, to the last one's end; keyless writes refused while a move runs are not counted); and whether a short ZooKeeper outage outside a move failed or held a
     * keyed write.
     */
    private static void faults(History history, List<Op> ops, Report report) {
        List<long[]> moves = history.moveWindows();
        for (Fault f : history.faults()) {
            report.faults.merge(f.kind(), 1, Integer::sum);
            long end = f.healMs() + AFTERMATH_MS;
            long first = Long.MAX_VALUE;
            long last = Long.MIN_VALUE;
            for (Op op : ops) {
                if (op.invokeMs() < f.startMs() || op.invokeMs() > end || op.kind() == Op.Kind.TRANSFER) {
                    continue;
                }
                if ((op.outcome() != Op.Outcome.OK && !refusedDuringMove(op)) || op.latencyMs() > HELD_MS) {
                    first = Math.min(first, op.invokeMs());
                    last = Math.max(last, op.completeMs());
                }
            }
            report.unavailable
                    .computeIfAbsent(f.kind(), k -> new ArrayList<>())
                    .add(first == Long.MAX_VALUE ? 0.0 : (last - first) / 1000.0);
            if (f.zooKeeperOutageMs() > 0) {
                report.zooKeeperOut
                        .computeIfAbsent(f.kind(), k -> new ArrayList<>())
                        .add(f.zooKeeperOutageMs() / 1000.0);
            }
            if (f.kind().shortZooKeeperOutage()
                    && f.zooKeeperOutageMs() < SESSION_TIMEOUT_MS
                    && moves.stream().noneMatch(m -> m[0] <= end && m[1] >= f.startMs() - 1_000)) {
                boolean judged = f.zooKeeperOutageMs() <= JUDGED_OUTAGE_MS;
                if (judged) {
                    report.zkOutagesOutsideMoves++;
                } else {
                    report.zkOutagesNearTimeout++;
                }
                for (Op op : ops) {
                    if (op.kind().keyedWrite
                            && op.invokeMs() >= f.startMs()
                            && op.invokeMs() <= f.healMs() + 2_000
                            && (op.outcome() != Op.Outcome.OK || op.latencyMs() > HELD_MS)) {
                        if (judged) {
                            report.zkOutageWritesFailedOrHeld++;
                            report.example(
                                    "a keyed write failed or held by a ZooKeeper outage shorter than the session"
                                            + " timeout",
                                    f.kind() + " " + f.target() + " (" + f.zooKeeperOutageMs() + " ms): " + op.kind()
                                            + " " + op.key() + " " + when(op) + " " + op.outcome() + " "
                                            + op.error());
                        } else {
                            report.zkNearTimeoutWritesFailedOrHeld++;
                        }
                    }
                }
            }
        }
    }

    /** A keyless write refused because a move runs: documented (55006), not the fault's doing. */
    private static boolean refusedDuringMove(Op op) {
        return op.error() != null && op.error().startsWith("55006");
    }

    private static String when(Op op) {
        return "(session " + op.session() + ", at " + op.invokeMs() + ", " + op.latencyMs() + " ms)";
    }
}
