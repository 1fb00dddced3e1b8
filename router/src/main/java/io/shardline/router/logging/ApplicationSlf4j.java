package io.shardline.router.logging;

import static java.lang.invoke.MethodType.methodType;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.util.Locale;
import org.slf4j.LoggerFactory;
import org.slf4j.event.Level;
import org.slf4j.helpers.AbstractLogger;

/**
 * The application's own SLF4J, 1.7 or 2.x, called by reflection: in the shaded jar the driver's SLF4J is relocated,
 * so the application's is another set of classes under the original names. Only methods both versions have are
 * called: {@code LoggerFactory.getLogger(String)}, {@code Logger.isXEnabled()}, {@code x(String)}, {@code x(String,
 * Throwable)} and, where the logger implements it, {@code LocationAwareLogger.log}, which lets the application's
 * framework report the driver's class and method as the caller rather than this one.
 */
final class ApplicationSlf4j {
    /**
     * {@code org.slf4j}, assembled at run time: the shade plugin rewrites every string constant naming a relocated
     * package, and this one must keep naming the application's.
     */
    private static final String PACKAGE = String.join(".", "org", "slf4j");

    /** Callers of the driver's SLF4J leave it through this class: the frame after it is the caller. */
    private static final String CALLER_BOUNDARY = AbstractLogger.class.getName();

    private static final Level[] LEVELS = Level.values();

    /** (String)Object. */
    private final MethodHandle getLogger;
    /** By {@link Level#ordinal()}: (Object)boolean. */
    private final MethodHandle[] isEnabled = new MethodHandle[LEVELS.length];
    /** By {@link Level#ordinal()}: (Object, String)void. */
    private final MethodHandle[] log = new MethodHandle[LEVELS.length];
    /** By {@link Level#ordinal()}: (Object, String, Throwable)void. */
    private final MethodHandle[] logThrown = new MethodHandle[LEVELS.length];

    private final Class<?> locationAwareLogger;
    /** (Object logger, Object marker, String callerBoundary, int level, String message, Object[], Throwable)void. */
    private final MethodHandle logWithCaller;

    private ApplicationSlf4j(Class<?> loggerFactory, ClassLoader loader) throws ReflectiveOperationException {
        MethodHandles.Lookup lookup = MethodHandles.publicLookup();
        Class<?> logger = Class.forName(PACKAGE + ".Logger", false, loader);
        getLogger = lookup.findStatic(loggerFactory, "getLogger", methodType(logger, String.class))
                .asType(methodType(Object.class, String.class));
        for (Level level : LEVELS) {
            String method = level.name().toLowerCase(Locale.ROOT);
            String enabled = "is" + level.name().charAt(0) + method.substring(1) + "Enabled";
            isEnabled[level.ordinal()] = lookup.findVirtual(logger, enabled, methodType(boolean.class))
                    .asType(methodType(boolean.class, Object.class));
            log[level.ordinal()] = lookup.findVirtual(logger, method, methodType(void.class, String.class))
                    .asType(methodType(void.class, Object.class, String.class));
            logThrown[level.ordinal()] = lookup.findVirtual(
                            logger, method, methodType(void.class, String.class, Throwable.class))
                    .asType(methodType(void.class, Object.class, String.class, Throwable.class));
        }
        locationAwareLogger = Class.forName(PACKAGE + ".spi.LocationAwareLogger", false, loader);
        Class<?> marker = Class.forName(PACKAGE + ".Marker", false, loader);
        logWithCaller = lookup.findVirtual(
                        locationAwareLogger,
                        "log",
                        methodType(
                                void.class,
                                marker,
                                String.class,
                                int.class,
                                String.class,
                                Object[].class,
                                Throwable.class))
                .asType(methodType(
                        void.class,
                        Object.class,
                        Object.class,
                        String.class,
                        int.class,
                        String.class,
                        Object[].class,
                        Throwable.class));
    }

    /** The application's SLF4J as {@code loader} sees it; null when there is none. */
    static ApplicationSlf4j find(ClassLoader loader) {
        try {
            Class<?> loggerFactory = Class.forName(PACKAGE + ".LoggerFactory", false, loader);
            if (loggerFactory == LoggerFactory.class) {
                // not relocated (the plain artifact, unit tests): the driver's own SLF4J, forwarding to it would loop
                return null;
            }
            return new ApplicationSlf4j(loggerFactory, loader);
        } catch (ReflectiveOperationException | LinkageError e) {
            return null;
        }
    }

    /** The application's logger {@code name}, looked up once. */
    LogSink sink(String name) {
        Object logger;
        try {
            logger = getLogger.invokeExact(name);
        } catch (Throwable e) {
            throw unchecked(e);
        }
        return new Sink(logger, locationAwareLogger.isInstance(logger));
    }

    private final class Sink implements LogSink {
        private final Object logger;
        private final boolean locationAware;

        Sink(Object logger, boolean locationAware) {
            this.logger = logger;
            this.locationAware = locationAware;
        }

        @Override
        public boolean isEnabled(Level level) {
            try {
                return (boolean) isEnabled[level.ordinal()].invokeExact(logger);
            } catch (Throwable e) {
                throw unchecked(e);
            }
        }

        @Override
        public void log(Level level, String message, Throwable thrown) {
            try {
                if (locationAware) {
                    logWithCaller.invokeExact(
                            logger, (Object) null, CALLER_BOUNDARY, level.toInt(), message, (Object[]) null, thrown);
                } else if (thrown == null) {
                    log[level.ordinal()].invokeExact(logger, message);
                } else {
                    logThrown[level.ordinal()].invokeExact(logger, message, thrown);
                }
            } catch (Throwable e) {
                throw unchecked(e);
            }
        }
    }

    /** The called methods declare no checked exception. */
    private static RuntimeException unchecked(Throwable e) {
        if (e instanceof Error error) {
            throw error;
        }
        return e instanceof RuntimeException runtime ? runtime : new IllegalStateException(e);
    }
}
