package io.shardline.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import io.shardline.spring.PetClinicApplication.Countries;
import io.shardline.spring.PetClinicApplication.Country;
import io.shardline.spring.PetClinicApplication.Owner;
import io.shardline.spring.PetClinicApplication.OwnerReads;
import io.shardline.spring.PetClinicApplication.Owners;
import io.shardline.test.ShardlineCluster;
import io.shardline.test.ShardlineTestCluster;
import io.shardline.topology.KeyType;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/**
 * The starter in a Boot application ({@link PetClinicApplication}) on a 2-shard cluster with a hub per shard: the
 * URL alone is enough (no driver class name), {@code shardline.*} reach the driver, JPA entities on a sharded and a
 * reference table work with Hibernate's own DDL and SEQUENCE ids, a read-only transactional method reads a replica,
 * the health endpoint shows {@code shardline} and {@code /actuator/prometheus} the driver's meters; a mistyped
 * {@code shardline.*} key stops the start with its name.
 */
@ShardlineCluster(shards = 2, hubs = 1, leaves = 0)
class StarterIT {
    private static ConfigurableApplicationContext app;
    private static String base;
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private static List<String> properties(ShardlineTestCluster cluster, String... more) {
        List<String> all = new ArrayList<>(List.of(
                "spring.datasource.url=" + cluster.url(),
                "spring.datasource.username=postgres",
                "shardline.max-staleness-ms=5000",
                "shardline.two-phase-commit=true",
                // a read after the session's own write waits (up to 3 s) for a replica to replay it
                "shardline.ryw-wait-ms=3000",
                "spring.jpa.hibernate.ddl-auto=create",
                "spring.jpa.open-in-view=false",
                "server.port=0",
                "server.address=127.0.0.1",
                "management.endpoints.web.exposure.include=health,prometheus",
                "management.endpoint.health.show-details=always"));
        all.addAll(List.of(more));
        return all;
    }

    @BeforeAll
    static void start(ShardlineTestCluster cluster) {
        cluster.shardTable("owners", "id", KeyType.INTEGER).referenceTable("countries");
        app = new SpringApplicationBuilder(PetClinicApplication.class)
                .properties(properties(cluster).toArray(String[]::new))
                .run();
        base = "http://127.0.0.1:" + app.getEnvironment().getProperty("local.server.port");
    }

    @AfterAll
    static void stop() {
        if (app != null) {
            app.close();
        }
    }

    private static HttpResponse<String> get(String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(base + path)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void theUrlAloneIsEnoughAndShardlinePropertiesReachTheDriver() {
        assertThat(app.getEnvironment().getProperty("spring.datasource.driver-class-name"))
                .isEqualTo("io.shardline.router.ShardlineDriver");
        HikariDataSource pool = (HikariDataSource) app.getBean(DataSource.class);
        assertThat(pool.getJdbcUrl()).startsWith("jdbc:shardline:");
        assertThat(pool.getDataSourceProperties())
                .containsEntry("maxStalenessMs", "5000")
                .containsEntry("twoPhaseCommit", "true");
    }

    @Test
    void aRefusedStatementLeavesThePooledConnectionUsable() throws Exception {
        HikariDataSource pool = (HikariDataSource) app.getBean(DataSource.class);
        try (java.sql.Connection c = pool.getConnection();
                java.sql.Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            s.executeQuery("SELECT count(*) FROM countries").close();
            // a locking read without the shard key cannot be routed: refused with 0A000, which HikariCP would take
            // for a broken connection and evict (the rollback below then failed: "Connection is closed")
            assertThatThrownBy(() -> s.executeQuery("SELECT * FROM owners FOR UPDATE"))
                    .isInstanceOf(java.sql.SQLException.class)
                    .extracting(e -> ((java.sql.SQLException) e).getSQLState())
                    .isEqualTo("0A000");
            c.rollback();
            c.setAutoCommit(true);
            try (java.sql.ResultSet rs = s.executeQuery("SELECT count(*) FROM countries")) {
                assertThat(rs.next()).isTrue();
            }
            assertThat(c.isClosed()).isFalse();
        }
    }

    @Test
    void entitiesOnShardedAndReferenceTablesWithSequenceIds(ShardlineTestCluster cluster) throws Exception {
        Countries countries = app.getBean(Countries.class);
        Owners owners = app.getBean(Owners.class);
        Country nl = countries.save(new Country("NL", "Netherlands"));
        List<Long> ids = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            ids.add(owners.save(new Owner("owner " + i, nl)).getId());
        }
        assertThat(ids).doesNotHaveDuplicates().allSatisfy(id -> assertThat(id).isPositive());
        assertThat(owners.count()).isEqualTo(40); // a cross-shard count
        assertThat(owners.findById(ids.get(7)).orElseThrow().getCountry().getName())
                .isEqualTo("Netherlands");
        for (int shard = 0; shard < 2; shard++) {
            try (Connection c = cluster.primary(shard).connect()) {
                assertThat(count(c, "SELECT count(*) FROM owners"))
                        .as("owners on shard %d", shard)
                        .isPositive();
                assertThat(count(c, "SELECT count(*) FROM countries"))
                        .as("the reference table on shard %d", shard)
                        .isEqualTo(1);
            }
        }
    }

    @Test
    void aReadOnlyTransactionalMethodReadsAReplica(ShardlineTestCluster cluster) {
        Owners owners = app.getBean(Owners.class);
        Country country = app.getBean(Countries.class).save(new Country("PT", "Portugal"));
        long id = owners.save(new Owner("Ana", country)).getId();
        cluster.awaitReplication(Duration.ofSeconds(30));
        OwnerReads reads = app.getBean(OwnerReads.class);
        assertThat(reads.nameOf(id)).isEqualTo("Ana");
        assertThat(reads.readOnAReplica(id)).as("served by the shard's hub").isTrue();
    }

    @Test
    void theHealthEndpointShowsShardlineAndPrometheusTheDriversMeters() throws Exception {
        app.getBean(Owners.class).count();
        HttpResponse<String> health = get("/actuator/health");
        assertThat(health.statusCode()).isEqualTo(200);
        JsonNode shardline =
                new ObjectMapper().readTree(health.body()).path("components").path("shardline");
        assertThat(shardline.path("status").asString()).as(health.body()).isEqualTo("UP");
        JsonNode details = shardline.path("details");
        assertThat(details.path("zookeeper").asString()).isEqualTo("connected");
        assertThat(details.path("topologyVersion").asLong()).isPositive();
        for (String shard : List.of("shard0", "shard1")) {
            JsonNode s = details.path("shards").path(shard);
            assertThat(s.path("writable").asBoolean()).as(shard).isTrue();
            assertThat(s.path("replicas").asInt()).isEqualTo(1);
            assertThat(s.path("replicasEligible").asInt()).isEqualTo(1);
        }
        String prometheus = get("/actuator/prometheus").body();
        assertThat(prometheus).contains("shardline_statements_seconds_count{").contains("hikaricp_connections_active{");
    }

    @Test
    void aMistypedShardlineKeyStopsTheStartWithItsName(ShardlineTestCluster cluster) {
        assertThatThrownBy(() -> new SpringApplicationBuilder(PetClinicApplication.class)
                        .properties(properties(cluster, "shardline.max-stalenes-ms=100")
                                .toArray(String[]::new))
                        .run())
                .hasStackTraceContaining("unknown property shardline.max-stalenes-ms")
                .hasStackTraceContaining("shardline.maxStalenessMs");
    }

    private static long count(Connection c, String sql) throws Exception {
        try (ResultSet rs = c.createStatement().executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
