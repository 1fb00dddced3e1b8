package io.shardline.router.sql;

import io.shardline.router.sql.SqlLexer.Kind;
import io.shardline.router.sql.SqlLexer.Token;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.ShardedTable;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The foreign keys a {@code CREATE TABLE} or {@code ALTER TABLE ... ADD} declares, and why one cannot hold across
 * shards. Each shard's PostgreSQL checks a constraint against its own rows only, so a foreign key holds when the
 * referenced row is always on the referencing row's shard: a sharded table referencing a reference table, or another
 * sharded table (itself included) on the shard keys paired; a reference table referencing a reference table; a table
 * of the home shard referencing one of the home shard or a reference table. Anything else is refused before it runs.
 */
final class ForeignKeys {
    /**
     * One foreign key.
     *
     * @param name the constraint's name, or null
     * @param columns the referencing columns
     * @param target the referenced table: {schema or null, name}
     * @param targetColumns the referenced columns; empty for the referenced table's primary key
     */
    record ForeignKey(String name, List<String> columns, String[] target, List<String> targetColumns) {}

    private final TableNames names;
    private final Catalog catalog;

    ForeignKeys(TableNames names, Catalog catalog) {
        this.names = names;
        this.catalog = catalog;
    }

    /**
     * Why a foreign key of this {@code CREATE TABLE}/{@code ALTER TABLE} cannot hold across shards, or null.
     *
     * @param at the token of the table's name (after {@code IF [NOT] EXISTS}, {@code ONLY})
     * @param create whether it is a {@code CREATE TABLE} (else {@code ALTER TABLE})
     */
    String problem(String sql, List<Token> tokens, int at, boolean create) {
        String[] table = StatementAnalyzer.qualifiedName(sql, tokens, at);
        if (table == null) {
            return null;
        }
        int after = at + (table[0] == null ? 1 : 3);
        for (ForeignKey fk : create ? inCreate(sql, tokens, after) : inAlter(sql, tokens, after)) {
            String why = problem(table, fk);
            if (why != null) {
                return why;
            }
        }
        return null;
    }

    /** The foreign keys of the column and table constraints in {@code CREATE TABLE t ( ... )}. */
    static List<ForeignKey> inCreate(String sql, List<Token> tokens, int from) {
        int open = from;
        while (open < tokens.size() && !symbol(sql, tokens.get(open), "(")) {
            open++;
        }
        List<ForeignKey> keys = new ArrayList<>();
        if (open >= tokens.size()) {
            return keys;
        }
        int depth = tokens.get(open).depth() + 1;
        for (int[] element : split(sql, tokens, open + 1, depth)) {
            add(keys, sql, tokens, element[0], element[1]);
        }
        return keys;
    }

    /** The foreign keys of the {@code ADD} actions of {@code ALTER TABLE t ...}. */
    static List<ForeignKey> inAlter(String sql, List<Token> tokens, int from) {
        List<ForeignKey> keys = new ArrayList<>();
        int depth = from < tokens.size() ? tokens.get(from).depth() : 0;
        for (int[] action : split(sql, tokens, from, depth)) {
            int i = action[0];
            if (!tokens.get(i).is("ADD")) {
                continue;
            }
            i++;
            if (i < action[1] && tokens.get(i).is("COLUMN")) {
                i++;
            }
            if (i + 2 < action[1]
                    && tokens.get(i).is("IF")
                    && tokens.get(i + 1).is("NOT")
                    && tokens.get(i + 2).is("EXISTS")) {
                i += 3;
            }
            add(keys, sql, tokens, i, action[1]);
        }
        return keys;
    }

    /** The ranges [start, end) of the items between {@code from} and the end of the list, split at commas. */
    private static List<int[]> split(String sql, List<Token> tokens, int from, int depth) {
        List<int[]> items = new ArrayList<>();
        int start = from;
        int i = from;
        for (; i < tokens.size(); i++) {
            Token t = tokens.get(i);
            if (t.depth() < depth) {
                break; // the list's closing parenthesis
            }
            if (t.depth() == depth && symbol(sql, t, ",")) {
                if (i > start) {
                    items.add(new int[] {start, i});
                }
                start = i + 1;
            }
        }
        if (i > start) {
            items.add(new int[] {start, i});
        }
        return items;
    }

