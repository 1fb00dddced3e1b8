package io.shardline.testcontainers;

import io.shardline.topology.NodeRole;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What each container of a cluster shape runs, as data: the same topology as {@code compose/docker-compose.yml} and
 * {@code LocalCluster} (per shard a primary, hubs streaming from it, leaves spread over the hubs), the same server
 * settings and the same scripts ({@code compose/docker/}). Checked without Docker by {@code ContainerPlanTest}.
 */
public final class ContainerPlan {
    public static final String POSTGRES_IMAGE = "postgres:15";
    public static final String ZOOKEEPER_IMAGE = "zookeeper:3.9";
    public static final String DATABASE = "shardline";
    public static final int POSTGRES_PORT = 5432;
    public static final int ZOOKEEPER_PORT = 2181;
    /** The servers' settings, as {@code x-postgres-settings} in {@code compose/docker-compose.yml}. */
    public static final List<String> POSTGRES_SETTINGS = List.of(
            "wal_level=logical",
            "max_wal_senders=16",
            "max_replication_slots=16",
            "max_prepared_transactions=64",
            "hot_standby=on",
            "hot_standby_feedback=on",
            "wal_receiver_status_interval=1s");
    /** Where the primary's init script and the standbys' entrypoint go in their containers. */
    public static final String PRIMARY_INIT = "/docker-entrypoint-initdb.d/10-replication.sh";

    public static final String STANDBY_ENTRYPOINT = "/standby-entrypoint.sh";

    /** The postgres image logs this twice on a first start (its init server, then the real one). */
    public static final String PRIMARY_READY_LOG = ".*database system is ready to accept connections.*\\s";
    /** Succeeds once a standby streams WAL from its upstream (the compose file's healthcheck). */
    public static final String STANDBY_READY_COMMAND =
            "psql -U postgres -d shardline -tAc 'SELECT status FROM pg_stat_wal_receiver' | grep -q streaming";

    private ContainerPlan() {}

    /**
     * One PostgreSQL container: its node name (also its network alias), shard, role and the alias of the node it
     * streams from (null for a primary).
     */
    public record NodeSpec(String name, int shard, NodeRole role, String upstream) {
        /** The container's command: the server with the cluster's settings. */
        public List<String> command() {
            List<String> command = new ArrayList<>(List.of("postgres"));
            for (String setting : POSTGRES_SETTINGS) {
                command.add("-c");
                command.add(setting);
            }
            return command;
        }

        /** The container's environment: the image's own for a primary, the standby entrypoint's for the others. */
        public Map<String, String> env() {
            Map<String, String> env = new LinkedHashMap<>();
            if (role == NodeRole.PRIMARY) {
                env.put("POSTGRES_HOST_AUTH_METHOD", "trust");
                env.put("POSTGRES_DB", DATABASE);
            } else {
                env.put("UPSTREAM_HOST", upstream);
                env.put("NODE_NAME", name);
            }
            return env;
        }

        /** Files copied in before the start: container path to the script in this module's resources. */
        public Map<String, String> files() {
            return role == NodeRole.PRIMARY
                    ? Map.of(PRIMARY_INIT, "primary-init.sh")
                    : Map.of(STANDBY_ENTRYPOINT, "standby-entrypoint.sh");
        }
    }

    /**
     * The nodes of a shape, in start order (primaries, then hubs, then leaves: each after its upstream).
     *
     * @throws IllegalArgumentException for a shape that cannot be built, naming why
     */
    public static List<NodeSpec> nodes(int shards, int hubs, int leaves) {
        if (shards < 1) {
            throw new IllegalArgumentException("shards must be at least 1, not " + shards);
        }
        if (hubs < 0 || leaves < 0) {
            throw new IllegalArgumentException("hubs and leaves cannot be negative");
        }
        if (leaves > 0 && hubs == 0) {
            throw new IllegalArgumentException("leaves stream from hubs: leaves = " + leaves + " needs hubs >= 1");
        }
        List<NodeSpec> primaries = new ArrayList<>();
        List<NodeSpec> hubNodes = new ArrayList<>();
        List<NodeSpec> leafNodes = new ArrayList<>();
        for (int s = 0; s < shards; s++) {
            String primary = "s" + s + "-primary";
            primaries.add(new NodeSpec(primary, s, NodeRole.PRIMARY, null));
            for (int h = 1; h <= hubs; h++) {
                hubNodes.add(new NodeSpec("s" + s + "-hub" + h, s, NodeRole.HUB, primary));
            }
            for (int l = 1; l <= leaves; l++) {
                // spread over the hubs as LocalCluster does
                leafNodes.add(
                        new NodeSpec("s" + s + "-leaf" + l, s, NodeRole.LEAF, "s" + s + "-hub" + ((l - 1) % hubs + 1)));
            }
        }
        List<NodeSpec> all = new ArrayList<>(primaries);
        all.addAll(hubNodes);
        all.addAll(leafNodes);
        return all;
    }
}
