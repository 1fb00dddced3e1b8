package io.shardline.bench;

import com.zaxxer.hikari.HikariDataSource;
import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.router.TpccWorkload;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * The TPC-C-shaped mix side by side ({@link TpccWorkload}: New-Order, Payment, Order-Status, Delivery, Stock-Level
 * in the specification's proportions): terminals through the driver vs terminals on plain pgjdbc + HikariCP
 * connected by hand to their warehouse's shard, on the same cluster (2 shards, primaries only), alternating slices
 * ({@link SideBySide#compare}: the ratio of the totals, the median and spread of the pairs). One operation is one
 * transaction, committed (or rolled back, 1 % of New-Orders, as the specification asks); a serialization failure or
 * deadlock is retried, as a kit does. Each terminal has a home warehouse (2 per shard) and every access stays there:
 * the direct side could not follow a remote order line or payment to another shard without a two-phase commit of
 * its own. Then the same time interleaved ({@link SideBySide#interleaved}): each terminal alternating one transaction
 * through the driver and one direct, both drawn from one seed (the same kinds and inputs, pair by pair).
 *
 * <p>The servers run with {@code plan_cache_mode = force_custom_plan} unless told otherwise: with PostgreSQL's default
 * ({@code auto}) each connection decides at a prepared statement's sixth execution whether to keep a generic plan,
 * from the parameters it happened to see first, and one terminal's Stock-Level then runs at 12 ms while another's runs
 * at 52 ms — on either side, whatever sends the statements (both send the same: {@code RoundTripsIT}). That luck moved
 * single runs' ratio of totals from 0.83 to 1.25; planning every execution for its parameters takes it out.
 *
 * <p>Run: {@code java -cp bench/target/benchmarks.jar io.shardline.bench.TpccSideBySide [pairs] [sliceMs]
 * [terminals] [plan_cache_mode]}
 */
public final class TpccSideBySide {
    private static final Set<String> RETRIED = Set.of("40001", "40P01", "55P03");

    public static void main(String[] args) throws Exception {
        int pairs = args.length > 0 ? Integer.parseInt(args[0]) : 20;
        int sliceMs = args.length > 1 ? Integer.parseInt(args[1]) : 2000;
        int terminals = args.length > 2 ? Integer.parseInt(args[2]) : 4;
        String planCacheMode = args.length > 3 ? args[3] : "force_custom_plan";
        if (!Set.of("auto", "force_custom_plan", "force_generic_plan").contains(planCacheMode)) {
            throw new IllegalArgumentException("the fourth argument is PostgreSQL's plan_cache_mode: auto,"
                    + " force_custom_plan or force_generic_plan, not " + planCacheMode);
        }
        try (LocalCluster cluster = LocalCluster.builder()
                .name("tpccbench")
                .shards(2)
                .hubs(0)
                .leaves(0)
                .setting("plan_cache_mode", planCacheMode)
                .start()) {
            HashRing ring = RouterClusters.publish(cluster, TpccWorkload.SHARDED, TpccWorkload.REFERENCE);
            String url = cluster.shardlineUrl() + "?user=postgres";

            List<Integer> warehouses = TpccWorkload.warehouses(ring, 2);
            // the loader writes the reference table item on every shard in one transaction: two-phase commit
            try (Connection c = DriverManager.getConnection(url + "&twoPhaseCommit=true");
                    Statement s = c.createStatement()) {
                for (String ddl : TpccWorkload.SCHEMA) {
                    s.execute(ddl);
                }
                TpccWorkload.load(c, warehouses, 42);
            }
            TpccWorkload workload = new TpccWorkload(warehouses, false);
            List<HikariDataSource> primaries = SideBySide.primaryPools(cluster);
            Connector viaDriver = home -> DriverManager.getConnection(url);
            Connector toPrimary =
                    home -> primaries.get(ring.shardFor(KeyHash.hashInt8(home))).getConnection();
            try {
                System.out.println("2 shards of a primary each, plan_cache_mode = " + planCacheMode + ", " + terminals
                        + " terminals, " + pairs + " pairs of " + sliceMs + " ms slices");
                SideBySide.header();
                SideBySide.compare(
                        "TPC-C-shaped mix (transactions), each terminal on its home warehouse",
                        terminals,
                        terminals(workload, warehouses, terminals, 1000, viaDriver),
                        terminals(workload, warehouses, terminals, 2000, toPrimary),
                        pairs,
                        sliceMs);
                // one seed for both sides: each pair of transactions is of one kind, with the same inputs
                SideBySide.interleaved(
                        terminals,
                        terminals(workload, warehouses, terminals, 3000, viaDriver),
                        terminals(workload, warehouses, terminals, 3000, toPrimary),
                        pairs * sliceMs,
                        100);
            } finally {
                primaries.forEach(HikariDataSource::close);
                ShardlineDriver.closeAll();
            }
        }
    }

    /** How a terminal connects: through the driver, or to its home warehouse's primary. */
    private interface Connector {
        Connection connect(int home) throws SQLException;
    }

    /** {@code count} terminals, terminal t on warehouse t (round robin) with the random seed {@code seed + t}. */
    private static List<SideBySide.Client> terminals(
            TpccWorkload workload, List<Integer> warehouses, int count, long seed, Connector connector)
            throws SQLException {
        List<SideBySide.Client> terminals = new ArrayList<>();
        for (int t = 0; t < count; t++) {
            int home = warehouses.get(t % warehouses.size());
            terminals.add(terminal(workload, connector.connect(home), home, seed + t));
        }
        return terminals;
    }

    /** A terminal: one transaction of the mix per operation, on {@code c}. */
    private static SideBySide.Client terminal(TpccWorkload workload, Connection c, int home, long seed)
            throws SQLException {
        c.setAutoCommit(false);
        Random random = new Random(seed);
        return new SideBySide.Client() {
            @Override
            public void read(long ignored) throws SQLException {
                String kind = TpccWorkload.kind(random);
                for (int attempt = 1; ; attempt++) {
                    try {
                        workload.run(kind, c, random, home);
                        c.commit();
                        return;
                    } catch (TpccWorkload.ExpectedRollback e) {
                        c.rollback();
                        return;
                    } catch (SQLException e) {
                        c.rollback();
                        if (!RETRIED.contains(e.getSQLState()) || attempt == 5) {
                            throw e;
                        }
                    }
                }
            }

            @Override
            public void close() throws SQLException {
                c.close();
            }
        };
    }
}
