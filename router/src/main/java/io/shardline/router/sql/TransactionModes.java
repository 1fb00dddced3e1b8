package io.shardline.router.sql;

import io.shardline.router.sql.SqlLexer.Kind;
import io.shardline.router.sql.SqlLexer.Token;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The modes of one transaction, as {@code BEGIN}, {@code START TRANSACTION} and {@code SET TRANSACTION} give them:
 * an isolation level, read-only or read-write, deferrable or not; each null/-1 when not given.
 *
 * @param isolation a {@link Connection} {@code TRANSACTION_*} level, or -1
 */
public record TransactionModes(int isolation, Boolean readOnly, Boolean deferrable) {
    public static final TransactionModes NONE = new TransactionModes(-1, null, null);

    public boolean isEmpty() {
        return isolation < 0 && readOnly == null && deferrable == null;
    }

    /**
     * The modes in {@code tokens} from {@code i} to the end ({@code ISOLATION LEVEL ...}, {@code READ ONLY}, {@code
     * READ WRITE}, {@code [NOT] DEFERRABLE}, separated by commas or not), as PostgreSQL reads them.
     *
     * @throws IllegalArgumentException naming what is not a transaction mode
     */
    static TransactionModes parse(String sql, List<Token> tokens, int i) {
        int isolation = -1;
        Boolean readOnly = null;
        Boolean deferrable = null;
        boolean first = true;
        while (i < tokens.size()) {
            Token t = tokens.get(i);
            if (t.kind() == Kind.SYMBOL && t.text(sql).equals(";") && i == tokens.size() - 1) {
                break;
            }
            if (!first && t.kind() == Kind.SYMBOL && t.text(sql).equals(",")) {
                i++;
                if (i == tokens.size()) {
                    throw new IllegalArgumentException("a transaction mode must follow the comma");
                }
                continue;
            }
            first = false;
            if (t.is("ISOLATION") && word(tokens, i + 1, "LEVEL")) {
                if (word(tokens, i + 2, "SERIALIZABLE")) {
                    isolation = Connection.TRANSACTION_SERIALIZABLE;
                    i += 3;
                } else if (word(tokens, i + 2, "REPEATABLE") && word(tokens, i + 3, "READ")) {
                    isolation = Connection.TRANSACTION_REPEATABLE_READ;
                    i += 4;
                } else if (word(tokens, i + 2, "READ") && word(tokens, i + 3, "COMMITTED")) {
                    isolation = Connection.TRANSACTION_READ_COMMITTED;
                    i += 4;
                } else if (word(tokens, i + 2, "READ") && word(tokens, i + 3, "UNCOMMITTED")) {
                    isolation = Connection.TRANSACTION_READ_UNCOMMITTED;
                    i += 4;
                } else {
                    throw new IllegalArgumentException("not an isolation level: " + rest(sql, tokens, i + 2));
                }
            } else if (t.is("READ") && word(tokens, i + 1, "ONLY")) {
                readOnly = true;
                i += 2;
            } else if (t.is("READ") && word(tokens, i + 1, "WRITE")) {
                readOnly = false;
                i += 2;
            } else if (t.is("DEFERRABLE")) {
                deferrable = true;
                i++;
            } else if (t.is("NOT") && word(tokens, i + 1, "DEFERRABLE")) {
                deferrable = false;
                i += 2;
            } else {
                throw new IllegalArgumentException("not a transaction mode: " + rest(sql, tokens, i));
            }
        }
        return new TransactionModes(isolation, readOnly, deferrable);
    }

    /** The modes as {@link #sql()} wrote them. */
    public static TransactionModes of(String sql) {
        if (sql == null || sql.isEmpty()) {
            return NONE;
        }
        return parse(sql, SqlLexer.tokenize(sql), 0);
    }

    /** The modes as PostgreSQL takes them after {@code SET TRANSACTION} ({@code ""} for none). */
    public String sql() {
        List<String> modes = new ArrayList<>(3);
        if (isolation >= 0) {
            modes.add("ISOLATION LEVEL " + isolationName(isolation));
        }
        if (readOnly != null) {
            modes.add(readOnly ? "READ ONLY" : "READ WRITE");
        }
        if (deferrable != null) {
            modes.add(deferrable ? "DEFERRABLE" : "NOT DEFERRABLE");
        }
        return String.join(", ", modes);
    }

    /** These modes, with those {@code later} gives replacing them. */
    public TransactionModes with(TransactionModes later) {
        return new TransactionModes(
                later.isolation >= 0 ? later.isolation : isolation,
                later.readOnly != null ? later.readOnly : readOnly,
                later.deferrable != null ? later.deferrable : deferrable);
    }

    /** PostgreSQL's name of a {@link Connection} {@code TRANSACTION_*} level. */
    public static String isolationName(int level) {
        return switch (level) {
            case Connection.TRANSACTION_SERIALIZABLE -> "SERIALIZABLE";
            case Connection.TRANSACTION_REPEATABLE_READ -> "REPEATABLE READ";
            case Connection.TRANSACTION_READ_UNCOMMITTED -> "READ UNCOMMITTED";
            default -> "READ COMMITTED";
        };
    }

    /** The {@link Connection} level of a {@code transaction_isolation} value ({@code repeatable read}...). */
    public static int isolationLevel(String value) {
        return switch (value.trim().toLowerCase(Locale.ROOT)) {
            case "serializable" -> Connection.TRANSACTION_SERIALIZABLE;
            case "repeatable read" -> Connection.TRANSACTION_REPEATABLE_READ;
            case "read uncommitted" -> Connection.TRANSACTION_READ_UNCOMMITTED;
            default -> Connection.TRANSACTION_READ_COMMITTED;
        };
    }

    private static boolean word(List<Token> tokens, int i, String w) {
        return i < tokens.size() && tokens.get(i).is(w);
    }

    private static String rest(String sql, List<Token> tokens, int i) {
        return i < tokens.size() ? sql.substring(tokens.get(i).start()).trim() : "(nothing)";
    }
}
