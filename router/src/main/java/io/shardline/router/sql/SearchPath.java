package io.shardline.router.sql;

import java.util.List;

/**
 * The schemas an unqualified table name is looked up in, in order: PostgreSQL's {@code search_path} of a session as
 * {@code current_schemas(false)} gives it ({@code $user} resolved, schemas that do not exist left out).
 */
public record SearchPath(List<String> schemas) {
    public SearchPath {
        schemas = List.copyOf(schemas);
    }
}
