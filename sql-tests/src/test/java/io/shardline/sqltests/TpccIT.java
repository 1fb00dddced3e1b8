package io.shardline.sqltests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.router.TpccWorkload;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A TPC-C-shaped workload, written from the TPC-C specification (revision 5.11) at a small scale: the nine tables
 * sharded by warehouse ({@code item} a reference table), the foreign keys that stay on one shard declared and the two
 * that cross shards refused, a kit-style load ({@code INSERT INTO t VALUES (?, ...)} batches), the
 * five transactions (New-Order with 1 % remote order lines and 1 % rolled back, Payment with 15 % remote customers —
 * both then two-phase commits —, Order-Status, Delivery, Stock-Level) run by terminals for a bounded number of
 * transactions, and the specification's consistency conditions 1-4 checked on the shards afterwards.
 *
 * <p>Scale: 2 shards, 2 warehouses each, 10 districts per warehouse, 30 customers and 30 orders per district, 1,000
 * items and their stock (the specification's 100,000 items and 3,000 customers per district would only take longer).
 */
@Timeout(value = 8, unit = TimeUnit.MINUTES)
class TpccIT {

    private static final int TERMINALS = 4;
    private static final int TRANSACTIONS_PER_TERMINAL = 250;
    private static LocalCluster cluster;
    private static HashRing ring;
    private static String url;
    /** Two warehouses per shard. */
    private static final List<Integer> WAREHOUSES = new ArrayList<>();

    @BeforeAll
    static void start() throws SQLException {
        cluster =
                LocalCluster.builder().name("tpcc").shards(2).hubs(0).leaves(0).start();
        ring = RouterClusters.publish(cluster, TpccWorkload.SHARDED, TpccWorkload.REFERENCE);
        // remote payments and order lines span shards; lock_timeout ends a wait PostgreSQL alone cannot see as a
        // deadlock (two transactions each waiting on the other's shard): the terminal retries, as a kit does
        url = cluster.shardlineUrl() + "?user=postgres&twoPhaseCommit=true&pg.options=-c%20lock_timeout%3D3000";

        WAREHOUSES.addAll(TpccWorkload.warehouses(ring, 2));
        createSchema();
        load();
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (cluster != null) {
            cluster.close();
        }
    }

    private static void createSchema() throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            for (String ddl : TpccWorkload.SCHEMA) {
                s.execute(ddl);
            }
            // history -> customer by h_c_w_id: the customer of a remote payment is on another shard
            assertThatThrownBy(() -> s.execute("ALTER TABLE history ADD FOREIGN KEY (h_c_w_id, h_c_d_id, h_c_id)"
                            + " REFERENCES customer (c_w_id, c_d_id, c_id)"))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("shard key h_w_id")
                    .extracting(e -> ((SQLException) e).getSQLState())
                    .isEqualTo("0A000");
            // order_line -> stock by ol_supply_w_id: a remote order line's stock is on another shard
            assertThatThrownBy(() -> s.execute("ALTER TABLE order_line ADD FOREIGN KEY (ol_supply_w_id, ol_i_id)"
                            + " REFERENCES stock (s_w_id, s_i_id)"))
                    .isInstanceOf(SQLException.class)
                    .hasMessageContaining("shard key ol_w_id")
                    .extracting(e -> ((SQLException) e).getSQLState())
                    .isEqualTo("0A000");
        }
    }

    /** The initial population, as a kit's loader writes it, through the driver. */
    private static void load() throws SQLException {
        try (Connection c = DriverManager.getConnection(url)) {
            TpccWorkload.load(c, WAREHOUSES, 42);
        }
    }

    @Test
    void theFiveTransactionsKeepTheConsistencyConditions() throws Exception {
        Map<String, AtomicLong> done = new ConcurrentHashMap<>();
        AtomicLong retries = new AtomicLong();
        AtomicLong rolledBack = new AtomicLong();
        AtomicLong remote = new AtomicLong();
        ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
        TpccWorkload workload = new TpccWorkload(WAREHOUSES, true);
        List<Thread> terminals = new ArrayList<>();
        for (int t = 0; t < TERMINALS; t++) {
            int home = WAREHOUSES.get(t % WAREHOUSES.size());
            long seed = 1000 + t;
            terminals.add(new Thread(() -> {
                Random random = new Random(seed);
                try (Connection c = DriverManager.getConnection(url)) {
                    c.setAutoCommit(false);
                    for (int n = 0; n < TRANSACTIONS_PER_TERMINAL; n++) {

                        String kind = TpccWorkload.kind(random);
                        for (int attempt = 1; ; attempt++) {
                            try {

                                remote.addAndGet(workload.run(kind, c, random, home));
                                c.commit();
                                done.computeIfAbsent(kind, k -> new AtomicLong())
                                        .incrementAndGet();
                                break;
                            } catch (TpccWorkload.ExpectedRollback e) {
                                c.rollback();
                                rolledBack.incrementAndGet();
                                break;
                            } catch (SQLException e) {
                                c.rollback();
                                String state = e.getSQLState();
                                boolean retryable = "40001".equals(state)
                                        || "40P01".equals(state)
                                        || "55P03".equals(state)
                                        || "40000".equals(state);
                                if (!retryable || attempt == 5) {
                                    errors.add(kind + ": " + state + " " + e.getMessage());
                                    break;
                                }
                                retries.incrementAndGet();
                            }
                        }
                    }
                } catch (SQLException e) {
                    errors.add("terminal: " + e.getSQLState() + " " + e.getMessage());
                }
            }));
        }
        long started = System.nanoTime();
        terminals.forEach(Thread::start);
        for (Thread t : terminals) {
            t.join(TimeUnit.MINUTES.toMillis(6));
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);

        assertThat(errors).as("unexpected errors").isEmpty();
        long total = done.values().stream().mapToLong(AtomicLong::get).sum() + rolledBack.get();
        assertThat(total).isEqualTo((long) TERMINALS * TRANSACTIONS_PER_TERMINAL);
        assertThat(done.get("new-order").get()).isPositive();
        assertThat(remote.get())
                .as("transactions that reached a remote warehouse (two-phase commit)")
                .isPositive();
        System.out.printf(
                "TPC-C-shaped run: %d transactions in %d ms (%s, %d rolled back as specified, %d remote, %d retried)%n",
                total, ms, done, rolledBack.get(), remote.get(), retries.get());
        checkConsistency();
    }

    /** The specification's consistency conditions 1-4, each warehouse on its shard's primary. */
    private static void checkConsistency() throws SQLException {
        for (int w : WAREHOUSES) {
            int shard = ring.shardFor(KeyHash.hashInt8(w));
            try (Connection c = cluster.primary(shard).connect();
                    Statement s = c.createStatement()) {
                // 1: W_YTD = sum(D_YTD)
                try (ResultSet rs =
                        s.executeQuery("SELECT w_ytd = (SELECT sum(d_ytd) FROM district WHERE d_w_id = w_id)"
                                + " FROM warehouse WHERE w_id = " + w)) {
                    rs.next();
                    assertThat(rs.getBoolean(1))
                            .as("condition 1, warehouse %d", w)
                            .isTrue();
                }
                // 2: D_NEXT_O_ID - 1 = max(O_ID) = max(NO_O_ID); 3: max(NO_O_ID) - min(NO_O_ID) + 1 = count(new_order)
                try (ResultSet rs = s.executeQuery("SELECT d_id, d_next_o_id - 1, (SELECT max(o_id) FROM orders"
                        + " WHERE o_w_id = d_w_id AND o_d_id = d_id), (SELECT max(no_o_id) FROM new_order WHERE no_w_id ="
                        + " d_w_id AND no_d_id = d_id), (SELECT max(no_o_id) - min(no_o_id) + 1 - count(*) FROM new_order"
                        + " WHERE no_w_id = d_w_id AND no_d_id = d_id) FROM district WHERE d_w_id = " + w)) {
                    int districts = 0;
                    while (rs.next()) {
                        districts++;
                        int d = rs.getInt(1);
                        assertThat(rs.getInt(3))
                                .as("condition 2, district %d/%d", w, d)
                                .isEqualTo(rs.getInt(2));
                        if (rs.getObject(4) != null) {
                            assertThat(rs.getInt(4))
                                    .as("condition 2, district %d/%d", w, d)
                                    .isEqualTo(rs.getInt(2));
                            assertThat(rs.getInt(5))
                                    .as("condition 3, district %d/%d", w, d)
                                    .isZero();
                        }
                    }
                    assertThat(districts).isEqualTo(TpccWorkload.DISTRICTS);
                }
                // 4: sum(O_OL_CNT) = count(order_line), per district
                try (ResultSet rs =
                        s.executeQuery("SELECT d_id, (SELECT sum(o_ol_cnt) FROM orders WHERE o_w_id = d_w_id"
                                + " AND o_d_id = d_id), (SELECT count(*) FROM order_line WHERE ol_w_id = d_w_id AND ol_d_id ="
                                + " d_id) FROM district WHERE d_w_id = " + w)) {
                    while (rs.next()) {
                        assertThat(rs.getLong(2))
                                .as("condition 4, district %d/%d", w, rs.getInt(1))
                                .isEqualTo(rs.getLong(3));
                    }
                }
            }
        }
        // every shard's copy of the reference table alike
        for (int shard = 0; shard < 2; shard++) {
            try (Connection c = cluster.primary(shard).connect();
                    ResultSet rs = c.createStatement().executeQuery("SELECT count(*), sum(i_price) FROM item")) {
                rs.next();
                assertThat(rs.getLong(1)).isEqualTo(TpccWorkload.ITEMS);
            }
        }
    }
}
