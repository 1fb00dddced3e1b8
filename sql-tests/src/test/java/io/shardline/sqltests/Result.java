package io.shardline.sqltests;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * What one statement produced, as text (PostgreSQL's own output format, so both sides compare exactly): the
 * column labels and rows, or an update count, or an error's SQLState.
 */
record Result(List<String> columns, List<List<String>> rows, long updateCount, String sqlState, String error) {

    static Result error(String sqlState, String message) {
        return new Result(List.of(), List.of(), -1, sqlState, message);
    }

    /** Rows sorted, for results whose order SQL leaves open. */
    Result unordered() {
        List<List<String>> sorted = new ArrayList<>(rows);
        sorted.sort(Comparator.comparing(Object::toString));
        return new Result(columns, sorted, updateCount, sqlState, error);
    }

    /** For comparison: the error message may differ in detail (node names), the SQLState must not. */
    Result comparable() {
        return new Result(columns, rows, updateCount, sqlState, null);
    }

    @Override
    public String toString() {
        if (sqlState != null) {
            return "error " + sqlState + ": " + error;
        }
        if (columns.isEmpty()) {
            return "update count " + updateCount;
        }
        return columns + " " + rows.size() + " row(s): " + (rows.size() > 10 ? rows.subList(0, 10) + "..." : rows);
    }
}
