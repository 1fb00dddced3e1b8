package io.shardline.router.sql;

import io.shardline.router.sql.SqlLexer.Kind;
import io.shardline.router.sql.SqlLexer.Token;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code VALUES} rows of an {@code INSERT} and the text around them, so that each shard can be sent the rows
 * whose keys it holds: {@code INSERT INTO t (a, b) VALUES (?, ?), (?, ?) ON CONFLICT DO NOTHING} becomes one
 * statement per shard with its rows only, and the parameters of those rows, in order.
 */
public final class InsertRows {
    private final String sql;
    /** Where each row's parenthesis opens and where it closes (after the closing one). */
    private final List<int[]> rows;
    /** The first parameter (1-based) of each row, and one more entry: the first parameter after the rows. */
    private final int[] firstParameter;

    private final int parameters;

    private InsertRows(String sql, List<int[]> rows, int[] firstParameter, int parameters) {
        this.sql = sql;
        this.rows = rows;
        this.firstParameter = firstParameter;
        this.parameters = parameters;
    }

    /**
     * The rows of {@code sql}, an {@code INSERT ... VALUES} statement (not led by {@code WITH}), or null when its
     * top-level {@code VALUES} list cannot be found.
     *
     * @param placeholders whether {@code ?} tokens are parameters (a prepared statement) or operators
     */
    public static InsertRows of(String sql, boolean placeholders) {
        List<Token> tokens = SqlLexer.tokenize(sql);
        if (tokens.isEmpty() || !tokens.get(0).is("INSERT")) {
            return null;
        }
        int i = 0;
        while (i < tokens.size()
                && !(tokens.get(i).depth() == 0 && tokens.get(i).is("VALUES"))) {
            i++;
        }
        List<int[]> rows = new ArrayList<>();
        List<Integer> firsts = new ArrayList<>();
        int parameter = 1;
        int next = 0;
        for (i++;
                i < tokens.size()
                        && symbol(sql, tokens.get(i), '(')
                        && tokens.get(i).depth() == 0; ) {
            int open = i;
            for (; next < open; next++) {
                parameter += placeholders && tokens.get(next).kind() == Kind.PARAMETER ? 1 : 0;
            }
            firsts.add(parameter);
            int close = open + 1;
            while (close < tokens.size()
                    && !(symbol(sql, tokens.get(close), ')')
                            && tokens.get(close).depth() == 0)) {
                close++;
            }
            if (close == tokens.size()) {
                return null;
            }
            rows.add(new int[] {tokens.get(open).start(), tokens.get(close).end()});
            i = close + 1;
            if (i < tokens.size()
                    && symbol(sql, tokens.get(i), ',')
                    && tokens.get(i).depth() == 0) {
                i++;
                if (i == tokens.size() || !symbol(sql, tokens.get(i), '(')) {
                    return null;
                }
            } else {
                break;
            }
        }
        if (rows.isEmpty()) {
            return null;
        }
        for (; next < i; next++) {
            parameter += placeholders && tokens.get(next).kind() == Kind.PARAMETER ? 1 : 0;
        }
        firsts.add(parameter);
        int total = parameter - 1;
        for (; next < tokens.size(); next++) {
            total += placeholders && tokens.get(next).kind() == Kind.PARAMETER ? 1 : 0;
        }
        return new InsertRows(
                sql, rows, firsts.stream().mapToInt(Integer::intValue).toArray(), total);
    }

    private static boolean symbol(String sql, Token t, char c) {
        return t.kind() == Kind.SYMBOL && t.end() - t.start() == 1 && sql.charAt(t.start()) == c;
    }

    /** How many rows the statement inserts. */
    public int size() {
        return rows.size();
    }

    /** The statement inserting only rows {@code which} (ascending indexes), with the text before and after them. */
    public String sql(List<Integer> which) {
        StringBuilder text = new StringBuilder(sql.length()).append(sql, 0, rows.get(0)[0]);
        for (int k = 0; k < which.size(); k++) {
            int[] row = rows.get(which.get(k));
            text.append(k == 0 ? "" : ", ").append(sql, row[0], row[1]);
        }
        return text.append(sql, rows.get(rows.size() - 1)[1], sql.length()).toString();
    }

    /**
     * The original parameters (1-based) of the statement {@link #sql(List)} makes for rows {@code which}, in the
     * order its placeholders stand: those before the rows, each row's, those after them.
     */
    public List<Integer> parameters(List<Integer> which) {
        List<Integer> originals = new ArrayList<>();
        for (int p = 1; p < firstParameter[0]; p++) {
            originals.add(p);
        }
        for (int row : which) {
            for (int p = firstParameter[row]; p < firstParameter[row + 1]; p++) {
                originals.add(p);
            }
        }
        for (int p = firstParameter[rows.size()]; p <= parameters; p++) {
            originals.add(p);
        }
        return originals;
    }
}
