package io.shardline.router.logging;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;

/**
 * The shaded jar's provider, unrelocated: the SLF4J it would forward to is its own, so it writes to
 * java.util.logging, as for an application without SLF4J. {@code ShadedJarLoggingIT} runs it relocated.
 */
class ShadedLoggingProviderTest {
    private static final String NAME = "io.shardline.test.ShadedLogging";

    private final java.util.logging.Logger jul = java.util.logging.Logger.getLogger(NAME);
    private final List<LogRecord> records = new ArrayList<>();
    private final Handler handler = new Handler() {
        @Override
        public void publish(LogRecord record) {
            records.add(record);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };
    private Logger logger;

    @BeforeEach
    void setUp() {
        jul.setUseParentHandlers(false);
        jul.addHandler(handler);
        ShadedLoggingProvider provider = new ShadedLoggingProvider();
        provider.initialize();
        logger = provider.getLoggerFactory().getLogger(NAME);
        assertThat(provider.getLoggerFactory().getLogger(NAME)).isSameAs(logger);
    }

    @AfterEach
    void tearDown() {
        jul.removeHandler(handler);
        jul.setUseParentHandlers(true);
        jul.setLevel(null);
    }

    @Test
    void formatsOnceKeepsTheThrowableAndNamesTheCaller() {
        IllegalStateException failure = new IllegalStateException("boom");
        logger.warn("moved {} of {} ranges", 3, 7, failure);
        logger.error("keeps {}", "{} as is");
        logger.warn("lost {}", failure); // the throwable has no {} of its own: it is the line's exception

        assertThat(records).hasSize(3);
        LogRecord warn = records.get(0);
        assertThat(warn.getLevel()).isEqualTo(Level.WARNING);
        assertThat(warn.getLoggerName()).isEqualTo(NAME);
        assertThat(warn.getMessage()).isEqualTo("moved 3 of 7 ranges");
        assertThat(warn.getThrown()).isSameAs(failure);
        assertThat(warn.getSourceClassName()).isEqualTo(ShadedLoggingProviderTest.class.getName());
        assertThat(warn.getSourceMethodName()).isEqualTo("formatsOnceKeepsTheThrowableAndNamesTheCaller");
        assertThat(records.get(1).getLevel()).isEqualTo(Level.SEVERE);
        assertThat(records.get(1).getMessage()).isEqualTo("keeps {} as is");
        assertThat(records.get(1).getThrown()).isNull();
        assertThat(records.get(2).getMessage()).isEqualTo("lost {}");
        assertThat(records.get(2).getThrown()).isSameAs(failure);
    }

    @Test
    void mapsLevelsAndSkipsDisabledOnes() {
        jul.setLevel(Level.FINE);
        assertThat(logger.isTraceEnabled()).isFalse();
        assertThat(logger.isDebugEnabled()).isTrue();
        logger.trace("not {}", "seen");
        logger.debug("debug");
        logger.info("info");

        assertThat(records).extracting(LogRecord::getLevel).containsExactly(Level.FINE, Level.INFO);
        jul.setLevel(Level.FINEST);
        logger.trace("trace");
        assertThat(records.get(2).getLevel()).isEqualTo(Level.FINEST);
    }
}
