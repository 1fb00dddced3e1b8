package io.shardline.router.sql;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class CopyRowsTest {

    /** Each row as "key|bytes as sent", fed in pieces of {@code piece} bytes. */
    private static List<String> split(String sql, int keyIndex, String data, int piece) throws SQLException {
        CopyCommand copy = CopyCommand.parse(sql);
        CopyRows rows = new CopyRows(copy, keyIndex, "k");
        List<String> out = new ArrayList<>();
        CopyRows.Sink sink = (buf, start, end, key, line) ->
                out.add(key + "|" + new String(buf, start, end - start, StandardCharsets.UTF_8));
        byte[] bytes = data.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < bytes.length; i += piece) {
            rows.feed(bytes, i, Math.min(piece, bytes.length - i), sink);
        }
        rows.finish(sink);
        if (rows.header() != null) {
            out.add(0, "header|" + new String(rows.header(), StandardCharsets.UTF_8));
        }
        return out;
    }

    /** The same rows whatever the pieces the data comes in. */
    private static List<String> rows(String sql, int keyIndex, String data) throws SQLException {
        List<String> whole = split(sql, keyIndex, data, Integer.MAX_VALUE);
        for (int piece = 1; piece <= 7; piece++) {
            assertThat(split(sql, keyIndex, data, piece))
                    .as("fed %d bytes at a time", piece)
                    .isEqualTo(whole);
        }
        return whole;
    }

    @Test
    void textRowsEndAtUnescapedLineEndsAndTheKeyIsDeEscaped() throws SQLException {
        String data = "a\\tb\t1\n" // the key holds a tab, escaped
                + "x\\\\y\t2\n" // a backslash
                + "line\\\nbreak\t3\n" // a backslash-newline is data
                + "\\N\t4\n" // NULL
                + "\\x41\\101\\z\t5"; // hex, octal, a plain escaped letter; no line end at the end
        assertThat(rows("COPY t FROM STDIN", 0, data))
                .containsExactly(
                        "a\tb|a\\tb\t1\n",
                        "x\\y|x\\\\y\t2\n",
                        "line\nbreak|line\\\nbreak\t3\n",
                        "null|\\N\t4\n",
                        "AAz|\\x41\\101\\z\t5");
    }

    @Test
    void theKeyMayBeAnyField() throws SQLException {
        assertThat(rows("COPY t (a, k, b) FROM STDIN", 1, "1\tk1\t2\n3\t\\N\t4\n5\t\t6\n"))
                .containsExactly("k1|1\tk1\t2\n", "null|3\t\\N\t4\n", "|5\t\t6\n");
        assertThat(rows("COPY t FROM STDIN WITH (DELIMITER '|', NULL 'none')", 2, "a|b|c\\|d\nx|y|none\n"))
                .containsExactly("c|d|a|b|c\\|d\n", "null|x|y|none\n");
    }

    @Test
    void csvQuotesHoldDelimitersAndLineEnds() throws SQLException {
        String data = "id,note\n"
                + "\"k,1\",\"two\nlines\"\n"
                + "\"k\"\"2\",plain\n"
                + ",empty is null\n"
                + "\"\",quoted empty is not\n";
        assertThat(rows("COPY t (id, note) FROM STDIN WITH (FORMAT csv, HEADER true)", 0, data))
                .containsExactly(
                        "header|id,note\n",
                        "k,1|\"k,1\",\"two\nlines\"\n",
                        "k\"2|\"k\"\"2\",plain\n",
                        "null|,empty is null\n",
                        "|\"\",quoted empty is not\n");
        assertThat(rows("COPY t FROM STDIN CSV", 0, "a\r\n\"b\r\nc\"\r\nd"))
                .containsExactly("a|a\r\n", "b\r\nc|\"b\r\nc\"\r\n", "d|d");
    }

    @Test
    void csvWithItsOwnEscapeAndTheOlderSyntax() throws SQLException {
        assertThat(rows("COPY t FROM STDIN WITH CSV HEADER DELIMITER AS ';' ESCAPE AS '\\'", 1, "h\na;\"x\\\"y\";z\n"))
                .containsExactly("header|h\n", "x\"y|a;\"x\\\"y\";z\n");
        assertThat(rows("COPY t FROM STDIN (FORMAT 'csv', DELIMITER E'\\t')", 1, "a\tb\tc\n"))
                .containsExactly("b|a\tb\tc\n");
    }

    @Test
    void aHexEscapeTakesItsDigitsEvenWhenTheDelimiterIsOne() throws SQLException {
        // DELIMITER 'A' is legal in text format: \x4A is the letter J, not \x4 and a delimiter
        assertThat(rows("COPY t (k, v) FROM STDIN WITH (DELIMITER 'A')", 0, "\\x4Aoe@x.orgAJoe\n"))
                .containsExactly("Joe@x.org|\\x4Aoe@x.orgAJoe\n");
        assertThat(rows("COPY t (v, k) FROM STDIN WITH (DELIMITER 'A')", 1, "\\x4Aoe@x.orgAJoe\n"))
                .containsExactly("Joe|\\x4Aoe@x.orgAJoe\n");
    }

    @Test
    void theEndMarkerEndsTheData() throws SQLException {
        assertThat(rows("COPY t FROM STDIN", 0, "a\n\\.\nignored\n")).containsExactly("a|a\n");
    }

    @Test
    void theEndMarkerInsideALineIsRefusedNotGuessed() throws SQLException {
        // PostgreSQL 15 ends the data at a \. anywhere in a text line, keeping what came before it on the line
        assertThatThrownBy(() -> rows("COPY t FROM STDIN", 1, "1\tabc\\.\n2\tdef\n"))
                .isInstanceOf(SQLException.class)
                .hasMessageContaining("line 1")
                .hasMessageContaining("end-of-data marker");
        assertThatThrownBy(() -> rows("COPY t FROM STDIN", 0, "a\n\\.x\n")).hasMessageContaining("line 2");
        assertThat(rows("COPY t FROM STDIN", 0, "a\n\\.")).containsExactly("a|a\n");
        assertThat(rows("COPY t FROM STDIN", 0, "a\\\\.\n")).containsExactly("a\\.|a\\\\.\n");
        // in CSV only a line of its own followed by a line ending ends the data (PostgreSQL 15-17)
        assertThat(rows("COPY t FROM STDIN CSV", 0, "a\n\\.\nb\n")).containsExactly("a|a\n");
        assertThat(rows("COPY t FROM STDIN CSV", 0, "a\n\\.")).containsExactly("a|a\n", "\\.|\\.");
    }

    @Test
    void aBackslashEndingTheDataIsDroppedFromTheKeyAsPostgreSqlDropsIt() throws SQLException {
        assertThat(rows("COPY t FROM STDIN", 0, "abc\\")).containsExactly("abc|abc\\");
    }

    @Test
    void everyLineMustEndAlike() {
        assertThatThrownBy(() -> rows("COPY t FROM STDIN", 0, "a\nb\r\nc\n"))
                .hasMessageContaining("line 2 ends with a carriage return and newline, the first with a newline");
        assertThatThrownBy(() -> rows("COPY t FROM STDIN CSV", 0, "a\r\nb\r")).hasMessageContaining("line 2");
    }

    @Test
    void csvForceOptionsApplyToTheKeyAsPostgreSqlAppliesThem() throws SQLException {
        assertThat(rows("COPY t (a, k) FROM STDIN (FORMAT csv, FORCE_NOT_NULL (k))", 1, "1,\n"))
                .containsExactly("|1,\n");
        assertThat(rows("COPY t (a, k) FROM STDIN (FORMAT csv, FORCE_NULL (\"k\"))", 1, "1,\"\"\n"))
                .containsExactly("null|1,\"\"\n");
        assertThat(rows("COPY t (a, k) FROM STDIN WITH CSV FORCE NOT NULL k, a", 1, "1,\n"))
                .containsExactly("|1,\n");
        assertThat(rows("COPY t (a, k) FROM STDIN (FORMAT csv, FORCE_NOT_NULL *)", 1, "1,\n"))
                .containsExactly("|1,\n");
        assertThat(rows("COPY t (a, k) FROM STDIN (FORMAT csv, FORCE_NULL (a))", 1, "1,\"\"\n"))
                .containsExactly("|1,\"\"\n");
        assertThat(CopyCommand.parse("COPY t FROM STDIN (FORMAT csv, DEFAULT '@')")
                        .defaultMarker())
                .isEqualTo("@");
    }

    @Test
    void aRowWithoutTheKeyFieldIsAnErrorNamingItsLine() {
        assertThatThrownBy(() -> rows("COPY t FROM STDIN", 2, "a\tb\tc\nd\te\n"))
                .isInstanceOf(SQLException.class)
                .hasMessageContaining("line 2")
                .hasMessageContaining("shard key k");
        assertThatThrownBy(() -> rows("COPY t FROM STDIN CSV", 0, "\"open\n"))
                .hasMessageContaining("unterminated CSV quoted field");
    }

    @Test
    void aCopyToStdoutIsReadAsItsTableOrQueryFormatHeaderAndOptionsText() throws SQLException {
        CopyCommand.ToStdout t = CopyCommand.parseToStdout(
                "copy public.\"My T\" (\"Id\", b) to stdout with (format csv, header, force_quote (b))");
        assertThat(t.table()).isEqualTo("public.\"My T\"");
        assertThat(t.columns()).containsExactly("\"Id\"", "b");
        assertThat(t.query()).isNull();
        assertThat(t.format()).isEqualTo(CopyCommand.Format.CSV);
        assertThat(t.header()).isTrue();
        assertThat(t.options()).isEqualTo(" with (format csv, header, force_quote (b))");
        CopyCommand.ToStdout q =
                CopyCommand.parseToStdout("COPY (SELECT a, (b) FROM t WHERE k = 1) TO STDOUT CSV HEADER FORCE QUOTE *");
        assertThat(q.table()).isNull();
        assertThat(q.query()).isEqualTo("SELECT a, (b) FROM t WHERE k = 1");
        assertThat(q.header()).isTrue();
        assertThat(q.format()).isEqualTo(CopyCommand.Format.CSV);
        // the oldest syntax's BINARY before the table goes with the options, for the same COPY of a query
        CopyCommand.ToStdout b = CopyCommand.parseToStdout("COPY BINARY t TO STDOUT");
        assertThat(b.format()).isEqualTo(CopyCommand.Format.BINARY);
        assertThat(b.options()).isEqualTo(" BINARY");
        assertThat(CopyCommand.parseToStdout("COPY BINARY t TO STDOUT WITH (HEADER false)")
                        .options())
                .isEqualTo(" WITH (FORMAT binary, HEADER false)");
        assertThat(CopyCommand.parseToStdout("/*NO LOAD BALANCE*/ COPY t TO STDOUT;")
                        .leading())
                .isEqualTo("/*NO LOAD BALANCE*/ ");
        // another statement after the COPY would run on every node the COPY reaches
        assertThatThrownBy(() -> CopyCommand.parseToStdout("COPY t TO STDOUT; DELETE FROM t"))
                .isInstanceOf(SQLException.class)
                .hasMessageContaining("only statement");
        assertThatThrownBy(() -> CopyCommand.parse("COPY t FROM STDIN (FORMAT csv); DELETE FROM t"))
                .isInstanceOf(SQLException.class)
                .hasMessageContaining("only statement");
        assertThat(CopyCommand.parseToStdout("COPY t TO STDOUT (HEADER false)").header())
                .isFalse();
        assertThat(CopyCommand.parseToStdout("COPY t TO '/tmp/x'")).isNull();
        assertThat(CopyCommand.parseToStdout("COPY t FROM STDIN")).isNull();
        assertThat(CopyCommand.parseToStdout("COPY () TO STDOUT")).isNull();
        assertThatThrownBy(() -> CopyCommand.parseToStdout("COPY t TO STDOUT (SHADOW true)"))
                .isInstanceOf(SQLException.class)
                .hasMessageContaining("SHADOW");
    }

    @Test
    void statementsThatAreNotCopyFromStdinAreNotRead() throws SQLException {
        assertThat(CopyCommand.parse("COPY t TO STDOUT")).isNull();
        assertThat(CopyCommand.parse("COPY t FROM '/tmp/x'")).isNull();
        assertThat(CopyCommand.parse("COPY (SELECT 1) TO STDOUT")).isNull();
        assertThat(CopyCommand.parse("SELECT 1")).isNull();
        CopyCommand c = CopyCommand.parse("copy public.\"My T\" (\"Id\", b) from stdin with (format csv,"
                + " force_not_null (b), header match, quote '''') where b > 0");
        assertThat(c.table()).isEqualTo("public.\"My T\"");
        assertThat(c.columns()).containsExactly("\"Id\"", "b");
        assertThat(c.format()).isEqualTo(CopyCommand.Format.CSV);
        assertThat(c.header()).isTrue();
        assertThat(c.quote()).isEqualTo((byte) '\'');
        assertThat(c.escape()).isEqualTo((byte) '\'');
    }

    @Test
    void optionNamesAndWordsAreReadAsPostgreSqlReadsThem() throws SQLException {
        assertThat(rows("COPY t FROM STDIN (\"delimiter\" ',', \"format\" 'csv')", 1, "a,b\n"))
                .containsExactly("b|a,b\n");
        assertThat(CopyCommand.parse("COPY t FROM STDIN (\"header\" true)").header())
                .isTrue();
        assertThat(CopyCommand.parse("COPY t FROM STDIN (HEADER \"off\")").header())
                .isFalse();
        assertThat(CopyCommand.parse("COPY t FROM STDIN (FORMAT \"csv\")").format())
                .isEqualTo(CopyCommand.Format.CSV);
        // the oldest syntax
        assertThat(rows("COPY t FROM STDIN USING DELIMITERS ',' WITH NULL AS 'x'", 0, "x,b\na,b\n"))
                .containsExactly("null|x,b\n", "a|a,b\n");
        CopyCommand binary = CopyCommand.parse("COPY BINARY t FROM STDIN");
        assertThat(binary.table()).isEqualTo("t");
        assertThat(binary.format()).isEqualTo(CopyCommand.Format.BINARY);
    }

    @Test
    void optionsTheDriverCannotReadAreRefusedClearly() throws SQLException {
        assertThatThrownBy(() -> CopyCommand.parse("COPY t FROM STDIN (DELIMITER '||')"))
                .hasMessageContaining("DELIMITER must be a single one-byte character");
        assertThatThrownBy(() -> CopyCommand.parse("COPY t FROM STDIN (ENCODING 'LATIN1')"))
                .isInstanceOf(SQLException.class)
                .hasMessageContaining("UTF-8");
        assertThatThrownBy(() -> CopyCommand.parse("COPY t FROM STDIN ENCODING 'LATIN1'"))
                .hasMessageContaining("UTF-8");
        assertThat(CopyCommand.parse("COPY t FROM STDIN (ENCODING 'utf-8')")).isNotNull();
        assertThatThrownBy(() -> CopyCommand.parse("COPY t FROM STDIN (FORMAT xml)"))
                .hasMessageContaining("not recognized");
        assertThatThrownBy(() -> CopyCommand.parse("COPY t FROM STDIN (SHUFFLE true)"))
                .hasMessageContaining("COPY option SHUFFLE is not one the driver knows");
        assertThatThrownBy(() -> CopyCommand.parse("COPY t FROM STDIN (\"DELIMITER\" ',')"))
                .hasMessageContaining("COPY option \"DELIMITER\" is not one");
        assertThatThrownBy(() -> CopyCommand.parse("COPY t FROM STDIN CSV SPLENDID"))
                .hasMessageContaining("SPLENDID");
    }
}
