package io.shardline.chaos;

/**
 * One operation of the history: what a client asked, when, and how it ended.
 *
 * @param session the connection (a session) that ran it: read-your-writes holds within one
 * @param kind what it was (see {@link Kind})
 * @param key the row it was about (0 when none)
 * @param value what it wrote (writes), or the staleness bound in ms (bounded reads)
 * @param invokeMs wall-clock time it was sent
 * @param completeMs wall-clock time its answer (or error) came
 * @param outcome ok, failed (definitely not applied), or unknown (may or may not have been applied)
 * @param result what a read returned (the first column)
 * @param result2 a second column of a read
 * @param error the SQLState and message of a failure, else null
 */
record Op(
        long session,
        Kind kind,
        long key,
        long value,
        long invokeMs,
        long completeMs,
        Outcome outcome,
        long result,
        long result2,
        String error) {

    enum Kind {
        /** a keyed insert of a new row into {@code items} */
        INSERT(true),
        /** {@code counters.n + 1} by key */
        INCREMENT(true),
        /** the clock row of a shard set to a higher value */
        CLOCK_WRITE(true),
        /** a read of a clock row from a replica within a staleness bound */
        CLOCK_READ(false),
        /** a session's own write of its key, read back at once (read-your-writes) */
        RYW_WRITE(true),
        RYW_READ(false),
        /** {@code marks.touched + 1} on every row: every shard in one two-phase commit */
        KEYLESS_UPDATE(false),
        /** the bank's sum and count across shards, and the keyless column's min and max (atomic reads) */
        ATOMIC_READ(false),
        /** a transfer between two accounts on different shards, by the bank's router JVM (two-phase commit) */
        TRANSFER(false);

        /** Whether it is a keyed write on one shard (the writes a ZooKeeper outage must not stop). */
        final boolean keyedWrite;

        Kind(boolean keyedWrite) {
            this.keyedWrite = keyedWrite;
        }
    }

    enum Outcome {
        OK,
        FAILED,
        UNKNOWN
    }

    long latencyMs() {
        return completeMs - invokeMs;
    }

    boolean isWrite() {
        return kind != Kind.CLOCK_READ && kind != Kind.RYW_READ && kind != Kind.ATOMIC_READ;
    }
}
