package io.shardline.router;

import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.ReferenceTable;
import io.shardline.topology.ShardedTable;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * A TPC-C-shaped workload, written from the TPC-C specification (revision 5.11) at a small scale: the nine tables
 * sharded by warehouse ({@code item} a reference table), a kit-style load ({@code INSERT INTO t VALUES (?, ...)}
 * batches) and the five transactions in the specification's mix (New-Order with 1 % remote order lines and 1 % rolled
 * back, Payment with 15 % remote customers, Order-Status, Delivery, Stock-Level). The transactions run on whatever
 * connection they are given: the driver's, or one to the home warehouse's shard when no access is remote.
 *
 * <p>Scale: 10 districts per warehouse, 30 customers and 30 orders per district, 1,000 items and their stock (the
 * specification's 100,000 items and 3,000 customers per district would only take longer).
 */
public final class TpccWorkload {
    public static final int DISTRICTS = 10;
    public static final int CUSTOMERS = 30;
    public static final int ITEMS = 1_000;
    public static final List<ShardedTable> SHARDED = List.of(
            new ShardedTable("public", "warehouse", "w_id", KeyType.INTEGER),
            new ShardedTable("public", "district", "d_w_id", KeyType.INTEGER),
            new ShardedTable("public", "customer", "c_w_id", KeyType.INTEGER),
            new ShardedTable("public", "history", "h_w_id", KeyType.INTEGER),
            new ShardedTable("public", "new_order", "no_w_id", KeyType.INTEGER),
            new ShardedTable("public", "orders", "o_w_id", KeyType.INTEGER),
            new ShardedTable("public", "order_line", "ol_w_id", KeyType.INTEGER),
            new ShardedTable("public", "stock", "s_w_id", KeyType.INTEGER));
    public static final List<ReferenceTable> REFERENCE = List.of(new ReferenceTable("public", "item"));
    /**
     * The tables, with the foreign keys that stay on one shard (history's to customer and order_line's to stock cross
     * shards: the driver refuses them).
     */
    public static final List<String> SCHEMA = List.of(
            "CREATE TABLE item (i_id int PRIMARY KEY, i_im_id int, i_name varchar(24), i_price numeric(5,2),"
                    + " i_data varchar(50))",
            "CREATE TABLE warehouse (w_id int PRIMARY KEY, w_name varchar(10), w_tax numeric(4,4),"
                    + " w_ytd numeric(12,2))",
            "CREATE TABLE district (d_id int, d_w_id int REFERENCES warehouse (w_id), d_name varchar(10),"
                    + " d_tax numeric(4,4), d_ytd numeric(12,2), d_next_o_id int, PRIMARY KEY (d_w_id, d_id))",
            "CREATE TABLE customer (c_id int, c_d_id int, c_w_id int, c_last varchar(16), c_credit char(2),"
                    + " c_discount numeric(4,4), c_balance numeric(12,2), c_ytd_payment numeric(12,2), c_payment_cnt"
                    + " int, c_delivery_cnt int, PRIMARY KEY (c_w_id, c_d_id, c_id), FOREIGN KEY (c_w_id, c_d_id)"
                    + " REFERENCES district (d_w_id, d_id))",
            "CREATE TABLE history (h_c_id int, h_c_d_id int, h_c_w_id int, h_d_id int, h_w_id int, h_date"
                    + " timestamp, h_amount numeric(6,2), h_data varchar(24), FOREIGN KEY (h_w_id, h_d_id) REFERENCES"
                    + " district (d_w_id, d_id))",
            "CREATE TABLE orders (o_id int, o_d_id int, o_w_id int, o_c_id int, o_entry_d timestamp,"
                    + " o_carrier_id int, o_ol_cnt int, o_all_local int, PRIMARY KEY (o_w_id, o_d_id, o_id),"
                    + " FOREIGN KEY (o_w_id, o_d_id, o_c_id) REFERENCES customer (c_w_id, c_d_id, c_id))",
            "CREATE TABLE new_order (no_o_id int, no_d_id int, no_w_id int, PRIMARY KEY (no_w_id, no_d_id,"
                    + " no_o_id), FOREIGN KEY (no_w_id, no_d_id, no_o_id) REFERENCES orders (o_w_id, o_d_id, o_id))",
            "CREATE TABLE stock (s_i_id int REFERENCES item (i_id), s_w_id int REFERENCES warehouse (w_id),"
                    + " s_quantity int, s_ytd int, s_order_cnt int, s_remote_cnt int, s_data varchar(50),"
                    + " PRIMARY KEY (s_w_id, s_i_id))",
            "CREATE TABLE order_line (ol_o_id int, ol_d_id int, ol_w_id int, ol_number int, ol_i_id int"
                    + " REFERENCES item (i_id), ol_supply_w_id int, ol_delivery_d timestamp, ol_quantity int,"
                    + " ol_amount numeric(6,2), ol_dist_info char(24), PRIMARY KEY (ol_w_id, ol_d_id, ol_o_id,"
                    + " ol_number), FOREIGN KEY (ol_w_id, ol_d_id, ol_o_id) REFERENCES orders (o_w_id, o_d_id, o_id))");

    private final List<Integer> warehouses;
    private final boolean remoteAccess;

    /**
     * @param warehouses every warehouse loaded
     * @param remote whether New-Order and Payment reach other warehouses as the specification asks (1 % of order
     *     lines, 15 % of payments); false: every access is to the home warehouse
     */
    public TpccWorkload(List<Integer> warehouses, boolean remote) {
        this.warehouses = List.copyOf(warehouses);
        this.remoteAccess = remote;
    }

    /** The first {@code perShard} warehouse numbers the ring places on each of its shards. */
    public static List<Integer> warehouses(HashRing ring, int perShard) {
        List<Integer> warehouses = new ArrayList<>();
        Map<Integer, Integer> placed = new HashMap<>();
        for (int w = 1; warehouses.size() < perShard * ring.shards().size(); w++) {
            if (placed.merge(ring.shardFor(KeyHash.hashInt8(w)), 1, Integer::sum) <= perShard) {
                warehouses.add(w);
            }
        }
        return warehouses;
    }

    /** The next transaction of the specification's mix: 45 % New-Order, 43 % Payment, 4 % each of the others. */
    public static String kind(Random random) {
        int pick = random.nextInt(100);
        return pick < 45
                ? "new-order"
                : pick < 88 ? "payment" : pick < 92 ? "order-status" : pick < 96 ? "delivery" : "stock-level";
    }

    /**
     * Runs transaction {@code kind} for warehouse {@code home} on {@code c} (autocommit off), without committing.
     *
     * @return 1 when it reached a remote warehouse
     */
    public int run(String kind, Connection c, Random random, int home) throws SQLException, ExpectedRollback {
        switch (kind) {
            case "new-order":
                return newOrder(c, random, home);
            case "payment":
                return payment(c, random, home);
            case "order-status":
                orderStatus(c, random, home);
                return 0;
            case "delivery":
                delivery(c, random, home);
                return 0;
            default:
                stockLevel(c, random, home);
                return 0;
        }
    }

    /** The initial population, as a kit's loader writes it: batches of {@code INSERT INTO t VALUES (?, ...)}. */
    public static void load(Connection c, List<Integer> warehouses, long seed) throws SQLException {
        Random random = new Random(seed);
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO item VALUES (?, ?, ?, ?, ?)")) {
            for (int i = 1; i <= ITEMS; i++) {
                ps.setInt(1, i);
                ps.setInt(2, random.nextInt(10_000));
                ps.setString(3, "item-" + i);
                ps.setBigDecimal(4, BigDecimal.valueOf(100 + random.nextInt(9_900), 2));
                ps.setString(5, "data");
                ps.addBatch();
            }
            ps.executeBatch();
        }
        batch(c, "INSERT INTO warehouse VALUES (?, ?, ?, ?)", warehouses.size(), (ps, n) -> {
            ps.setInt(1, warehouses.get(n));
            ps.setString(2, "w" + warehouses.get(n));
            ps.setBigDecimal(3, new BigDecimal("0.1000"));
            ps.setBigDecimal(4, new BigDecimal("300000.00"));
        });
        for (int w : warehouses) {
            batch(c, "INSERT INTO stock VALUES (?, ?, ?, ?, ?, ?, ?)", ITEMS, (ps, n) -> {
                ps.setInt(1, n + 1);
                ps.setInt(2, w);
                ps.setInt(3, 10 + random.nextInt(91));
                ps.setInt(4, 0);
                ps.setInt(5, 0);
                ps.setInt(6, 0);
                ps.setString(7, "stock");
            });
            batch(c, "INSERT INTO district VALUES (?, ?, ?, ?, ?, ?)", DISTRICTS, (ps, n) -> {
                ps.setInt(1, n + 1);
                ps.setInt(2, w);
                ps.setString(3, "d" + (n + 1));
                ps.setBigDecimal(4, new BigDecimal("0.0500"));
                ps.setBigDecimal(5, new BigDecimal("30000.00"));
                ps.setInt(6, CUSTOMERS + 1);
            });
            batch(c, "INSERT INTO customer VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", DISTRICTS * CUSTOMERS, (ps, n) -> {
                ps.setInt(1, n % CUSTOMERS + 1);
                ps.setInt(2, n / CUSTOMERS + 1);
                ps.setInt(3, w);
                ps.setString(4, "last" + n % 10);
                ps.setString(5, random.nextInt(10) == 0 ? "BC" : "GC");
                ps.setBigDecimal(6, BigDecimal.valueOf(random.nextInt(5_000), 4));
                ps.setBigDecimal(7, new BigDecimal("-10.00"));
                ps.setBigDecimal(8, new BigDecimal("10.00"));
                ps.setInt(9, 1);
                ps.setInt(10, 0);
            });
            batch(c, "INSERT INTO history VALUES (?, ?, ?, ?, ?, now(), ?, ?)", DISTRICTS * CUSTOMERS, (ps, n) -> {
                ps.setInt(1, n % CUSTOMERS + 1);
                ps.setInt(2, n / CUSTOMERS + 1);
                ps.setInt(3, w);
                ps.setInt(4, n / CUSTOMERS + 1);
                ps.setInt(5, w);
                ps.setBigDecimal(6, new BigDecimal("10.00"));
                ps.setString(7, "initial");
            });
            // one order per customer; the last 9 of each district are new (undelivered)
            int[] lines = new int[DISTRICTS * CUSTOMERS];
            batch(c, "INSERT INTO orders VALUES (?, ?, ?, ?, now(), ?, ?, 1)", DISTRICTS * CUSTOMERS, (ps, n) -> {
                int o = n % CUSTOMERS + 1;
                lines[n] = 5 + random.nextInt(11);
                ps.setInt(1, o);
                ps.setInt(2, n / CUSTOMERS + 1);
                ps.setInt(3, w);
                ps.setInt(4, o);
                if (o > CUSTOMERS - 9) {
                    ps.setNull(5, java.sql.Types.INTEGER);
                } else {
                    ps.setInt(5, 1 + random.nextInt(10));
                }
                ps.setInt(6, lines[n]);
            });
            List<int[]> orderLines = new ArrayList<>();
            for (int n = 0; n < lines.length; n++) {
                for (int l = 1; l <= lines[n]; l++) {
                    orderLines.add(new int[] {n % CUSTOMERS + 1, n / CUSTOMERS + 1, l});
                }
            }
            batch(
                    c,
                    "INSERT INTO order_line VALUES (?, ?, ?, ?, ?, ?, NULL, 5, ?, 'dist')",
                    orderLines.size(),
                    (ps, n) -> {
                        int[] ol = orderLines.get(n);
                        ps.setInt(1, ol[0]);
                        ps.setInt(2, ol[1]);
                        ps.setInt(3, w);
                        ps.setInt(4, ol[2]);
                        ps.setInt(5, 1 + random.nextInt(ITEMS));
                        ps.setInt(6, w);
                        ps.setBigDecimal(
                                7,
                                ol[0] > CUSTOMERS - 9
                                        ? BigDecimal.valueOf(random.nextInt(999_999), 2)
                                        : BigDecimal.ZERO);
                    });
            batch(c, "INSERT INTO new_order VALUES (?, ?, ?)", DISTRICTS * 9, (ps, n) -> {
                ps.setInt(1, CUSTOMERS - 9 + n % 9 + 1);
                ps.setInt(2, n / 9 + 1);
                ps.setInt(3, w);
            });
        }
    }

    private interface Row {
        void bind(PreparedStatement ps, int n) throws SQLException;
    }

    private static void batch(Connection c, String sql, int rows, Row row) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int n = 0; n < rows; n++) {
                row.bind(ps, n);
                ps.addBatch();
                if (n % 500 == 499) {
                    ps.executeBatch();
                }
            }
            ps.executeBatch();
        }
    }

    /** A rolled-back New-Order (an unused item number, as the specification asks of 1 % of them). */
    public static final class ExpectedRollback extends Exception {
        private static final long serialVersionUID = 1L;
    }

    /** New-Order; returns 1 when it reached a remote warehouse. */
    public int newOrder(Connection c, Random random, int w) throws SQLException, ExpectedRollback {
        int d = 1 + random.nextInt(DISTRICTS);
        int customer = 1 + random.nextInt(CUSTOMERS);
        int count = 5 + random.nextInt(11);
        boolean rollback = random.nextInt(100) == 0;
        int[] items = new int[count];
        int[] supply = new int[count];
        int remote = 0;
        for (int l = 0; l < count; l++) {
            items[l] = 1 + random.nextInt(ITEMS);
            supply[l] = w;
            if (remoteAccess && random.nextInt(100) == 0) {
                supply[l] = warehouses.get(random.nextInt(warehouses.size()));
                remote |= supply[l] != w ? 1 : 0;
            }
        }
        if (rollback) {
            items[count - 1] = ITEMS + 1; // unused
        }
        query(c, "SELECT w_tax FROM warehouse WHERE w_id = ?", w);
        int next = Integer.parseInt(
                query(c, "SELECT d_next_o_id FROM district WHERE d_w_id = ? AND d_id = ? FOR UPDATE", w, d));
        update(c, "UPDATE district SET d_next_o_id = d_next_o_id + 1 WHERE d_w_id = ? AND d_id = ?", w, d);
        query(c, "SELECT c_discount FROM customer WHERE c_w_id = ? AND c_d_id = ? AND c_id = ?", w, d, customer);
        update(c, "INSERT INTO orders VALUES (?, ?, ?, ?, now(), NULL, ?, ?)", next, d, w, customer, count, 1 - remote);
        update(c, "INSERT INTO new_order VALUES (?, ?, ?)", next, d, w);
        for (int l = 0; l < count; l++) {
            String price = query(c, "SELECT i_price FROM item WHERE i_id = ?", items[l]);
            if (price == null) {
                throw new ExpectedRollback();
            }
            int quantity = 1 + random.nextInt(10);
            int stock = Integer.parseInt(query(
                    c, "SELECT s_quantity FROM stock WHERE s_w_id = ? AND s_i_id = ? FOR UPDATE", supply[l], items[l]));
            update(
                    c,
                    "UPDATE stock SET s_quantity = ?, s_ytd = s_ytd + ?, s_order_cnt = s_order_cnt + 1,"
                            + " s_remote_cnt = s_remote_cnt + ? WHERE s_w_id = ? AND s_i_id = ?",
                    stock - quantity >= 10 ? stock - quantity : stock - quantity + 91,
                    quantity,
                    supply[l] != w ? 1 : 0,
                    supply[l],
                    items[l]);
            update(
                    c,
                    "INSERT INTO order_line VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, 'dist')",
                    next,
                    d,
                    w,
                    l + 1,
                    items[l],
                    supply[l],
                    quantity,
                    new BigDecimal(price).multiply(BigDecimal.valueOf(quantity)));
        }
        return remote;
    }

    /** Payment; returns 1 when the customer is in a remote warehouse. */
    public int payment(Connection c, Random random, int w) throws SQLException {
        int d = 1 + random.nextInt(DISTRICTS);
        int cw = w;
        int cd = d;
        if (remoteAccess && random.nextInt(100) < 15 && warehouses.size() > 1) {
            do {
                cw = warehouses.get(random.nextInt(warehouses.size()));
            } while (cw == w);
            cd = 1 + random.nextInt(DISTRICTS);
        }
        int customer = 1 + random.nextInt(CUSTOMERS);
        BigDecimal amount = BigDecimal.valueOf(100 + random.nextInt(499_901), 2);
        update(c, "UPDATE warehouse SET w_ytd = w_ytd + ? WHERE w_id = ?", amount, w);
        update(c, "UPDATE district SET d_ytd = d_ytd + ? WHERE d_w_id = ? AND d_id = ?", amount, w, d);
        update(
                c,
                "UPDATE customer SET c_balance = c_balance - ?, c_ytd_payment = c_ytd_payment + ?,"
                        + " c_payment_cnt = c_payment_cnt + 1 WHERE c_w_id = ? AND c_d_id = ? AND c_id = ?",
                amount,
                amount,
                cw,
                cd,
                customer);
        update(c, "INSERT INTO history VALUES (?, ?, ?, ?, ?, now(), ?, 'payment')", customer, cd, cw, d, w, amount);
        return cw != w ? 1 : 0;
    }

    public void orderStatus(Connection c, Random random, int w) throws SQLException {
        int d = 1 + random.nextInt(DISTRICTS);
        int customer = 1 + random.nextInt(CUSTOMERS);
        query(c, "SELECT c_balance FROM customer WHERE c_w_id = ? AND c_d_id = ? AND c_id = ?", w, d, customer);
        String order = query(
                c,
                "SELECT o_id FROM orders WHERE o_w_id = ? AND o_d_id = ? AND o_c_id = ? ORDER BY o_id DESC LIMIT 1",
                w,
                d,
                customer);
        if (order != null) {
            query(
                    c,
                    "SELECT count(*) FROM order_line WHERE ol_w_id = ? AND ol_d_id = ? AND ol_o_id = ?",
                    w,
                    d,
                    Integer.parseInt(order));
        }
    }

    public void delivery(Connection c, Random random, int w) throws SQLException {
        int carrier = 1 + random.nextInt(10);
        for (int d = 1; d <= DISTRICTS; d++) {
            String oldest = query(
                    c,
                    "SELECT no_o_id FROM new_order WHERE no_w_id = ? AND no_d_id = ? ORDER BY no_o_id LIMIT 1 FOR"
                            + " UPDATE",
                    w,
                    d);
            if (oldest == null) {
                continue;
            }
            int o = Integer.parseInt(oldest);
            update(c, "DELETE FROM new_order WHERE no_w_id = ? AND no_d_id = ? AND no_o_id = ?", w, d, o);
            int customer = Integer.parseInt(
                    query(c, "SELECT o_c_id FROM orders WHERE o_w_id = ? AND o_d_id = ? AND o_id = ?", w, d, o));
            update(
                    c,
                    "UPDATE orders SET o_carrier_id = ? WHERE o_w_id = ? AND o_d_id = ? AND o_id = ?",
                    carrier,
                    w,
                    d,
                    o);
            update(
                    c,
                    "UPDATE order_line SET ol_delivery_d = now() WHERE ol_w_id = ? AND ol_d_id = ? AND ol_o_id = ?",
                    w,
                    d,
                    o);
            String sum = query(
                    c,
                    "SELECT coalesce(sum(ol_amount), 0) FROM order_line WHERE ol_w_id = ? AND ol_d_id = ? AND ol_o_id"
                            + " = ?",
                    w,
                    d,
                    o);
            update(
                    c,
                    "UPDATE customer SET c_balance = c_balance + ?, c_delivery_cnt = c_delivery_cnt + 1"
                            + " WHERE c_w_id = ? AND c_d_id = ? AND c_id = ?",
                    new BigDecimal(sum),
                    w,
                    d,
                    customer);
        }
    }

    public void stockLevel(Connection c, Random random, int w) throws SQLException {
        int d = 1 + random.nextInt(DISTRICTS);
        int next = Integer.parseInt(query(c, "SELECT d_next_o_id FROM district WHERE d_w_id = ? AND d_id = ?", w, d));
        query(
                c,
                "SELECT count(DISTINCT s_i_id) FROM order_line JOIN stock ON s_i_id = ol_i_id AND s_w_id = ol_w_id"
                        + " WHERE ol_w_id = ? AND ol_d_id = ? AND ol_o_id >= ? AND ol_o_id < ? AND s_quantity < ?",
                w,
                d,
                next - 20,
                next,
                10 + random.nextInt(11));
    }

    private static String query(Connection c, String sql, Object... params) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) {
                ps.setObject(i + 1, params[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        }
    }

    private static void update(Connection c, String sql, Object... params) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) {
                ps.setObject(i + 1, params[i]);
            }
            ps.executeUpdate();
        }
    }
}
