package io.shardline.router.sql;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

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
                // to the end of the line, which PostgreSQL ends at a carriage return too
                while (i < n && sql.charAt(i) != '\n' && sql.charAt(i) != '\r') {
                    i++;
                }
            } else if (c == '/' && i + 1 < n && sql.charAt(i + 1) == '*') {
                i = skipBlockComment(sql, i);
            } else if (c == '\'') {
                int end = skipQuoted(sql, i, '\'', false);
                tokens.add(new Token(Kind.STRING, i, end, null, depth));
                i = end;
            } else if ((c == 'U' || c == 'u')
                    && i + 2 < n
                    && sql.charAt(i + 1) == '&'
                    && (sql.charAt(i + 2) == '"' || sql.charAt(i + 2) == '\'')
                    && !identifierBefore(sql, i)) {
                // U&"d\0061ta" identifiers and U&'d\0061ta' strings, each with an optional UESCAPE 'c'
                boolean identifier = sql.charAt(i + 2) == '"';
                int end = uescapeEnd(sql, skipQuoted(sql, i + 2, sql.charAt(i + 2), false));
                tokens.add(new Token(identifier ? Kind.QUOTED_IDENTIFIER : Kind.SPECIAL_STRING, i, end, null, depth));
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
     * The text JSqlParser should see: pgjdbc's {@code ??}, {@code ??|}, {@code ??&} become operators it knows;
     * {@code E'..'}, {@code U&'..'} and {@code $$..$$} strings become the plain string of their value (or, when
     * that value holds a backslash or a control character, an expression that is no literal, so it is never taken
     * for a shard key value); {@code U&".."} identifiers become plain quoted ones, a dot inside a quoted name {@link
     * SqlNames#DOT_IN_NAME}; two plain strings separated by
     * white space holding a line break, which PostgreSQL reads as one, become one; {@code ONLY} after {@code UPDATE}
     * and {@code DELETE FROM} is left out; a keyword as a column label after {@code AS} ({@code AS inner}) is quoted;
     * {@code WHERE true} goes before an {@code ON CONFLICT} that follows a FROM list (JSqlParser took the ON for a join
     * condition); an assignment into a path of subscripts keeps its first. Placeholders keep their order.
     */
    public static String forParser(String sql, List<Token> tokens) {
        // a / right before a /* comment: PostgreSQL reads 4//**/1 as 4 / 1, JSqlParser takes // for a line comment
        // and drops the rest of the line (a WHERE cut short routes a write by half its condition)
        // and an operator starting with # (or the @> operator) right after a word: PostgreSQL reads doc#>'{a}' as
        // doc #> '{a}' and tags@>array[..] as tags @> array[..], JSqlParser takes the # or @ for part of the name
        // (doc#,
        // tags@) and > for the operator (neither can be in a name PostgreSQL reads unquoted). Not @@ or @?: JSqlParser
        // reads @@q as a system variable, and tsv@@q as one name that names no sharded table's key
        StringBuilder spaced = null;
        int from = 0;
        Token before = null;
        for (Token t : tokens) {
            int at = -1;
            if (t.kind() == Kind.SYMBOL && sql.charAt(t.end() - 1) == '/' && sql.startsWith("/*", t.end())) {
                at = t.end();
            } else if (t.kind() == Kind.SYMBOL
                    && (sql.charAt(t.start()) == '#' || sql.charAt(t.start()) == '@' && sql.startsWith(">", t.end()))
                    && before != null
                    && before.kind() == Kind.WORD
                    && before.end() == t.start()) {
                at = t.start();
            }
            if (at >= 0) {
                if (spaced == null) {
                    spaced = new StringBuilder(sql.length() + 4);
                }
                spaced.append(sql, from, at).append(' ');
                from = at;
            }
            before = t;
        }
        if (spaced != null) {
            String text = spaced.append(sql, from, sql.length()).toString();
            return forParser(text, tokenize(text));
        }
        StringBuilder out = null;
        int copied = 0;
        Token previous = null;
        int[] laterSubscripts = null;
        for (int i = 0; i < tokens.size(); i++) {
            Token t = tokens.get(i);
            if (t.start() < copied) {
                continue; // part of a replaced operator
            }
            if (laterSubscripts != null && t.start() == laterSubscripts[0]) {
                if (out == null) {
                    out = new StringBuilder(sql.length());
                }
                out.append(sql, copied, laterSubscripts[0]);
                copied = laterSubscripts[1];
                laterSubscripts = null;
                previous = null;
                continue;
            }
            int[] later = laterSubscripts(sql, tokens, i);
            if (later != null) {
                laterSubscripts = later;
            }
            if (t.is("ONLY")
                    && i > 0
                    && (tokens.get(i - 1).is("UPDATE")
                                    && (i < 2
                                            || !tokens.get(i - 2).is("FOR")
                                                    && !tokens.get(i - 2).is("KEY"))
                            || tokens.get(i - 1).is("FROM")
                                    && i > 1
                                    && tokens.get(i - 2).is("DELETE"))) {
                // UPDATE ONLY t, DELETE FROM ONLY t (no child tables): JSqlParser takes neither, and the table is
                // what routes it
                if (out == null) {
                    out = new StringBuilder(sql.length());
                }
                out.append(sql, copied, t.start());
                copied = t.end();
                continue;
            }
            int like = t.kind() == Kind.SYMBOL ? likeOperatorEnd(sql, t.start()) : -1;
            if (like > 0) {
                // ~~ is LIKE (as PostgreSQL prints it in view definitions), ~~* ILIKE, !~~ and !~~* their negations:
                // JSqlParser reads ~~ as two operators
                boolean not = sql.charAt(t.start()) == '!';
                boolean insensitive = sql.charAt(like - 1) == '*';
                if (out == null) {
                    out = new StringBuilder(sql.length());
                }
                out.append(sql, copied, t.start()).append(not ? " NOT" : "").append(insensitive ? " ILIKE " : " LIKE ");
                copied = like;
                previous = null;
                continue;
            }
            if (t.kind() == Kind.STRING && previous != null && continues(sql, previous, t)) {
                // 'abc'<newline>'def' is 'abcdef': drop the closing quote, the white space and the opening quote
                if (out == null) {
                    out = new StringBuilder(sql.length());
                }
                out.append(sql, copied, previous.end() - 1);
                copied = t.start() + 1;
                previous = t;
                continue;
            }
            if (t.is("ON") && conflictAfterFromList(tokens, i)) {
                // INSERT ... SELECT ... FROM a, b ON CONFLICT: JSqlParser takes the ON for b's join condition
                if (out == null) {
                    out = new StringBuilder(sql.length());
                }
                out.append(sql, copied, t.start()).append("WHERE true ");
                copied = t.start();
            }
            previous = t;
            String replacement = null;
            if (t.kind() == Kind.WORD
                    && LABELS_TO_QUOTE.contains(t.upper())
                    && i > 0
                    && tokens.get(i - 1).is("AS")) {
                // a keyword as a column label (RETURNING doc -> 'inner' AS inner), which PostgreSQL takes after AS
                // and JSqlParser does not
                replacement = "\"" + t.upper().toLowerCase(Locale.ROOT) + "\"";
            } else if (t.kind() == Kind.SPECIAL_STRING) {
                String value = specialStringValue(sql, t);
                replacement = value == null || value.chars().anyMatch(ch -> ch == '\\' || ch < ' ')
                        ? "(''||'')"
                        : "'" + value.replace("'", "''") + "'";
            } else if (t.kind() == Kind.QUOTED_IDENTIFIER
                    && (sql.charAt(t.start()) != '"'
                            || sql.substring(t.start(), t.end()).indexOf('.') >= 0
                                    && sql.indexOf(SqlNames.DOT_IN_NAME) < 0)) {
                // U&".." as a plain quoted name; a dot inside one as a character JSqlParser does not split the name
                // at ("a b.c".x would be column x of table "c" in schema "a b"), SqlNames.fold turns it back
                replacement = "\"" + identifier(sql, t).replace("\"", "\"\"").replace('.', SqlNames.DOT_IN_NAME) + "\"";
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

    /**
     * For an assignment target at token {@code i} (after {@code SET} or a comma) with two or more subscripts, as
     * PostgreSQL 14 assigns into a jsonb or array path ({@code SET doc['a']['b'] = ...}): the text range of the
     * subscripts after the first, which JSqlParser does not read (it reads one); else null. The column assigned is all
     * routing needs of a target (a shard key is a scalar: PostgreSQL refuses a subscript of one).
     */
    private static int[] laterSubscripts(String sql, List<Token> tokens, int i) {
        Token t = tokens.get(i);
        if (i == 0 || t.kind() != Kind.WORD && t.kind() != Kind.QUOTED_IDENTIFIER) {
            return null;
        }
        Token before = tokens.get(i - 1);
        if (!before.is("SET") && !symbol(sql, before, ',')) {
            return null;
        }
        int j = i + 1;
        int groups = 0;
        int second = -1;
        while (j < tokens.size() && symbol(sql, tokens.get(j), '[')) {
            int open = 0;
            for (; j < tokens.size(); j++) {
                Token u = tokens.get(j);
                if (symbol(sql, u, '[')) {
                    open++;
                } else if (symbol(sql, u, ']') && --open == 0) {
                    break;
                }
            }
            if (j == tokens.size()) {
                return null;
            }
            j++;
            if (++groups == 1 && j < tokens.size()) {
                second = tokens.get(j).start();
            }
        }
        if (groups < 2 || j >= tokens.size() || !symbol(sql, tokens.get(j), '=')) {
            return null;
        }
        int after = tokens.get(j).end();
        if (after < sql.length() && OPERATOR_CHARACTERS.indexOf(sql.charAt(after)) >= 0) {
            return null;
        }
        for (int k = i + 1; k < j; k++) {
            if (tokens.get(k).kind() == Kind.PARAMETER) {
                // the parser numbers placeholders in the order of its text: one left out would shift the later ones
                // (the key's among them); such a statement stays as written (refused, as before)
                return null;
            }
        }
        return inAssignments(tokens, i) ? new int[] {second, tokens.get(j).start()} : null;
    }

    /** Keywords PostgreSQL takes as a column label after {@code AS} and JSqlParser does not. */
    private static final Set<String> LABELS_TO_QUOTE = Set.of(
            "INNER",
            "OUTER",
            "FULL",
            "CROSS",
            "NATURAL",
            "JOIN",
            "USING",
            "WHERE",
            "HAVING",
            "FETCH",
            "WINDOW",
            "UNION",
            "EXCEPT",
            "INTERSECT",
            "FROM");

    /**
     * Whether token {@code i}, {@code ON}, starts the {@code ON CONFLICT} of an {@code INSERT ... SELECT} whose FROM
     * list is the last clause before it (no WHERE, GROUP BY, ORDER BY, LIMIT... at its depth).
     */
    private static boolean conflictAfterFromList(List<Token> tokens, int i) {
        if (i + 1 >= tokens.size() || !tokens.get(i + 1).is("CONFLICT")) {
            return false;
        }
        int depth = tokens.get(i).depth();
        for (int k = i - 1; k >= 0; k--) {
            Token u = tokens.get(k);
            if (u.depth() != depth || u.kind() != Kind.WORD) {
                continue;
            }
            switch (u.upper()) {
                case "FROM":
                    return true;
                case "WHERE",
                        "GROUP",
                        "HAVING",
                        "ORDER",
                        "LIMIT",
                        "OFFSET",
                        "FETCH",
                        "FOR",
                        "WINDOW",
                        "SELECT",
                        "VALUES",
                        "INSERT",
                        "UNION",
                        "EXCEPT",
                        "INTERSECT":
                    return false;
                default:
                    break;
            }
        }
        return false;
    }

    /** Clauses that end a {@code SET} list at its depth. */
    private static final Set<String> AFTER_ASSIGNMENTS =
            Set.of("FROM", "WHERE", "RETURNING", "WHEN", "SELECT", "VALUES", "ON", "USING", "THEN", "AND", "OR");

    /**
     * Whether token {@code i} starts a target of a {@code SET} list: the nearest {@code SET} before it at its depth
     * with only other targets' commas between (no clause that ends the list), nothing at a lower depth crossed.
     */
    private static boolean inAssignments(List<Token> tokens, int i) {
        int depth = tokens.get(i).depth();
        for (int k = i - 1; k >= 0; k--) {
            Token u = tokens.get(k);
            if (u.depth() < depth) {
                return false;
            }
            if (u.depth() > depth) {
                continue;
            }
            if (u.is("SET")) {
                return true;
            }
            if (u.kind() == Kind.WORD && AFTER_ASSIGNMENTS.contains(u.upper())) {
                return false;
            }
        }
        return false;
    }

    private static boolean symbol(String sql, Token t, char c) {
        return t.kind() == Kind.SYMBOL && t.end() - t.start() == 1 && sql.charAt(t.start()) == c;
    }

    /**
     * The end of the operator {@code ~~}, {@code ~~*}, {@code !~~} or {@code !~~*} starting at {@code at} (a whole
     * operator: no other operator character follows), or -1.
     */
    private static int likeOperatorEnd(String sql, int at) {
        if (at > 0 && OPERATOR_CHARACTERS.indexOf(sql.charAt(at - 1)) >= 0) {
            return -1;
        }
        int i = sql.charAt(at) == '!' ? at + 1 : at;
        if (!sql.startsWith("~~", i)) {
            return -1;
        }
        i += 2;
        if (i < sql.length() && sql.charAt(i) == '*') {
            i++;
        }
        return i < sql.length() && OPERATOR_CHARACTERS.indexOf(sql.charAt(i)) >= 0 ? -1 : i;
    }

    /** What PostgreSQL makes operators of: a run of them is one operator. */
    private static final String OPERATOR_CHARACTERS = "+-*/<>=~!@#%^&|`?";

    /** Whether plain string {@code next} continues {@code string}: only white space with a line break between them. */
    private static boolean continues(String sql, Token string, Token next) {
        if (string.kind() != Kind.STRING) {
            return false;
        }
        String gap = sql.substring(string.end(), next.start());
        return (gap.indexOf('\n') >= 0 || gap.indexOf('\r') >= 0) && gap.isBlank();
    }

    /** Decodes a plain {@code '...'} string token's value. */
    public static String stringValue(String sql, Token t) {
        return sql.substring(t.start() + 1, t.end() - 1).replace("''", "'");
    }

    /**
     * A quoted identifier's name ({@code U&"..."} escapes decoded), or an unquoted one with A-Z folded to lower case,
     * as PostgreSQL resolves it. A {@code U&"..."} with an invalid escape (PostgreSQL rejects the statement) is its
     * text as written.
     */
    public static String identifier(String sql, Token t) {
        if (t.kind() == Kind.QUOTED_IDENTIFIER) {
            if (sql.charAt(t.start()) != '"') {
                try {
                    return unicodeQuoted(sql, t);
                } catch (IllegalArgumentException e) {
                    return t.text(sql);
                }
            }
            return sql.substring(t.start() + 1, t.end() - 1).replace("\"\"", "\"");
        }
        return SqlNames.fold(t.text(sql));
    }

    /**
     * The value of an {@code E'...'}, {@code U&'...'} or {@code $tag$...$tag$} string, or null when it holds an
     * escape this lexer does not decode.
     */
    static String specialStringValue(String sql, Token t) {
        char first = sql.charAt(t.start());
        try {
            if (first == '$') {
                int tagEnd = dollarTagEnd(sql, t.start());
                int tag = tagEnd - t.start();
                return sql.substring(tagEnd, t.end() - tag);
            }
            if (first == 'U' || first == 'u') {
                return unicodeQuoted(sql, t);
            }
            return escapeString(sql.substring(t.start() + 2, t.end() - 1));
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** The body of {@code U&"..."} or {@code U&'...'} with its escapes decoded (escape {@code \} unless UESCAPE). */
    private static String unicodeQuoted(String sql, Token t) {
        char quote = sql.charAt(t.start() + 2);
        int close = skipQuoted(sql, t.start() + 2, quote, false);
        String body = sql.substring(t.start() + 3, close - 1).replace(quote + "" + quote, quote + "");
        char escape = '\\';
        if (close < t.end()) {
            String clause = sql.substring(close, t.end()).strip();
            escape = clause.charAt(clause.length() - 2); // UESCAPE 'c'
        }
        StringBuilder out = new StringBuilder(body.length());
        for (int i = 0; i < body.length(); i++) {
            char c = body.charAt(i);
            if (c != escape) {
                out.append(c);
            } else if (i + 1 < body.length() && body.charAt(i + 1) == escape) {
                out.append(escape);
                i++;
            } else if (i + 1 < body.length() && body.charAt(i + 1) == '+') {
                out.appendCodePoint(hex(body, i + 2, 6));
                i += 7;
            } else {
                out.appendCodePoint(hex(body, i + 1, 4));
                i += 4;
            }
        }
        return out.toString();
    }

    /** The body of an {@code E'...'} string with its backslash escapes decoded. */
    private static String escapeString(String body) {
        StringBuilder out = new StringBuilder(body.length());
        for (int i = 0; i < body.length(); i++) {
            char c = body.charAt(i);
            if (c == '\'' && i + 1 < body.length() && body.charAt(i + 1) == '\'') {
                out.append('\'');
                i++;
                continue;
            }
            if (c != '\\') {
                out.append(c);
                continue;
            }
            if (++i >= body.length()) {
                throw new IllegalArgumentException("a trailing backslash");
            }
            char e = body.charAt(i);
            switch (e) {
                case 'b' -> out.append('\b');
                case 'f' -> out.append('\f');
                case 'n' -> out.append('\n');
                case 'r' -> out.append('\r');
                case 't' -> out.append('\t');
                case 'u' -> {
                    out.appendCodePoint(hex(body, i + 1, 4));
                    i += 4;
                }
                case 'U' -> {
                    out.appendCodePoint(hex(body, i + 1, 8));
                    i += 8;
                }
                case 'x' -> {
                    int digits = 0;
                    while (digits < 2
                            && i + 1 + digits < body.length()
                            && Character.digit(body.charAt(i + 1 + digits), 16) >= 0) {
                        digits++;
                    }
                    if (digits == 0) {
                        out.append('x');
                    } else {
                        out.append(singleByte(hex(body, i + 1, digits)));
                        i += digits;
                    }
                }
                default -> {
                    if (e >= '0' && e <= '7') {
                        int value = 0;
                        int digits = 0;
                        while (digits < 3
                                && i + digits < body.length()
                                && body.charAt(i + digits) >= '0'
                                && body.charAt(i + digits) <= '7') {
                            value = value * 8 + (body.charAt(i + digits) - '0');
                            digits++;
                        }
                        out.append(singleByte(value & 0xFF));
                        i += digits - 1;
                    } else {
                        out.append(e);
                    }
                }
            }
        }
        return out.toString();
    }

    /** A byte escape: a character only when ASCII (other bytes depend on the server's encoding). */
    private static char singleByte(int value) {
        if (value > 0x7F) {
            throw new IllegalArgumentException("a non-ASCII byte escape");
        }
        return (char) value;
    }

    private static int hex(String s, int from, int digits) {
        if (from + digits > s.length()) {
            throw new IllegalArgumentException("a short Unicode escape");
        }
        int value = Integer.parseInt(s.substring(from, from + digits), 16);
        if (!Character.isValidCodePoint(value)) {
            throw new IllegalArgumentException("an invalid Unicode escape");
        }
        return value;
    }

    /** After a {@code U&} string or identifier ending at {@code end}: the end of a following {@code UESCAPE 'c'}. */
    private static int uescapeEnd(String sql, int end) {
        int i = end;
        while (i < sql.length() && Character.isWhitespace(sql.charAt(i))) {
            i++;
        }
        if (sql.regionMatches(true, i, "UESCAPE", 0, 7)) {
            int j = i + 7;
            while (j < sql.length() && Character.isWhitespace(sql.charAt(j))) {
                j++;
            }
            if (j + 2 < sql.length() && sql.charAt(j) == '\'' && sql.charAt(j + 2) == '\'') {
                return j + 3;
            }
        }
        return end;
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
