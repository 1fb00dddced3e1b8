package io.shardline.router.sql;

import java.util.List;
import java.util.Optional;
import java.util.Set;
import net.sf.jsqlparser.expression.Alias;
import net.sf.jsqlparser.parser.CCJSqlParserUtil;
import net.sf.jsqlparser.schema.Table;
import net.sf.jsqlparser.statement.Statement;
import net.sf.jsqlparser.statement.delete.Delete;
import net.sf.jsqlparser.statement.insert.Insert;
import net.sf.jsqlparser.statement.merge.Merge;
import net.sf.jsqlparser.statement.select.FromItem;
import net.sf.jsqlparser.statement.select.Join;
import net.sf.jsqlparser.statement.select.ParenthesedSelect;
import net.sf.jsqlparser.statement.select.PlainSelect;
import net.sf.jsqlparser.statement.select.Select;
import net.sf.jsqlparser.statement.update.Update;

/**
 * Views over sharded or reference tables, as PostgreSQL reads them: a statement naming one is analyzed with the view
 * replaced by its definition ({@code pg_get_viewdef} from the home shard's catalog, views in it expanded too), so
 * it is routed like a read of the tables the view reads — one shard when the key is bound (in the view's definition,
 * or through a column the view exposes), across shards otherwise — and never answered from one shard's rows. The
 * view itself exists on every shard (its {@code CREATE VIEW} runs on every primary), so a statement routed to one
 * shard runs there as written.
 */
final class Views {
    /** How deep views over views are followed. */
    private static final int MAX_DEPTH = 8;

