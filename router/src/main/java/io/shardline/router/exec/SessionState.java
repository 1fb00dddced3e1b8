package io.shardline.router.exec;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The session settings a logical connection has made ({@code SET ...}), kept as the statements themselves
 * so every physical connection it uses, replicas included, gets exactly what the application said.
 */
final class SessionState {
    private final Map<String, String> statements = new LinkedHashMap<>();
    private int version;

    int version() {
        return version;
    }

    boolean isEmpty() {
        return statements.isEmpty();
    }

    /** Records {@code SET setting ...}; a later SET of the same setting replaces it. */
    void set(String setting, String sql) {
        statements.remove(setting);
        statements.put(setting, sql);
        version++;
    }

    /** What {@code RESET ALL} leaves as it is, as PostgreSQL does: the role and the session user. */
    private static final Set<String> KEPT_BY_RESET_ALL = Set.of("role", "session", "session_authorization");

    /**
     * Forgets one setting ({@code RESET setting}), or ({@code all}: {@code RESET ALL}) every one but the role and the
     * session user.
     */
    void reset(String setting) {
        if (setting == null || setting.equals("all")) {
            statements.keySet().removeIf(k -> !KEPT_BY_RESET_ALL.contains(k));
        } else {
            statements.remove(setting);
        }
        version++;
    }

    /** Forgets every setting ({@code DISCARD ALL}). */
    void discardAll() {
        statements.clear();
        version++;
    }

    /** A copy of the settings now, for {@link #restore}. */
    SessionState copy() {
        SessionState copy = new SessionState();
        copy.statements.putAll(statements);
        copy.version = version;
        return copy;
    }

    /** Returns to the settings {@code saved} held (a rolled-back transaction's SETs are undone), as a new version. */
    void restore(SessionState saved) {
        statements.clear();
        statements.putAll(saved.statements);
        version = Math.max(version, saved.version) + 1;
    }

    /** The statements to replay on a fresh physical connection, in order. */
    List<String> replay() {
        return new ArrayList<>(statements.values());
    }
}
