package io.shardline.topology;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The cluster as the router sees it: shards and their nodes, the sharded tables, the home shard of
 * unsharded tables, and a version that grows with every change.
 *
 * @param database the database every node serves
 * @param user the default user name (passwords are never stored here)
 * @param homeShard the shard holding every table that is not sharded
 * @param referenceTables the tables every shard holds whole (stored only when there are some, so that routers of
 *     earlier versions read a topology without them)
 * @param functions the functions declared distributed by a key argument (stored only when there are some)
 */
public record ClusterTopology(
        String cluster,
        long version,
        String database,
        String user,
        int homeShard,
        List<Shard> shards,
        List<ShardedTable> tables,
        @JsonInclude(JsonInclude.Include.NON_EMPTY) List<ReferenceTable> referenceTables,
        @JsonInclude(JsonInclude.Include.NON_EMPTY) List<DistributedFunction> functions) {

    private static final Pattern PLAIN = Pattern.compile("[^\\s'\"\\\\/?&=#@;]+");

    public ClusterTopology {
        Objects.requireNonNull(cluster, "cluster name");
        Objects.requireNonNull(database, "database");
        checkPlain("database", database);
        if (user != null) {
            checkPlain("user", user);
        }
        shards = List.copyOf(shards);
        tables = List.copyOf(tables == null ? List.of() : tables);
        referenceTables = List.copyOf(referenceTables == null ? List.of() : referenceTables);
        functions = List.copyOf(functions == null ? List.of() : functions);
        Set<Integer> ids = new HashSet<>();
        Set<String> names = new HashSet<>();
        for (Shard s : shards) {
            if (!ids.add(s.id())) {
                throw new IllegalArgumentException("shard id " + s.id() + " appears twice");
            }
            for (Node n : s.nodes()) {
                if (!names.add(n.name())) {
                    throw new IllegalArgumentException("node name " + n.name() + " appears twice");
                }
            }
        }
        if (!ids.contains(homeShard)) {
            throw new IllegalArgumentException("home shard " + homeShard + " is not one of the shards " + ids);
        }
        Set<String> tableNames = new HashSet<>();
        for (ShardedTable t : tables) {
            if (!tableNames.add(t.qualifiedName())) {
                throw new IllegalArgumentException("table " + t.qualifiedName() + " is declared twice");
            }
        }
        for (ReferenceTable t : referenceTables) {
            if (!tableNames.add(t.qualifiedName())) {
                throw new IllegalArgumentException("table " + t.qualifiedName()
                        + " is declared twice (a table is either sharded or a reference table)");
            }
        }
    }

    /** A topology without reference tables and distributed functions. */
    public ClusterTopology(
            String cluster,
            long version,
            String database,
            String user,
            int homeShard,
            List<Shard> shards,
            List<ShardedTable> tables) {
        this(cluster, version, database, user, homeShard, shards, tables, List.of(), List.of());
    }

    /** A topology without distributed functions. */
    public ClusterTopology(
            String cluster,
            long version,
            String database,
            String user,
            int homeShard,
            List<Shard> shards,
            List<ShardedTable> tables,
            List<ReferenceTable> referenceTables) {
        this(cluster, version, database, user, homeShard, shards, tables, referenceTables, List.of());
    }

    /**
     * The shard with this id.
     *
     * @throws IllegalArgumentException listing the shard ids when there is none
     */
    public Shard shard(int id) {
        return shards.stream()
                .filter(s -> s.id() == id)
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no shard " + id + " in cluster " + cluster
                        + "; shards: " + shards.stream().map(Shard::id).toList()));
    }

    /** The ids of the shards, in declaration order. */
    @JsonIgnore
    public List<Integer> shardIds() {
        return shards.stream().map(Shard::id).toList();
    }

    /**
     * The sharded table named {@code table}, in {@code schema} or, when {@code schema} is {@code null}, in any
     * schema (the first declared).
     */
    public Optional<ShardedTable> shardedTable(String schema, String table) {
        return tables.stream().filter(t -> t.matches(schema, table)).findFirst();
    }

    /** The reference table named {@code table}, in {@code schema} or, when {@code schema} is {@code null}, in any. */
    public Optional<ReferenceTable> referenceTable(String schema, String table) {
        return referenceTables.stream().filter(t -> t.matches(schema, table)).findFirst();
    }

    /**
     * This topology with {@code table} declared sharded (replacing an earlier declaration) and the next version.
     *
     * @throws IllegalArgumentException when it is a reference table
     */
    public ClusterTopology withTable(ShardedTable table) {
        if (referenceTable(table.schema(), table.table()).isPresent()) {
            throw new IllegalArgumentException(table.qualifiedName() + " is a reference table: a table is either"
                    + " sharded or held whole by every shard");
        }
        List<ShardedTable> next = new ArrayList<>(tables);
        next.removeIf(t -> t.qualifiedName().equals(table.qualifiedName()));
        next.add(table);
        return new ClusterTopology(
                cluster, version + 1, database, user, homeShard, shards, next, referenceTables, functions);
    }

    /**
     * This topology with {@code table} declared a reference table and the next version (itself when it already is).
     *
     * @throws IllegalArgumentException when it is sharded
     */
    public ClusterTopology withReferenceTable(ReferenceTable table) {
        if (shardedTable(table.schema(), table.table()).isPresent()) {
            throw new IllegalArgumentException(
                    table.qualifiedName() + " is sharded: a table is either sharded or" + " held whole by every shard");
        }
        if (referenceTables.contains(table)) {
            return this;
        }
        List<ReferenceTable> next = new ArrayList<>(referenceTables);
        next.add(table);
        return new ClusterTopology(cluster, version + 1, database, user, homeShard, shards, tables, next, functions);
    }

    /** This topology with one more shard and the next version. */
    public ClusterTopology withShard(Shard shard) {
        List<Shard> next = new ArrayList<>(shards);
        next.add(shard);
        return new ClusterTopology(
                cluster, version + 1, database, user, homeShard, next, tables, referenceTables, functions);
    }

    /**
     * This topology with {@code shard} in place of the shard of the same id, and the next version.
     *
     * @throws IllegalArgumentException when there is no shard with that id
     */
    public ClusterTopology withShardReplaced(Shard shard) {
        shard(shard.id());
        List<Shard> next = new ArrayList<>(shards);
        next.replaceAll(s -> s.id() == shard.id() ? shard : s);
        return new ClusterTopology(
                cluster, version + 1, database, user, homeShard, next, tables, referenceTables, functions);
    }

    /** The distributed function named {@code name}, in {@code schema} or, when {@code schema} is {@code null}, any. */
    public Optional<DistributedFunction> function(String schema, String name) {
        return functions.stream().filter(f -> f.matches(schema, name)).findFirst();
    }

    /** This topology with {@code function} declared (replacing an earlier declaration) and the next version. */
    public ClusterTopology withFunction(DistributedFunction function) {
        List<DistributedFunction> next = new ArrayList<>(functions);
        next.removeIf(f -> f.qualifiedName().equals(function.qualifiedName()));
        next.add(function);
        return new ClusterTopology(
                cluster, version + 1, database, user, homeShard, shards, tables, referenceTables, next);
    }

    /**
     * Checks a name that goes into JDBC URLs and connection strings: 1-63 characters, none of which could add to
     * or end them (white space, quotes, backslash, {@code / ? & = # @ ;}).
     */
    static void checkPlain(String what, String value) {
        if (value.isEmpty() || value.length() > 63 || !PLAIN.matcher(value).matches()) {
            throw new IllegalArgumentException(what + " '" + value + "' must be 1-63 characters without white space,"
                    + " quotes, backslash, '/', '?', '&', '=', '#', '@' or ';'");
        }
    }
}
