package io.shardline.router.sql;

import io.shardline.router.sql.CopyCommand.Format;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.util.Arrays;

/**
 * Splits the data of a {@code COPY ... FROM STDIN} into rows as PostgreSQL reads them (text and CSV formats: a row
 * ends at a newline, carriage return or both that is not escaped in text or quoted in CSV), and reads one field of
 * each row (the shard key) as PostgreSQL would: NULL when it is the NULL string as written, else de-escaped (text)
 * or unquoted (CSV). Each row's bytes are handed on unchanged, with their line ending. Data in binary format is
 * handed on as it comes, without rows. Fed in pieces of any size; not thread-safe.
 */
public final class CopyRows {
    /** Where rows go. */
    public interface Sink {
        /**
         * Row {@code line} (1-based, the header counted) in {@code data[start, end)}, line ending included; {@code key}
         * is the key field's value (null for NULL or when no field is read).
         */
        void row(byte[] data, int start, int end, String key, long line) throws SQLException;
    }

    private final CopyCommand copy;
    private final int keyIndex;
    private final String keyName;
    private final boolean forceNotNull;
    private final boolean forceNull;
    private byte[] buf = new byte[8192];
    private int start;
    private int limit;
    private int contentEnd;
    /** Where the scan of the row at {@link #start} goes on when more data comes, and its CSV state there. */
    private int scanned;

    private boolean inQuote;
    private boolean lastWasEscape;
    /** The line ending of the first row (1 LF, 2 CR, 3 CRLF): PostgreSQL wants every row to end alike. */
    private int lineEnding;

    private int rowEnding;
    private long line;
    private boolean headerPending;
    private byte[] header;
    private boolean ended;
    private final ByteArrayOutputStream field = new ByteArrayOutputStream();

    /**
     * @param keyIndex the 0-based field read as the key, -1 for none
     * @param keyName the key column's name as PostgreSQL resolves it (for messages and CSV's FORCE options)
     */
    public CopyRows(CopyCommand copy, int keyIndex, String keyName) {
        this.copy = copy;
        this.keyIndex = keyIndex;
        this.keyName = keyName;
        boolean csv = copy.format() == Format.CSV && keyName != null;
        this.forceNotNull = csv && copy.forcedNotNull(keyName);
        this.forceNull = csv && copy.forcedNull(keyName);
        this.headerPending = copy.header() && copy.format() != Format.BINARY;
    }

    /** The header line, its line ending included, once read; null when there is none. */
    public byte[] header() {
        return header;
    }

