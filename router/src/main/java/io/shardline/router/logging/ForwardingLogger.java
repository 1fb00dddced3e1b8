package io.shardline.router.logging;

import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.FormattingTuple;
import org.slf4j.helpers.LegacyAbstractLogger;
import org.slf4j.helpers.MessageFormatter;

/**
 * A logger of the shaded jar: checks the level at its {@link LogSink}, formats the {@code {}} placeholders and hands
 * the line on with its throwable. Markers are dropped.
 */
final class ForwardingLogger extends LegacyAbstractLogger {
    private final transient LogSink sink;

    ForwardingLogger(String name, LogSink sink) {
        this.name = name;
        this.sink = sink;
    }

    @Override
    public boolean isTraceEnabled() {
        return sink.isEnabled(Level.TRACE);
    }

    @Override
    public boolean isDebugEnabled() {
        return sink.isEnabled(Level.DEBUG);
    }

    @Override
    public boolean isInfoEnabled() {
        return sink.isEnabled(Level.INFO);
    }

    @Override
    public boolean isWarnEnabled() {
        return sink.isEnabled(Level.WARN);
    }

    @Override
    public boolean isErrorEnabled() {
        return sink.isEnabled(Level.ERROR);
    }

    @Override
    protected String getFullyQualifiedCallerName() {
        return null;
    }

    @Override
    protected void handleNormalizedLoggingCall(
            Level level, Marker marker, String messagePattern, Object[] arguments, Throwable throwable) {
        if (throwable != null) {
            sink.log(level, MessageFormatter.basicArrayFormat(messagePattern, arguments), throwable);
            return;
        }
        // a throwable passed as the last argument without its own {} is the line's exception, as in SLF4J's bindings
        FormattingTuple formatted = MessageFormatter.arrayFormat(messagePattern, arguments);
        sink.log(level, formatted.getMessage(), formatted.getThrowable());
    }
}
