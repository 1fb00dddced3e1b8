package io.shardline.cli;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.KeyType;
import io.shardline.topology.Node;
import io.shardline.topology.PgTls;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.Shard;
import io.shardline.topology.ShardedTable;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.Callable;
import org.apache.curator.framework.CuratorFramework;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code shardline table shard TABLE --key COLUMN}, {@code shardline table reference TABLE}. */
@Command(
        name = "table",
        mixinStandardHelpOptions = true,
        description = "Declare how tables are spread over the shards.",
        subcommands = {TableCommand.ShardTable.class, TableCommand.ReferenceTableCommand.class})
final class TableCommand {

    @Command(
            name = "shard",
            mixinStandardHelpOptions = true,
            description = {
                "Declare TABLE sharded by the hash of COLUMN. Declare it before creating it through the driver:"
                        + " CREATE TABLE then runs on every shard.",
                "The key type is read from the table when it exists; otherwise give --type."
            })
    static final class ShardTable implements Callable<Integer> {
        @Parameters(
                paramLabel = "TABLE",
                description = "[schema.]table; unquoted names fold to lower case, \"Quoted\" ones keep their case.")
        String table;

        @Option(names = "--key", required = true, paramLabel = "COLUMN", description = "The shard key column.")
        String key;

        @Option(
                names = "--type",
                paramLabel = "TYPE",
                description =
                        "Key type when the table does not exist yet: bigint, integer, smallint, text, varchar, uuid.")
        String type;

        @ArgGroup(exclusive = true, multiplicity = "1")
        ClusterTarget target = new ClusterTarget();

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            QualifiedName name = QualifiedName.parse(table);
            String column = QualifiedName.identifier(key, "--key");
            try (CuratorFramework client = ZooKeeperTopologyStore.newClient(target.zk(), Duration.ofSeconds(10))) {
                String cluster = target.name();
                ClusterTopology written = ZooKeeperTopologyStore.updateTopology(client, cluster, t -> {
                    KeyType keyType = type != null ? KeyType.fromSqlType(type) : detectType(t, name, column);
                    return t.withTable(new ShardedTable(name.schema(), name.table(), column, keyType));
                });
                ShardedTable declared =
                        written.shardedTable(name.schema(), name.table()).orElseThrow();
                spec.commandLine()
                        .getOut()
                        .printf(
                                "%s is sharded by %s (%s) over %d shards (topology version %d).%n",
                                declared.qualifiedName(),
                                declared.keyColumn(),
                                declared.keyType().name().toLowerCase(),
                                written.shards().size(),
                                written.version());
            }
            return 0;
        }

