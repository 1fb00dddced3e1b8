package io.shardline.router.sql;

import io.shardline.router.sql.SqlLexer.Kind;
import io.shardline.router.sql.SqlLexer.Token;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.KeyType;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.ShardedTable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import net.sf.jsqlparser.expression.Alias;
import net.sf.jsqlparser.expression.CastExpression;
import net.sf.jsqlparser.expression.Expression;
import net.sf.jsqlparser.expression.JdbcParameter;
import net.sf.jsqlparser.expression.LongValue;
import net.sf.jsqlparser.expression.NullValue;
import net.sf.jsqlparser.expression.RowConstructor;
import net.sf.jsqlparser.expression.SignedExpression;
import net.sf.jsqlparser.expression.StringValue;
import net.sf.jsqlparser.expression.operators.conditional.AndExpression;
import net.sf.jsqlparser.expression.operators.relational.EqualsTo;
import net.sf.jsqlparser.expression.operators.relational.ExistsExpression;
import net.sf.jsqlparser.expression.operators.relational.ExpressionList;
import net.sf.jsqlparser.expression.operators.relational.InExpression;
import net.sf.jsqlparser.expression.operators.relational.ParenthesedExpressionList;
import net.sf.jsqlparser.parser.CCJSqlParserUtil;
import net.sf.jsqlparser.parser.ParseException;
import net.sf.jsqlparser.schema.Column;
import net.sf.jsqlparser.schema.Table;
import net.sf.jsqlparser.statement.Statement;
import net.sf.jsqlparser.statement.delete.Delete;
import net.sf.jsqlparser.statement.delete.ParenthesedDelete;
import net.sf.jsqlparser.statement.insert.Insert;
import net.sf.jsqlparser.statement.insert.ParenthesedInsert;
import net.sf.jsqlparser.statement.merge.Merge;
import net.sf.jsqlparser.statement.merge.MergeDelete;
import net.sf.jsqlparser.statement.merge.MergeInsert;
import net.sf.jsqlparser.statement.merge.MergeOperation;
import net.sf.jsqlparser.statement.merge.MergeSide;
import net.sf.jsqlparser.statement.merge.MergeUpdate;
import net.sf.jsqlparser.statement.select.AllColumns;
import net.sf.jsqlparser.statement.select.AllTableColumns;
import net.sf.jsqlparser.statement.select.ExceptOp;
import net.sf.jsqlparser.statement.select.FromItem;
import net.sf.jsqlparser.statement.select.IntersectOp;
import net.sf.jsqlparser.statement.select.Join;
import net.sf.jsqlparser.statement.select.MinusOp;
import net.sf.jsqlparser.statement.select.ParenthesedFromItem;
import net.sf.jsqlparser.statement.select.ParenthesedSelect;
import net.sf.jsqlparser.statement.select.PlainSelect;
import net.sf.jsqlparser.statement.select.Select;
import net.sf.jsqlparser.statement.select.SelectItem;
import net.sf.jsqlparser.statement.select.SetOperationList;
import net.sf.jsqlparser.statement.select.Values;
import net.sf.jsqlparser.statement.select.WithItem;
import net.sf.jsqlparser.statement.update.ParenthesedUpdate;
import net.sf.jsqlparser.statement.update.Update;
import net.sf.jsqlparser.statement.update.UpdateSet;
import net.sf.jsqlparser.util.TablesNamesFinder;

/**
 * Turns SQL text into a {@link Plan}: the lexer dispatches transaction, session, utility and DDL statements
 * by their keywords; JSqlParser classifies DML and finds the shard key.
 *
 * <p>The key is taken only from top-level {@code AND} conjuncts of {@code WHERE} (and of inner-join
 * {@code ON}), as {@code key = value}, {@code value = key} or {@code key IN (values)}, casts unwrapped.
 * {@code OR}, {@code NOT}, {@code key + 1}, {@code <>}, {@code IS NULL} or a key inside a subquery give no
 * key: a statement on a sharded table without one is refused, never sent to a guessed shard. Examples with
 * {@code users} sharded by {@code user_id}:
 *
 * <pre>
 * SELECT * FROM users WHERE user_id = ?                      KEYED on parameter 1
 * SELECT * FROM users WHERE user_id = 1 OR user_id = 2       REFUSED (no key in an OR)
 * SELECT * FROM users u JOIN orders o ON o.user_id = u.user_id WHERE u.user_id = ?   KEYED (co-located join)
 * SELECT count(*) FROM users                                 REFUSED (cross-shard reads need Calcite)
 * </pre>
 *
 * <p>Thread-safe: parsing runs on the caller's thread with no shared state.
 */
public final class StatementAnalyzer {
    private static final Set<String> CATALOG_SCHEMAS = Set.of("pg_catalog", "information_schema");
    /** Functions whose call makes a SELECT a write: it must run on the primary. */
    private static final Set<String> WRITING_FUNCTIONS = Set.of(
            "NEXTVAL",
            "SETVAL",
            "CURRVAL",
            "LASTVAL",
            "SET_CONFIG",
            "TXID_CURRENT",
            "PG_CURRENT_XACT_ID",
            "PG_ADVISORY_LOCK",
            "PG_ADVISORY_XACT_LOCK",
            "PG_TRY_ADVISORY_LOCK",
            "PG_TRY_ADVISORY_XACT_LOCK",
            "PG_ADVISORY_UNLOCK",
            "PG_ADVISORY_UNLOCK_ALL",
            "PG_NOTIFY",
            "LO_CREATE",
            "LO_IMPORT",
            "LO_UNLINK");
    /** Functions whose call may leave state in the session beyond the statement (see {@link Plan#sessionEffects}). */
    private static final Set<String> SESSION_FUNCTIONS = Set.of(
            "SET_CONFIG",
            "PG_ADVISORY_LOCK",
            "PG_ADVISORY_LOCK_SHARED",
            "PG_TRY_ADVISORY_LOCK",
            "PG_TRY_ADVISORY_LOCK_SHARED",
            "LO_OPEN",
            "DBLINK_CONNECT",
            "DBLINK_CONNECT_U");
    /** Objects every shard needs (sharded tables may use them): their DDL goes to every primary. */
    private static final Set<String> SHARED_OBJECTS = Set.of(
            "SCHEMA",
            "TYPE",
            "DOMAIN",
            "EXTENSION",
            "FUNCTION",
            "PROCEDURE",
            "COLLATION",
            "AGGREGATE",
            "OPERATOR",
            "ROLE",
            "USER",
            "GROUP",
            "OWNED");

    /**
     * What a GRANT/REVOKE may be ON besides tables and sequences: objects every shard has ({@code ALL TABLES IN
     * SCHEMA} included).
     */
    private static final Set<String> GRANT_OBJECTS = Set.of(
            "ALL",
            "SCHEMA",
            "DATABASE",
            "DOMAIN",
            "TYPE",
            "FUNCTION",
            "PROCEDURE",
            "ROUTINE",
            "LANGUAGE",
            "FOREIGN",
            "TABLESPACE",
            "LARGE",
            "PARAMETER",
            "ROLE");

    /** pgpool's per-statement control: a read led by this comment runs on a primary. */
    private static final java.util.regex.Pattern NO_LOAD_BALANCE = java.util.regex.Pattern.compile(
            "\\s*/\\*\\s*NO LOAD BALANCE\\s*\\*/", java.util.regex.Pattern.CASE_INSENSITIVE);

    private final Catalog columns;
    private final TableNames tableNames;
    private final ForeignKeys foreignKeys;
    private final Views views;

    public StatementAnalyzer(ClusterTopology topology) {
        this(topology, Catalog.NONE, null);
    }

    /**
     * @param catalog where an INSERT without a column list finds the column order of a sharded table, and an
     *     unqualified name the schemas holding it
     * @param path the session's search path, null for the connections' default
     */
    public StatementAnalyzer(ClusterTopology topology, Catalog catalog, SearchPath path) {
        this.columns = catalog;
        this.tableNames = new TableNames(topology, catalog, path);
        this.foreignKeys = new ForeignKeys(tableNames, catalog);
        this.views = new Views(tableNames);
    }

    /**
     * Analyzes one SQL text. Never throws for SQL it does not understand: such statements are planned for
     * the home shard when they touch no sharded table, and refused otherwise.
     */
    public Plan analyze(String sql) {
        List<Token> tokens;
        try {
            tokens = SqlLexer.tokenize(sql);
        } catch (IllegalArgumentException e) {
            // PostgreSQL reports the syntax error itself, unless it reads the text otherwise (backslashes in strings
            // with standard_conforming_strings off): never sent to a guessed shard if it may name a sharded table
            return namesShardedTableAnywhere(sql)
                    ? Plan.refused(
                            StatementKind.WRITE,
                            "the statement could not be read (" + e.getMessage() + ") and may name a sharded table",
                            0)
                    : Plan.home(StatementKind.WRITE, 0);
        }
        try {
            return analyze(sql, tokens);
        } catch (RuntimeException unexpected) {
            // a form this analysis does not know: never a guess, never an exception out of the driver
            int params = (int)
                    tokens.stream().filter(t -> t.kind() == Kind.PARAMETER).count();
            return namesShardedTableAnywhere(sql)
                    ? Plan.refused(
                            StatementKind.WRITE,
                            "the statement has a form Shardline does not analyze (" + unexpected + ")",
                            params)
                    : Plan.home(StatementKind.WRITE, params);
        }
    }

    /** The first distributed function the tokens call ({@code name(}), or null. */
    private String distributedFunctionIn(String sql, List<Token> tokens) {
        for (int i = 0; i + 1 < tokens.size(); i++) {
            String[] name = qualifiedName(sql, tokens, i);
            if (name == null) {
                continue;
            }
            int next = i + (name[0] == null ? 1 : 3);
            if (next < tokens.size() && tokens.get(next).text(sql).equals("(")) {
                var f = tableNames.function(name[0], name[1]);
                if (f.isPresent()) {
                    return f.get().qualifiedName();
                }
            }
        }
        return null;
    }

    /** The first sharded or reference table whose name the text holds as a word (any case), or null. */
    private String declaredTableNamedIn(String sql) {
        List<String> named = new ArrayList<>();
        tableNames.anyName(name -> SqlNames.holdsWord(sql, name) && named.add(name));
        tableNames.functionNames().stream()
                .filter(name -> SqlNames.holdsWord(sql, name))
                .forEach(named::add);
        return named.isEmpty() ? null : named.get(0);
    }

    /** Whether the text contains, anywhere and in any case, the name of a sharded table. */
    private boolean namesShardedTableAnywhere(String sql) {
        String lower = sql.toLowerCase(Locale.ROOT);
        return tableNames.anyName(name -> lower.contains(name.toLowerCase(Locale.ROOT)));
    }

    private Plan analyze(String sql, List<Token> tokens) {
        Plan plan = classify(sql, tokens);
        boolean keyedByCall = plan.target() == Plan.Target.KEYED && plan.refusal() != null;
        boolean statement = plan.kind() == StatementKind.READ
                || plan.kind() == StatementKind.WRITE
                || plan.kind() == StatementKind.UTILITY;
        if (!keyedByCall && statement && plan.target() != Plan.Target.REFUSED) {
            // a call the analysis did not key (COPY (SELECT f(?)), several statements, an unparsed form...) would run
            // on one shard chosen for another reason, or on each: refused
            String function = distributedFunctionIn(sql, tokens);
            if (function != null) {
                // each shard would run it on its own rows, and the final step would not combine them
                return Plan.refused(
                        plan.kind(),
                        "the statement calls the distributed function " + function + " where Shardline cannot route"
                                + " the call by its key argument"
                                + (plan.target() == Plan.Target.CROSS_SHARD ? " (it needs several shards)" : "")
                                + ": call it alone, SELECT f(?) or SELECT ... FROM f(?)",
                        plan.parameterCount());
            }
        }
        plan = hasSessionEffects(tokens) ? plan.withSessionEffects() : plan;
        List<KeySource> setConfig = setConfigArguments(sql, tokens);
        if (setConfig != null) {
            plan = plan.withSetConfig(setConfig);
        }
        return plan.kind() == StatementKind.READ && NO_LOAD_BALANCE.matcher(sql).lookingAt()
                ? plan.readOnPrimary()
                : plan;
    }

    /**
     * The arguments of {@code SELECT [pg_catalog.]set_config(name, value, is_local) [[AS] alias]}, each a string
     * literal, a boolean or a {@code ?}; null for any other statement.
     */
    private static List<KeySource> setConfigArguments(String sql, List<Token> tokens) {
        int i = 1;
        if (!word(tokens, 0, "SELECT")) {
            return null;
        }
        if (word(tokens, 1, "PG_CATALOG")
                && tokens.size() > 2
                && tokens.get(2).text(sql).equals(".")) {
            i = 3;
        }
        if (!word(tokens, i, "SET_CONFIG")
                || i + 1 >= tokens.size()
                || !tokens.get(i + 1).text(sql).equals("(")) {
            return null;
        }
        List<KeySource> arguments = new ArrayList<>();
        int parameter = 0;
        for (int j = 0; j < i; j++) {
            parameter += tokens.get(j).kind() == Kind.PARAMETER ? 1 : 0;
        }
        int k = i + 2;
        while (arguments.size() < 3 && k < tokens.size()) {
            Token t = tokens.get(k);
            if (t.kind() == Kind.PARAMETER) {
                arguments.add(KeySource.parameter(++parameter));
            } else if (t.kind() == Kind.STRING) {
                arguments.add(KeySource.literal(SqlLexer.stringValue(sql, t)));
            } else if (t.is("TRUE") || t.is("FALSE")) {
                arguments.add(KeySource.literal(t.is("TRUE")));
            } else {
                return null;
            }
            String next = k + 1 < tokens.size() ? tokens.get(k + 1).text(sql) : "";
            if (!next.equals(arguments.size() < 3 ? "," : ")")) {
                return null;
            }
            k += 2;
        }
        if (arguments.size() < 3) {
            return null;
        }
        // an optional alias, nothing else
        if (word(tokens, k, "AS")) {
            k++;
        }
        if (k < tokens.size() && isName(tokens.get(k))) {
            k++;
        }
        if (k < tokens.size() && tokens.get(k).text(sql).equals(";")) {
            k++;
        }
        return k == tokens.size() ? arguments : null;
    }

    /**
     * Whether the statement may leave state in the session that {@code RESET ALL} does not clear (see {@link
     * Plan#sessionEffects()}). A function of the application's own that does so internally is not seen.
     */
    private static boolean hasSessionEffects(List<Token> tokens) {
        if (tokens.isEmpty() || tokens.get(0).kind() != Kind.WORD) {
            return false;
        }
        switch (tokens.get(0).upper()) {
            case "LISTEN", "DO", "CALL", "DECLARE", "LOAD" -> {
                return true;
            }
            case "SET" -> {
                // RESET ALL leaves the role and the session user as they are
                int i = word(tokens, 1, "SESSION") || word(tokens, 1, "LOCAL") ? 2 : 1;
                if (word(tokens, i, "ROLE") || word(tokens, i, "AUTHORIZATION")) {
                    return true;
                }
            }
            case "CREATE" -> {
                for (int i = 1; i < Math.min(tokens.size(), 6); i++) {
                    if (tokens.get(i).is("TEMP") || tokens.get(i).is("TEMPORARY")) {
                        return true;
                    }
                }
            }
            default -> {}
        }
        for (int i = 0; i + 1 < tokens.size(); i++) {
            Token t = tokens.get(i);
            if (t.kind() == Kind.WORD
                    && SESSION_FUNCTIONS.contains(t.upper())
                    && tokens.get(i + 1).kind() == Kind.SYMBOL) {
                return true;
            }
        }
        return false;
    }

    /**
     * A refusal when pgjdbc's JDBC escape processing gives the text another number of placeholders than it has as
     * written ({@code {fn right(?, ?)}} becomes {@code substring(? from (length(?)+1- ?))}, a three-argument {@code
     * {fn locate}} seven), else null. The application then binds the parameters as pgjdbc numbers them, and the
     * analysis, numbering them as written, would read the shard key (or a part's values) from another one.
     */
    private static Plan escapesRenumbering(String sql, List<Token> tokens, int params) {
        if (tokens.stream().noneMatch(t -> t.kind() == Kind.SYMBOL && sql.charAt(t.start()) == '{')) {
            return null;
        }
        int expanded;
        try {
            String nativeSql = org.postgresql.core.Parser.replaceProcessing(sql, true, true);
            expanded = (int) SqlLexer.tokenize(nativeSql).stream()
                    .filter(t -> t.kind() == Kind.PARAMETER)
                    .count();
        } catch (java.sql.SQLException | IllegalArgumentException malformed) {
            return null; // pgjdbc refuses the escape itself
        }
        if (expanded == params) {
            return null;
        }
        return Plan.refused(
                StatementKind.WRITE,
                "pgjdbc expands a JDBC escape function in the statement ({fn right(...)}, {fn locate(...)} with three"
                        + " arguments) into " + expanded + " placeholders where the text has " + params
                        + ", so the parameters would not be the ones written: write the function in PostgreSQL's"
                        + " syntax (right(s, n), strpos(...))",
                expanded);
    }

