package io.shardline.monitor;

import static org.awaitility.Awaitility.await;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Reads {@code SELECT inet_server_port()} in a loop on one logical connection until closed, recording which
 * node served each read and every error the application would have seen.
 */
final class ReadLoop implements AutoCloseable {
    record Read(long startedNanos, String node) {}

    private final Map<Integer, String> nodeByPort;
    private final ConcurrentLinkedQueue<Read> reads = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final Thread thread;

    ReadLoop(Map<Integer, String> nodeByPort, String url) throws Exception {
        this.nodeByPort = nodeByPort;
        Connection connection = DriverManager.getConnection(url);
        thread = new Thread(() -> loop(connection), "read-loop");
        thread.start();
    }

    private void loop(Connection connection) {
        try (connection;
                Statement s = connection.createStatement()) {
            while (running.get()) {
                long started = System.nanoTime();
                try (ResultSet rs = s.executeQuery("SELECT inet_server_port()")) {
                    rs.next();
                    reads.add(new Read(started, nodeByPort.get(rs.getInt(1))));
                } catch (Exception e) {
                    errors.add(e);
                }
                Thread.sleep(2);
            }
        } catch (Exception e) {
            errors.add(e);
        }
    }

    void awaitServedBy(String node, Duration timeout) {
        long since = System.nanoTime();
        await().atMost(timeout)
                .until(() ->
                        readsStartedAfter(since).stream().anyMatch(r -> r.node().equals(node)));
    }

    List<Read> readsStartedAfter(long nanos) {
        return reads.stream().filter(r -> r.startedNanos() - nanos > 0).toList();
    }

    List<Throwable> errors() {
        return List.copyOf(errors);
    }

    @Override
    public void close() throws InterruptedException {
        running.set(false);
        thread.join(10_000);
    }
}
