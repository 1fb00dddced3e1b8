package io.shardline.router.exec;

import io.shardline.router.ShardlineConnection.RouteExplanation;
import io.shardline.router.route.CausalToken;
import io.shardline.router.route.Route;
import io.shardline.router.route.RouteContext;
import io.shardline.router.route.RoutingState;
import io.shardline.router.sql.CrossShardQuery;
import io.shardline.router.sql.Plan;
import io.shardline.router.sql.SearchPath;
import io.shardline.router.sql.TransactionModes;
import io.shardline.topology.Lsn;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Renders a {@link Route} as {@code explainRoute} rows: one per node, with why it was chosen. */
final class Explanations {
    private Explanations() {}

    static List<RouteExplanation> render(
            RoutingState r,
            Plan plan,
            Object[] params,
            Route route,
            String sql,
            RouteContext c,
            SearchPath searchPath,
            long rywWaitMs)
            throws SQLException {
        switch (route.target()) {
            case REFUSED:
                return List.of(refused(route.sqlState(), route.message()));
            case DRIVER:
                return List.of(new RouteExplanation(-1, null, null, "handled by the driver: " + route.message()));
            case PENDING:
                return List.of(new RouteExplanation(
                        -1, null, null, "kept until the transaction's first statement chooses its shard"));
            case EVERY_PRIMARY:
                return legs(
                        route,
                        leg -> plan.kind() + " on every shard's primary, each on its own outside a transaction block"
                                + " (reported per shard)");
            case ALL_OR_NONE:
                return legs(
                        route,
                        leg -> plan.kind() + " on every shard's primary, all or nothing: a transaction on each,"
                                + " committed when it succeeded on every shard (twoPhaseCommit=false)");
            case EVERY_SHARD:
                if (plan.target() == Plan.Target.ALL_PRIMARIES) {
                    return legs(
                            route,
                            leg -> plan.kind() + " on every shard's primary in one two-phase-commit transaction"
                                    + use(leg));
                }
                if (plan.target() == Plan.Target.REFERENCE_WRITE) {
                    return legs(
                            route,
                            leg -> route.message() + ": on the copy of every shard's primary in one"
                                    + " two-phase-commit transaction" + use(leg));
                }
                if (plan.splitsRowsWhenSpanning()) {
                    return legs(
                            route,
                            leg -> route.message() + ": each shard's rows on its primary, in one two-phase-commit"
                                    + " transaction" + use(leg));
                }
                return legs(
                        route,
                        leg -> (plan.target() == Plan.Target.KEYED ? "keys on several shards (" : "no shard key (")
                                + route.message() + "): on every shard's primary in one two-phase-commit transaction"
                                + use(leg));
            case CROSS_SHARD: {
                CrossShardQuery query;
                try {
                    query = r.crossShard(plan.crossShardSql(sql), true, searchPath);
                } catch (SQLException e) {
                    return List.of(refused(e.getSQLState(), e.getMessage()));
                }
                boolean atomic = route.legs().stream()
                        .allMatch(leg ->
                                leg.why() == Route.Why.ATOMIC_SNAPSHOT || leg.why() == Route.Why.SNAPSHOT_TRANSACTION);
                String relaxed = atomic
                        ? ""
                        : c.transactionShard() >= 0
                                ? "; not atomic: this transaction "
                                        + (c.transactionWrote()
                                                ? "wrote"
                                                : "is bound to its" + " shard or REPEATABLE READ read-write")
                                        + ", so the shards it reached are read"
                                        + " in it and the others apart, each at its own moment"
                                : "; not atomic (crossShardConsistency=relaxed, or no ZooKeeper URL): each shard read at its own"
                                        + " moment";
                return legs(
                        route,
                        leg -> "cross-shard read (" + route.message() + "): " + query.description() + "; "
                                + why(leg, c, rywWaitMs)
                                + (leg.shard() == r.homeShard() ? "; the final query runs here" : "")
                                + relaxed);
            }
            case NODE:
            default:
                return List.of(row(route, shardReason(r, plan, route) + "; " + why(route, c, rywWaitMs)));
        }
    }

    private static RouteExplanation refused(String sqlState, String message) {
        return new RouteExplanation(-1, null, null, "refused (" + sqlState + "): " + message);
    }

    private interface Reason {
        String of(Route leg);
    }

