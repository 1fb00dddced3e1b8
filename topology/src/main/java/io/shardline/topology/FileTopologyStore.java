package io.shardline.topology;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * A static topology from a YAML file, for running without ZooKeeper. The file holds the topology's fields
 * and, optionally, a ring (default: an even ring over the shards):
 *
 * <pre>{@code
 * cluster: orders
 * database: shop
 * user: app
 * shards:
 *   - id: 0
 *     nodes:
 *       - {name: s0-primary, role: primary, host: db0.internal, port: 5432}
 *       - {name: s0-hub1, role: hub, host: db0-r1.internal, port: 5432, upstream: s0-primary}
 *   - id: 1
 *     nodes:
 *       - {name: s1-primary, role: primary, host: db1.internal, port: 5432}
 * tables:
 *   - {schema: public, table: orders, keyColumn: customer_id, keyType: integer}
 * }</pre>
 *
 * <p>The file is read once; shard moves need ZooKeeper.
 */
public final class FileTopologyStore implements TopologyStore {
    private final Path file;
    private final TopologySnapshot snapshot;

    private FileTopologyStore(Path file, TopologySnapshot snapshot) {
        this.file = file;
        this.snapshot = snapshot;
    }

    /**
     * Reads {@code file}.
     *
     * @throws TopologyException naming the file and the problem
     */
    public static FileTopologyStore open(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new TopologyException("cannot read cluster file " + file + ": " + e, e);
        }
        return new FileTopologyStore(file, TopologyCodec.snapshotFromYaml(bytes, "cluster file " + file));
    }

    @Override
    public TopologySnapshot snapshot() {
        return snapshot;
    }

    @Override
    public void addListener(Consumer<TopologySnapshot> listener) {
        // A file topology never changes while open.
    }

    @Override
    public String source() {
        return "file:" + file;
    }

    @Override
    public void close() {}
}