    private Plan classify(String sql, List<Token> tokens) {
        int params =
                (int) tokens.stream().filter(t -> t.kind() == Kind.PARAMETER).count();
        if (tokens.isEmpty()) {
            return Plan.any(StatementKind.READ, 0);
        }
        Plan renumbered = params == 0 ? null : escapesRenumbering(sql, tokens, params);
        if (renumbered != null) {
            return renumbered;
        }
        if (hasTopLevelSemicolonInside(sql, tokens)) {
            String control = transactionControlAmong(sql, tokens);
            if (control != null) {
                // the driver follows transactions by these statements: inside a string it would not see the one a
                // BEGIN opened (its connection left in it, later writes never committed) or a COMMIT ended
                return Plan.refused(
                        StatementKind.WRITE,
                        "several statements in one string include " + control + ": send BEGIN, COMMIT, ROLLBACK,"
                                + " SAVEPOINT and the like as statements of their own (or use setAutoCommit, commit"
                                + " and rollback)",
                        params);
            }
            if (mentionsShardedTable(sql, tokens)) {
                return Plan.refused(
                        StatementKind.WRITE,
                        "several statements in one string touch the sharded table " + firstShardedTable(sql, tokens)
                                + ": send them one at a time",
                        params);
            }
            // a SET among several statements is not followed: the connection is reset with DISCARD ALL before reuse
            return firstReferenceTable(sql, tokens) != null
                    ? Plan.refused(
                            StatementKind.WRITE,
                            "several statements in one string touch the reference table "
                                    + firstReferenceTable(sql, tokens) + ": send them one at a time",
                            params)
                    : Plan.home(StatementKind.WRITE, params).withSessionEffects();
        }
        Token first = tokens.get(0);
        switch (first.kind() == Kind.WORD ? first.upper() : "") {
            case "BEGIN":
            case "START":
                return planBegin(sql, tokens, params);
            case "COMMIT":
            case "END":
                if (word(tokens, 1, "PREPARED")) {
                    return refuseTwoPhase(params);
                }
                return Plan.driver(StatementKind.TXN, "COMMIT", chain(tokens), params);
            case "ABORT":
                return Plan.driver(StatementKind.TXN, "ROLLBACK", chain(tokens), params);
            case "ROLLBACK":
                if (word(tokens, 1, "PREPARED")) {
                    return refuseTwoPhase(params);
                }
                return tokens.stream().anyMatch(t -> t.is("TO"))
                        ? Plan.savepoint("ROLLBACK TO", savepointName(sql, tokens), params)
                        : Plan.driver(StatementKind.TXN, "ROLLBACK", chain(tokens), params);
            case "SAVEPOINT":
            case "RELEASE":
                return Plan.savepoint(first.upper(), savepointName(sql, tokens), params);
            case "PREPARE":
                return word(tokens, 1, "TRANSACTION")
                        ? refuseTwoPhase(params)
                        : Plan.refused(
                                StatementKind.UTILITY,
                                "PREPARE/EXECUTE of named server-side statements is not"
                                        + " routed: use JDBC prepared statements",
                                params);
            case "EXECUTE":
            case "DEALLOCATE":
                return Plan.refused(
                        StatementKind.UTILITY,
                        first.upper() + " of named server-side statements is not"
                                + " routed: use JDBC prepared statements",
                        params);
            case "SET":
                return planSet(sql, tokens, params);
            case "RESET":
                return Plan.driver(
                        StatementKind.SESSION,
                        "RESET",
                        tokens.size() > 1 ? settingName(sql, tokens, 1) : "all",
                        params);
            case "SHOW":
                return Plan.driver(
                        StatementKind.SESSION, "SHOW", tokens.size() > 1 ? settingName(sql, tokens, 1) : null, params);
            case "DISCARD":
                return Plan.driver(
                        StatementKind.SESSION,
                        "DISCARD",
                        tokens.size() > 1 && tokens.get(1).kind() == Kind.WORD
                                ? tokens.get(1).upper().toLowerCase(Locale.ROOT)
                                : "all",
                        params);
            case "CREATE":
            case "ALTER":
            case "DROP":
            case "TRUNCATE":
            case "COMMENT":
            case "GRANT":
            case "REVOKE":
                return outsideTransactionsWhenConcurrent(planDdl(sql, tokens, params), tokens);
            case "REASSIGN":
                return Plan.allPrimaries(StatementKind.DDL, params); // REASSIGN OWNED: roles are on every shard
            case "LISTEN":
            case "UNLISTEN":
            case "NOTIFY":
            case "DO":
            case "CALL":
            case "CHECKPOINT":
            case "LOCK":
            case "COPY":
            case "VACUUM":
            case "ANALYZE":
            case "CLUSTER":
            case "REINDEX":
            case "REFRESH":
                return planUtility(sql, tokens, first.upper(), params);
            case "EXPLAIN":
                return planExplain(sql, tokens, params);
            default:
                return planDml(sql, tokens, params);
        }
    }

    /** {@code BEGIN [WORK | TRANSACTION] [modes]}, {@code START TRANSACTION [modes]}: the modes as the setting. */
    private static Plan planBegin(String sql, List<Token> tokens, int params) {
        int i = 1;
        boolean start = tokens.get(0).is("START");
        if (start ? word(tokens, i, "TRANSACTION") : word(tokens, i, "WORK") || word(tokens, i, "TRANSACTION")) {
            i++;
        } else if (start) {
            return Plan.refused(StatementKind.TXN, "START must be followed by TRANSACTION", params);
        }
        try {
            TransactionModes modes = TransactionModes.parse(sql, tokens, i);
            return Plan.driver(StatementKind.TXN, "BEGIN", modes.isEmpty() ? null : modes.sql(), params);
        } catch (IllegalArgumentException e) {
            return Plan.refused(StatementKind.TXN, tokens.get(0).upper() + ": " + e.getMessage(), params);
        }
    }

    /** Whether a COMMIT/END/ROLLBACK/ABORT ends {@code AND CHAIN} (not {@code AND NO CHAIN}). */
    /**
     * {@code "CHAIN"} for {@code COMMIT AND CHAIN} and the like (the next transaction begins at once, with this one's
     * characteristics), else null ({@code AND NO CHAIN} too).
     */
    private static String chain(List<Token> tokens) {
        for (int i = 1; i + 1 < tokens.size(); i++) {
            if (tokens.get(i).is("AND") && tokens.get(i + 1).is("CHAIN")) {
                return "CHAIN";
            }
        }
        return null;
    }

    private Plan planSet(String sql, List<Token> tokens, int params) {
        int i = 1;
        if (word(tokens, i, "SESSION") && !word(tokens, i + 1, "AUTHORIZATION")) {
            i++;
        }
        if (word(tokens, i, "TRANSACTION") && !word(tokens, i + 1, "SNAPSHOT") && i == 1) {
            try {
                return Plan.transactionModes(
                        TransactionModes.parse(sql, tokens, i + 1).sql(), params);
            } catch (IllegalArgumentException e) {
                return Plan.refused(StatementKind.SESSION, "SET TRANSACTION: " + e.getMessage(), params);
            }
        }
        if (word(tokens, i, "LOCAL") || word(tokens, i, "TRANSACTION") || word(tokens, i, "CONSTRAINTS")) {
            return Plan.bound(StatementKind.SESSION, "SET " + tokens.get(i).upper(), params);
        }
        if (word(tokens, i, "ROLE") || word(tokens, i, "SESSION")) {
            return Plan.driver(
                    StatementKind.SESSION, "SET", tokens.get(i).upper().toLowerCase(Locale.ROOT), params);
        }
        if (word(tokens, i, "SCHEMA")) {
            return Plan.driver(StatementKind.SESSION, "SET", "search_path", params);
        }
        if (word(tokens, i, "CHARACTERISTICS") && word(tokens, i + 1, "AS") && word(tokens, i + 2, "TRANSACTION")) {
            // kept as the one default it sets, so that one setting the isolation level and a later one setting
            // read-only are both replayed on the connection's other nodes (one key for both kept the last only)
            try {
                TransactionModes modes = TransactionModes.parse(sql, tokens, i + 3);
                String only = modes.isolation() >= 0 && modes.readOnly() == null && modes.deferrable() == null
                        ? "default_transaction_isolation"
                        : modes.isolation() < 0 && modes.readOnly() != null && modes.deferrable() == null
                                ? "default_transaction_read_only"
                                : modes.isolation() < 0 && modes.readOnly() == null && modes.deferrable() != null
                                        ? "default_transaction_deferrable"
                                        : "characteristics";
                return Plan.driver(StatementKind.SESSION, "SET", only, params);
            } catch (IllegalArgumentException e) {
                return Plan.refused(StatementKind.SESSION, "SET SESSION CHARACTERISTICS: " + e.getMessage(), params);
            }
        }
        String setting = settingName(sql, tokens, i);
        if (setting.equals("standard_conforming_strings") && setsOff(sql, tokens)) {
            return Plan.refused(
                    StatementKind.SESSION,
                    "standard_conforming_strings = off makes backslashes escapes in '...' strings, which the driver"
                            + " reads as PostgreSQL's default does: use E'...' strings instead",
                    params);
        }
        return Plan.driver(StatementKind.SESSION, "SET", setting, params);
    }

    /** Whether a SET's value is off or false (the last word or string). */
    private static boolean setsOff(String sql, List<Token> tokens) {
        Token last = tokens.get(tokens.size() - 1);
        String value = last.kind() == Kind.STRING ? SqlLexer.stringValue(sql, last) : last.text(sql);
        return Set.of("off", "false", "no", "0").contains(value.toLowerCase(Locale.ROOT));
    }

    /**
     * A possibly dotted setting name starting at token {@code i}, lower case: {@code shardline.read_from}. PostgreSQL
     * finds settings by name in any case, quoted or not ({@code "DateStyle"} is {@code datestyle}), and knows {@code
     * TIME ZONE}, {@code XML OPTION} and {@code NAMES} as {@code timezone}, {@code xmloption} and {@code
     * client_encoding}.
     */
    private static String settingName(String sql, List<Token> tokens, int i) {
        if (word(tokens, i, "TIME") && word(tokens, i + 1, "ZONE")) {
            return "timezone";
        }
        if (word(tokens, i, "XML") && word(tokens, i + 1, "OPTION")) {
            return "xmloption";
        }
        if (word(tokens, i, "NAMES")) {
            return "client_encoding";
        }
        StringBuilder name = new StringBuilder();
        while (i < tokens.size()) {
            Token t = tokens.get(i);
            if (t.kind() == Kind.WORD || t.kind() == Kind.QUOTED_IDENTIFIER) {
                name.append(SqlLexer.identifier(sql, t));
            } else if (t.kind() == Kind.SYMBOL && t.text(sql).equals(".")) {
                name.append('.');
            } else {
                break;
            }
            if (i + 1 < tokens.size() && tokens.get(i + 1).text(sql).equals(".")) {
                i++;
                name.append('.');
            }
            i++;
            if (name.charAt(name.length() - 1) != '.') {
                break;
            }
        }
        return name.toString().toLowerCase(Locale.ROOT);
    }

    private Plan planDdl(String sql, List<Token> tokens, int params) {
        String verb = tokens.get(0).upper();
        int i = 1;
        while (i < tokens.size()
                && tokens.get(i).kind() == Kind.WORD
                && Set.of("OR", "REPLACE", "GLOBAL", "LOCAL", "TEMP", "TEMPORARY", "UNLOGGED", "UNIQUE", "MATERIALIZED")
                        .contains(tokens.get(i).upper())) {
            i++;
        }
        String object = i < tokens.size() && tokens.get(i).kind() == Kind.WORD
                ? tokens.get(i).upper()
                : "";
        if (verb.equals("TRUNCATE")) {
            return ddlOnTables(sql, tokens, word(tokens, 1, "TABLE") ? 2 : 1, params, "TRUNCATE");
        }
        if (verb.equals("GRANT") || verb.equals("REVOKE")) {
            return planGrant(sql, tokens, params);
        }
        if (verb.equals("COMMENT")) {
            return planComment(sql, tokens, params);
        }
        if (verb.equals("ALTER") && object.equals("DEFAULT")) {
            return Plan.allPrimaries(StatementKind.DDL, params); // ALTER DEFAULT PRIVILEGES: every shard's tables
        }
        if (SHARED_OBJECTS.contains(object)) {
            return Plan.allPrimaries(StatementKind.DDL, params);
        }
        if (object.equals("VIEW") || (object.equals("RECURSIVE") && word(tokens, i + 1, "VIEW"))) {
            boolean temporary = tokens.subList(1, i).stream().anyMatch(t -> t.is("TEMP") || t.is("TEMPORARY"));
            String read = temporary ? firstShardedTable(sql, tokens) : null;
            if (read != null) {
                return Plan.refused(
                        StatementKind.DDL,
                        "a temporary view over the sharded table " + read + " would live on one node and read that"
                                + " shard's rows only: create a view (not temporary), which Shardline expands in"
                                + " reads across shards",
                        params);
            }
            return temporary
                    ? Plan.home(StatementKind.DDL, params)
                    : planView(sql, tokens, verb, object.equals("VIEW") ? i + 1 : i + 2, params);
        }
        if (object.equals("TABLE")) {
            if (verb.equals("CREATE") || verb.equals("ALTER")) {
                int at = i + 1;
                while (at < tokens.size()
                        && Set.of("IF", "NOT", "EXISTS", "ONLY").contains(upper(tokens.get(at)))) {
                    at++;
                }
                String why = foreignKeys.problem(sql, tokens, at, verb.equals("CREATE"));
                if (why == null && verb.equals("CREATE")) {
                    why = createdFromEveryShard(sql, tokens, at);
                }
                if (why != null) {
                    return Plan.refused(StatementKind.DDL, why, params);
                }
            }
            return ddlOnTables(sql, tokens, i + 1, params, verb + " TABLE");
        }
        if (object.equals("INDEX")) {
            if (verb.equals("DROP")) {
                // The index name does not say which table it belongs to; indexes of sharded tables live on
                // every shard, so the drop goes everywhere (see the README for its error handling).
                return Plan.allPrimaries(StatementKind.DDL, params);
            }
            for (int j = i; j < tokens.size(); j++) {
                if (tokens.get(j).is("ON")) {
                    return ddlOnTables(sql, tokens, j + 1, params, "CREATE INDEX");
                }
            }
        }
        if (object.equals("POLICY")
                || object.equals("TRIGGER")
                || object.equals("RULE")
                || object.equals("STATISTICS")) {
            return mentionsShardedTable(sql, tokens) || firstReferenceTable(sql, tokens) != null
                    ? Plan.allPrimaries(StatementKind.DDL, params)
                    : Plan.home(StatementKind.DDL, params);
        }
        return Plan.home(StatementKind.DDL, params);
    }

    /**
     * {@code CREATE VIEW} reading sharded or reference tables (or views over them), and {@code ALTER}/{@code DROP}
     * of such views: every primary, so that a statement routed to any shard finds the view there (see {@link
     * Views}). Other views live on the home shard with the tables they read.
     */
    private Plan planView(String sql, List<Token> tokens, String verb, int at, int params) {
        if (verb.equals("CREATE")) {
            for (int j = at; j < tokens.size(); j++) {
                String[] name = qualifiedName(sql, tokens, j);
                if (name != null && (onEveryShard(name[0], name[1]) || views.overDeclaredTables(name[0], name[1]))) {
                    return Plan.allPrimaries(StatementKind.DDL, params);
                }
            }
            return Plan.home(StatementKind.DDL, params);
        }
        while (at < tokens.size() && Set.of("IF", "EXISTS").contains(upper(tokens.get(at)))) {
            at++;
        }
        boolean everywhere = false;
        boolean home = false;
        while (at < tokens.size()) {
            String[] name = qualifiedName(sql, tokens, at);
            if (name == null) {
                break;
            }
            if (views.overDeclaredTables(name[0], name[1])) {
                everywhere = true;
            } else {
                home = true;
            }
            at += name[0] == null ? 1 : 3;
            if (!verb.equals("DROP")
                    || at >= tokens.size()
                    || !tokens.get(at).text(sql).equals(",")) {
                break;
            }
            at++;
        }
        if (everywhere && home) {
            return Plan.refused(
                    StatementKind.DDL,
                    verb + " VIEW names views over sharded or reference tables (on every shard) and views of the home"
                            + " shard together: run it once for each kind",
                    params);
        }
        return everywhere ? Plan.allPrimaries(StatementKind.DDL, params) : Plan.home(StatementKind.DDL, params);
    }

    /**
     * DDL for every primary that PostgreSQL runs only outside a transaction block ({@code CREATE INDEX CONCURRENTLY},
     * {@code DROP INDEX CONCURRENTLY}, {@code DETACH PARTITION ... CONCURRENTLY}): each primary on its own.
     */
    private static Plan outsideTransactionsWhenConcurrent(Plan plan, List<Token> tokens) {
        if (plan.target() != Plan.Target.ALL_PRIMARIES) {
            return plan;
        }
        for (Token t : tokens) {
            if (t.depth() == 0 && t.kind() == Kind.WORD && t.upper().equals("CONCURRENTLY")) {
                return Plan.eachPrimary(plan.kind(), plan.parameterCount());
            }
        }
        return plan;
    }

    /**
     * {@code GRANT}/{@code REVOKE}: on tables, as the tables go (every shard when sharded); on objects every shard
     * has (schemas, types, functions, the database, {@code ALL TABLES IN SCHEMA}) and role memberships (roles
     * exist per PostgreSQL server, so on every shard) to every primary; on sequences to the home shard, where
     * {@code nextval} runs.
     */
    private Plan planGrant(String sql, List<Token> tokens, int params) {
        int on = -1;
        for (int i = 1; i < tokens.size(); i++) {
            if (tokens.get(i).depth() == 0 && tokens.get(i).is("ON")) {
                on = i;
                break;
            }
            if (tokens.get(i).is("TO") || tokens.get(i).is("FROM")) {
                break;
            }
        }
        if (on < 0) {
            return Plan.allPrimaries(StatementKind.DDL, params); // GRANT role TO role
        }
        int i = on + 1;
        if (word(tokens, i, "SEQUENCE")) {
            return Plan.home(StatementKind.DDL, params);
        }
        if (word(tokens, i, "TABLE")) {
            return ddlOnTables(sql, tokens, i + 1, params, tokens.get(0).upper());
        }
        if (i < tokens.size()
                && tokens.get(i).kind() == Kind.WORD
                && GRANT_OBJECTS.contains(tokens.get(i).upper())) {
            return Plan.allPrimaries(StatementKind.DDL, params);
        }
        return ddlOnTables(sql, tokens, i, params, tokens.get(0).upper());
    }

