package io.shardline.router.txn;

import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Global transaction ids of multi-shard transactions: {@code shardline_<router id>_<n>}, the router id being its
 * node under ZooKeeper {@code routers/} (which exists while the router lives). The same id names the prepared
 * transaction on every participant ({@code PREPARE TRANSACTION 'gid'}) and the decision in {@code txns/}.
 */
public final class Gid {
    static final String PREFIX = "shardline_";
    private static final Pattern FORM = Pattern.compile("shardline_([0-9a-f-]{36})_([0-9]+)");

    private final String routerId;
    private final AtomicLong next = new AtomicLong();

    /** Ids for the router registered as {@code routerId}. */
    public Gid(String routerId) {
        this.routerId = routerId;
    }

    /** A new id, unique for this router. */
    public String next() {
        return PREFIX + routerId + "_" + next.incrementAndGet();
    }

    /** The router that coordinates {@code gid}, or empty when it is not a Shardline id. */
    public static Optional<String> router(String gid) {
        Matcher m = FORM.matcher(gid);
        return m.matches() ? Optional.of(m.group(1)) : Optional.empty();
    }

    /** {@code gid} when it is a Shardline id (so it is safe in SQL and in a ZooKeeper path). */
    static String check(String gid) {
        if (!FORM.matcher(gid).matches()) {
            throw new IllegalArgumentException("'" + gid + "' is not a Shardline transaction id");
        }
        return gid;
    }
}
