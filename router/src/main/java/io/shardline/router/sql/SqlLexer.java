package io.shardline.router.sql;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A PostgreSQL-aware tokenizer: enough to classify a statement by its keywords and to prepare its text for
 * the parser, never to rewrite what is sent to the server.
 *
 * <p>It understands {@code '...'} strings (with {@code ''}), {@code E'...'} strings (with backslash escapes),
 * {@code $tag$...$tag$} strings, {@code "quoted"} identifiers, {@code --} and nested {@code /* *\/} comments,
 * pgjdbc's {@code ?} placeholders and its {@code ??} escape for a literal {@code ?} operator.
 *
 * <p>Example: {@code SELECT * FROM t WHERE a ?? 'k' AND id = ?} has one placeholder; for the parser it
 * becomes {@code SELECT * FROM t WHERE a @@ 'k' AND id = ?}.
 */
public final class SqlLexer {
    private SqlLexer() {}

    /** What a token is. */
    public enum Kind {
        /** A keyword or unquoted identifier; {@link Token#upper()} holds it in upper case. */
        WORD,
        /** A {@code "quoted"} identifier. */
        QUOTED_IDENTIFIER,
        /** A plain {@code '...'} string. */
        STRING,
        /** An {@code E'...'} or {@code $tag$...$tag$} string: its text needs decoding, the parser sees {@code ''}. */
        SPECIAL_STRING,
        NUMBER,
        /** A {@code ?} placeholder. */
        PARAMETER,
        /** Punctuation and operators, including pgjdbc's {@code ??} escapes. */
        SYMBOL
    }

    /**
     * One token: its kind and where it stands in the text.
     *
     * @param upper the upper-cased text for {@link Kind#WORD}, else {@code null}
     * @param depth the parenthesis depth at the token (0 at the top level)
     */
    public record Token(Kind kind, int start, int end, String upper, int depth) {
        /** Whether this is the keyword {@code word} (upper case). */
        public boolean is(String word) {
            return kind == Kind.WORD && word.equals(upper);
        }

        /** The token's text in {@code sql}. */
        public String text(String sql) {
            return sql.substring(start, end);
        }
    }

    /**
     * Splits {@code sql} into tokens, skipping white space and comments.
     *
     * @throws IllegalArgumentException for an unterminated string, identifier or comment, naming where it starts
     */
    public static List<Token> tokenize(String sql) {
        List<Token> tokens = new ArrayList<>();
        int depth = 0;
        int n = sql.length();
        int i = 0;
        while (i < n) {
            char c = sql.charAt(i);
            if (Character.isWhitespace(c)) {
                i++;
            } else if (c == '-' && i + 1 < n && sql.charAt(i + 1) == '-') {
                while (i < n && sql.charAt(i) != '\n') {
                    i++;
                }
            } else if (c == '/' && i + 1 < n && sql.charAt(i + 1) == '*') {
                i = skipBlockComment(sql, i);
            } else if (c == '\'') {
                int end = skipQuoted(sql, i, '\'', false);
                tokens.add(new Token(Kind.STRING, i, end, null, depth));
                i = end;
            } else if ((c == 'E' || c == 'e') && i + 1 < n && sql.charAt(i + 1) == '\'' && !identifierBefore(sql, i)) {
                int end = skipQuoted(sql, i + 1, '\'', true);
                tokens.add(new Token(Kind.SPECIAL_STRING, i, end, null, depth));
                i = end;
            } else if (c == '"') {
                int end = skipQuoted(sql, i, '"', false);
                tokens.add(new Token(Kind.QUOTED_IDENTIFIER, i, end, null, depth));
                i = end;
            } else if (c == '$' && dollarTagEnd(sql, i) > 0) {
                int tagEnd = dollarTagEnd(sql, i);
                String tag = sql.substring(i, tagEnd);
                int close = sql.indexOf(tag, tagEnd);
                if (close < 0) {
                    throw new IllegalArgumentException("unterminated dollar-quoted string starting at offset " + i);
                }
                tokens.add(new Token(Kind.SPECIAL_STRING, i, close + tag.length(), null, depth));
                i = close + tag.length();
            } else if (Character.isLetter(c) || c == '_') {
                int start = i;
                while (i < n
                        && (Character.isLetterOrDigit(sql.charAt(i)) || sql.charAt(i) == '_' || sql.charAt(i) == '$')) {
                    i++;
                }
                tokens.add(
                        new Token(Kind.WORD, start, i, sql.substring(start, i).toUpperCase(Locale.ROOT), depth));
            } else if (Character.isDigit(c) || (c == '.' && i + 1 < n && Character.isDigit(sql.charAt(i + 1)))) {
                int start = i;
                while (i < n && (Character.isLetterOrDigit(sql.charAt(i)) || sql.charAt(i) == '.')) {
                    if ((sql.charAt(i) == 'e' || sql.charAt(i) == 'E')
                            && i + 1 < n
                            && (sql.charAt(i + 1) == '-' || sql.charAt(i + 1) == '+')) {
                        i++;
                    }
                    i++;
                }
                tokens.add(new Token(Kind.NUMBER, start, i, null, depth));
            } else if (c == '?') {
                if (i + 1 < n && sql.charAt(i + 1) == '?') {
                    int end = i + 2;
                    if (end < n && (sql.charAt(end) == '|' || sql.charAt(end) == '&')) {
                        end++;
                    }
                    tokens.add(new Token(Kind.SYMBOL, i, end, null, depth));
                    i = end;
                } else {
                    tokens.add(new Token(Kind.PARAMETER, i, i + 1, null, depth));
                    i++;
                }
            } else {
                if (c == '(') {
                    tokens.add(new Token(Kind.SYMBOL, i, i + 1, null, depth));
                    depth++;
                } else if (c == ')') {
                    depth = Math.max(0, depth - 1);
                    tokens.add(new Token(Kind.SYMBOL, i, i + 1, null, depth));
                } else if (c == ':' && i + 1 < n && sql.charAt(i + 1) == ':') {
                    tokens.add(new Token(Kind.SYMBOL, i, i + 2, null, depth));
                    i++;
                } else {
                    tokens.add(new Token(Kind.SYMBOL, i, i + 1, null, depth));
                }
                i++;
            }
        }
        return tokens;
    }

    /**
     * The text JSqlParser should see: pgjdbc's {@code ??}, {@code ??|}, {@code ??&} become operators it knows,
     * {@code E'..'} and {@code $$..$$} strings become {@code ''}. Placeholders keep their order.
     */
    public static String forParser(String sql, List<Token> tokens) {
        StringBuilder out = null;
        int copied = 0;
        for (Token t : tokens) {
            String replacement = null;
            if (t.kind() == Kind.SPECIAL_STRING) {
                replacement = "''";
            } else if (t.kind() == Kind.SYMBOL && t.end() - t.start() >= 2 && sql.charAt(t.start()) == '?') {
                replacement = "@@";
            }
            if (replacement != null) {
                if (out == null) {
                    out = new StringBuilder(sql.length());
                }
                out.append(sql, copied, t.start()).append(replacement);
                copied = t.end();
            }
        }
        return out == null ? sql : out.append(sql, copied, sql.length()).toString();
    }

    /** Decodes a plain {@code '...'} string token's value. */
    public static String stringValue(String sql, Token t) {
        return sql.substring(t.start() + 1, t.end() - 1).replace("''", "'");
    }

    /** A quoted identifier's name, or an unquoted one folded to lower case, as PostgreSQL resolves it. */
    public static String identifier(String sql, Token t) {
        if (t.kind() == Kind.QUOTED_IDENTIFIER) {
            return sql.substring(t.start() + 1, t.end() - 1).replace("\"\"", "\"");
        }
        return t.text(sql).toLowerCase(Locale.ROOT);
    }

    private static boolean identifierBefore(String sql, int i) {
        return i > 0 && (Character.isLetterOrDigit(sql.charAt(i - 1)) || sql.charAt(i - 1) == '_');
    }

    private static int skipQuoted(String sql, int start, char quote, boolean backslashEscapes) {
        int i = start + 1;
        int n = sql.length();
        while (i < n) {
            char c = sql.charAt(i);
            if (backslashEscapes && c == '\\') {
                i += 2;
                continue;
            }
            if (c == quote) {
                if (i + 1 < n && sql.charAt(i + 1) == quote) {
                    i += 2;
                    continue;
                }
                return i + 1;
            }
            i++;
        }
        throw new IllegalArgumentException(
                "unterminated " + (quote == '"' ? "quoted identifier" : "string") + " starting at offset " + start);
    }

    private static int skipBlockComment(String sql, int start) {
        int level = 0;
        int i = start;
        int n = sql.length();
        while (i < n) {
            if (sql.startsWith("/*", i)) {
                level++;
                i += 2;
            } else if (sql.startsWith("*/", i)) {
                level--;
                i += 2;
                if (level == 0) {
                    return i;
                }
            } else {
                i++;
            }
        }
        throw new IllegalArgumentException("unterminated comment starting at offset " + start);
    }

    /** The end of a {@code $tag$} opening at {@code i}, or -1 when {@code $} does not open one. */
    private static int dollarTagEnd(String sql, int i) {
        if (identifierBefore(sql, i)) {
            return -1;
        }
        int j = i + 1;
        while (j < sql.length() && (Character.isLetterOrDigit(sql.charAt(j)) || sql.charAt(j) == '_')) {
            if (j == i + 1 && Character.isDigit(sql.charAt(j))) {
                return -1; // $1 is a positional parameter, not a tag
            }
            j++;
        }
        return j < sql.length() && sql.charAt(j) == '$' ? j + 1 : -1;
    }
}
