package io.shardline.compose;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;

/**
 * The contract a running local cluster publishes as {@code DIR/cluster.json}: scripts, tests and the other
 * {@code shardline} subcommands read it to find ZooKeeper and the nodes.
 *
 * <pre>{@code
 * {"name": "demo", "zk": "127.0.0.1:41234", "database": "shardline", "user": "postgres", "password": null,
 *  "jdbcUrl": "jdbc:shardline:zk://127.0.0.1:41234/shardline/clusters/demo",
 *  "nodes": [{"name": "s0-primary", "shard": 0, "role": "primary", "host": "127.0.0.1", "port": 41300,
 *             "upstream": null}, ...]}
 * }</pre>
 *
 * @param password {@code null}: the local cluster trusts loopback connections
 */
@JsonPropertyOrder({"name", "zk", "database", "user", "password", "jdbcUrl", "nodes"})
public record ClusterDescriptor(
        String name, String zk, String database, String user, String password, String jdbcUrl, List<Node> nodes) {

    /** The file name inside a cluster directory. */
    public static final String FILE_NAME = "cluster.json";

    private static final JsonMapper JSON =
            JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

    public ClusterDescriptor {
        nodes = List.copyOf(nodes);
    }

    /**
     * One PostgreSQL node.
     *
     * @param role {@code primary}, {@code hub} or {@code leaf}
     * @param upstream the name of the node it streams from; {@code null} for a primary
     */
    @JsonPropertyOrder({"name", "shard", "role", "host", "port", "upstream"})
    public record Node(String name, int shard, String role, String host, int port, String upstream) {}

    /** This descriptor with another {@code jdbcUrl} (one carrying the cluster's ZooKeeper credentials). */
    public ClusterDescriptor withJdbcUrl(String url) {
        return new ClusterDescriptor(name, zk, database, user, password, url, nodes);
    }

    /**
     * Writes {@code DIR/cluster.json} atomically, so a reader never sees half a file, readable by its owner only
     * (its {@code jdbcUrl} may carry credentials).
     */
    public void write(Path dir) throws IOException {
        Path target = dir.resolve(FILE_NAME);
        Path tmp = dir.resolve(FILE_NAME + ".tmp");
        Files.deleteIfExists(tmp);
        OwnerOnly.create(tmp);
        Files.writeString(tmp, JSON.writeValueAsString(this) + "\n");
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * Reads {@code DIR/cluster.json}.
     *
     * @throws IOException naming the file when it is missing or not a cluster descriptor
     */
    public static ClusterDescriptor read(Path dir) throws IOException {
        Path file = dir.resolve(FILE_NAME);
        if (!Files.isRegularFile(file)) {
            throw new IOException("no " + FILE_NAME + " in " + dir + ": no local cluster is running from there");
        }
        try {
            return JSON.readValue(file.toFile(), ClusterDescriptor.class);
        } catch (JacksonException e) {
            throw new IOException(file + " is not a Shardline cluster descriptor: " + e.getOriginalMessage(), e);
        }
    }

    /** The nodes of one shard, primary first. */
    public List<Node> shard(int shard) {
        return nodes.stream().filter(n -> n.shard() == shard).toList();
    }
}
