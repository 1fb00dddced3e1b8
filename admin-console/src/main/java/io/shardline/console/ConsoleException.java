package io.shardline.console;

import org.springframework.http.HttpStatus;

/** A request the console cannot carry out, with the HTTP status and a message that says why. */
public final class ConsoleException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final HttpStatus status;

    public ConsoleException(HttpStatus status, String message) {
        super(message);
        this.status = status;
    }

    public ConsoleException(HttpStatus status, String message, Throwable cause) {
        super(message, cause);
        this.status = status;
    }

    public HttpStatus status() {
        return status;
    }
}
