package io.shardline.console;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.stereotype.Component;
import org.springframework.web.servlet.mvc.method.annotation.SseEmitter;

/**
 * Pushes the live state to every open page once a second (Server-Sent Events): each replica's lag, the active
 * move's progress, the ring and topology versions, the routers. A browser reconnects by itself when the stream
 * ends (every {@link #STREAM_MS}, or on a network error).
 */
@Component
final class LiveEvents implements DisposableBean {
    static final long STREAM_MS = 10 * 60_000;
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

    private final ClusterView cluster;
    private final List<SseEmitter> emitters = new CopyOnWriteArrayList<>();
    private final ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "shardline-console-events");
        t.setDaemon(true);
        return t;
    });

    LiveEvents(ClusterView cluster) {
        this.cluster = cluster;
        ticker.scheduleAtFixedRate(this::tick, 1, 1, TimeUnit.SECONDS);
    }

    SseEmitter subscribe() {
        SseEmitter emitter = new SseEmitter(STREAM_MS);
        emitter.onCompletion(() -> emitters.remove(emitter));
        emitter.onTimeout(emitter::complete);
        emitter.onError(e -> emitters.remove(emitter));
        emitters.add(emitter);
        return emitter;
    }

    private void tick() {
        if (emitters.isEmpty()) {
            return;
        }
        Tick tick;
        try {
            Views.Topology t = cluster.topology();
            tick = new Tick(
                    System.currentTimeMillis(),
                    t.topologyVersion(),
                    t.ringVersion(),
                    t.routers().size(),
                    t.monitor(),
                    ClusterView.replicaLag(t),
                    t.shards(),
                    t.activeMove());
        } catch (RuntimeException e) {
            LOG.warn("live update skipped: {}", e.toString());
            return;
        }
        for (SseEmitter emitter : emitters) {
            try {
                emitter.send(SseEmitter.event().name("tick").data(tick));
            } catch (IOException | IllegalStateException e) {
                emitters.remove(emitter);
            }
        }
    }

    @Override
    public void destroy() {
        ticker.shutdownNow();
        for (SseEmitter emitter : emitters) {
            try {
                emitter.complete();
            } catch (IllegalStateException e) {
                // the stream's response is gone already (the server stopped first)
            }
        }
    }
}
