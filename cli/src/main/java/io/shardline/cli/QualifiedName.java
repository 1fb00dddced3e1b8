package io.shardline.cli;

import java.util.Locale;

/**
 * A {@code [schema.]name} as a user types it on the command line, folded as PostgreSQL folds identifiers:
 * {@code Users} is {@code users}, {@code "Users"} stays {@code Users}.
 */
record QualifiedName(String schema, String table) {

    static QualifiedName parse(String text) {
        String trimmed = text.trim();
        int dot = splitPoint(trimmed);
        if (dot < 0) {
            return new QualifiedName("public", identifier(trimmed, "table name"));
        }
        return new QualifiedName(
                identifier(trimmed.substring(0, dot), "schema name"),
                identifier(trimmed.substring(dot + 1), "table name"));
    }

    /**
     * One identifier: quoted ({@code "Mixed ""Case"""}) or plain (letters, digits, {@code _}, {@code $}).
     *
     * @throws IllegalArgumentException naming {@code what} and the text when it is neither
     */
    static String identifier(String text, String what) {
        String t = text.trim();
        if (t.length() >= 2 && t.startsWith("\"") && t.endsWith("\"")) {
            String inner = t.substring(1, t.length() - 1);
            if (inner.isEmpty() || inner.replace("\"\"", "").contains("\"")) {
                throw new IllegalArgumentException("malformed quoted " + what + ": " + text);
            }
            return inner.replace("\"\"", "\"");
        }
        if (!t.matches("[A-Za-z_][A-Za-z0-9_$]*")) {
            throw new IllegalArgumentException(
                    "invalid " + what + " '" + text + "': use letters, digits and _ or quote it (\"Like This\")");
        }
        return t.toLowerCase(Locale.ROOT);
    }

    /** The dot between schema and table, outside quotes; -1 when there is none. */
    private static int splitPoint(String text) {
        boolean quoted = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '"') {
                quoted = !quoted;
            } else if (c == '.' && !quoted) {
                return i;
            }
        }
        return -1;
    }

    @Override
    public String toString() {
        return schema + "." + table;
    }
}