    /**
     * {@code COMMENT ON}: a table, view or column as its table goes; a constraint, trigger, policy or rule as the
     * table after its {@code ON}; an index to every primary (its name does not say whose it is, like DROP INDEX);
     * objects every shard has to every primary; anything else to the home shard.
     */
    private Plan planComment(String sql, List<Token> tokens, int params) {
        int i = 2; // COMMENT ON <type>
        String type = i < tokens.size() && tokens.get(i).kind() == Kind.WORD
                ? tokens.get(i).upper()
                : "";
        if (type.equals("MATERIALIZED") || type.equals("FOREIGN")) {
            type = "TABLE";
            i++;
        }
        switch (type) {
            case "TABLE", "VIEW" -> {
                return ddlOnTables(sql, tokens, i + 1, params, "COMMENT ON " + type);
            }
            case "COLUMN" -> {
                // [schema.]table.column: the table is all but the last part
                List<String> parts = new ArrayList<>();
                int j = i + 1;
                while (j < tokens.size() && isName(tokens.get(j))) {
                    parts.add(SqlLexer.identifier(sql, tokens.get(j)));
                    if (j + 1 < tokens.size() && tokens.get(j + 1).text(sql).equals(".")) {
                        j += 2;
                    } else {
                        break;
                    }
                }
                if (parts.size() < 2) {
                    return Plan.home(StatementKind.DDL, params);
                }
                String schema = parts.size() >= 3 ? parts.get(parts.size() - 3) : null;
                return onEveryShard(schema, parts.get(parts.size() - 2))
                        ? Plan.allPrimaries(StatementKind.DDL, params)
                        : Plan.home(StatementKind.DDL, params);
            }
            case "CONSTRAINT", "TRIGGER", "POLICY", "RULE" -> {
                for (int j = i + 1; j < tokens.size(); j++) {
                    if (tokens.get(j).is("ON")) {
                        int k = word(tokens, j + 1, "DOMAIN") ? -1 : j + 1;
                        return k < 0
                                ? Plan.allPrimaries(StatementKind.DDL, params)
                                : ddlOnTables(sql, tokens, k, params, "COMMENT ON " + type);
                    }
                }
                return Plan.home(StatementKind.DDL, params);
            }
            case "INDEX" -> {
                return Plan.allPrimaries(StatementKind.DDL, params);
            }
            default -> {
                return SHARED_OBJECTS.contains(type) || GRANT_OBJECTS.contains(type)
                        ? Plan.allPrimaries(StatementKind.DDL, params)
                        : Plan.home(StatementKind.DDL, params);
            }
        }
    }

    /** DDL naming tables from token {@code i} on (after IF [NOT] EXISTS, ONLY): every shard if one is sharded. */
    private Plan ddlOnTables(String sql, List<Token> tokens, int i, int params, String what) {
        while (i < tokens.size()
                && tokens.get(i).kind() == Kind.WORD
                && Set.of("IF", "NOT", "EXISTS", "ONLY", "CONCURRENTLY")
                        .contains(tokens.get(i).upper())) {
            i++;
        }
        List<String[]> names = new ArrayList<>();
        while (i < tokens.size()) {
            String[] name = qualifiedName(sql, tokens, i);
            if (name == null) {
                break;
            }
            names.add(name);
            i += name[0] == null ? 1 : 3;
            if (i < tokens.size() && tokens.get(i).text(sql).equals(",") && !what.equals("CREATE TABLE")) {
                i++;
            } else {
                break;
            }
        }
        boolean sharded = names.stream().anyMatch(n -> onEveryShard(n[0], n[1]));
        boolean unsharded = names.stream().anyMatch(n -> !onEveryShard(n[0], n[1]));
        if (sharded && unsharded) {
            return Plan.refused(
                    StatementKind.DDL,
                    what + " names sharded (or reference) and unsharded tables together: run it once for each kind",
                    params);
        }
        return sharded ? Plan.allPrimaries(StatementKind.DDL, params) : Plan.home(StatementKind.DDL, params);
    }

    /**
     * Why a {@code CREATE TABLE} of a table that lives on the home shard only cannot run there: its rows or its
     * parent live on every shard — {@code AS SELECT} reading a sharded table (it would get the home shard's rows),
     * {@code PARTITION OF} a sharded or reference table (the other shards' parents would have no such partition).
     * Null when it can.
     *
     * @param at the token of the created table's name
     */
    private String createdFromEveryShard(String sql, List<Token> tokens, int at) {
        String[] created = qualifiedName(sql, tokens, at);
        if (created == null || onEveryShard(created[0], created[1])) {
            return null;
        }
        String table = created[0] == null ? created[1] : created[0] + "." + created[1];
        int depth = 0; // the column list's AS (GENERATED ... AS) and names are not the query's
        for (int j = at + (created[0] == null ? 1 : 3); j < tokens.size(); j++) {
            String text = tokens.get(j).text(sql);
            if (text.equals("(")) {
                depth++;
            } else if (text.equals(")")) {
                depth--;
            }
            if (depth != 0) {
                continue;
            }
            if (tokens.get(j).is("PARTITION") && word(tokens, j + 1, "OF")) {
                String[] parent = qualifiedName(sql, tokens, j + 2);
                if (parent != null && onEveryShard(parent[0], parent[1])) {
                    return "CREATE TABLE " + table + " PARTITION OF a table every shard has would create the"
                            + " partition on the home shard only: declare " + table + " as a sharded (or reference)"
                            + " table first";
                }
                return null;
            }
            if (tokens.get(j).is("AS")) {
                String read = firstShardedTable(sql, tokens.subList(j + 1, tokens.size()));
                if (read != null) {
                    return "CREATE TABLE " + table + " AS reads the sharded table " + read + ": the new table lives"
                            + " on the home shard and would get that shard's rows only. Declare " + table
                            + " sharded first (each shard then creates it from its own rows), or create it and fill"
                            + " it with INSERT ... SELECT by key";
                }
                return null;
            }
        }
        return null;
    }

    /** Whether {@code schema.name} is a table every shard has: sharded or reference. */
    private boolean onEveryShard(String schema, String name) {
        return tableNames.sharded(schema, name).isPresent()
                || tableNames.reference(schema, name).isPresent();
    }

    private Plan planUtility(String sql, List<Token> tokens, String verb, int params) {
        if (verb.equals("DO")) {
            // its body is a string: a declared table or function named anywhere in it would run on one shard
            String named = declaredTableNamedIn(sql);
            if (named != null) {
                return Plan.refused(
                        StatementKind.UTILITY,
                        "a DO block naming " + named + " runs on one shard and would read or change that shard's rows"
                                + " only: run its statements through the driver one by one",
                        params);
            }
        }
        if (verb.equals("REFRESH")) {
            // REFRESH MATERIALIZED VIEW [CONCURRENTLY] name [WITH [NO] DATA]
            int at = 3;
            boolean concurrently = word(tokens, at, "CONCURRENTLY");
            String[] name = qualifiedName(sql, tokens, concurrently ? at + 1 : at);
            if (name != null && views.overDeclaredTables(name[0], name[1])) {
                return concurrently
                        ? Plan.eachPrimary(StatementKind.UTILITY, params)
                        : Plan.allPrimaries(StatementKind.UTILITY, params);
            }
        }
        String reference = firstReferenceTable(sql, tokens);
        if (reference != null && !mentionsShardedTable(sql, tokens)) {
            if (Set.of("VACUUM", "ANALYZE", "CLUSTER", "REINDEX").contains(verb)) {
                return Plan.eachPrimary(StatementKind.UTILITY, params);
            }
            boolean copyOut = verb.equals("COPY") && tokens.stream().anyMatch(t -> t.depth() == 0 && t.is("TO"));
            if (!copyOut && !Set.of("LISTEN", "UNLISTEN", "NOTIFY").contains(verb)) {
                return Plan.refused(
                        StatementKind.UTILITY,
                        verb + " on the reference table " + reference + " cannot be routed: every shard holds a"
                                + " copy, and writes must reach all of them (load it with INSERT batches)",
                        params);
            }
        }
        if (!mentionsShardedTable(sql, tokens)) {
            // notifications and checkpoints name no table: they run where the connection already is
            return Set.of("LISTEN", "UNLISTEN", "NOTIFY", "CHECKPOINT").contains(verb)
                    ? Plan.any(StatementKind.UTILITY, params)
                    : Plan.home(StatementKind.UTILITY, params);
        }
        if (Set.of("VACUUM", "ANALYZE", "CLUSTER", "REINDEX").contains(verb)) {
            return Plan.eachPrimary(StatementKind.UTILITY, params);
        }
        return Plan.refused(
                StatementKind.UTILITY,
                verb + " on the sharded table " + firstShardedTable(sql, tokens)
                        + " cannot be routed to one shard: bind the connection to a key with"
                        + " ShardlineConnection.forKey(...) and run it there",
                params);
    }

    private Plan planExplain(String sql, List<Token> tokens, int params) {
        if (word(tokens, 1, "ROUTE")) {
            // Shardline's own (ROUTE is no option of PostgreSQL's EXPLAIN): where the statement would run and why,
            // answered by the driver without running it
            return tokens.size() > 2
                    ? Plan.driver(
                            StatementKind.SESSION,
                            "EXPLAIN ROUTE",
                            sql.substring(tokens.get(2).start()),
                            params)
                    : Plan.refused(StatementKind.SESSION, "EXPLAIN ROUTE needs the statement to explain", params);
        }
        // EXPLAIN [ANALYZE] [VERBOSE] stmt, or EXPLAIN (options) stmt: route as the statement explained.
        int i = 1;
        if (i < tokens.size() && tokens.get(i).text(sql).equals("(")) {
            while (i < tokens.size()
                    && !(tokens.get(i).text(sql).equals(")") && tokens.get(i).depth() == 0)) {
                i++;
            }
            i++;
        }
        while (word(tokens, i, "ANALYZE") || word(tokens, i, "ANALYSE") || word(tokens, i, "VERBOSE")) {
            i++;
        }
        if (i >= tokens.size()) {
            return Plan.home(StatementKind.READ, params);
        }
        Plan inner = analyze(sql.substring(tokens.get(i).start()));
        // ANALYSE is PostgreSQL's other spelling; (ANALYZE false) is taken as running too, the safe side
        boolean analyzes = tokens.subList(1, i).stream().anyMatch(t -> t.is("ANALYZE") || t.is("ANALYSE"));
        if (!analyzes && (inner.target() == Plan.Target.REFERENCE_WRITE || inner.target() == Plan.Target.EVERY_SHARD)) {
            return Plan.home(StatementKind.READ, params); // the plan of one shard's part; nothing runs
        }
        StatementKind kind = inner.kind() == StatementKind.READ || !analyzes ? StatementKind.READ : inner.kind();
        return new Plan(
                kind,
                inner.target(),
                inner.keyGroups(),
                inner.refusal(),
                inner.command(),
                inner.setting(),
                params,
                inner.sessionEffects(),
                inner.onPrimary(),
                List.of(),
                inner.expanded());
    }

    /**
     * The statement as JSqlParser reads it. With a JSON operator ({@code ->}, {@code ->>}, {@code #>}, {@code #>>})
     * its simple grammar first, as its own {@code parse} does (the complex one only when the simple fails): the complex
     * grammar read {@code a AND doc->>'k' = ? OR c} as {@code a AND (doc->>('k' = ? OR c))}, and a statement
     * PostgreSQL runs on every shard was taken for one keyed by {@code a}. Others keep the complex grammar alone.
     */
    static Statement parse(String sql, boolean jsonOperator) throws ParseException {
        if (jsonOperator) {
            try {
                return CCJSqlParserUtil.newParser(sql)
                        .withAllowComplexParsing(false)
                        .Statement();
            } catch (ParseException | RuntimeException simple) {
                // the complex grammar below
            }
        }
        return CCJSqlParserUtil.newParser(sql).withAllowComplexParsing(true).Statement();
    }

    /** Whether a {@code ->} or {@code #>} (and so {@code ->>}, {@code #>>}) is among the tokens (one character each). */
    private static boolean hasJsonOperator(String sql, List<Token> tokens) {
        for (int i = 0; i + 1 < tokens.size(); i++) {
            Token t = tokens.get(i);
            Token next = tokens.get(i + 1);
            if (t.kind() == Kind.SYMBOL
                    && next.kind() == Kind.SYMBOL
                    && next.start() == t.end()
                    && sql.charAt(next.start()) == '>'
                    && (sql.charAt(t.start()) == '-' || sql.charAt(t.start()) == '#')) {
                return true;
            }
        }
        return false;
    }

    private Plan planDml(String sql, List<Token> tokens, int params) {
        StatementKind kind = dmlKind(tokens);
        Statement statement;
        try {
            statement = parse(SqlLexer.forParser(sql, tokens), hasJsonOperator(sql, tokens));
        } catch (ParseException | RuntimeException e) {
            if (kind == StatementKind.READ && mentionsShardedTable(sql, tokens)) {
                return Plan.crossShard(
                        "the statement on the sharded table " + firstShardedTable(sql, tokens)
                                + " could not be analyzed, so its shard key cannot be proven",
                        params);
            }
            if (mentionsShardedTable(sql, tokens)) {
                return Plan.refused(
                        kind,
                        "the statement on the sharded table " + firstShardedTable(sql, tokens)
                                + " could not be analyzed, so its shard key cannot be proven: simplify it, or bind the"
                                + " connection with ShardlineConnection.forKey(...)",
                        params);
            }
            return kind != StatementKind.READ && firstReferenceTable(sql, tokens) != null
                    ? refuseUnreadReferenceWrite(sql, tokens, kind, params)
                    : Plan.home(kind, params);
        }
        try {
            if (views.expand(statement)) {
                if (!SqlLexer.forParser(sql, tokens).equals(sql)) {
                    return Plan.refused(
                            kind,
                            "a statement reading a view over sharded or reference tables cannot hold E'...', U&'...' or"
                                    + " $$...$$ strings, the ?? operators or quoted names holding a dot: use plain"
                                    + " strings and parameters",
                            params);
                }
                // a dot inside a quoted name of a view's definition went to JSqlParser as SqlNames.DOT_IN_NAME
                String expanded = statement.toString().replace(SqlNames.DOT_IN_NAME, '.');
                return planDml(expanded, SqlLexer.tokenize(expanded), params).withExpanded(expanded);
            }
            int selectBlocks = 0;
            for (Token t : tokens) {
                if (t.is("SELECT")) {
                    selectBlocks++;
                }
            }
            Plan plan = new DmlScope(
                            statement,
                            mentionsShardedTable(sql, tokens) || firstReferenceTable(sql, tokens) != null
                                    ? selectBlocks
                                    : 0)
                    .plan(kind, params);
            return plan.target() == Plan.Target.ANY && callsSequenceFunction(tokens)
                    ? Plan.sequence(plan.kind(), params)
                    : plan;
        } catch (Views.Refused r) {
            return Plan.refused(kind, r.getMessage(), params);
        } catch (Refusal r) {
            return kind == StatementKind.READ && !(r instanceof HardRefusal)
                    ? Plan.crossShard(r.getMessage(), params)
                    : Plan.refused(kind, r.getMessage(), params);
        } catch (RuntimeException unexpected) {
            // a tree shape this analysis does not know: never a guess, never an exception out of the driver
            String table = firstShardedTable(sql, tokens);
            if (table == null) {
                return kind != StatementKind.READ && firstReferenceTable(sql, tokens) != null
                        ? refuseUnreadReferenceWrite(sql, tokens, kind, params)
                        : Plan.home(kind, params);
            }
            String why = "the statement on the sharded table " + table + " has a form Shardline does not analyze ("
                    + unexpected.getClass().getSimpleName() + "), so its shard key cannot be proven";
            return kind == StatementKind.READ ? Plan.crossShard(why, params) : Plan.refused(kind, why, params);
        }
    }

    private Plan refuseUnreadReferenceWrite(String sql, List<Token> tokens, StatementKind kind, int params) {
        return Plan.refused(
                kind,
                "the statement naming the reference table " + firstReferenceTable(sql, tokens) + " could not be"
                        + " analyzed, so whether it writes it (on every shard) cannot be proven: simplify it",
                params);
    }

    /** READ unless the tokens show a write, a row lock, SELECT INTO or a writing function. */
    private static StatementKind dmlKind(List<Token> tokens) {
        for (int i = 0; i < tokens.size(); i++) {
            Token t = tokens.get(i);
            if (t.kind() != Kind.WORD) {
                continue;
            }
            switch (t.upper()) {
                case "INSERT", "UPDATE", "DELETE", "MERGE", "INTO" -> {
                    return StatementKind.WRITE;
                }
                case "FOR" -> {
                    if (word(tokens, i + 1, "UPDATE")
                            || word(tokens, i + 1, "SHARE")
                            || word(tokens, i + 1, "NO")
                            || word(tokens, i + 1, "KEY")) {
                        return StatementKind.WRITE;
                    }
                }
                default -> {
                    if (WRITING_FUNCTIONS.contains(t.upper())
                            && i + 1 < tokens.size()
                            && tokens.get(i + 1).kind() == Kind.SYMBOL) {
                        return StatementKind.WRITE;
                    }
                }
            }
        }
        return StatementKind.READ;
    }

    /**
     * Whether the statement calls nextval or setval (currval and lastval read the state of the connection that
     * called nextval last: they stay where the connection is).
     */
    private static boolean callsSequenceFunction(List<Token> tokens) {
        for (int i = 0; i + 1 < tokens.size(); i++) {
            Token t = tokens.get(i);
            if ((t.is("NEXTVAL") || t.is("SETVAL")) && tokens.get(i + 1).kind() == Kind.SYMBOL) {
                return true;
            }
        }
        return false;
    }

    private static Plan refuseTwoPhase(int params) {
        return Plan.refused(
                StatementKind.TXN, "two-phase commit statements are not supported through the driver yet", params);
    }

    /** The savepoint a SAVEPOINT, RELEASE or ROLLBACK TO names: its last identifier (a trailing ; aside). */
    private static String savepointName(String sql, List<Token> tokens) {
        int last = tokens.size() - 1;
        if (last > 0
                && tokens.get(last).kind() == Kind.SYMBOL
                && tokens.get(last).text(sql).equals(";")) {
            last--;
        }
        Token t = tokens.get(last);
        return last > 0 && isName(t) ? SqlLexer.identifier(sql, t) : null;
    }

    static boolean word(List<Token> tokens, int i, String w) {
        return i < tokens.size() && tokens.get(i).is(w);
    }

    /** Statements that begin, end or mark a transaction: the driver's to follow. */
    private static final Set<String> TRANSACTION_CONTROL =
            Set.of("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE");

    /**
     * The first transaction-control statement of several in one string ({@code BEGIN}...), or null. The statements of
     * a SQL-standard function body ({@code BEGIN ATOMIC ... END}) are the function's, not the string's.
     */
    private static String transactionControlAmong(String sql, List<Token> tokens) {
        boolean start = true;
        boolean atomic = false;
        for (int i = 0; i < tokens.size(); i++) {
            Token t = tokens.get(i);
            if (t.kind() == Kind.SYMBOL && t.text(sql).equals(";")) {
                start = true;
                continue;
            }
            if (atomic) {
                atomic = !(start && t.is("END"));
            } else if (!start && t.is("BEGIN") && word(tokens, i + 1, "ATOMIC")) {
                atomic = true;
            } else if (start && t.kind() == Kind.WORD && TRANSACTION_CONTROL.contains(t.upper())) {
                return t.upper();
            } else if (start && t.is("PREPARE") && word(tokens, i + 1, "TRANSACTION")) {
                return "PREPARE TRANSACTION";
            }
            start = false;
        }
        return null;
    }

