package io.shardline.router.exec;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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

    /** Forgets one setting ({@code RESET setting}) or all ({@code RESET ALL}, {@code DISCARD ALL}). */
    void reset(String setting) {
        if (setting == null || setting.equals("all")) {
            statements.clear();
        } else {
            statements.remove(setting);
        }
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
