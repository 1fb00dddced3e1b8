package io.shardline.rebalancer;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.Node;
import io.shardline.topology.PgTls;
import io.shardline.topology.ShardedTable;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

/**
 * How much a {@link MovePlan} copies: rows and bytes per transfer and sharded table, counted on the source
 * primaries with the same hash predicate the move's publication will use, and the time that takes at an
 * assumed copy rate.
 *
 * @param copyBytesPerSecond the rate the time estimate assumes
 */
public record MoveEstimate(MovePlan plan, List<TransferEstimate> transfers, double copyBytesPerSecond) {
    public MoveEstimate {
        transfers = List.copyOf(transfers);
    }

    /** Opens connections to a node (the caller supplies credentials). */
    @FunctionalInterface
    public interface Connector {
        Connection connect(Node node) throws SQLException;

        /**
         * A replication connection ({@code replication=database}) to the node's database: a move creates its
         * slots there, with an exported snapshot to copy under.
         */
        default Connection connectForReplication(Node node) throws SQLException {
            throw new SQLException("this connector opens no replication connections", "0A000");
        }

        /**
         * A connection whose connect and every later read give up after {@code timeout}: a hung node must not hold
         * a cutover (and the writes it fences) for the operating system's TCP timeout.
         */
        default Connection connect(Node node, Duration timeout) throws SQLException {
            Connection c = connect(node);
            c.setNetworkTimeout(Runnable::run, (int) Math.max(1, timeout.toMillis()));
            return c;
        }

        /** Connects to {@code database} on any node as {@code user}, with {@code password} (or none). */
        static Connector to(String database, String user, String password, String applicationName) {
            return new Connector() {
                @Override
                public Connection connect(Node node) throws SQLException {
                    return DriverManager.getConnection(url(node), properties());
                }

                @Override
                public Connection connect(Node node, Duration timeout) throws SQLException {
                    Properties props = properties();
                    // pgjdbc counts whole seconds here (socket connect, login, reads); the network timeout below
                    // is exact
                    String seconds = Long.toString(Math.max(1, (timeout.toMillis() + 999) / 1000));
                    props.setProperty("connectTimeout", seconds);
                    props.setProperty("loginTimeout", seconds);
                    props.setProperty("socketTimeout", seconds);
                    Connection c = DriverManager.getConnection(url(node), props);
                    c.setNetworkTimeout(Runnable::run, (int) Math.max(1, timeout.toMillis()));
                    return c;
                }

                @Override
                public Connection connectForReplication(Node node) throws SQLException {
                    Properties props = properties();
                    props.setProperty("replication", "database");
                    props.setProperty("assumeMinServerVersion", "10");
                    props.setProperty("preferQueryMode", "simple");
                    return DriverManager.getConnection(url(node), props);
                }

                private String url(Node node) {
                    return "jdbc:postgresql://" + node.address() + "/" + database;
                }

                private Properties properties() {
                    Properties props = new Properties();
                    props.setProperty("user", user);
                    if (password != null) {
                        props.setProperty("password", password);
                    }
                    props.setProperty("connectTimeout", "10");
                    props.setProperty("ApplicationName", applicationName);
                    return PgTls.processDefault().addTo(props);
                }
            };
        }
    }

    /**
     * Rows of one table that move.
     *
     * @param missing the table is declared sharded but does not exist on the source shard (nothing to copy)
     */
    public record TableEstimate(ShardedTable table, long rows, long bytes, boolean missing) {}

    /** What one transfer copies. */
    public record TransferEstimate(MovePlan.Transfer transfer, List<TableEstimate> tables) {
        public TransferEstimate {
            tables = List.copyOf(tables);
        }

        public long rows() {
            return tables.stream().mapToLong(TableEstimate::rows).sum();
        }

        public long bytes() {
            return tables.stream().mapToLong(TableEstimate::bytes).sum();
        }
    }

    public long rows() {
        return transfers.stream().mapToLong(TransferEstimate::rows).sum();
    }

    public long bytes() {
        return transfers.stream().mapToLong(TransferEstimate::bytes).sum();
    }

    /** The copy time at {@link #copyBytesPerSecond()}, transfers one after another. */
    public Duration time() {
        return Duration.ofMillis((long) Math.ceil(bytes() * 1000.0 / copyBytesPerSecond));
    }

    /**
     * Counts what {@code plan} moves of every sharded table of {@code topology}.
     *
     * @throws SQLException when a source primary cannot be queried (other than a table missing there)
     */
    public static MoveEstimate of(
            ClusterTopology topology, MovePlan plan, Connector connector, double copyBytesPerSecond)
            throws SQLException {
        return new MoveEstimate(plan, count(topology, plan.transfers(), connector), copyBytesPerSecond);
    }

    /**
     * Counts the rows and bytes {@code transfers} move of every sharded table of {@code topology}.
     *
     * @throws SQLException when a source primary cannot be queried (other than a table missing there)
     */
    static List<TransferEstimate> count(
            ClusterTopology topology, List<MovePlan.Transfer> transfers, Connector connector) throws SQLException {
        List<TransferEstimate> estimates = new ArrayList<>();
        for (MovePlan.Transfer transfer : transfers) {
            Node source = topology.shard(transfer.source()).primary();
            List<TableEstimate> tables = new ArrayList<>();
            try (Connection c = connector.connect(source)) {
                for (ShardedTable table : topology.tables()) {
                    tables.add(count(c, table, transfer));
                }
            }
            estimates.add(new TransferEstimate(transfer, tables));
        }
        return estimates;
    }

    private static TableEstimate count(Connection c, ShardedTable table, MovePlan.Transfer transfer)
            throws SQLException {
        String hash = table.keyType().sqlHashExpression(quote(table.keyColumn()));
        String sql = "SELECT count(*), coalesce(sum(pg_column_size(t.*)), 0) FROM " + quote(table.schema()) + "."
                + quote(table.table()) + " t WHERE " + transfer.sqlPredicate(hash);
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return new TableEstimate(table, rs.getLong(1), rs.getLong(2), false);
        } catch (SQLException e) {
            if ("42P01".equals(e.getSQLState())) {
                return new TableEstimate(table, 0, 0, true);
            }
            throw new SQLException(
                    "counting the rows of " + table.qualifiedName() + " that move from shard " + transfer.source()
                            + ": " + e.getMessage(),
                    e.getSQLState(),
                    e);
        }
    }

    static String quote(String identifier) {
        return "\"" + identifier.replace("\"", "\"\"") + "\"";
    }
}
