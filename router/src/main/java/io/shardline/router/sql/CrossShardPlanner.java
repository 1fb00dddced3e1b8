package io.shardline.router.sql;

import io.shardline.router.sql.SqlLexer.Kind;
import io.shardline.router.sql.SqlLexer.Token;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.ShardedTable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import net.sf.jsqlparser.expression.AnalyticExpression;
import net.sf.jsqlparser.expression.CastExpression;
import net.sf.jsqlparser.expression.Expression;
import net.sf.jsqlparser.expression.Function;
import net.sf.jsqlparser.expression.JdbcParameter;
import net.sf.jsqlparser.expression.LongValue;
import net.sf.jsqlparser.parser.CCJSqlParserUtil;
import net.sf.jsqlparser.schema.Column;
import net.sf.jsqlparser.schema.Table;
import net.sf.jsqlparser.statement.Statement;
import net.sf.jsqlparser.statement.select.AllColumns;
import net.sf.jsqlparser.statement.select.AllTableColumns;
import net.sf.jsqlparser.statement.select.Join;
import net.sf.jsqlparser.statement.select.OrderByElement;
import net.sf.jsqlparser.statement.select.ParenthesedSelect;
import net.sf.jsqlparser.statement.select.PlainSelect;
import net.sf.jsqlparser.statement.select.Select;
import net.sf.jsqlparser.statement.select.SelectItem;
import net.sf.jsqlparser.util.deparser.ExpressionDeParser;

/**
 * Plans a read that no single shard can answer (see {@link CrossShardQuery}). Two shapes:
 *
 * <ul>
 *   <li><b>Partial aggregates</b>: one sharded table, no joins or subqueries, GROUP BY plain expressions,
 *       aggregates among count/sum/avg/min/max/bool_and/bool_or. Each shard groups its rows and returns
 *       count/sum/min/max per group ({@code avg} as sum and count); the final query combines them. A million
 *       rows become a few partial rows per group.
 *   <li><b>Rows</b>, everything else: each sharded table the statement reads is fetched from every shard (with
 *       the WHERE of a single-table query pushed down) and becomes a CTE of the table's own name, so the
 *       statement's text runs unchanged on one node: joins, DISTINCT, window functions, {@code string_agg ...
 *       ORDER BY}, percentiles, UNION, subqueries are PostgreSQL's own.
 * </ul>
 *
 * <p>Examples: {@code SELECT status, count(*), avg(score) FROM users GROUP BY status} (partial);
 * {@code SELECT string_agg(name, ',' ORDER BY name) FROM users WHERE score > 90} (rows, WHERE pushed down).
 */
public final class CrossShardPlanner {
    /** Offset of the fixed index given to each {@code ?}, so deparsed text shows which parameter it is. */
    private static final int MARK = 1_000_000;

    private static final Pattern MARKED = Pattern.compile("\\?(1\\d{6})");
    private static final Set<String> AGGREGATES = Set.of("count", "sum", "avg", "min", "max", "bool_and", "bool_or");
    /** Scalar functions that may wrap combined aggregates or group columns in the final query. */
    private static final Set<String> SCALARS = Set.of(
            "round",
            "trunc",
            "abs",
            "ceil",
            "ceiling",
            "floor",
            "coalesce",
            "nullif",
            "greatest",
            "least",
            "upper",
            "lower",
            "length",
            "concat",
            "sign",
            "sqrt",
            "date_trunc",
            "to_char");

    /**
     * Functions whose every call differs: a WHERE calling one is not pushed to the shards, where it would be
     * evaluated once more than the statement says (the final query evaluates it again).
     */
    private static final Set<String> VOLATILE =
            Set.of("RANDOM", "NEXTVAL", "SETVAL", "CLOCK_TIMESTAMP", "GEN_RANDOM_UUID", "TIMEOFDAY", "TXID_CURRENT");

    /** Words the final query of a partial plan may hold besides names of partial columns and functions. */
    private static final Set<String> KEYWORDS = Set.of(
            "SELECT",
            "DISTINCT",
            "AS",
            "FROM",
            "GROUP",
            "BY",
            "HAVING",
            "ORDER",
            "ASC",
            "DESC",
            "NULLS",
            "FIRST",
            "LAST",
            "LIMIT",
            "OFFSET",
            "ALL",
            "AND",
            "OR",
            "NOT",
            "NULL",
            "TRUE",
            "FALSE",
            "CASE",
            "WHEN",
            "THEN",
            "ELSE",
            "END",
            "IS",
            "IN",
            "BETWEEN",
            "LIKE",
            "ILIKE");

    private final TableNames names;

    public CrossShardPlanner(ClusterTopology topology) {
        this(topology, Catalog.NONE, null);
    }

    /** Resolves unqualified names along {@code path} (null: the connections' default, from {@code catalog}). */
    public CrossShardPlanner(ClusterTopology topology, Catalog catalog, SearchPath path) {
        this.names = new TableNames(topology, catalog, path);
    }

    /**
     * The plan of {@code sql}, a read on sharded tables.
     *
     * @param prepared whether the text comes from a prepared statement (its {@code ?} are placeholders); in a
     *     plain statement a {@code ?} is PostgreSQL's jsonb operator
     * @throws IllegalArgumentException naming the construct when the statement cannot be planned
     */
    public CrossShardQuery plan(String sql, boolean prepared) {
        List<Token> tokens = SqlLexer.tokenize(sql);
        Statement parsed = parse(sql, tokens, prepared);
        if (parsed instanceof Select select && select.getWithItemsList() != null) {
            Set<ShardedTable> read = shardedTables(sql, tokens, new ArrayList<>());
            for (var with : select.getWithItemsList()) {
                String name = SqlNames.fold(with.getAlias().getName());
                for (ShardedTable t : read) {
                    if (t.table().equals(name)) {
                        throw new IllegalArgumentException("the statement defines a CTE named " + name
                                + ", like the sharded table " + t.qualifiedName() + ": rename the CTE");
                    }
                }
            }
        }
        if (parsed instanceof PlainSelect ps && !sql.contains("{{") && !readsOnly(sql, tokens)) {
            CrossShardQuery joined = joinedRows(ps);
            if (joined != null) {
                return joined;
            }
            CrossShardQuery partial = new PartialAggregate(ps).plan();
            if (partial != null) {
                return partial;
            }
        }
        return rows(sql, tokens, prepared, parsed);
    }

    /**
     * Whether the statement reads a table with {@code ONLY} ({@code FROM ONLY t}, {@code JOIN ONLY t}): the parser
     * drops the word when it prints the table, and the shards would read its children too.
     */
    private static boolean readsOnly(String sql, List<Token> tokens) {
        for (int i = 1; i < tokens.size(); i++) {
            Token before = tokens.get(i - 1);
            if (tokens.get(i).is("ONLY")
                    && (before.is("FROM")
                            || before.is("JOIN")
                            || before.text(sql).equals(","))) {
                return true;
            }
        }
        return false;
    }

    /** The statement parsed with each placeholder marked, or null when it cannot be analysed faithfully. */
    private static Statement parse(String sql, List<Token> tokens, boolean prepared) {
        if (!SqlLexer.forParser(sql, tokens).equals(sql)) {
            return null;
        }
        StringBuilder marked = new StringBuilder(sql.length() + 16);
        int copied = 0;
        int index = 0;
        for (Token t : tokens) {
            if (t.kind() == Kind.PARAMETER) {
                if (!prepared) {
                    return null;
                }
                marked.append(sql, copied, t.start()).append('?').append(MARK + ++index);
                copied = t.end();
            }
        }
        marked.append(sql, copied, sql.length());
        try {
            return CCJSqlParserUtil.parse(marked.toString());
        } catch (Exception | StackOverflowError e) {
            return null;
        }
    }

