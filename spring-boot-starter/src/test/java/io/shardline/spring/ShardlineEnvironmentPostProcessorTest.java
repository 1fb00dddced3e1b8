package io.shardline.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.boot.SpringApplication;
import org.springframework.core.env.MapPropertySource;
import org.springframework.core.env.StandardEnvironment;
import org.springframework.core.env.SystemEnvironmentPropertySource;

/** What the starter derives from an application's configuration, before any bean exists. */
class ShardlineEnvironmentPostProcessorTest {
    private static final String HIKARI = "spring.datasource.hikari.data-source-properties.";

    private static StandardEnvironment environment(Map<String, Object> config, Map<String, Object> env) {
        StandardEnvironment environment = new StandardEnvironment();
        environment.getPropertySources().remove(StandardEnvironment.SYSTEM_ENVIRONMENT_PROPERTY_SOURCE_NAME);
        environment
                .getPropertySources()
                .addLast(new SystemEnvironmentPropertySource(
                        StandardEnvironment.SYSTEM_ENVIRONMENT_PROPERTY_SOURCE_NAME, env));
        environment.getPropertySources().addFirst(new MapPropertySource("application.properties", config));
        new ShardlineEnvironmentPostProcessor().postProcessEnvironment(environment, new SpringApplication());
        return environment;
    }

    @Test
    void aShardlineUrlGetsTheDriverAndTheDriversPropertiesInAnySpelling() {
        StandardEnvironment e = environment(
                Map.of(
                        "spring.datasource.url", "jdbc:shardline:zk://zk:2181/shardline/clusters/c",
                        "shardline.max-staleness-ms", "500",
                        "shardline.readFrom", "primary",
                        "shardline.pg.sslmode", "verify-full"),
                Map.of(
                        "SHARDLINE_TWOPHASECOMMIT",
                        "true",
                        "SHARDLINE_PASSWORD",
                        "secret",
                        "SHARDLINE_JAVA_OPTS",
                        "-Xmx1g"));
        assertThat(e.getProperty("spring.datasource.driver-class-name"))
                .isEqualTo(ShardlineEnvironmentPostProcessor.DRIVER);
        assertThat(e.getProperty(HIKARI + "maxStalenessMs")).isEqualTo("500");
        assertThat(e.getProperty(HIKARI + "readFrom")).isEqualTo("primary");
        assertThat(e.getProperty(HIKARI + "twoPhaseCommit")).isEqualTo("true");
        assertThat(e.getProperty(HIKARI + "pg.sslmode")).isEqualTo("verify-full");
        // a refused statement does not make HikariCP evict the connection
        assertThat(e.getProperty("spring.datasource.hikari.exception-override-class-name"))
                .isEqualTo(io.shardline.router.ShardlineExceptionOverride.class.getName());
        // the command-line tools' variables are not driver properties, and the password goes nowhere
        assertThat(e.getProperty(HIKARI + "password")).isNull();
        assertThat(e.getPropertySources()
                        .get(ShardlineEnvironmentPostProcessor.SOURCE)
                        .toString())
                .doesNotContain("secret");
    }

    @Test
    void theDriversPoolPerNodeIsNoSmallerThanTheApplicationsPool() {
        assertThat(environment(
                                Map.of(
                                        "spring.datasource.url", "jdbc:shardline:zk://zk:2181/x",
                                        "spring.datasource.hikari.maximum-pool-size", "50"),
                                Map.of())
                        .getProperty(HIKARI + "poolSize"))
                .isEqualTo("50");
        assertThat(environment(
                                Map.of(
                                        "spring.datasource.url", "jdbc:shardline:zk://zk:2181/x",
                                        "spring.datasource.hikari.maximum-pool-size", "10"),
                                Map.of())
                        .getProperty(HIKARI + "poolSize"))
                .as("the driver's default, 20, is enough")
                .isNull();
        assertThat(environment(
                                Map.of(
                                        "spring.datasource.url", "jdbc:shardline:zk://zk:2181/x",
                                        "spring.datasource.hikari.maximum-pool-size", "50",
                                        "shardline.pool-size", "30"),
                                Map.of())
                        .getProperty(HIKARI + "poolSize"))
                .as("the application's own setting wins")
                .isEqualTo("30");
        assertThat(environment(
                                Map.of(
                                        "spring.datasource.url", "jdbc:shardline:zk://zk:2181/x?poolSize=40",
                                        "spring.datasource.hikari.maximum-pool-size", "50"),
                                Map.of())
                        .getProperty(HIKARI + "poolSize"))
                .as("set in the URL: data source properties would override it")
                .isNull();
    }

    @Test
    void theApplicationsOwnDriverClassAndOtherUrlsAreLeftAlone() {
        assertThat(environment(
                                Map.of(
                                        "spring.datasource.url", "jdbc:shardline:zk://zk:2181/x",
                                        "spring.datasource.driver-class-name", "com.example.Wrapper"),
                                Map.of())
                        .getProperty("spring.datasource.driver-class-name"))
                .isEqualTo("com.example.Wrapper");
        StandardEnvironment plain = environment(
                Map.of("spring.datasource.url", "jdbc:postgresql://db/x", "shardline.nonsense", "1"), Map.of());
        assertThat(plain.getPropertySources().contains(ShardlineEnvironmentPostProcessor.SOURCE))
                .isFalse();
    }

    @Test
    void aMistypedKeyOrAWrongTypeIsNamed() {
        assertThatThrownBy(() -> environment(
                        Map.of(
                                "spring.datasource.url",
                                "jdbc:shardline:zk://zk:2181/x",
                                "shardline.max-stalenes-ms",
                                "5"),
                        Map.of()))
                .hasMessageStartingWith("unknown property shardline.max-stalenes-ms (in application.properties)")
                .hasMessageContaining("shardline.maxStalenessMs");
        assertThatThrownBy(() -> environment(
                        Map.of("spring.datasource.url", "jdbc:shardline:zk://zk:2181/x", "shardline.pool-size", "many"),
                        Map.of()))
                .hasStackTraceContaining("shardline.pool-size");
    }
}
