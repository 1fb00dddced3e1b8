package io.shardline.router.sql;

/** What a statement does, which decides where it may run. */
public enum StatementKind {
    /** A read that a replica may serve (outside read-write transactions). */
    READ,
    /** Anything that writes or locks rows: the primary. */
    WRITE,
    /** Schema changes: the primary, of every shard when the object is shared by all. */
    DDL,
    /** BEGIN, COMMIT, ROLLBACK, SAVEPOINT...: handled by the logical connection. */
    TXN,
    /** SET, RESET, SHOW, DISCARD: recorded and applied on every physical connection. */
    SESSION,
    /** COPY, LISTEN/NOTIFY, VACUUM, DO, CALL...: the primary. */
    UTILITY
}
