package io.shardline.router.txn;

import io.shardline.topology.ZooKeeperTopologyStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.KeeperException;
import tools.jackson.databind.json.JsonMapper;

/**
 * The outcome of multi-shard transactions, in ZooKeeper {@code txns/{gid}}: written once, by whoever decides
 * first. The coordinator writes COMMIT after every participant prepared; recovery writes ROLLBACK for a transaction
 * whose coordinator is gone. Because a decision is created (never overwritten), the two cannot both win: a
 * coordinator that finds ROLLBACK already there rolls back too.
 */
public final class TxnLog {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    /** What happens to every participant of a transaction. */
    public enum Decision {
        COMMIT,
        ROLLBACK
    }

    /** A recorded decision: what, when (epoch ms) and who decided it. */
    public record Record(Decision decision, long atMillis, String by) {}

    private final CuratorFramework client;
    private final String path;

    public TxnLog(CuratorFramework client, String cluster) {
        this.client = client;
        this.path = ZooKeeperTopologyStore.clusterPath(cluster) + "/txns";
    }

    /**
     * Records {@code decision} for {@code gid} unless a decision is recorded already.
     *
     * @return the decision in force: {@code decision}, or the one recorded before
     * @throws TxnException when ZooKeeper cannot be written or read (the outcome stays open)
     */
    public Decision decide(String gid, Decision decision, String by) {
        try {
            client.create()
                    .creatingParentsIfNeeded()
                    .forPath(node(gid), JSON.writeValueAsBytes(new Record(decision, System.currentTimeMillis(), by)));
            return decision;
        } catch (KeeperException.NodeExistsException e) {
            // recorded before, and gone again (forgotten): which it was is not known here, so the outcome is not
            return find(gid)
                    .map(Record::decision)
                    .orElseThrow(() -> new TxnException(
                            "the decision of transaction " + gid
                                    + " was recorded by someone else and dropped again before it could be read",
                            e));
        } catch (Exception e) {
            throw new TxnException(
                    "could not record the " + decision + " of transaction " + gid + " in ZooKeeper: " + e.getMessage(),
                    e);
        }
    }

    /** The decision recorded for {@code gid}, if any. */
    public Optional<Record> find(String gid) {
        try {
            return Optional.of(JSON.readValue(client.getData().forPath(node(gid)), Record.class));
        } catch (KeeperException.NoNodeException e) {
            return Optional.empty();
        } catch (Exception e) {
            throw new TxnException("could not read the decision of transaction " + gid + ": " + e.getMessage(), e);
        }
    }

    /** Every transaction with a recorded decision. */
    public List<String> gids() {
        try {
            return client.checkExists().forPath(path) == null
                    ? List.of()
                    : new ArrayList<>(client.getChildren().forPath(path));
        } catch (Exception e) {
            throw new TxnException("could not list the transaction decisions: " + e.getMessage(), e);
        }
    }

    /** Drops the decision of a transaction no participant holds any more. */
    public void forget(String gid) {
        try {
            client.delete().quietly().forPath(node(gid));
        } catch (Exception e) {
            throw new TxnException("could not drop the decision of transaction " + gid + ": " + e.getMessage(), e);
        }
    }

    private String node(String gid) {
        return path + "/" + Gid.check(gid);
    }
}
