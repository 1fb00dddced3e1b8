package io.shardline.router;

/** The SQLStates Shardline reports, as PostgreSQL defines them. */
public final class SqlStates {
    /** The statement cannot be routed (no provable shard key, cross-shard, unsupported construct). */
    public static final String FEATURE_NOT_SUPPORTED = "0A000";
    /** A bad URL or property value. */
    public static final String INVALID_PARAMETER = "22023";
    /** A shard key value of the wrong type. */
    public static final String INVALID_TEXT_REPRESENTATION = "22P02";

    /** ZooKeeper or the cluster could not be reached. */
    public static final String CONNECTION_UNABLE = "08001";
    /** No replica is within the staleness bound and {@code fallback=error}. */
    public static final String NO_FRESH_REPLICA = "55000";
    /** The logical connection is closed. */
    public static final String CONNECTION_DOES_NOT_EXIST = "08003";
    /** A write or COMMIT whose connection broke while it ran: it may or may not have committed. */
    public static final String OUTCOME_UNKNOWN = "08007";
    /** The transaction's connection broke: it was rolled back, statements fail until rollback(). */
    public static final String IN_FAILED_TRANSACTION = "25P02";
    /** COMMIT of a transaction that was rolled back when its connection broke. */
    public static final String TRANSACTION_ROLLBACK = "40000";
    /** A write held by a shard move's fence for longer than fenceWaitMs: retry it. */
    public static final String RETRY_WRITE = "40001";
    /** A statement the driver held for its whole query timeout (not sent), as PostgreSQL's query_canceled. */
    public static final String QUERY_CANCELED = "57014";
    /** Every connection of a node's pool stayed in use for connectTimeoutMs (the node itself is fine). */
    public static final String TOO_MANY_CONNECTIONS = "53300";
    /** DDL on sharded tables while a shard move runs. */
    public static final String MOVE_IN_PROGRESS = "55006";
    /** A closed statement or result set used (pgjdbc's state for it). */
    public static final String OBJECT_NOT_IN_STATE = "55000";
    /** A transaction statement without a transaction. */
    public static final String NO_ACTIVE_TRANSACTION = "25P01";
    /** A savepoint used after it was released (pgjdbc's state for it). */
    public static final String INVALID_SAVEPOINT = "3B000";
    /** A statement needing a transaction's shard before the transaction has one. */
    public static final String INVALID_TRANSACTION_STATE = "25000";

    /** A command that runs only outside transaction blocks ran inside one. */
    public static final String ACTIVE_SQL_TRANSACTION = "25001";

    /** A write refused by a read-only transaction (or a standby). */
    public static final String READ_ONLY_TRANSACTION = "25006";

    private SqlStates() {}

    /** A fault inside the driver (a bug): reported as an SQLException, as JDBC promises, never as an unchecked one. */
    public static final String INTERNAL_ERROR = "XX000";

    /** {@code e}, thrown inside the driver, as the SQLException a JDBC caller expects. */
    public static java.sql.SQLException internal(RuntimeException e) {
        return new java.sql.SQLException(
                "Shardline driver internal error: " + e + " (please report it with the statement that caused it)",
                INTERNAL_ERROR,
                e);
    }
}
