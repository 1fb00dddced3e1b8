package io.shardline.testcontainers;

import io.shardline.test.ClusterServices;
import io.shardline.test.UrlDataSource;
import io.shardline.topology.KeyType;
import io.shardline.topology.Node;
import io.shardline.topology.Shard;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import javax.sql.DataSource;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.Network;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.images.builder.Transferable;
import org.testcontainers.utility.DockerImageName;

/**
 * The test cluster of {@code @ShardlineCluster}, from containers, for CI with a Docker engine: per shard a primary,
 * hubs and leaves (cascading streaming replication set up by the containers themselves, as in
 * {@code compose/docker-compose.yml}), ZooKeeper, the topology published with the nodes' mapped ports, and a
 * replication monitor in this JVM. The same operations as {@code ShardlineTestCluster}: {@link #url()},
 * {@link #dataSource()}, {@link #shardTable}, {@link #referenceTable}; nodes by {@link #container(String)}, with
 * {@link #pauseReplay(String)} and {@link #resumeReplay(String)}.
 *
 * <p>Not exercised in this project's CI (its machines have no Docker engine): {@code ContainerPlanTest} checks the
 * container definitions without Docker.
 */
public final class ShardlineContainers implements AutoCloseable {
    private static final Duration START_TIMEOUT = Duration.ofMinutes(2);

    private final String name;
    private final Network network;
    private final GenericContainer<?> zooKeeper;
    private final Map<String, GenericContainer<?>> nodes;
    private ClusterServices services;

    private ShardlineContainers(
            String name, Network network, GenericContainer<?> zooKeeper, Map<String, GenericContainer<?>> nodes) {
        this.name = name;
        this.network = network;
        this.zooKeeper = zooKeeper;
        this.nodes = nodes;
    }

    /**
     * Starts cluster {@code name} of that shape: ZooKeeper, the primaries, hubs, leaves (each once its upstream
     * runs, and once it streams), then the topology and (with {@code monitor}) a replication monitor.
     */
    public static ShardlineContainers start(String name, int shards, int hubs, int leaves, boolean monitor) {
        List<ContainerPlan.NodeSpec> plan = ContainerPlan.nodes(shards, hubs, leaves);
        Network network = Network.newNetwork();
        Map<String, GenericContainer<?>> nodes = new LinkedHashMap<>();
        for (ContainerPlan.NodeSpec spec : plan) {
            nodes.put(spec.name(), container(spec, network));
        }
        ShardlineContainers cluster = new ShardlineContainers(name, network, zooKeeper(network), nodes);
        try {
            cluster.zooKeeper.start();
            nodes.values().forEach(GenericContainer::start);
            cluster.services = ClusterServices.start(
                    cluster.zooKeeper.getHost() + ":" + cluster.zooKeeper.getMappedPort(ContainerPlan.ZOOKEEPER_PORT),
                    name,
                    ContainerPlan.DATABASE,
                    cluster.shards(plan),
                    monitor);
            return cluster;
        } catch (RuntimeException | Error e) {
            cluster.close();
            throw e;
        }
    }

    /** A PostgreSQL container of {@code spec} (not started). */
    static GenericContainer<?> container(ContainerPlan.NodeSpec spec, Network network) {
        GenericContainer<?> c = new GenericContainer<>(DockerImageName.parse(ContainerPlan.POSTGRES_IMAGE))
                .withNetwork(network)
                .withNetworkAliases(spec.name())
                .withExposedPorts(ContainerPlan.POSTGRES_PORT)
                .withEnv(spec.env())
                .withCommand(spec.command().toArray(String[]::new))
                .withStartupTimeout(START_TIMEOUT);
        spec.files().forEach((path, resource) -> c.withCopyToContainer(Transferable.of(script(resource), 0755), path));
        if (spec.upstream() == null) {
            c.waitingFor(Wait.forLogMessage(ContainerPlan.PRIMARY_READY_LOG, 2));
        } else {
            c.withCreateContainerCmdModifier(cmd -> cmd.withEntrypoint(ContainerPlan.STANDBY_ENTRYPOINT));
            c.waitingFor(Wait.forSuccessfulCommand(ContainerPlan.STANDBY_READY_COMMAND));
        }
        return c;
    }

