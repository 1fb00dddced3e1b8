package io.shardline.console;

import java.time.Duration;
import java.util.List;

/**
 * How a console runs.
 *
 * @param zk ZooKeeper connect string of the cluster
 * @param cluster the cluster's name
 * @param bindAddress the address the HTTP server listens on ({@code 127.0.0.1}: this machine only)
 * @param port the HTTP port; 0 picks a free one
 * @param users who may log in
 * @param dbPassword the cluster's database password (for row counts and primary health), or null; never shown
 * @param lagWarn a replica lagging more is highlighted as a warning
 * @param lagCritical a replica lagging more is highlighted as critical
 * @param auditRetention audit entries older than this are deleted (none is deleted for want of room)
 */
public record ConsoleSettings(
        String zk,
        String cluster,
        String bindAddress,
        int port,
        List<ConsoleUser> users,
        String dbPassword,
        Duration lagWarn,
        Duration lagCritical,
        Duration auditRetention) {

    public static final int DEFAULT_PORT = 8080;
    public static final Duration DEFAULT_AUDIT_RETENTION = Duration.ofDays(400);

    public ConsoleSettings {
        users = List.copyOf(users);
        if (users.isEmpty()) {
            throw new IllegalArgumentException("the console needs at least one user");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " is not between 0 and 65535");
        }
        if (lagWarn.compareTo(lagCritical) > 0) {
            throw new IllegalArgumentException("the lag warning threshold (" + lagWarn.toMillis()
                    + " ms) is above the critical one (" + lagCritical.toMillis() + " ms)");
        }
        if (auditRetention.compareTo(Duration.ofDays(1)) < 0) {
            throw new IllegalArgumentException(
                    "the audit retention (" + auditRetention + ") is under a day: an operator's trail must outlive it");
        }
    }

    /** Defaults: this machine only, port 8080, warning above 1 s of lag, critical above 5 s, audit kept 400 days. */
    public static ConsoleSettings of(String zk, String cluster, List<ConsoleUser> users, String dbPassword) {
        return new ConsoleSettings(
                zk,
                cluster,
                "127.0.0.1",
                DEFAULT_PORT,
                users,
                dbPassword,
                Duration.ofSeconds(1),
                Duration.ofSeconds(5),
                DEFAULT_AUDIT_RETENTION);
    }

    public ConsoleSettings withPort(int next) {
        return new ConsoleSettings(
                zk, cluster, bindAddress, next, users, dbPassword, lagWarn, lagCritical, auditRetention);
    }

    public ConsoleSettings withBindAddress(String next) {
        return new ConsoleSettings(zk, cluster, next, port, users, dbPassword, lagWarn, lagCritical, auditRetention);
    }

    @Override
    public String toString() {
        return "ConsoleSettings[zk=" + zk + ", cluster=" + cluster + ", bind=" + bindAddress + ":" + port + ", users="
                + users + "]";
    }
}
