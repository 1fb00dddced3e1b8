package io.shardline.topology;

/**
 * PostgreSQL WAL positions ({@code pg_lsn}), written {@code X/Y} in hex: the high and low 32 bits of an
 * unsigned 64-bit position. Compared as unsigned longs (in practice positions stay below 2^63).
 */
public final class Lsn {
    private Lsn() {}

    /**
     * {@code 16/B374D848} as a number.
     *
     * @throws IllegalArgumentException naming the text when it is not an LSN
     */
    public static long parse(String text) {
        int slash = text == null ? -1 : text.indexOf('/');
        if (slash < 1 || slash == text.length() - 1 || slash > 8 || text.length() - slash - 1 > 8) {
            throw new IllegalArgumentException("not a PostgreSQL LSN (like 16/B374D848): '" + text + "'");
        }
        try {
            long high = Long.parseLong(text, 0, slash, 16);
            long low = Long.parseLong(text, slash + 1, text.length(), 16);
            return (high << 32) | low;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a PostgreSQL LSN (like 16/B374D848): '" + text + "'", e);
        }
    }

    /** {@code X/Y}, as PostgreSQL prints it. */
    public static String format(long lsn) {
        return Long.toHexString(lsn >>> 32).toUpperCase() + "/"
                + Long.toHexString(lsn & 0xFFFFFFFFL).toUpperCase();
    }
}
