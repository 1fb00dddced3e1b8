package io.shardline.router.logging;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.function.Function;
import org.slf4j.ILoggerFactory;
import org.slf4j.IMarkerFactory;
import org.slf4j.Logger;
import org.slf4j.helpers.BasicMarkerFactory;
import org.slf4j.helpers.NOPMDCAdapter;
import org.slf4j.spi.MDCAdapter;
import org.slf4j.spi.SLF4JServiceProvider;

/**
 * The SLF4J provider of the self-contained driver jar, where SLF4J is relocated with the driver's other dependencies:
 * the loggers of the driver and of the HikariCP, Curator and ZooKeeper bundled with it write to the application's
 * own SLF4J (1.7 or 2.x) when the driver's class loader sees one, else to {@code java.util.logging}. Logger names are
 * unchanged, except that a bundled library's classes carry their relocated names ({@code io.shardline.shaded.hikari
 * .HikariDataSource}).
 *
 * <p>Only the shaded jar registers it (the shade step adds its {@code META-INF/services} file): with the plain
 * artifact the application's SLF4J serves the driver directly.
 */
public final class ShadedLoggingProvider implements SLF4JServiceProvider {
    private final ConcurrentMap<String, Logger> loggers = new ConcurrentHashMap<>();
    private final ILoggerFactory loggerFactory = this::logger;
    private final IMarkerFactory markerFactory = new BasicMarkerFactory();
    private final MDCAdapter mdcAdapter = new NOPMDCAdapter();
    private Function<String, LogSink> sinks;

    /** Chooses where log lines go, once: the application's SLF4J if the driver's class loader sees one. */
    @Override
    public void initialize() {
        ApplicationSlf4j application = ApplicationSlf4j.find(ShadedLoggingProvider.class.getClassLoader());
        sinks = application != null ? application::sink : JulSink::new;
    }

    private Logger logger(String name) {
        return loggers.computeIfAbsent(name, n -> new ForwardingLogger(n, sinks.apply(n)));
    }

    @Override
    public ILoggerFactory getLoggerFactory() {
        return loggerFactory;
    }

    @Override
    public IMarkerFactory getMarkerFactory() {
        return markerFactory;
    }

    /** No MDC: the driver and the libraries it bundles set none. */
    @Override
    public MDCAdapter getMDCAdapter() {
        return mdcAdapter;
    }

    @Override
    public String getRequestedApiVersion() {
        return "2.0.99";
    }
}
