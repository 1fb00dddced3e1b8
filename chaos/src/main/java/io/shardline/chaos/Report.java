package io.shardline.chaos;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/** What the {@link Checker} found in one round, or in several merged. */
final class Report {
    private static final int EXAMPLES = 10;

    final Map<Nemesis.Kind, Integer> faults = new EnumMap<>(Nemesis.Kind.class);
    /** seconds each fault of a kind left operations failing or held (over 1 s) */
    final Map<Nemesis.Kind, List<Double>> unavailable = new EnumMap<>(Nemesis.Kind.class);
    /** seconds ZooKeeper did not serve the workload's router, per fault of the ZooKeeper kinds */
    final Map<Nemesis.Kind, List<Double>> zooKeeperOut = new EnumMap<>(Nemesis.Kind.class);

    final Map<Op.Kind, long[]> ops = new EnumMap<>(Op.Kind.class); // ok, failed, unknown
    long lost;
    long duplicated;
    long failedButApplied;
    long stale;
    long worstStalenessMs;
    long boundedReads;
    long rywViolations;
    long rywReads;
    long fracturedReads;
    long atomicReads;
    long bankTotalWrong;
    long keylessFractured;
    long inDoubtLeft;
    long clientCrashes;
    long zkOutageWritesFailedOrHeld;
    int zkOutagesOutsideMoves;
    long zkNearTimeoutWritesFailedOrHeld;
    int zkOutagesNearTimeout;
    int movesDone;
    int movesAborted;
    final List<String> moveProblems = new ArrayList<>();
    private final Map<String, List<String>> examples = new TreeMap<>();
    final List<Long> seeds = new ArrayList<>();

    /** How often each error ended an operation, by operation kind, outcome and error (its first 100 characters). */
    final Map<String, Integer> errors = new TreeMap<>();

    void op(Op op) {
        ops.computeIfAbsent(op.kind(), k -> new long[3])[op.outcome().ordinal()]++;
        if (op.error() != null) {
            String error = op.error().length() > 100 ? op.error().substring(0, 100) : op.error();
            errors.merge(op.kind() + " " + op.outcome() + ": " + error.replace('\n', ' '), 1, Integer::sum);
        }
    }

    /** A violation of a guarantee, with an example of it (the first few of each kind are kept). */
    void example(String what, String example) {
        List<String> list = examples.computeIfAbsent(what, k -> new ArrayList<>());
        if (list.size() < EXAMPLES) {
            list.add(example);
        }
    }

    long violations() {
        return lost
                + duplicated
                + failedButApplied
                + stale
                + rywViolations
                + fracturedReads
                + bankTotalWrong
                + keylessFractured
                + inDoubtLeft
                + clientCrashes
                + zkOutageWritesFailedOrHeld
                + moveProblems.size();
    }

    boolean ok() {
        return violations() == 0;
    }

    long operations() {
        return ops.values().stream().mapToLong(a -> a[0] + a[1] + a[2]).sum();
    }

    long unknown() {
        return ops.values().stream().mapToLong(a -> a[2]).sum();
    }

    void merge(Report other) {
        other.faults.forEach((k, v) -> faults.merge(k, v, Integer::sum));
        other.unavailable.forEach(
                (k, v) -> unavailable.computeIfAbsent(k, x -> new ArrayList<>()).addAll(v));
        other.zooKeeperOut.forEach((k, v) ->
                zooKeeperOut.computeIfAbsent(k, x -> new ArrayList<>()).addAll(v));
        other.ops.forEach((k, v) -> {
            long[] mine = ops.computeIfAbsent(k, x -> new long[3]);
            for (int i = 0; i < 3; i++) {
                mine[i] += v[i];
            }
        });
        other.errors.forEach((k, v) -> errors.merge(k, v, Integer::sum));
        lost += other.lost;
        duplicated += other.duplicated;
        failedButApplied += other.failedButApplied;
        stale += other.stale;
        worstStalenessMs = Math.max(worstStalenessMs, other.worstStalenessMs);
        boundedReads += other.boundedReads;
        rywViolations += other.rywViolations;
        rywReads += other.rywReads;
        fracturedReads += other.fracturedReads;
        atomicReads += other.atomicReads;
        bankTotalWrong += other.bankTotalWrong;
        keylessFractured += other.keylessFractured;
        inDoubtLeft += other.inDoubtLeft;
        clientCrashes += other.clientCrashes;
        zkOutageWritesFailedOrHeld += other.zkOutageWritesFailedOrHeld;
        zkOutagesOutsideMoves += other.zkOutagesOutsideMoves;
        zkNearTimeoutWritesFailedOrHeld += other.zkNearTimeoutWritesFailedOrHeld;
        zkOutagesNearTimeout += other.zkOutagesNearTimeout;
        movesDone += other.movesDone;
        movesAborted += other.movesAborted;
        moveProblems.addAll(other.moveProblems);
        other.examples.forEach((k, v) -> v.forEach(e -> example(k, e)));
        seeds.addAll(other.seeds);
    }

