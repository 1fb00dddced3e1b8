package io.shardline.monitor;

/** PostgreSQL WAL positions ({@code 16/B374D848}) as unsigned 64-bit numbers. */
final class Lsn {
    private Lsn() {}

    /**
     * Parses {@code X/Y} (hex halves).
     *
     * @throws IllegalArgumentException naming the text when it is not an LSN
     */
    static long parse(String lsn) {
        int slash = lsn == null ? -1 : lsn.indexOf('/');
        if (slash <= 0) {
            throw new IllegalArgumentException("'" + lsn + "' is not a WAL position (X/Y)");
        }
        return (Long.parseLong(lsn.substring(0, slash), 16) << 32) | Long.parseLong(lsn.substring(slash + 1), 16);
    }

    static String format(long lsn) {
        return Long.toHexString(lsn >>> 32).toUpperCase() + "/"
                + Long.toHexString(lsn & 0xffffffffL).toUpperCase();
    }
}