    /** The foreign key of one table element (a column with REFERENCES, or FOREIGN KEY ...), if it has one. */
    private static void add(List<ForeignKey> keys, String sql, List<Token> tokens, int from, int to) {
        int i = from;
        String name = null;
        if (i + 1 < to && tokens.get(i).is("CONSTRAINT")) {
            name = SqlLexer.identifier(sql, tokens.get(i + 1));
            i += 2;
        }
        if (i >= to) {
            return;
        }
        List<String> columns;
        if (tokens.get(i).is("FOREIGN") && i + 1 < to && tokens.get(i + 1).is("KEY")) {
            columns = nameList(sql, tokens, i + 2, to);
        } else if (StatementAnalyzer.isName(tokens.get(i))
                && !List.of("PRIMARY", "UNIQUE", "CHECK", "EXCLUDE", "LIKE")
                        .contains(StatementAnalyzer.upper(tokens.get(i)))) {
            columns = List.of(SqlLexer.identifier(sql, tokens.get(i)));
        } else {
            return;
        }
        for (int j = i; j < to; j++) {
            if (tokens.get(j).is("REFERENCES")) {
                if (name == null) {
                    // a column constraint may be named inline: col type CONSTRAINT name REFERENCES t
                    for (int k = i; k + 1 < j; k++) {
                        if (tokens.get(k).is("CONSTRAINT")) {
                            name = SqlLexer.identifier(sql, tokens.get(k + 1));
                        }
                    }
                }
                String[] target = StatementAnalyzer.qualifiedName(sql, tokens, j + 1);
                if (target == null) {
                    return;
                }
                int next = j + 1 + (target[0] == null ? 1 : 3);
                List<String> targetColumns =
                        next < to && symbol(sql, tokens.get(next), "(") ? nameList(sql, tokens, next, to) : List.of();
                keys.add(new ForeignKey(name, columns, target, targetColumns));
                return;
            }
        }
    }

    /** The names in the parenthesized list opening at {@code open}. */
    private static List<String> nameList(String sql, List<Token> tokens, int open, int to) {
        List<String> list = new ArrayList<>();
        if (open >= to || !symbol(sql, tokens.get(open), "(")) {
            return list;
        }
        int depth = tokens.get(open).depth() + 1;
        for (int i = open + 1; i < to && tokens.get(i).depth() >= depth; i++) {
            if (tokens.get(i).depth() == depth && StatementAnalyzer.isName(tokens.get(i))) {
                list.add(SqlLexer.identifier(sql, tokens.get(i)));
            }
        }
        return list;
    }

    private String problem(String[] table, ForeignKey fk) {
        Optional<ShardedTable> sharded = names.sharded(table[0], table[1]);
        Optional<ReferenceTable> reference = names.reference(table[0], table[1]);
        Optional<ShardedTable> targetSharded = names.sharded(fk.target()[0], fk.target()[1]);
        Optional<ReferenceTable> targetReference = names.reference(fk.target()[0], fk.target()[1]);
        String self = sharded.map(ShardedTable::qualifiedName)
                .or(() -> reference.map(ReferenceTable::qualifiedName))
                .orElse(display(table));
        String target = targetSharded
                .map(ShardedTable::qualifiedName)
                .or(() -> targetReference.map(ReferenceTable::qualifiedName))
                .orElse(display(fk.target()));
        String what = (fk.name() != null ? "the foreign key " + fk.name() : "the foreign key") + " of " + self + " ("
                + String.join(", ", fk.columns()) + ") referencing " + target;
        if (targetReference.isPresent()) {
            return null; // every shard has every row of it
        }
        if (reference.isPresent()) {
            return what + " cannot hold: every shard holds a copy of the reference table " + self + ", but "
                    + target + (targetSharded.isPresent() ? " is sharded" : " lives only on the home shard")
                    + ", so the copies on other shards could not find the rows they reference";
        }
        if (sharded.isEmpty()) {
            return targetSharded.isPresent()
                    ? what + " cannot hold: " + self + " is not sharded and lives on the home shard, while the"
                            + " rows of the sharded table " + target + " are spread over every shard (make " + self
                            + " sharded by the same key, or " + target + " a reference table)"
                    : null;
        }
        if (targetSharded.isEmpty()) {
            return what + " cannot hold: " + target + " is not sharded and lives only on the home shard, so rows of "
                    + self + " on other shards could not find the rows they reference (make " + target
                    + " a reference table: ./shardline table reference " + target + ")";
        }
        ShardedTable from = sharded.get();
        ShardedTable to = targetSharded.get();
        List<String> referenced =
                fk.targetColumns().isEmpty() ? catalog.primaryKey(to.schema(), to.table()) : fk.targetColumns();
        if (referenced.isEmpty()) {
            return what + " cannot be checked: name the referenced columns (REFERENCES " + to.qualifiedName() + " ("
                    + to.keyColumn() + ", ...)), so that Shardline can see the shard keys are paired";
        }
        int at = fk.columns().indexOf(from.keyColumn());
        if (at < 0 || at >= referenced.size() || !referenced.get(at).equals(to.keyColumn())) {
            return what + " (" + String.join(", ", referenced) + ") cannot hold across shards: it does not pair "
                    + from.qualifiedName() + "'s shard key " + from.keyColumn() + " with " + to.qualifiedName()
                    + "'s shard key " + to.keyColumn() + ", so a referenced row may live on another shard, where"
                    + " the constraint cannot see it";
        }
        if (from.keyType() != to.keyType()) {
            return what + " cannot hold across shards: the shard keys " + from.keyColumn() + " and " + to.keyColumn()
                    + " are of different key types, so equal values may hash to different shards";
        }
        return null;
    }

    private static String display(String[] name) {
        return name[0] == null ? name[1] : name[0] + "." + name[1];
    }

    private static boolean symbol(String sql, Token t, String s) {
        return t.kind() == Kind.SYMBOL && t.text(sql).equals(s);
    }
}
