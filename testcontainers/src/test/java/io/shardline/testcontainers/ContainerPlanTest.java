package io.shardline.testcontainers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.shardline.testcontainers.ContainerPlan.NodeSpec;
import io.shardline.topology.NodeRole;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.Network;

/**
 * The container definitions, checked without a Docker engine: the shape's nodes and cascade, the commands,
 * environments, network aliases and ports, and that they match {@code compose/docker-compose.yml} and its scripts.
 */
class ContainerPlanTest {
    private static final Path COMPOSE = Path.of("..", "compose");

    @Test
    void theImagesAreComposes() throws Exception {
        // (a container's image name is resolved through Docker: read the plan's, compared with the compose file)
        String compose = Files.readString(COMPOSE.resolve("docker-compose.yml"));
        assertThat(compose)
                .contains("image: " + ContainerPlan.POSTGRES_IMAGE)
                .contains("image: " + ContainerPlan.ZOOKEEPER_IMAGE);
    }

    @Test
    void theShapesNodesCascadeLikeLocalCluster() {
        assertThat(ContainerPlan.nodes(2, 1, 1))
                .containsExactly(
                        new NodeSpec("s0-primary", 0, NodeRole.PRIMARY, null),
                        new NodeSpec("s1-primary", 1, NodeRole.PRIMARY, null),
                        new NodeSpec("s0-hub1", 0, NodeRole.HUB, "s0-primary"),
                        new NodeSpec("s1-hub1", 1, NodeRole.HUB, "s1-primary"),
                        new NodeSpec("s0-leaf1", 0, NodeRole.LEAF, "s0-hub1"),
                        new NodeSpec("s1-leaf1", 1, NodeRole.LEAF, "s1-hub1"));
        assertThat(ContainerPlan.nodes(1, 2, 3))
                .filteredOn(n -> n.role() == NodeRole.LEAF)
                .extracting(NodeSpec::upstream)
                .containsExactly("s0-hub1", "s0-hub2", "s0-hub1");
    }

    @Test
    void shapesThatCannotBeBuiltAreRefusedWithTheReason() {
        assertThatThrownBy(() -> ContainerPlan.nodes(0, 1, 1)).hasMessage("shards must be at least 1, not 0");
        assertThatThrownBy(() -> ContainerPlan.nodes(1, 0, 2))
                .hasMessage("leaves stream from hubs: leaves = 2 needs hubs >= 1");
        assertThatThrownBy(() -> ContainerPlan.nodes(1, -1, 0)).hasMessage("hubs and leaves cannot be negative");
    }

    @Test
    void containersRunTheServerWithTheClustersSettingsAndTheirRolesEnvironment() {
        try (Network network = Network.newNetwork()) {
            GenericContainer<?> primary =
                    ShardlineContainers.container(new NodeSpec("s0-primary", 0, NodeRole.PRIMARY, null), network);
            assertThat(primary.getCommandParts())
                    .containsExactly(
                            "postgres",
                            "-c",
                            "wal_level=logical",
                            "-c",
                            "max_wal_senders=16",
                            "-c",
                            "max_replication_slots=16",
                            "-c",
                            "max_prepared_transactions=64",
                            "-c",
                            "hot_standby=on",
                            "-c",
                            "hot_standby_feedback=on",
                            "-c",
                            "wal_receiver_status_interval=1s");
            assertThat(primary.getEnvMap())
                    .containsEntry("POSTGRES_HOST_AUTH_METHOD", "trust")
                    .containsEntry("POSTGRES_DB", "shardline");
            assertThat(primary.getNetworkAliases()).contains("s0-primary");
            assertThat(primary.getExposedPorts()).containsExactly(5432);

            GenericContainer<?> leaf =
                    ShardlineContainers.container(new NodeSpec("s0-leaf1", 0, NodeRole.LEAF, "s0-hub1"), network);
            assertThat(leaf.getEnvMap())
                    .containsEntry("UPSTREAM_HOST", "s0-hub1")
                    .containsEntry("NODE_NAME", "s0-leaf1");
            assertThat(leaf.getCreateContainerCmdModifiers()).isNotEmpty();
            GenericContainer<?> zk = ShardlineContainers.zooKeeper(network);
            assertThat(zk.getExposedPorts()).containsExactly(2181);
        }
        assertThat(new NodeSpec("s0-hub1", 0, NodeRole.HUB, "s0-primary").files())
                .containsExactly(Map.entry("/standby-entrypoint.sh", "standby-entrypoint.sh"));
        assertThat(new NodeSpec("s0-primary", 0, NodeRole.PRIMARY, null).files())
                .containsExactly(Map.entry("/docker-entrypoint-initdb.d/10-replication.sh", "primary-init.sh"));
    }

    @Test
    void theWaitStrategiesMatchWhatTheServersSay() {
        // the postgres image's log line (twice on a first start: its init server, then the real one)
        String ready = "2026-12-01 10:00:00.000 UTC [1] LOG:  database system is ready to accept connections\n";
        assertThat(ready).matches(ContainerPlan.PRIMARY_READY_LOG);
        assertThat("2026-12-01 10:00:00.000 UTC [1] LOG:  database system is shut down\n")
                .doesNotMatch(ContainerPlan.PRIMARY_READY_LOG);
        // a standby is ready once its WAL receiver streams: the compose file's own healthcheck
        assertThat(ContainerPlan.STANDBY_READY_COMMAND).contains("pg_stat_wal_receiver", "grep -q streaming");
        assertThat(ContainerPlan.STANDBY_READY_COMMAND).isSubstringOf(compose());
    }

    private static String compose() {
        try {
            return Files.readString(COMPOSE.resolve("docker-compose.yml"));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void theScriptsAreComposesOwn() throws Exception {
        for (String script : List.of("standby-entrypoint.sh", "primary-init.sh")) {
            assertThat(ShardlineContainers.script(script))
                    .as(script)
                    .isEqualTo(Files.readAllBytes(COMPOSE.resolve("docker").resolve(script)));
        }
    }

    @Test
    void theSettingsAndTheCascadeAreComposesOwn() throws Exception {
        String compose = Files.readString(COMPOSE.resolve("docker-compose.yml"));
        String block = compose.substring(
                compose.indexOf("x-postgres-settings:"),
                compose.indexOf("\n\n", compose.indexOf("x-postgres-settings:")));
        List<String> settings = new ArrayList<>();
        Matcher setting = Pattern.compile("- -c\\n\\s+- (\\S+)").matcher(block);
        while (setting.find()) {
            settings.add(setting.group(1));
        }
        assertThat(settings).isEqualTo(ContainerPlan.POSTGRES_SETTINGS);

        Map<String, String> upstreams = new LinkedHashMap<>();
        Matcher standby = Pattern.compile("UPSTREAM_HOST: ([\\w-]+), NODE_NAME: ([\\w-]+)")
                .matcher(compose);
        while (standby.find()) {
            upstreams.put(standby.group(2), standby.group(1));
        }
        Map<String, String> planned = new LinkedHashMap<>();
        ContainerPlan.nodes(2, 1, 1).stream()
                .filter(n -> n.upstream() != null)
                .forEach(n -> planned.put(n.name(), n.upstream()));
        assertThat(upstreams).isEqualTo(planned);
    }
}
