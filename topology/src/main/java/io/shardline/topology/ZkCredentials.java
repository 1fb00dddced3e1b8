package io.shardline.topology;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Properties;

/**
 * A ZooKeeper digest identity: who a Shardline component is to ZooKeeper. A cluster secured by
 * {@link ZooKeeperSecurity#secure} knows two: the <em>admin</em> (the rebalancer, monitor, console and CLI: may
 * change everything) and the <em>router</em> (the driver inside applications: reads, and writes only its
 * registration, its acknowledgements, two-phase-commit decisions and the DDL mark). The password is never shown by
 * {@link #toString()}.
 */
public record ZkCredentials(String user, String password) {
    /** The file a secured local cluster keeps its credentials in, inside its directory (owner-only). */
    public static final String FILE = "zookeeper-credentials.properties";

    private static volatile ZkCredentials processDefault;

    public ZkCredentials {
        if (user == null || !user.matches("[A-Za-z0-9_.-]{1,64}")) {
            throw new IllegalArgumentException(
                    "ZooKeeper user '" + user + "' is invalid: use 1-64 letters, digits, '.', '-' or '_'");
        }
        if (password == null || password.isEmpty()) {
            throw new IllegalArgumentException("ZooKeeper user '" + user + "' has no password");
        }
    }

    /** A new identity with a random 32-character password. */
    public static ZkCredentials generate(String user) {
        byte[] secret = new byte[24];
        new SecureRandom().nextBytes(secret);
        return new ZkCredentials(user, Base64.getUrlEncoder().withoutPadding().encodeToString(secret));
    }

    /** The id ZooKeeper's ACLs name this identity by: {@code user:base64(sha1(user:password))}. */
    public String digestId() {
        try {
            byte[] sha1 = MessageDigest.getInstance("SHA1").digest(authBytes());
            return user + ":" + Base64.getEncoder().encodeToString(sha1);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-1 is not available", e);
        }
    }

    /** {@code user:password}, as ZooKeeper's digest scheme takes it. */
    byte[] authBytes() {
        return (user + ":" + password).getBytes(StandardCharsets.UTF_8);
    }

    /**
     * What this process's ZooKeeper clients authenticate with when a caller names none: the one set by
     * {@link #useForThisProcess}, else {@code SHARDLINE_ZK_USER} and {@code SHARDLINE_ZK_PASSWORD} from the
     * environment, else the admin identity of the file {@code SHARDLINE_ZK_CREDENTIALS} names, else none.
     */
    public static ZkCredentials processDefault() {
        ZkCredentials set = processDefault;
        if (set != null) {
            return set;
        }
        String user = System.getenv("SHARDLINE_ZK_USER");
        String password = System.getenv("SHARDLINE_ZK_PASSWORD");
        if (user != null && password != null) {
            return new ZkCredentials(user, password);
        }
        String file = System.getenv("SHARDLINE_ZK_CREDENTIALS");
        return file == null ? null : read(Path.of(file), "admin");
    }

    /** Makes {@code credentials} this process's default (the command line, given a cluster directory). */
    public static void useForThisProcess(ZkCredentials credentials) {
        processDefault = credentials;
    }

    /**
     * The identity {@code role} ({@code admin} or {@code router}) of a credentials file ({@link #FILE}'s format:
     * {@code admin.user}, {@code admin.password}, {@code router.user}, {@code router.password}).
     *
     * @throws TopologyException when the file cannot be read or lacks the role
     */
    public static ZkCredentials read(Path file, String role) {
        Properties p = new Properties();
        try (Reader in = Files.newBufferedReader(file)) {
            p.load(in);
        } catch (IOException e) {
            throw new TopologyException(
                    "cannot read the ZooKeeper credentials file " + file + ": " + e.getMessage(), e);
        }
        String user = p.getProperty(role + ".user");
        String password = p.getProperty(role + ".password");
        if (user == null || password == null) {
            throw new TopologyException(
                    "the ZooKeeper credentials file " + file + " has no " + role + ".user and " + role + ".password");
        }
        return new ZkCredentials(user, password);
    }

    @Override
    public String toString() {
        return "ZkCredentials[user=" + user + "]";
    }
}
