package io.shardline.router.txn;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Global transaction ids of multi-shard transactions: {@code shardline_<cluster tag>_<router id>_<n>}, the cluster tag
 * eight hex digits of the cluster name's SHA-256 and the router id its node under ZooKeeper {@code routers/} (which
 * exists while the router lives). The same id names the prepared transaction on every participant ({@code PREPARE
 * TRANSACTION 'gid'}) and the decision in {@code txns/}. The tag keeps the recovery of one cluster off another's
 * transactions when two clusters name the same databases (it would take their routers for gone); ids without one
 * ({@code shardline_<router id>_<n>}, made by earlier versions) are anyone's.
 */
public final class Gid {
    static final String PREFIX = "shardline_";
    private static final Pattern FORM = Pattern.compile("shardline_(?:([0-9a-f]{8})_)?([0-9a-f-]{36})_([0-9]+)");

    private final String prefix;
    private final AtomicLong next = new AtomicLong();

    /** Ids for the router registered as {@code routerId} in {@code cluster}. */
    public Gid(String cluster, String routerId) {
        this.prefix = PREFIX + tag(cluster) + "_" + routerId + "_";
    }

    /** Ids without a cluster tag, as earlier versions made them (tests of such ids). */
    Gid(String routerId) {
        this.prefix = PREFIX + routerId + "_";
    }

    /** A new id, unique for this router. */
    public String next() {
        return prefix + next.incrementAndGet();
    }

    /** The router that coordinates {@code gid}, or empty when it is not a Shardline id. */
    public static Optional<String> router(String gid) {
        Matcher m = FORM.matcher(gid);
        return m.matches() ? Optional.of(m.group(2)) : Optional.empty();
    }

    /** Whether {@code gid} may be a transaction of {@code cluster}: its tag, or none. */
    static boolean of(String gid, String cluster) {
        Matcher m = FORM.matcher(gid);
        return m.matches() && (m.group(1) == null || m.group(1).equals(tag(cluster)));
    }

    /** Eight hex digits of SHA-256 of the cluster name. */
    static String tag(String cluster) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(cluster.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 4);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** {@code gid} when it is a Shardline id (so it is safe in SQL and in a ZooKeeper path). */
    static String check(String gid) {
        if (!FORM.matcher(gid).matches()) {
            throw new IllegalArgumentException("'" + gid + "' is not a Shardline transaction id");
        }
        return gid;
    }
}