        private static KeyType detectType(ClusterTopology t, QualifiedName name, String column) {
            Node home = t.shard(t.homeShard()).primary();
            try (Connection c = connect(t, home);
                    PreparedStatement ps = c.prepareStatement("SELECT format_type(a.atttypid, a.atttypmod)"
                            + " FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid"
                            + " JOIN pg_namespace n ON n.oid = r.relnamespace"
                            + " WHERE n.nspname = ? AND r.relname = ? AND a.attname = ? AND NOT a.attisdropped")) {
                ps.setString(1, name.schema());
                ps.setString(2, name.table());
                ps.setString(3, column);
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        return KeyType.fromSqlType(rs.getString(1));
                    }
                }
            } catch (SQLException e) {
                throw new IllegalArgumentException("could not read the type of " + name + "." + column + " from "
                        + home.name() + " (" + e.getMessage() + "); give it with --type");
            }
            throw new IllegalArgumentException(name + "." + column + " does not exist on " + home.name()
                    + " yet: give the key type with --type (bigint, integer, text, uuid, ...)");
        }
    }

    @Command(
            name = "reference",
            mixinStandardHelpOptions = true,
            description = {
                "Declare TABLE a reference table: every shard holds all of its rows, so joins and foreign keys from"
                        + " sharded tables to it work on every shard. Declare it before creating it through the driver:"
                        + " CREATE TABLE then runs on every shard, and each write goes to every shard in one"
                        + " two-phase-commit transaction (the driver needs twoPhaseCommit=true).",
                "A table that exists already must exist on every shard with the same number of rows."
            })
    static final class ReferenceTableCommand implements Callable<Integer> {
        @Parameters(
                paramLabel = "TABLE",
                description = "[schema.]table; unquoted names fold to lower case, \"Quoted\" ones keep their case.")
        String table;

        @ArgGroup(exclusive = true, multiplicity = "1")
        ClusterTarget target = new ClusterTarget();

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            QualifiedName name = QualifiedName.parse(table);
            List<Integer> owners;
            try (ZooKeeperTopologyStore store =
                    ZooKeeperTopologyStore.connect(target.zk(), target.name(), Duration.ofSeconds(10))) {
                owners = store.snapshot().ring().shards();
            }
            try (CuratorFramework client = ZooKeeperTopologyStore.newClient(target.zk(), Duration.ofSeconds(10))) {
                ClusterTopology written = ZooKeeperTopologyStore.updateTopology(client, target.name(), t -> {
                    checkCopies(t, owners, name);
                    return t.withReferenceTable(new ReferenceTable(name.schema(), name.table()));
                });
                // a write through a router that had not seen the declaration yet reached one copy only
                Thread.sleep(2_000);
                try {
                    checkCopies(written, owners, name);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("declared a reference table (topology version "
                            + written.version() + "), but then: " + e.getMessage() + ". A write through a router that"
                            + " had not seen the declaration yet reached one copy only: make the copies alike by hand");
                }
                spec.commandLine()
                        .getOut()
                        .printf(
                                "%s is a reference table: every shard holding data (%d of %d) holds all of its rows"
                                        + " (topology version %d).%n",
                                name,
                                holders(written, owners).size(),
                                written.shards().size(),
                                written.version());
            }
            return 0;
        }

        /** The shards holding data: those owning ranges, and the home shard (a shard just added gets them later). */
        private static List<Shard> holders(ClusterTopology t, List<Integer> owners) {
            return t.shards().stream()
                    .filter(s -> owners.contains(s.id()) || s.id() == t.homeShard())
                    .toList();
        }

        /**
         * Refuses a table that exists on some shards holding data only, or whose copies differ (rows compared by a
         * checksum of their text).
         */
        private static void checkCopies(ClusterTopology t, List<Integer> owners, QualifiedName name) {
            Map<Integer, String> copies = new LinkedHashMap<>();
            for (Shard shard : holders(t, owners)) {
                Node primary = shard.primary();
                try (Connection c = connect(t, primary);
                        PreparedStatement ps = c.prepareStatement("SELECT to_regclass(format('%I.%I', ?, ?))::text")) {
                    ps.setString(1, name.schema());
                    ps.setString(2, name.table());
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        if (rs.getString(1) == null) {
                            copies.put(shard.id(), null);
                            continue;
                        }
                    }
                    String table = quote(name.schema()) + "." + quote(name.table());
                    try (ResultSet rs = c.createStatement()
                            .executeQuery("SELECT count(*) || ' rows, checksum ' || md5(coalesce(string_agg(r::text,"
                                    + " E'\\n' ORDER BY r::text), '')) FROM " + table + " r")) {
                        rs.next();
                        copies.put(shard.id(), rs.getString(1));
                    }
                } catch (SQLException e) {
                    throw new IllegalArgumentException(
                            "could not read " + name + " on " + primary.name() + " (" + e.getMessage() + ")");
                }
            }
            List<Integer> missing = new ArrayList<>();
            copies.forEach((shard, copy) -> {
                if (copy == null) {
                    missing.add(shard);
                }
            });
            if (!missing.isEmpty() && missing.size() < copies.size()) {
                throw new IllegalArgumentException(name + " exists on some shards but not on shards " + missing
                        + ": a reference table must exist on every shard with the same rows. Create it there (or drop"
                        + " it where it is) and declare it again");
            }
            if (copies.values().stream().filter(Objects::nonNull).distinct().count() > 1) {
                throw new IllegalArgumentException(name + " differs between the shards " + copies
                        + ": a reference table's copies must be alike (make them so, then declare it again)");
            }
        }

        private static String quote(String identifier) {
            return "\"" + identifier.replace("\"", "\"\"") + "\"";
        }
    }

    /** A connection to {@code node} as the cluster's user (password as {@link ClusterTarget#password()}). */
    static Connection connect(ClusterTopology t, Node node) throws SQLException {
        Properties props = new Properties();
        props.setProperty("user", t.user() == null ? "postgres" : t.user());
        Optional.ofNullable(ClusterTarget.password()).ifPresent(p -> props.setProperty("password", p));
        props.setProperty("connectTimeout", "10");
        PgTls.processDefault().addTo(props);
        return DriverManager.getConnection("jdbc:postgresql://" + node.address() + "/" + t.database(), props);
    }
}
