package io.shardline.router.sql;

import io.shardline.router.SqlStates;
import io.shardline.router.sql.SqlLexer.Kind;
import io.shardline.router.sql.SqlLexer.Token;
import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A {@code COPY table [(columns)] FROM STDIN [options]} statement as the driver needs it to send each row to its
 * shard: the table and columns as written, and how rows and fields are delimited. Both option syntaxes are read:
 * {@code WITH (FORMAT csv, HEADER, DELIMITER ';')} and the older {@code WITH CSV HEADER DELIMITER AS ';'}.
 *
 * @param table the table's name as written (quotes and schema included)
 * @param columns the column list's names as written, empty when the statement gives none
 * @param format how rows are written
 * @param delimiter the field delimiter (one byte)
 * @param nullString the text of a NULL field
 * @param quote CSV's quote
 * @param escape CSV's escape (the quote unless set)
 * @param header whether the first line is a header line
 * @param forceNotNull CSV's FORCE_NOT_NULL columns as PostgreSQL resolves their names ({@code *}: all)
 * @param forceNull CSV's FORCE_NULL columns ({@code *}: all)
 * @param defaultMarker the DEFAULT option's marker (PostgreSQL 16), null without one
 */
public record CopyCommand(
        String table,
        List<String> columns,
        Format format,
        byte delimiter,
        byte[] nullString,
        byte quote,
        byte escape,
        boolean header,
        List<String> forceNotNull,
        List<String> forceNull,
        String defaultMarker) {

    /** The data format of a COPY. */
    public enum Format {
        TEXT,
        CSV,
        BINARY
    }

    public CopyCommand {
        columns = List.copyOf(columns);
        forceNotNull = List.copyOf(forceNotNull);
        forceNull = List.copyOf(forceNull);
    }

    /** Whether CSV's FORCE_NOT_NULL names {@code column} (a name as PostgreSQL resolves it). */
    public boolean forcedNotNull(String column) {
        return forceNotNull.contains("*") || forceNotNull.contains(column);
    }

    /** Whether CSV's FORCE_NULL names {@code column}. */
    public boolean forcedNull(String column) {
        return forceNull.contains("*") || forceNull.contains(column);
    }

    /**
     * The COPY FROM STDIN statement {@code sql}, or null when it is something else (another statement, COPY TO, COPY
     * FROM a file or a program).
     *
     * @throws SQLException 42601 for an option the driver cannot read (a delimiter of several bytes, a value missing),
     *     0A000 for an encoding other than UTF-8
     */
    public static CopyCommand parse(String sql) throws SQLException {
        List<Token> tokens;
        try {
            tokens = SqlLexer.tokenize(sql);
        } catch (IllegalArgumentException e) {
            return null;
        }
        if (tokens.isEmpty() || !tokens.get(0).is("COPY")) {
            return null;
        }
        int i = 1;
        // the oldest syntax: COPY BINARY table FROM STDIN
        boolean binary = tokens.size() > 2
                && tokens.get(1).is("BINARY")
                && !tokens.get(2).is("FROM");
        if (binary) {
            i++;
        }
        String[] table = new String[1];
        List<String> columns = new ArrayList<>();
        i = tableAndColumns(sql, tokens, i, "FROM", table, columns);
        if (i < 0 || i + 1 >= tokens.size() || !tokens.get(i + 1).is("STDIN")) {
            return null;
        }
        Options o = options(sql, tokens, i + 2, binary);
        if (o.encoding != null
                && !o.encoding
                        .toLowerCase(Locale.ROOT)
                        .replace("-", "")
                        .replace("_", "")
                        .equals("utf8")) {
            throw new SQLException(
                    "COPY ... FROM STDIN with ENCODING '" + o.encoding + "' cannot be routed: the driver reads each"
                            + " row's shard key as UTF-8; send the data in UTF-8 without the ENCODING option",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }
        boolean csv = o.format == Format.CSV;
        byte delimiter = oneByte("DELIMITER", o.delimiter, csv ? "," : "\t");
        byte quote = oneByte("QUOTE", o.quote, "\"");
        byte escape = oneByte("ESCAPE", o.escape, o.quote != null ? o.quote : "\"");
        String nullText = o.nullString != null ? o.nullString : (csv ? "" : "\\N");
        return new CopyCommand(
                table[0],
                columns,
                o.format,
                delimiter,
                nullText.getBytes(StandardCharsets.UTF_8),
                quote,
                escape,
                o.header,
                o.forceNotNull,
                o.forceNull,
                o.defaultMarker);
    }

    /**
     * A {@code COPY ... TO STDOUT} statement: a table (with its column list as written, maybe empty) or a query,
     * the format and header the options ask for, and the options' text as written (from after {@code STDOUT}).
     *
     * @param leading what comes before {@code COPY} (comments such as {@code /*NO LOAD BALANCE*}{@code /})
     * @param table the table's name as written, null for a query
     * @param columns the column list's names as written, empty when none is given (or for a query)
     * @param query the query's text between its parentheses, null for a table
     * @param options the options' text as written after {@code STDOUT} (with {@code BINARY} when the oldest syntax
     *     gave it before the table), to follow the {@code STDOUT} of the same COPY of a query
     */
    public record ToStdout(
            String leading,
            String table,
            List<String> columns,
            String query,
            Format format,
            boolean header,
            String options) {
        public ToStdout {
            columns = List.copyOf(columns);
        }
    }

    /**
     * The {@code COPY table [(columns)] TO STDOUT} or {@code COPY (query) TO STDOUT} statement {@code sql}, or null
     * when it is another statement (COPY FROM, COPY to a file or a program).
     *
     * @throws SQLException 0A000 for an option the driver does not know (it may change what the output holds)
     */
    public static ToStdout parseToStdout(String sql) throws SQLException {
        List<Token> tokens;
        try {
            tokens = SqlLexer.tokenize(sql);
        } catch (IllegalArgumentException e) {
            return null;
        }
        if (tokens.size() < 4 || !tokens.get(0).is("COPY")) {
            return null;
        }
        int i = 1;
        boolean binary = tokens.get(1).is("BINARY") && !tokens.get(2).is("TO");
        if (binary) {
            i++;
        }
        String table = null;
        String query = null;
        List<String> columns = new ArrayList<>();
        if (symbol(sql, tokens, i, "(")) {
            int open = i;
            i++;
            while (i < tokens.size()
                    && !(symbol(sql, tokens, i, ")") && tokens.get(i).depth() == 0)) {
                i++;
            }
            if (i == tokens.size() || i == open + 1) {
                return null;
            }
            query = sql.substring(tokens.get(open).end(), tokens.get(i).start()).strip();
            i++;
        } else {
            String[] named = new String[1];
            i = tableAndColumns(sql, tokens, i, "TO", named, columns);
            table = named[0];
        }
        if (i < 0
                || i + 1 >= tokens.size()
                || !tokens.get(i).is("TO")
                || !tokens.get(i + 1).is("STDOUT")) {
            return null;
        }
        Options o = options(sql, tokens, i + 2, binary);
        String options = sql.substring(tokens.get(i + 1).end());
        int list = i + 2 < tokens.size() && tokens.get(i + 2).is("WITH") ? i + 3 : i + 2;
        if (binary) {
            // COPY BINARY table: the same options after a query's STDOUT
            options = symbol(sql, tokens, list, "(")
                    ? sql.substring(tokens.get(i + 1).end(), tokens.get(list).end()) + "FORMAT binary, "
                            + sql.substring(tokens.get(list).end())
                    : " BINARY" + options;
        }
        return new ToStdout(
                sql.substring(0, tokens.get(0).start()), table, columns, query, o.format, o.header, options);
    }

    /**
     * Reads {@code table [(columns)]} from token {@code i} up to {@code direction} ({@code FROM} or {@code TO}): the
     * table's name as written into {@code table[0]}, the columns into {@code columns}; the index of {@code direction},
     * or -1 when the statement is not so shaped.
     */
    private static int tableAndColumns(
            String sql, List<Token> tokens, int i, String direction, String[] table, List<String> columns) {
        int tableStart = i;
        while (i < tokens.size() && !tokens.get(i).is(direction) && !symbol(sql, tokens, i, "(")) {
            i++;
        }
        if (i == tableStart || i == tokens.size()) {
            return -1;
        }
        table[0] =
                sql.substring(tokens.get(tableStart).start(), tokens.get(i - 1).end());
        i = columns(sql, tokens, i, columns);
        return i < 0 || i >= tokens.size() || !tokens.get(i).is(direction) ? -1 : i;
    }

    /**
     * The options from token {@code at} on ({@code binary}: the oldest syntax's BINARY before the table).
     *
     * @throws SQLException for an option the driver does not know, or another statement after the COPY
     */
    private static Options options(String sql, List<Token> tokens, int at, boolean binary) throws SQLException {
        Options o = new Options();
        if (binary) {
            o.format = Format.BINARY;
        }
        new OptionReader(sql, tokens, at, o).read();
        onlyStatement(sql, tokens);
        return o;
    }

    /**
     * Reads the column list at token {@code i}, if one is there, into {@code into} (each name as written): the token
     * after it, {@code i} when there is none, -1 when it does not end.
     */
    private static int columns(String sql, List<Token> tokens, int i, List<String> into) {
        if (!symbol(sql, tokens, i, "(")) {
            return i;
        }
        int start = ++i;
        while (i < tokens.size()
                && !(symbol(sql, tokens, i, ")") && tokens.get(i).depth() == 0)) {
            if (symbol(sql, tokens, i, ",")) {
                into.add(text(sql, tokens, start, i));
                start = i + 1;
            }
            i++;
        }
        if (i == tokens.size()) {
            return -1;
        }
        into.add(text(sql, tokens, start, i));
        return i + 1;
    }

    /**
     * @throws SQLException 0A000 when another statement follows the COPY: pgjdbc sends the text as it is, and the
     *     driver would run the other statement on every node the COPY reaches, unrouted
     */
    private static void onlyStatement(String sql, List<Token> tokens) throws SQLException {
        for (int i = 0; i < tokens.size(); i++) {
            if (symbol(sql, tokens, i, ";") && tokens.get(i).depth() == 0) {
                for (int j = i + 1; j < tokens.size(); j++) {
                    if (!symbol(sql, tokens, j, ";")) {
                        throw new SQLException(
                                "a COPY through the COPY API must be the only statement of its text: send the"
                                        + " statement after it on its own",
                                SqlStates.FEATURE_NOT_SUPPORTED);
                    }
                }
                return;
            }
        }
    }

    private static boolean symbol(String sql, List<Token> tokens, int i, String symbol) {
        return i < tokens.size()
                && tokens.get(i).kind() == Kind.SYMBOL
                && tokens.get(i).text(sql).equals(symbol);
    }

    private static String text(String sql, List<Token> tokens, int from, int to) {
        return from >= to
                ? ""
                : sql.substring(tokens.get(from).start(), tokens.get(to - 1).end());
    }

    private static byte oneByte(String option, String value, String otherwise) throws SQLException {
        String v = value != null ? value : otherwise;
        byte[] bytes = v.getBytes(StandardCharsets.UTF_8);
        if (bytes.length != 1) {
            throw new SQLException(
                    "COPY's " + option + " must be a single one-byte character, not '" + v + "'", "42601");
        }
        return bytes[0];
    }

    private static final class Options {
        Format format = Format.TEXT;
        String delimiter;
        String nullString;
        String quote;
        String escape;
        String encoding;
        String defaultMarker;
        boolean header;
        final List<String> forceNotNull = new ArrayList<>();
        final List<String> forceNull = new ArrayList<>();
    }

    /** Reads the options after {@code FROM STDIN} until the end or {@code WHERE}. */
    private static final class OptionReader {
        private final String sql;
        private final List<Token> tokens;
        private final Options o;
        private int i;

        OptionReader(String sql, List<Token> tokens, int at, Options o) {
            this.sql = sql;
            this.tokens = tokens;
            this.i = at;
            this.o = o;
        }

        void read() throws SQLException {
            if (word("WITH")) {
                i++;
            }
            if (symbol(sql, tokens, i, "(")) {
                i++;
                while (i < tokens.size()
                        && !(symbol(sql, tokens, i, ")") && tokens.get(i).depth() == 0)) {
                    if (symbol(sql, tokens, i, ",")) {
                        i++;
                        continue;
                    }
                    String name = name(tokens.get(i));
                    i++;
                    option(name);
                }
                return;
            }
            while (i < tokens.size() && !word("WHERE") && !symbol(sql, tokens, i, ";")) {
                String name = name(tokens.get(i)).toUpperCase(Locale.ROOT);
                i++;
                switch (name) {
                    case "BINARY" -> o.format = Format.BINARY;
                    case "CSV" -> o.format = Format.CSV;
                    case "HEADER" -> o.header = true;
                    case "WITH", "USING", "OIDS", "FREEZE" -> {
                        // WITH between options, USING DELIMITERS; OIDS (PostgreSQL refuses it), FREEZE: no change here
                    }
                    case "DELIMITER", "DELIMITERS", "NULL", "QUOTE", "ESCAPE", "ENCODING" -> {
                        if (word("AS")) {
                            i++;
                        }
                        set(name.equals("DELIMITERS") ? "DELIMITER" : name, string(name));
                    }
                    case "FORCE" -> {
                        // FORCE NOT NULL columns, FORCE NULL columns, FORCE QUOTE columns
                        boolean not = word("NOT");
                        if (not) {
                            i++;
                        }
                        boolean nulls = word("NULL");
                        i++;
                        List<String> into = !nulls ? new ArrayList<>() : not ? o.forceNotNull : o.forceNull;
                        columnList(into);
                    }
                    default -> throw unknown(name);
                }
            }
        }

        /**
         * An option's name as PostgreSQL matches it: unquoted ones folded to lower case, then upper-cased here; a
         * quoted name keeps its case (so {@code "DELIMITER"} is no option).
         */
        private String name(Token t) {
            String name = t.kind() == Kind.WORD || t.kind() == Kind.QUOTED_IDENTIFIER
                    ? SqlLexer.identifier(sql, t)
                    : t.text(sql);
            return name.equals(name.toLowerCase(Locale.ROOT)) ? name.toUpperCase(Locale.ROOT) : '"' + name + '"';
        }

        private SQLException unknown(String name) {
            return new SQLException(
                    "COPY option " + name + " is not one the driver knows: it reads each row to route it, and an"
                            + " option it does not know could change how rows are read",
                    SqlStates.FEATURE_NOT_SUPPORTED);
        }

        /** One option of the parenthesized list: its value, if any, up to the next comma. */
        private void option(String name) throws SQLException {
            switch (name) {
                case "FORMAT" -> {
                    String f = value(name).toUpperCase(Locale.ROOT);
                    switch (f) {
                        case "TEXT" -> o.format = Format.TEXT;
                        case "CSV" -> o.format = Format.CSV;
                        case "BINARY" -> o.format = Format.BINARY;
                        default ->
                            throw new SQLException(
                                    "COPY format \"" + f.toLowerCase(Locale.ROOT) + "\" not recognized", "22023");
                    }
                }
                case "HEADER" -> {
                    if (atValue()) {
                        String v = value(name).toUpperCase(Locale.ROOT);
                        o.header = !Boolean.FALSE.equals(bool(v));
                    } else {
                        o.header = true;
                    }
                }
                case "DELIMITER", "NULL", "QUOTE", "ESCAPE", "ENCODING", "DEFAULT" -> set(name, string(name));
                case "FORCE_NOT_NULL" -> columnList(o.forceNotNull);
                case "FORCE_NULL" -> columnList(o.forceNull);
                case "FREEZE", "FORCE_QUOTE", "ON_ERROR", "REJECT_LIMIT", "LOG_VERBOSITY" -> skipValue();
                default -> throw unknown(name);
            }
        }

        private void set(String name, String value) {
            switch (name) {
                case "DELIMITER" -> o.delimiter = value;
                case "NULL" -> o.nullString = value;
                case "QUOTE" -> o.quote = value;
                case "ESCAPE" -> o.escape = value;
                case "DEFAULT" -> o.defaultMarker = value;
                default -> o.encoding = value;
            }
        }

        private static Boolean bool(String v) {
            return switch (v) {
                case "FALSE", "OFF", "0" -> Boolean.FALSE;
                case "TRUE", "ON", "1", "MATCH" -> Boolean.TRUE;
                default -> null;
            };
        }

        private boolean word(String w) {
            return i < tokens.size() && tokens.get(i).is(w);
        }

        private boolean atValue() {
            return i < tokens.size() && !symbol(sql, tokens, i, ",") && !symbol(sql, tokens, i, ")");
        }

        private String value(String name) throws SQLException {
            if (!atValue()) {
                throw new SQLException("COPY option " + name + " needs a value", "42601");
            }
            Token t = tokens.get(i++);
            return switch (t.kind()) {
                case STRING -> SqlLexer.stringValue(sql, t);
                case SPECIAL_STRING -> special(name, t);
                case WORD, QUOTED_IDENTIFIER -> SqlLexer.identifier(sql, t);
                default -> t.text(sql);
            };
        }

        private String string(String name) throws SQLException {
            if (i >= tokens.size()
                    || (tokens.get(i).kind() != Kind.STRING && tokens.get(i).kind() != Kind.SPECIAL_STRING)) {
                throw new SQLException("COPY option " + name + " needs a quoted string", "42601");
            }
            Token t = tokens.get(i++);
            return t.kind() == Kind.STRING ? SqlLexer.stringValue(sql, t) : special(name, t);
        }

        private String special(String name, Token t) throws SQLException {
            String v = SqlLexer.specialStringValue(sql, t);
            if (v == null) {
                throw new SQLException(
                        "COPY option " + name + ": the driver cannot decode the string " + t.text(sql), "42601");
            }
            return v;
        }

        /**
         * Column names into {@code into}, as PostgreSQL resolves them: {@code *}, {@code (a, b)} (the options list),
         * or {@code a, b} (the older syntax, up to the next keyword).
         */
        private void columnList(List<String> into) {
            if (symbol(sql, tokens, i, "*")) {
                into.add("*");
                i++;
                return;
            }
            boolean parenthesized = symbol(sql, tokens, i, "(");
            if (parenthesized) {
                i++;
            }
            while (i < tokens.size()) {
                Token t = tokens.get(i);
                if (t.kind() == Kind.WORD || t.kind() == Kind.QUOTED_IDENTIFIER) {
                    into.add(SqlLexer.identifier(sql, t));
                    i++;
                }
                if (symbol(sql, tokens, i, ",")) {
                    i++;
                } else {
                    break;
                }
            }
            if (parenthesized && symbol(sql, tokens, i, ")")) {
                i++;
            }
        }

        /** Skips an option's value: a word, a string, a number, {@code *} or a parenthesized column list. */
        private void skipValue() {
            while (atValue()) {
                if (symbol(sql, tokens, i, "(")) {
                    int depth = tokens.get(i).depth();
                    i++;
                    while (i < tokens.size()
                            && !(symbol(sql, tokens, i, ")") && tokens.get(i).depth() == depth)) {
                        i++;
                    }
                }
                i++;
            }
        }
    }
}
