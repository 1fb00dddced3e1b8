package io.shardline.topology;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class TopologyCodecTest {
    static ClusterTopology twoShards() {
        return new ClusterTopology(
                "demo",
                1,
                "shardline",
                "app",
                0,
                List.of(
                        new Shard(
                                0,
                                List.of(
                                        new Node("s0-primary", NodeRole.PRIMARY, "127.0.0.1", 5432, null),
                                        new Node("s0-hub1", NodeRole.HUB, "127.0.0.1", 5433, "s0-primary"))),
                        new Shard(1, List.of(new Node("s1-primary", NodeRole.PRIMARY, "127.0.0.1", 5442, null)))),
                List.of(new ShardedTable("public", "users", "user_id", KeyType.INTEGER)));
    }

    @Test
    void topologyAndRingRoundTripThroughJson() {
        ClusterTopology topology = twoShards();
        byte[] json = TopologyCodec.topologyToJson(topology);
        assertThat(new String(json, StandardCharsets.UTF_8))
                .contains("\"role\":\"hub\"", "\"keyType\":\"integer\"")
                .doesNotContain("password");
        assertThat(TopologyCodec.topologyFromJson(json, "test")).isEqualTo(topology);

        HashRing ring = HashRing.even(List.of(0, 1), 4).withShardAdded(2);
        assertThat(TopologyCodec.ringFromJson(TopologyCodec.ringToJson(ring), "test"))
                .isEqualTo(ring);
    }

    @Test
    void referenceTablesRoundTripAndAreLeftOutWhenThereAreNone() {
        ClusterTopology plain = twoShards();
        assertThat(new String(TopologyCodec.topologyToJson(plain), StandardCharsets.UTF_8))
                .doesNotContain("referenceTables"); // routers of earlier versions still read it
        ClusterTopology withItems = plain.withReferenceTable(new ReferenceTable("public", "item"));
        assertThat(withItems.version()).isEqualTo(plain.version() + 1);
        assertThat(withItems.withReferenceTable(new ReferenceTable("public", "item")))
                .isSameAs(withItems);
        ClusterTopology read = TopologyCodec.topologyFromJson(TopologyCodec.topologyToJson(withItems), "test");
        assertThat(read).isEqualTo(withItems);
        assertThat(read.referenceTable(null, "item")).isPresent();
        assertThat(read.withShard(new Shard(
                                2, List.of(new Node("s2-primary", NodeRole.PRIMARY, "127.0.0.1", 5452, null))))
                        .referenceTables())
                .containsExactly(new ReferenceTable("public", "item"));
        assertThatThrownBy(() -> withItems.withReferenceTable(new ReferenceTable("public", "users")))
                .hasMessageContaining("public.users is sharded");
        assertThatThrownBy(() -> withItems.withTable(new ShardedTable("public", "item", "i_id", KeyType.INTEGER)))
                .hasMessageContaining("public.item is a reference table");
    }

    @Test
    void aClusterFileGetsAnEvenRingByDefault() {
        String yaml = """
                cluster: orders
                database: shop
                user: app
                shards:
                  - id: 0
                    nodes:
                      - {name: s0-primary, role: primary, host: db0, port: 5432}
                      - {name: s0-hub1, role: hub, host: db0r, port: 5432, upstream: s0-primary}
                  - id: 1
                    nodes:
                      - {name: s1-primary, role: primary, host: db1, port: 5432}
                tables:
                  - {schema: public, table: orders, keyColumn: customer_id, keyType: integer}
                """;
        TopologySnapshot snapshot = TopologyCodec.snapshotFromYaml(yaml.getBytes(StandardCharsets.UTF_8), "f.yaml");
        assertThat(snapshot.topology().shard(0).replicas())
                .extracting(Node::name)
                .containsExactly("s0-hub1");
        assertThat(snapshot.topology().homeShard()).isZero();
        assertThat(snapshot.ring().shards()).containsExactly(0, 1);
        assertThat(snapshot.topology().shardedTable(null, "orders")).isPresent();
    }

    @Test
    void hostsDatabasesAndUsersThatCouldAddToAUrlAreRefused() {
        String good = new String(TopologyCodec.topologyToJson(twoShards()), StandardCharsets.UTF_8);
        for (String[] bad : new String[][] {
            {"\"127.0.0.1\"", "\"evil.example/x?sslfactory=org.example.Trust&a=\"", "host of node s0-primary"},
            {"\"127.0.0.1\"", "\"h@x\"", "host of node s0-primary"},
            {"\"127.0.0.1\"", "\"::1\"", "IPv6 address in brackets"},
            {"\"shardline\"", "\"db?sslmode=disable\"", "database 'db?sslmode=disable'"},
            {"\"app\"", "\"app&password=x\"", "user 'app&password=x'"}
        }) {
            String json = good.replaceFirst(
                    java.util.regex.Pattern.quote(bad[0]), java.util.regex.Matcher.quoteReplacement(bad[1]));
            assertThat(json).isNotEqualTo(good);
            assertThatThrownBy(() -> TopologyCodec.topologyFromJson(json.getBytes(StandardCharsets.UTF_8), "zk:/t"))
                    .as(bad[1])
                    .isInstanceOf(TopologyException.class)
                    .hasMessageContaining(bad[2]);
        }
        assertThat(new Node("v6", NodeRole.PRIMARY, "[::1]", 5432, null).address())
                .isEqualTo("[::1]:5432");
        assertThat(new Node("n", NodeRole.PRIMARY, "db-1.eu.example.com", 5432, null).host())
                .isEqualTo("db-1.eu.example.com");
    }

    @Test
    void badDocumentsAreRefusedNamingTheProblem() {
        assertThatThrownBy(() -> TopologyCodec.snapshotFromYaml(
                        "cluster: x\ndatabase: d\nshards: []\n".getBytes(StandardCharsets.UTF_8), "f.yaml"))
                .isInstanceOf(TopologyException.class)
                .hasMessageContaining("f.yaml")
                .hasMessageContaining("at least one entry in 'shards'");
        assertThatThrownBy(() -> TopologyCodec.snapshotFromYaml(
                        "cluster: x\ndatabase: d\nshardz: []\n".getBytes(StandardCharsets.UTF_8), "f.yaml"))
                .isInstanceOf(TopologyException.class)
                .hasMessageContaining("shardz");
        assertThatThrownBy(() -> TopologyCodec.snapshotFromYaml(
                        ("cluster: x\ndatabase: d\nshards:\n  - id: 0\n    nodes:\n"
                                        + "      - {name: a, role: hub, host: h, port: 1, upstream: b}\n")
                                .getBytes(StandardCharsets.UTF_8),
                        "f.yaml"))
                .isInstanceOf(TopologyException.class)
                .hasMessageContaining("exactly one primary");
        assertThatThrownBy(() -> TopologyCodec.topologyFromJson("{".getBytes(StandardCharsets.UTF_8), "zk:/t"))
                .isInstanceOf(TopologyException.class)
                .hasMessageContaining("zk:/t is malformed");
    }

    @Test
    void aRingNamingAShardThatDoesNotExistIsRefused() {
        HashRing ring = HashRing.even(List.of(0, 1, 7), 1);
        assertThatThrownBy(() -> new TopologySnapshot(twoShards(), ring)).hasMessageContaining("no shard 7");
    }
}
