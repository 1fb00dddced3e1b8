package io.shardline.router.route;

import io.shardline.topology.Node;

/** What the {@link Router} needs to know of the session a statement runs in; read, never changed, by the router. */
public interface RouteContext {
    boolean autoCommit();

    boolean readOnly();

    /** Whether reads go to the primary ({@code readFrom=primary} or {@code SET shardline.read_from}). */
    boolean readFromPrimary();

    /** The staleness bound of replica reads, ms; negative: unbounded. */
    long maxStalenessMs();

    /**
     * The position the session's causal token holds for {@code shard} (0: none), {@link CausalToken#PENDING} for a
     * commit whose position the session reads only once a replica could have replayed it (see {@code Session}).
     */
    long writtenLsn(int shard);

    /** The shard a {@code forKey(...)} binding holds, or -1. */
    int pinnedShard();

    /** The node of the {@code forKey(...)} binding, or null. */
    Node pinnedNode();

    /** The shard the current transaction started on, or -1 when none has started on a node. */
    int transactionShard();

    /** The transaction's node on {@code shard}, or null when it has not reached it. */
    Node participant(int shard);

    /**
     * Whether the transaction ran (or keeps until its first statement) SAVEPOINT, SET LOCAL or the like, which bind it
     * to its first shard.
     */
    boolean transactionBound();

    /** The transaction's isolation level (a {@link java.sql.Connection} {@code TRANSACTION_*} constant). */
    int isolation();

    /** Whether the transaction wrote (a cross-shard read in it must see its writes). */
    boolean transactionWrote();

    /** Whether the transaction holds one checked snapshot on every shard ({@link Route.Why#SNAPSHOT_TRANSACTION}). */
    boolean snapshotTransaction();

    /** Whether the transaction joined {@code shard} to read only ({@link Route.Use#READ_JOIN}). */
    default boolean joinedToRead(int shard) {
        return false;
    }

    /**
     * Whether the transaction carries transaction-local settings ({@code set_config(name, value, true)} before its
     * first statement) to every shard it reaches: a part of a cross-shard read outside it would not see them.
     */
    default boolean transactionSettings() {
        return false;
    }

    /**
     * The version of the ring the transaction's first statement was routed by, or -1 when unknown: a REPEATABLE READ
     * or SERIALIZABLE transaction reaching another shard under a newer ring is refused (40001).
     */
    default long transactionRing() {
        return -1;
    }
}
