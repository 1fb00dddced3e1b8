package io.shardline.router.sql;

/** Identifier names as PostgreSQL resolves them. */
final class SqlNames {
    private SqlNames() {}

    /**
     * {@code "Mixed"} keeps its case without the quotes; {@code Mixed} folds to {@code mixed}. Only A-Z fold, as in
     * PostgreSQL with a multi-byte encoding: {@code ÄBC} is {@code Äbc}.
     */
    static String fold(String name) {
        if (name.length() >= 2 && name.startsWith("\"") && name.endsWith("\"")) {
            return name.substring(1, name.length() - 1).replace("\"\"", "\"");
        }
        char[] folded = null;
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c >= 'A' && c <= 'Z') {
                if (folded == null) {
                    folded = name.toCharArray();
                }
                folded[i] = (char) (c + ('a' - 'A'));
            }
        }
        return folded == null ? name : new String(folded);
    }
}