    /** Hands on every row complete in the data fed so far. */
    public void feed(byte[] data, int off, int len, Sink sink) throws SQLException {
        if (ended || len == 0) {
            return;
        }
        if (copy.format() == Format.BINARY) {
            sink.row(data, off, off + len, null, 0);
            return;
        }
        if (start > 0) {
            System.arraycopy(buf, start, buf, 0, limit - start);
            limit -= start;
            scanned -= start;
            start = 0;
        }
        if (limit + len > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(buf.length * 2, limit + len));
        }
        System.arraycopy(data, off, buf, limit, len);
        limit += len;
        rows(false, sink);
    }

    /** At the end of the data: hands on the last row when it has no line ending. */
    public void finish(Sink sink) throws SQLException {
        if (!ended && copy.format() != Format.BINARY) {
            rows(true, sink);
        }
    }

    private void rows(boolean eof, Sink sink) throws SQLException {
        while (!ended && start < limit) {
            int end = copy.format() == Format.CSV ? csvRowEnd(eof) : textRowEnd(eof);
            if (end < 0) {
                return;
            }
            line++;
            if (rowEnding != 0) {
                if (lineEnding == 0) {
                    lineEnding = rowEnding;
                } else if (rowEnding != lineEnding) {
                    throw new SQLException(
                            "COPY line " + line + " ends with " + ENDINGS[rowEnding] + ", the first with "
                                    + ENDINGS[lineEnding] + ": PostgreSQL wants every line to end alike (a line"
                                    + " ending inside a value is written \\n or \\r in text format, or quoted in CSV)",
                            "22P04");
                }
            }
            boolean marker = contentEnd - start == 2
                    && buf[start] == '\\'
                    && buf[start + 1] == '.'
                    // in CSV, as in PostgreSQL 15-17, only when a line ending follows
                    && (copy.format() == Format.TEXT || end > contentEnd);
            if (headerPending) {
                headerPending = false;
                header = Arrays.copyOfRange(buf, start, end);
            } else if (marker) {
                ended = true; // the end-of-data marker: PostgreSQL reads nothing after it
            } else {
                String key = keyIndex < 0
                        ? null
                        : copy.format() == Format.CSV ? csvKey(start, contentEnd) : textKey(start, contentEnd);
                sink.row(buf, start, end, key, line);
            }
            start = end;
            scanned = end;
            inQuote = false;
            lastWasEscape = false;
        }
    }

    private static final String[] ENDINGS = {"", "a newline", "a carriage return", "a carriage return and newline"};

    /** The end of the row at {@code start} (after its line ending), or -1 when more data is needed. */
    private int textRowEnd(boolean eof) throws SQLException {
        for (int i = scanned; i < limit; i++) {
            byte b = buf[i];
            if (b == '\\') {
                if (i + 1 >= limit) {
                    if (!eof) {
                        scanned = i;
                        return -1;
                    }
                } else if (buf[i + 1] == '.') {
                    endMarker(i, eof);
                    if (i + 2 >= limit && !eof) {
                        scanned = i;
                        return -1;
                    }
                }
                i++;
            } else if (b == '\n') {
                return lineFeed(i);
            } else if (b == '\r') {
                return carriageReturn(i, eof);
            }
        }
        return atEof(eof);
    }

    /**
     * {@code \.} at {@code i} of a text row: PostgreSQL ends the data there — what comes before it on its line is a
     * last row, what follows is dropped. The driver takes it alone on its line only, as the end; elsewhere it refuses
     * the data rather than guess.
     */
    private void endMarker(int i, boolean eof) throws SQLException {
        boolean alone = i == start && (i + 2 >= limit ? eof : buf[i + 2] == '\n' || buf[i + 2] == '\r');
        if (!alone && (i != start || i + 2 < limit)) {
            throw new SQLException(
                    "COPY line " + (line + 1) + " holds the end-of-data marker \\. inside a line: PostgreSQL would end"
                            + " the data there; put \\. on a line of its own, or escape the backslash (\\\\.)",
                    "22P04");
        }
    }

    private int csvRowEnd(boolean eof) {
        byte quote = copy.quote();
        // as PostgreSQL: an escape that is the quote is no escape here, a quote toggles (NUL is never in the data)
        byte escape = copy.escape() == quote ? 0 : copy.escape();
        for (int i = scanned; i < limit; i++) {
            byte c = buf[i];
            if (!inQuote) {
                if (c == '\n') {
                    return lineFeed(i);
                }
                if (c == '\r') {
                    int end = carriageReturn(i, eof);
                    if (end < 0) {
                        scanned = i;
                    }
                    return end;
                }
            }
            // as PostgreSQL: an escape counts only inside quotes and right before a quote
            if (inQuote && c == escape) {
                lastWasEscape = !lastWasEscape;
            }
            if (c == quote && !lastWasEscape) {
                inQuote = !inQuote;
            }
            if (c != escape) {
                lastWasEscape = false;
            }
        }
        scanned = limit;
        return atEof(eof);
    }

    private int lineFeed(int i) {
        contentEnd = i;
        rowEnding = 1;
        return i + 1;
    }

    private int carriageReturn(int i, boolean eof) {
        contentEnd = i;
        if (i + 1 < limit) {
            rowEnding = buf[i + 1] == '\n' ? 3 : 2;
            return buf[i + 1] == '\n' ? i + 2 : i + 1;
        }
        if (eof) {
            rowEnding = 2;
            return i + 1;
        }
        scanned = i;
        return -1;
    }

    private int atEof(boolean eof) {
        if (!eof) {
            if (copy.format() == Format.TEXT) {
                scanned = limit;
            }
            return -1;
        }
        contentEnd = limit;
        rowEnding = 0;
        return limit;
    }

    private String textKey(int from, int to) throws SQLException {
        int field = 0;
        int fieldStart = from;
        for (int i = from; i < to; i++) {
            byte b = buf[i];
            if (b == '\\') {
                i++;
                if (i < to && buf[i] == 'x') {
                    // as PostgreSQL: \x takes up to two hex digits, a delimiter A-F among them
                    for (int d = 0; d < 2 && i + 1 < to && Character.digit(buf[i + 1], 16) >= 0; d++) {
                        i++;
                    }
                }
            } else if (b == copy.delimiter()) {
                if (field == keyIndex) {
                    return textValue(fieldStart, i);
                }
                field++;
                fieldStart = i + 1;
            }
        }
        if (field == keyIndex) {
            return textValue(fieldStart, to);
        }
        throw missingKey();
    }

    private SQLException missingKey() {
        return new SQLException(
                "COPY line " + line + " has no field " + (keyIndex + 1) + " (the shard key " + keyName + "): the"
                        + " driver cannot tell which shard the row belongs to",
                "22P04");
    }

    private boolean isNull(int from, int to) {
        byte[] n = copy.nullString();
        return to - from == n.length && Arrays.equals(buf, from, to, n, 0, n.length);
    }

    private String textValue(int from, int to) {
        if (isNull(from, to)) {
            return null;
        }
        field.reset();
        for (int i = from; i < to; i++) {
            byte b = buf[i];
            if (b != '\\') {
                field.write(b);
                continue;
            }
            if (i + 1 >= to) {
                break; // a backslash ending the data: PostgreSQL drops it
            }
            byte c = buf[++i];
            switch (c) {
                case 'b' -> field.write(8);
                case 'f' -> field.write(12);
                case 'n' -> field.write('\n');
                case 'r' -> field.write('\r');
                case 't' -> field.write('\t');
                case 'v' -> field.write(11);
                case 'x' -> {
                    int value = 0;
                    int digits = 0;
                    while (digits < 2 && i + 1 < to && Character.digit(buf[i + 1], 16) >= 0) {
                        value = value * 16 + Character.digit(buf[++i], 16);
                        digits++;
                    }
                    field.write(digits == 0 ? 'x' : value);
                }
                default -> {
                    if (c >= '0' && c <= '7') {
                        int value = c - '0';
                        for (int d = 1; d < 3 && i + 1 < to && buf[i + 1] >= '0' && buf[i + 1] <= '7'; d++) {
                            value = value * 8 + (buf[++i] - '0');
                        }
                        field.write(value & 0xff);
                    } else {
                        field.write(c);
                    }
                }
            }
        }
        return field.toString(StandardCharsets.UTF_8);
    }

    private String csvKey(int from, int to) throws SQLException {
        byte quote = copy.quote();
        byte escape = copy.escape();
        int i = from;
        for (int index = 0; ; index++) {
            int fieldStart = i;
            boolean sawQuote = false;
            field.reset();
            while (i < to && buf[i] != copy.delimiter()) {
                byte c = buf[i];
                if (c != quote) {
                    field.write(c);
                    i++;
                    continue;
                }
                sawQuote = true;
                i++;
                while (true) {
                    if (i >= to) {
                        throw new SQLException("COPY line " + line + ": unterminated CSV quoted field", "22P04");
                    }
                    c = buf[i];
                    if (c == escape && i + 1 < to && (buf[i + 1] == quote || buf[i + 1] == escape)) {
                        field.write(buf[i + 1]);
                        i += 2;
                    } else if (c == quote) {
                        i++;
                        break;
                    } else {
                        field.write(c);
                        i++;
                    }
                }
            }
            if (index == keyIndex) {
                String value = !sawQuote && isNull(fieldStart, i) ? null : field.toString(StandardCharsets.UTF_8);
                // as PostgreSQL applies FORCE_NOT_NULL and FORCE_NULL to a field read
                String nullText = new String(copy.nullString(), StandardCharsets.UTF_8);
                if (value == null && forceNotNull) {
                    return nullText;
                }
                return forceNull && nullText.equals(value) ? null : value;
            }
            if (i >= to) {
                throw missingKey();
            }
            i++; // the delimiter
        }
    }
}
