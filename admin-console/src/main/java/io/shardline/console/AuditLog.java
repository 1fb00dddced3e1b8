package io.shardline.console;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Service;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.json.JsonMapper;

/**
 * Who did what, when, with what outcome: one persistent sequential node per mutating request under ZooKeeper
 * {@code audit/e-<seq>}, so every console of the cluster writes to and shows the same log. Entries are deleted
 * only by age ({@link ConsoleSettings#auditRetention()}), never to make room; unauthenticated requests cannot
 * flood the log: past {@link AnonymousEntries#PER_WINDOW} a minute they are counted and summed up in one entry
 * ({@code anonymous.suppressed}) each minute.
 */
@Service
final class AuditLog implements DisposableBean {
    /** Entries are {@code audit/e-0000000042}: ZooKeeper appends the sequence number to the prefix. */
    static final String PREFIX = "e-";
    /** The user of an entry whose request carried no valid credentials. */
    static final String ANONYMOUS = "anonymous";

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
    private final Duration retention;
    private final AnonymousEntries anonymous = new AnonymousEntries(System::currentTimeMillis);
    private final ScheduledExecutorService summaries = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "shardline-console-audit");
        t.setDaemon(true);
        return t;
    });

    AuditLog(CuratorFramework curator, ConsoleSettings settings, MeterRegistry registry) {
        this.curator = curator;
        this.path = ZooKeeperTopologyStore.clusterPath(settings.cluster()) + "/audit";
        this.retention = settings.auditRetention();
        FunctionCounter.builder("shardline.console.audit.suppressed", anonymous, AnonymousEntries::suppressedTotal)
                .description("Unauthenticated requests counted in a summary entry instead of stored one by one")
                .register(registry);
        summaries.scheduleWithFixedDelay(
                this::writeSummary,
                AnonymousEntries.WINDOW_MILLIS,
                AnonymousEntries.WINDOW_MILLIS,
                TimeUnit.MILLISECONDS);
    }

    /**
     * Writes {@code entry} (an unauthenticated request's only while {@link AnonymousEntries} admits it); a failure
     * is logged (the request has been answered already) and not thrown.
     */
    void record(Entry entry) {
        if (entry.user().equals(ANONYMOUS) && !anonymous.admit(entry.remoteAddress())) {
            return;
        }
        write(entry);
    }

    private void writeSummary() {
        AnonymousEntries.Suppressed s = anonymous.drain();
        if (s == null) {
            return;
        }
        LOG.warn(
                "{} unauthenticated requests were refused and counted, not audited one by one (the last from {})",
                s.count(),
                s.lastAddress());
        write(new Entry(
                "",
                s.lastMillis(),
                ANONYMOUS,
                "-",
                "anonymous.suppressed",
                "",
                s.count() + " more unauthenticated requests, refused, since " + Instant.ofEpochMilli(s.firstMillis())
                        + " (over " + AnonymousEntries.PER_WINDOW + " a minute are counted, not stored one by one)",
                0,
                "-",
                s.lastAddress()));
    }

    @Override
    public void destroy() {
        summaries.shutdownNow();
        writeSummary();
    }

    private void write(Entry entry) {
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

    /** Deletes the entries older than the retention, oldest first, up to the first younger one. */
    private void trim() throws Exception {
        long cutoff = System.currentTimeMillis() - retention.toMillis();
        List<String> children = new ArrayList<>(curator.getChildren().forPath(path));
        children.sort(Comparator.naturalOrder());
        for (String child : children) {
            try {
                Entry e = JSON.readValue(curator.getData().forPath(path + "/" + child), Entry.class);
                if (e.timeMillis() >= cutoff) {
                    return;
                }
            } catch (KeeperException.NoNodeException | JacksonException unreadable) {
                continue; // deleted meanwhile, or not an entry: left as it is
            }
            curator.delete().quietly().forPath(path + "/" + child);
        }
    }
}