    /** The rows plan: the original text, each sharded table replaced by a CTE of its rows from every shard. */
    private CrossShardQuery rows(String sql, List<Token> tokens, boolean prepared, Statement parsed) {
        List<int[]> qualified = new ArrayList<>();
        Set<ShardedTable> tables = shardedTables(sql, tokens, qualified);
        if (tables.isEmpty()) {
            throw new IllegalArgumentException("the statement reads no sharded table");
        }
        refuseShadowing(sql, tokens, tables, qualified);
        StringBuilder text = new StringBuilder(sql.length());
        int copied = 0;
        int q = 0;
        int parameters = 0;
        for (int i = 0; i < tokens.size(); i++) {
            Token t = tokens.get(i);
            if (q < qualified.size() && qualified.get(q)[0] == i) {
                text.append(sql, copied, t.start());
                text.append(SqlLexer.identifier(sql, tokens.get(i + 2)).transform(CrossShardQuery::quote));
                copied = tokens.get(i + 2).end();
                i += 2;
                q++;
            } else if (t.kind() == Kind.PARAMETER) {
                parameters++;
                if (!prepared) {
                    text.append(sql, copied, t.end()).append('?');
                    copied = t.end();
                }
            }
        }
        text.append(sql, copied, sql.length());
        String rewritten = text.toString().strip();
        while (rewritten.endsWith(";")) {
            rewritten = rewritten.substring(0, rewritten.length() - 1).strip();
        }
        rewritten = withDependentsGrouped(parsed, rewritten);
        String head = "WITH ";
        String separator = " ";
        List<Token> rewrittenTokens = SqlLexer.tokenize(rewritten);
        if (!rewrittenTokens.isEmpty() && rewrittenTokens.get(0).is("WITH")) {
            int after = rewrittenTokens.size() > 1 && rewrittenTokens.get(1).is("RECURSIVE") ? 2 : 1;
            head = rewritten.substring(0, rewrittenTokens.get(after).start());
            rewritten = rewritten.substring(rewrittenTokens.get(after).start());
            separator = ", ";
        }
        int[] bodyParameters = new int[prepared ? parameters : 0];
        for (int i = 0; i < bodyParameters.length; i++) {
            bodyParameters[i] = i + 1;
        }
        PlainSelect block = filteringBlock(parsed, sql, tokens);
        String pushed = block == null ? null : block.getWhere().toString();
        ShardedTable filtered =
                block == null ? null : sharded((Table) block.getFromItem()).orElseThrow();
        List<CrossShardQuery.Source> sources = new ArrayList<>();
        List<String> described = new ArrayList<>();
        for (ShardedTable t : tables) {
            String table = CrossShardQuery.quote(t.schema()) + "." + CrossShardQuery.quote(t.table());
            String shardSql = "SELECT * FROM " + table;
            String ownedBefore = shardSql + " WHERE ";
            String keyReference = table + "." + CrossShardQuery.quote(t.keyColumn());
            int[] shardParameters = new int[0];
            boolean filter = t.equals(filtered);
            if (filter) {
                Marked where = unmark(pushed);
                var alias = block.getFromItem().getAlias();
                // unaliased, the table keeps both its names (users.x and public.users.x, as jOOQ writes them)
                String aliased = alias == null ? "" : " AS " + alias.getName();
                shardSql += aliased + " WHERE " + where.text();
                ownedBefore = "SELECT * FROM " + table + aliased + " WHERE (" + where.text() + ") AND ";
                if (alias != null) {
                    keyReference = alias.getName() + "." + CrossShardQuery.quote(t.keyColumn());
                }
                shardParameters = where.parameters();
            }
            sources.add(new CrossShardQuery.Source(
                    CrossShardQuery.quote(t.table()), shardSql, shardParameters, t, keyReference, ownedBefore, "", -1));
            described.add(t.qualifiedName() + (filter ? " (WHERE pushed down)" : " (every row)"));
        }
        return new CrossShardQuery(
                sources,
                head,
                separator,
                rewritten,
                bodyParameters,
                false,
                0,
                "rows of " + String.join(", ", described),
                groupedPrimaryKey(parsed));
    }

    /**
     * The rows plan ships each sharded table's rows as a CTE named like the table, and writes its schema-qualified
     * references bare: a bare name that the statement gives another relation (an unsharded table of another schema
     * earlier on the search path, another schema's sharded table of the same name) would read those rows instead of
     * its own. Refused rather than answered wrongly.
     *
     * @throws IllegalArgumentException naming the two relations
     */
    private void refuseShadowing(String sql, List<Token> tokens, Set<ShardedTable> tables, List<int[]> qualified) {
        Map<String, ShardedTable> byName = new HashMap<>();
        for (ShardedTable t : tables) {
            ShardedTable same = byName.put(t.table(), t);
            if (same != null) {
                throw new IllegalArgumentException("the statement reads the sharded tables " + same.qualifiedName()
                        + " and " + t.qualifiedName() + ", of the same name, across shards: their rows would meet"
                        + " under one name in the final query; read them in separate statements");
            }
        }
        Set<Integer> aliases = new java.util.HashSet<>();
        for (int[] q : qualified) {
            int next = q[0] + 3;
            aliases.add(StatementAnalyzer.word(tokens, next, "AS") ? next + 1 : next);
        }
        for (int i = 0; i < tokens.size(); i++) {
            Token t = tokens.get(i);
            if ((t.kind() != Kind.WORD && t.kind() != Kind.QUOTED_IDENTIFIER)
                    || i > 0 && tokens.get(i - 1).text(sql).equals(".")
                    || i + 1 < tokens.size() && tokens.get(i + 1).text(sql).equals(".")
                    || aliases.contains(i)
                    || i > 0 && tokens.get(i - 1).is("AS")) {
                continue;
            }
            String name = SqlLexer.identifier(sql, t);
            ShardedTable shipped = byName.get(name);
            if (shipped != null && !names.sharded(null, name).equals(Optional.of(shipped))) {
                throw new IllegalArgumentException("the statement reads the sharded table " + shipped.qualifiedName()
                        + " across shards and also names " + name + ", which is not that table here (the search"
                        + " path gives it another relation): the final query would read the sharded rows under both"
                        + " names; read them in separate statements, or rename one");
            }
        }
    }

    /** Words that end a GROUP BY list at the statement's top level. */
    private static final Set<String> AFTER_GROUP_BY =
            Set.of("HAVING", "WINDOW", "ORDER", "LIMIT", "OFFSET", "FETCH", "FOR", "UNION", "INTERSECT", "EXCEPT");

    /**
     * {@code body} with the top-level GROUP BY of a sharded table's whole primary key extended by that table's other
     * columns the select list, HAVING and ORDER BY name: PostgreSQL lets a table's primary key stand for its other
     * columns (what ORMs write: Hibernate groups by an entity's id and selects its columns), but the rows the shards
     * ship become a CTE, which has no key. Columns that depend on the key form the same groups. Unchanged when
     * nothing is to add or the GROUP BY cannot be found in the text.
     */
    private String withDependentsGrouped(Statement parsed, String body) {
        Table table = groupedPrimaryKeyTable(parsed);
        if (table == null) {
            return body;
        }
        PlainSelect ps = (PlainSelect) parsed;
        ShardedTable sharded = sharded(table).orElseThrow();
        if (!names.primaryKey(sharded).contains(sharded.keyColumn())) {
            return body; // a key without the shard key is not unique across shards: its groups may merge rows
        }
        Set<String> columns = new java.util.LinkedHashSet<>();
        columns.addAll(names.columns(sharded)); // as the catalog names them: what a reference folds to
        String reference = referenceName(table);
        Set<String> grouped = new java.util.HashSet<>();
        for (Object o : ps.getGroupBy().getGroupByExpressionList()) {
            if (o instanceof Column c) {
                grouped.add(SqlNames.fold(c.getColumnName()));
            }
        }
        Set<String> dependents = new java.util.LinkedHashSet<>();
        ExpressionDeParser collector = new ExpressionDeParser() {
            @Override
            public <S> StringBuilder visit(Column column, S context) {
                String name = SqlNames.fold(column.getColumnName());
                boolean ours = column.getTable() == null
                        || column.getTable().getName() == null
                        || SqlNames.fold(column.getTable().getName()).equals(reference);
                if (ours && columns.contains(name) && !grouped.contains(name)) {
                    dependents.add(name);
                }
                return super.visit(column, context);
            }
        };
        for (SelectItem<?> item : ps.getSelectItems()) {
            if (item.getExpression() instanceof AllColumns || item.getExpression() instanceof AllTableColumns) {
                columns.stream().filter(c -> !grouped.contains(c)).forEach(dependents::add);
            } else {
                item.getExpression().accept(collector, null);
            }
        }
        if (ps.getHaving() != null) {
            ps.getHaving().accept(collector, null);
        }
        if (ps.getOrderByElements() != null) {
            for (OrderByElement o : ps.getOrderByElements()) {
                o.getExpression().accept(collector, null);
            }
        }
        if (dependents.isEmpty()) {
            return body;
        }
        List<Token> tokens = SqlLexer.tokenize(body);
        int end = -1;
        for (int i = 0; i + 1 < tokens.size(); i++) {
            if (tokens.get(i).depth() == 0
                    && tokens.get(i).is("GROUP")
                    && tokens.get(i + 1).is("BY")) {
                end = tokens.get(i + 1).end();
                for (int j = i + 2; j < tokens.size(); j++) {
                    Token t = tokens.get(j);
                    if (t.depth() == 0
                            && ((t.kind() == Kind.WORD && AFTER_GROUP_BY.contains(t.upper()))
                                    || t.text(body).equals(")"))) {
                        break;
                    }
                    end = t.end();
                }
                break;
            }
        }
        if (end < 0) {
            return body;
        }
        StringBuilder added = new StringBuilder();
        String qualifier = table.getAlias() != null ? table.getAlias().getName() : table.getName();
        for (String column : dependents) {
            added.append(", ").append(qualifier).append('.').append(CrossShardQuery.quote(column));
        }
        return body.substring(0, end) + added + body.substring(end);
    }