    private static String spread(List<Double> values) {
        if (values == null || values.isEmpty()) {
            return "-";
        }
        List<Double> sorted = new ArrayList<>(values);
        sorted.sort(null);
        return String.format(Locale.ROOT, "%.1f / %.1f", sorted.get(sorted.size() / 2), sorted.get(sorted.size() - 1));
    }

    /** The figures as the README's table shows them, then the violations' examples. */
    String table() {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "seeds %s%n", seeds));
        b.append(String.format(
                Locale.ROOT,
                "%-26s %7s %24s %26s%n",
                "fault",
                "count",
                "unavailable p50 / max s",
                "ZooKeeper out p50 / max s"));
        for (Nemesis.Kind kind : Nemesis.Kind.values()) {
            b.append(String.format(
                    Locale.ROOT,
                    "%-26s %7d %24s %26s%n",
                    kind,
                    faults.getOrDefault(kind, 0),
                    spread(unavailable.get(kind)),
                    spread(zooKeeperOut.get(kind))));
        }
        b.append(String.format(Locale.ROOT, "%-16s %9s %9s %9s%n", "operation", "ok", "failed", "unknown"));
        ops.forEach((k, v) -> b.append(String.format(Locale.ROOT, "%-16s %9d %9d %9d%n", k, v[0], v[1], v[2])));
        b.append(String.format(
                Locale.ROOT,
                "operations %d (unknown outcome %d); lost %d; duplicated %d; failed but applied %d; unexpected"
                        + " exceptions %d%n",
                operations(),
                unknown(),
                lost,
                duplicated,
                failedButApplied,
                clientCrashes));
        b.append(String.format(
                Locale.ROOT,
                "bounded reads %d, stale beyond bound %d (worst data age past the bound %d ms); read-your-writes reads"
                        + " %d, violations %d%n",
                boundedReads,
                stale,
                worstStalenessMs,
                rywReads,
                rywViolations));
        b.append(String.format(
                Locale.ROOT,
                "atomic reads %d: bank total wrong %d, keyless update seen on some shards only %d; keyless column"
                        + " unequal at the end %d; in-doubt left %d%n",
                atomicReads,
                bankTotalWrong,
                fracturedReads,
                keylessFractured,
                inDoubtLeft));
        b.append(String.format(
                Locale.ROOT,
                "ZooKeeper outages outside moves (as a client saw them): up to %d ms %d, keyed writes failed or held"
                        + " %d; longer (up to the %d ms session timeout, which a session may not survive) %d, keyed"
                        + " writes failed or held %d (reported, not a violation)%n",
                Checker.JUDGED_OUTAGE_MS,
                zkOutagesOutsideMoves,
                zkOutageWritesFailedOrHeld,
                Checker.SESSION_TIMEOUT_MS,
                zkOutagesNearTimeout,
                zkNearTimeoutWritesFailedOrHeld));
        b.append(String.format(
                Locale.ROOT, "moves done %d, aborted %d, problems %d%n", movesDone, movesAborted, moveProblems.size()));
        moveProblems.forEach(p -> b.append("  move: ").append(p).append('\n'));
        if (!errors.isEmpty()) {
            b.append("errors that ended operations (most frequent first):\n");
            errors.entrySet().stream()
                    .sorted(Map.Entry.<String, Integer>comparingByValue().reversed())
                    .limit(15)
                    .forEach(e -> b.append(String.format(Locale.ROOT, "  %6d  %s%n", e.getValue(), e.getKey())));
        }
        examples.forEach((what, list) -> {
            b.append("  ").append(what).append(":\n");
            list.forEach(e -> b.append("    ").append(e).append('\n'));
        });
        return b.toString();
    }
}
