package io.shardline.sqltests;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * One SQL case as written in {@code cases/*.yaml}.
 *
 * <pre>
 * - name: point read by key
 *   sql: SELECT name FROM users WHERE user_id = ?
 *   params: [42]
 *   keys: [1, 2, 77]          # optional: the case runs once per key, {key} replaced in sql and params
 *   expect: same              # default: the driver's result equals the reference's; or "error 0A000"
 *   ordered: true             # default: true when the statement ends with ORDER BY
 *   steps: [...]              # instead of sql: statements run in one transaction (each a case without steps)
 *   batch: [[1, a], [2, b]]   # instead of params: executeBatch with these rows
 *   generatedKeys: [user_id]  # columns to ask back as generated keys
 * </pre>
 */
public record SqlCase(
        String name,
        String sql,
        List<Object> params,
        List<Object> keys,
        String expect,
        Boolean ordered,
        List<SqlCase> steps,
        List<List<Object>> batch,
        List<String> generatedKeys) {

    private static final Pattern TRAILING_ORDER_BY = Pattern.compile("(?is).*\\border\\s+by\\b[^)]*$");
    private static final Pattern WRITES = Pattern.compile("(?is).*\\b(insert|update|delete|nextval|setval)\\b.*");

    public List<Object> params() {
        return params == null ? List.of() : params;
    }

    /** The SQLState the driver must raise, or null when its result must equal the reference's. */
    public String expectedError() {
        return expect != null && expect.startsWith("error ")
                ? expect.substring("error ".length()).trim()
                : null;
    }

    public boolean isOrdered() {
        return ordered != null
                ? ordered
                : sql != null && TRAILING_ORDER_BY.matcher(sql).matches();
    }

    /** Whether replicas must catch up after this case before the next one reads. */
    public boolean writes() {
        if (steps != null || batch != null) {
            return true;
        }
        return sql != null && WRITES.matcher(sql).matches();
    }

    /** This case, once per key when it has {@code keys}. */
    public List<SqlCase> expand() {
        if (keys == null) {
            return List.of(this);
        }
        List<SqlCase> out = new ArrayList<>();
        for (Object key : keys) {
            out.add(withKey(key, name + " [key " + key + "]"));
        }
        return out;
    }

    private SqlCase withKey(Object key, String caseName) {
        return new SqlCase(
                caseName,
                sql == null ? null : sql.replace("{key}", String.valueOf(key)),
                params().stream().map(p -> replaceKey(p, key)).toList(),
                null,
                expect,
                ordered,
                steps == null
                        ? null
                        : steps.stream().map(s -> s.withKey(key, s.name())).toList(),
                batch,
                generatedKeys);
    }

    /** Replaces {@code "{key}"} in a parameter, also inside a typed parameter such as {@code {device: "{key}"}}. */
    private static Object replaceKey(Object param, Object key) {
        if ("{key}".equals(param)) {
            return key;
        }
        if (param instanceof java.util.Map<?, ?> map) {
            java.util.Map<Object, Object> copy = new java.util.LinkedHashMap<>();
            map.forEach((k, v) -> copy.put(k, replaceKey(v, key)));
            return copy;
        }
        return param;
    }
}
