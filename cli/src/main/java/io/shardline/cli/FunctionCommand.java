package io.shardline.cli;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.DistributedFunction;
import io.shardline.topology.KeyType;
import io.shardline.topology.Node;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.curator.framework.CuratorFramework;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code shardline function shard NAME --key-arg N}. */
@Command(
        name = "function",
        mixinStandardHelpOptions = true,
        description = "Declare how functions that read sharded tables are run.",
        subcommands = {FunctionCommand.ShardFunction.class})
final class FunctionCommand {

    @Command(
            name = "shard",
            mixinStandardHelpOptions = true,
            description = {
                "Declare FUNCTION distributed by its argument N: a call (SELECT f(?), SELECT * FROM f(?)) runs on the"
                        + " shard that argument's value hashes to, like a read of a sharded table by that key. Calls"
                        + " whose keys map to several shards are refused.",
                "The key type and whether the function writes (VOLATILE: its calls then go to the primary) are read"
                        + " from the function when it exists; otherwise give --type (and --read-only if it only"
                        + " reads)."
            })
    static final class ShardFunction implements Callable<Integer> {
        @Parameters(paramLabel = "FUNCTION", description = "[schema.]name; unquoted names fold to lower case.")
        String function;

        @Option(
                names = "--key-arg",
                required = true,
                paramLabel = "N",
                description = "The position of the shard key among the arguments, from 1.")
        int keyArgument;

        @Option(
                names = "--type",
                paramLabel = "TYPE",
                description = "The key's type when the function does not exist yet: bigint, integer, text, uuid...")
        String type;

        @Option(
                names = "--read-only",
                description = "When the function does not exist yet: it only reads (calls may go to replicas).")
        boolean readOnly;

        @ArgGroup(exclusive = true, multiplicity = "1")
        ClusterTarget target = new ClusterTarget();

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            QualifiedName name = QualifiedName.parse(function);
            if (keyArgument < 1) {
                throw new IllegalArgumentException("--key-arg counts arguments from 1, not " + keyArgument);
            }
            try (CuratorFramework client = ZooKeeperTopologyStore.newClient(target.zk(), Duration.ofSeconds(10))) {
                ClusterTopology written = ZooKeeperTopologyStore.updateTopology(client, target.name(), t -> {
                    DistributedFunction f = describe(t, name);
                    return t.withFunction(f);
                });
                DistributedFunction declared =
                        written.function(name.schema(), name.table()).orElseThrow();
                spec.commandLine()
                        .getOut()
                        .printf(
                                "%s is distributed by argument %d (%s): each call runs on that key's shard%s"
                                        + " (topology version %d).%n",
                                declared.qualifiedName(),
                                declared.keyArgument(),
                                declared.keyType().name().toLowerCase(),
                                declared.writes() ? ", on its primary (the function writes)" : "",
                                written.version());
            }
            return 0;
        }

        /** The declaration: the key argument's type and the volatility read from the home primary when it exists. */
        private DistributedFunction describe(ClusterTopology t, QualifiedName name) {
            Node home = t.shard(t.homeShard()).primary();
            List<String[]> found = new ArrayList<>();
            try (Connection c = TableCommand.connect(t, home);
                    PreparedStatement ps = c.prepareStatement("SELECT CASE WHEN p.pronargs >= ? THEN"
                            + " format_type(p.proargtypes[? - 1], NULL) END, p.provolatile::text, p.prokind::text"
                            + " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                            + " WHERE n.nspname = ? AND p.proname = ?")) {
                ps.setInt(1, keyArgument);
                ps.setInt(2, keyArgument);
                ps.setString(3, name.schema());
                ps.setString(4, name.table());
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        if (!"f".equals(rs.getString(3))) {
                            throw new IllegalArgumentException(name + " is a procedure or an aggregate, not a function:"
                                    + " only a function's calls (SELECT f(...)) can be routed by an argument");
                        }
                        found.add(new String[] {rs.getString(1), rs.getString(2)});
                    }
                }
            } catch (SQLException e) {
                throw new IllegalArgumentException(
                        "could not read " + name + " on " + home.name() + " (" + e.getMessage() + ")");
            }
            if (found.isEmpty()) {
                if (type == null) {
                    throw new IllegalArgumentException(name + " does not exist on " + home.name()
                            + " yet: give the key argument's type with --type (bigint, integer, text, uuid, ...)");
                }
                return new DistributedFunction(
                        name.schema(), name.table(), keyArgument, KeyType.fromSqlType(type), !readOnly);
            }
            if (found.stream().anyMatch(f -> f[0] == null)) {
                throw new IllegalArgumentException(name + " has fewer than " + keyArgument
                        + " arguments (in one of its " + found.size() + " forms)");
            }
            if (found.stream().map(f -> f[0]).distinct().count() > 1) {
                throw new IllegalArgumentException(name + " has several forms whose argument " + keyArgument
                        + " differs in type: every form must take the key there with one type");
            }
            boolean writes = found.stream().anyMatch(f -> f[1].equals("v"));
            KeyType keyType = type != null ? KeyType.fromSqlType(type) : KeyType.fromSqlType(found.get(0)[0]);
            return new DistributedFunction(name.schema(), name.table(), keyArgument, keyType, writes);
        }
    }
}
