package io.shardline.console;

import io.shardline.topology.ZooKeeperTopologyStore;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Service;
import tools.jackson.databind.json.JsonMapper;

/**
 * Who did what, when, with what outcome: one persistent sequential node per mutating request under ZooKeeper
 * {@code audit/e-<seq>}, so every console of the cluster writes to and shows the same log. The newest
 * {@link #RETAINED} entries are kept.
 */
@Service
final class AuditLog {
    static final int RETAINED = 10_000;
    /** Entries are {@code audit/e-0000000042}: ZooKeeper appends the sequence number to the prefix. */
    static final String PREFIX = "e-";

    private static final Logger LOG = LoggerFactory.getLogger(AuditLog.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    /**
     * One audited request.
     *
     * @param seq its place in the log (ZooKeeper's sequence number); empty when written
     * @param outcome {@code ok}, {@code denied: ...} or {@code failed: ...}
     * @param status the HTTP status answered
     */
    record Entry(
            String seq,
            long timeMillis,
            String user,
            String role,
            String action,
            String target,
            String outcome,
            int status,
            String requestId,
            String remoteAddress) {}

    private final CuratorFramework curator;
    private final String path;

    AuditLog(CuratorFramework curator, ConsoleSettings settings) {
        this.curator = curator;
        this.path = ZooKeeperTopologyStore.clusterPath(settings.cluster()) + "/audit";
    }

    /** Writes {@code entry}; a failure is logged (the request has been answered already) and not thrown. */
    void record(Entry entry) {
        try {
            String created = curator.create()
                    .creatingParentsIfNeeded()
                    .withMode(CreateMode.PERSISTENT_SEQUENTIAL)
                    .forPath(path + "/" + PREFIX, JSON.writeValueAsBytes(entry));
            long seq = Long.parseLong(created.substring(created.lastIndexOf('/') + 1 + PREFIX.length()));
            if (seq % 100 == 0) {
                trim();
            }
        } catch (Exception e) {
            LOG.error(
                    "could not write the audit record of request {} ({} {} by {}): {}",
                    entry.requestId(),
                    entry.action(),
                    entry.target(),
                    entry.user(),
                    e.toString());
        }
    }

    /** The newest {@code limit} entries, newest first. */
    List<Entry> recent(int limit) {
        List<Entry> entries = new ArrayList<>();
        try {
            if (curator.checkExists().forPath(path) == null) {
                return entries;
            }
            List<String> children = new ArrayList<>(curator.getChildren().forPath(path));
            children.sort(Comparator.reverseOrder());
            for (String child : children.subList(0, Math.min(limit, children.size()))) {
                try {
                    Entry e = JSON.readValue(curator.getData().forPath(path + "/" + child), Entry.class);
                    entries.add(new Entry(
                            child,
                            e.timeMillis(),
                            e.user(),
                            e.role(),
                            e.action(),
                            e.target(),
                            e.outcome(),
                            e.status(),
                            e.requestId(),
                            e.remoteAddress()));
                } catch (KeeperException.NoNodeException gone) {
                    // trimmed meanwhile
                }
            }
        } catch (Exception e) {
            throw new ConsoleException(
                    HttpStatus.SERVICE_UNAVAILABLE,
                    "could not read the audit log from ZooKeeper: " + e.getMessage(),
                    e);
        }
        return entries;
    }

    private void trim() throws Exception {
        List<String> children = new ArrayList<>(curator.getChildren().forPath(path));
        if (children.size() <= RETAINED) {
            return;
        }
        children.sort(Comparator.naturalOrder());
        for (String old : children.subList(0, children.size() - RETAINED)) {
            curator.delete().quietly().forPath(path + "/" + old);
        }
    }
}
