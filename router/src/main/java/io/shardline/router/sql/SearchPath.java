package io.shardline.router.sql;

import java.util.ArrayList;
import java.util.List;

/**
 * The schemas an unqualified table name is looked up in, in order: PostgreSQL's {@code search_path} of a session,
 * {@code $user} resolved. A schema that does not exist holds no relation, so it never matches.
 *
 * @param schemas the schema names as PostgreSQL stores them
 */
public record SearchPath(List<String> schemas) {
    public SearchPath {
        schemas = List.copyOf(schemas);
    }

    /**
     * Parses a {@code search_path} setting as {@code current_setting('search_path')} gives it: names separated by
     * commas, {@code "quoted"} ones as written, others with A-Z folded; {@code $user} becomes {@code user}.
     *
     * @throws IllegalArgumentException for an unterminated quote
     */
    public static SearchPath parse(String setting, String user) {
        List<String> schemas = new ArrayList<>();
        int n = setting.length();
        int i = 0;
        while (i < n) {
            char c = setting.charAt(i);
            if (Character.isWhitespace(c) || c == ',') {
                i++;
                continue;
            }
            String name;
            if (c == '"') {
                StringBuilder quoted = new StringBuilder();
                int j = i + 1;
                while (true) {
                    if (j >= n) {
                        throw new IllegalArgumentException("an unterminated quoted name in search_path " + setting);
                    }
                    if (setting.charAt(j) == '"') {
                        if (j + 1 < n && setting.charAt(j + 1) == '"') {
                            quoted.append('"');
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    quoted.append(setting.charAt(j++));
                }
                name = quoted.toString();
                i = j + 1;
            } else {
                int j = setting.indexOf(',', i);
                j = j < 0 ? n : j;
                name = SqlNames.fold(setting.substring(i, j).strip());
                i = j;
            }
            schemas.add(name.equals("$user") ? user : name);
        }
        return new SearchPath(schemas);
    }
}