    static GenericContainer<?> zooKeeper(Network network) {
        return new GenericContainer<>(DockerImageName.parse(ContainerPlan.ZOOKEEPER_IMAGE))
                .withNetwork(network)
                .withNetworkAliases("zookeeper")
                .withExposedPorts(ContainerPlan.ZOOKEEPER_PORT)
                .waitingFor(Wait.forListeningPort())
                .withStartupTimeout(START_TIMEOUT);
    }

    static byte[] script(String resource) {
        try (InputStream in = ShardlineContainers.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + resource);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The topology: every node at the host and mapped port this JVM reaches it by. */
    private List<Shard> shards(List<ContainerPlan.NodeSpec> plan) {
        Map<Integer, List<Node>> byShard = new LinkedHashMap<>();
        for (ContainerPlan.NodeSpec spec : plan) {
            GenericContainer<?> c = nodes.get(spec.name());
            byShard.computeIfAbsent(spec.shard(), s -> new ArrayList<>())
                    .add(new Node(
                            spec.name(),
                            spec.role(),
                            c.getHost(),
                            c.getMappedPort(ContainerPlan.POSTGRES_PORT),
                            spec.upstream()));
        }
        return byShard.entrySet().stream()
                .map(e -> new Shard(e.getKey(), e.getValue()))
                .collect(Collectors.toList());
    }

    /** {@code jdbc:shardline:zk://HOST:PORT/shardline/clusters/NAME}: the topology's user {@code postgres}, no password. */
    public String url() {
        return "jdbc:shardline:zk://" + zooKeeper.getHost() + ":"
                + zooKeeper.getMappedPort(ContainerPlan.ZOOKEEPER_PORT) + "/shardline/clusters/" + name
                + "?user=postgres";
    }

    /** {@link #url()} with more driver properties, e.g. {@code url("twoPhaseCommit=true")}. */
    public String url(String properties) {
        return properties == null || properties.isBlank() ? url() : url() + "?" + properties.replaceFirst("^[?&]", "");
    }

    public DataSource dataSource() {
        return new UrlDataSource(url());
    }

    public ShardlineContainers shardTable(String table, String keyColumn, KeyType keyType) {
        services.shardTable(table, keyColumn, keyType);
        return this;
    }

    public ShardlineContainers referenceTable(String table) {
        services.referenceTable(table);
        return this;
    }

    /** The container of node {@code node} ({@code s0-primary}, {@code s0-hub1}...): stop, restart, exec. */
    public GenericContainer<?> container(String node) {
        GenericContainer<?> c = nodes.get(node);
        if (c == null) {
            throw new IllegalArgumentException("no node " + node + "; there are " + nodes.keySet());
        }
        return c;
    }

    /** Pauses WAL replay on a replica (its lag then grows). */
    public void pauseReplay(String node) {
        psql(node, "SELECT pg_wal_replay_pause()");
    }

    public void resumeReplay(String node) {
        psql(node, "SELECT pg_wal_replay_resume()");
    }

    private void psql(String node, String sql) {
        try {
            var result =
                    container(node).execInContainer("psql", "-U", "postgres", "-d", ContainerPlan.DATABASE, "-c", sql);
            if (result.getExitCode() != 0) {
                throw new IllegalStateException(node + ": " + sql + ": " + result.getStderr());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    @Override
    public void close() {
        if (services != null) {
            services.close();
        }
        List<GenericContainer<?>> reversed = new ArrayList<>(nodes.values());
        java.util.Collections.reverse(reversed);
        reversed.forEach(GenericContainer::stop);
        zooKeeper.stop();
        network.close();
    }
}
