package io.shardline.compose;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Creates and starts the PostgreSQL servers of one shard in a cluster directory: a primary (with the
 * cluster's database), hubs streaming from it and leaves spread over the hubs. Used when a cluster starts
 * and when a shard is added to a running one.
 */
final class ShardStarter {
    private final Path dir;
    private final String database;
    private final PgBinaries binaries;
    private final ServerUser serverUser;
    private final Map<String, String> settings;
    private final Map<String, Map<String, String>> nodeSettings;
    private final Set<Integer> takenPorts;
    private final List<String> hbaFirst;

    ShardStarter(
            Path dir,
            String database,
            PgBinaries binaries,
            ServerUser serverUser,
            Map<String, String> settings,
            Map<String, Map<String, String>> nodeSettings,
            Set<Integer> takenPorts,
            List<String> hbaFirst) {
        this.hbaFirst = List.copyOf(hbaFirst);
        this.dir = dir;
        this.database = database;
        this.binaries = binaries;
        this.serverUser = serverUser;
        this.settings = settings;
        this.nodeSettings = nodeSettings;
        this.takenPorts = takenPorts;
    }

    /**
     * Starts shard {@code shard}; every node started is added to {@code started} as soon as it exists, so a
     * caller can stop them when a later one fails. Returns when every server accepts connections (the
     * standbys may still be catching up: see {@link PgNode#awaitStreaming}).
     */
    void start(int shard, int hubs, int leaves, List<PgNode> started) {
        PgNode primary = node("s" + shard + "-primary", shard, NodeRole.PRIMARY, null, started);
        primary.initPrimary(settings, hbaFirst);
        primary.start();
        primary.execute("CREATE DATABASE \"" + database.replace("\"", "\"\"") + "\"");
        List<PgNode> hubNodes = new ArrayList<>();
        for (int i = 1; i <= hubs; i++) {
            PgNode hub = node("s" + shard + "-hub" + i, shard, NodeRole.HUB, primary, started);
            hub.initStandby();
            hub.start();
            hubNodes.add(hub);
        }
        for (int j = 1; j <= leaves; j++) {
            PgNode leaf = node(
                    "s" + shard + "-leaf" + j, shard, NodeRole.LEAF, hubNodes.get((j - 1) % hubNodes.size()), started);
            leaf.initStandby();
            leaf.start();
        }
    }

    /**
     * Starts shard {@code shard} and waits until its standbys stream; when anything fails, the shard's servers
     * that started are stopped again before the exception propagates.
     *
     * @return the shard's nodes, primary first
     */
    List<PgNode> startStreaming(int shard, int hubs, int leaves, Duration timeout) {
        List<PgNode> added = new ArrayList<>();
        try {
            start(shard, hubs, leaves, added);
            for (PgNode node : added) {
                if (node.role() != NodeRole.PRIMARY) {
                    node.awaitStreaming(timeout);
                }
            }
        } catch (RuntimeException e) {
            for (int i = added.size() - 1; i >= 0; i--) {
                try {
                    added.get(i).stop();
                } catch (RuntimeException stopFailure) {
                    e.addSuppressed(stopFailure);
                }
            }
            throw e;
        }
        return List.copyOf(added);
    }

    private PgNode node(String nodeName, int shard, NodeRole role, PgNode upstream, List<PgNode> started) {
        PgNode node = new PgNode(
                nodeName,
                shard,
                role,
                upstream,
                freePort(),
                dir.resolve("nodes").resolve(nodeName),
                dir.resolve("logs").resolve(nodeName + ".log"),
                database,
                binaries,
                serverUser,
                nodeSettings.getOrDefault(nodeName, Map.of()));
        started.add(node);
        return node;
    }

    private int freePort() {
        for (int attempt = 0; attempt < 100; attempt++) {
            try (ServerSocket socket = new ServerSocket(0)) {
                socket.setReuseAddress(true);
                int port = socket.getLocalPort();
                if (takenPorts.add(port)) {
                    return port;
                }
            } catch (IOException e) {
                throw new UncheckedIOException("could not find a free TCP port", e);
            }
        }
        throw new LocalClusterException("could not find a free TCP port after 100 attempts");
    }

    /** The port of a new server that is not one of the cluster's. */
    int reservePort() {
        return freePort();
    }
}
