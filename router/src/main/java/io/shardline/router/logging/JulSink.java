package io.shardline.router.logging;

import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.slf4j.event.Level;

/**
 * {@code java.util.logging}, for an application without SLF4J: the logger of the same name, levels as SLF4J's own
 * JUL binding maps them (TRACE is FINEST, DEBUG FINE, WARN WARNING, ERROR SEVERE). Each record names the class and
 * method that logged, not this class.
 */
final class JulSink implements LogSink {
    private static final String SLF4J_PACKAGE = org.slf4j.Logger.class.getPackageName() + ".";
    private static final StackWalker STACK = StackWalker.getInstance(StackWalker.Option.RETAIN_CLASS_REFERENCE);

    private final Logger logger;

    JulSink(String name) {
        this.logger = Logger.getLogger(name);
    }

    static java.util.logging.Level julLevel(Level level) {
        return switch (level) {
            case TRACE -> java.util.logging.Level.FINEST;
            case DEBUG -> java.util.logging.Level.FINE;
            case INFO -> java.util.logging.Level.INFO;
            case WARN -> java.util.logging.Level.WARNING;
            case ERROR -> java.util.logging.Level.SEVERE;
        };
    }

    @Override
    public boolean isEnabled(Level level) {
        return logger.isLoggable(julLevel(level));
    }

    @Override
    public void log(Level level, String message, Throwable thrown) {
        LogRecord record = new LogRecord(julLevel(level), message);
        record.setLoggerName(logger.getName());
        record.setThrown(thrown);
        STACK.walk(frames -> frames.dropWhile(JulSink::isLogging).findFirst()).ifPresent(caller -> {
            record.setSourceClassName(caller.getClassName());
            record.setSourceMethodName(caller.getMethodName());
        });
        logger.log(record);
    }

    /** This sink, the logger calling it, or the driver's SLF4J. */
    private static boolean isLogging(StackWalker.StackFrame frame) {
        Class<?> type = frame.getDeclaringClass();
        return type == JulSink.class
                || type == ForwardingLogger.class
                || type.getName().startsWith(SLF4J_PACKAGE);
    }
}
