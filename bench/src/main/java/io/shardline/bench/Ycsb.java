package io.shardline.bench;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyHash;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A YCSB-shaped load side by side in the same run: 47.5 % reads by key, 47.5 % updates by key, 5 % short scans
 * ({@code key >= ? ORDER BY key LIMIT 10}), through the Shardline driver and through plain pgjdbc + HikariCP sent by
 * hand to the nodes the driver would use (reads: a replica of the key's shard; updates: its primary; scans: every
 * shard's replica, merged by the client; the driver's scans with {@code crossShardConsistency=relaxed}, read from
 * replicas as well). Alternating time slices, the order flipped every pair; reported: the ratio
 * of the totals over all pairs, the median and range of the per-pair ratios.
 *
 * <p>Run: {@code java -cp bench/target/benchmarks.jar io.shardline.bench.Ycsb [pairs] [sliceMs] [scan per mille]
 * [driver properties]}, e.g. {@code 20 500 50 readYourWrites=false} (the updates and reads then split the rest evenly).
 */
public final class Ycsb {
    static final int ROWS = 10_000;
    static final String READ = "SELECT field0, field1, field2, field3, field4 FROM usertable WHERE ycsb_key = ?";
    static final String UPDATE = "UPDATE usertable SET field1 = ? WHERE ycsb_key = ?";
    static final String SCAN = "SELECT ycsb_key, field0 FROM usertable WHERE ycsb_key >= ? ORDER BY ycsb_key LIMIT 10";

    private Ycsb() {}

