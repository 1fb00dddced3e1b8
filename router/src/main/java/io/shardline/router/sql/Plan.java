package io.shardline.router.sql;

import java.util.List;

/**
 * What the analysis of one SQL text found: enough to choose nodes, computed once per text and cached.
 *
 * @param kind what the statement does
 * @param target where it goes, see {@link Target}
 * @param keyGroups for {@link Target#KEYED}: the key values that decide the shard
 * @param refusal for {@link Target#REFUSED}: why, naming the table and what is missing; for
 *     {@link Target#EVERY_SHARD}: why it cannot go to one shard (the refusal when two-phase commit is off); for
 *     {@link Target#REFERENCE_WRITE}: the reference table written; for {@link Target#KEYED}, when not null: why it
 *     may not run across shards (it calls a distributed function), the refusal when its keys map to several
 * @param command for TXN and SESSION statements: the leading keyword(s), upper case (e.g. {@code BEGIN},
 *     {@code SET}, {@code RESET}, {@code SHOW}), with {@link #setting} the parameter name for SET/RESET; for a
 *     {@link Target#KEYED} write, {@link #ON_EVERY_SHARD} when it may run on every shard should its keys map to
 *     several ({@link #everyShardWhenSpanning})
 * @param setting the lower-case parameter name of a SET/RESET ({@code all} for RESET ALL), or null
 * @param parameterCount the number of {@code ?} placeholders
 * @param sessionEffects whether the statement may leave state in the database session beyond SET (LISTEN,
 *     temporary objects, session advisory locks, {@code set_config(..., false)}, cursors WITH HOLD, DO and CALL):
 *     a physical connection that ran one is reset with {@code DISCARD ALL} before the next borrower gets it
 * @param onPrimary whether a read must run on a primary ({@code /*NO LOAD BALANCE*}{@code /} leading the statement,
 *     as with pgpool)
 * @param setConfig for {@code SELECT set_config(name, value, is_local)} alone: its three arguments (literals or
 *     parameters), so the driver records a session-wide setting as it records {@code SET}; else empty
 * @param expanded for a read of views over sharded tables: the statement with each such view replaced by its
 *     definition — what a cross-shard read plans (a single shard runs the statement as written); else null
 */
