package io.shardline.router.txn;

/** A multi-shard transaction's bookkeeping in ZooKeeper failed; the message says which step. */
public final class TxnException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public TxnException(String message, Throwable cause) {
        super(message, cause);
    }
}