    private static boolean hasTopLevelSemicolonInside(String sql, List<Token> tokens) {
        for (int i = 0; i < tokens.size() - 1; i++) {
            if (tokens.get(i).kind() == Kind.SYMBOL && tokens.get(i).text(sql).equals(";")) {
                return tokens.subList(i + 1, tokens.size()).stream()
                        .anyMatch(t -> !(t.kind() == Kind.SYMBOL && t.text(sql).equals(";")));
            }
        }
        return false;
    }

    /** {@code [schema.]name} at token {@code i}: {schema or null, name}, or null when there is no name. */
    static String[] qualifiedName(String sql, List<Token> tokens, int i) {
        if (i >= tokens.size() || !isName(tokens.get(i))) {
            return null;
        }
        if (i + 2 < tokens.size() && tokens.get(i + 1).text(sql).equals(".") && isName(tokens.get(i + 2))) {
            return new String[] {SqlLexer.identifier(sql, tokens.get(i)), SqlLexer.identifier(sql, tokens.get(i + 2))};
        }
        return new String[] {null, SqlLexer.identifier(sql, tokens.get(i))};
    }

    static String upper(Token t) {
        return t.kind() == Kind.WORD ? t.upper() : "";
    }

    static boolean isName(Token t) {
        return t.kind() == Kind.WORD || t.kind() == Kind.QUOTED_IDENTIFIER;
    }

    private boolean mentionsShardedTable(String sql, List<Token> tokens) {
        return firstShardedTable(sql, tokens) != null;
    }

    /** The first token naming a sharded table (as a bare or schema-qualified name), or null. */
    private String firstShardedTable(String sql, List<Token> tokens) {
        return firstTable(
                sql, tokens, (schema, name) -> tableNames.sharded(schema, name).map(ShardedTable::qualifiedName));
    }

    /** The first token naming a reference table (as a bare or schema-qualified name), or null. */
    private String firstReferenceTable(String sql, List<Token> tokens) {
        return firstTable(
                sql,
                tokens,
                (schema, name) -> tableNames.reference(schema, name).map(ReferenceTable::qualifiedName));
    }

    private static String firstTable(
            String sql,
            List<Token> tokens,
            java.util.function.BiFunction<String, String, java.util.Optional<String>> lookup) {
        for (int i = 0; i < tokens.size(); i++) {
            String[] name = qualifiedName(sql, tokens, i);
            if (name != null) {
                var table = lookup.apply(name[0], name[1]);
                if (table.isPresent()) {
                    return table.get();
                }
            }
        }
        return null;
    }