public record Plan(
        StatementKind kind,
        Target target,
        List<KeyGroup> keyGroups,
        String refusal,
        String command,
        String setting,
        int parameterCount,
        boolean sessionEffects,
        boolean onPrimary,
        List<KeySource> setConfig,
        String expanded) {

    /** Where a statement goes. */
    public enum Target {
        /** The home shard: the statement names tables that are not sharded (they live there). */
        HOME,
        /**
         * Any shard: the statement names no table (or only catalog tables): the shard the connection's transaction
         * or binding is on, else the home shard.
         */
        ANY,
        /**
         * A sequence function ({@code nextval}, {@code currval}, {@code setval}, {@code lastval}) on no table: the home
         * shard's primary, where sequences live — in the transaction when it runs there, else outside it (sequences
         * are not transactional), so a transaction may take its keys there and write on another shard.
         */
        SEQUENCE,
        /** The one shard the key values map to. */
        KEYED,
        /**
         * Every shard's primary, all or nothing (DDL on sharded tables and shared objects): inside the connection's
         * transaction, or one of its own that commits only when the statement succeeded on every shard.
         */
        ALL_PRIMARIES,
        /**
         * Every shard's primary, each on its own in autocommit mode, reported per shard: commands PostgreSQL runs
         * outside transaction blocks ({@code CREATE INDEX CONCURRENTLY}, {@code VACUUM}...) and maintenance.
         */
        EACH_PRIMARY,
        /**
         * A write to a reference table ({@link #refusal} names it): every shard's primary holding reference tables,
         * inside one transaction committed with two-phase commit; refused when that is off.
         */
        REFERENCE_WRITE,
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
        setConfig = List.copyOf(setConfig);
    }

    Plan(
            StatementKind kind,
            Target target,
            List<KeyGroup> keyGroups,
            String refusal,
            String command,
            String setting,
            int parameterCount) {
        this(kind, target, keyGroups, refusal, command, setting, parameterCount, false, false, List.of(), null);
    }

    /** This plan, marked as leaving state in the session. */
    Plan withSessionEffects() {
        return sessionEffects
                ? this
                : new Plan(
                        kind,
                        target,
                        keyGroups,
                        refusal,
                        command,
                        setting,
                        parameterCount,
                        true,
                        onPrimary,
                        setConfig,
                        expanded);
    }

    /** This plan, its reads on a primary. */
    public Plan readOnPrimary() {
        return onPrimary
                ? this
                : new Plan(
                        kind,
                        target,
                        keyGroups,
                        refusal,
                        command,
                        setting,
                        parameterCount,
                        sessionEffects,
                        true,
                        setConfig,
                        expanded);
    }

    /** This plan, with the arguments of the {@code set_config(name, value, is_local)} it is. */
    Plan withSetConfig(List<KeySource> arguments) {
        return new Plan(
                kind,
                target,
                keyGroups,
                refusal,
                command,
                setting,
                parameterCount,
                sessionEffects,
                onPrimary,
                arguments,
                expanded);
    }

    /** This plan, made from {@code sql} with views over sharded tables expanded. */
    Plan withExpanded(String sql) {
        return new Plan(
                kind,
                target,
                keyGroups,
                refusal,
                command,
                setting,
                parameterCount,
                sessionEffects,
                onPrimary,
                setConfig,
                sql);
    }

    /** PostgreSQL's longest identifier: a longer name would be cut short when set again as {@code SET LOCAL name}. */
    private static final int MAX_NAME_BYTES = 63;

    /**
     * For {@code SELECT set_config(name, value, true)} of a custom setting ({@code app.tenant}: a name with a dot,
     * not one of the driver's {@code shardline.*}) with these parameter values (index 1 at position 1): {@code {name,
     * value}} (the value given as text: a literal or a string parameter); else null. Such a transaction-local setting (a
     * row-level-security tenant, an audit user) is what a transaction carries to every shard it reaches.
     */
    public String[] transactionLocalSetting(Object[] params) {
        String name = transactionLocalName(params);
        // a value given as text only: what else the driver holds of a parameter (a timestamp's, a stream's: nothing;
        // an object's toString) is not the text the server set
        return name != null && argument(setConfig.get(1), params) instanceof String v ? new String[] {name, v} : null;
    }

    /**
     * The name {@link #transactionLocalSetting} sets, whatever the value's type; null for another statement.
     */
    public String transactionLocalName(Object[] params) {
        if (setConfig.isEmpty()) {
            return null;
        }
        Object name = argument(setConfig.get(0), params);
        Object local = argument(setConfig.get(2), params);
        if (!Boolean.TRUE.equals(bool(local))
                || !(name instanceof String n)
                || n.indexOf('.') <= 0
                || n.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_NAME_BYTES
                || n.toLowerCase(java.util.Locale.ROOT).startsWith("shardline.")) {
            return null;
        }
        return n;
    }

    /**
     * Whether {@code sql} (of this plan) calls {@code set_config} in a way the driver does not carry to the other
     * shards a transaction reaches: a spelling it does not read ({@code ?::text}, two calls...), or a transaction-local
     * setting that is not a custom one ({@code role}, {@code search_path}). Such a statement binds the transaction to
     * its shard, as {@code SET LOCAL} does.
     */
    public boolean setsUncarried(String sql, Object[] params) {
        if (!sessionEffects || !sql.toLowerCase(java.util.Locale.ROOT).contains("set_config")) {
            return false;
        }
        if (setConfig.isEmpty()) {
            return true;
        }
        return transactionLocalName(params) == null && !Boolean.FALSE.equals(bool(argument(setConfig.get(2), params)));
    }

    /**
     * A boolean argument as PostgreSQL reads one ({@code true}, {@code 't'}, {@code 'on'}, {@code 'yes'}, {@code '1'}
     * and their false forms, any case, spaces around), or null when it is not one.
     */
    public static Boolean bool(Object value) {
        if (value instanceof Boolean b) {
            return b;
        }
        if (!(value instanceof String s)) {
            return null;
        }
        return switch (s.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "t", "tr", "tru", "true", "y", "ye", "yes", "on", "1" -> Boolean.TRUE;
            case "f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0" -> Boolean.FALSE;
            default -> null;
        };
    }

    /** The value of {@code source} with these parameter values (index 1 at position 1); null when unset. */
    public static Object argument(KeySource source, Object[] params) {
        if (!source.isParameter()) {
            return source.literal();
        }
        return params != null && source.parameterIndex() < params.length ? params[source.parameterIndex()] : null;
    }

    /** The SQL a cross-shard read of {@code sql} plans: the expanded statement, or {@code sql} itself. */
    public String crossShardSql(String sql) {
        return expanded != null ? expanded : sql;
    }

    static Plan home(StatementKind kind, int params) {
        return new Plan(kind, Target.HOME, List.of(), null, null, null, params);
    }

    static Plan any(StatementKind kind, int params) {
        return new Plan(kind, Target.ANY, List.of(), null, null, null, params);
    }

    static Plan sequence(StatementKind kind, int params) {
        return new Plan(kind, Target.SEQUENCE, List.of(), null, null, null, params);
    }

    static Plan keyed(StatementKind kind, List<KeyGroup> groups, int params) {
        return new Plan(kind, Target.KEYED, groups, null, null, null, params);
    }

    /** What {@link #command} holds for a keyed write that may run on every shard. */
    static final String ON_EVERY_SHARD = "on every shard";

    /**
     * Keyed, and when its keys map to several shards run on every shard (under two-phase commit, as a write without
     * a key): an {@code UPDATE} or {@code DELETE} without {@code RETURNING} of one sharded table, which changes on
     * each shard only the rows it holds ({@code DELETE ... WHERE id IN (?, ?, ?)}).
     */
    static Plan keyedOrEveryShard(StatementKind kind, List<KeyGroup> groups, int params) {
        return new Plan(kind, Target.KEYED, groups, null, ON_EVERY_SHARD, null, params);
    }

    /** What {@link #command} holds for a multi-row INSERT whose rows may be split by shard. */
    static final String SPLIT_ROWS = "split rows";

    /**
     * Keyed, and when its rows' keys map to several shards each shard gets its own rows (under two-phase commit): an
     * {@code INSERT ... VALUES (...), (...)} of one sharded table without {@code RETURNING} or subqueries, its key
     * group's sources one per row, in order ({@link InsertRows}).
     */
    static Plan keyedOrSplit(StatementKind kind, List<KeyGroup> groups, int params) {
        return new Plan(kind, Target.KEYED, groups, null, SPLIT_ROWS, null, params);
    }

    /** Whether this keyed INSERT is split by shard when its rows' keys map to several ({@link #keyedOrSplit}). */
    public boolean splitsRowsWhenSpanning() {
        return target == Target.KEYED && SPLIT_ROWS.equals(command);
    }

    /** Whether this keyed write runs on every shard when its keys map to several ({@link #keyedOrEveryShard}). */
    public boolean everyShardWhenSpanning() {
        return target == Target.KEYED && ON_EVERY_SHARD.equals(command);
    }

    /** Keyed, and never across shards: {@code why} says why (it calls a distributed function). */
    static Plan keyedOnly(StatementKind kind, List<KeyGroup> groups, String why, int params) {
        return new Plan(kind, Target.KEYED, groups, why, null, null, params);
    }

    static Plan allPrimaries(StatementKind kind, int params) {
        return new Plan(kind, Target.ALL_PRIMARIES, List.of(), null, null, null, params);
    }

    static Plan referenceWrite(StatementKind kind, String table, int params) {
        return new Plan(kind, Target.REFERENCE_WRITE, List.of(), table, null, null, params);
    }

    static Plan eachPrimary(StatementKind kind, int params) {
        return new Plan(kind, Target.EACH_PRIMARY, List.of(), null, null, null, params);
    }

    static Plan everyShard(StatementKind kind, String why, int params) {
        return new Plan(kind, Target.EVERY_SHARD, List.of(), why, null, null, params);
    }

    static Plan crossShard(String why, int params) {
        return new Plan(StatementKind.READ, Target.CROSS_SHARD, List.of(), why, null, null, params);
    }

    static Plan refused(StatementKind kind, String why, int params) {
        return new Plan(kind, Target.REFUSED, List.of(), why, null, null, params);
    }

    static Plan driver(StatementKind kind, String command, String setting, int params) {
        return new Plan(kind, Target.DRIVER, List.of(), null, command, setting, params);
    }

    /**
     * {@code SET TRANSACTION modes}: before the transaction's first statement they are the transaction's own
     * (applied on every shard it reaches); after it, on the transaction's connection.
     */
    static Plan transactionModes(String modes, int params) {
        return new Plan(StatementKind.SESSION, Target.BOUND, List.of(), null, "SET TRANSACTION", modes, params);
    }

    static Plan bound(StatementKind kind, String command, int params) {
        return new Plan(kind, Target.BOUND, List.of(), null, command, null, params);
    }

    /**
     * {@code SAVEPOINT}, {@code RELEASE} or {@code ROLLBACK TO} a savepoint: bound like {@link #bound}, {@link
     * #setting()} holds the savepoint's name (null when it cannot be read).
     */
    static Plan savepoint(String command, String name, int params) {
        return new Plan(StatementKind.TXN, Target.BOUND, List.of(), null, command, name, params);
    }
}
