package io.shardline.router.sql;

import java.util.List;

/**
 * What the analysis of one SQL text found: enough to choose nodes, computed once per text and cached.
 *
 * @param kind what the statement does
 * @param target where it goes, see {@link Target}
 * @param keyGroups for {@link Target#KEYED}: the key values that decide the shard
 * @param refusal for {@link Target#REFUSED}: why, naming the table and what is missing; for
 *     {@link Target#EVERY_SHARD}: why it cannot go to one shard (the refusal when two-phase commit is off)
 * @param command for TXN and SESSION statements: the leading keyword(s), upper case (e.g. {@code BEGIN},
 *     {@code SET}, {@code RESET}, {@code SHOW}), with {@link #setting} the parameter name for SET/RESET
 * @param setting the lower-case parameter name of a SET/RESET ({@code all} for RESET ALL), or null
 * @param parameterCount the number of {@code ?} placeholders
 * @param sessionEffects whether the statement may leave state in the database session beyond SET (LISTEN,
 *     temporary objects, session advisory locks, {@code set_config(..., false)}, cursors WITH HOLD, DO and CALL):
 *     a physical connection that ran one is reset with {@code DISCARD ALL} before the next borrower gets it
 */
public record Plan(
        StatementKind kind,
        Target target,
        List<KeyGroup> keyGroups,
        String refusal,
        String command,
        String setting,
        int parameterCount,
        boolean sessionEffects) {

    /** Where a statement goes. */
    public enum Target {
        /** The home shard: the statement names tables that are not sharded (they live there). */
        HOME,
        /**
         * Any shard: the statement names no table (or only catalog tables): the shard the connection's transaction
         * or binding is on, else the home shard.
         */
        ANY,
        /** The one shard the key values map to. */
        KEYED,
        /** Every shard's primary (DDL on sharded tables and shared objects). */
        ALL_PRIMARIES,
        /**
         * A write on one sharded table without a provable key (UPDATE/DELETE): every shard's primary inside one
         * transaction committed with two-phase commit; refused when that is off.
         */
        EVERY_SHARD,
        /**
         * A read no single shard can answer (no usable shard key, or sharded and unsharded tables together): each
         * shard's rows or partial aggregates, combined by a final query on one node ({@link CrossShardPlanner}).
         */
        CROSS_SHARD,
        /** The connection the logical connection is bound to (transaction control, SAVEPOINT...). */
        BOUND,
        /** Handled by the driver itself (BEGIN/COMMIT, SET/RESET, SHOW...). */
        DRIVER,
        /** Refused with SQLState 0A000. */
        REFUSED
    }

    public Plan {
        keyGroups = List.copyOf(keyGroups);
    }

    /** This plan, marked as leaving state in the session. */
    Plan withSessionEffects() {
        return sessionEffects
                ? this
                : new Plan(kind, target, keyGroups, refusal, command, setting, parameterCount, true);
    }

    static Plan home(StatementKind kind, int params) {
        return new Plan(kind, Target.HOME, List.of(), null, null, null, params, false);
    }

    static Plan any(StatementKind kind, int params) {
        return new Plan(kind, Target.ANY, List.of(), null, null, null, params, false);
    }

    static Plan keyed(StatementKind kind, List<KeyGroup> groups, int params) {
        return new Plan(kind, Target.KEYED, groups, null, null, null, params, false);
    }

    static Plan allPrimaries(StatementKind kind, int params) {
        return new Plan(kind, Target.ALL_PRIMARIES, List.of(), null, null, null, params, false);
    }

    static Plan everyShard(StatementKind kind, String why, int params) {
        return new Plan(kind, Target.EVERY_SHARD, List.of(), why, null, null, params, false);
    }

    static Plan crossShard(String why, int params) {
        return new Plan(StatementKind.READ, Target.CROSS_SHARD, List.of(), why, null, null, params, false);
    }

    static Plan refused(StatementKind kind, String why, int params) {
        return new Plan(kind, Target.REFUSED, List.of(), why, null, null, params, false);
    }

    static Plan driver(StatementKind kind, String command, String setting, int params) {
        return new Plan(kind, Target.DRIVER, List.of(), null, command, setting, params, false);
    }

    static Plan bound(StatementKind kind, String command, int params) {
        return new Plan(kind, Target.BOUND, List.of(), null, command, null, params, false);
    }
}
