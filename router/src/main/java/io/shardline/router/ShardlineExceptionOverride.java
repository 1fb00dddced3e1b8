package io.shardline.router;

import com.zaxxer.hikari.SQLExceptionOverride;
import java.sql.SQLException;

/**
 * For an application's own HikariCP pool of Shardline connections ({@code exceptionOverrideClassName}; the Spring
 * Boot starter sets it). HikariCP takes SQLState {@code 0A000} for a broken connection and evicts it, while from this
 * driver it is a statement refused — one it cannot route, or PostgreSQL's own feature_not_supported — on a logical
 * connection that stays usable: without this, the application's {@code rollback()} after a refusal fails with
 * "Connection is closed" (hiding the refusal behind it) and the pool opens a new connection per refusal. Every other
 * state is left to HikariCP's own judgement.
 */
public final class ShardlineExceptionOverride implements SQLExceptionOverride {
    @java.lang.Override
    public SQLExceptionOverride.Override adjudicate(SQLException e) {
        return SqlStates.FEATURE_NOT_SUPPORTED.equals(e.getSQLState())
                ? SQLExceptionOverride.Override.DO_NOT_EVICT
                : SQLExceptionOverride.Override.CONTINUE_EVICT;
    }
}
