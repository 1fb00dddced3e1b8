package io.shardline.router.route;

import io.shardline.topology.Node;

/**
 * Where a read that may go to a replica goes: a pure function of what the replica choice found.
 *
 * <p>Inputs: {@code written}, the position a replica must have replayed (the session's causal token on the shard, or
 * the cutover position of a move that made the shard a target; 0 for none, {@link CausalToken#UNKNOWN} when a
 * commit's position could not be read, {@link CausalToken#PENDING} when it is not read yet); {@code ready}, a replica within the staleness bound known to have replayed
 * {@code written}; {@code closest}, the least lagging replica within the staleness bound whatever it replayed
 * (looked up only when {@code ready} is null and {@code written > 0}).
 *
 * <p>Worked examples (shard with replicas, {@code fallback=primary} unless said):
 * <pre>
 * ready = hub1                                         REPLICA (hub1)
 * ready = null, written = 0                            PRIMARY (no replica within the bound)
 * ready = null, written = 0, fallback=error            ERROR   (55000)
 * ready = null, written &gt; 0, closest = leaf1, wait 0   PRIMARY (nobody is known to have replayed the write)
 * ready = null, written &gt; 0, closest = leaf1, wait 50  WAIT    (leaf1, until it replays written, else PRIMARY)
 * ready = null, written = UNKNOWN, closest = leaf1     PRIMARY (no position to wait for)
 * ready = null, written = PENDING, closest = leaf1     PRIMARY (no position to wait for yet)
 * ready = null, written &gt; 0, closest = leaf1, error    PRIMARY (read-your-writes, not staleness, sent it there)
 * ready = null, written &gt; 0, closest = null, error     ERROR   (no replica within the bound at all)
 * no replicas at all, fallback=error                   PRIMARY (nothing to fall back from)
 * </pre>
 */
public final class ReadPolicy {
    private ReadPolicy() {}

    /** What to do with the read. */
    public enum Action {
        /** Run it on {@code ready}. */
        REPLICA,
        /** Poll {@code closest} until it replayed {@code written} (up to rywWaitMs), else the primary. */
        WAIT,
        /** Run it on the primary. */
        PRIMARY,
        /** Fail it with 55000: no replica within the bound and {@code fallback=error}. */
        ERROR
    }

    /**
     * @param replicas how many replicas the shard has
     * @param written see the class comment
     * @param ready see the class comment
     * @param closest see the class comment
     * @param rywWaitMs how long a read may wait for a replica to replay {@code written}
     * @param fallbackToPrimary whether a read with no replica within its bound goes to the primary
     */
    public static Action decide(
            int replicas, long written, Node ready, Node closest, long rywWaitMs, boolean fallbackToPrimary) {
        if (ready != null) {
            return Action.REPLICA;
        }
        if (written > 0 && written < CausalToken.PENDING && rywWaitMs > 0 && closest != null) {
            return Action.WAIT;
        }
        if (!fallbackToPrimary && replicas > 0 && (written == 0 || closest == null)) {
            return Action.ERROR;
        }
        return Action.PRIMARY;
    }
}
