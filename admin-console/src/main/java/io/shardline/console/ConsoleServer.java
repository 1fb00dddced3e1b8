package io.shardline.console;

import java.util.Map;
import org.springframework.boot.Banner;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * A running admin console: the Spring Boot application of {@link ConsoleApplication} for one cluster. Started by
 * {@code ./shardline console}, the demo and the tests; {@link #close()} stops it.
 */
public final class ConsoleServer implements AutoCloseable {
    /** Held so the level set on it stays (java.util.logging keeps loggers weakly). */
    private static final java.util.logging.Logger TOMCAT_LOG = java.util.logging.Logger.getLogger("org.apache");

    private final ConfigurableApplicationContext context;
    private final ConsoleSettings settings;

    private ConsoleServer(ConfigurableApplicationContext context, ConsoleSettings settings) {
        this.context = context;
        this.settings = settings;
    }

    /**
     * Starts the console and returns once it serves.
     *
     * @throws RuntimeException when ZooKeeper or the cluster cannot be reached or the port is taken (the cause
     *     says which)
     */
    public static ConsoleServer start(ConsoleSettings settings) {
        // The host process owns logging (logback in the launcher, slf4j-simple in tests): Boot leaves it alone.
        if (System.getProperty("org.springframework.boot.logging.LoggingSystem") == null) {
            System.setProperty("org.springframework.boot.logging.LoggingSystem", "none");
        }
        // Tomcat logs through java.util.logging: only its warnings
        TOMCAT_LOG.setLevel(java.util.logging.Level.WARNING);
        SpringApplication app = new SpringApplication(ConsoleApplication.class);
        app.setBannerMode(Banner.Mode.OFF);
        app.setLogStartupInfo(false);
        app.setDefaultProperties(Map.of(
                // only the console's own properties file: an application.properties of the host does not apply
                "spring.config.name", "shardline-console",
                "server.port", String.valueOf(settings.port()),
                "server.address", settings.bindAddress()));
        app.addInitializers(ctx -> ctx.getBeanFactory().registerSingleton("consoleSettings", settings));
        return new ConsoleServer(app.run(), settings);
    }

    /** The port it listens on (the one chosen when the settings said 0). */
    public int port() {
        return ((WebServerApplicationContext) context).getWebServer().getPort();
    }

    /** {@code http://host:port}. */
    public String url() {
        String host = settings.bindAddress().equals("0.0.0.0") ? "127.0.0.1" : settings.bindAddress();
        return "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port();
    }

    @Override
    public void close() {
        context.close();
    }

    @Override
    public String toString() {
        return "admin console at " + url();
    }
}
