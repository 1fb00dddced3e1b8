package io.shardline.spring;

import io.shardline.router.ShardlineProperty;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.springframework.boot.EnvironmentPostProcessor;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.core.Ordered;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.core.env.MapPropertySource;

/**
 * When {@code spring.datasource.url} is a {@code jdbc:shardline:} URL: names the driver class (Spring Boot does not
 * know the prefix), and hands the {@code shardline.*} properties to the driver as the pool's data source properties
 * ({@code spring.datasource.hikari.data-source-properties.*}). An unknown {@code shardline.*} key fails the start
 * with the list of known ones: a typo would otherwise silently keep a default. Settings of the application's own win.
 */
public class ShardlineEnvironmentPostProcessor implements EnvironmentPostProcessor, Ordered {
    static final String DRIVER = "io.shardline.router.ShardlineDriver";
    static final String SOURCE = "shardline-starter";
    private static final String HIKARI = "spring.datasource.hikari.data-source-properties.";

    @Override
    public void postProcessEnvironment(ConfigurableEnvironment environment, SpringApplication application) {
        String url = environment.getProperty("spring.datasource.url");
        if (url == null || !url.startsWith("jdbc:shardline:")) {
            return;
        }
        Map<String, Object> derived = new LinkedHashMap<>();
        if (environment.getProperty("spring.datasource.driver-class-name") == null) {
            derived.put("spring.datasource.driver-class-name", DRIVER);
        }
        Binder binder = Binder.get(environment);
        Map<String, String> given = binder.bind("shardline", Bindable.mapOf(String.class, String.class))
                .orElse(Map.of());
        Map<String, String> known = Arrays.stream(ShardlineProperty.values())
                .filter(p -> p != ShardlineProperty.USER && p != ShardlineProperty.PASSWORD)
                .collect(Collectors.toMap(p -> normalized(p.getName()), ShardlineProperty::getName));
        for (Map.Entry<String, String> e : given.entrySet()) {
            String key = e.getKey();
            if (key.startsWith("pg.")) {
                derived.put(HIKARI + ShardlineProperty.PGJDBC_PREFIX + key.substring(3), e.getValue());
                continue;
            }
            String driverKey = known.get(normalized(key));
            if (driverKey == null) {
                throw new IllegalStateException("unknown property shardline." + key + "; the driver knows shardline."
                        + new TreeSet<>(known.values()).stream().collect(Collectors.joining(", shardline."))
                        + " and shardline.pg.* (pgjdbc's own)");
            }
            derived.put(HIKARI + driverKey, e.getValue());
        }
        if (environment.getProperty("management.endpoint.health.status.order") == null) {
            // the health indicator's DEGRADED (reads on primaries only) ranks between DOWN and UP
            derived.put("management.endpoint.health.status.order", "DOWN,OUT_OF_SERVICE,DEGRADED,UP,UNKNOWN");
        }
        // checks the values' types (a number where one is expected) with the property's name in the message
        binder.bind("shardline", ShardlineProperties.class);
        if (!derived.isEmpty()) {
            environment.getPropertySources().addLast(new MapPropertySource(SOURCE, derived));
        }
    }

    /** {@code max-staleness-ms}, {@code maxStalenessMs}, {@code maxstalenessms}: one key. */
    private static String normalized(String key) {
        return key.replace("-", "").replace("_", "").toLowerCase(Locale.ROOT);
    }

    @Override
    public int getOrder() {
        // after the application's own configuration files are read
        return Ordered.LOWEST_PRECEDENCE;
    }
}
