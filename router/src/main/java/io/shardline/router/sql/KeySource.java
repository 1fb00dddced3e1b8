package io.shardline.router.sql;

/**
 * Where one shard key value comes from: a literal in the SQL text or a {@code ?} parameter (1-based).
 *
 * @param literal the value for a literal ({@code Long}, {@code String} or {@code null} for SQL NULL)
 * @param parameterIndex the parameter's index, or 0 for a literal
 */
public record KeySource(Object literal, int parameterIndex) {
    public static KeySource literal(Object value) {
        return new KeySource(value, 0);
    }

    public static KeySource parameter(int index) {
        return new KeySource(null, index);
    }

    public boolean isParameter() {
        return parameterIndex > 0;
    }

    @Override
    public String toString() {
        return isParameter() ? "$" + parameterIndex : String.valueOf(literal);
    }
}
