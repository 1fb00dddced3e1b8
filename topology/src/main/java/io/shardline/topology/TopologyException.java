package io.shardline.topology;

/** The topology could not be read or written: ZooKeeper unreachable, unknown cluster, malformed data. */
public class TopologyException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public TopologyException(String message) {
        super(message);
    }

    public TopologyException(String message, Throwable cause) {
        super(message, cause);
    }
}
