package io.shardline.rebalancer;

import io.shardline.topology.Node;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * One connection to each primary a cutover works on, opened before the routers hold writes: a connection
 * opened inside the barrier (a TCP and TLS handshake, the login, in a fresh JVM hundreds of milliseconds) would
 * add its setup to the write pause, and on a slow host use up the barrier's whole time so that every cutover
 * fails.
 */
final class CutoverConnections implements AutoCloseable {
    /** How long opening a connection may take: none of it holds writes. */
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);

    private final MoveEstimate.Connector connector;
    private final Map<Node, Connection> open = new LinkedHashMap<>();

    CutoverConnections(MoveEstimate.Connector connector) {
        this.connector = connector;
    }

    /**
     * Opens a connection to {@code node} unless one is open, giving up at {@code deadline} ({@link System#nanoTime}):
     * pgjdbc counts its connect and login timeouts in whole seconds, so it may take up to a second past it.
     */
    void open(Node node, long deadline) throws SQLException {
        if (open.containsKey(node)) {
            return;
        }
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            throw new SQLException("no time was left to connect to " + node.name(), "08001");
        }
        open.put(node, connector.connect(node, Duration.ofNanos(left)));
    }

    /**
     * The connection to {@code node}, whose every read now gives up after {@code timeout} (a hung node must not
     * hold the fenced writes longer than the barrier allows).
     */
    Connection to(Node node, Duration timeout) throws SQLException {
        open(node, System.nanoTime() + timeout.toNanos());
        Connection c = open.get(node);
        c.setNetworkTimeout(Runnable::run, (int) Math.max(1, timeout.toMillis()));
        return c;
    }

    /**
     * Closes the connections to nodes not in {@code nodes}, and those that no longer answer (a server restarted, an
     * idle session dropped): {@link #open} opens them again.
     */
    void keepOnly(Set<Node> nodes) {
        for (Iterator<Map.Entry<Node, Connection>> it = open.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Node, Connection> e = it.next();
            boolean keep;
            try {
                keep = nodes.contains(e.getKey()) && e.getValue().isValid(1);
            } catch (SQLException ex) {
                keep = false;
            }
            if (!keep) {
                closeQuietly(e.getValue());
                it.remove();
            }
        }
    }

    @Override
    public void close() {
        for (Connection c : open.values()) {
            closeQuietly(c);
        }
        open.clear();
    }

    private static void closeQuietly(Connection c) {
        try {
            c.close();
        } catch (SQLException e) {
            // closing a connection that failed: nothing is left to release
        }
    }
}
