package io.shardline.console;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
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
 * {@code audit/h-<yyyyMMddHH>/e-<seq>} (a node per UTC hour, so that no listing grows past what ZooKeeper answers in
 * one reply, however long the retention), so every console of the cluster writes to and shows the same log. Entries
 * are deleted only by age ({@link ConsoleSettings#auditRetention()}), a whole hour at a time, never to make room.
 * Requests cannot flood the log: past {@link AnonymousEntries#PER_WINDOW} a minute, unauthenticated ones, and a
 * user's refused ones (denied, or a 4xx), logins and logouts, are counted and summed up in one entry each minute
 * ({@code anonymous.suppressed},
 * {@code refused.suppressed}). Entries of an earlier version, {@code audit/e-<seq>}, are read and deleted as before.
 */
@Service
final class AuditLog implements DisposableBean {
    /** Entries are {@code e-0000000042}: ZooKeeper appends the sequence number to the prefix. */
    static final String PREFIX = "e-";
    /** An hour's entries are under {@code h-2026120513} (UTC). */
    static final String HOUR_PREFIX = "h-";

    private static final DateTimeFormatter HOUR_NAME = DateTimeFormatter.ofPattern("uuuuMMddHH");
    private static final DateTimeFormatter HOUR = HOUR_NAME.withZone(ZoneOffset.UTC);
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
    /** Each user's refused and failed requests, limited as {@link #anonymous}'s (users are few: a file's). */
    private final Map<String, AnonymousEntries> refused = new ConcurrentHashMap<>();

    private final ScheduledExecutorService summaries = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "shardline-console-audit");
        t.setDaemon(true);
        return t;
    });

    AuditLog(CuratorFramework curator, ConsoleSettings settings, MeterRegistry registry) {
        this.curator = curator;
        this.path = ZooKeeperTopologyStore.clusterPath(settings.cluster()) + "/audit";
        this.retention = settings.auditRetention();
        FunctionCounter.builder("shardline.console.audit.suppressed", this, AuditLog::suppressedTotal)
                .description("Requests counted in a summary entry instead of stored one by one (unauthenticated, or"
                        + " a user's refused requests, logins and logouts past 20 a minute)")
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
        if (entry.user().equals(ANONYMOUS)) {
            if (!anonymous.admit(entry.remoteAddress())) {
                return;
            }
        } else if (limited(entry)
                && !refused.computeIfAbsent(entry.user(), u -> new AnonymousEntries(System::currentTimeMillis))
                        .admit(entry.remoteAddress())) {
            return;
        }
        write(entry);
    }

    /**
     * Whether a signed-in user's entry counts against the user's limit: a refused request (denied, or failed with a
     * 4xx: nothing done), and a login or logout (a loop of them would fill the log); an action done, or one that
     * failed in the server (5xx: perhaps half done), is always stored one by one.
     */
    private static boolean limited(Entry entry) {
        if (entry.action().equals("login") || entry.action().equals("logout")) {
            return true;
        }
        return !entry.outcome().equals("ok") && entry.status() < 500;
    }

    private long suppressedTotal() {
        return anonymous.suppressedTotal()
                + refused.values().stream()
                        .mapToLong(AnonymousEntries::suppressedTotal)
                        .sum();
    }

    private void writeSummary() {
        AnonymousEntries.Suppressed s = anonymous.drain();
        if (s != null) {
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
                    s.count() + " more unauthenticated requests, refused, since "
                            + Instant.ofEpochMilli(s.firstMillis()) + " (over " + AnonymousEntries.PER_WINDOW
                            + " a minute are counted, not stored one by one)",
                    0,
                    "-",
                    s.lastAddress()));
        }
        refused.forEach((user, entries) -> {
            AnonymousEntries.Suppressed r = entries.drain();
            if (r == null) {
                return;
            }
            LOG.warn(
                    "{} refused requests, logins or logouts of {} were counted, not audited one by one (the last from"
                            + " {})",
                    r.count(),
                    user,
                    r.lastAddress());
            write(new Entry(
                    "",
                    r.lastMillis(),
                    user,
                    "-",
                    "refused.suppressed",
                    "",
                    r.count() + " more refused requests, logins or logouts since "
                            + Instant.ofEpochMilli(r.firstMillis())
                            + " (over " + AnonymousEntries.PER_WINDOW + " a minute are counted, not stored one by"
                            + " one)",
                    0,
                    "-",
                    r.lastAddress()));
        });
    }

    @Override
    public void destroy() {
        summaries.shutdownNow();
        writeSummary();
    }

    private void write(Entry entry) {
        try {
            String hour = HOUR_PREFIX + HOUR.format(Instant.ofEpochMilli(entry.timeMillis()));
            String created = curator.create()
                    .creatingParentsIfNeeded()
                    .withMode(CreateMode.PERSISTENT_SEQUENTIAL)
                    .forPath(path + "/" + hour + "/" + PREFIX, JSON.writeValueAsBytes(entry));
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

    /**
     * The newest {@code limit} entries, newest first: the hours' newest first, then an earlier version's entries. An
     * entry's {@code seq} is {@code h-<hour>/e-<seq>} (or {@code e-<seq>}), ordered as the entries are.
     */
    List<Entry> recent(int limit) {
        List<Entry> entries = new ArrayList<>();
        try {
            if (curator.checkExists().forPath(path) == null) {
                return entries;
            }
            List<String> top = new ArrayList<>(curator.getChildren().forPath(path));
            top.sort(Comparator.reverseOrder()); // h-... before e-...: the hours, newest first, then the old entries
            List<String> older = new ArrayList<>();
            for (String child : top) {
                if (entries.size() >= limit) {
                    break;
                }
                if (child.startsWith(HOUR_PREFIX)) {
                    List<String> inHour = new ArrayList<>();
                    try {
                        inHour.addAll(curator.getChildren().forPath(path + "/" + child));
                    } catch (KeeperException.NoNodeException trimmed) {
                        continue;
                    }
                    inHour.sort(Comparator.reverseOrder());
                    for (String e : inHour) {
                        if (entries.size() >= limit) {
                            break;
                        }
                        read(child + "/" + e, entries);
                    }
                } else if (child.startsWith(PREFIX)) {
                    older.add(child);
                }
            }
            for (String child : older) {
                if (entries.size() >= limit) {
                    break;
                }
                read(child, entries);
            }
        } catch (Exception e) {
            throw new ConsoleException(
                    HttpStatus.SERVICE_UNAVAILABLE,
                    "could not read the audit log from ZooKeeper: " + e.getMessage(),
                    e);
        }
        return entries;
    }

    /** Adds the entry at {@code audit/<child>} to {@code entries}, unless it was deleted meanwhile. */
    private void read(String child, List<Entry> entries) throws Exception {
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

    /**
     * Deletes the hours that ended before the retention's start, whole, and an earlier version's entries older than
     * it, oldest first, up to the first younger one.
     */
    private void trim() throws Exception {
        long cutoff = System.currentTimeMillis() - retention.toMillis();
        List<String> children = new ArrayList<>(curator.getChildren().forPath(path));
        children.sort(Comparator.naturalOrder());
        for (String child : children) {
            if (!child.startsWith(HOUR_PREFIX)) {
                continue;
            }
            long start;
            try {
                start = LocalDateTime.parse(child.substring(HOUR_PREFIX.length()), HOUR_NAME)
                        .toInstant(ZoneOffset.UTC)
                        .toEpochMilli();
            } catch (DateTimeParseException notAnHour) {
                continue; // not ours: left as it is
            }
            if (start + Duration.ofHours(1).toMillis() > cutoff) {
                break;
            }
            try {
                curator.delete().quietly().deletingChildrenIfNeeded().forPath(path + "/" + child);
            } catch (Exception e) {
                // this hour could not be deleted (too big to list in one reply?): the later ones still are
                LOG.warn("audit: could not delete {} ({}); going on with the later hours", child, e.toString());
            }
        }
        for (String child : children) {
            if (!child.startsWith(PREFIX)) {
                continue;
            }
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
