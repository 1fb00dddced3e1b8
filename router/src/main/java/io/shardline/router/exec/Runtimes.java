package io.shardline.router.exec;

import io.shardline.router.ShardlineUrl;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The open {@link ClusterRuntime}s of this process, one per cluster and property set. A runtime counts its logical
 * connections and closes {@code idleCloseMs} after the last one closed, unless a new one opened meanwhile: rotating a
 * password, or connecting with other properties, leaves nothing behind. Runtimes are keyed by a salted digest of the
 * password, never by a password itself.
 */
public final class Runtimes {
    private static final byte[] SALT = new SecureRandom().generateSeed(16);

    /** A runtime and its connections. */
    private static final class Entry {
        final String key;
        final ClusterRuntime runtime;
        int connections;
        ScheduledFuture<?> closing;

        Entry(String key, ClusterRuntime runtime) {
            this.key = key;
            this.runtime = runtime;
        }
    }

    private final Map<String, Entry> byKey = new HashMap<>();
    private final Map<ClusterRuntime, Entry> byRuntime = new HashMap<>();
    /** Runtimes being opened, by key: other connects for the same key wait for them. */
    private final Map<String, CompletableFuture<ClusterRuntime>> pending = new HashMap<>();

    private final ScheduledExecutorService closer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "shardline-runtime-closer");
        t.setDaemon(true);
        return t;
    });

    /**
     * The runtime for {@code url} and {@code props}, opened if none is, counted as used by one more connection. A
     * runtime being opened (ZooKeeper may take up to {@code connectTimeoutMs}) holds up only the connects that need
     * that same runtime.
     *
     * @throws SQLException as {@link ClusterRuntime#open}
     */
    public ClusterRuntime acquire(ShardlineUrl url, Properties props) throws SQLException {
        String key = key(url, props);
        while (true) {
            CompletableFuture<ClusterRuntime> opening;
            boolean opener = false;
            synchronized (this) {
                Entry e = byKey.get(key);
                if (e != null) {
                    if (e.closing != null) {
                        e.closing.cancel(false);
                        e.closing = null;
                    }
                    e.connections++;
                    return e.runtime;
                }
                opening = pending.get(key);
                if (opening == null) {
                    opening = new CompletableFuture<>();
                    pending.put(key, opening);
                    opener = true;
                }
            }
            if (opener) {
                return open(key, url, props, opening);
            }
            try {
                opening.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SQLException("interrupted while the cluster runtime was being opened", "57014", e);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof SQLException sql) {
                    throw sql;
                }
                throw new SQLException("opening the cluster runtime failed: " + e.getCause(), e.getCause());
            }
        }
    }

    private ClusterRuntime open(
            String key, ShardlineUrl url, Properties props, CompletableFuture<ClusterRuntime> opening)
            throws SQLException {
        ClusterRuntime runtime;
        try {
            runtime = ClusterRuntime.open(url, props);
        } catch (SQLException | RuntimeException e) {
            synchronized (this) {
                pending.remove(key);
            }
            opening.completeExceptionally(e);
            throw e;
        }
        synchronized (this) {
            Entry e = new Entry(key, runtime);
            e.connections++;
            byKey.put(key, e);
            byRuntime.put(runtime, e);
            pending.remove(key);
        }
        opening.complete(runtime);
        return runtime;
    }

    /** One connection of {@code runtime} closed; the last one schedules its close after {@code idleCloseMs}. */
    public synchronized void release(ClusterRuntime runtime) {
        Entry e = byRuntime.get(runtime);
        if (e == null || --e.connections > 0) {
            return;
        }
        e.closing = closer.schedule(() -> closeIfIdle(e), runtime.settings().idleCloseMs(), TimeUnit.MILLISECONDS);
    }

    private void closeIfIdle(Entry e) {
        synchronized (this) {
            if (e.connections > 0 || byKey.get(e.key) != e) {
                return;
            }
            byKey.remove(e.key);
            byRuntime.remove(e.runtime);
        }
        e.runtime.close();
    }

    /** How many runtimes are open (for tests and metrics). */
    public synchronized int size() {
        return byKey.size();
    }

    /** Closes every runtime now; their open logical connections stop working. */
    public void closeAll() {
        Map<String, Entry> all;
        synchronized (this) {
            all = new HashMap<>(byKey);
            byKey.clear();
            byRuntime.clear();
        }
        all.values().forEach(e -> e.runtime.close());
    }

    /** The source and every property, each password (ours, {@code pg.sslpassword}...) as a salted digest. */
    static String key(ShardlineUrl url, Properties props) {
        Map<String, String> sorted = new TreeMap<>();
        for (String name : props.stringPropertyNames()) {
            String value = props.getProperty(name);
            sorted.put(name, name.toLowerCase(Locale.ROOT).contains("password") ? digest(value) : value);
        }
        return url.source() + "|" + sorted;
    }

    private static String digest(String secret) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(SALT);
            return HexFormat.of().formatHex(sha.digest(secret.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }
}
