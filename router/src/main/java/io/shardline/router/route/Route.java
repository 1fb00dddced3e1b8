package io.shardline.router.route;

import io.shardline.topology.Node;
import java.sql.SQLException;
import java.util.List;

/**
 * Where one statement runs, decided once by {@link Router}: execution runs it, {@code explainRoute} renders it.
 *
 * @param target what kind of route
 * @param shard for {@link Target#NODE}: the shard
 * @param node for {@link Target#NODE}: the node
 * @param use for {@link Target#NODE}: how the node's connection is used
 * @param why for {@link Target#NODE}: why this node
 * @param lsn for {@link Why#REPLICA_WAIT} and {@link Why#NOT_REPLAYED}: the position a replica must have replayed
 * @param fallback for a replica: where the read goes when the replica cannot serve it (the primary), else null
 * @param legs for {@link Target#EVERY_PRIMARY}, {@link Target#ALL_OR_NONE}, {@link Target#EVERY_SHARD} and {@link
 *     Target#CROSS_SHARD}: one
 *     {@link Target#NODE} route per shard, in shard order
 * @param message for {@link Target#REFUSED}: the error; {@link Target#DRIVER}: the command; {@link
 *     Target#CROSS_SHARD} and {@link Target#EVERY_SHARD}: why no single shard answers
 * @param sqlState for {@link Target#REFUSED}
 */
public record Route(
        Target target,
        int shard,
        Node node,
        Use use,
        Why why,
        long lsn,
        Node fallback,
        List<Route> legs,
        String message,
        String sqlState) {

    /** What kind of route. */
    public enum Target {
        /** One node. */
        NODE,
        /**
         * Every shard's primary, each in autocommit mode, reported per shard (commands PostgreSQL runs outside
         * transaction blocks, maintenance).
         */
        EVERY_PRIMARY,
        /**
         * Every shard's primary, each in a transaction of its own, all committed only when the statement succeeded on
         * every one, else all rolled back (DDL in autocommit mode without two-phase commit).
         */
        ALL_OR_NONE,
        /**
         * Every shard's primary inside one transaction, the connection's or (in autocommit mode) one of its own,
         * committed with two-phase commit (a keyless write, DDL).
         */
        EVERY_SHARD,
        /** Every shard's part of a read no single shard can answer; the home shard's leg runs the final query. */
        CROSS_SHARD,
        /** Handled by the driver itself (BEGIN, COMMIT, SET, SHOW...). */
        DRIVER,
        /** Kept until the transaction's first statement chooses its shard (SET TRANSACTION, SAVEPOINT...). */
        PENDING,
        /** Refused with {@link #sqlState()}. */
        REFUSED
    }

    /** How a {@link Target#NODE} route's connection is used. */
    public enum Use {
        /** A connection in autocommit mode: the statement commits on its own. */
        AUTOCOMMIT,
        /** The statement starts the transaction there. */
        BEGIN,
        /** The transaction, already on another shard, joins this one (two-phase commit). */
        JOIN,
        /**
         * A read-write transaction without two-phase commit, already on another shard, joins this one to read only
         * ({@code READ ONLY}, which PostgreSQL enforces): its writes stay on the shards it started on, and its COMMIT
         * needs no two-phase commit.
         */
        READ_JOIN,
        /** The transaction's connection on this shard. */
        TRANSACTION,
        /** The connection {@code forKey(...)} bound. */
        PINNED,
        /**
         * The statement starts the transaction on every shard's primary at once, in one checked snapshot per shard
         * ({@link Why#SNAPSHOT_TRANSACTION}), and runs on this shard's.
         */
        SNAPSHOT,
        /**
         * A connection of its own to the node, outside the connection's transaction (an atomic cross-shard read in a
         * transaction that has not written).
         */
        APART
    }

    /** Why a node was chosen. */
    public enum Why {
        /** The statement writes: the primary. */
        WRITE,
        /** {@code readFrom=primary} (or {@code SET shardline.read_from = 'primary'}). */
        READ_FROM_PRIMARY,
        /** A sequence function: the home primary, outside the transaction unless that runs there. */
        SEQUENCE,
        /**
         * {@code SELECT set_config(name, value, true)} of a custom setting before the transaction's first statement:
         * the home primary outside the transaction (its answer), the setting kept for every shard the transaction
         * reaches.
         */
        TRANSACTION_SETTING,
        /** The statement leads with {@code /*NO LOAD BALANCE*}{@code /}. */
        NO_LOAD_BALANCE,
        /** A read in a read-write transaction: the primary. */
        READ_WRITE_TRANSACTION,
        /** A read in a read-only SERIALIZABLE transaction: the primary (a hot standby cannot run one). */
        SERIALIZABLE,
        /** A replica within the staleness bound that replayed what the session must see. */
        REPLICA,
        /** A replica within the bound, polled until it replays {@link #lsn()} (rywWaitMs). */
        REPLICA_WAIT,
        /** No replica within the staleness bound (or no lag report): the primary. */
        NO_FRESH_REPLICA,
        /** No replica within the bound is known to have replayed {@link #lsn()}: the primary. */
        NOT_REPLAYED,
        /**
         * A leg of an atomic cross-shard read ({@code crossShardConsistency=atomic}): the shard's primary, read in
         * one REPEATABLE READ snapshot taken with the other shards' and checked to see every multi-shard
         * transaction whole.
         */
        ATOMIC_SNAPSHOT,
        /** The transaction's connection on that shard. */
        TRANSACTION,
        /**
         * A read-only REPEATABLE READ (or SERIALIZABLE) transaction with {@code crossShardConsistency=atomic}: every
         * shard's primary, in one snapshot per shard taken at its first statement and checked to see every
         * multi-shard transaction whole, so all its statements read one moment of the whole cluster.
         */
        SNAPSHOT_TRANSACTION,
        /** The connection is bound by {@code forKey(...)}. */
        PINNED
    }

    public static Route node(int shard, Node node, Use use, Why why) {
        return new Route(Target.NODE, shard, node, use, why, 0, null, List.of(), null, null);
    }

    public static Route replica(int shard, Node node, Use use, Why why, long lsn, Node fallback) {
        return new Route(Target.NODE, shard, node, use, why, lsn, fallback, List.of(), null, null);
    }

    public static Route refused(String sqlState, String message) {
        return new Route(Target.REFUSED, -1, null, null, null, 0, null, List.of(), message, sqlState);
    }

    public static Route driver(String command) {
        return new Route(Target.DRIVER, -1, null, null, null, 0, null, List.of(), command, null);
    }

    static Route pending() {
        return new Route(Target.PENDING, -1, null, null, null, 0, null, List.of(), null, null);
    }

    static Route legs(Target target, List<Route> legs, String message) {
        return new Route(target, -1, null, null, null, 0, null, List.copyOf(legs), message, null);
    }

    /** The error of a {@link Target#REFUSED} route. */
    public SQLException refusal() {
        return new SQLException(message, sqlState);
    }

    /** The leg of {@code shard} of a multi-node route, or null. */
    public Route leg(int shard) {
        for (Route leg : legs) {
            if (leg.shard == shard) {
                return leg;
            }
        }
        return null;
    }
}