    /**
     * The sharded table (qualified name) whose whole primary key the block's GROUP BY holds, as plain columns, or
     * null: in the rows plan, where its shipped rows have no key, PostgreSQL then refuses its other columns in the
     * select list (42803), which it allows on the table itself.
     */
    private String groupedPrimaryKey(Statement parsed) {
        Table table = groupedPrimaryKeyTable(parsed);
        return table == null ? null : sharded(table).orElseThrow().qualifiedName();
    }

    /** The table of {@link #groupedPrimaryKey}, as the statement names it, or null. */
    private Table groupedPrimaryKeyTable(Statement parsed) {
        if (!(parsed instanceof PlainSelect ps)
                || ps.getGroupBy() == null
                || ps.getGroupBy().getGroupByExpressionList() == null) {
            return null;
        }
        List<Table> tables = new ArrayList<>();
        if (ps.getFromItem() instanceof Table from) {
            tables.add(from);
        }
        for (Join j : ps.getJoins() == null ? List.<Join>of() : ps.getJoins()) {
            if (j.getRightItem() instanceof Table right) {
                tables.add(right);
            }
        }
        for (Table table : tables) {
            Optional<ShardedTable> t = sharded(table);
            List<String> key = t.isEmpty() ? List.of() : names.primaryKey(t.get());
            Set<String> grouped = new java.util.HashSet<>();
            for (Object o : ps.getGroupBy().getGroupByExpressionList()) {
                if (o instanceof Column c
                        && (c.getTable() == null
                                || SqlNames.fold(c.getTable().getName()).equals(referenceName(table)))) {
                    grouped.add(SqlNames.fold(c.getColumnName()));
                }
            }
            if (!key.isEmpty() && grouped.containsAll(key)) {
                return table;
            }
        }
        return null;
    }

    /**
     * The SELECT block whose WHERE may filter each shard's rows of the sharded table it reads alone, or null: the
     * statement itself, or the subquery in its FROM (nested the same way: {@code SELECT count(0) FROM (SELECT ...
     * FROM orders WHERE ...) tmp_count}, as PageHelper and jOOQ's {@code fetchCount} write), when that table is
     * named nowhere else in the statement (a scalar subquery over it elsewhere needs all its rows) and the WHERE
     * has no subquery and no volatile function. A subquery in FROM sees no column of the blocks around it (LATERAL
     * aside), so its WHERE reads that table's rows only.
     */
    private PlainSelect filteringBlock(Statement parsed, String sql, List<Token> tokens) {
        if (!(parsed instanceof PlainSelect block) || block.getWithItemsList() != null) {
            return null;
        }
        while (block.getFromItem() instanceof ParenthesedSelect derived
                && (block.getJoins() == null || block.getJoins().isEmpty())
                && derived.getSelect() instanceof PlainSelect inner
                && inner.getWithItemsList() == null
                && !(derived instanceof net.sf.jsqlparser.statement.select.LateralSubSelect)) {
            block = inner;
        }
        if (block.getWhere() == null
                || block.getJoins() != null && !block.getJoins().isEmpty()
                || !(block.getFromItem() instanceof Table table)
                || sharded(table).isEmpty()
                || named(sql, tokens, sharded(table).get()) != 1) {
            return null;
        }
        return SqlLexer.tokenize(block.getWhere().toString()).stream()
                        .anyMatch(t -> t.is("SELECT") || t.upper() != null && VOLATILE.contains(t.upper()))
                ? null
                : block;
    }

    /** How many times the tokens name {@code table} (a column of that name counts too). */
    private int named(String sql, List<Token> tokens, ShardedTable table) {
        int count = 0;
        for (int i = 0; i < tokens.size(); i++) {
            Token t = tokens.get(i);
            if ((t.kind() == Kind.WORD || t.kind() == Kind.QUOTED_IDENTIFIER)
                    && SqlLexer.identifier(sql, t).equals(table.table())) {
                count++;
            }
        }
        return count;
    }

    /** Every sharded table the tokens name; {@code qualified} gets the token index of each schema-qualified one. */
    private Set<ShardedTable> shardedTables(String sql, List<Token> tokens, List<int[]> qualified) {
        Set<ShardedTable> found = new LinkedHashSet<>();
        for (int i = 0; i < tokens.size(); i++) {
            Token t = tokens.get(i);
            if (t.kind() != Kind.WORD && t.kind() != Kind.QUOTED_IDENTIFIER) {
                continue;
            }
            boolean dotBefore = i > 0 && tokens.get(i - 1).text(sql).equals(".");
            if (dotBefore) {
                continue;
            }
            if (i + 2 < tokens.size() && tokens.get(i + 1).text(sql).equals(".")) {
                Token name = tokens.get(i + 2);
                Optional<ShardedTable> table =
                        names.sharded(SqlLexer.identifier(sql, t), SqlLexer.identifier(sql, name));
                if (table.isPresent()) {
                    found.add(table.get());
                    qualified.add(new int[] {i});
                }
                continue;
            }
            names.sharded(null, SqlLexer.identifier(sql, t)).ifPresent(found::add);
        }
        return found;
    }

    private Optional<ShardedTable> sharded(Table table) {
        return names.sharded(
                table.getSchemaName() == null ? null : SqlNames.fold(table.getSchemaName()),
                SqlNames.fold(table.getName()));
    }

    private Optional<io.shardline.topology.ReferenceTable> reference(Table table) {
        return names.reference(
                table.getSchemaName() == null ? null : SqlNames.fold(table.getSchemaName()),
                SqlNames.fold(table.getName()));
    }

    /** Deparsed text with its marked placeholders turned back into {@code ?}, and which parameter each is. */
    record Marked(String text, int[] parameters) {}

    static Marked unmark(String deparsed) {
        Matcher m = MARKED.matcher(deparsed);
        StringBuilder out = new StringBuilder(deparsed.length());
        List<Integer> parameters = new ArrayList<>();
        while (m.find()) {
            parameters.add(Integer.parseInt(m.group(1)) - MARK);
            m.appendReplacement(out, "?");
        }
        m.appendTail(out);
        return new Marked(
                out.toString(), parameters.stream().mapToInt(Integer::intValue).toArray());
    }

    /**
     * Functions a pushed join's select list and ORDER BY may call: they compute on each row alone, the same on
     * every shard (no aggregates, no clocks, no randomness).
     */
    private static final Set<String> ROW_FUNCTIONS = Set.of(
            "lower",
            "upper",
            "coalesce",
            "nullif",
            "length",
            "char_length",
            "substr",
            "substring",
            "trim",
            "btrim",
            "ltrim",
            "rtrim",
            "abs",
            "round",
            "trunc",
            "floor",
            "ceil",
            "ceiling",
            "date_trunc",
            "date_part",
            "extract",
            "concat",
            "concat_ws",
            "greatest",
            "least",
            "to_char",
            "replace",
            "left",
            "right",
            "md5",
            "cast",
            "position",
            "split_part",
            "lpad",
            "rpad",
            "mod",
            "power",
            "sqrt",
            "sign",
            "initcap",
            "reverse");

    /** Aggregates a block grouped by its shard key ({@link #groupsByKey}) may compute on each shard. */
    private static final Set<String> GROUP_AGGREGATES = Set.of(
            "count",
            "sum",
            "avg",
            "min",
            "max",
            "bool_and",
            "bool_or",
            "every",
            "bit_and",
            "bit_or",
            "string_agg",
            "array_agg",
            "json_agg",
            "jsonb_agg",
            "json_object_agg",
            "jsonb_object_agg",
            "stddev",
            "stddev_pop",
            "stddev_samp",
            "variance",
            "var_pop",
            "var_samp",
            "percentile_cont",
            "percentile_disc",
            "mode");

