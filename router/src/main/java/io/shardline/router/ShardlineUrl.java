package io.shardline.router;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.SQLException;
import java.util.Properties;

/**
 * A parsed {@code jdbc:shardline:} URL:
 *
 * <pre>
 * jdbc:shardline:zk://host1:2181,host2:2181/shardline/clusters/demo?user=app&amp;readFrom=replica
 * jdbc:shardline:file:/etc/shardline/cluster.yaml?user=app
 * </pre>
 *
 * @param zkConnectString for a ZooKeeper URL, {@code host:port[,host:port]}; else null
 * @param cluster for a ZooKeeper URL, the cluster name; else null
 * @param file for a file URL, the cluster file; else null
 * @param properties the query string's properties
 */
public record ShardlineUrl(String zkConnectString, String cluster, Path file, Properties properties) {
    public static final String PREFIX = "jdbc:shardline:";
    private static final String ZK_PATH = "/shardline/clusters/";

    /**
     * Parses a URL.
     *
     * @throws SQLException (22023) naming the malformed part
     */
    public static ShardlineUrl parse(String url) throws SQLException {
        if (url == null || !url.startsWith(PREFIX)) {
            throw bad(url, "it does not start with " + PREFIX);
        }
        String rest = url.substring(PREFIX.length());
        Properties props = new Properties();
        int q = rest.indexOf('?');
        if (q >= 0) {
            parseQuery(url, rest.substring(q + 1), props);
            rest = rest.substring(0, q);
        }
        if (rest.startsWith("zk://")) {
            String hostsAndPath = rest.substring("zk://".length());
            int slash = hostsAndPath.indexOf('/');
            if (slash <= 0) {
                throw bad(url, "expected zk://host:port[,host:port]" + ZK_PATH + "<cluster>");
            }
            String hosts = hostsAndPath.substring(0, slash);
            for (String host : hosts.split(",", -1)) {
                if (!host.matches("[A-Za-z0-9.\\-\\[\\]:]+:\\d{1,5}")) {
                    throw bad(url, "'" + host + "' is not host:port");
                }
            }
            String path = hostsAndPath.substring(slash);
            if (!path.startsWith(ZK_PATH) || path.length() == ZK_PATH.length()) {
                throw bad(url, "the path must be " + ZK_PATH + "<cluster>, not '" + path + "'");
            }
            String cluster = path.substring(ZK_PATH.length());
            if (!cluster.matches("[A-Za-z0-9_-]{1,64}")) {
                throw bad(url, "'" + cluster + "' is not a cluster name (letters, digits, '-', '_')");
            }
            return new ShardlineUrl(hosts, cluster, null, props);
        }
        if (rest.startsWith("file:")) {
            String file = rest.substring("file:".length());
            if (file.isEmpty()) {
                throw bad(url, "file: needs the path of a cluster file");
            }
            return new ShardlineUrl(null, null, Path.of(file), props);
        }
        throw bad(url, "expected zk://... or file:... after " + PREFIX);
    }

    /** Where the topology comes from, for messages: {@code zk://h:p/shardline/clusters/x} or {@code file:/p}. */
    public String source() {
        return file != null ? "file:" + file : "zk://" + zkConnectString + ZK_PATH + cluster;
    }

    private static void parseQuery(String url, String query, Properties props) throws SQLException {
        for (String pair : query.split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            if (eq <= 0) {
                throw bad(url, "'" + pair + "' in the query string is not name=value");
            }
            try {
                props.setProperty(
                        URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
                        URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
            } catch (IllegalArgumentException e) {
                throw bad(url, "'" + redact(pair) + "' is not URL-encoded correctly");
            }
        }
    }

    private static SQLException bad(String url, String why) {
        return new SQLException("malformed Shardline URL '" + redact(url) + "': " + why, SqlStates.INVALID_PARAMETER);
    }

    /** The URL with any password in its query string replaced, for messages. */
    static String redact(String url) {
        return url == null ? null : url.replaceAll("(?i)(password=)[^&]*", "$1***");
    }
}
