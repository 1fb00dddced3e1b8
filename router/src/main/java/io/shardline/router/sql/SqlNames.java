package io.shardline.router.sql;

/** Identifier names as PostgreSQL resolves them. */
public final class SqlNames {
    private SqlNames() {}

    /**
     * {@code "Mixed"} keeps its case without the quotes; {@code Mixed} folds to {@code mixed}. Only A-Z fold, as in
     * PostgreSQL with a multi-byte encoding: {@code ÄBC} is {@code Äbc}.
     */
    /**
     * What a dot inside a quoted name is for JSqlParser ({@link SqlLexer#forParser}): it splits {@code "a.b"} into
     * two names. A character of Unicode's private use area, which no SQL of ours holds.
     */
    static final char DOT_IN_NAME = '\uE000';

    static String fold(String name) {
        if (name.length() >= 2 && name.startsWith("\"") && name.endsWith("\"")) {
            return name.substring(1, name.length() - 1).replace("\"\"", "\"").replace(DOT_IN_NAME, '.');
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

    /**
     * Whether {@code text} holds {@code name} as a word, in any case: a conservative look at what the analysis cannot
     * parse (a procedure body, an updatable result set's query).
     */
    public static boolean holdsWord(String text, String name) {
        String lower = text.toLowerCase(java.util.Locale.ROOT);
        String word = name.toLowerCase(java.util.Locale.ROOT);
        for (int at = lower.indexOf(word); at >= 0; at = lower.indexOf(word, at + 1)) {
            int end = at + word.length();
            if ((at == 0 || !isWordChar(lower.charAt(at - 1)))
                    && (end == lower.length() || !isWordChar(lower.charAt(end)))) {
                return true;
            }
        }
        return false;
    }

    private static boolean isWordChar(char c) {
        return Character.isLetterOrDigit(c) || c == '_' || c == '$';
    }
}
