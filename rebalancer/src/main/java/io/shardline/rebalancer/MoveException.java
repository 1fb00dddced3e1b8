package io.shardline.rebalancer;

/** A step of a shard move could not be done; the message names the node and what to do. */
public class MoveException extends Exception {
    public MoveException(String message) {
        super(message);
    }

    public MoveException(String message, Throwable cause) {
        super(message, cause);
    }
}
