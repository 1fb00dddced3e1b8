package io.shardline.router.sql;

import io.shardline.topology.ShardedTable;
import java.util.List;
import java.util.Map;

/**
 * How a read that no single shard can answer is run: each {@link Source} query runs on every shard, its rows
 * (from all shards) become a common table expression of the final query, and the final query runs on one
 * PostgreSQL node, which computes the answer with PostgreSQL's own semantics.
 *
 * <p>The final text is {@code head + <one CTE per source, comma separated> + separator + body}.
 *
 * @param sources what each shard runs, one CTE each
 * @param head {@code WITH } or {@code WITH RECURSIVE }
 * @param separator {@code ", "} when the statement had CTEs of its own (they follow ours), else {@code " "}
 * @param body the rest of the final query; for {@link #partial} queries it holds {@code {{sum:_sl_aN}}} and
 *     {@code {{label:N}}} marks filled in at run time (see {@link #finalBody})
 * @param bodyParameters the statement's parameter (1-based) behind each {@code ?} of {@link #body}, in order
 * @param partial whether the shards compute partial aggregates (one source, {@code _sl_p}) rather than ship rows
 * @param labelCount the number of {@code {{label:N}}} marks (the statement's select items)
 * @param description what the shards compute, for EXPLAIN ROUTE and errors
 * @param groupedKey the sharded table whose primary key the statement groups by while its rows are shipped (the
 *     shipped rows have no key, so PostgreSQL refuses the table's other columns in the select list), or null
 */
public record CrossShardQuery(
        List<Source> sources,
        String head,
        String separator,
        String body,
        int[] bodyParameters,
        boolean partial,
        int labelCount,
        String description,
        String groupedKey) {

    /**
     * One query run on every shard.
     *
     * @param cteName the CTE its rows become, an SQL identifier as written in the final query
     * @param sql the query each shard runs
     * @param parameters the statement's parameter (1-based) behind each {@code ?} of {@link #sql}, in order
     * @param table the sharded table whose rows it reads (the FROM table of a pushed join)
     * @param keyReference that table's shard key column as the query refers to it ({@code u."user_id"})
     * @param ownedBefore the text of {@link #sql} up to where a predicate keeping the rows a shard owns goes, in a
     *     WHERE that holds {@link #sql}'s own conditions too
     * @param ownedAfter the rest of that text (see {@link #sql(String)})
     * @param rowLimit the most rows a shard returns (its query's constant {@code LIMIT}), or -1 when not bounded
     */
    public record Source(
            String cteName,
            String sql,
            int[] parameters,
            ShardedTable table,
            String keyReference,
            String ownedBefore,
            String ownedAfter,
            long rowLimit) {
        /**
         * The query a shard runs: {@link #sql}, or with {@code owned} (a predicate on the key's hash, without
         * parameters) only the rows it selects — during a shard move, rows on two shards are read once. The
         * predicate is put between the two parts, never searched for in the text (a literal may hold anything).
         */
        public String sql(String owned) {
            return owned == null ? sql : ownedBefore + owned + ownedAfter;
        }
    }

    public CrossShardQuery {
        sources = List.copyOf(sources);
    }

    /**
     * The body with its run-time marks filled: a partial sum of {@code int8} (the sum of int2/int4 values) is
     * cast back to {@code int8}, as PostgreSQL's own {@code sum(int)} returns; each select item takes the label
     * PostgreSQL gives the original statement's column.
     *
     * @param types the type name of each column of the partial rows, by column name
     * @param labels the original statement's column labels, in order
     */
    public String finalBody(Map<String, String> types, List<String> labels) {
        if (!partial) {
            return body;
        }
        StringBuilder out = new StringBuilder(body.length() + 64);
        int i = 0;
        while (i < body.length()) {
            int mark = body.indexOf("{{", i);
            if (mark < 0) {
                out.append(body, i, body.length());
                break;
            }
            int end = body.indexOf("}}", mark);
            out.append(body, i, mark);
            String[] parts = body.substring(mark + 2, end).split(":", 2);
            if (parts[0].equals("sum")) {
                String column = "_sl_p." + parts[1];
                out.append(
                        "int8".equals(types.get(parts[1]))
                                ? "CAST(sum(" + column + ") AS int8)"
                                : "sum(" + column + ")");
            } else {
                out.append(quote(labels.get(Integer.parseInt(parts[1]))));
            }
            i = end + 2;
        }
        return out.toString();
    }

    /** {@code name} as a quoted SQL identifier. */
    public static String quote(String name) {
        return '"' + name.replace("\"", "\"\"") + '"';
    }
}
