package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import io.shardline.compose.LocalCluster;
import io.shardline.router.RouterClusters;
import io.shardline.router.ShardlineDriver;
import io.shardline.topology.ClusterTopology;
import io.shardline.topology.HashRing;
import io.shardline.topology.KeyType;
import io.shardline.topology.Node;
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
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The data path of a move on a real cluster: 2 shards with 20,000 rows in 2 sharded tables, an empty third
 * shard, rows copied and caught up by logical replication while a writer keeps writing through the driver.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class LogicalCopyIT {
    static final List<ShardedTable> TABLES = List.of(
            new ShardedTable("public", "users", "user_id", KeyType.INTEGER),
            new ShardedTable("public", "orders", "order_id", KeyType.INTEGER));
    static final MoveEstimate.Connector CONNECT =
            MoveEstimate.Connector.to("shardline", "postgres", null, "shardline-test");

    private static LocalCluster cluster;
    private static HashRing ring;

    @BeforeAll
    static void start() throws SQLException {
        cluster =
                LocalCluster.builder().name("copy").shards(2).hubs(1).leaves(0).start();
        ring = RouterClusters.publish(cluster, TABLES);
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE users (user_id bigint PRIMARY KEY, name text NOT NULL, balance numeric DEFAULT 0)");
            s.execute("CREATE TABLE orders (order_id bigint PRIMARY KEY, user_id bigint, amount numeric)");
            s.execute("CREATE INDEX orders_user ON orders (user_id)");
            try (PreparedStatement users = c.prepareStatement("INSERT INTO users (user_id, name) VALUES (?, ?)");
                    PreparedStatement orders =
                            c.prepareStatement("INSERT INTO orders (order_id, user_id, amount) VALUES (?, ?, ?)")) {
                for (long k = 1; k <= 10_000; k++) {
                    users.setLong(1, k);
                    users.setString(2, "user " + k);
                    users.addBatch();
                    orders.setLong(1, k);
                    orders.setLong(2, k % 997);
                    orders.setLong(3, k * 3);
                    orders.addBatch();
                }
                users.executeBatch();
                orders.executeBatch();
            }
        }
        cluster.addShard();
    }

    @AfterAll
    static void stop() {
        ShardlineDriver.closeAll();
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void theMovingRowsAreCopiedAndCaughtUpUnderWritesAndNothingIsLeftBehind() throws Exception {
        ClusterTopology topology = RouterClusters.topology(cluster, TABLES);
        MovePlan plan = MovePlan.fillEmptyShards(ring, List.of(2));
        PgDumpSchema schema = new PgDumpSchema(PgDumpSchema.locatePgDump(), topology, null, CONNECT);
        List<LogicalCopy> copies = new ArrayList<>();
        for (MovePlan.Transfer t : plan.transfers()) {
            copies.add(new LogicalCopy("it1", t, topology, CONNECT, schema));
        }
        for (int shard = 0; shard < 3; shard++) {
            // what a replication monitor creates on every primary: the move's cleanup must leave it alone
            try (Connection c = CONNECT.connect(topology.shard(shard).primary());
                    Statement s = c.createStatement()) {
                s.execute("CREATE SCHEMA IF NOT EXISTS shardline");
                s.execute("CREATE TABLE IF NOT EXISTS shardline.heartbeat (shard int PRIMARY KEY, ts timestamptz)");
            }
        }
        AtomicBoolean writing = new AtomicBoolean(true);
        AtomicLong writes = new AtomicLong();
        Thread writer = new Thread(() -> write(writing, writes), "writer");
        writer.start();
        long started = System.nanoTime();
        try {
            for (LogicalCopy copy : copies) {
                copy.checkPreconditions();
                copy.createSchema();
                copy.createSchema(); // again: a resumed step changes nothing
                Node source = topology.shard(
                                plan.transfers().get(copies.indexOf(copy)).source())
                        .primary();
                String conninfo =
                        "host=" + source.host() + " port=" + source.port() + " dbname=shardline user=postgres";
                assertThat(copy.publish()).isTrue();
                assertThat(copy.publish()).isTrue();
                // a copy interrupted half-way (a rebalancer killed), then done again by the next epoch
                try (LogicalCopy.Snapshot snapshot = copy.openSnapshot(1)) {
                    List<Callable<Long>> pipes = copy.pipes(snapshot, 1, n -> {});
                    for (Callable<Long> pipe : pipes.subList(0, pipes.size() / 2)) {
                        pipe.call();
                    }
                }
                try (LogicalCopy.Snapshot snapshot = copy.openSnapshot(2)) {
                    for (Callable<Long> pipe : copy.pipes(snapshot, 2, n -> {})) {
                        pipe.call();
                    }
                }
                assertThat(catchThrowableOfType(MoveException.class, () -> copy.openSnapshot(1)))
                        .as("an older epoch cannot take the copy back")
                        .hasMessageContaining("belongs to a newer rebalancer (epoch 2)");
                copy.subscribe(conninfo, 2);
                copy.subscribe(conninfo, 2);
            }
            LogicalCopy.enable(copies, CONNECT);
            LogicalCopy.enable(copies, CONNECT);
            Thread.sleep(1000); // changes after the copy stream too
        } finally {
            writing.set(false);
            writer.join();
        }
        for (LogicalCopy copy : copies) {
            long lsn = copy.sourceLsn();
            await().atMost(Duration.ofSeconds(30)).until(() -> copy.appliedUpTo(lsn));
        }
        long copyMs = Duration.ofNanos(System.nanoTime() - started).toMillis();

        Node target = topology.shard(2).primary();
        long copiedRows = 0;
        for (ShardedTable table : TABLES) {
            String hash = table.keyType().sqlHashExpression(table.keyColumn());
            List<String> expected = new ArrayList<>();
            for (MovePlan.Transfer t : plan.transfers()) {
                expected.addAll(rows(topology.shard(t.source()).primary(), table, t.sqlPredicate(hash)));
            }
            assertThat(checksum(rows(target, table, "true")))
                    .as("rows of %s on the target", table.qualifiedName())
                    .isEqualTo(checksum(expected));
            copiedRows += count(target, table);
        }
        System.out.printf(
                "logical copy of %d rows to the new shard (%d transfers) with %d concurrent writes: %d ms%n",
                copiedRows, copies.size(), writes.get(), copyMs);
        assertThat(writes.get()).isPositive();

        for (LogicalCopy copy : copies) {
            copy.dropReplication();
            copy.dropReplication();
        }
        for (int shard = 0; shard < 3; shard++) {
            try (Connection c = CONNECT.connect(topology.shard(shard).primary());
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT (SELECT count(*) FROM pg_publication WHERE pubname LIKE"
                            + " 'shardline_%') + (SELECT count(*) FROM pg_subscription WHERE subname LIKE 'shardline_%')"
                            + " + (SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'shardline_%')")) {
                rs.next();
                assertThat(rs.getLong(1))
                        .as("publications, subscriptions and slots left on shard %d", shard)
                        .isZero();
            }
            try (Connection c = CONNECT.connect(topology.shard(shard).primary());
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT to_regclass('shardline.move_barrier') IS NULL,"
                            + " to_regclass('shardline.heartbeat') IS NOT NULL")) {
                rs.next();
                assertThat(rs.getBoolean(1))
                        .as("barrier table gone from shard %d", shard)
                        .isTrue();
                assertThat(rs.getBoolean(2))
                        .as("the monitor's table kept on shard %d", shard)
                        .isTrue();
            }
        }
    }

    /**
     * Two copies fill one target: a copy's snapshot opening (a takeover by a newer epoch) ends the older pipes of
     * that copy and leaves the other copy's pipes at work. Each pipe is held, after it took its fence row, by a lock
     * on its source table.
     */
    @Test
    void openingACopyEndsOnlyItsOwnOlderPipesNotThoseOfTheOtherCopiesIntoTheSameTarget() throws Exception {
        ClusterTopology topology = RouterClusters.topology(cluster, TABLES);
        MovePlan plan = MovePlan.fillEmptyShards(ring, List.of(2));
        PgDumpSchema schema = new PgDumpSchema(PgDumpSchema.locatePgDump(), topology, null, CONNECT);
        LogicalCopy a = new LogicalCopy("it3", plan.transfers().get(0), topology, CONNECT, schema);
        LogicalCopy b = new LogicalCopy("it3", plan.transfers().get(1), topology, CONNECT, schema);
        assertThat(a.transfer().source()).isNotEqualTo(b.transfer().source());
        ExecutorService pipes = Executors.newFixedThreadPool(3);
        List<Connection> locks = new ArrayList<>();
        try {
            a.createSchema();
            b.createSchema();
            try (LogicalCopy.Snapshot heldA = a.openSnapshot(1);
                    LogicalCopy.Snapshot heldB = b.openSnapshot(1)) {
                for (LogicalCopy copy : List.of(a, b)) {
                    Connection lock = CONNECT.connect(
                            topology.shard(copy.transfer().source()).primary());
                    locks.add(lock);
                    lock.setAutoCommit(false);
                    lock.createStatement().execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE");
                }
                Future<Long> pipeA = pipes.submit(a.pipes(heldA, 1, n -> {}).get(0));
                Future<Long> olderPipeB =
                        pipes.submit(b.pipes(heldB, 1, n -> {}).get(0));
                for (LogicalCopy copy : List.of(a, b)) {
                    Node source = topology.shard(copy.transfer().source()).primary();
                    // the pipe took its fence row on the target and waits for its source table
                    await().atMost(Duration.ofSeconds(30))
                            .until(() -> queryLong(
                                            source,
                                            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation ="
                                                    + " 'users'::regclass")
                                    == 1);
                }
                // copy b taken over by a newer epoch while copy a is at work: its opening ends the older pipe of
                // b on the target, then waits on b's source (a new slot waits for the locking transaction)
                Future<LogicalCopy.Snapshot> newerB = pipes.submit(() -> b.openSnapshot(2));
                Node target = topology.shard(2).primary();
                await().atMost(Duration.ofSeconds(30))
                        .until(() -> queryLong(
                                        target,
                                        "SELECT count(*) FROM pg_locks WHERE relation ="
                                                + " to_regclass('shardline.move_barrier') AND mode = 'RowShareLock'")
                                <= 1);
                for (Connection lock : locks) {
                    lock.rollback();
                }
                newerB.get(60, TimeUnit.SECONDS).close();
                assertThat(pipeA.get(60, TimeUnit.SECONDS))
                        .as("rows copied by the pipe of copy a")
                        .isPositive();
                assertThatThrownBy(() -> olderPipeB.get(60, TimeUnit.SECONDS))
                        .as("the older pipe of copy b")
                        .isInstanceOf(ExecutionException.class);
            }
        } finally {
            for (Connection lock : locks) {
                lock.close();
            }
            pipes.shutdownNow();
            a.dropReplication();
            b.dropReplication();
        }
    }

    @Test
    void aSchemaCopyFromATableLockedByALongTransactionFailsClearlyInsteadOfWaiting() throws Exception {
        ClusterTopology topology = RouterClusters.topology(cluster, TABLES);
        PgDumpSchema schema = new PgDumpSchema(PgDumpSchema.locatePgDump(), topology, null, CONNECT);
        try (Connection lock = CONNECT.connect(topology.shard(0).primary())) {
            lock.setAutoCommit(false);
            lock.createStatement().execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE");
            long started = System.nanoTime();
            assertThatThrownBy(() -> schema.copy(
                            "public",
                            "orders",
                            topology.shard(0).primary(),
                            topology.shard(2).primary()))
                    .isInstanceOf(MoveException.class)
                    .hasMessageContaining("pg_dump of public.orders on s0-primary failed")
                    .hasMessageContaining("LOCK TABLE public.orders");
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(30));
            lock.rollback();
        }
    }

    @Test
    void aTableWithoutAPrimaryKeyIsRefusedBeforeAnythingIsCreated() throws Exception {
        List<ShardedTable> tables = List.of(new ShardedTable("public", "events", "event_id", KeyType.INTEGER));
        for (int shard = 0; shard < 2; shard++) {
            try (Connection c = CONNECT.connect(
                    RouterClusters.topology(cluster, tables).shard(shard).primary())) {
                c.createStatement().execute("CREATE TABLE IF NOT EXISTS events (event_id bigint, payload text)");
            }
        }
        ClusterTopology topology = RouterClusters.topology(cluster, tables);
        MovePlan plan = MovePlan.fillEmptyShards(ring, List.of(2));
        LogicalCopy copy =
                new LogicalCopy("it2", plan.transfers().get(0), topology, CONNECT, (schema, table, from, to) -> {});
        assertThatThrownBy(copy::checkPreconditions)
                .isInstanceOf(MoveException.class)
                .hasMessageContaining("public.events has no primary key");
    }

    @Test
    void stoppingTheCopyEndsAPipeThatWaitsOnItsSource() throws Exception {
        ClusterTopology topology = RouterClusters.topology(cluster, TABLES);
        LogicalCopy copy = firstCopyIntoShard2("it5", topology);
        Node source = topology.shard(copy.transfer().source()).primary();
        ExecutorService pipes = Executors.newSingleThreadExecutor();
        try (Connection lock = CONNECT.connect(source)) {
            copy.createSchema();
            try (LogicalCopy.Snapshot held = copy.openSnapshot(1)) {
                lock.setAutoCommit(false);
                lock.createStatement().execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE");
                Future<Long> pipe = pipes.submit(copy.pipes(held, 1, n -> {}).get(0));
                await().atMost(Duration.ofSeconds(30))
                        .until(() -> queryLong(
                                        source,
                                        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation ="
                                                + " 'users'::regclass")
                                == 1);
                copy.stopPipes(); // as an abort does
                assertThatThrownBy(() -> pipe.get(10, TimeUnit.SECONDS))
                        .as("the pipe ends while its source still blocks it")
                        .isInstanceOf(ExecutionException.class);
                lock.rollback();
            }
        } finally {
            pipes.shutdownNow();
            copy.dropReplication();
        }
    }

    @Test
    void aPipeCarriesAnyRowWhole() throws Exception {
        String rows = "SELECT g AS id, CASE WHEN g = 7 THEN repeat('x', 300000) WHEN g % 5 = 0 THEN NULL"
                + " ELSE E'tab\\there\\nnewline \\\\ backslash ' || g END AS body FROM generate_series(1, 2000) g";
        try (Connection from = cluster.primary(0).connect();
                Connection to = cluster.primary(1).connect();
                Statement f = from.createStatement();
                Statement t = to.createStatement()) {
            f.execute("CREATE TABLE pipe_src AS " + rows);
            t.execute("CREATE TABLE pipe_dst (id int, body text)");
            try {
                long copied = CopyPipe.transfer(
                        from, "COPY (SELECT id, body FROM pipe_src) TO STDOUT", to, "COPY pipe_dst FROM STDIN");
                assertThat(copied).isEqualTo(2000);
                String digest = "SELECT md5(string_agg(id || ':' || coalesce(body, '<null>'), ',' ORDER BY id))";
                assertThat(single(t, digest + " FROM pipe_dst"))
                        .as("every row arrives whole, the one of 300 kB (over a chunk) too")
                        .isEqualTo(single(f, digest + " FROM pipe_src"));
            } finally {
                f.execute("DROP TABLE pipe_src");
                t.execute("DROP TABLE pipe_dst");
            }
        }
    }

    @Test
    void aPipeThatFailsOnEitherSideLeavesNoRowAndNoCopyRunningOnceItsConnectionsClose() throws Exception {
        try (Connection admin0 = cluster.primary(0).connect();
                Connection admin1 = cluster.primary(1).connect();
                Statement a0 = admin0.createStatement();
                Statement a1 = admin1.createStatement()) {
            a1.execute("CREATE TABLE pipe_dst (id int CHECK (id < 60000), body text)");
            try {
                // the target refuses a row far into the stream
                SQLException refused = failedPipe(
                        "COPY (SELECT g, 'refused ' || g FROM generate_series(1, 100000) g) TO STDOUT", null);
                assertThat(refused.getSQLState()).as(refused.getMessage()).isEqualTo("23514");
                // the source fails part way
                SQLException failed = failedPipe(
                        "COPY (SELECT g, 'failed ' || (1 / (g - 30000)) FROM generate_series(1, 50000) g) TO STDOUT",
                        null);
                assertThat(failed.getSQLState()).as(failed.getMessage()).isEqualTo("22012");
                // the target's connection ends while the source still streams (as an abort ends a move's pipes)
                a1.execute("ALTER TABLE pipe_dst DROP CONSTRAINT pipe_dst_id_check");
                SQLException broken = failedPipe(
                        "COPY (SELECT g, 'broken ' || g FROM generate_series(1, 100000000) g) TO STDOUT", admin1);
                assertThat((Object) broken).as("the pipe fails").isNotNull();
                assertThat(single(a1, "SELECT count(*) FROM pipe_dst")).isEqualTo("0");
                await("no COPY of the pipes still runs on either server")
                        .atMost(Duration.ofSeconds(20))
                        .until(() -> single(a0, RUNNING_PIPES).equals("0")
                                && single(a1, RUNNING_PIPES).equals("0"));
            } finally {
                a1.execute("DROP TABLE pipe_dst");
            }
        }
    }

    /**
     * A subscription says the copy's rows are all on the target: a runner whose pipes committed but that was taken
     * over before it subscribed (the newer runner deleted those rows) must not subscribe, and a runner that takes over
     * a copy subscribed meanwhile must keep it rather than copy again.
     */
    @Test
    void onlyTheCopysOwnerSubscribesItAndATakeoverKeepsACopyAlreadySubscribed() throws Exception {
        ClusterTopology topology = RouterClusters.topology(cluster, TABLES);
        LogicalCopy copy = firstCopyIntoShard2("it7", topology);
        Node source = topology.shard(copy.transfer().source()).primary();
        Node target = topology.shard(2).primary();
        String conninfo = "host=" + source.host() + " port=" + source.port() + " dbname=shardline user=postgres";
        String moving = copy.transfer().sqlPredicate(TABLES.get(0).keyType().sqlHashExpression("user_id"));
        try {
            copy.createSchema();
            assertThat(copy.publish()).isTrue();
            try (LogicalCopy.Snapshot held = copy.openSnapshot(1)) {
                for (Callable<Long> pipe : copy.pipes(held, 1, n -> {})) {
                    pipe.call();
                }
            }
            try (LogicalCopy.Snapshot newer = copy.openSnapshot(2)) {
                assertThat(newer).isNotNull();
                assertThat(rows(target, TABLES.get(0), moving))
                        .as("the takeover deleted the older runner's rows")
                        .isEmpty();
                assertThatThrownBy(() -> copy.subscribe(conninfo, 1))
                        .isInstanceOf(MoveException.class)
                        .hasMessageContaining("not owned by epoch 1");
                assertThat(copy.subscribed()).isFalse();
                for (Callable<Long> pipe : copy.pipes(newer, 2, n -> {})) {
                    pipe.call();
                }
                copy.subscribe(conninfo, 2);
            }
            assertThat(copy.openSnapshot(3))
                    .as("a takeover of a subscribed copy")
                    .isNull();
            assertThat(rows(target, TABLES.get(0), moving))
                    .isNotEmpty()
                    .containsExactlyInAnyOrderElementsOf(rows(source, TABLES.get(0), moving));
        } finally {
            copy.dropReplication();
            copy.deleteMovingRows(target, 10_000, 1e9, n -> {});
        }
    }

    /**
     * The moved rows hold values of the source's sequences: the target's own (a new shard's start at 1) would hand them
     * out again to rows inserted for the moved keys after the switch.
     */
    @Test
    void theCutoverRaisesTheTargetsSequencesToWhatTheSourceDrew() throws Exception {
        List<ShardedTable> tables = List.of(new ShardedTable("public", "tickets", "acct", KeyType.INTEGER));
        ClusterTopology topology = RouterClusters.topology(cluster, tables);
        LogicalCopy copy = firstCopyIntoShard2("itseq", topology);
        Node source = topology.shard(copy.transfer().source()).primary();
        Node target = topology.shard(2).primary();
        String ddl = "CREATE TABLE tickets (acct bigint, id bigserial, n int GENERATED BY DEFAULT AS IDENTITY,"
                + " PRIMARY KEY (acct, id))";
        try (Connection f = CONNECT.connect(source);
                Connection t = CONNECT.connect(target);
                Statement fs = f.createStatement();
                Statement ts = t.createStatement()) {
            fs.execute(ddl);
            ts.execute(ddl);
            try {
                fs.execute("INSERT INTO tickets (acct) SELECT g % 7 FROM generate_series(1, 50) g");
                ts.execute("SELECT setval('tickets_n_seq', 80)"); // the target's own is ahead: it stays
                assertThat(copy.raiseSequences(fs, ts)).isEqualTo(1);
                assertThat(single(ts, "SELECT nextval('tickets_id_seq')")).isEqualTo("51");
                assertThat(single(ts, "SELECT nextval('tickets_n_seq')")).isEqualTo("81");
                assertThat(copy.raiseSequences(fs, ts))
                        .as("again: nothing to raise")
                        .isZero();
            } finally {
                fs.execute("DROP TABLE tickets");
                ts.execute("DROP TABLE tickets");
            }
        }
    }

    /**
     * A parent table declared before its child (a foreign key on the shard key): the cleanup deletes the moved rows of
     * the parent first. As an ordinary client every batch failed with 23503 (the child's rows still there), and the
     * move stayed in CLEANING.
     */
    @Test
    void theMovedRowsOfAParentAndItsChildAreDeletedWhateverTheOrderTheyAreDeclaredIn() throws Exception {
        List<ShardedTable> tables = List.of(
                new ShardedTable("public", "ledger", "acct", KeyType.INTEGER),
                new ShardedTable("public", "ledger_line", "acct", KeyType.INTEGER));
        ClusterTopology topology = RouterClusters.topology(cluster, tables);
        LogicalCopy copy = firstCopyIntoShard2("itfk", topology);
        Node source = topology.shard(copy.transfer().source()).primary();
        String moving = copy.transfer().sqlPredicate(KeyType.INTEGER.sqlHashExpression("acct"));
        try (Connection c = CONNECT.connect(source);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE ledger (acct bigint PRIMARY KEY)");
            s.execute("CREATE TABLE ledger_line (acct bigint REFERENCES ledger, line int, PRIMARY KEY (acct, line))");
            s.execute("INSERT INTO ledger SELECT g FROM generate_series(1, 2000) g");
            s.execute("INSERT INTO ledger_line SELECT g, l FROM generate_series(1, 2000) g, generate_series(1, 3) l");
            s.execute("CREATE FUNCTION ledger_gone() RETURNS trigger LANGUAGE plpgsql AS"
                    + " $$BEGIN RAISE EXCEPTION 'a user trigger fired for a moved row'; END$$");
            s.execute("CREATE TRIGGER ledger_gone BEFORE DELETE ON ledger_line FOR EACH ROW"
                    + " EXECUTE FUNCTION ledger_gone()");
        }
        try {
            long movingLedger = queryLong(source, "SELECT count(*) FROM ledger WHERE " + moving);
            assertThat(movingLedger).isPositive().isLessThan(2000);
            long deleted = copy.deleteMovingRows(source, 500, 1e9, n -> {});
            assertThat(deleted).isEqualTo(4 * movingLedger);
            assertThat(queryLong(source, "SELECT count(*) FROM ledger WHERE " + moving))
                    .isZero();
            assertThat(queryLong(source, "SELECT count(*) FROM ledger_line WHERE " + moving))
                    .isZero();
            assertThat(queryLong(source, "SELECT count(*) FROM ledger")).isEqualTo(2000 - movingLedger);
            assertThat(queryLong(source, "SELECT count(*) FROM ledger_line")).isEqualTo(3 * (2000 - movingLedger));
        } finally {
            try (Connection c = CONNECT.connect(source);
                    Statement s = c.createStatement()) {
                s.execute("DROP TABLE ledger_line, ledger");
                s.execute("DROP FUNCTION ledger_gone()");
            }
        }
    }

    /**
     * The copies from every source into one target publish at once, each creating the barrier table on the target
     * unless it exists: the one that loses the race of CREATE ... IF NOT EXISTS (made certain here by a transaction
     * that creates the table and commits only once the copy waits on it) sees a duplicate key and must find the table.
     */
    @Test
    void aCopyThatLosesTheRaceToCreateTheBarrierTableOnItsTargetFindsItAndGoesOn() throws Exception {
        ClusterTopology topology = RouterClusters.topology(cluster, TABLES);
        LogicalCopy copy = firstCopyIntoShard2("it6", topology);
        Node target = topology.shard(2).primary();
        ExecutorService publishing = Executors.newSingleThreadExecutor();
        try (Connection other = CONNECT.connect(target);
                Statement s = other.createStatement()) {
            s.execute("DROP TABLE IF EXISTS " + LogicalCopy.BARRIER_TABLE);
            other.setAutoCommit(false);
            s.execute("CREATE SCHEMA IF NOT EXISTS shardline");
            s.execute("CREATE TABLE " + LogicalCopy.BARRIER_TABLE + " (copy text PRIMARY KEY, seq bigint NOT NULL)");
            Future<Boolean> published = publishing.submit(copy::publish);
            await("the copy waits on the other creation of the barrier table")
                    .atMost(Duration.ofSeconds(30))
                    .until(() -> queryLong(
                                    target,
                                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                            + " AND query LIKE 'CREATE % IF NOT EXISTS shardline%'")
                            == 1);
            other.commit();
            assertThat(published.get(30, TimeUnit.SECONDS)).isTrue();
        } finally {
            publishing.shutdownNow();
            copy.dropReplication();
        }
    }

    /** The copy from the first source into the empty shard 2 of a move {@code moveId}. */
    private static LogicalCopy firstCopyIntoShard2(String moveId, ClusterTopology topology) throws MoveException {
        MovePlan plan = MovePlan.fillEmptyShards(ring, List.of(2));
        PgDumpSchema schema = new PgDumpSchema(PgDumpSchema.locatePgDump(), topology, null, CONNECT);
        return new LogicalCopy(moveId, plan.transfers().get(0), topology, CONNECT, schema);
    }

    private static final String RUNNING_PIPES =
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %'" + " AND pid <> pg_backend_pid()";

    /**
     * Pipes {@code copyOut} from the first primary into {@code pipe_dst} on the second and returns how it failed; with
     * {@code killer}, the target's backend is terminated through it once its COPY runs.
     */
    private static SQLException failedPipe(String copyOut, Connection killer) throws Exception {
        Connection to = cluster.primary(1).connect();
        try (Connection from = cluster.primary(0).connect();
                Statement t = to.createStatement()) {
            String pid = single(t, "SELECT pg_backend_pid()");
            CompletableFuture<Boolean> kill = killer == null
                    ? CompletableFuture.completedFuture(false)
                    : CompletableFuture.supplyAsync(() -> {
                        try (Statement k = killer.createStatement()) {
                            // once its COPY runs: the source is streaming into it
                            await().atMost(Duration.ofSeconds(30))
                                    .until(() -> single(
                                                    k,
                                                    "SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid
                                                            + " AND state = 'active' AND query LIKE 'COPY %'")
                                            .equals("1"));
                            return k.execute("SELECT pg_terminate_backend(" + pid + ")");
                        } catch (SQLException e) {
                            throw new IllegalStateException(e);
                        }
                    });
            SQLException e = catchThrowableOfType(
                    SQLException.class, () -> CopyPipe.transfer(from, copyOut, to, "COPY pipe_dst FROM STDIN"));
            kill.join();
            return e;
        } finally {
            try {
                to.close();
            } catch (SQLException e) {
                // a terminated backend's connection cannot say goodbye ("Broken pipe")
            }
        }
    }

    private static String single(Statement s, String sql) throws SQLException {
        try (ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    /** Inserts new users and updates existing ones through the driver until told to stop. */
    private static void write(AtomicBoolean writing, AtomicLong writes) {
        try (Connection c = DriverManager.getConnection(cluster.shardlineUrl());
                PreparedStatement insert = c.prepareStatement("INSERT INTO users (user_id, name) VALUES (?, ?)");
                PreparedStatement update =
                        c.prepareStatement("UPDATE users SET balance = balance + 1 WHERE user_id = ?")) {
            long next = 1_000_000;
            while (writing.get()) {
                insert.setLong(1, next++);
                insert.setString(2, "new");
                insert.executeUpdate();
                update.setLong(1, ThreadLocalRandom.current().nextLong(1, 10_001));
                update.executeUpdate();
                writes.addAndGet(2);
                Thread.sleep(2);
            }
        } catch (SQLException | InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Every row of {@code table} on {@code node} matching {@code predicate}, as text keyed by the shard key. */
    private static List<String> rows(Node node, ShardedTable table, String predicate) throws SQLException {
        List<String> rows = new ArrayList<>();
        try (Connection c = CONNECT.connect(node);
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(
                        "SELECT " + table.keyColumn() + ", t::text FROM " + table.table() + " t WHERE " + predicate)) {
            while (rs.next()) {
                rows.add(String.format("%020d %s", rs.getLong(1), rs.getString(2)));
            }
        }
        return rows;
    }

    /** An md5 over the rows in key order, and their number. */
    private static String checksum(List<String> rows) {
        List<String> sorted = new ArrayList<>(rows);
        sorted.sort(null);
        return md5(String.join("\n", sorted)) + "/" + sorted.size();
    }

    private static long queryLong(Node node, String sql) throws SQLException {
        try (Connection c = CONNECT.connect(node);
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static long count(Node node, ShardedTable table) throws SQLException {
        try (Connection c = CONNECT.connect(node);
                ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM " + table.table())) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static String md5(String text) {
        try {
            byte[] digest = java.security.MessageDigest.getInstance("MD5")
                    .digest(text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return java.util.HexFormat.of().formatHex(digest);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
