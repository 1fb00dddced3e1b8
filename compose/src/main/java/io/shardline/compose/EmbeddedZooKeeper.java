package io.shardline.compose;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.zookeeper.server.NettyServerCnxnFactory;
import org.apache.zookeeper.server.ServerCnxnFactory;
import org.apache.zookeeper.server.ZooKeeperServer;

/** A real, single-node ZooKeeper server running inside this JVM on a loopback port. */
final class EmbeddedZooKeeper implements AutoCloseable {
    private static final int TICK_MS = 500;
    private static final int MAX_CLIENT_CONNECTIONS = 200;

    private final ServerCnxnFactory factory;
    private final ZooKeeperServer server;
    private final int port;
    private final Path tlsKeyStore;

    private EmbeddedZooKeeper(ServerCnxnFactory factory, ZooKeeperServer server, int port, Path tlsKeyStore) {
        this.factory = factory;
        this.server = server;
        this.port = port;
        this.tlsKeyStore = tlsKeyStore;
    }

    /**
     * Starts a server keeping its data under {@code dir}, listening on {@code 127.0.0.1:port}: TLS only when
     * {@code tlsKeyStore} (a PEM file holding the server's key and certificate) is given, else plain.
     *
     * @throws LocalClusterException when it cannot start
     */
    static EmbeddedZooKeeper start(Path dir, int port, Path tlsKeyStore) {
        try {
            Path snapshots = Files.createDirectories(dir.resolve("data"));
            Path log = Files.createDirectories(dir.resolve("log"));
            ZooKeeperServer server = new ZooKeeperServer(snapshots.toFile(), log.toFile(), TICK_MS);
            InetSocketAddress address = new InetSocketAddress("127.0.0.1", port);
            ServerCnxnFactory factory;
            if (tlsKeyStore == null) {
                factory = ServerCnxnFactory.createFactory(address, MAX_CLIENT_CONNECTIONS);
            } else {
                factory = tlsFactory(address, tlsKeyStore);
            }
            factory.startup(server);
            return new EmbeddedZooKeeper(factory, server, port, tlsKeyStore);
        } catch (IOException e) {
            throw new LocalClusterException(
                    "could not start ZooKeeper on 127.0.0.1:" + port + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LocalClusterException("interrupted while starting ZooKeeper", e);
        }
    }

    /**
     * ZooKeeper's Netty transport with TLS on {@code address}. The server reads its TLS settings from system
     * properties only ({@code zookeeper.ssl.*}): they are set for this JVM; clients do not use them unless told
     * to be secure. No client certificate is asked for (clients authenticate by digest).
     */
    private static ServerCnxnFactory tlsFactory(InetSocketAddress address, Path keyStore) throws IOException {
        System.setProperty("zookeeper.ssl.keyStore.location", keyStore.toString());
        System.setProperty("zookeeper.ssl.keyStore.type", "PEM");
        System.setProperty("zookeeper.ssl.clientAuth", "none");
        String factoryProperty = ServerCnxnFactory.ZOOKEEPER_SERVER_CNXN_FACTORY;
        String before = System.getProperty(factoryProperty);
        System.setProperty(factoryProperty, NettyServerCnxnFactory.class.getName());
        try {
            ServerCnxnFactory factory = ServerCnxnFactory.createFactory();
            factory.configure(address, MAX_CLIENT_CONNECTIONS, -1, true);
            return factory;
        } finally {
            if (before == null) {
                System.clearProperty(factoryProperty);
            } else {
                System.setProperty(factoryProperty, before);
            }
        }
    }

    /** Starts a server again on this one's directory and port, with the data it had (after {@link #close()}). */
    EmbeddedZooKeeper restart(Path dir) {
        return start(dir, port, tlsKeyStore);
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
