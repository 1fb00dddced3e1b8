package io.shardline.console;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.stereotype.Component;
import org.springframework.web.servlet.mvc.method.annotation.SseEmitter;

/**
 * Pushes the live state to every open page once a second (Server-Sent Events): each replica's lag, the active
 * move's progress, the ring and topology versions, the routers. A browser reconnects by itself when the stream
 * ends (every {@link #STREAM_MS}, or on a network error). Each page is written to apart from the others: one that
 * stops reading (a laptop put to sleep) misses ticks while its write is blocked and is dropped after {@link
 * #STALLED_MS}; the other pages go on.
 */
@Component
final class LiveEvents implements DisposableBean {
    static final long STREAM_MS = 10 * 60_000;
    /** A page whose write has been blocked this long is dropped. */
    static final long STALLED_MS = 30_000;

    private static final Logger LOG = LoggerFactory.getLogger(LiveEvents.class);

    /** One second of the cluster. */
    record Tick(
            long atMillis,
            long topologyVersion,
            long ringVersion,
            int routers,
            Views.ServiceView monitor,
            List<Views.ReplicaLag> lag,
            List<Views.ShardView> shards,
            Views.MoveView move) {}

    private final Supplier<Tick> source;
    private final long stalledMs;
    private final List<Page> pages = new CopyOnWriteArrayList<>();
    private final ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "shardline-console-events");
        t.setDaemon(true);
        return t;
    });
    /** Writes the ticks: at most one write in flight per page, so its threads are at most the pages. */
    private final ExecutorService senders = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "shardline-console-events-send");
        t.setDaemon(true);
        return t;
    });

    /** An open page's stream and whether a write to it is in flight (since when). */
    private static final class Page {
        final SseEmitter emitter;
        final AtomicBoolean writing = new AtomicBoolean();
        volatile long writingSince;

        Page(SseEmitter emitter) {
            this.emitter = emitter;
        }
    }

    @Autowired
    LiveEvents(ClusterView cluster) {
        this(() -> tick(cluster), STALLED_MS);
    }

    /** Ticks from {@code source} each second; a page blocked {@code stalledMs} is dropped. */
    LiveEvents(Supplier<Tick> source, long stalledMs) {
        this.source = source;
        this.stalledMs = stalledMs;
        ticker.scheduleAtFixedRate(this::tick, 1, 1, TimeUnit.SECONDS);
    }

    SseEmitter subscribe() {
        return subscribe(new SseEmitter(STREAM_MS));
    }

    /** Sends the ticks to {@code emitter} until it ends. */
    SseEmitter subscribe(SseEmitter emitter) {
        Page page = new Page(emitter);
        emitter.onCompletion(() -> pages.remove(page));
        emitter.onTimeout(emitter::complete);
        emitter.onError(e -> pages.remove(page));
        pages.add(page);
        return emitter;
    }

    private void tick() {
        if (pages.isEmpty()) {
            return;
        }
        Tick tick;
        try {
            tick = source.get();
        } catch (RuntimeException e) {
            LOG.warn("live update skipped: {}", e.toString());
            return;
        }
        long now = System.currentTimeMillis();
        for (Page page : pages) {
            if (!page.writing.compareAndSet(false, true)) {
                if (now - page.writingSince > stalledMs) {
                    LOG.info("a live page has not read its updates for {} ms: dropped", stalledMs);
                    pages.remove(page);
                    // on a sender: ending the stream waits for the blocked write (the emitter's lock)
                    senders.execute(() -> page.emitter.completeWithError(new IOException("the page stopped reading")));
                }
                continue; // its last tick is still being written: this one is skipped for it
            }
            page.writingSince = now;
            senders.execute(() -> send(page, tick));
        }
    }

    private static Tick tick(ClusterView cluster) {
        Views.Topology t = cluster.topology();
        return new Tick(
                System.currentTimeMillis(),
                t.topologyVersion(),
                t.ringVersion(),
                t.routers().size(),
                t.monitor(),
                ClusterView.replicaLag(t),
                t.shards(),
                t.activeMove());
    }

    private void send(Page page, Tick tick) {
        try {
            page.emitter.send(SseEmitter.event().name("tick").data(tick));
        } catch (IOException | IllegalStateException e) {
            pages.remove(page);
        } finally {
            page.writing.set(false);
        }
    }

    @Override
    public void destroy() {
        ticker.shutdownNow();
        senders.shutdownNow();
        for (Page page : pages) {
            try {
                page.emitter.complete();
            } catch (IllegalStateException e) {
                // the stream's response is gone already (the server stopped first)
            }
        }
    }
}
