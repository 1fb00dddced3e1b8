package io.shardline.console;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.springframework.security.crypto.bcrypt.BCryptPasswordEncoder;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * The console's users file (YAML):
 *
 * <pre>
 * users:
 *   - name: alice
 *     role: OPERATOR
 *     password: "{bcrypt}$2a$10$..."
 * </pre>
 *
 * <p>Only bcrypt hashes are accepted: a plain password in the file is refused, naming the user (never the value).
 * {@code ./shardline console hash-password} prints the hash of a password read from the terminal.
 */
public final class ConsoleUsers {
    private static final YAMLMapper YAML = YAMLMapper.builder().build();
    private static final BCryptPasswordEncoder BCRYPT = new BCryptPasswordEncoder();
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

    private ConsoleUsers() {}

    /** A user made for one run, with the password to give to the person. */
    public record Generated(ConsoleUser user, String password) {
        @Override
        public String toString() {
            return "Generated[" + user + "]";
        }
    }

    /**
     * Reads and checks a users file.
     *
     * @throws IllegalArgumentException naming the file and the entry when it is malformed
     */
    public static List<ConsoleUser> read(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the users file " + file + ": " + e.getMessage(), e);
        }
        return parse(text, file.toString());
    }

    /** Parses users YAML; {@code source} names it in errors. */
    static List<ConsoleUser> parse(String yaml, String source) {
        JsonNode root;
        try {
            root = YAML.readTree(yaml);
        } catch (JacksonException e) {
            throw new IllegalArgumentException(source + " is not valid YAML: " + e.getOriginalMessage(), e);
        }
        if (root == null
                || !root.isObject()
                || !root.has("users")
                || !root.get("users").isArray()) {
            throw new IllegalArgumentException(
                    source + ": expected 'users:' with a list of {name, role, password}, e.g. users: [{name: alice,"
                            + " role: OPERATOR, password: \"{bcrypt}...\"}]");
        }
        for (String field : root.propertyNames()) {
            if (!field.equals("users")) {
                throw new IllegalArgumentException(source + ": unknown key '" + field + "' (only 'users')");
            }
        }
        List<ConsoleUser> users = new ArrayList<>();
        Set<String> names = new HashSet<>();
        int index = 0;
        for (JsonNode entry : root.get("users")) {
            String where = source + ": users[" + index++ + "]";
            if (!entry.isObject()) {
                throw new IllegalArgumentException(where + " is not a {name, role, password} entry");
            }
            for (String field : entry.propertyNames()) {
                if (!Set.of("name", "role", "password").contains(field)) {
                    throw new IllegalArgumentException(
                            where + ": unknown key '" + field + "' (expected name, role, password)");
                }
            }
            String name = text(entry, "name", where);
            where = source + ": user '" + name + "'";
            if (!name.matches("[A-Za-z0-9._@-]{1,64}")) {
                throw new IllegalArgumentException(where + ": a name is 1-64 letters, digits, '.', '_', '@' or '-'");
            }
            if (!names.add(name)) {
                throw new IllegalArgumentException(where + " is listed twice");
            }
            String roleText = text(entry, "role", where);
            Role role;
            try {
                role = Role.valueOf(roleText.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(
                        where + ": role '" + roleText + "' is unknown (VIEWER or OPERATOR)", e);
            }
            String password = text(entry, "password", where);
            if (!password.startsWith("{bcrypt}$2")) {
                throw new IllegalArgumentException(where
                        + ": the password must be a bcrypt hash written as \"{bcrypt}$2a$...\" (make one with"
                        + " ./shardline console hash-password); plain passwords are not accepted");
            }
            users.add(new ConsoleUser(name, role, password));
        }
        if (users.isEmpty()) {
            throw new IllegalArgumentException(source + ": 'users' is empty: nobody could log in");
        }
        return List.copyOf(users);
    }

    /** A user with a random 20-character password, for the demo or a run without a users file. */
    public static Generated generate(String name, Role role) {
        StringBuilder password = new StringBuilder();
        for (int i = 0; i < 20; i++) {
            password.append(ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length())));
        }
        return new Generated(new ConsoleUser(name, role, hash(password.toString())), password.toString());
    }

    /** The users-file form of {@code password}: {@code {bcrypt}$2a$10$...}. */
    public static String hash(CharSequence password) {
        return "{bcrypt}" + BCRYPT.encode(password);
    }

    /** The YAML of a users file holding {@code users}. */
    public static String toYaml(List<ConsoleUser> users) {
        List<Map<String, String>> entries = users.stream()
                .map(u -> Map.of("name", u.name(), "role", u.role().name(), "password", u.passwordHash()))
                .toList();
        return YAML.writeValueAsString(Map.of("users", entries));
    }

    private static String text(JsonNode entry, String field, String where) {
        JsonNode value = entry.get(field);
        if (value == null
                || value.isNull()
                || !value.isValueNode()
                || value.asString().isBlank()) {
            throw new IllegalArgumentException(where + ": '" + field + "' is missing");
        }
        return value.asString().trim();
    }
}