    public static void main(String[] args) throws Exception {
        int pairs = args.length > 0 ? Integer.parseInt(args[0]) : 20;
        int sliceMs = args.length > 1 ? Integer.parseInt(args[1]) : 500;
        scanPerMille = args.length > 2 ? Integer.parseInt(args[2]) : 50;
        String extra = args.length > 3 ? "&" + args[3] : "";
        try (LocalCluster cluster =
                LocalCluster.builder().name("ycsb").shards(2).hubs(1).leaves(1).start()) {
            HashRing ring = RouterClusters.publish(
                    cluster, List.of(new ShardedTable("public", "usertable", "ycsb_key", KeyType.INTEGER)));
            // scans read replicas without the atomic snapshot, as the hand-written side does
            String url =
                    cluster.shardlineUrl() + "?poolSize=16&maxStalenessMs=-1&crossShardConsistency=relaxed" + extra;
            load(url);
            cluster.awaitReplication(Duration.ofSeconds(60));
            List<List<HikariDataSource>> replicas = SideBySide.replicaPools(cluster);
            List<HikariDataSource> primaries = new ArrayList<>();
            for (int shard = 0; shard < cluster.shardCount(); shard++) {
                HikariConfig config = new HikariConfig();
                config.setJdbcUrl(cluster.primary(shard).jdbcUrl());
                config.setUsername("postgres");
                config.setMaximumPoolSize(16);
                config.setPoolName("direct-primary-" + shard);
                primaries.add(new HikariDataSource(config));
            }
            System.out.printf(
                    "YCSB-shaped read/update/scan %.1f/%.1f/%.1f %%, %d rows, 2 shards x (hub + leaf), %d pairs of %d ms"
                            + " slices, driver properties: %s%n",
                    (1000 - scanPerMille) / 20.0,
                    (1000 - scanPerMille) / 20.0,
                    scanPerMille / 10.0,
                    ROWS,
                    pairs,
                    sliceMs,
                    url.substring(url.indexOf('?') + 1));
            SideBySide.header();
            for (int threads : new int[] {1, 4}) {
                List<SideBySide.Client> driver = new ArrayList<>();
                List<SideBySide.Client> direct = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    driver.add(driverClient(url));
                    direct.add(directClient(ring, replicas, primaries));
                }
                SideBySide.compare("ycsb", threads, driver, direct, pairs, sliceMs);
            }
            replicas.forEach(pools -> pools.forEach(HikariDataSource::close));
            primaries.forEach(HikariDataSource::close);
            ShardlineDriver.closeAll();
        }
    }

    /** Scans per 1,000 operations. */
    private static int scanPerMille = 50;

    /** The next operation: 0 read, 1 update, 2 scan (the same draw on both sides). */
    private static int kind() {
        int pick = ThreadLocalRandom.current().nextInt(1000);
        int reads = (1000 - scanPerMille) / 2;
        return pick < reads ? 0 : pick < 1000 - scanPerMille ? 1 : 2;
    }

    static SideBySide.Client driverClient(String url) throws SQLException {
        Connection c = DriverManager.getConnection(url);
        PreparedStatement read = c.prepareStatement(READ);
        PreparedStatement update = c.prepareStatement(UPDATE);
        PreparedStatement scan = c.prepareStatement(SCAN);
        return new SideBySide.Client() {
            @Override
            public void read(long key) throws SQLException {
                switch (kind()) {
                    case 0 -> readOne(read, key);
                    case 1 -> {
                        update.setString(1, "v" + key);
                        update.setLong(2, key);
                        update.executeUpdate();
                    }
                    default -> {
                        scan.setLong(1, key);
                        drain(scan);
                    }
                }
            }

            @Override
            public void close() throws SQLException {
                c.close();
            }
        };
    }

    /** Plain pgjdbc: reads on a replica of the key's shard, updates on its primary, scans on every shard, merged. */
    static SideBySide.Client directClient(
            HashRing ring, List<List<HikariDataSource>> replicaPools, List<HikariDataSource> primaryPools)
            throws SQLException {
        List<Connection> connections = new ArrayList<>();
        PreparedStatement[][] reads = new PreparedStatement[replicaPools.size()][];
        PreparedStatement[][] scans = new PreparedStatement[replicaPools.size()][];
        PreparedStatement[] updates = new PreparedStatement[primaryPools.size()];
        for (int shard = 0; shard < replicaPools.size(); shard++) {
            reads[shard] = new PreparedStatement[replicaPools.get(shard).size()];
            scans[shard] = new PreparedStatement[replicaPools.get(shard).size()];
            for (int r = 0; r < replicaPools.get(shard).size(); r++) {
                Connection c = replicaPools.get(shard).get(r).getConnection();
                connections.add(c);
                reads[shard][r] = c.prepareStatement(READ);
                scans[shard][r] = c.prepareStatement(SCAN);
            }
            Connection p = primaryPools.get(shard).getConnection();
            connections.add(p);
            updates[shard] = p.prepareStatement(UPDATE);
        }
        return new SideBySide.Client() {
            private int turn;

            @Override
            public void read(long key) throws SQLException {
                int shard = ring.shardFor(KeyHash.hashInt8(key));
                switch (kind()) {
                    case 0 -> readOne(reads[shard][Math.floorMod(turn++, reads[shard].length)], key);
                    case 1 -> {
                        updates[shard].setString(1, "v" + key);
                        updates[shard].setLong(2, key);
                        updates[shard].executeUpdate();
                    }
                    default -> {
                        // every shard's first 10 from the key on, merged: the 10 smallest keys
                        PriorityQueue<Long> merged = new PriorityQueue<>();
                        for (PreparedStatement[] shardScans : scans) {
                            PreparedStatement ps = shardScans[Math.floorMod(turn++, shardScans.length)];
                            ps.setLong(1, key);
                            try (ResultSet rs = ps.executeQuery()) {
                                while (rs.next()) {
                                    merged.add(rs.getLong(1));
                                }
                            }
                        }
                        for (int i = 0; i < 10 && !merged.isEmpty(); i++) {
                            merged.poll();
                        }
                    }
                }
            }

            @Override
            public void close() throws SQLException {
                for (Connection c : connections) {
                    c.close();
                }
            }
        };
    }

    private static void readOne(PreparedStatement ps, long key) throws SQLException {
        ps.setLong(1, key);
        try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            rs.getString(1);
        }
    }

    private static void drain(PreparedStatement ps) throws SQLException {
        try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                rs.getLong(1);
            }
        }
    }

    static void load(String url) throws SQLException {
        try (Connection c = DriverManager.getConnection(url);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE usertable (ycsb_key bigint PRIMARY KEY, field0 text, field1 text, field2 text,"
                    + " field3 text, field4 text)");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO usertable VALUES (?, ?, ?, ?, ?, ?)")) {
                for (int i = 1; i <= ROWS; i++) {
                    ps.setLong(1, i);
                    for (int f = 2; f <= 6; f++) {
                        ps.setString(f, "value-" + i + "-" + f);
                    }
                    ps.addBatch();
                    if (i % 1000 == 0) {
                        ps.executeBatch();
                    }
                }
                ps.executeBatch();
            }
        }
    }
}
