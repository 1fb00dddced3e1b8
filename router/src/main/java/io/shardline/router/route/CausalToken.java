package io.shardline.router.route;

import io.shardline.topology.Lsn;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a session has written: per shard, a WAL position at or after its last commit there. A replica may
 * serve the session's read on a shard only once it has replayed that far (read-your-writes). Immutable.
 *
 * <p>Exported as text so another connection or service can wait for the same writes:
 * {@code demo@0=0/3000060,1=0/2F000A8} (cluster, then shard=LSN pairs). {@link #UNKNOWN} marks a shard whose
 * commit position could not be read: no replica qualifies until a later write gives a real position.
 */
public final class CausalToken {
    /** A position no replica reaches. */
    public static final long UNKNOWN = Long.MAX_VALUE;
    /**
     * A commit whose position is read only once a replica could have replayed it (a session's {@link
     * RouteContext#writtenLsn}): until then no replica qualifies.
     */
    public static final long PENDING = Long.MAX_VALUE - 1;

    private final String cluster;
    private final Map<Integer, Long> lsnByShard;

    private CausalToken(String cluster, Map<Integer, Long> lsnByShard) {
        this.cluster = cluster;
        this.lsnByShard = Map.copyOf(lsnByShard);
    }

    /** No writes. */
    public static CausalToken empty(String cluster) {
        return new CausalToken(cluster, Map.of());
    }

    /** The position a replica of {@code shard} must have replayed; 0 when the session wrote nothing there. */
    public long lsn(int shard) {
        Long lsn = lsnByShard.get(shard);
        return lsn == null ? 0 : lsn;
    }

    public boolean isEmpty() {
        return lsnByShard.isEmpty();
    }

    /**
     * After a commit on {@code shard} at {@code lsn} ({@link #UNKNOWN} when it could not be read). Positions
     * only move forward, except that a real position replaces {@link #UNKNOWN}.
     */
    public CausalToken advance(int shard, long lsn) {
        long current = lsn(shard);
        if (current != UNKNOWN && lsn <= current) {
            return this;
        }
        Map<Integer, Long> next = new TreeMap<>(lsnByShard);
        next.put(shard, lsn);
        return new CausalToken(cluster, next);
    }

    /** The later position of each shard of this token and {@code other}. */
    public CausalToken merge(CausalToken other) {
        CausalToken merged = this;
        for (Map.Entry<Integer, Long> e : other.lsnByShard.entrySet()) {
            if (e.getValue() > merged.lsn(e.getKey())) {
                merged = merged.advance(e.getKey(), e.getValue());
            }
        }
        return merged;
    }

    /** {@code cluster@shard=X/Y,...}; shards with an unknown position are left out. */
    public String format() {
        StringBuilder sb = new StringBuilder(cluster).append('@');
        String separator = "";
        for (Map.Entry<Integer, Long> e : new TreeMap<>(lsnByShard).entrySet()) {
            if (e.getValue() != UNKNOWN) {
                sb.append(separator).append(e.getKey()).append('=').append(Lsn.format(e.getValue()));
                separator = ",";
            }
        }
        return sb.toString();
    }

    /**
     * Reads a token exported by {@link #format()}.
     *
     * @throws IllegalArgumentException naming what is wrong: not a token, or a token of another cluster
     */
    public static CausalToken parse(String text, String expectedCluster) {
        int at = text.lastIndexOf('@');
        if (at < 1) {
            throw new IllegalArgumentException(
                    "a causal token looks like 'demo@0=0/3000060,1=0/2F000A8' (cluster@shard=LSN,...), not '" + text
                            + "'");
        }
        String cluster = text.substring(0, at);
        if (!cluster.equals(expectedCluster)) {
            throw new IllegalArgumentException("the causal token is of cluster '" + cluster
                    + "', but this connection is to cluster '" + expectedCluster + "'");
        }
        Map<Integer, Long> lsns = new TreeMap<>();
        String body = text.substring(at + 1).trim();
        if (!body.isEmpty()) {
            for (String pair : body.split(",", -1)) {
                int eq = pair.indexOf('=');
                try {
                    int shard =
                            Integer.parseInt(pair.substring(0, Math.max(eq, 0)).trim());
                    lsns.merge(shard, Lsn.parse(pair.substring(eq + 1).trim()), Math::max);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(
                            "a causal token's entries look like 'shard=LSN' (0=0/3000060), but '" + text + "' has '"
                                    + pair + "'");
                }
            }
        }
        return new CausalToken(cluster, lsns);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CausalToken t && t.cluster.equals(cluster) && t.lsnByShard.equals(lsnByShard);
    }

    @Override
    public int hashCode() {
        return cluster.hashCode() * 31 + lsnByShard.hashCode();
    }

    @Override
    public String toString() {
        return format();
    }
}
