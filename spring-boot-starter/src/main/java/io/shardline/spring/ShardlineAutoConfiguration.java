package io.shardline.spring;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.shardline.router.ShardlineDriver;
import io.shardline.router.metrics.ShardlineMetrics;
import javax.sql.DataSource;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionOutcome;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.SpringBootCondition;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.type.AnnotatedTypeMetadata;

/**
 * The driver's meters in Spring Boot's registry and the {@code shardline} health indicator. The driver class and the
 * {@code shardline.*} properties are set earlier, by {@link ShardlineEnvironmentPostProcessor}.
 */
@AutoConfiguration(
        afterName = {
            "org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration",
            "org.springframework.boot.micrometer.metrics.autoconfigure.CompositeMeterRegistryAutoConfiguration"
        })
@ConditionalOnClass(ShardlineDriver.class)
@EnableConfigurationProperties(ShardlineProperties.class)
public class ShardlineAutoConfiguration {

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(MeterRegistry.class)
    static class Meters {
        /**
         * The driver registers with Micrometer's global registry, to which Spring Boot adds its own by default
         * ({@code management.metrics.use-global-registry}); when it does not, the driver is handed Boot's registry
         * (for the connections opened after it exists).
         */
        @Bean
        MeterBinder shardlineDriverMeters() {
            return registry -> {
                if (!Metrics.globalRegistry.getRegistries().contains(registry)) {
                    ShardlineMetrics.use(registry);
                }
            };
        }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.springframework.boot.health.contributor.HealthIndicator")
    @Conditional(ShardlineUrl.class)
    static class Health {
        @Bean
        @ConditionalOnMissingBean(name = "shardlineHealthIndicator")
        ShardlineHealthIndicator shardlineHealthIndicator(ObjectProvider<DataSource> dataSource) {
            return new ShardlineHealthIndicator(dataSource);
        }
    }

    /** {@code spring.datasource.url} is a {@code jdbc:shardline:} URL. */
    static class ShardlineUrl extends SpringBootCondition {
        @Override
        public ConditionOutcome getMatchOutcome(ConditionContext context, AnnotatedTypeMetadata metadata) {
            String url = context.getEnvironment().getProperty("spring.datasource.url");
            return url != null && url.startsWith("jdbc:shardline:")
                    ? ConditionOutcome.match("spring.datasource.url is a jdbc:shardline: URL")
                    : ConditionOutcome.noMatch("spring.datasource.url is not a jdbc:shardline: URL");
        }
    }
}