    private static List<RouteExplanation> legs(Route route, Reason reason) {
        List<RouteExplanation> rows = new ArrayList<>();
        for (Route leg : route.legs()) {
            rows.add(row(leg, reason.of(leg)));
        }
        return rows;
    }

    private static RouteExplanation row(Route leg, String reason) {
        return new RouteExplanation(
                leg.shard(), leg.node().name(), leg.node().role().name().toLowerCase(Locale.ROOT), reason);
    }

    private static String shardReason(RoutingState r, Plan plan, Route route) {
        switch (plan.target()) {
            case KEYED:
                return "key " + plan.keyGroups().get(0).sources() + " of "
                        + plan.keyGroups().get(0).tables().get(0).qualifiedName() + " -> shard " + route.shard();
            case HOME:
                return "a table that is not sharded -> home shard " + route.shard();
            case ANY:
                return "no table, or only reference tables (every shard holds them) -> shard " + route.shard()
                        + (route.shard() == r.homeShard() ? " (home)" : " (the connection's)");
            default:
                return plan.target().name().toLowerCase(Locale.ROOT) + " -> shard " + route.shard();
        }
    }

    private static String why(Route route, RouteContext c, long rywWaitMs) {
        String staleness = c.maxStalenessMs() < 0 ? "any staleness" : c.maxStalenessMs() + " ms of staleness";
        String text = switch (route.why()) {
            case WRITE -> "a write -> primary";
            case READ_FROM_PRIMARY -> "READ -> primary (readFrom=primary)";
            case NO_LOAD_BALANCE -> "READ -> primary (/*NO LOAD BALANCE*/)";
            case SEQUENCE -> "sequence function -> the home shard's primary, outside any transaction on another shard";
            case TRANSACTION_SETTING ->
                "set_config(..., true) before the transaction's first statement -> the home shard's primary outside"
                        + " the transaction; the transaction sets it on every shard it reaches";
            case READ_WRITE_TRANSACTION -> "READ in a read-write transaction -> primary";
            case SERIALIZABLE -> "READ in a SERIALIZABLE transaction -> primary (a hot standby cannot run one)";
            case REPLICA ->
                "READ -> a replica within " + staleness + " (power of two choices)"
                        + (route.lsn() > 0 ? " that replayed " + Lsn.format(route.lsn()) : "");
            case REPLICA_WAIT ->
                "READ -> waits up to " + rywWaitMs + " ms (rywWaitMs) for "
                        + route.node().name() + " to replay " + Lsn.format(route.lsn()) + ", else the primary";
            case NO_FRESH_REPLICA -> "READ -> primary: no replica within " + staleness;
            case NOT_REPLAYED ->
                "READ -> primary: no replica within " + staleness + " is known to have replayed this session's write"
                        + " (or a shard move's cutover)"
                        + position(route.lsn());
            case ATOMIC_SNAPSHOT ->
                "primary, in one snapshot per shard that sees every multi-shard transaction whole"
                        + " (crossShardConsistency=atomic)";
            case TRANSACTION -> "in the transaction's connection on shard " + route.shard();
            case SNAPSHOT_TRANSACTION ->
                "primary, in this read-only " + TransactionModes.isolationName(c.isolation()) + " transaction's"
                        + " snapshot of every shard, taken at its first statement and checked to see every"
                        + " multi-shard transaction whole (crossShardConsistency=atomic)";
            case PINNED -> "bound by forKey(...) to shard " + route.shard();
        };
        return text + use(route);
    }

    private static String position(long lsn) {
        if (lsn == CausalToken.PENDING) {
            return " (made since the last lag report: its position is read once a newer report comes)";
        }
        return lsn == CausalToken.UNKNOWN ? " (its position could not be read)" : " at " + Lsn.format(lsn);
    }

    private static String use(Route route) {
        switch (route.use()) {
            case BEGIN:
                return "; starts the transaction";
            case SNAPSHOT:
                return "; starts the transaction on every shard at once";
            case APART:
                return route.why() == Route.Why.SEQUENCE
                        ? "; on a connection of its own, outside this transaction (which joined the home shard to read"
                                + " only)"
                        : "; on a connection of its own, outside this transaction (which has not written, so the read"
                                + " sees what a statement starting now would)";
            case JOIN:
                return "; joins the transaction (two-phase commit)";
            case READ_JOIN:
                return "; joins the transaction to read only (READ ONLY: no two-phase commit; its writes stay on the"
                        + " shard it started on)";
            default:
                return "";
        }
    }
}
