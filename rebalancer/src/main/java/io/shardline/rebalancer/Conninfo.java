package io.shardline.rebalancer;

import io.shardline.topology.Node;
import io.shardline.topology.PgTls;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * libpq connection strings ({@code key=value} pairs) as PostgreSQL reads them in {@code primary_conninfo} and a
 * subscription's {@code CONNECTION}: parsed, and written with every value quoted, so a password with a space or a
 * quote stays whole (and never ends up in an error message about the string's syntax).
 */
final class Conninfo {
    private Conninfo() {}

    /**
     * {@code conninfo} (libpq's {@code key=value} form) with {@code host} and {@code port} of {@code node}; every
     * other setting kept as it was.
     */
    static String withHostAndPort(String conninfo, Node node) {
        Map<String, String> settings = parse(conninfo);
        settings.remove("hostaddr");
        settings.put("host", node.host());
        settings.put("port", Integer.toString(node.port()));
        return format(settings);
    }

    /** {@code settings} as libpq's {@code key='value'} pairs, each value quoted (spaces, quotes, backslashes kept). */
    static String format(Map<String, String> settings) {
        StringBuilder out = new StringBuilder();
        for (Map.Entry<String, String> e : settings.entrySet()) {
            if (out.length() > 0) {
                out.append(' ');
            }
            out.append(e.getKey())
                    .append("='")
                    .append(e.getValue().replace("\\", "\\\\").replace("'", "\\'"))
                    .append('\'');
        }
        return out.toString();
    }

    /**
     * How a node's database is reached as {@code user} with {@code password} (none when null), with this process's
     * TLS settings ({@link PgTls}: their files must exist at the same paths on the server that uses the string).
     */
    static String of(Node node, String database, String user, String password) {
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("host", node.host());
        settings.put("port", Integer.toString(node.port()));
        settings.put("dbname", database);
        settings.put("user", user);
        if (password != null) {
            settings.put("password", password);
        }
        settings.putAll(PgTls.processDefault().keywords());
        return format(settings);
    }

    /** libpq's {@code key=value} pairs, values bare or single-quoted with backslash escapes. */
    static Map<String, String> parse(String conninfo) {
        Map<String, String> settings = new LinkedHashMap<>();
        int i = 0;
        int n = conninfo.length();
        while (i < n) {
            while (i < n && Character.isWhitespace(conninfo.charAt(i))) {
                i++;
            }
            if (i == n) {
                break;
            }
            int eq = conninfo.indexOf('=', i);
            if (eq < 0) {
                throw new IllegalArgumentException("a connection string setting without '=' at position " + i);
            }
            String key = conninfo.substring(i, eq).trim();
            i = eq + 1;
            while (i < n && Character.isWhitespace(conninfo.charAt(i))) {
                i++;
            }
            StringBuilder value = new StringBuilder();
            if (i < n && conninfo.charAt(i) == '\'') {
                i++;
                while (i < n && conninfo.charAt(i) != '\'') {
                    char c = conninfo.charAt(i);
                    if (c == '\\' && i + 1 < n) {
                        c = conninfo.charAt(++i);
                    }
                    value.append(c);
                    i++;
                }
                if (i == n) {
                    throw new IllegalArgumentException("an unterminated quoted value of " + key);
                }
                i++;
            } else {
                while (i < n && !Character.isWhitespace(conninfo.charAt(i))) {
                    char c = conninfo.charAt(i);
                    if (c == '\\' && i + 1 < n) {
                        c = conninfo.charAt(++i);
                    }
                    value.append(c);
                    i++;
                }
            }
            settings.put(key, value.toString());
        }
        return settings;
    }
}
