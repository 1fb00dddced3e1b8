package io.shardline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.shardline.compose.ClusterDescriptor;
import io.shardline.compose.LocalCluster;
import io.shardline.router.txn.Gid;
import io.shardline.router.txn.TwoPhaseCommit;
import io.shardline.router.txn.TxnLog;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import org.apache.curator.framework.CuratorFramework;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code txn in-doubt} lists what a dead coordinator left prepared; {@code txn recover} resolves it. */
class TxnCommandIT {
    private static LocalCluster cluster;
    private static ClusterDescriptor descriptor;

    @BeforeAll
    static void start() throws Exception {
        cluster =
                LocalCluster.builder().name("txns").shards(2).hubs(0).leaves(0).start();
        descriptor = cluster.descriptor();
        LocalTopology.publish(descriptor);
        for (int s = 0; s < 2; s++) {
            try (Connection c = cluster.primary(s).connect();
                    Statement st = c.createStatement()) {
                st.execute("CREATE TABLE t (id int PRIMARY KEY)");
            }
        }
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.close();
        }
    }

    private record Run(int rc, String out, String err) {}

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = ShardlineCli.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int rc = cli.execute(args);
        return new Run(rc, out.toString(), err.toString());
    }

    @Test
    void listsAndResolvesWhatADeadCoordinatorLeftPrepared() throws Exception {
        assertThat(run("txn", "in-doubt", "--zk", descriptor.zk(), "--name", "txns").out)
                .contains("No transaction is in doubt in cluster txns.");
        String committed = new Gid("txns", UUID.randomUUID().toString()).next();
        String undecided = new Gid("txns", UUID.randomUUID().toString()).next();
        try (CuratorFramework client = ZooKeeperTopologyStore.newClient(descriptor.zk(), Duration.ofSeconds(10))) {
            TxnLog log = new TxnLog(client, "txns");
            prepare(log, committed, 1, "decided");
            prepare(log, undecided, 2, "prepared");
        }
        Run list = run("txn", "in-doubt", "--zk", descriptor.zk(), "--name", "txns");
        assertThat(list.rc).as(list.err).isZero();
        assertThat(list.out).contains(committed, undecided, "commit", "none", "gone", "./shardline txn recover");

        Run recover = run("txn", "recover", "--zk", descriptor.zk(), "--name", "txns");
        assertThat(recover.rc).as(recover.err).isZero();
        assertThat(recover.out).contains("Committed 2, rolled back 2 prepared transaction(s); 0 left");
        assertThat(cluster.primary(0).queryString("SELECT count(*) FROM pg_prepared_xacts"))
                .isEqualTo("0");
        assertThat(cluster.primary(0).queryString("SELECT string_agg(id::text, ',') FROM t"))
                .isEqualTo("1");
        assertThat(cluster.primary(1).queryString("SELECT string_agg(id::text, ',') FROM t"))
                .isEqualTo("1");
    }

    /** Inserts {@code id} on both shards and "dies" at {@code step} of the two-phase commit. */
    private static void prepare(TxnLog log, String gid, int id, String step) throws Exception {
        Map<Integer, Connection> participants = new LinkedHashMap<>();
        for (int s = 0; s < 2; s++) {
            Connection c = cluster.primary(s).connect();
            c.setAutoCommit(false);
            try (Statement st = c.createStatement()) {
                st.execute("INSERT INTO t VALUES (" + id + ")");
            }
            participants.put(s, c);
        }
        TwoPhaseCommit.Observer dies = new TwoPhaseCommit.Observer() {
            @Override
            public void prepared(String g, int shard) {
                if (step.equals("prepared") && shard == 1) {
                    throw new IllegalStateException("died");
                }
            }

            @Override
            public void decided(String g, TxnLog.Decision decision) {
                if (step.equals("decided")) {
                    throw new IllegalStateException("died");
                }
            }
        };
        assertThatThrownBy(() -> new TwoPhaseCommit(log, "test", dies).commit(gid, participants))
                .hasMessage("died");
        for (Connection c : participants.values()) {
            c.close();
        }
    }
}