    /** Thrown inside the DML analysis to refuse the statement with a message. */
    private static class Refusal extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Refusal(String message) {
            super(message, null, false, false);
        }
    }

    /** A refusal even for a read: it may not be answered across shards either (a distributed function). */
    private static final class HardRefusal extends Refusal {
        private static final long serialVersionUID = 1L;

        HardRefusal(String message) {
            super(message);
        }
    }

    /**
     * Walks the whole statement: every table reference (with repeats; TablesNamesFinder keeps a set), every
     * SELECT block, and the names of CTEs (which are not tables).
     */
    static final class StatementWalker extends TablesNamesFinder<Void> {
        final List<Table> tables = new ArrayList<>();
        final List<PlainSelect> selects = new ArrayList<>();
        final List<net.sf.jsqlparser.expression.Function> functions = new ArrayList<>();
        final Set<String> cteNames = new java.util.HashSet<>();
        /** The WITH queries by name; a name two of them have (one shadowing the other) maps to null. */
        final Map<String, WithItem<?>> cteItems = new HashMap<>();

        /** TablesNamesFinder may visit a node twice (CTE bodies): count each AST node once. */
        private final Set<Object> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());

        @Override
        public <S> Void visit(Table table, S context) {
            if (seen.add(table)) {
                tables.add(table);
            }
            return super.visit(table, context);
        }

        @Override
        public <S> Void visit(PlainSelect plainSelect, S context) {
            if (seen.add(plainSelect)) {
                selects.add(plainSelect);
            }
            return super.visit(plainSelect, context);
        }

        @Override
        public <S> Void visit(net.sf.jsqlparser.expression.Function function, S context) {
            if (seen.add(function)) {
                functions.add(function);
            }
            return super.visit(function, context);
        }

        @Override
        public <S> Void visit(WithItem<?> withItem, S context) {
            if (withItem.getAlias() != null) {
                String name = SqlNames.fold(withItem.getAlias().getName());
                cteNames.add(name);
                cteItems.put(name, !cteItems.containsKey(name) || cteItems.get(name) == withItem ? withItem : null);
            }
            return super.visit(withItem, context);
        }
    }

    /**
     * The analysis of one parsed DML statement. Every SELECT block (subqueries and CTEs included) and the
     * target of INSERT/UPDATE/DELETE is a scope; each sharded table of a scope must get its key bound in
     * that scope, or be joined on its key to a table that has (also across scopes, for correlated
     * subqueries). All bound values must then map to one shard.
     */
    private final class DmlScope {
        private final Statement statement;
        private final StatementWalker walker = new StatementWalker();
        private final List<Map<String, ShardedTable>> scopes = new ArrayList<>();
        /**
         * The names every FROM item of a scope is known by (tables sharded or not, CTE references, subqueries,
         * VALUES lists): a qualifier resolves only where PostgreSQL would resolve it.
         */
        private final List<Set<String>> names = new ArrayList<>();
        /** Union-find over sharded-table references, named {@code scope#alias}, joined on their keys. */
        private final Map<String, String> parent = new HashMap<>();

        private final Map<String, List<KeySource>> values = new HashMap<>();
        /**
         * Outer-join key equalities, {preserved, joined}: the joined side's rows have the preserved side's keys, so
         * it is bound when the preserved side is; a value bound to the joined side says nothing of the preserved.
         */
        private final List<String[]> inherits = new ArrayList<>();

        private final Map<String, ShardedTable> refs = new LinkedHashMap<>();
        private final List<String> unshardedTables = new ArrayList<>();
        /** The reference table the statement writes (INSERT, UPDATE, DELETE or MERGE into it), or null. */
        private ReferenceTable referenceWrite;
        /** Whether a distributed function it calls writes. */
        private boolean functionWrites;

        /** The scope of each SELECT block. */
        private final Map<PlainSelect, Integer> scopeOf = new java.util.IdentityHashMap<>();
        /**
         * The SELECT blocks whose every row is one the statement's rows come from or are filtered by (see {@link
         * #markFiltering}); a key value bound in any other block (under OR or NOT, in a select list, a SET, on either
         * side of an outer join) binds only its own tables, never the enclosing query's.
         */
        private final Set<PlainSelect> filtering =
                java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        /** How many references {@link #export} added for subqueries' keys (no table of their own). */
        private int exported;
        /**
         * {WITH query's key, a reader's column}: the reader is bound once the WITH query is, by a value of a block that
         * filters the statement's rows (its own WHERE: never a reader's, nor a NOT EXISTS inside it).
         */
        private final List<String[]> cteInherits = new ArrayList<>();
        /** FROM items naming a WITH query and their scope, until {@link #exportCte} exported their key. */
        private final Map<Table, Integer> cteReferences = new java.util.IdentityHashMap<>();
        /** {@link #withPositionOfScope}, made once. */
        private Map<Integer, Integer> withPositions;
        /** The scope of each INSERT, UPDATE and DELETE (the statement's or a WITH query's). */
        private final Map<Object, Integer> modificationScopes = new java.util.IdentityHashMap<>();
        /** Of {@link #exported}: the EXCLUDED rows of upserts. */
        private int excludedRefs;
        /** Subqueries in FROM with their scope, whose key columns become their own (see {@link #exportDerivedKeys}). */
        private final Map<ParenthesedSelect, Integer> derived = new java.util.IdentityHashMap<>();

        /**
         * The SELECT blocks the text holds (its SELECT keywords) when it names a sharded or reference table, else 0: a
         * block the walker did not reach (a subquery in SUBSTRING ... FOR, POSITION ... IN, an operator's operand)
         * would be read on the one shard the rest of the statement is routed to, or on each copy of a reference table
         * it writes; what it reads (a sharded table, a view, a home table, a three-part name) is never guessed.
         */
        private final int selectBlocks;

        DmlScope(Statement statement, int selectBlocks) {
            this.statement = statement;
            this.selectBlocks = selectBlocks;
        }

        Plan plan(StatementKind kind, int params) {
            walker.getTables(statement);
            if (walker.selects.size() < selectBlocks) {
                throw new HardRefusal("the statement holds a subquery where Shardline cannot analyze it (inside"
                        + " SUBSTRING ... FOR, POSITION ... IN, OVERLAY, an array subscript, an operator such as ->>, or"
                        + " a window's or aggregate's ORDER BY), so the shards it reads cannot be proven: move the"
                        + " subquery into a CTE or the FROM clause");
            }
            for (Table t : walker.tables) {
                if (t.getAlias() != null
                        && t.getAlias().getAliasColumns() != null
                        && !t.getAlias().getAliasColumns().isEmpty()) {
                    sharded(t).ifPresent(sharded -> {
                        throw new HardRefusal("the sharded table " + sharded.qualifiedName() + " is given column"
                                + " names by its alias (" + t.getAlias().getName() + "(...)), which Shardline does"
                                + " not follow: its shard key cannot be told; alias the table without a column list");
                    });
                }
            }
            for (String cte : walker.cteNames) {
                // which references it hides depends on where it is defined: never guessed
                tableNames.sharded(null, cte).ifPresent(t -> {
                    throw new Refusal("the statement defines a CTE named " + cte + ", like the sharded table "
                            + t.qualifiedName() + ": rename the CTE");
                });
                if (kind != StatementKind.READ) {
                    // a write's target is never a CTE: which copy it writes must not depend on the name's scope
                    tableNames.reference(null, cte).ifPresent(t -> {
                        throw new Refusal("the statement defines a CTE named " + cte + ", like the reference table "
                                + t.qualifiedName() + ": rename the CTE");
                    });
                }
            }
            List<Runnable> conditions = new ArrayList<>();
            if (statement instanceof Insert || statement instanceof Update || statement instanceof Delete) {
                addModification(statement, conditions);
            } else if (statement instanceof Merge merge) {
                addMerge(merge, conditions);
            } else if (!(statement instanceof Select)) {
                for (Table t : walker.tables) {
                    sharded(t).ifPresent(s -> {
                        throw new Refusal("this kind of statement on the sharded table " + s.qualifiedName()
                                + " cannot be routed to one shard");
                    });
                    reference(t).ifPresent(r -> {
                        if (kind != StatementKind.READ) {
                            throw new Refusal("this kind of statement on the reference table " + r.qualifiedName()
                                    + " cannot be routed: a write to it must run on every shard");
                        }
                    });
                }
                return Plan.home(kind, params);
            }
            List<WithItem<?>> with = statementWith();
            if (with != null) {
                for (WithItem<?> item : with) {
                    addWritableCte(item.getStatement(), conditions);
                }
            }
            markFilteringOf(statement);
            for (PlainSelect ps : walker.selects) {
                int scope = newScope();
                scopeOf.put(ps, scope);
                addFromItems(scope, ps.getFromItem(), ps.getJoins(), conditions);
                conditions.add(() -> addWhere(scope, ps.getWhere(), inOuterJoinOn.getOrDefault(ps, ref -> true)));
            }
            exportDerivedKeys();
            conditions.forEach(Runnable::run);
            for (boolean changed = true; changed; ) {
                changed = false;
                for (String[] edge : inherits) {
                    if (!find(edge[0]).equals(find(edge[1])) && bound(edge[0])) {
                        union(edge[0], edge[1]);
                        changed = true;
                    }
                }
                for (String[] edge : cteInherits) {
                    if (!find(edge[0]).equals(find(edge[1])) && boundByFiltering(edge[0])) {
                        union(edge[0], edge[1]);
                        changed = true;
                    }
                }
            }
            dropBindingsThatLeakOutward();
            checkEveryShardedTableIsInAScope();
            if (referenceWrite != null) {
                return referenceWrite(kind, params);
            }
            String calls = addDistributedFunctions();
            if (calls != null) {
                return keyedByFunction(kind, calls, params);
            }
            if (refs.isEmpty()) {
                // SELECT ... INTO creates a table that is not declared: it belongs on the home shard
                boolean createsTable = walker.selects.stream().anyMatch(ps -> ps.getIntoTables() != null);
                return unshardedTables.isEmpty() && !createsTable ? Plan.any(kind, params) : Plan.home(kind, params);
            }
            if (!unshardedTables.isEmpty()) {
                if (kind == StatementKind.READ) {
                    return Plan.crossShard(
                            "the statement combines the sharded table "
                                    + refs.values().iterator().next().qualifiedName() + " with "
                                    + unshardedTables.get(0) + ", which lives only on the home shard",
                            params);
                }
                throw new Refusal("the statement combines the sharded table "
                        + refs.values().iterator().next().qualifiedName()
                        + " with " + unshardedTables.get(0)
                        + ", which is not sharded and lives only on the home shard: a"
                        + " write must stay on one shard");
            }
            List<KeyGroup> keyGroups = new ArrayList<>();
            for (List<String> members : groups()) {
                List<KeySource> sources = sources(members);
                List<ShardedTable> tables =
                        members.stream().map(refs::get).distinct().toList();
                if (sources.isEmpty()) {
                    ShardedTable t = tables.get(0);
                    String why = "the statement on the sharded table " + t.qualifiedName() + " has no usable value"
                            + " for its shard key " + t.keyColumn();
                    if (kind == StatementKind.READ) {
                        return Plan.crossShard(why, params);
                    }
                    if (keylessWriteOnEveryShard()) {
                        return Plan.everyShard(kind, why, params);
                    }
                    throw new Refusal("the statement on the sharded table " + t.qualifiedName() + " has no usable value"
                            + " for its shard key " + t.keyColumn() + ": add " + t.keyColumn() + " = ? (or IN (...)) to"
                            + " the WHERE of each query block that reads it, joined by AND (only reads, and UPDATE/DELETE"
                            + " without RETURNING whose sharded tables are all joined on their shard keys, under"
                            + " twoPhaseCommit=true, run across shards)");
                }
                keyGroups.add(new KeyGroup(tables, sources));
            }
            if (kind == StatementKind.WRITE && keylessWriteOnEveryShard()) {
                return Plan.keyedOrEveryShard(kind, keyGroups, params);
            }
            return splitsRows(keyGroups)
                    ? Plan.keyedOrSplit(kind, keyGroups, params)
                    : Plan.keyed(kind, keyGroups, params);
        }

        /**
         * Each call of a distributed function becomes a reference of its own, keyed by its key argument (a literal or a
         * {@code ?}); returns the first such function's name, or null when the statement calls none.
         *
         * @throws Refusal when a key argument is another expression
         */
        private String addDistributedFunctions() {
            String first = null;
            for (net.sf.jsqlparser.expression.Function call : walker.functions) {
                if (call.getName() == null) {
                    continue;
                }
                List<String> parts = call.getMultipartName();
                String name = SqlNames.fold(parts.get(parts.size() - 1));
                String schema = parts.size() >= 2 ? SqlNames.fold(parts.get(parts.size() - 2)) : null;
                var declared = tableNames.function(schema, name);
                if (declared.isEmpty()) {
                    continue;
                }
                var f = declared.get();
                List<?> args = call.getParameters() == null ? List.of() : call.getParameters();
                KeySource source =
                        f.keyArgument() <= args.size() && args.get(f.keyArgument() - 1) instanceof Expression e
                                ? keySource(e)
                                : null;
                if (source == null) {
                    throw new HardRefusal(
                            "the distributed function " + f.qualifiedName() + " takes its shard key as argument "
                                    + f.keyArgument() + ": give it a literal or a ? parameter there");
                }
                String ref = "fn#" + refs.size();
                refs.put(
                        ref, new ShardedTable(f.schema(), f.name() + "()", "argument " + f.keyArgument(), f.keyType()));
                values.computeIfAbsent(ref, k -> new ArrayList<>()).add(source);
                functionWrites |= f.writes();
                first = first == null ? f.qualifiedName() : first;
            }
            return first;
        }

        /**
         * A statement calling a distributed function: keyed by the calls' key arguments and the sharded tables' keys,
         * all on one shard — never across shards (the function would run on each shard's rows); a write when a
         * function called writes.
         */
        private Plan keyedByFunction(StatementKind kind, String function, int params) {
            if (!unshardedTables.isEmpty()) {
                throw new HardRefusal("the statement calls the distributed function " + function + " and reads "
                        + unshardedTables.get(0) + ", which lives only on the home shard");
            }
            List<KeyGroup> keyGroups = new ArrayList<>();
            for (List<String> members : groups()) {
                List<KeySource> sources = sources(members);
                ShardedTable t = refs.get(members.get(0));
                if (sources.isEmpty()) {
                    throw new HardRefusal(
                            "the statement calls the distributed function " + function + ", which runs on one"
                                    + " shard, and reads the sharded table " + t.qualifiedName()
                                    + " without a value for its key "
                                    + t.keyColumn() + ": it would see that shard's rows only");
                }
                keyGroups.add(
                        new KeyGroup(members.stream().map(refs::get).distinct().toList(), sources));
            }
            return Plan.keyedOnly(
                    functionWrites ? StatementKind.WRITE : kind,
                    keyGroups,
                    "the distributed function " + function + " runs on one shard: call it for keys of one shard",
                    params);
        }

        /**
         * A write to a reference table: every shard runs it on its copy, so it may read only reference tables (each
         * shard its own copy, all alike) — never a sharded table (each shard's rows differ) or a table of the home
         * shard (the others do not have it).
         */
        private Plan referenceWrite(StatementKind kind, int params) {
            String what = "a write to the reference table " + referenceWrite.qualifiedName() + " runs on every shard's"
                    + " copy, so it cannot ";
            if (!refs.isEmpty()) {
                throw new Refusal(what + "also touch the sharded table "
                        + refs.values().iterator().next().qualifiedName() + ", whose rows differ on each shard: write"
                        + " the values themselves");
            }
            if (!unshardedTables.isEmpty()) {
                throw new Refusal(what + "read " + unshardedTables.get(0) + ", which is not a reference table and"
                        + " lives only on the home shard");
            }
            for (net.sf.jsqlparser.expression.Function call : walker.functions) {
                List<String> parts = call.getMultipartName();
                if (parts != null
                        && !parts.isEmpty()
                        && tableNames
                                .function(
                                        parts.size() >= 2 ? SqlNames.fold(parts.get(parts.size() - 2)) : null,
                                        SqlNames.fold(parts.get(parts.size() - 1)))
                                .isPresent()) {
                    throw new Refusal(what + "call the distributed function " + call.getName()
                            + ", whose answer differs" + " on each shard");
                }
            }
            return Plan.referenceWrite(kind, referenceWrite.qualifiedName(), params);
        }

        /**
         * Whether the statement is an UPDATE or DELETE that may run on every shard as it is: no RETURNING (its rows
         * would come from several shards), and every sharded table it reads joined to its target on their shard keys
         * (one key group: a row's related rows are on its shard — {@code DELETE FROM lines l USING orders o WHERE
         * o.id = l.order_id AND o.status = 'void'}).
         */
        private boolean keylessWriteOnEveryShard() {
            if (groups().size() != 1) {
                return false;
            }
            if (statement instanceof Update update) {
                return update.getReturningClause() == null;
            }
            if (statement instanceof Delete delete) {
                return delete.getReturningClause() == null;
            }
            return false;
        }

        /**
         * Whether the statement is an {@code INSERT} of several {@code VALUES} rows into one sharded table, reading
         * nothing else (no subquery, no CTE) and returning nothing: each shard can be sent its own rows
         * ({@link InsertRows}), the group's key sources being the rows' keys in order.
         */
        private boolean splitsRows(List<KeyGroup> keyGroups) {
            return statement instanceof Insert insert
                    && insert.getSelect() instanceof Values rows
                    && tuples(rows).size() > 1
                    && rows.getLimit() == null
                    && rows.getOffset() == null
                    && rows.getFetch() == null
                    && rows.getOrderByElements() == null
                    && insert.getReturningClause() == null
                    && (insert.getWithItemsList() == null
                            || insert.getWithItemsList().isEmpty())
                    && walker.selects.isEmpty()
                    && refs.size() - excludedRefs == 1
                    && keyGroups.size() == 1
                    && keyGroups.get(0).sources().size() == tuples(rows).size();
        }

        /** The references joined on their keys, group by group. */
        private java.util.Collection<List<String>> groups() {
            Map<String, List<String>> groups = new LinkedHashMap<>();
            for (String ref : refs.keySet()) {
                groups.computeIfAbsent(find(ref), k -> new ArrayList<>()).add(ref);
            }
            return groups.values();
        }

        /** The key values bound to the references of one group. */
        private List<KeySource> sources(List<String> members) {
            List<KeySource> sources = new ArrayList<>();
            for (String ref : members) {
                sources.addAll(values.getOrDefault(ref, List.of()));
            }
            return sources;
        }

        private int newScope() {
            scopes.add(new LinkedHashMap<>());
            names.add(new java.util.HashSet<>());
            return scopes.size() - 1;
        }

        /** Records the name a FROM item that is not a table (a subquery, a VALUES list, a function) goes by. */
        private void declare(int scope, FromItem item) {
            if (item != null && !(item instanceof Table) && item.getAlias() != null) {
                names.get(scope).add(SqlNames.fold(item.getAlias().getName()));
            }
        }

        /** The table a statement writes: as {@link #addTable}, and a reference table is remembered as written. */
        private ShardedTable addTarget(int scope, Table t) {
            ShardedTable table = addTable(scope, t);
            if (table == null) {
                reference(t).ifPresent(r -> referenceWrite = r);
            }
            return table;
        }

        private void addInsert(Insert insert, List<Runnable> conditions) {
            int scope = newScope();
            modificationScopes.put(insert, scope);
            ShardedTable table = addTarget(scope, insert.getTable());
            if (table == null) {
                return;
            }
            String ref = scope + "#" + aliasOf(insert.getTable());
            if (insert.getOverridingMode() == Insert.OverridingMode.USER) {
                throw new Refusal("INSERT ... OVERRIDING USER VALUE into the sharded table " + table.qualifiedName()
                        + " lets each shard's identity default replace the shard key " + table.keyColumn()
                        + " given: insert the key without OVERRIDING USER VALUE");
            }
            if (insert.getConflictAction() != null && insert.getConflictAction().getUpdateSets() != null) {
                checkKeyNotUpdated(table, insert.getConflictAction().getUpdateSets());
                // ON CONFLICT DO UPDATE: EXCLUDED is the row proposed for insertion, its key the inserted one (a
                // subquery of the SET reading another table by EXCLUDED's key reads this shard)
                String excluded = scope + "#excluded";
                names.get(scope).add("excluded");
                scopes.get(scope).put("excluded", table);
                refs.put(excluded, table);
                exported++; // no table of the statement's text
                excludedRefs++;
                union(ref, excluded);
            }
            if (insert.isOnlyDefaultValues()) {
                throw new Refusal(keyLeftToDefault(table));
            }
            int keyIndex = keyIndex(insert.getColumns(), table);
            if (!(insert.getSelect() instanceof Values rows)) {
                addInsertSelect(insert, table, ref, keyIndex, conditions);
                return;
            }
            for (ExpressionList<?> tuple : tuples(rows)) {
                checkNoStarUpTo(table, tuple, keyIndex);
                if (keyIndex >= tuple.size()) {
                    throw new Refusal(keyLeftToDefault(table));
                }
                KeySource source = keySource(tuple.get(keyIndex));
                if (source == null) {
                    throw new Refusal("INSERT into the sharded table " + table.qualifiedName() + " sets its shard key "
                            + table.keyColumn() + " to an expression: use a literal or a ? parameter");
                }
                values.computeIfAbsent(ref, k -> new ArrayList<>()).add(source);
            }
        }

        /**
         * {@code *} or {@code t.*} among the first {@code keyIndex + 1} values: it expands to columns, so which
         * value is the key cannot be known.
         */
        private void checkNoStarUpTo(ShardedTable table, List<? extends Expression> items, int keyIndex) {
            for (int i = 0; i <= keyIndex && i < items.size(); i++) {
                if (items.get(i) instanceof AllColumns) {
                    throw new Refusal("INSERT into the sharded table " + table.qualifiedName() + " takes values from"
                            + " a * at or before its shard key " + table.keyColumn() + ": name the columns");
                }
            }
        }

        /** A data-modifying CTE ({@code WITH ins AS (INSERT ... RETURNING ...) SELECT ...}): analyzed as its statement. */
        private void addWritableCte(Object statement, List<Runnable> conditions) {
            addModification(
                    statement instanceof ParenthesedInsert p
                            ? p.getInsert()
                            : statement instanceof ParenthesedUpdate p
                                    ? p.getUpdate()
                                    : statement instanceof ParenthesedDelete p ? p.getDelete() : statement,
                    conditions);
        }

        /** An INSERT, UPDATE or DELETE (the statement, or a data-modifying CTE); anything else adds nothing. */
        private void addModification(Object statement, List<Runnable> conditions) {
            if (statement instanceof Insert insert) {
                addInsert(insert, conditions);
            } else if (statement instanceof Update update) {
                int scope = newScope();
                modificationScopes.put(update, scope);
                ShardedTable table = addTarget(scope, update.getTable());
                addFromItems(scope, update.getFromItem(), update.getJoins(), conditions);
                conditions.add(() -> addWhere(scope, update.getWhere(), ref -> true));
                if (table != null) {
                    checkKeyNotUpdated(table, update.getUpdateSets());
                }
            } else if (statement instanceof Delete delete) {
                int scope = newScope();
                modificationScopes.put(delete, scope);
                addTarget(scope, delete.getTable());
                if (delete.getUsingFromItemList() != null) {
                    for (FromItem item : delete.getUsingFromItemList()) {
                        addFromItems(scope, item, null, conditions);
                    }
                }
                addFromItems(scope, null, delete.getJoins(), conditions);
                conditions.add(() -> addWhere(scope, delete.getWhere(), ref -> true));
            }
        }

        /**
         * {@code MERGE INTO t USING source ON ...}: one shard when the ON condition binds the target's key (to a
         * literal or parameter, to the key of a sharded source table, to a column of a {@code VALUES} source whose
         * rows all give literals or parameters there, or to a column of a subquery source that is a literal, a
         * parameter or the key of a sharded table the subquery reads), and {@code WHEN NOT MATCHED THEN INSERT}
         * inserts that same key.
         */
        private void addMerge(Merge merge, List<Runnable> conditions) {
            int scope = newScope();
            ShardedTable target = addTarget(scope, merge.getTable());
            FromItem from = merge.getFromItem();
            MergeSource source = null;
            PlainSelect cte = from instanceof Table t ? cteSelect(merge.getWithItemsList(), t) : null;
            WithItem<?> cteValues = from instanceof Table t ? cteValues(merge.getWithItemsList(), t) : null;
            if (cteValues != null) {
                // WITH src(id, name) AS (VALUES (?, ?)) MERGE ... USING src: as a VALUES list written in place
                Table t = (Table) from;
                String name = SqlNames.fold(t.getAlias() != null ? t.getAlias().getName() : t.getName());
                names.get(scope).add(name);
                List<String> columns = cteValues.getWithItemList().stream()
                        .map(i -> SqlNames.fold(i.toString()))
                        .toList();
                Values rows = (Values) ((ParenthesedSelect) cteValues.getParenthesedStatement()).getSelect();
                source = new MergeSource(name, valuesColumns(rows, columns), null);
            } else if (cte != null) {
                // a CTE of the MERGE as its source (WITH src AS (SELECT ? AS id ...) MERGE ... USING src): as a
                // subquery written in place
                Table t = (Table) from;
                String name = SqlNames.fold(t.getAlias() != null ? t.getAlias().getName() : t.getName());
                names.get(scope).add(name);
                source = new MergeSource(name, Map.of(), cte);
            } else if (from instanceof Table t) {
                addTable(scope, t);
            } else if (from instanceof ParenthesedFromItem p
                    && p.getFromItem() instanceof Values rows
                    && p.getAlias() != null
                    && p.getAlias().getAliasColumns() != null) {
                List<String> columns = p.getAlias().getAliasColumns().stream()
                        .map(c -> SqlNames.fold(c.name))
                        .toList();
                source = new MergeSource(SqlNames.fold(p.getAlias().getName()), valuesColumns(rows, columns), null);
            } else if (from instanceof ParenthesedSelect p
                    && p.getAlias() != null
                    && p.getSelect() instanceof PlainSelect plain) {
                source = new MergeSource(SqlNames.fold(p.getAlias().getName()), Map.of(), plain);
            }
            declare(scope, from);
            if (target == null) {
                return;
            }
            String targetRef = scope + "#" + aliasOf(merge.getTable());
            boolean insertsUnmatched = false;
            for (MergeOperation operation : merge.getOperations()) {
                if (side(operation) == MergeSide.SOURCE) {
                    throw new Refusal("MERGE ... WHEN NOT MATCHED BY SOURCE on the sharded table "
                            + target.qualifiedName() + " acts on target rows no source row matches, on any shard");
                }
                insertsUnmatched |= operation instanceof MergeInsert;
            }
            if (insertsUnmatched && from instanceof Table t && sharded(t).isPresent()) {
                throw new Refusal("MERGE into the sharded table " + target.qualifiedName() + " inserts the unmatched"
                        + " rows of the whole sharded table " + sharded(t).get().qualifiedName() + ", on every shard:"
                        + " use a subquery reading it by its key (USING (SELECT ... WHERE key = ?) s)");
            }
            MergeSource using = source;
            boolean unmatched = insertsUnmatched;
            conditions.add(() -> {
                String boundColumn = null;
                for (Expression conjunct : conjuncts(merge.getOnCondition())) {
                    String column =
                            using == null ? null : targetKeyEqualsSourceColumn(scope, targetRef, conjunct, using);
                    if (column != null && bindFromSource(targetRef, using, column, target, unmatched)) {
                        boundColumn = column;
                    } else if (column == null) {
                        // with WHEN NOT MATCHED THEN INSERT every source row counts: ON restricts only the target
                        addConjuncts(scope, conjunct, ref -> !unmatched || ref.equals(targetRef));
                    }
                }
                for (MergeOperation operation : merge.getOperations()) {
                    if (operation instanceof MergeUpdate update) {
                        checkKeyNotUpdated(target, update.getUpdateSets());
                    } else if (operation instanceof MergeInsert insert) {
                        checkMergeInsert(scope, target, targetRef, insert, using, boundColumn);
                    }
                }
            });
        }

        /** For each column of a {@code VALUES} source: the literal or parameter of every row there, else null. */
        private Map<String, List<KeySource>> valuesColumns(Values rows, List<String> names) {
            Map<String, List<KeySource>> out = new HashMap<>();
            for (ExpressionList<?> tuple : tuples(rows)) {
                for (int i = 0; i < names.size(); i++) {
                    KeySource key = i < tuple.size() ? keySource(tuple.get(i)) : null;
                    String column = names.get(i);
                    if (key == null) {
                        out.put(column, null);
                    } else if (!out.containsKey(column) || out.get(column) != null) {
                        out.computeIfAbsent(column, k -> new ArrayList<>()).add(key);
                    }
                }
            }
            return out;
        }

        /**
         * Binds the target's key to the source's {@code column}: the values of a VALUES column, or what a subquery
         * gives under that name (a literal, a parameter, or the key of a sharded table it reads: one key group).
         *
         * @return whether the column proved the key
         */
        private boolean bindFromSource(
                String targetRef, MergeSource source, String column, ShardedTable target, boolean everySourceRow) {
            if (source.select == null) {
                List<KeySource> keys = source.values.get(column);
                if (keys == null) {
                    return false;
                }
                keys.forEach(k -> bind(targetRef, k));
                return true;
            }
            Expression given = source.output(column);
            KeySource literal = keySource(given);
            if (literal != null) {
                bind(targetRef, literal);
                return true;
            }
            Integer inner = scopeOf.get(source.select);
            String ref = inner == null || given == null ? null : keyRef(inner, given);
            if (ref == null || refs.get(ref).keyType() != target.keyType()) {
                return false;
            }
            if (everySourceRow && !boundByOwnWhere(source.select, inner, ref)) {
                // unmatched source rows are inserted with their own keys: the subquery alone must stay on one shard
                throw new Refusal("MERGE into the sharded table " + target.qualifiedName() + " inserts the unmatched"
                        + " rows of a subquery not bound to one key by its own WHERE (key = ? or IN (...))");
            }
            union(targetRef, ref);
            return true;
        }

        /** Whether {@code select}'s own WHERE binds {@code ref}'s key to literals or parameters. */
        private boolean boundByOwnWhere(PlainSelect select, int scope, String ref) {
            for (Expression conjunct : conjuncts(select.getWhere())) {
                if (conjunct instanceof EqualsTo eq) {
                    if ((ref.equals(keyRef(scope, eq.getLeftExpression()))
                                    && keySource(eq.getRightExpression()) != null)
                            || (ref.equals(keyRef(scope, eq.getRightExpression()))
                                    && keySource(eq.getLeftExpression()) != null)) {
                        return true;
                    }
                } else if (conjunct instanceof InExpression in
                        && !in.isNot()
                        && ref.equals(keyRef(scope, in.getLeftExpression()))
                        && in.getRightExpression() instanceof ExpressionList<?> list
                        && !list.isEmpty()
                        && list.stream().allMatch(e -> keySource(e) != null)) {
                    return true;
                }
            }
            return false;
        }

        /** The source column {@code alias.column} the conjunct equates the target's key with, or null. */
        private String targetKeyEqualsSourceColumn(
                int scope, String targetRef, Expression conjunct, MergeSource source) {
            if (!(conjunct instanceof EqualsTo eq)) {
                return null;
            }
            for (Expression[] sides : new Expression[][] {
                {eq.getLeftExpression(), eq.getRightExpression()}, {eq.getRightExpression(), eq.getLeftExpression()}
            }) {
                if (targetRef.equals(keyRef(scope, sides[0])) && source.owns(sides[1])) {
                    return SqlNames.fold(((Column) unwrap(sides[1])).getColumnName());
                }
            }
            return null;
        }

        /** {@code WHEN NOT MATCHED THEN INSERT}: the key it inserts must be the one the ON condition bound. */
        private void checkMergeInsert(
                int scope,
                ShardedTable target,
                String targetRef,
                MergeInsert insert,
                MergeSource source,
                String boundColumn) {
            if (insert.getValues() == null) {
                throw new Refusal(keyLeftToDefault(target)); // INSERT DEFAULT VALUES
            }
            int keyIndex = keyIndex(insert.getColumns(), target);
            checkNoStarUpTo(target, insert.getValues(), keyIndex);
            if (keyIndex >= insert.getValues().size()) {
                throw new Refusal(keyLeftToDefault(target));
            }
            Expression value = insert.getValues().get(keyIndex);
            KeySource literal = keySource(value);
            if (literal != null) {
                bind(targetRef, literal);
                return;
            }
            if (source != null
                    && boundColumn != null
                    && source.owns(value)
                    && SqlNames.fold(((Column) unwrap(value)).getColumnName()).equals(boundColumn)) {
                return; // the source column the ON condition bound the key to
            }
            String ref = keyRef(scope, value);
            if (ref != null && find(ref).equals(find(targetRef))) {
                return;
            }
            throw new Refusal("MERGE into the sharded table " + target.qualifiedName() + " inserts a shard key ("
                    + target.keyColumn() + ") other than the one its ON condition binds: give it the source's key,"
                    + " a literal or a ? parameter");
        }

        /** Where the shard key is among the values an INSERT gives: its column list, else the table's own order. */
        private int keyIndex(List<Column> insertColumns, ShardedTable table) {
            List<String> named = new ArrayList<>();
            if (insertColumns != null) {
                insertColumns.forEach(c -> named.add(SqlNames.fold(c.getColumnName())));
            } else {
                try {
                    named.addAll(columns.columns(table));
                } catch (RuntimeException e) {
                    throw new Refusal("INSERT into the sharded table " + table.qualifiedName() + " has no column"
                            + " list and its column order could not be read (" + e.getMessage() + "): name the"
                            + " columns, the shard key " + table.keyColumn() + " among them");
                }
            }
            int keyIndex = named.indexOf(table.keyColumn());
            if (keyIndex < 0) {
                throw new Refusal(keyLeftToDefault(table));
            }
            return keyIndex;
        }

        private static String keyLeftToDefault(ShardedTable table) {
            return "INSERT into the sharded table " + table.qualifiedName() + " does not set its shard key "
                    + table.keyColumn() + ": a default (serial, identity) would be drawn on each shard apart and could"
                    + " repeat; take the key from a sequence (SELECT nextval(...) routes to the home shard) and insert"
                    + " it";
        }

        /**
         * {@code INSERT ... SELECT}: allowed when the key the SELECT gives is a literal or parameter, or the key column
         * of a sharded table it reads (then both are one key group, bound by the SELECT's own WHERE).
         */
        private void addInsertSelect(
                Insert insert, ShardedTable table, String ref, int keyIndex, List<Runnable> conditions) {
            Select select = insert.getSelect();
            PlainSelect ps = select instanceof PlainSelect plain ? plain : null;
            if (ps == null || keyIndex >= ps.getSelectItems().size()) {
                throw new Refusal("INSERT ... SELECT into the sharded table " + table.qualifiedName() + " needs one"
                        + " plain SELECT giving the shard key " + table.keyColumn() + " as a literal, a parameter or"
                        + " the key of a sharded table it reads by its key");
            }
            checkNoStarUpTo(
                    table,
                    ps.getSelectItems().stream().map(SelectItem::getExpression).toList(),
                    keyIndex);
            Expression key = ps.getSelectItems().get(keyIndex).getExpression();
            KeySource literal = keySource(key);
            if (literal == null) {
                literal = withConstant(key, ps, insert.getWithItemsList(), select.getWithItemsList());
            }
            if (literal != null) {
                values.computeIfAbsent(ref, k -> new ArrayList<>()).add(literal);
                return;
            }
            conditions.add(() -> {
                Integer scope = scopeOf.get(ps);
                String source = scope == null ? null : keyRef(scope, key);
                if (source == null || refs.get(source).keyType() != table.keyType()) {
                    throw new Refusal("INSERT ... SELECT into the sharded table " + table.qualifiedName() + " takes its"
                            + " shard key " + table.keyColumn() + " from an expression that is not the key of a sharded"
                            + " table it reads: the rows could belong to other shards");
                }
                union(ref, source);
            });
        }

        /**
         * The literal or parameter that {@code e}, a column of a WITH query the SELECT reads by name, stands for: a
         * loader's way to give one key to generated rows ({@code WITH k AS (SELECT ?::bigint AS uid) INSERT ...
         * SELECT k.uid, g FROM k, generate_series(1, 3) g}). Only for a column named with its WITH query's name or
         * alias, or a SELECT reading nothing else, and a WITH query that is one plain SELECT reading no table (so every
         * row it gives has that value); null otherwise.
         */
        private static KeySource withConstant(
                Expression e, PlainSelect ps, List<WithItem<?>> outer, List<WithItem<?>> inner) {
            if (!(unwrap(e) instanceof Column column) || ps.getFromItem() == null) {
                return null;
            }
            String qualifier = column.getTable() == null || column.getTable().getName() == null
                    ? null
                    : SqlNames.fold(column.getTable().getName());
            List<FromItem> from = new ArrayList<>();
            from.add(ps.getFromItem());
            if (ps.getJoins() != null) {
                ps.getJoins().forEach(j -> from.add(j.getFromItem()));
            }
            if (qualifier == null && from.size() != 1) {
                return null; // another item of the FROM may have a column of that name
            }
            for (FromItem f : from) {
                if (f instanceof ParenthesedFromItem pf
                        && pf.getFromItem() instanceof Values values
                        && pf.getJoins() == null
                        && f.getAlias() != null
                        && f.getAlias().getAliasColumns() != null) {
                    // FROM (VALUES (9300, 'a')) AS v(id, name): a loader's one row
                    if (qualifier != null
                            && !qualifier.equals(SqlNames.fold(f.getAlias().getName()))) {
                        continue;
                    }
                    List<String> names = f.getAlias().getAliasColumns().stream()
                            .map(c -> SqlNames.fold(c.name))
                            .toList();
                    return valuesColumn(values, names, SqlNames.fold(column.getColumnName()));
                }
                if (!(f instanceof Table t) || t.getSchemaName() != null) {
                    continue;
                }
                if (t.getAlias() != null
                        && t.getAlias().getAliasColumns() != null
                        && !t.getAlias().getAliasColumns().isEmpty()) {
                    return null; // FROM k AS x(a, b) renames the WITH query's columns by position
                }
                String name = SqlNames.fold(t.getName());
                String alias = t.getAlias() != null ? SqlNames.fold(t.getAlias().getName()) : name;
                if (qualifier != null && !qualifier.equals(alias)) {
                    continue;
                }
                // the innermost WITH names first, as PostgreSQL resolves them
                WithItem<?> with = withItem(name, ps.getWithItemsList());
                with = with != null ? with : withItem(name, inner);
                with = with != null ? with : withItem(name, outer);
                return with == null ? null : oneValueColumn(with, SqlNames.fold(column.getColumnName()));
            }
            return null;
        }

        private static WithItem<?> withItem(String name, List<WithItem<?>> items) {
            if (items != null) {
                for (WithItem<?> w : items) {
                    if (w.getAlias() != null
                            && SqlNames.fold(w.getAlias().getName()).equals(name)) {
                        return w;
                    }
                }
            }
            return null;
        }

        /**
         * The literal or parameter column {@code column} of {@code with} is, when it is one SELECT of no table or a
         * VALUES list of one row.
         */
        private static KeySource oneValueColumn(WithItem<?> with, String column) {
            if (!with.isRecursive()
                    && with.getParenthesedStatement() instanceof ParenthesedSelect select
                    && select.getSelect() instanceof Values values
                    && with.getWithItemList() != null) {
                List<String> names = with.getWithItemList().stream()
                        .map(i -> SqlNames.fold(i.toString()))
                        .toList();
                return valuesColumn(values, names, column);
            }
            if (with.isRecursive()
                    || !(with.getParenthesedStatement() instanceof ParenthesedSelect select)
                    || !(select.getSelect() instanceof PlainSelect body)
                    || body.getFromItem() != null
                    || body.getWithItemsList() != null) {
                return null;
            }
            List<SelectItem<?>> items = body.getSelectItems();
            List<SelectItem<?>> names = with.getWithItemList();
            for (int i = 0; i < items.size(); i++) {
                String name = names != null
                        ? (i < names.size() ? SqlNames.fold(names.get(i).toString()) : null)
                        : items.get(i).getAlias() != null
                                ? SqlNames.fold(items.get(i).getAlias().getName())
                                : null;
                if (column.equals(name)) {
                    return keySource(items.get(i).getExpression());
                }
            }
            return null;
        }

        /**
         * The literal or parameter column {@code column} (of those {@code names}) of {@code values} is, when it has one
         * row; null otherwise (several rows may belong to several shards).
         */
        private static KeySource valuesColumn(Values values, List<String> names, String column) {
            if (!(values.getExpressions() instanceof ParenthesedExpressionList<?> row)) {
                return null; // several rows: a list of lists
            }
            for (Object e : row) {
                if (e instanceof ExpressionList<?>) {
                    return null; // a row of rows
                }
            }
            int at = names.indexOf(column);
            return at < 0 || at >= row.size() ? null : keySource((Expression) row.get(at));
        }

        private void checkKeyNotUpdated(ShardedTable table, List<UpdateSet> sets) {
            for (UpdateSet set : sets) {
                for (Column c : set.getColumns()) {
                    if (SqlNames.fold(c.getColumnName()).equals(table.keyColumn())) {
                        throw new Refusal("changing the shard key " + table.keyColumn() + " of " + table.qualifiedName()
                                + " would move the row to another shard: delete and insert it instead");
                    }
                }
            }
        }

        private void addFromItems(int scope, FromItem from, List<Join> joins, List<Runnable> conditions) {
            // a FULL or RIGHT join keeps rows of the tables joined before it that no ON condition of theirs let
            // through: in its FROM clause no ON condition binds a key (its WHERE still does)
            boolean keepsUnmatched = joins != null && joins.stream().anyMatch(j -> j.isFull() || j.isRight());
            if (from instanceof Table t) {
                addTable(scope, t);
                addCteReference(scope, t, keepsUnmatched);
            } else if (from instanceof ParenthesedSelect p) {
                derived.put(p, scope);
            }
            declare(scope, from);
            if (joins == null) {
                return;
            }
            for (Join join : joins) {
                if (join.getRightItem() instanceof Table t) {
                    addTable(scope, t);
                    addCteReference(scope, t, keepsUnmatched);
                } else if (join.getRightItem() instanceof ParenthesedSelect p) {
                    derived.put(p, scope);
                }
                declare(scope, join.getRightItem());
            }
            for (Join join : joins) {
                boolean noCondition = (join.getOnExpressions() == null
                                || join.getOnExpressions().isEmpty())
                        && (join.getUsingColumns() == null
                                || join.getUsingColumns().isEmpty())
                        && !join.isNatural();
                if (join.getOnExpressions() != null && join.getOnExpressions().size() > 1
                        || noCondition && (join.isLeft() || join.isRight() || join.isFull() || join.isOuter())) {
                    // a LEFT JOIN b JOIN c ON .. ON ..: JSqlParser gives both ON conditions to the inner join
                    throw new Refusal("a join nested without parentheses (a LEFT JOIN b JOIN c ON ... ON ...) cannot be"
                            + " analyzed: put the nested join in parentheses");
                }
            }
            Map<Join, List<String>> leftOperands = leftOperands(from, joins);
            for (Join join : joins) {
                // An ON condition restricts the rows of both sides of an inner join, only the joined (right) side of
                // a LEFT join — whose key then follows the preserved side's, never the reverse — and neither side of
                // a FULL join (RIGHT joins: not used to bind).
                java.util.function.Predicate<String> restricted;
                if (keepsUnmatched) {
                    restricted = ref -> false;
                } else if (join.isLeft() || join.isOuter()) {
                    String right = join.getRightItem() instanceof Table t ? scope + "#" + aliasOf(t) : null;
                    restricted = ref -> ref.equals(right);
                } else {
                    restricted = ref -> true;
                }
                for (Expression on : join.getOnExpressions()) {
                    conditions.add(() -> addConjuncts(scope, on, restricted));
                    if (keepsUnmatched || join.isLeft() || join.isOuter()) {
                        StatementWalker nested = new StatementWalker();
                        nested.getTables(on);
                        java.util.function.Predicate<String> outer = restricted;
                        for (PlainSelect sub : nested.selects) {
                            inOuterJoinOn.put(sub, ref -> scopeNumber(ref) != scope || outer.test(ref));
                        }
                    }
                }
                if (join.getUsingColumns() != null && !keepsUnmatched) {
                    // USING joins the items since the last comma with this one: an inner join makes their keys
                    // one, a LEFT join binds the joined item when the others are bound, never the reverse
                    List<String> left = leftOperands.get(join);
                    String right = fromItemName(join.getRightItem());
                    boolean leftJoin = join.isLeft() || join.isOuter();
                    for (Column using : join.getUsingColumns()) {
                        String column = SqlNames.fold(using.getColumnName());
                        conditions.add(() -> joinOnKeyColumn(scope, column, left, right, leftJoin));
                    }
                }
            }
        }

        /** For each join of a FROM clause, the names of the items it joins to: those since the last comma. */
        private Map<Join, List<String>> leftOperands(FromItem from, List<Join> joins) {
            Map<Join, List<String>> left = new java.util.IdentityHashMap<>();
            List<String> segment = new ArrayList<>(); // names may be null (an unaliased function, VALUES)
            segment.add(fromItemName(from));
            for (Join join : joins) {
                if (join.isSimple() || join.isCross() && join.getUsingColumns() == null) {
                    segment = new ArrayList<>(); // a, b: b starts a new operand
                }
                left.put(join, java.util.Collections.unmodifiableList(new ArrayList<>(segment)));
                if (!join.isLeft() && !join.isOuter()) {
                    // after a LEFT JOIN b USING (k), k is the left side's: a later USING (k) joins that, not b
                    segment.add(fromItemName(join.getRightItem()));
                }
            }
            return left;
        }

        /** The name a FROM item is referred to by, or null. */
        private String fromItemName(FromItem item) {
            if (item instanceof Table t) {
                return aliasOf(t);
            }
            return item != null && item.getAlias() != null
                    ? SqlNames.fold(item.getAlias().getName())
                    : null;
        }

        /**
         * A subquery in FROM (an expanded view, or written so) whose output column is a sharded table's key, with one
         * output row per key — no LIMIT/OFFSET/FETCH, window function or DISTINCT ON, and a GROUP BY holding the key
         * when it has one — exports it: that column is the table's key under the subquery's name, so a value bound
         * to it binds the table inside (all its rows with that key are on the key's shard). Nested subqueries are
         * exported innermost first.
         */
        private void exportDerivedKeys() {
            Set<ParenthesedSelect> done = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
            for (boolean more = true; more; ) {
                more = false;
                for (Map.Entry<ParenthesedSelect, Integer> d : derived.entrySet()) {
                    if (!done.contains(d.getKey())
                            && exportable(d.getKey())
                            && export(d.getKey(), d.getValue(), false)) {
                        done.add(d.getKey());
                        more = true;
                    }
                }
                for (Iterator<Map.Entry<Table, Integer>> it =
                                cteReferences.entrySet().iterator();
                        it.hasNext(); ) {
                    Map.Entry<Table, Integer> r = it.next();
                    if (exportCte(r.getKey(), r.getValue())) {
                        it.remove();
                        more = true;
                    }
                }
            }
        }

        private boolean exportable(ParenthesedSelect p) {
            if (p.getAlias() == null
                    || p.getAlias().getAliasColumns() != null
                    || !(p.getSelect() instanceof PlainSelect inner)
                    || !scopeOf.containsKey(inner)) {
                return false;
            }
            return inner.getLimit() == null
                    && inner.getOffset() == null
                    && inner.getFetch() == null
                    && inner.getWithItemsList() == null
                    && (inner.getDistinct() == null || inner.getDistinct().getOnSelectItems() == null)
                    && inner.getSelectItems().stream()
                            .noneMatch(item ->
                                    item.toString().toUpperCase(Locale.ROOT).contains(" OVER "));
        }

        /**
         * Exports the first key column of {@code p}'s select list; false when it has none (yet). {@code inheriting}: the
         * exported column is bound only when the key inside is ({@link #exportAs}).
         */
        private boolean export(ParenthesedSelect p, int outer, boolean inheriting) {
            PlainSelect inner = (PlainSelect) p.getSelect();
            int scope = scopeOf.get(inner);
            String alias = SqlNames.fold(p.getAlias().getName());
            if (inner.getSelectItems().size() == 1
                    && inner.getSelectItems().get(0).getExpression() instanceof AllColumns
                    && inner.getFromItem() instanceof Table from
                    && (inner.getJoins() == null || inner.getJoins().isEmpty())
                    && inner.getGroupBy() == null) {
                // SELECT * of one sharded table: its key column by its name
                String ref = scope + "#" + aliasOf(from);
                ShardedTable table = refs.get(ref);
                if (table != null) {
                    exportAs(outer, alias, ref, table, table.keyColumn(), inheriting);
                    return true;
                }
            }
            for (SelectItem<?> item : inner.getSelectItems()) {
                if (!(unwrap(item.getExpression()) instanceof Column c)) {
                    continue;
                }
                String ref = keyRef(scope, c);
                if (ref == null || !groupedBy(inner, c)) {
                    continue;
                }
                ShardedTable table = refs.get(ref);
                if (table == null) {
                    continue;
                }
                String output = item.getAlias() != null
                        ? SqlNames.fold(item.getAlias().getName())
                        : SqlNames.fold(c.getColumnName());
                exportAs(outer, alias, ref, table, output, inheriting);
                return true;
            }
            return false;
        }

        /**
         * Makes column {@code output} of FROM item {@code alias} of scope {@code outer} the key {@code ref} is; {@code
         * inheriting}: only once {@code ref} is bound by conditions of its own, never binding it (a WITH query: its
         * rows are made once for all its readers, and a data-modifying one writes whatever its readers keep).
         */
        private void exportAs(
                int outer, String alias, String ref, ShardedTable table, String output, boolean inheriting) {
            ShardedTable exported = new ShardedTable(table.schema(), table.table(), output, table.keyType());
            String outerRef = outer + "#" + alias;
            scopes.get(outer).put(alias, exported);
            refs.put(outerRef, exported);
            this.exported++;
            if (inheriting) {
                cteInherits.add(new String[] {ref, outerRef});
            } else {
                union(outerRef, ref);
            }
        }

        /**
         * A FROM item of {@code scope} naming a WITH query, for {@link #exportCte}: not one given column names by
         * position ({@code x AS y(a, b)}), nor one of a FROM that keeps unmatched rows (FULL or RIGHT join).
         */
        private void addCteReference(int scope, Table t, boolean keepsUnmatched) {
            boolean renamed = t.getAlias() != null
                    && t.getAlias().getAliasColumns() != null
                    && !t.getAlias().getAliasColumns().isEmpty();
            if (t.getSchemaName() == null
                    && walker.cteNames.contains(SqlNames.fold(t.getName()))
                    && !renamed
                    && !keepsUnmatched) {
                cteReferences.put(t, scope);
            }
        }

        /** Whether {@code scope}'s rows filter or make the statement's rows: an INSERT/UPDATE/DELETE's, or such a block. */
        private boolean filteringScope(int scope) {
            for (Map.Entry<PlainSelect, Integer> e : scopeOf.entrySet()) {
                if (e.getValue() == scope) {
                    return filtering.contains(e.getKey());
                }
            }
            return true;
        }

        /** The statement's own WITH list, or null. */
        private List<WithItem<?>> statementWith() {
            return statement instanceof Select select
                    ? select.getWithItemsList()
                    : statement instanceof Insert insert
                            ? insert.getWithItemsList()
                            : statement instanceof Update update
                                    ? update.getWithItemsList()
                                    : statement instanceof Delete delete ? delete.getWithItemsList() : null;
        }

        private static int indexOf(List<WithItem<?>> items, WithItem<?> item) {
            for (int i = 0; i < items.size(); i++) {
                if (items.get(i) == item) {
                    return i;
                }
            }
            return -1;
        }

        /** For each scope inside the body of one of the statement's own WITH queries, that query's position. */
        private Map<Integer, Integer> withPositionOfScope() {
            if (withPositions == null) {
                withPositions = new HashMap<>();
                List<WithItem<?>> top = statementWith();
                for (int i = 0; top != null && i < top.size(); i++) {
                    Object body = top.get(i).getStatement();
                    Statement inner = body instanceof ParenthesedInsert pi
                            ? pi.getInsert()
                            : body instanceof ParenthesedUpdate pu
                                    ? pu.getUpdate()
                                    : body instanceof ParenthesedDelete pd
                                            ? pd.getDelete()
                                            : body instanceof Statement st ? st : null;
                    if (inner == null) {
                        continue;
                    }
                    Integer own = modificationScopes.get(inner);
                    if (own != null) {
                        withPositions.put(own, i);
                    }
                    StatementWalker nested = new StatementWalker();
                    nested.getTables(inner);
                    for (PlainSelect ps : nested.selects) {
                        Integer scope = scopeOf.get(ps);
                        if (scope != null) {
                            withPositions.put(scope, i);
                        }
                    }
                }
            }
            return withPositions;
        }

        /**
         * Exports, as a derived table's, the key column of the WITH query {@code t} names into {@code scope}: the first
         * key column of a sharded table its plain SELECT selects (no column list, LIMIT, DISTINCT ON or window as for
         * a derived table), or that its INSERT, UPDATE or DELETE returns ({@code RETURNING user_id}: the key of the
         * rows it wrote). False when it has none (yet).
         */
        private boolean exportCte(Table t, int scope) {
            WithItem<?> item = walker.cteItems.get(SqlNames.fold(t.getName()));
            List<WithItem<?>> top = statementWith();
            int position = top == null ? -1 : indexOf(top, item);
            Integer readerIn = withPositionOfScope().get(scope);
            if (item == null
                    || item.isRecursive()
                    || item.getWithItemList() != null
                    || position < 0
                    || readerIn != null && readerIn <= position // a later WITH query's name is a table there
                    || !filteringScope(scope)) {
                // a reader in a block that does not filter the statement's rows (NOT EXISTS, a scalar subquery)
                // takes no key from it: the statement's rows are not narrowed to the WITH query's
                return true; // nothing to export, ever
            }
            String alias = aliasOf(t);
            Object body = item.getStatement();
            if (body instanceof ParenthesedSelect p) {
                ParenthesedSelect named = new ParenthesedSelect().withSelect(p.getSelect());
                named.setAlias(new Alias(alias));
                return exportable(named) && export(named, scope, true);
            }
            Object modification = body instanceof ParenthesedInsert pi
                    ? pi.getInsert()
                    : body instanceof ParenthesedUpdate pu
                            ? pu.getUpdate()
                            : body instanceof ParenthesedDelete pd ? pd.getDelete() : null;
            Integer inner = modificationScopes.get(modification);
            Table target = modification instanceof Insert i
                    ? i.getTable()
                    : modification instanceof Update u
                            ? u.getTable()
                            : modification instanceof Delete d ? d.getTable() : null;
            List<SelectItem<?>> returning = modification instanceof Insert i
                    ? i.getReturningClause()
                    : modification instanceof Update u
                            ? u.getReturningClause()
                            : modification instanceof Delete d ? d.getReturningClause() : null;
            if (inner == null || target == null || returning == null) {
                return false;
            }
            ShardedTable table = scopes.get(inner).get(aliasOf(target));
            if (table == null) {
                return false;
            }
            for (SelectItem<?> r : returning) {
                if (r.getExpression() instanceof AllColumns all
                        && (!(all instanceof AllTableColumns of)
                                || SqlNames.fold(of.getTable().getName()).equals(aliasOf(target)))) {
                    // RETURNING * (or t.*): the key column by its name
                    exportAs(scope, alias, inner + "#" + aliasOf(target), table, table.keyColumn(), true);
                    return true;
                }
                if (unwrap(r.getExpression()) instanceof Column c
                        && SqlNames.fold(c.getColumnName()).equals(table.keyColumn())
                        && (c.getTable() == null
                                || c.getTable().getName() == null
                                || SqlNames.fold(c.getTable().getName()).equals(aliasOf(target)))) {
                    String output = r.getAlias() != null
                            ? SqlNames.fold(r.getAlias().getName())
                            : SqlNames.fold(c.getColumnName());
                    exportAs(scope, alias, inner + "#" + aliasOf(target), table, output, true);
                    return true;
                }
            }
            return false;
        }

        /** Whether {@code inner} has no GROUP BY, or groups by column {@code c}. */
        private boolean groupedBy(PlainSelect inner, Column c) {
            if (inner.getGroupBy() == null) {
                return true;
            }
            String name = SqlNames.fold(c.getColumnName());
            for (Object e : inner.getGroupBy().getGroupByExpressionList()) {
                if (e instanceof Expression x
                        && unwrap(x) instanceof Column g
                        && SqlNames.fold(g.getColumnName()).equals(name)) {
                    return true;
                }
            }
            return false;
        }

        private ShardedTable addTable(int scope, Table t) {
            names.get(scope).add(aliasOf(t));
            var sharded = sharded(t);
            if (sharded.isPresent()) {
                String ref = scope + "#" + aliasOf(t);
                scopes.get(scope).put(aliasOf(t), sharded.get());
                refs.put(ref, sharded.get());
                return sharded.get();
            }
            if (!isCatalog(t)
                    && !(t.getSchemaName() == null && walker.cteNames.contains(SqlNames.fold(t.getName())))
                    && reference(t).isEmpty()) {
                unshardedTables.add(t.getFullyQualifiedName().replace(SqlNames.DOT_IN_NAME, '.'));
            }
            return null;
        }

        /** Marks the SELECT blocks of {@code statement} whose rows filter or make its rows ({@link #filtering}). */
        private void markFilteringOf(Statement statement) {
            if (statement instanceof Select select) {
                markFiltering(select, true);
            } else if (statement instanceof Insert insert) {
                markWith(insert.getWithItemsList());
                markFiltering(insert.getSelect(), true);
            } else if (statement instanceof Update update) {
                markWith(update.getWithItemsList());
                markFrom(update.getFromItem(), update.getJoins());
                markFilteringConjuncts(update.getWhere());
            } else if (statement instanceof Delete delete) {
                markWith(delete.getWithItemsList());
                markFrom(null, delete.getJoins());
                markFilteringConjuncts(delete.getWhere());
            } else if (statement instanceof Merge merge) {
                markWith(merge.getWithItemsList());
                if (merge.getFromItem() instanceof ParenthesedSelect source) {
                    markFiltering(source, false);
                }
                markFilteringConjuncts(merge.getOnCondition());
            }
        }

        private void markWith(List<WithItem<?>> with) {
            if (with != null) {
                for (WithItem<?> item : with) {
                    Object body = item.getStatement();
                    if (body instanceof Select select) {
                        markFiltering(select, true);
                    } else if (body instanceof ParenthesedInsert p) {
                        markFilteringOf(p.getInsert());
                    } else if (body instanceof ParenthesedUpdate p) {
                        markFilteringOf(p.getUpdate());
                    } else if (body instanceof ParenthesedDelete p) {
                        markFilteringOf(p.getDelete());
                    }
                }
            }
        }

        /**
         * The statement's own SELECT blocks ({@code rows}: their rows are the statement's), those of the subqueries
         * in FROM it joins with inner joins (no FULL or RIGHT join in that FROM clause), and those of {@code EXISTS
         * (...)} and {@code IN (...)} subqueries that are conjuncts of a filtering block's WHERE: a row of the
         * statement passed each of them. Of a set operation that filters, the branches every row passed: all of an
         * INTERSECT, the first of an EXCEPT, none of a UNION (its branches are alternatives). A block that filters
         * but aggregates without GROUP BY gives a row whatever it reads ({@code EXISTS (SELECT count(*) ...)}).
         */
        private void markFiltering(Select select, boolean rows) {
            if (select == null) {
                return;
            }
            markWith(select.getWithItemsList());
            if (select instanceof ParenthesedSelect p) {
                markFiltering(p.getSelect(), rows);
            } else if (select instanceof SetOperationList set) {
                List<Select> branches = set.getSelects();
                if (rows || set.getOperations().stream().allMatch(op -> op instanceof IntersectOp)) {
                    branches.forEach(b -> markFiltering(b, rows));
                } else if (set.getOperations().stream()
                        .allMatch(op -> op instanceof ExceptOp || op instanceof MinusOp)) {
                    markFiltering(branches.get(0), false);
                }
            } else if (select instanceof PlainSelect ps
                    && (rows || (ps.getGroupBy() != null ? !groupsAll(ps) : !aggregates(ps)))
                    && filtering.add(ps)) {
                markFrom(ps.getFromItem(), ps.getJoins());
                markFilteringConjuncts(ps.getWhere());
            }
        }

        /** The subqueries of a FROM clause that filter its rows: inner-joined, with no FULL or RIGHT join there. */
        private void markFrom(FromItem from, List<Join> joins) {
            List<Join> all = joins == null ? List.of() : joins;
            if (all.stream().anyMatch(j -> j.isFull() || j.isRight())) {
                return;
            }
            if (from instanceof ParenthesedSelect first) {
                markFiltering(first, false);
            }
            for (Join join : all) {
                if (!join.isLeft() && !join.isOuter() && join.getRightItem() instanceof ParenthesedSelect right) {
                    markFiltering(right, false);
                }
            }
        }

        /**
         * Whether {@code ps}'s GROUP BY makes a group of all rows, which exists with no row read: {@code GROUP BY ()},
         * ROLLUP, CUBE, GROUPING SETS (JSqlParser reads the first three as a list or a function).
         */
        private static boolean groupsAll(PlainSelect ps) {
            if (ps.getGroupBy().getGroupingSets() != null
                    && !ps.getGroupBy().getGroupingSets().isEmpty()) {
                return true;
            }
            var list = ps.getGroupBy().getGroupByExpressionList();
            if (list == null || list.isEmpty()) {
                return true;
            }
            for (Object e : list) {
                if (e instanceof net.sf.jsqlparser.expression.operators.relational.ExpressionList<?> inner
                                && inner.isEmpty()
                        || e instanceof net.sf.jsqlparser.expression.Function f
                                && Set.of("rollup", "cube", "grouping").contains(SqlNames.fold(f.getName()))) {
                    return true;
                }
            }
            return false;
        }

        /** Whether {@code ps} has a HAVING or calls an aggregate function (or a function so named). */
        private static boolean aggregates(PlainSelect ps) {
            if (ps.getHaving() != null) {
                return true;
            }
            List<String> texts = new ArrayList<>();
            ps.getSelectItems().forEach(item -> texts.add(item.toString()));
            if (ps.getOrderByElements() != null) {
                ps.getOrderByElements().forEach(o -> texts.add(o.toString()));
            }
            if (ps.getDistinct() != null && ps.getDistinct().getOnSelectItems() != null) {
                ps.getDistinct().getOnSelectItems().forEach(item -> texts.add(item.toString()));
            }
            if (ps.getWindowDefinitions() != null) {
                ps.getWindowDefinitions().forEach(w -> texts.add(w.toString()));
            }
            for (String text : texts) {
                List<Token> tokens = SqlLexer.tokenize(text);
                for (int i = 0; i < tokens.size(); i++) {
                    Token t = tokens.get(i);
                    String word = t.kind() == Kind.WORD
                            ? t.upper()
                            : t.kind() == Kind.QUOTED_IDENTIFIER
                                    ? SqlLexer.identifier(text, t).toUpperCase(Locale.ROOT)
                                    : null;
                    boolean called = i + 1 < tokens.size()
                            && tokens.get(i + 1).kind() == Kind.SYMBOL
                            && text.charAt(tokens.get(i + 1).start()) == '(';
                    // a known aggregate, quoted or not, a call of anything named like one (..._AGG...; a user's
                    // aggregate named otherwise is not known), or an ordered-set or filtered aggregate's WITHIN GROUP
                    // or FILTER
                    if (word != null
                            && (AGGREGATES.contains(word)
                                    || called && word.contains("AGG")
                                    || word.equals("WITHIN")
                                    || word.equals("FILTER"))) {
                        return true;
                    }
                }
            }
            return false;
        }

        private void markFilteringConjuncts(Expression where) {
            if (where instanceof AndExpression and) {
                markFilteringConjuncts(and.getLeftExpression());
                markFilteringConjuncts(and.getRightExpression());
            } else if (where instanceof ParenthesedExpressionList<?> p && p.size() == 1) {
                markFilteringConjuncts(p.get(0));
            } else if (where instanceof ExistsExpression exists
                    && !exists.isNot()
                    && exists.getRightExpression() instanceof Select sub) {
                markFiltering(sub, false);
            } else if (where instanceof InExpression in
                    && !in.isNot()
                    && in.getRightExpression() instanceof Select sub) {
                markFiltering(sub, false);
            }
        }

        /**
         * A key value bound in a block that does not filter the statement's rows ({@link #filtering}) binds its own
         * tables only: where its group (tables joined on their keys) reaches a table of another block (a correlated
         * reference, the key a subquery in FROM exports) that no filtering block binds, the value is dropped — else
         * {@code d.public OR EXISTS (... g.tenant = d.tenant AND g.tenant = ?)} would read one shard's {@code d}.
         */
        /** Whether {@code ref}'s group has a value bound in a block that filters the statement's rows. */
        private boolean boundByFiltering(String ref) {
            String root = find(ref);
            for (String bound : values.keySet()) {
                if (filteringScope(scopeNumber(bound)) && find(bound).equals(root)) {
                    return true;
                }
            }
            return false;
        }

        private void dropBindingsThatLeakOutward() {
            Map<Integer, PlainSelect> blocks = new HashMap<>();
            scopeOf.forEach((ps, scope) -> blocks.put(scope, ps));
            java.util.function.Predicate<String> fromFiltering = ref -> {
                PlainSelect block = blocks.get(scopeNumber(ref));
                return block == null || filtering.contains(block); // INSERT/UPDATE/DELETE targets filter
            };
            List<String> leaking = new ArrayList<>();
            for (String ref : values.keySet()) {
                if (fromFiltering.test(ref)) {
                    continue;
                }
                String root = find(ref);
                int scope = scopeNumber(ref);
                boolean reachesOut = refs.keySet().stream()
                        .anyMatch(other ->
                                scopeNumber(other) != scope && find(other).equals(root));
                boolean boundByFiltering = values.keySet().stream()
                        .anyMatch(other ->
                                fromFiltering.test(other) && find(other).equals(root));
                if (reachesOut && !boundByFiltering) {
                    leaking.add(ref);
                }
            }
            leaking.forEach(values::remove);
        }

        private static int scopeNumber(String ref) {
            return Integer.parseInt(ref.substring(0, ref.indexOf('#')));
        }

        private void addWhere(int scope, Expression where, java.util.function.Predicate<String> restricts) {
            if (where != null) {
                addConjuncts(scope, where, restricts);
            }
        }

        /**
         * The SELECT blocks inside an outer join's ON (an EXISTS or IN subquery there), and which references their
         * WHERE restricts: not the preserved side's tables of the block whose join it is — the preserved rows pass
         * whatever the subquery finds — so a correlated {@code x.k = u.k} there does not join u's key to x's.
         */
        private final Map<PlainSelect, java.util.function.Predicate<String>> inOuterJoinOn =
                new java.util.IdentityHashMap<>();

        /** Walks top-level AND conjuncts; a key value binds only the references the condition restricts. */
        private void addConjuncts(int scope, Expression e, java.util.function.Predicate<String> restricts) {
            if (e instanceof AndExpression and) {
                addConjuncts(scope, and.getLeftExpression(), restricts);
                addConjuncts(scope, and.getRightExpression(), restricts);
            } else if (e instanceof ParenthesedExpressionList<?> p && p.size() == 1) {
                addConjuncts(scope, p.get(0), restricts);
            } else if (e instanceof EqualsTo eq && row(eq.getLeftExpression()) != null) {
                // (a, b) = (?, ?): each pair is a conjunct
                List<Expression> left = row(eq.getLeftExpression());
                List<Expression> right = row(eq.getRightExpression());
                if (right != null && right.size() == left.size()) {
                    for (int i = 0; i < left.size(); i++) {
                        addConjuncts(scope, new EqualsTo(left.get(i), right.get(i)), restricts);
                    }
                }
            } else if (e instanceof InExpression in
                    && !in.isNot()
                    && row(in.getLeftExpression()) != null
                    && in.getRightExpression() instanceof ExpressionList<?> tuples) {
                addRowIn(scope, row(in.getLeftExpression()), tuples, restricts);
            } else if (e instanceof EqualsTo eq) {
                String left = keyRef(scope, eq.getLeftExpression());
                String right = keyRef(scope, eq.getRightExpression());
                if (left != null && right != null) {
                    if (refs.get(left).keyType() == refs.get(right).keyType()) {
                        boolean l = restricts.test(left);
                        boolean r = restricts.test(right);
                        if (l == r) {
                            union(left, right);
                        } else {
                            // an outer join: the joined side's rows follow the preserved side's key, not the reverse
                            inherits.add(l ? new String[] {right, left} : new String[] {left, right});
                        }
                    }
                } else if (left != null && restricts.test(left)) {
                    bind(left, keySource(eq.getRightExpression()));
                } else if (right != null && restricts.test(right)) {
                    bind(right, keySource(eq.getLeftExpression()));
                }
            } else if (e instanceof InExpression in
                    && !in.isNot()
                    && in.getRightExpression() instanceof ParenthesedSelect sub
                    && sub.getSelect() instanceof PlainSelect inner) {
                // x IN (SELECT k FROM t ...) as a conjunct: a row passes only with some row of t whose k = x, so it
                // joins x and k as x = k in EXISTS (SELECT 1 FROM t ... WHERE k = x) would
                String left = keyRef(scope, in.getLeftExpression());
                String right = keysOf(inner);
                if (left != null
                        && right != null
                        && restricts.test(left)
                        && restricts.test(right)
                        && refs.get(left).keyType() == refs.get(right).keyType()) {
                    // (in an outer join's ON, not at all: the preserved side's rows pass whatever the subquery holds)
                    union(left, right);
                }
            } else if (e instanceof InExpression in && !in.isNot()) {
                String ref = keyRef(scope, in.getLeftExpression());
                if (ref != null && restricts.test(ref) && in.getRightExpression() instanceof ExpressionList<?> list) {
                    List<KeySource> sources = new ArrayList<>();
                    for (Expression item : list) {
                        KeySource s = keySource(item);
                        if (s == null) {
                            return;
                        }
                        sources.add(s);
                    }
                    sources.forEach(s -> bind(ref, s));
                }
            }
        }

        /**
         * The reference whose key is the one output column of {@code inner}, a subquery of {@code IN}, when its rows
         * are every row of its FROM that passes its WHERE, one per key at least: no LIMIT, OFFSET, FETCH, DISTINCT ON
         * or WITH (a GROUP BY then holds that column: each group is one key's rows); else null.
         */
        private String keysOf(PlainSelect inner) {
            Integer scope = scopeOf.get(inner);
            if (scope == null
                    || inner.getLimit() != null
                    || inner.getOffset() != null
                    || inner.getFetch() != null
                    || inner.getWithItemsList() != null
                    || inner.getIntoTables() != null
                    || (inner.getDistinct() != null && inner.getDistinct().getOnSelectItems() != null)
                    || inner.getSelectItems().size() != 1) {
                return null;
            }
            return keyRef(scope, inner.getSelectItems().get(0).getExpression());
        }

        /**
         * {@code (a, b) IN ((?, ?), (?, ?))}: a key column among the row's columns takes the values at its position in
         * every tuple (all of them literals or parameters, else nothing is bound).
         */
        private void addRowIn(
                int scope,
                List<Expression> columns,
                ExpressionList<?> tuples,
                java.util.function.Predicate<String> restricts) {
            for (int i = 0; i < columns.size(); i++) {
                String ref = keyRef(scope, columns.get(i));
                if (ref == null || !restricts.test(ref)) {
                    continue;
                }
                List<KeySource> sources = new ArrayList<>();
                for (Expression tuple : tuples) {
                    List<Expression> values = row(tuple);
                    KeySource s = values != null && values.size() == columns.size() ? keySource(values.get(i)) : null;
                    if (s == null) {
                        sources = null;
                        break;
                    }
                    sources.add(s);
                }
                if (sources != null && !sources.isEmpty()) {
                    sources.forEach(s -> bind(ref, s));
                }
            }
        }

        private void bind(String ref, KeySource source) {
            if (source != null) {
                values.computeIfAbsent(ref, k -> new ArrayList<>()).add(source);
            }
        }

        /**
         * The reference ({@code scope#alias}) of the sharded table whose key column {@code e} is, or null. A
         * qualified column may name an alias of an enclosing query (correlated subquery) when that alias is
         * unique in the statement; an unqualified one resolves in its own scope only.
         */
        private String keyRef(int scope, Expression e) {
            String ref = columnKeyRef(scope, e);
            return ref != null && refs.get(ref).keyType() == KeyType.TEXT && castsFromText(e) ? null : ref;
        }

        private String columnKeyRef(int scope, Expression e) {
            Expression inner = unwrap(e);
            if (!(inner instanceof Column c)) {
                return null;
            }
            String column = SqlNames.fold(c.getColumnName());
            Table qualifier = c.getTable();
            if (qualifier != null && qualifier.getName() != null) {
                String alias = SqlNames.fold(qualifier.getName());
                ShardedTable own = scopes.get(scope).get(alias);
                if (own != null) {
                    return own.keyColumn().equals(column) ? scope + "#" + alias : null;
                }
                if (names.get(scope).contains(alias)) {
                    return null; // a FROM item of this scope that is no sharded table
                }
                // An outer query's table (a correlated reference): only when no other FROM item anywhere has the
                // name, since which scopes enclose which is not tracked.
                int owner = -1;
                for (int s = 0; s < names.size(); s++) {
                    if (names.get(s).contains(alias)) {
                        if (owner >= 0) {
                            return null;
                        }
                        owner = s;
                    }
                }
                ShardedTable t = owner < 0 ? null : scopes.get(owner).get(alias);
                return t != null && t.keyColumn().equals(column) ? owner + "#" + alias : null;
            }
            String found = null;
            for (Map.Entry<String, ShardedTable> entry : scopes.get(scope).entrySet()) {
                if (entry.getValue().keyColumn().equals(column)) {
                    String ref = scope + "#" + entry.getKey();
                    if (found != null && !find(found).equals(find(ref))) {
                        return null; // ambiguous: PostgreSQL will say so
                    }
                    found = found == null ? ref : found;
                }
            }
            return found;
        }

        /** {@code JOIN ... USING (column)}: the sharded tables of the scope keyed by that column are joined on it. */
        private void joinOnKeyColumn(int scope, String column, List<String> left, String right, boolean leftJoin) {
            String joined = keyRefNamed(scope, right, column);
            if (joined == null) {
                return;
            }
            for (String name : left) {
                String ref = keyRefNamed(scope, name, column);
                if (ref == null || refs.get(ref).keyType() != refs.get(joined).keyType()) {
                    continue;
                }
                if (leftJoin) {
                    inherits.add(new String[] {ref, joined});
                } else {
                    union(ref, joined);
                }
            }
        }

        /** The reference of FROM item {@code name} of {@code scope} when {@code column} is its sharded key, or null. */
        private String keyRefNamed(int scope, String name, String column) {
            ShardedTable t = name == null ? null : scopes.get(scope).get(name);
            return t != null && t.keyColumn().equals(column) ? scope + "#" + name : null;
        }

        private void checkEveryShardedTableIsInAScope() {
            long shardedRefs =
                    walker.tables.stream().filter(t -> sharded(t).isPresent()).count();
            // the references of real tables: not the keys subqueries export, nor distributed functions' calls
            long tableRefs = refs.size() - exported;
            if (shardedRefs > tableRefs) {
                String name = walker.tables.stream()
                        .map(this::sharded)
                        .flatMap(java.util.Optional::stream)
                        .findFirst()
                        .map(ShardedTable::qualifiedName)
                        .orElse("?");
                throw new Refusal("the sharded table " + name + " appears where its shard key cannot be proven"
                        + " (a writable CTE, INSERT ... SELECT, a function argument, or the same alias twice): a write"
                        + " must stay on one shard");
            }
        }

        private java.util.Optional<ShardedTable> sharded(Table t) {
            if (t.getName() == null) {
                return java.util.Optional.empty();
            }
            String schema = t.getSchemaName() == null ? null : SqlNames.fold(t.getSchemaName());
            String name = SqlNames.fold(t.getName());
            if (schema == null && walker.cteNames.contains(name)) {
                return java.util.Optional.empty();
            }
            return tableNames.sharded(schema, name);
        }

        private java.util.Optional<ReferenceTable> reference(Table t) {
            if (t.getName() == null) {
                return java.util.Optional.empty();
            }
            String schema = t.getSchemaName() == null ? null : SqlNames.fold(t.getSchemaName());
            String name = SqlNames.fold(t.getName());
            if (schema == null && walker.cteNames.contains(name)) {
                return java.util.Optional.empty();
            }
            return tableNames.reference(schema, name);
        }

        private boolean isCatalog(Table t) {
            String schema = t.getSchemaName() == null ? null : SqlNames.fold(t.getSchemaName());
            String name = t.getName() == null ? "" : SqlNames.fold(t.getName());
            return (schema != null && CATALOG_SCHEMAS.contains(schema)) || (schema == null && name.startsWith("pg_"));
        }

        private String aliasOf(Table t) {
            return t.getAlias() != null ? SqlNames.fold(t.getAlias().getName()) : SqlNames.fold(t.getName());
        }

        private String find(String ref) {
            String p = parent.getOrDefault(ref, ref);
            return p.equals(ref) ? ref : find(p);
        }

        /** Whether a reference of {@code ref}'s group has a key value. */
        private boolean bound(String ref) {
            String root = find(ref);
            for (String r : values.keySet()) {
                if (find(r).equals(root)) {
                    return true;
                }
            }
            return false;
        }

        private void union(String a, String b) {
            String ra = find(a);
            String rb = find(b);
            if (!ra.equals(rb)) {
                parent.put(ra, rb);
            }
        }
    }

    /**
     * The name {@code t} gives a CTE of {@code with}: null when there is none, or {@code t} has a schema, or renames
     * the columns by position (USING x AS y(a, b): not followed).
     */
    private static String cteReference(List<WithItem<?>> with, Table t) {
        if (with == null
                || t.getSchemaName() != null
                || t.getName() == null
                || t.getAlias() != null
                        && t.getAlias().getAliasColumns() != null
                        && !t.getAlias().getAliasColumns().isEmpty()) {
            return null;
        }
        return SqlNames.fold(t.getName());
    }

    /** The CTE in {@code with} that unqualified {@code t} names when it is a VALUES list with a column list, or null. */
    private static WithItem<?> cteValues(List<WithItem<?>> with, Table t) {
        String name = cteReference(with, t);
        if (name == null) {
            return null;
        }
        for (WithItem<?> item : with) {
            if (item.getAlias() != null
                    && SqlNames.fold(item.getAlias().getName()).equals(name)
                    && !item.isRecursive()
                    && item.getWithItemList() != null
                    && item.getParenthesedStatement() instanceof ParenthesedSelect p
                    && p.getSelect() instanceof Values) {
                return item;
            }
        }
        return null;
    }

    /** The plain SELECT of the CTE in {@code with} that unqualified {@code t} names, or null. */
    private static PlainSelect cteSelect(List<WithItem<?>> with, Table t) {
        String name = cteReference(with, t);
        if (name == null) {
            return null;
        }
        for (WithItem<?> item : with) {
            // x(a, b) AS (...): JSqlParser keeps the column list as the item's, not its alias's
            if (item.getAlias() != null
                    && item.getAlias().getAliasColumns() == null
                    && item.getWithItemList() == null
                    && SqlNames.fold(item.getAlias().getName()).equals(name)) {
                Object body = item.getStatement();
                if (body instanceof ParenthesedSelect p) {
                    body = p.getSelect();
                }
                return body instanceof PlainSelect plain ? plain : null;
            }
        }
        return null;
    }

    /**
     * The source of a MERGE that is not a table: a {@code VALUES} list (the key sources of each column) or a
     * subquery (its output columns), under its alias.
     */
    private record MergeSource(String alias, Map<String, List<KeySource>> values, PlainSelect select) {
        /** Whether {@code e} is a column of this source, qualified by its alias. */
        boolean owns(Expression e) {
            return unwrap(e) instanceof Column c
                    && c.getTable() != null
                    && c.getTable().getName() != null
                    && SqlNames.fold(c.getTable().getName()).equals(alias);
        }

        /** What the subquery gives under the output name {@code column}, or null. */
        Expression output(String column) {
            Expression found = null;
            for (SelectItem<?> item : select.getSelectItems()) {
                Expression e = item.getExpression();
                String name = item.getAlias() != null
                        ? SqlNames.fold(item.getAlias().getName())
                        : unwrap(e) instanceof Column c ? SqlNames.fold(c.getColumnName()) : null;
                if (column.equals(name)) {
                    if (found != null) {
                        return null; // two outputs of one name: PostgreSQL reports the ambiguity
                    }
                    found = e;
                }
            }
            return found;
        }
    }

    /** Which side a MERGE action is for: {@code WHEN NOT MATCHED BY SOURCE} is {@link MergeSide#SOURCE}. */
    private static MergeSide side(MergeOperation operation) {
        if (operation instanceof MergeInsert insert) {
            return insert.getSide();
        }
        if (operation instanceof MergeUpdate update) {
            return update.getSide();
        }
        return operation instanceof MergeDelete delete ? delete.getSide() : null;
    }

    /** The rows of a VALUES list: {@code VALUES (1, 2)} is one row of two, {@code VALUES (1), (2)} two rows. */
    private static List<ExpressionList<?>> tuples(Values rows) {
        List<ExpressionList<?>> tuples = new ArrayList<>();
        ExpressionList<?> list = rows.getExpressions();
        if (!list.isEmpty() && list.get(0) instanceof ExpressionList<?>) {
            for (Expression row : list) {
                tuples.add((ExpressionList<?>) row);
            }
        } else {
            tuples.add(list);
        }
        return tuples;
    }

    /** The top-level AND conjuncts of {@code e} (none for null). */
    private static List<Expression> conjuncts(Expression e) {
        List<Expression> out = new ArrayList<>();
        if (e instanceof AndExpression and) {
            out.addAll(conjuncts(and.getLeftExpression()));
            out.addAll(conjuncts(and.getRightExpression()));
        } else if (e instanceof ParenthesedExpressionList<?> p && p.size() == 1) {
            out.addAll(conjuncts(p.get(0)));
        } else if (e != null) {
            out.add(e);
        }
        return out;
    }

    /** The items of a row constructor ({@code (a, b)} or {@code ROW(a, b)}) of two or more, or null. */
    private static List<Expression> row(Expression e) {
        if (e instanceof RowConstructor<?> r && r.size() > 1) {
            return new ArrayList<>(r);
        }
        if (e instanceof ParenthesedExpressionList<?> p && p.size() > 1) {
            return new ArrayList<>(p);
        }
        return null;
    }

    /** PostgreSQL's aggregate functions: a block calling one without GROUP BY gives one row whatever it reads. */
    private static final Set<String> AGGREGATES = Set.of(
            "COUNT",
            "SUM",
            "AVG",
            "MIN",
            "MAX",
            "BOOL_AND",
            "BOOL_OR",
            "EVERY",
            "ARRAY_AGG",
            "STRING_AGG",
            "JSON_AGG",
            "JSONB_AGG",
            "JSON_OBJECT_AGG",
            "JSONB_OBJECT_AGG",
            "JSON_AGG_STRICT",
            "JSONB_AGG_STRICT",
            "XMLAGG",
            "BIT_AND",
            "BIT_OR",
            "BIT_XOR",
            "STDDEV",
            "STDDEV_POP",
            "STDDEV_SAMP",
            "VARIANCE",
            "VAR_POP",
            "VAR_SAMP",
            "CORR",
            "COVAR_POP",
            "COVAR_SAMP",
            "REGR_AVGX",
            "REGR_AVGY",
            "REGR_COUNT",
            "REGR_INTERCEPT",
            "REGR_R2",
            "REGR_SLOPE",
            "REGR_SXX",
            "REGR_SXY",
            "REGR_SYY",
            "PERCENTILE_CONT",
            "PERCENTILE_DISC",
            "MODE",
            "RANGE_AGG",
            "RANGE_INTERSECT_AGG",
            "ANY_VALUE");

    private static Expression unwrap(Expression e) {
        Expression x = e;
        while (true) {
            if (x instanceof CastExpression cast && keepsValue(cast)) {
                x = cast.getLeftExpression();
            } else if (x instanceof ParenthesedExpressionList<?> p && p.size() == 1) {
                x = p.get(0);
            } else {
                return x;
            }
        }
    }

    /** Types a key value keeps itself through: exact text, integer and uuid types (no length, no rounding). */
    private static final Set<String> EXACT_TYPES = Set.of(
            "text",
            "varchar",
            "character varying",
            "bigint",
            "int8",
            "integer",
            "int",
            "int4",
            "smallint",
            "int2",
            "numeric",
            "decimal",
            "uuid");

    /**
     * Whether a cast leaves a key value as it is, so that a key compared through it is the key: to an exact type
     * ({@link #EXACT_TYPES}) without a length or precision — not {@code varchar(3)} (cuts), {@code citext}
     * (compares without case), {@code name} (cuts at 63 bytes), {@code real} (rounds), {@code char} (is
     * {@code char(1)}).
     */
    private static boolean keepsValue(CastExpression cast) {
        if (cast.getColDataType() == null || cast.getColDataType().getDataType() == null) {
            return false;
        }
        List<String> arguments = cast.getColDataType().getArgumentsStringList();
        return (arguments == null || arguments.isEmpty()) && EXACT_TYPES.contains(typeName(cast));
    }

    /** The cast's type, lower case, without quotes or a {@code pg_catalog.} qualifier (a length stays). */
    private static String typeName(CastExpression cast) {
        String type = cast.getColDataType()
                .getDataType()
                .replace("\"", "")
                .toLowerCase(Locale.ROOT)
                .trim();
        return type.startsWith("pg_catalog.") ? type.substring("pg_catalog.".length()) : type;
    }

    /**
     * Whether {@code e} casts a text key to another type: {@code code::int = 5} holds for '5' and '05', keys on
     * different shards.
     */
    private static boolean castsFromText(Expression e) {
        for (Expression x = e; ; ) {
            if (x instanceof CastExpression cast) {
                if (!Set.of("text", "varchar", "character varying").contains(typeName(cast))) {
                    return true;
                }
                x = cast.getLeftExpression();
            } else if (x instanceof ParenthesedExpressionList<?> p && p.size() == 1) {
                x = p.get(0);
            } else {
                return false;
            }
        }
    }

    /**
     * A numeric literal's value as written ({@code Long}, else {@code BigInteger} past 64 bits or {@code BigDecimal}
     * with a fraction or exponent: the key type rounds or refuses it as PostgreSQL would), or null.
     */
    private static Object number(Expression x, boolean negated) {
        java.math.BigDecimal value;
        if (x instanceof LongValue l) {
            value = new java.math.BigDecimal(new java.math.BigInteger(l.getStringValue()));
        } else if (x instanceof net.sf.jsqlparser.expression.DoubleValue d) {
            try {
                value = new java.math.BigDecimal(d.toString());
            } catch (NumberFormatException e) {
                return null;
            }
        } else {
            return null;
        }
        value = negated ? value.negate() : value;
        if (value.scale() <= 0 && value.precision() - value.scale() <= 19) {
            java.math.BigInteger whole = value.toBigIntegerExact();
            return whole.bitLength() <= 63 ? (Object) whole.longValue() : whole;
        }
        return value;
    }

    /** A literal or parameter key value, or null when {@code e} is anything else. */
    static KeySource keySource(Expression e) {
        if (e == null) {
            return null;
        }
        Expression x = unwrap(e);
        if (x instanceof JdbcParameter p && p.getIndex() != null) {
            return KeySource.parameter(p.getIndex());
        }
        Object number = number(x, false);
        if (number != null) {
            return KeySource.literal(number);
        }
        if (x instanceof StringValue s
                && (s.getPrefix() == null || s.getPrefix().isEmpty())) {
            return KeySource.literal(s.getValue().replace("''", "'"));
        }
        if (x instanceof SignedExpression signed && (signed.getSign() == '-' || signed.getSign() == '+')) {
            number = number(unwrap(signed.getExpression()), signed.getSign() == '-');
            if (number != null) {
                return KeySource.literal(number);
            }
        }
        if (x instanceof NullValue) {
            return KeySource.literal(null);
        }
        return null;
    }
}
