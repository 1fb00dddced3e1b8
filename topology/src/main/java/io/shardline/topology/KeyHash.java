package io.shardline.topology;

import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * PostgreSQL's own 64-bit hash functions, bit-exact, with seed 0: {@code hashint8extended},
 * {@code hashint4extended}, {@code hashtextextended} and {@code uuid_hash_extended}.
 *
 * <p>Because the ring hashes keys exactly as the server does, the same expression works inside PostgreSQL:
 * {@code hashint8extended(user_id, 0)} in a row filter selects the rows of a hash range. Integer keys of
 * either width agree: {@code hashInt4(42) == hashInt8(42L)}. Text is hashed as its UTF-8 bytes, which is
 * what the server does for a UTF-8 database with a deterministic collation.
 *
 * <p>Example: {@code KeyHash.hashInt8(1)} equals {@code SELECT hashint8extended(1, 0)}.
 *
 * <p>The algorithm is Bob Jenkins' lookup3 as PostgreSQL's {@code hash_bytes_extended} uses it,
 * reading little-endian words.
 */
public final class KeyHash {
    private static final int INITIAL = 0x9e3779b9 + 3923095;

    private KeyHash() {}

    /** {@code hashint8extended(value, 0)}. */
    public static long hashInt8(long value) {
        int lo = (int) value;
        int hi = (int) (value >>> 32);
        lo ^= value >= 0 ? hi : ~hi;
        return hashUint32(lo);
    }

    /** {@code hashint4extended(value, 0)}, which equals {@code hashint8extended(value, 0)}. */
    public static long hashInt4(int value) {
        return hashUint32(value);
    }

    /** {@code hashtextextended(value, 0)} for a UTF-8 database with a deterministic collation. */
    public static long hashText(String value) {
        byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
        return hashBytes(bytes, 0, bytes.length);
    }

    /** {@code uuid_hash_extended(value, 0)}: the 16 bytes of the UUID in network order. */
    public static long hashUuid(UUID value) {
        byte[] bytes = new byte[16];
        long msb = value.getMostSignificantBits();
        long lsb = value.getLeastSignificantBits();
        for (int i = 0; i < 8; i++) {
            bytes[i] = (byte) (msb >>> (56 - 8 * i));
            bytes[8 + i] = (byte) (lsb >>> (56 - 8 * i));
        }
        return hashBytes(bytes, 0, 16);
    }

    /** {@code hash_bytes_uint32_extended(k, 0)}. */
    static long hashUint32(int k) {
        int a = INITIAL + 4;
        int b = a;
        int c = a;
        a += k;
        return finalMix(a, b, c);
    }

    /** {@code hash_bytes_extended(k + offset, length, 0)}. */
    static long hashBytes(byte[] k, int offset, int length) {
        int a = INITIAL + length;
        int b = a;
        int c = a;
        int i = offset;
        int len = length;
        while (len >= 12) {
            a += word(k, i);
            b += word(k, i + 4);
            c += word(k, i + 8);
            // mix(a, b, c)
            a -= c;
            a ^= Integer.rotateLeft(c, 4);
            c += b;
            b -= a;
            b ^= Integer.rotateLeft(a, 6);
            a += c;
            c -= b;
            c ^= Integer.rotateLeft(b, 8);
            b += a;
            a -= c;
            a ^= Integer.rotateLeft(c, 16);
            c += b;
            b -= a;
            b ^= Integer.rotateLeft(a, 19);
            a += c;
            c -= b;
            c ^= Integer.rotateLeft(b, 4);
            b += a;
            i += 12;
            len -= 12;
        }
        // The last 11 bytes; the lowest byte of c is reserved for the length (added above).
        switch (len) {
            case 11:
                c += (k[i + 10] & 0xff) << 24;
            // fall through
            case 10:
                c += (k[i + 9] & 0xff) << 16;
            // fall through
            case 9:
                c += (k[i + 8] & 0xff) << 8;
            // fall through
            case 8:
                b += (k[i + 7] & 0xff) << 24;
            // fall through
            case 7:
                b += (k[i + 6] & 0xff) << 16;
            // fall through
            case 6:
                b += (k[i + 5] & 0xff) << 8;
            // fall through
            case 5:
                b += k[i + 4] & 0xff;
            // fall through
            case 4:
                a += (k[i + 3] & 0xff) << 24;
            // fall through
            case 3:
                a += (k[i + 2] & 0xff) << 16;
            // fall through
            case 2:
                a += (k[i + 1] & 0xff) << 8;
            // fall through
            case 1:
                a += k[i] & 0xff;
            // fall through
            default:
                break;
        }
        return finalMix(a, b, c);
    }

    /** lookup3's {@code final(a, b, c)}, returning {@code (b << 32) | c} as PostgreSQL does. */
    private static long finalMix(int a, int b, int c) {
        c ^= b;
        c -= Integer.rotateLeft(b, 14);
        a ^= c;
        a -= Integer.rotateLeft(c, 11);
        b ^= a;
        b -= Integer.rotateLeft(a, 25);
        c ^= b;
        c -= Integer.rotateLeft(b, 16);
        a ^= c;
        a -= Integer.rotateLeft(c, 4);
        b ^= a;
        b -= Integer.rotateLeft(a, 14);
        c ^= b;
        c -= Integer.rotateLeft(b, 24);
        return ((long) b << 32) | (c & 0xffffffffL);
    }

    private static int word(byte[] k, int i) {
        return (k[i] & 0xff) | (k[i + 1] & 0xff) << 8 | (k[i + 2] & 0xff) << 16 | (k[i + 3] & 0xff) << 24;
    }
}
