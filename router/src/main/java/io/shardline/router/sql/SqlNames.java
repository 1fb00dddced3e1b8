package io.shardline.router.sql;

import java.util.Locale;

/** Identifier names as PostgreSQL resolves them. */
final class SqlNames {
    private SqlNames() {}

    /** {@code "Mixed"} keeps its case without the quotes; {@code Mixed} folds to {@code mixed}. */
    static String fold(String name) {
        if (name.length() >= 2 && name.startsWith("\"") && name.endsWith("\"")) {
            return name.substring(1, name.length() - 1).replace("\"\"", "\"");
        }
        return name.toLowerCase(Locale.ROOT);
    }
}