    /**
     * The pushed-rows plan: one block reading a sharded table, or joining sharded tables on their shard keys ({@link
     * #colocated}), without aggregation, runs on each shard whole — its select list, WHERE, DISTINCT, and ORDER BY
     * with LIMIT (each shard's first rows) — so only its result rows are shipped; the final query orders,
     * de-duplicates and limits them. Null when the block has another shape, or its select list or ORDER BY calls a
     * function not known to work row by row.
     */
    private CrossShardQuery joinedRows(PlainSelect select) {
        boolean grouped = select.getGroupBy() != null;
        if (!(select.getFromItem() instanceof Table table)
                || !colocated(select)
                || select.getWithItemsList() != null
                || !limitable(select)
                || grouped && !groupsByKey(select)
                || select.getHaving() != null
                        && (!grouped || !rowByRow(select.getHaving().toString(), true))
                || select.getDistinct() != null && select.getDistinct().getOnSelectItems() != null
                || select.getForUpdateTable() != null
                || select.getForMode() != null
                || select.getIntoTables() != null
                || select.getWindowDefinitions() != null
                || select.getQualify() != null
                || select.getLimit() != null && select.getLimit().getOffset() != null
                || !colocatedWhere(select)
                || hasSubquery(joins(select))) {
            return null;
        }
        List<String> itemTexts = new ArrayList<>();
        // each output column's name: its alias, or an unaliased column's own name (two of one name: ambiguous)
        List<String> outputs = new ArrayList<>();
        for (SelectItem<?> item : select.getSelectItems()) {
            if (item.getExpression() instanceof AllColumns all) {
                List<String[]> columns = star(select, all);
                if (columns == null) {
                    return null;
                }
                for (String[] column : columns) {
                    itemTexts.add(column[0]);
                    outputs.add(column[1]);
                }
                continue;
            }
            if (!rowByRow(item.getExpression().toString(), grouped) || rowValued(item.getExpression())) {
                return null;
            }
            itemTexts.add(item.getExpression().toString());
            outputs.add(
                    item.getAlias() != null
                            ? SqlNames.fold(item.getAlias().getName())
                            : item.getExpression() instanceof Column c ? SqlNames.fold(c.getColumnName()) : null);
        }
        Map<String, Integer> aliases = new LinkedHashMap<>();
        for (int i = 0; i < outputs.size(); i++) {
            String output = outputs.get(i);
            if (output != null && aliases.putIfAbsent(output, i + 1) != null) {
                aliases.put(output, -1);
            }
        }
        boolean distinct = select.getDistinct() != null;
        StringBuilder shard = new StringBuilder(distinct ? "SELECT DISTINCT " : "SELECT ");
        StringBuilder body = new StringBuilder(distinct ? "SELECT DISTINCT " : "SELECT ");
        for (int i = 0; i < itemTexts.size(); i++) {
            shard.append(i == 0 ? "" : ", ")
                    .append(itemTexts.get(i))
                    .append(" AS _sl_c")
                    .append(i + 1);
            body.append(i == 0 ? "" : ", ")
                    .append("_sl_p._sl_c")
                    .append(i + 1)
                    .append(" AS {{label:")
                    .append(i)
                    .append("}}");
        }
        StringBuilder shardOrder = new StringBuilder();
        StringBuilder finalOrder = new StringBuilder();
        if (select.getOrderByElements() != null) {
            int hidden = 0;
            for (OrderByElement o : select.getOrderByElements()) {
                Expression e = o.getExpression();
                Integer column = null;
                if (e instanceof LongValue position
                        && position.getValue() >= 1
                        && position.getValue() <= itemTexts.size()) {
                    column = (int) position.getValue();
                } else if (e instanceof Column c && c.getTable() == null) {
                    // PostgreSQL reads a bare name as an output column first, then as an input column: an input
                    // column only when every output column's name is known (an alias, a column, a star's)
                    column = aliases.get(SqlNames.fold(c.getColumnName()));
                    if (column == null ? outputs.contains(null) : column < 0) {
                        return null;
                    }
                }
                if (column == null && itemTexts.contains(e.toString())) {
                    column = itemTexts.indexOf(e.toString()) + 1;
                }
                if (e instanceof LongValue && column == null
                        || !rowByRow(e.toString(), grouped)
                        || rowValued(e)
                        || collates(e.toString())
                        || column != null && collates(itemTexts.get(column - 1))) {
                    // a collation would be lost on the final query's copy of the column
                    return null;
                }
                String direction = (o.isAsc() ? "" : " DESC")
                        + (o.getNullOrdering() == null
                                ? ""
                                : o.getNullOrdering() == OrderByElement.NullOrdering.NULLS_FIRST
                                        ? " NULLS FIRST"
                                        : " NULLS LAST");
                String finalColumn;
                String shardExpression;
                if (column != null) {
                    finalColumn = "_sl_p._sl_c" + column;
                    // the output column by its name: a constant item's text would read as a position
                    shardExpression = "_sl_c" + column;
                } else {
                    if (distinct) {
                        return null; // PostgreSQL wants a DISTINCT's ORDER BY in its select list
                    }
                    hidden++;
                    shard.append(", ").append(e).append(" AS _sl_o").append(hidden);
                    finalColumn = "_sl_p._sl_o" + hidden;
                    shardExpression = "_sl_o" + hidden;
                }
                shardOrder
                        .append(shardOrder.length() == 0 ? " ORDER BY " : ", ")
                        .append(shardExpression)
                        .append(direction);
                finalOrder
                        .append(finalOrder.length() == 0 ? " ORDER BY " : ", ")
                        .append(finalColumn)
                        .append(direction);
            }
        }
        shard.append(" FROM ").append(table).append(joins(select));
        StringBuilder tail = new StringBuilder();
        if (grouped) {
            tail.append(" GROUP BY ");
            List<?> groupBy = select.getGroupBy().getGroupByExpressionList();
            for (int g = 0; g < groupBy.size(); g++) {
                tail.append(g == 0 ? "" : ", ").append(groupBy.get(g));
            }
            if (select.getHaving() != null) {
                tail.append(" HAVING ").append(select.getHaving());
            }
        }
        body.append(" FROM _sl_p").append(finalOrder);
        // FETCH FIRST n ROWS ONLY is LIMIT n
        Expression count = select.getFetch() != null
                ? select.getFetch().getExpression()
                : select.getLimit() == null ? null : select.getLimit().getRowCount();
        if (select.getLimit() != null || select.getFetch() != null) {
            body.append(" LIMIT ").append(count == null ? "ALL" : count);
        }
        Expression skip = select.getOffset() == null ? null : select.getOffset().getOffset();
        if (skip != null) {
            body.append(" OFFSET ").append(skip);
        }
        // each shard's first rows in that order are all the final query can take
        long rowLimit = -1;
        if (count instanceof LongValue n && (skip == null || skip instanceof LongValue)) {
            try {
                long first = Math.addExact(n.getValue(), skip == null ? 0 : ((LongValue) skip).getValue());
                tail.append(shardOrder).append(" LIMIT ").append(first);
                rowLimit = first;
            } catch (ArithmeticException tooMany) {
                // past any table's size: every row, as without a LIMIT
            }
        } else if ((count instanceof LongValue || count instanceof JdbcParameter)
                && (skip == null || skip instanceof LongValue || skip instanceof JdbcParameter)) {
            // a placeholder (a page size): each shard's first LIMIT + OFFSET rows, counted by PostgreSQL — a NULL
            // LIMIT is none (LEAST skips it), a NULL or negative OFFSET none here (the final query refuses the
            // latter as PostgreSQL does), a sum past int8 every row
            tail.append(shardOrder)
                    .append(" LIMIT CAST(LEAST(CAST(")
                    .append(count)
                    .append(" AS numeric)");
            if (skip != null) {
                tail.append(" + GREATEST(COALESCE(CAST(").append(skip).append(" AS numeric), 0), 0)");
            }
            tail.append(", 9223372036854775807) AS int8)");
        }
        ShardedTable t = sharded(table).orElseThrow();
        return onEachShard(
                select,
                table,
                t,
                shard.toString(),
                tail.toString(),
                rowLimit,
                unmark(body.toString()),
                itemTexts.size(),
                "rows of " + t.qualifiedName() + joined(select)
                        + (select.getJoins() == null || select.getJoins().isEmpty()
                                ? ", selected on each shard"
                                : ", joined on each shard")
                        + (grouped ? ", grouped there by its shard key" : ""));
    }

