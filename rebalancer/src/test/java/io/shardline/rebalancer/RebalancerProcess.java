package io.shardline.rebalancer;

import io.shardline.topology.ZkCredentials;
import io.shardline.topology.ZkTls;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.time.Duration;
import org.apache.curator.framework.CuratorFramework;

/**
 * What {@code ./shardline rebalancer --zk ZK --name CLUSTER} runs, in a JVM of its own so a test can SIGKILL
 * or SIGSTOP it. Arguments: {@code ZK CLUSTER CATCH_UP_BYTES DELETE_ROWS_PER_SECOND}.
 */
final class RebalancerProcess {
    private RebalancerProcess() {}

    public static void main(String[] args) throws Exception {
        MoveRunner.Settings d = MoveRunner.Settings.DEFAULT;
        MoveRunner.Settings settings = new MoveRunner.Settings(
                d.ackTimeout(),
                d.barrierTimeout(),
                Long.parseLong(args[2]),
                d.deleteBatch(),
                Double.parseDouble(args[3]),
                d.retryPause());
        // a shorter session than the command's 10 s: a killed leader's ends sooner, and the test waits less for its
        // successor (what happens at its end is the same)
        CuratorFramework client = ZooKeeperTopologyStore.newClient(
                args[0],
                Duration.ofSeconds(4),
                Duration.ofSeconds(4),
                ZkCredentials.processDefault(),
                ZkTls.processDefault());
        Rebalancer rebalancer = Rebalancer.forCluster(client, args[1], null, settings);
        // SIGTERM (a test's clean-up) closes the session at once, so the next test's rebalancer need not wait for it
        // to expire; SIGKILL and SIGSTOP are what the tests use to make a rebalancer fail
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            rebalancer.close();
            client.close();
        }));
        rebalancer.start();
        System.out.println("rebalancer started");
        System.out.flush();
        Thread.currentThread().join();
    }
}
