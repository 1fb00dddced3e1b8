package io.shardline.router.sql;

import io.shardline.router.sql.SqlLexer.Kind;
import io.shardline.router.sql.SqlLexer.Token;

/**
 * A statement's text for traces: its literals (strings, numbers, dollar-quoted bodies) replaced by {@code ?}, its
 * comments by a space.
 */
public final class QueryText {
    private QueryText() {}

    /**
     * The statement's first keyword, upper case ({@code SELECT}, {@code WITH}...), past spaces, comments and opening
     * parentheses; {@code SQL} when it has none. A scan of the first characters: it runs for every traced statement.
     */
    public static String operation(String sql) {
        int i = 0;
        int n = sql.length();
        while (i < n) {
            char c = sql.charAt(i);
            if (Character.isWhitespace(c) || c == '(') {
                i++;
            } else if (c == '-' && i + 1 < n && sql.charAt(i + 1) == '-') {
                while (i < n && sql.charAt(i) != '\n' && sql.charAt(i) != '\r') {
                    i++;
                }
            } else if (c == '/' && i + 1 < n && sql.charAt(i + 1) == '*') {
                int close = sql.indexOf("*/", i + 2);
                i = close < 0 ? n : close + 2;
            } else {
                break;
            }
        }
        int from = i;
        while (i < n && (Character.isLetter(sql.charAt(i)) || sql.charAt(i) == '_')) {
            i++;
        }
        if (i == from) {
            return "SQL";
        }
        for (String known : OPERATIONS) {
            if (known.length() == i - from && sql.regionMatches(true, from, known, 0, known.length())) {
                return known; // no allocation on the common statements: this runs for every traced statement
            }
        }
        return sql.substring(from, i).toUpperCase(java.util.Locale.ROOT);
    }

    /**
     * The first keywords {@link #operation} returns as these very instances (a caller may key on their identity),
     * in this order.
     */
    public static String[] knownOperations() {
        return OPERATIONS.clone();
    }

    private static final String[] OPERATIONS = {
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "WITH",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SET",
        "SHOW",
        "VALUES",
        "MERGE",
        "CALL",
        "START",
        "SAVEPOINT",
        "RELEASE",
        "COPY",
        "CREATE",
        "ALTER",
        "DROP",
        "TRUNCATE",
        "FETCH",
        "EXPLAIN",
        "EXECUTE",
        "PREPARE",
        "DECLARE",
        "CLOSE",
        "MOVE",
        "DEALLOCATE",
        "DISCARD",
        "RESET",
        "LOCK",
        "TABLE",
        "DO",
        "LISTEN",
        "NOTIFY",
        "UNLISTEN",
        "VACUUM",
        "ANALYZE",
        "END",
        "ABORT",
        "GRANT",
        "REVOKE",
        "COMMENT",
        "REFRESH"
    };

    /**
     * The text without its literals: strings, numbers and dollar-quoted bodies become {@code ?}, comments a space,
     * and everything after {@code =} or {@code TO} in a {@code SET} (its value may be a bare word). Null when the text
     * cannot be read as SQL (an unterminated string or comment: nothing of it is safe to show).
     */
    public static String sanitized(String sql) {
        java.util.List<Token> tokens;
        try {
            tokens = SqlLexer.tokenize(sql);
        } catch (IllegalArgumentException e) {
            return null;
        }
        StringBuilder out = new StringBuilder(sql.length());
        int at = 0;
        boolean set = !tokens.isEmpty() && tokens.get(0).is("SET");
        boolean value = false;
        for (Token t : tokens) {
            gap(out, sql, at, t.start());
            boolean literal =
                    value || t.kind() == Kind.STRING || t.kind() == Kind.NUMBER || t.kind() == Kind.SPECIAL_STRING;
            out.append(literal ? "?" : sql.substring(t.start(), t.end()));
            value |= set
                    && (t.is("TO") || (t.kind() == Kind.SYMBOL && t.text(sql).equals("=")));
            at = t.end();
        }
        gap(out, sql, at, sql.length());
        return out.toString();
    }

    /** The text between two tokens: whitespace as it is, a comment (which may hold anything) as one space. */
    private static void gap(StringBuilder out, String sql, int from, int to) {
        String between = sql.substring(from, to);
        out.append(between.isBlank() ? between : " ");
    }
}
