package io.shardline.topology;

import java.util.List;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.exc.ValueInstantiationException;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * The stored forms of the topology and the ring: JSON in ZooKeeper, YAML in a cluster file.
 *
 * <pre>{@code
 * topology: {"cluster":"demo","version":3,"database":"shardline","user":"app","homeShard":0,
 *            "shards":[{"id":0,"nodes":[{"name":"s0-primary","role":"primary","host":"10.0.0.5","port":5432,
 *                                         "upstream":null}, ...]}],
 *            "tables":[{"schema":"public","table":"users","keyColumn":"user_id","keyType":"integer"}],
 *            "referenceTables":[{"schema":"public","table":"countries"}]}
 * ring:     {"version":1,"ranges":[{"start":-9223372036854775808,"shard":0}, ...]}
 * }</pre>
 */
public final class TopologyCodec {
    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .build();
    private static final YAMLMapper YAML = YAMLMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .build();

    private TopologyCodec() {}

    /** The ring's stored form. */
    record RingDocument(long version, List<RangeDocument> ranges) {}

    /** One range: from {@code start} (inclusive) to the next range's start. */
    record RangeDocument(long start, int shard) {}

    /** A cluster file: the topology's fields plus an optional ring (default: an even ring). */
    record FileDocument(
            String cluster,
            Long version,
            String database,
            String user,
            Integer homeShard,
            List<Shard> shards,
            List<ShardedTable> tables,
            List<ReferenceTable> referenceTables,
            List<DistributedFunction> functions,
            RingDocument ring) {}

    public static byte[] topologyToJson(ClusterTopology topology) {
        return JSON.writeValueAsBytes(topology);
    }

    /** @throws TopologyException naming {@code source} when the bytes are not a topology */
    public static ClusterTopology topologyFromJson(byte[] json, String source) {
        return read(JSON, json, ClusterTopology.class, source);
    }

    public static byte[] ringToJson(HashRing ring) {
        List<RangeDocument> ranges = ring.ranges().stream()
                .map(r -> new RangeDocument(r.start(), r.shard()))
                .toList();
        return JSON.writeValueAsBytes(new RingDocument(ring.version(), ranges));
    }

    /** @throws TopologyException naming {@code source} when the bytes are not a ring */
    public static HashRing ringFromJson(byte[] json, String source) {
        return toRing(read(JSON, json, RingDocument.class, source), source);
    }

    /**
     * Reads a cluster file (YAML).
     *
     * @throws TopologyException naming {@code source} and the problem
     */
    public static TopologySnapshot snapshotFromYaml(byte[] yaml, String source) {
        FileDocument doc = read(YAML, yaml, FileDocument.class, source);
        if (doc.cluster() == null
                || doc.database() == null
                || doc.shards() == null
                || doc.shards().isEmpty()) {
            throw new TopologyException(
                    source + ": 'cluster', 'database' and at least one entry in 'shards' are required");
        }
        try {
            ClusterTopology topology = new ClusterTopology(
                    doc.cluster(),
                    doc.version() == null ? 1 : doc.version(),
                    doc.database(),
                    doc.user(),
                    doc.homeShard() == null ? doc.shards().get(0).id() : doc.homeShard(),
                    doc.shards(),
                    doc.tables(),
                    doc.referenceTables(),
                    doc.functions());
            HashRing ring = doc.ring() == null
                    ? HashRing.even(topology.shardIds(), HashRing.DEFAULT_RANGES_PER_SHARD)
                    : toRing(doc.ring(), source);
            return new TopologySnapshot(topology, ring);
        } catch (IllegalArgumentException e) {
            throw new TopologyException(source + ": " + e.getMessage(), e);
        }
    }

    private static HashRing toRing(RingDocument doc, String source) {
        if (doc.ranges() == null || doc.ranges().isEmpty()) {
            throw new TopologyException(source + ": the ring has no ranges");
        }
        try {
            return HashRing.of(
                    doc.version(),
                    doc.ranges().stream().mapToLong(RangeDocument::start).toArray(),
                    doc.ranges().stream().mapToInt(RangeDocument::shard).toArray());
        } catch (IllegalArgumentException e) {
            throw new TopologyException(source + ": " + e.getMessage(), e);
        }
    }

    private static <T> T read(ObjectMapper mapper, byte[] bytes, Class<T> type, String source) {
        try {
            return mapper.readValue(bytes, type);
        } catch (ValueInstantiationException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new TopologyException(source + ": " + cause.getMessage(), e);
        } catch (JacksonException e) {
            throw new TopologyException(source + " is malformed: " + e.getOriginalMessage(), e);
        }
    }
}
