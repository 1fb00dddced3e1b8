package io.shardline.router.logging;

import org.slf4j.event.Level;

/** Where the log lines of one logger name go. */
interface LogSink {
    boolean isEnabled(Level level);

    /**
     * Writes one line, already formatted.
     *
     * @param thrown null when none
     */
    void log(Level level, String message, Throwable thrown);
}
