package io.shardline.topology;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Locale;
import java.util.UUID;

/**
 * The type of a shard key column, which decides how its values are hashed. Each type hashes exactly as
 * PostgreSQL does (see {@link KeyHash}), and {@link #sqlHashExpression(String)} gives the same hash inside
 * the server.
 */
public enum KeyType {
    /** {@code smallint}, {@code integer}, {@code bigint}: all hash alike, so the width may differ per table. */
    @JsonProperty("integer")
    INTEGER("hashint8extended(%s::bigint, 0)"),
    /** {@code text}, {@code varchar}: hashed as UTF-8 bytes. */
    @JsonProperty("text")
    TEXT("hashtextextended(%s::text, 0)"),
    /** {@code uuid}. */
    @JsonProperty("uuid")
    UUID("uuid_hash_extended(%s::uuid, 0)");

    private final String sqlTemplate;

    KeyType(String sqlTemplate) {
        this.sqlTemplate = sqlTemplate;
    }

    /**
     * The SQL expression computing the same hash in PostgreSQL, e.g. {@code hashint8extended("user_id"::bigint, 0)}.
     *
     * @param quotedColumn the column, already quoted as an identifier
     */
    public String sqlHashExpression(String quotedColumn) {
        return String.format(Locale.ROOT, sqlTemplate, quotedColumn);
    }

    /**
     * Hashes a key value given as a Java object: a {@link Number} or numeric string for {@link #INTEGER}, any
     * value's text for {@link #TEXT}, a {@link java.util.UUID} or its text for {@link #UUID}.
     *
     * @throws IllegalArgumentException naming the value when it cannot be a key of this type
     * @throws NullPointerException never: a {@code null} key is refused with IllegalArgumentException
     */
    public long hash(Object value) {
        if (value == null) {
            throw new IllegalArgumentException("a shard key cannot be NULL");
        }
        switch (this) {
            case INTEGER:
                return KeyHash.hashInt8(toLong(value));
            case TEXT:
                // a numeric literal assigned to a text key is PostgreSQL's numeric text: 0.0000001, not 1E-7
                return KeyHash.hashText(
                        value instanceof BigDecimal decimal ? decimal.toPlainString() : value.toString());
            case UUID:
                return KeyHash.hashUuid(toUuid(value));
            default:
                throw new AssertionError(this);
        }
    }

    /** Parses a column type name as PostgreSQL spells it ({@code int8}, {@code bigint}, {@code varchar(20)}, ...). */
    public static KeyType fromSqlType(String sqlType) {
        String t = sqlType.trim()
                .toLowerCase(Locale.ROOT)
                .replaceAll("\\(.*\\)", "")
                .trim();
        switch (t) {
            case "smallint":
            case "int2":
            case "integer":
            case "int":
            case "int4":
            case "bigint":
            case "int8":
                return INTEGER;
            case "text":
            case "varchar":
            case "character varying":
                return TEXT;
            case "uuid":
                return UUID;
            default:
                throw new IllegalArgumentException("a shard key of type '" + sqlType
                        + "' is not supported: use an integer type (smallint, integer, bigint), text/varchar or uuid");
        }
    }

    /**
     * An integer key's value as PostgreSQL takes it: an integer, or a number with a fraction ({@code 12.0}, {@code
     * 1.2e1}, a {@code numeric} parameter) rounded half away from zero, as a {@code numeric} assigned to a bigint is —
     * a row stored with it has that key, and no row equals a value with a fraction, so its shard answers nothing. A
     * number past the 64-bit range is no row's key: PostgreSQL refuses to store it (22003) or finds nothing on any
     * shard, so it is taken as the nearest 64-bit value.
     */
    private static long toLong(Object value) {
        if (value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte) {
            return ((Number) value).longValue();
        }
        if (value instanceof BigInteger big) {
            return clamped(big);
        }
        if (value instanceof BigDecimal decimal) {
            return rounded(decimal, java.math.RoundingMode.HALF_UP);
        }
        if (value instanceof Double || value instanceof Float) {
            // a float8 parameter: PostgreSQL rounds it to a bigint half to even (rint); no row equals NaN, and
            // PostgreSQL stores neither NaN nor an infinity in a bigint
            double d = ((Number) value).doubleValue();
            if (Double.isNaN(d)) {
                return 0;
            }
            if (Double.isInfinite(d)) {
                return d > 0 ? Long.MAX_VALUE : Long.MIN_VALUE;
            }
            if (Math.abs(d) >= 0x1p53 && Math.abs(d) < 0x1p63) {
                // PostgreSQL compares a bigint with a float8 as float8: several bigints, on several shards, equal it
                throw new IllegalArgumentException("'" + value + "' is a double past 2^53, which several integer"
                        + " shard keys equal: bind it as a long");
            }
            return rounded(new BigDecimal(d), java.math.RoundingMode.HALF_EVEN);
        }
        String text = value.toString().trim();
        try {
            return Long.parseLong(text);
        } catch (NumberFormatException e) {
            // a number in another spelling: 0012 parses above; 12.0, .12e2, 99999999999999999999 here
        }
        BigDecimal decimal;
        try {
            decimal = new BigDecimal(text);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + value + "' is not an integer shard key value (64-bit)");
        }
        return rounded(decimal, java.math.RoundingMode.HALF_UP);
    }

    private static long rounded(BigDecimal decimal, java.math.RoundingMode rounding) {
        if (decimal.precision() - decimal.scale() > 19) {
            // 20 digits or more before the point (checked first: 1e999999999 is cheap)
            return decimal.signum() > 0 ? Long.MAX_VALUE : Long.MIN_VALUE;
        }
        if (decimal.precision() - decimal.scale() < -1) {
            return 0; // below 0.01 in magnitude
        }
        return clamped(decimal.setScale(0, rounding).toBigIntegerExact());
    }

    private static long clamped(BigInteger whole) {
        if (whole.bitLength() <= 63) {
            return whole.longValue();
        }
        return whole.signum() > 0 ? Long.MAX_VALUE : Long.MIN_VALUE;
    }

    private static java.util.UUID toUuid(Object value) {
        if (value instanceof java.util.UUID) {
            return (java.util.UUID) value;
        }
        // as PostgreSQL reads one: 32 hex digits in either case, a hyphen allowed after any group of four, in braces
        // or not
        String text = value.toString().trim();
        if (text.startsWith("{") && text.endsWith("}") && text.length() > 1) {
            text = text.substring(1, text.length() - 1);
        }
        StringBuilder hex = new StringBuilder(32);
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
                hex.append(c);
            } else if (c != '-'
                    || hex.length() == 0
                    || hex.length() % 4 != 0
                    || i + 1 == text.length()
                    || text.charAt(i + 1) == '-') {
                hex.setLength(0);
                break;
            }
        }
        if (hex.length() != 32) {
            throw new IllegalArgumentException("'" + value + "' is not a uuid shard key value");
        }
        return new java.util.UUID(
                Long.parseUnsignedLong(hex.substring(0, 16), 16), Long.parseUnsignedLong(hex.substring(16), 16));
    }
}
