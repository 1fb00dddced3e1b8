package io.shardline.compose;

/**
 * A local cluster could not be started, operated or stopped. The message says what failed and, where a
 * server was involved, ends with the tail of its log.
 */
public class LocalClusterException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public LocalClusterException(String message) {
        super(message);
    }

    public LocalClusterException(String message, Throwable cause) {
        super(message, cause);
    }
}