    /**
     * Whether the block groups by plain expressions (no grouping sets) one of which is its FROM table's shard key, or
     * the key of a sharded table inner-joined on it ({@link #colocated}): every group's rows then have one key and
     * are all on that key's shard, so each shard computes its groups whole — any aggregate, HAVING, and the columns
     * a primary key in the GROUP BY lets the select list name. A name in the GROUP BY that an output column is
     * called too is refused: the shards' select list renames its output columns.
     */
    private boolean groupsByKey(PlainSelect select) {
        var groupBy = select.getGroupBy();
        if (groupBy.getGroupingSets() != null && !groupBy.getGroupingSets().isEmpty()
                || groupBy.getGroupByExpressionList() == null
                || !colocated(select)) {
            return false;
        }
        Table from = (Table) select.getFromItem();
        if (sharded(from).isEmpty()) {
            return false;
        }
        Map<String, ShardedTable> holders = new LinkedHashMap<>();
        holders.put(referenceName(from), sharded(from).get());
        List<Join> joins = select.getJoins() == null ? List.of() : select.getJoins();
        for (Join j : joins) {
            if (j.getRightItem() instanceof Table right
                    && !j.isLeft()
                    && !j.isOuter()
                    && !j.isSimple()
                    && sharded(right).isPresent()) {
                holders.put(referenceName(right), sharded(right).get());
            }
        }
        boolean key = false;
        for (Object o : groupBy.getGroupByExpressionList()) {
            Expression e = (Expression) o;
            if (e instanceof net.sf.jsqlparser.expression.operators.relational.ExpressionList<?>
                    || e instanceof Function f
                            && Set.of("rollup", "cube", "grouping").contains(SqlNames.fold(f.getName()))
                    || !rowByRow(e.toString(), false)) {
                return false;
            }
            if (e instanceof LongValue ordinal) {
                if (ordinal.getValue() < 1
                        || ordinal.getValue() > select.getSelectItems().size()) {
                    return false;
                }
                e = select.getSelectItems().get((int) ordinal.getValue() - 1).getExpression();
            } else if (e instanceof Column c && c.getTable() == null) {
                for (SelectItem<?> item : select.getSelectItems()) {
                    if (item.getAlias() != null
                            && SqlNames.fold(item.getAlias().getName()).equals(SqlNames.fold(c.getColumnName()))) {
                        return false;
                    }
                }
            }
            if (e instanceof Column c) {
                if (c.getTable() == null) {
                    key |= joins.isEmpty()
                            && SqlNames.fold(c.getColumnName())
                                    .equals(holders.get(referenceName(from)).keyColumn());
                } else if (c.getTable().getSchemaName() == null) {
                    ShardedTable holder = holders.get(SqlNames.fold(c.getTable().getName()));
                    key |= holder != null && SqlNames.fold(c.getColumnName()).equals(holder.keyColumn());
                }
            }
        }
        return key;
    }

    /**
     * The columns a {@code *} or {@code t.*} of a pushed block stands for, each as {@code {reference."column",
     * column}} in the table's column order (read from the catalog), or null when that cannot be told here: a
     * reference table's, a join {@code USING} or {@code NATURAL} (whose {@code *} shows the join column once), an
     * unreadable catalog.
     */
    private List<String[]> star(PlainSelect select, AllColumns all) {
        if (all.getExceptColumns() != null || all.getReplaceExpressions() != null) {
            return null;
        }
        List<Table> tables = new ArrayList<>();
        tables.add((Table) select.getFromItem());
        for (Join j : select.getJoins() == null ? List.<Join>of() : select.getJoins()) {
            if (!(j.getRightItem() instanceof Table right)
                    || j.isNatural()
                    || j.getUsingColumns() != null && !j.getUsingColumns().isEmpty()) {
                return null;
            }
            tables.add(right);
        }
        if (all instanceof AllTableColumns named) {
            if (named.getTable().getSchemaName() != null) {
                return null;
            }
            String name = SqlNames.fold(named.getTable().getName());
            tables = tables.stream().filter(t -> referenceName(t).equals(name)).toList();
            if (tables.size() != 1) {
                return null;
            }
        }
        List<String[]> columns = new ArrayList<>();
        for (Table t : tables) {
            Optional<ShardedTable> sharded = sharded(t);
            if (sharded.isEmpty()) {
                return null;
            }
            if (t.getAlias() != null && t.getAlias().getAliasColumns() != null) {
                return null; // its columns are renamed
            }
            String reference = t.getAlias() != null ? t.getAlias().getName() : t.getFullyQualifiedName();
            try {
                for (String column : names.columns(sharded.get())) {
                    columns.add(new String[] {reference + "." + CrossShardQuery.quote(column), column});
                }
            } catch (RuntimeException unknown) {
                return null;
            }
        }
        return columns;
    }

    /**
     * Whether the block's row limit, if any, is a {@code LIMIT} or a {@code FETCH FIRST n ROWS ONLY} (which is one):
     * not {@code WITH TIES}, not both.
     */
    private static boolean limitable(PlainSelect select) {
        return select.getFetch() == null
                || select.getLimit() == null
                        && select.getFetch().getExpression() != null
                        && !select.getFetch()
                                .toString()
                                .toUpperCase(Locale.ROOT)
                                .contains("TIES");
    }

    /** Whether {@code expression} names a collation. */
    private static boolean collates(String expression) {
        return SqlLexer.tokenize(expression).stream().anyMatch(t -> t.is("COLLATE"));
    }

    /**
     * A plan whose one source ({@code _sl_p}) runs {@code head} (up to and with the block's FROM and joins), the
     * block's WHERE, and {@code tail} on each shard — with, during a move, the predicate keeping the rows a shard
     * owns added to that WHERE on the FROM table's key (the preserved side of every join allowed) — and whose final
     * query, with {@code {{label:N}}} marks, combines the rows. Each part's placeholders are numbered in order.
     * {@code rowLimit}: the most rows {@code tail}'s constant LIMIT lets a shard return, -1 when none does.
     */
    private static CrossShardQuery onEachShard(
            PlainSelect select,
            Table table,
            ShardedTable t,
            String head,
            String tail,
            long rowLimit,
            Marked finalSql,
            int labels,
            String description) {
        Marked h = unmark(head);
        Marked w = select.getWhere() == null ? null : unmark(select.getWhere().toString());
        Marked r = unmark(tail);
        String where = w == null ? "" : " WHERE " + w.text();
        String ownedWhere = w == null ? " WHERE " : " WHERE (" + w.text() + ") AND ";
        int[] parameters = java.util.stream.IntStream.concat(
                        java.util.stream.IntStream.concat(
                                java.util.Arrays.stream(h.parameters()),
                                w == null
                                        ? java.util.stream.IntStream.empty()
                                        : java.util.Arrays.stream(w.parameters())),
                        java.util.Arrays.stream(r.parameters()))
                .toArray();
        String reference = table.getAlias() != null ? table.getAlias().getName() : table.getFullyQualifiedName();
        return new CrossShardQuery(
                List.of(new CrossShardQuery.Source(
                        "_sl_p",
                        h.text() + where + r.text(),
                        parameters,
                        t,
                        reference + "." + CrossShardQuery.quote(t.keyColumn()),
                        h.text() + ownedWhere,
                        r.text(),
                        rowLimit)),
                "WITH ",
                " ",
                finalSql.text(),
                finalSql.parameters(),
                true,
                labels,
                description,
                null);
    }

    /**
     * Whether {@code e} holds a row value ({@code (a, b)}, {@code ROW(a, b)}) outside an {@code IN} list: a shard's
     * column of type {@code record} cannot be shipped (PostgreSQL has no input for anonymous records).
     */
    private static boolean rowValued(Expression e) {
        boolean[] found = {false};
        e.accept(
                new net.sf.jsqlparser.expression.ExpressionVisitorAdapter<Void>() {
                    @Override
                    public <S> Void visit(
                            net.sf.jsqlparser.expression.operators.relational.ExpressionList<? extends Expression> list,
                            S context) {
                        if (list instanceof net.sf.jsqlparser.expression.operators.relational.ParenthesedExpressionList
                                && list.size() > 1) {
                            found[0] = true;
                        }
                        return super.visit(list, context);
                    }

                    @Override
                    public <S> Void visit(
                            net.sf.jsqlparser.expression.RowConstructor<? extends Expression> row, S context) {
                        found[0] = true;
                        return null;
                    }

                    @Override
                    public <S> Void visit(Function function, S context) {
                        // f((a, b)) is read as f's arguments in parentheses; ROW(a, b) as a function
                        if (function.getParameters()
                                                instanceof
                                                net.sf.jsqlparser.expression.operators.relational
                                                                        .ParenthesedExpressionList<
                                                                ?>
                                                        list
                                        && list.size() > 1
                                || SqlNames.fold(function.getName()).equals("row")) {
                            found[0] = true;
                        }
                        return super.visit(function, context);
                    }

                    @Override
                    public <S> Void visit(
                            net.sf.jsqlparser.expression.operators.relational.InExpression in, S context) {
                        in.getLeftExpression().accept(this, context);
                        return null;
                    }
                },
                null);
        return found[0];
    }

