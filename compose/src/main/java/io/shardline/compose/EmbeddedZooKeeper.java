package io.shardline.compose;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.zookeeper.server.ServerCnxnFactory;
import org.apache.zookeeper.server.ZooKeeperServer;

/** A real, single-node ZooKeeper server running inside this JVM on a loopback port. */
final class EmbeddedZooKeeper implements AutoCloseable {
    private static final int TICK_MS = 500;
    private static final int MAX_CLIENT_CONNECTIONS = 200;

    private final ServerCnxnFactory factory;
    private final ZooKeeperServer server;
    private final int port;

    private EmbeddedZooKeeper(ServerCnxnFactory factory, ZooKeeperServer server, int port) {
        this.factory = factory;
        this.server = server;
        this.port = port;
    }

    /**
     * Starts a server keeping its data under {@code dir}, listening on {@code 127.0.0.1:port}.
     *
     * @throws LocalClusterException when it cannot start
     */
    static EmbeddedZooKeeper start(Path dir, int port) {
        try {
            Path snapshots = Files.createDirectories(dir.resolve("data"));
            Path log = Files.createDirectories(dir.resolve("log"));
            ZooKeeperServer server = new ZooKeeperServer(snapshots.toFile(), log.toFile(), TICK_MS);
            ServerCnxnFactory factory =
                    ServerCnxnFactory.createFactory(new InetSocketAddress("127.0.0.1", port), MAX_CLIENT_CONNECTIONS);
            factory.startup(server);
            return new EmbeddedZooKeeper(factory, server, port);
        } catch (IOException e) {
            throw new LocalClusterException(
                    "could not start ZooKeeper on 127.0.0.1:" + port + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LocalClusterException("interrupted while starting ZooKeeper", e);
        }
    }

    /** Starts a server again on this one's directory and port, with the data it had (after {@link #close()}). */
    EmbeddedZooKeeper restart(Path dir) {
        return start(dir, port);
    }

    /** {@code 127.0.0.1:port}, for ZooKeeper and Curator clients. */
    String connectString() {
        return "127.0.0.1:" + port;
    }

    @Override
    public void close() {
        factory.shutdown();
        server.shutdown(true);
    }
}
