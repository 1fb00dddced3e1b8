package io.shardline.spring;

import io.shardline.router.ShardlineProperty;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.springframework.boot.EnvironmentPostProcessor;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.core.Ordered;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.core.env.EnumerablePropertySource;
import org.springframework.core.env.MapPropertySource;
import org.springframework.core.env.PropertySource;
import org.springframework.core.env.StandardEnvironment;

/**
 * When {@code spring.datasource.url} is a {@code jdbc:shardline:} URL: names the driver class (Spring Boot does not
 * know the prefix), and hands the {@code shardline.*} properties to the driver as the pool's data source properties
 * ({@code spring.datasource.hikari.data-source-properties.*}). An unknown {@code shardline.*} key in the application's
 * configuration fails the start with the list of known ones: a typo would otherwise silently keep a default. Sets
 * the pool's exception override ({@code io.shardline.router.ShardlineExceptionOverride}): HikariCP would evict a
 * connection for each statement the driver refuses. Settings of the application's own win.
 */
public class ShardlineEnvironmentPostProcessor implements EnvironmentPostProcessor, Ordered {
    static final String DRIVER = "io.shardline.router.ShardlineDriver";
    static final String SOURCE = "shardline-starter";
    static final String OVERRIDE = "io.shardline.router.ShardlineExceptionOverride";
    /** The driver's own default of {@code poolSize}. */
    private static final int DRIVER_POOL_SIZE = 20;

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
        if (environment.getProperty("spring.datasource.hikari.exception-override-class-name") == null
                && overrideFitsThePool()) {
            // a statement the driver refuses (0A000) leaves the connection usable: HikariCP would evict it
            derived.put("spring.datasource.hikari.exception-override-class-name", OVERRIDE);
        }
        checkKeys(environment);
        // typed binding: Boot's relaxed names (max-staleness-ms, maxStalenessMs, SHARDLINE_MAXSTALENESSMS) and a
        // value of the wrong type fails with its property's name
        ShardlineProperties bound = Binder.get(environment)
                .bind("shardline", ShardlineProperties.class)
                .orElseGet(ShardlineProperties::new);
        if (bound.getPoolSize() == null && !url.toLowerCase(Locale.ROOT).contains("poolsize=")) {
            // each pooled logical connection holds a physical one per node it used: a node's pool smaller than the
            // application's would make its busiest moments wait (53300)
            Integer appPool = applicationPoolSize(environment);
            if (appPool != null && appPool > DRIVER_POOL_SIZE) {
                bound.setPoolSize(appPool);
            }
        }
        for (Map.Entry<String, Object> e : values(bound).entrySet()) {
            derived.put(HIKARI + e.getKey(), String.valueOf(e.getValue()));
        }
        bound.getPg().forEach((key, value) -> derived.put(HIKARI + ShardlineProperty.PGJDBC_PREFIX + key, value));
        if (environment.getProperty("management.endpoint.health.status.order") == null) {
            // the health indicator's DEGRADED (reads on primaries only) ranks between DOWN and UP
            derived.put("management.endpoint.health.status.order", "DOWN,OUT_OF_SERVICE,DEGRADED,UP,UNKNOWN");
        }
        if (!derived.isEmpty()) {
            environment.getPropertySources().addLast(new MapPropertySource(SOURCE, derived));
        }
    }

    /** The application pool's maximum size, or null when unset or not a number (Boot's own binding reports that). */
    private static Integer applicationPoolSize(ConfigurableEnvironment environment) {
        try {
            return environment.getProperty("spring.datasource.hikari.maximum-pool-size", Integer.class);
        } catch (RuntimeException e) {
            return null;
        }
    }

    /**
     * Whether the application's HikariCP takes the driver's override: not with the shaded driver jar, whose override
     * implements its own relocated HikariCP's interface (the pool would fail to start), nor without HikariCP.
     */
    static boolean overrideFitsThePool() {
        ClassLoader loader = ShardlineEnvironmentPostProcessor.class.getClassLoader();
        try {
            return Class.forName("com.zaxxer.hikari.SQLExceptionOverride", false, loader)
                    .isAssignableFrom(Class.forName(OVERRIDE, false, loader));
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /** The set properties of {@code bound}, by the driver's names (its fields are named so). */
    static Map<String, Object> values(ShardlineProperties bound) {
        Map<String, Object> values = new LinkedHashMap<>();
        for (Field field : ShardlineProperties.class.getDeclaredFields()) {
            if (Modifier.isStatic(field.getModifiers()) || field.getName().equals("pg")) {
                continue;
            }
            try {
                field.setAccessible(true);
                Object value = field.get(bound);
                if (value != null) {
                    values.put(field.getName(), value);
                }
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }
        return values;
    }

    /**
     * Fails on a {@code shardline.*} key the driver does not know, in the application's configuration (files,
     * command line, system properties). Environment variables are left out: {@code SHARDLINE_PASSWORD},
     * {@code SHARDLINE_JAVA_OPTS} and the like belong to Shardline's command-line tools, not to this.
     */
    private static void checkKeys(ConfigurableEnvironment environment) {
        Set<String> known = Arrays.stream(ShardlineProperty.values())
                .filter(p -> p != ShardlineProperty.USER && p != ShardlineProperty.PASSWORD)
                .map(p -> normalized(p.getName()))
                .collect(Collectors.toSet());
        for (PropertySource<?> source : environment.getPropertySources()) {
            if (!(source instanceof EnumerablePropertySource<?> names)
                    || source.getName().equals(StandardEnvironment.SYSTEM_ENVIRONMENT_PROPERTY_SOURCE_NAME)
                    || source.getName().equals(SOURCE)) {
                continue;
            }
            for (String name : names.getPropertyNames()) {
                if (!name.startsWith("shardline.")) {
                    continue;
                }
                String key = name.substring("shardline.".length()).split("[.\\[]", 2)[0];
                if (!key.equals("pg") && !known.contains(normalized(key))) {
                    throw new IllegalStateException("unknown property " + name + " (in " + source.getName()
                            + "); the driver knows shardline."
                            + Arrays.stream(ShardlineProperty.values())
                                    .filter(p -> p != ShardlineProperty.USER && p != ShardlineProperty.PASSWORD)
                                    .map(ShardlineProperty::getName)
                                    .sorted()
                                    .collect(Collectors.joining(", shardline."))
                            + " and shardline.pg.* (pgjdbc's own)");
                }
            }
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