    /**
     * Whether every function {@code expression} calls is one of {@link #ROW_FUNCTIONS}, or of {@link
     * #GROUP_AGGREGATES} when {@code grouped} (with their {@code FILTER} and {@code WITHIN GROUP}), and it has no
     * subquery.
     */
    private static boolean rowByRow(String expression, boolean grouped) {
        List<Token> tokens = SqlLexer.tokenize(expression);
        for (int i = 0; i < tokens.size(); i++) {
            Token t = tokens.get(i);
            if (t.is("SELECT")
                    || t.is("OVER")
                    || !grouped && (t.is("FILTER") || t.is("WITHIN"))
                    || t.is("CURRENT_TIMESTAMP")
                    || t.is("CURRENT_DATE")
                    || t.is("CURRENT_TIME")
                    || t.is("LOCALTIME")
                    || t.is("LOCALTIMESTAMP")) {
                // subqueries, aggregates' clauses, and clocks each shard reads differently
                return false;
            }
            boolean call = (t.kind() == Kind.WORD || t.kind() == Kind.QUOTED_IDENTIFIER)
                    && i + 1 < tokens.size()
                    && tokens.get(i + 1).text(expression).equals("(");
            if (!call) {
                continue;
            }
            if (i >= 2
                    && tokens.get(i - 1).text(expression).equals(".")
                    && !SqlLexer.identifier(expression, tokens.get(i - 2)).equals("pg_catalog")) {
                // a function of another schema is not the built-in its name says
                return false;
            }
            String name = SqlLexer.identifier(expression, t);
            boolean known = ROW_FUNCTIONS.contains(name) || grouped && GROUP_AGGREGATES.contains(name);
            boolean syntax = t.is("CASE")
                    || t.is("IN")
                    || t.is("AND")
                    || t.is("OR")
                    || t.is("NOT")
                    || t.is("ARRAY")
                    || grouped && (t.is("FILTER") || t.is("WITHIN") || t.is("GROUP"));
            if (!known && !syntax) {
                return false;
            }
        }
        return true;
    }

    /** Whether {@code sql} holds a subquery. */
    private static boolean hasSubquery(String sql) {
        return SqlLexer.tokenize(sql).stream().anyMatch(t -> t.is("SELECT"));
    }

    /** The block's joins as written, each after a space, a comma join after a comma ("" without joins). */
    private static String joins(PlainSelect select) {
        StringBuilder text = new StringBuilder();
        if (select.getJoins() != null) {
            for (Join j : select.getJoins()) {
                text.append(j.isSimple() ? ", " : " ").append(j);
            }
        }
        return text.toString();
    }

    /** " joined on their keys with t2, t3" for a block with joins, for descriptions. */
    private String joined(PlainSelect select) {
        if (select.getJoins() == null || select.getJoins().isEmpty()) {
            return "";
        }
        List<String> others = new ArrayList<>();
        List<String> references = new ArrayList<>();
        for (Join j : select.getJoins()) {
            Table right = (Table) j.getRightItem();
            Optional<ShardedTable> t = sharded(right);
            if (t.isPresent()) {
                others.add(t.get().qualifiedName());
            } else {
                references.add(reference(right).orElseThrow().qualifiedName());
            }
        }
        return (others.isEmpty() ? "" : " joined on their shard keys with " + String.join(", ", others))
                + (references.isEmpty()
                        ? ""
                        : " joined with the reference table" + (references.size() > 1 ? "s " : " ")
                                + String.join(", ", references) + " (every shard holds it)");
    }

    /**
     * Whether every join of the block (none is fine) is an inner or left join of a sharded table whose ON has, among
     * its top-level AND conditions, its shard key equal to the shard key of a sharded table joined before (or
     * {@code USING} its key column, the FROM table's key of the same name): the joined rows of each key are then
     * all on that key's shard, so each shard can join its own rows. A left join keeps the FROM side's rows, which is
     * what limits a shard's part to the rows it owns during a move. A reference table may be joined too, on any
     * condition, by an inner, cross, comma or left join (never right or full: its rows unmatched on each shard would
     * come once per shard): every shard holds all of its rows.
     */
    private boolean colocated(PlainSelect select) {
        return select.getJoins() == null || select.getJoins().isEmpty() || colocatedTables(select) != null;
    }

    /**
     * The block's sharded tables by the name they are referred to (FROM table first) when its joins are co-located
     * ({@link #colocated}), else null.
     */
    private Map<String, ShardedTable> colocatedTables(PlainSelect select) {
        if (!(select.getFromItem() instanceof Table from)) {
            return null;
        }
        Map<String, ShardedTable> seen = new LinkedHashMap<>();
        Optional<ShardedTable> first = sharded(from);
        if (first.isEmpty()) {
            return null;
        }
        seen.put(referenceName(from), first.get());
        java.util.Set<String> references = new java.util.HashSet<>();
        List<Join> joins = select.getJoins() == null ? List.of() : select.getJoins();
        boolean comma = false;
        for (Join j : joins) {
            if (comma && !j.isSimple()) {
                // "FROM a, r JOIN b ..." joins b to r, not to a: the key conditions below would be misread
                return null;
            }
            if (j.getRightItem() instanceof Table right
                    && sharded(right).isEmpty()
                    && reference(right).isPresent()) {
                if (j.isFull() || j.isRight() || j.isSemi() || j.isApply() || j.isStraight()) {
                    return null;
                }
                comma |= j.isSimple();
                String name = referenceName(right);
                if (seen.containsKey(name) || !references.add(name)) {
                    return null;
                }
                continue;
            }
            if (j.isSimple()
                    || j.isCross()
                    || j.isNatural()
                    || j.isFull()
                    || j.isRight()
                    || j.isSemi()
                    || j.isApply()
                    || j.isStraight()
                    || !(j.getRightItem() instanceof Table right)) {
                return null;
            }
            Optional<ShardedTable> joined = sharded(right);
            String name = referenceName(right);
            if (joined.isEmpty() || seen.containsKey(name) || references.contains(name)) {
                return null;
            }
            boolean keyed = false;
            if (j.getUsingColumns() != null && !j.getUsingColumns().isEmpty()) {
                for (Column c : j.getUsingColumns()) {
                    String column = SqlNames.fold(c.getColumnName());
                    keyed |= seen.size() == 1
                            && column.equals(joined.get().keyColumn())
                            && column.equals(first.get().keyColumn())
                            && joined.get().keyType() == first.get().keyType();
                }
            } else if (j.getOnExpressions() != null) {
                for (Expression on : j.getOnExpressions()) {
                    for (Expression condition : conjuncts(on)) {
                        keyed |= keysEqual(condition, name, joined.get(), seen);
                    }
                }
            }
            if (!keyed) {
                return null;
            }
            seen.put(name, joined.get());
        }
        return seen;
    }