    /** A statement naming such a view that cannot be analyzed or run: its message says why. */
    static final class Refused extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Refused(String message) {
            super(message, null, false, false);
        }
    }

    private final TableNames names;

    Views(TableNames names) {
        this.names = names;
    }

    /**
     * Replaces, in place, every view over sharded or reference tables that {@code statement} reads by a subquery of
     * its definition under the view's name.
     *
     * @return whether any was replaced
     * @throws Refused for a write into such a view, a materialized one, or a definition that cannot be analyzed
     */
    boolean expand(Statement statement) {
        return expand(statement, 0);
    }

    /** Whether {@code schema.name} (schema null: along the search path) is a view over sharded or reference tables. */
    boolean overDeclaredTables(String schema, String name) {
        Table t = schema == null ? new Table(name) : new Table(schema, name);
        try {
            return definition(t, Set.of(), 0).isPresent();
        } catch (Refused e) {
            return true; // materialized, or a definition that cannot be analyzed: it reads them
        }
    }

    private boolean expand(Statement statement, int depth) {
        StatementAnalyzer.StatementWalker walker = new StatementAnalyzer.StatementWalker();
        walker.getTables(statement);
        Table target = statement instanceof Insert i
                ? i.getTable()
                : statement instanceof Update u
                        ? u.getTable()
                        : statement instanceof Delete d
                                ? d.getTable()
                                : statement instanceof Merge m ? m.getTable() : null;
        if (target != null && definition(target, walker.cteNames, depth).isPresent()) {
            throw new Refused("writes through the view " + target.getFullyQualifiedName() + " over sharded or"
                    + " reference tables are not supported: write to its tables");
        }
        boolean replaced = false;
        for (PlainSelect ps : walker.selects) {
            FromItem from = expanded(ps.getFromItem(), walker.cteNames, depth);
            if (from != null) {
                ps.setFromItem(from);
                replaced = true;
            }
            replaced |= expandJoins(ps.getJoins(), walker.cteNames, depth);
        }
        if (statement instanceof Update u) {
            FromItem from = expanded(u.getFromItem(), walker.cteNames, depth);
            if (from != null) {
                u.setFromItem(from);
                replaced = true;
            }
            replaced |= expandJoins(u.getStartJoins(), walker.cteNames, depth);
            replaced |= expandJoins(u.getJoins(), walker.cteNames, depth);
        } else if (statement instanceof Delete d) {
            if (d.getUsingFromItemList() != null) {
                // a (VALUES ...) or a subquery may stand there too
                for (FromItem item : d.getUsingFromItemList()) {
                    if (item instanceof Table t
                            && definition(t, walker.cteNames, depth).isPresent()) {
                        throw new Refused("DELETE ... USING the view " + t.getFullyQualifiedName() + " over sharded"
                                + " or reference tables is not supported: use a subquery of its tables");
                    }
                }
            }
            replaced |= expandJoins(d.getJoins(), walker.cteNames, depth);
        } else if (statement instanceof Merge m) {
            FromItem from = expanded(m.getFromItem(), walker.cteNames, depth);
            if (from != null) {
                m.setFromItem(from);
                replaced = true;
            }
        }
        // any such view left where it could not be replaced (TABLE v, ...) is refused rather than read on one shard
        StatementAnalyzer.StatementWalker after = new StatementAnalyzer.StatementWalker();
        after.getTables(statement);
        for (Table t : after.tables) {
            if (definition(t, after.cteNames, depth).isPresent()) {
                throw new Refused("the view " + t.getFullyQualifiedName() + " over sharded or reference tables is read"
                        + " where Shardline cannot replace it by its definition: read it in a FROM clause");
            }
        }
        return replaced;
    }

    private boolean expandJoins(List<Join> joins, Set<String> ctes, int depth) {
        boolean replaced = false;
        if (joins != null) {
            for (Join join : joins) {
                FromItem right = expanded(join.getRightItem(), ctes, depth);
                if (right != null) {
                    join.setRightItem(right);
                    replaced = true;
                }
            }
        }
        return replaced;
    }

    /** The subquery replacing {@code item} when it names a view over sharded or reference tables, else null. */
    private FromItem expanded(FromItem item, Set<String> ctes, int depth) {
        if (item instanceof net.sf.jsqlparser.statement.select.ParenthesedFromItem p) {
            // (v JOIN t ON ...): the items inside are replaced in place
            FromItem inner = expanded(p.getFromItem(), ctes, depth);
            if (inner != null) {
                p.setFromItem(inner);
            }
            boolean joined = expandJoins(p.getJoins(), ctes, depth);
            return inner != null || joined ? p : null;
        }
        if (!(item instanceof Table t)) {
            return null;
        }
        Optional<Select> definition = definition(t, ctes, depth);
        if (definition.isEmpty()) {
            return null;
        }
        Alias alias = t.getAlias() != null ? t.getAlias() : new Alias(t.getName(), false);
        return new ParenthesedSelect().withSelect(definition.get()).withAlias(alias);
    }

    /**
     * The definition of the view {@code t} names, its own views expanded, when it reads a sharded or reference table;
     * empty for a table, a CTE, or a view over other tables only.
     */
    private Optional<Select> definition(Table t, Set<String> ctes, int depth) {
        if (t.getName() == null) {
            return Optional.empty();
        }
        String schema = t.getSchemaName() == null ? null : SqlNames.fold(t.getSchemaName());
        String name = SqlNames.fold(t.getName());
        if ((schema == null && ctes.contains(name))
                || names.sharded(schema, name).isPresent()
                || names.reference(schema, name).isPresent()) {
            return Optional.empty();
        }
        long failures = names.catalogFailures();
        Optional<Catalog.View> view = names.view(schema, name);
        if (view.isEmpty()) {
            if (names.catalogFailures() != failures) {
                throw new Refused("whether " + name + " is a view over sharded tables is unknown: the home shard's"
                        + " catalog could not be read");
            }
            return Optional.empty();
        }
        String display = schema == null ? name : schema + "." + name;
        if (depth >= MAX_DEPTH) {
            throw new Refused("the view " + display + " nests views more than " + MAX_DEPTH + " deep");
        }
        Statement parsed;
        try {
            // as PostgreSQL prints it: LIKE is ~~, which JSqlParser reads as two operators (forParser turns it back;
            // the definition runs as expanded, so only when forParser changes nothing else)
            String definition = view.get().definition();
            List<SqlLexer.Token> tokens = SqlLexer.tokenize(definition);
            boolean special = tokens.stream().anyMatch(token -> token.kind() == SqlLexer.Kind.SPECIAL_STRING);
            parsed = CCJSqlParserUtil.parse(special ? definition : SqlLexer.forParser(definition, tokens));
        } catch (Exception | LinkageError e) {
            if (mentionsDeclared(view.get().definition())) {
                throw new Refused("the definition of the view " + display + " over sharded or reference tables could"
                        + " not be analyzed (" + e.getMessage() + ")");
            }
            return Optional.empty();
        }
        if (!(parsed instanceof Select select)) {
            return Optional.empty();
        }
        boolean inner = expand(select, depth + 1);
        if (!inner && !readsDeclared(select)) {
            return Optional.empty(); // a view of the home shard's tables: where it lives
        }
        if (view.get().materialized()) {
            throw new Refused("the materialized view " + display + " reads sharded or reference tables: reading it is"
                    + " not supported yet (each shard's copy holds what its own rows gave at REFRESH)");
        }
        return Optional.of(select);
    }

    private boolean readsDeclared(Select select) {
        StatementAnalyzer.StatementWalker walker = new StatementAnalyzer.StatementWalker();
        walker.getTables((Statement) select);
        for (Table t : walker.tables) {
            if (t.getName() == null) {
                continue;
            }
            String schema = t.getSchemaName() == null ? null : SqlNames.fold(t.getSchemaName());
            String name = SqlNames.fold(t.getName());
            if (schema == null && walker.cteNames.contains(name)) {
                continue;
            }
            if (names.sharded(schema, name).isPresent()
                    || names.reference(schema, name).isPresent()) {
                return true;
            }
        }
        return false;
    }

    private boolean mentionsDeclared(String sql) {
        try {
            List<SqlLexer.Token> tokens = SqlLexer.tokenize(sql);
            for (int i = 0; i < tokens.size(); i++) {
                String[] name = StatementAnalyzer.qualifiedName(sql, tokens, i);
                if (name != null
                        && (names.sharded(name[0], name[1]).isPresent()
                                || names.reference(name[0], name[1]).isPresent())) {
                    return true;
                }
            }
            return false;
        } catch (IllegalArgumentException e) {
            return true;
        }
    }
}