    /**
     * Whether the block's WHERE reads other sharded tables only through subqueries each shard can answer for its
     * own rows: {@code [NOT] EXISTS (SELECT ... FROM t x WHERE x.key = outer.key ...)} anywhere, and {@code
     * outer.key IN (SELECT x.key FROM t x ...)} as a top-level AND condition (NOT IN is not: a NULL key on another
     * shard would change it) — each over one sharded table, correlated on (or selecting) its shard key equal to an
     * outer table's, without subqueries of its own, and an IN's without LIMIT/OFFSET. The rows they read for an
     * outer row all have that row's key, so they are on its shard.
     */
    private boolean colocatedWhere(PlainSelect select) {
        if (select.getWhere() == null || !hasSubquery(select.getWhere().toString())) {
            return true;
        }
        Map<String, ShardedTable> outer = colocatedTables(select);
        if (outer == null) {
            return false;
        }
        for (Expression condition : conjuncts(select.getWhere())) {
            if (!hasSubquery(condition.toString())) {
                continue;
            }
            boolean ok;
            if (condition instanceof net.sf.jsqlparser.expression.operators.relational.InExpression in) {
                ok = !in.isNot()
                        && in.getLeftExpression() instanceof Column left
                        && in.getRightExpression() instanceof ParenthesedSelect ps
                        && keyedIn(left, ps, outer);
            } else {
                ok = existsOnly(condition, outer);
            }
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    /** Whether every subquery in {@code e} is a co-located [NOT] EXISTS, under AND/OR/NOT/parentheses only. */
    private boolean existsOnly(Expression e, Map<String, ShardedTable> outer) {
        if (!hasSubquery(e.toString())) {
            return true;
        }
        if (e instanceof net.sf.jsqlparser.expression.operators.conditional.AndExpression and) {
            return existsOnly(and.getLeftExpression(), outer) && existsOnly(and.getRightExpression(), outer);
        }
        if (e instanceof net.sf.jsqlparser.expression.operators.conditional.OrExpression or) {
            return existsOnly(or.getLeftExpression(), outer) && existsOnly(or.getRightExpression(), outer);
        }
        if (e instanceof net.sf.jsqlparser.expression.NotExpression not) {
            return existsOnly(not.getExpression(), outer);
        }
        if (e instanceof net.sf.jsqlparser.expression.Parenthesis p) {
            return existsOnly(p.getExpression(), outer);
        }
        if (e instanceof net.sf.jsqlparser.expression.operators.relational.ExistsExpression exists
                && exists.getRightExpression() instanceof ParenthesedSelect ps
                && ps.getSelect() instanceof PlainSelect sub) {
            Table table = subqueryTable(sub);
            if (table == null || outer.containsKey(referenceName(table))) {
                // a name shadowing an outer one would make its "correlation" compare the inner table with itself
                return false;
            }
            String name = referenceName(table);
            ShardedTable t = sharded(table).orElseThrow();
            for (Expression condition : conjuncts(sub.getWhere())) {
                if (condition instanceof net.sf.jsqlparser.expression.operators.relational.EqualsTo eq
                        && eq.getLeftExpression() instanceof Column a
                        && eq.getRightExpression() instanceof Column b
                        && (keyPair(a, b, name, t, outer) || keyPair(b, a, name, t, outer))) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Whether {@code left IN (sub)} selects, from one sharded table, its key, with {@code left} an outer key. */
    private boolean keyedIn(Column left, ParenthesedSelect ps, Map<String, ShardedTable> outer) {
        if (!(ps.getSelect() instanceof PlainSelect sub)
                || sub.getLimit() != null
                || sub.getOffset() != null
                || sub.getFetch() != null
                || sub.getDistinct() != null && sub.getDistinct().getOnSelectItems() != null
                || sub.getSelectItems().size() != 1
                || !(sub.getSelectItems().get(0).getExpression() instanceof Column selected)
                || left.getTable() == null) {
            return false;
        }
        Table table = subqueryTable(sub);
        if (table == null || outer.containsKey(referenceName(table))) {
            return false;
        }
        ShardedTable t = sharded(table).orElseThrow();
        ShardedTable o = outer.get(SqlNames.fold(left.getTable().getName()));
        boolean selectsKey = SqlNames.fold(selected.getColumnName()).equals(t.keyColumn())
                && (selected.getTable() == null
                        || SqlNames.fold(selected.getTable().getName()).equals(referenceName(table)));
        return o != null
                && left.getTable().getSchemaName() == null
                && SqlNames.fold(left.getColumnName()).equals(o.keyColumn())
                && selectsKey
                && o.keyType() == t.keyType();
    }

    /** A subquery's one sharded table, when it reads just that (no joins, no subqueries, no window), else null. */
    private Table subqueryTable(PlainSelect sub) {
        if (!(sub.getFromItem() instanceof Table table)
                || sharded(table).isEmpty()
                || sub.getJoins() != null && !sub.getJoins().isEmpty()
                || sub.getWithItemsList() != null
                || sub.getWindowDefinitions() != null
                || hasSubquery(sub.getSelectItems().toString())
                || sub.getWhere() != null && hasSubquery(sub.getWhere().toString())
                || sub.getHaving() != null && hasSubquery(sub.getHaving().toString())
                || SqlLexer.tokenize(sub.toString()).stream().anyMatch(t -> t.is("OVER"))) {
            return null;
        }
        return table;
    }

    /** The name a FROM item is referred to by: its alias, else its table name (folded). */
    private static String referenceName(Table t) {
        return SqlNames.fold(t.getAlias() != null ? t.getAlias().getName() : t.getName());
    }

    private static List<Expression> conjuncts(Expression e) {
        List<Expression> out = new ArrayList<>();
        if (e instanceof net.sf.jsqlparser.expression.operators.conditional.AndExpression and) {
            out.addAll(conjuncts(and.getLeftExpression()));
            out.addAll(conjuncts(and.getRightExpression()));
        } else if (e instanceof net.sf.jsqlparser.expression.Parenthesis p) {
            out.addAll(conjuncts(p.getExpression()));
        } else {
            out.add(e);
        }
        return out;
    }

    /** Whether {@code condition} is {@code name.key = other.key} with {@code other} one of {@code seen}. */
    private static boolean keysEqual(
            Expression condition, String name, ShardedTable table, Map<String, ShardedTable> seen) {
        if (!(condition instanceof net.sf.jsqlparser.expression.operators.relational.EqualsTo eq)
                || !(eq.getLeftExpression() instanceof Column a)
                || !(eq.getRightExpression() instanceof Column b)) {
            return false;
        }
        return keyPair(a, b, name, table, seen) || keyPair(b, a, name, table, seen);
    }

    private static boolean keyPair(
            Column mine, Column other, String name, ShardedTable table, Map<String, ShardedTable> seen) {
        if (mine.getTable() == null
                || other.getTable() == null
                || mine.getTable().getSchemaName() != null
                || other.getTable().getSchemaName() != null) {
            return false;
        }
        ShardedTable otherTable = seen.get(SqlNames.fold(other.getTable().getName()));
        return SqlNames.fold(mine.getTable().getName()).equals(name)
                && SqlNames.fold(mine.getColumnName()).equals(table.keyColumn())
                && otherTable != null
                && SqlNames.fold(other.getColumnName()).equals(otherTable.keyColumn())
                && otherTable.keyType() == table.keyType();
    }

    /** The partial-aggregate plan of one SELECT block, or null when it does not have that shape. */
    private final class PartialAggregate {
        private final PlainSelect select;
        private final Map<String, Integer> groups = new LinkedHashMap<>();
        private final Map<String, Integer> partials = new LinkedHashMap<>();
        private final List<String> partialExpressions = new ArrayList<>();
        private boolean unsupported;
        private boolean aggregates;

        PartialAggregate(PlainSelect select) {
            this.select = select;
        }

        CrossShardQuery plan() {
            if (!(select.getFromItem() instanceof Table table)
                    || sharded(table).isEmpty()
                    || !colocated(select)
                    || select.getWithItemsList() != null
                    || select.getDistinct() != null && select.getDistinct().getOnSelectItems() != null
                    || !limitable(select)
                    || select.getForUpdateTable() != null
                    || select.getForMode() != null
                    || select.getIntoTables() != null
                    || select.getWindowDefinitions() != null
                    || select.getQualify() != null
                    || select.getGroupBy() != null
                            && (select.getGroupBy().getGroupingSets() != null
                                    && !select.getGroupBy().getGroupingSets().isEmpty())) {
                return null;
            }
            if (!colocatedWhere(select) || hasSubquery(joins(select))) {
                return null;
            }
            List<Expression> groupBy = new ArrayList<>();
            if (select.getGroupBy() != null) {
                for (Object o : select.getGroupBy().getGroupByExpressionList()) {
                    Expression e = groupExpression((Expression) o);
                    if (e == null) {
                        return null;
                    }
                    groupBy.add(e);
                    groups.putIfAbsent(e.toString(), groups.size() + 1);
                }
            }
            StringBuilder body = new StringBuilder("SELECT ");
            if (select.getDistinct() != null) {
                body.append("DISTINCT ");
            }
            List<SelectItem<?>> items = select.getSelectItems();
            for (int i = 0; i < items.size(); i++) {
                SelectItem<?> item = items.get(i);
                if (item.getExpression() instanceof AllColumns || item.getExpression() instanceof AllTableColumns) {
                    return null;
                }
                body.append(i == 0 ? "" : ", ").append(combined(item.getExpression()));
                body.append(" AS {{label:").append(i).append("}}");
            }
            body.append(" FROM _sl_p");
            if (!groups.isEmpty()) {
                body.append(" GROUP BY ");
                for (int g = 1; g <= groups.size(); g++) {
                    body.append(g == 1 ? "" : ", ").append("_sl_p._sl_g").append(g);
                }
            }
            if (select.getHaving() != null) {
                body.append(" HAVING ").append(combined(select.getHaving()));
            }
            if (select.getOrderByElements() != null) {
                body.append(" ORDER BY ");
                List<OrderByElement> order = select.getOrderByElements();
                for (int i = 0; i < order.size(); i++) {
                    OrderByElement o = order.get(i);
                    Expression e = o.getExpression();
                    body.append(i == 0 ? "" : ", ");
                    if (e instanceof LongValue
                            || e instanceof Column c && c.getTable() == null && !groups.containsKey(c.toString())) {
                        body.append(e);
                    } else {
                        body.append(combined(e));
                    }
                    body.append(o.isAsc() ? "" : " DESC");
                    if (o.getNullOrdering() != null) {
                        body.append(
                                o.getNullOrdering() == OrderByElement.NullOrdering.NULLS_FIRST
                                        ? " NULLS FIRST"
                                        : " NULLS LAST");
                    }
                }
            }
            if (select.getLimit() != null) {
                if (select.getLimit().getOffset() != null) {
                    return null;
                }
                body.append(" LIMIT ")
                        .append(
                                select.getLimit().getRowCount() == null
                                        ? "ALL"
                                        : select.getLimit().getRowCount());
            }
            if (select.getFetch() != null) {
                body.append(" LIMIT ").append(select.getFetch().getExpression());
            }
            if (select.getOffset() != null) {
                body.append(" OFFSET ").append(select.getOffset().getOffset());
            }
            Set<String> aliases = new java.util.HashSet<>();
            for (SelectItem<?> item : items) {
                if (item.getAlias() != null) {
                    aliases.add(SqlNames.fold(item.getAlias().getName()));
                }
            }
            if (unsupported
                    || !aggregates && groups.isEmpty()
                    || !onlyPartials(body.toString(), aliases)
                    || groupBy.stream().anyMatch(g -> collates(g.toString()))) {
                // a group's collation would be lost on its copy, which the final query groups and orders
                return null;
            }
            StringBuilder shard = new StringBuilder("SELECT ");
            int column = 0;
            for (Expression g : groupBy) {
                shard.append(column++ == 0 ? "" : ", ")
                        .append(g)
                        .append(" AS _sl_g")
                        .append(groups.get(g.toString()));
            }
            for (int p = 0; p < partialExpressions.size(); p++) {
                shard.append(column++ == 0 ? "" : ", ")
                        .append(partialExpressions.get(p))
                        .append(" AS _sl_a")
                        .append(p + 1);
            }
            shard.append(" FROM ").append(table).append(joins(select));
            StringBuilder tail = new StringBuilder();
            if (!groupBy.isEmpty()) {
                tail.append(" GROUP BY ");
                for (int g = 0; g < groupBy.size(); g++) {
                    tail.append(g == 0 ? "" : ", ").append(groupBy.get(g));
                }
            }
            ShardedTable t = sharded(table).orElseThrow();
            return onEachShard(
                    select,
                    table,
                    t,
                    shard.toString(),
                    tail.toString(),
                    -1,
                    unmark(body.toString()),
                    items.size(),
                    "partial aggregates of " + t.qualifiedName() + joined(select) + " (" + partialExpressions.size()
                            + " per group, " + groups.size() + " group column(s))");
        }

        /**
         * Whether the final query reads nothing but the partial rows: every name in it is a partial column, a
         * function, a keyword, an alias (also an output column named in ORDER BY) or a type. A column of the table left in it (an expression the rewrite
         * did not reach) sends the statement to the rows plan.
         */
        private static boolean onlyPartials(String marked, Set<String> aliases) {
            String body = marked.replaceAll("\\{\\{label:\\d+}}", "\"l\"").replaceAll("\\{\\{sum:(\\w+)}}", "sum($1)");
            List<Token> tokens = SqlLexer.tokenize(body);
            for (int i = 0; i < tokens.size(); i++) {
                Token t = tokens.get(i);
                if (t.kind() != Kind.WORD && t.kind() != Kind.QUOTED_IDENTIFIER) {
                    continue;
                }
                String text = t.text(body).toLowerCase(Locale.ROOT);
                String before = i == 0 ? "" : tokens.get(i - 1).text(body);
                boolean call =
                        i + 1 < tokens.size() && tokens.get(i + 1).text(body).equals("(");
                if (!text.startsWith("_sl_")
                        && !call
                        && !aliases.contains(SqlLexer.identifier(body, t))
                        && !before.equalsIgnoreCase("AS")
                        && !before.equals("::")
                        && !(t.kind() == Kind.WORD && KEYWORDS.contains(t.upper()))) {
                    return false;
                }
            }
            return true;
        }

        /** A GROUP BY item as an expression: ordinals resolved; null when a name could be an output alias. */
        private Expression groupExpression(Expression e) {
            if (e instanceof LongValue ordinal) {
                long n = ordinal.getValue();
                if (n < 1 || n > select.getSelectItems().size()) {
                    return null;
                }
                Expression item = select.getSelectItems().get((int) n - 1).getExpression();
                return item instanceof LongValue ? item : groupExpression(item);
            }
            if (e instanceof net.sf.jsqlparser.expression.operators.relational.ExpressionList<?>
                    || e instanceof Function f
                            && Set.of("rollup", "cube", "grouping").contains(SqlNames.fold(f.getName()))
                    || SqlLexer.tokenize(e.toString()).stream().anyMatch(t -> t.kind() == SqlLexer.Kind.PARAMETER)) {
                // ROLLUP (...), CUBE (...), () and (a, b) read as grouping sets; a placeholder written twice (in the
                // shards' select list and GROUP BY) would be two parameters PostgreSQL cannot tell equal
                return null;
            }
            if (e instanceof Column c && c.getTable() == null) {
                for (SelectItem<?> item : select.getSelectItems()) {
                    if (item.getAlias() != null
                            && SqlNames.fold(item.getAlias().getName()).equals(SqlNames.fold(c.getColumnName()))
                            && !item.getExpression().toString().equals(c.toString())) {
                        return null;
                    }
                }
            }
            return e;
        }

        /** {@code e} over the partial rows: group expressions become their columns, aggregates their combination. */
        private String combined(Expression e) {
            StringBuilder out = new StringBuilder();
            ExpressionDeParser deparser = new ExpressionDeParser() {
                @Override
                public <S> StringBuilder visit(Column column, S context) {
                    if (!group(column)) {
                        unsupported = true;
                        getBuilder().append(column);
                    }
                    return getBuilder();
                }

                @Override
                public <S> StringBuilder visit(CastExpression cast, S context) {
                    return group(cast) ? getBuilder() : super.visit(cast, context);
                }

                @Override
                public <S> StringBuilder visit(Function function, S context) {
                    if (group(function)) {
                        return getBuilder();
                    }
                    String name = function.getName().toLowerCase(Locale.ROOT);
                    if (AGGREGATES.contains(name)) {
                        getBuilder().append(aggregate(function, name));
                        return getBuilder();
                    }
                    if (!SCALARS.contains(name) || function.getMultipartName().size() > 1) {
                        unsupported = true;
                    }
                    return super.visit(function, context);
                }

                @Override
                public <S> StringBuilder visit(AnalyticExpression analytic, S context) {
                    unsupported = true;
                    return getBuilder().append(analytic);
                }

                @Override
                public <S> StringBuilder visit(ParenthesedSelect subquery, S context) {
                    unsupported = true;
                    return getBuilder().append(subquery);
                }

                @Override
                public <S> StringBuilder visit(Select subquery, S context) {
                    unsupported = true;
                    return getBuilder().append(subquery);
                }

                private boolean group(Expression x) {
                    Integer g = groups.get(x.toString());
                    if (g != null) {
                        getBuilder().append("_sl_p._sl_g").append(g);
                    }
                    return g != null;
                }
            };
            deparser.setBuilder(out);
            e.accept(deparser, null);
            return out.toString();
        }

        /** The combination of an aggregate's partial values; registers the partials the shards compute. */
        private String aggregate(Function f, String name) {
            aggregates = true;
            var args = f.getParameters();
            int count = args == null ? 0 : args.size();
            // JSqlParser marks count(ALL x), ALL being the default, as "all columns": x is still its argument
            boolean star = f.isAllColumns() && count == 0;
            if (f.isDistinct() && name.equals("count") && count == 1 && shardKey(args.get(0))) {
                // each key value is on one shard: the shards' distinct keys are apart, their counts add up
                return "CAST(sum(" + partial("count(DISTINCT " + args.get(0) + ")") + ") AS int8)";
            }
            if (f.isDistinct()
                    || f.isUnique()
                    || f.getOrderByElements() != null
                    || f.getMultipartName().size() > 1
                    || f.getKeep() != null
                    || (star ? !name.equals("count") : count != 1)) {
                unsupported = true;
                return f.toString();
            }
            String arg = star ? "*" : args.get(0).toString();
            if (SqlLexer.tokenize(arg).stream()
                    .anyMatch(t -> t.is("SELECT") || (t.is("COLLATE") && !name.equals("count")))) {
                // a collation would be lost on the partial results' copy, which the final min/max compares
                unsupported = true;
            }
            return switch (name) {
                case "count" -> "CAST(sum(" + partial("count(" + arg + ")") + ") AS int8)";
                case "sum" -> "{{sum:" + partial("sum(" + arg + ")").substring(6) + "}}";
                case "avg" ->
                    "(sum(" + partial("sum(" + arg + ")") + ") / NULLIF(sum(" + partial("count(" + arg + ")")
                            + "), 0))";
                default -> name + "(" + partial(name + "(" + arg + ")") + ")";
            };
        }

        /**
         * Whether {@code e} is the shard key of one of the block's sharded tables (joined on their keys, so a key
         * value's rows are all on its shard): qualified by the table's name, or alone in a block without joins.
         */
        private boolean shardKey(Expression e) {
            if (!(e instanceof Column c)) {
                return false;
            }
            Map<String, ShardedTable> tables = colocatedTables(select);
            if (tables == null) {
                return false;
            }
            if (c.getTable() == null) {
                return (select.getJoins() == null || select.getJoins().isEmpty())
                        && SqlNames.fold(c.getColumnName())
                                .equals(tables.values().iterator().next().keyColumn());
            }
            ShardedTable t = c.getTable().getSchemaName() == null
                    ? tables.get(SqlNames.fold(c.getTable().getName()))
                    : null;
            return t != null && SqlNames.fold(c.getColumnName()).equals(t.keyColumn());
        }

        private String partial(String expression) {
            Integer n = partials.get(expression);
            if (n == null) {
                partialExpressions.add(expression);
                n = partialExpressions.size();
                partials.put(expression, n);
            }
            return "_sl_p._sl_a" + n;
        }
    }
}
