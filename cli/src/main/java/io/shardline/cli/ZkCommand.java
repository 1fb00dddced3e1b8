package io.shardline.cli;

import io.shardline.compose.OwnerOnly;
import io.shardline.topology.ZkCredentials;
import io.shardline.topology.ZooKeeperAcls;
import io.shardline.topology.ZooKeeperSecurity;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.curator.framework.CuratorFramework;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code shardline zk secure}: ZooKeeper authentication and ACLs of a cluster. */
@Command(
        name = "zk",
        mixinStandardHelpOptions = true,
        description = "ZooKeeper authentication and ACLs of a cluster.",
        subcommands = {ZkCommand.Secure.class})
final class ZkCommand {
    static final String ADMIN_USER = "shardline";
    static final String ROUTER_USER = "router";

    /** A cluster's two identities. */
    record Identities(ZkCredentials admin, ZkCredentials router) {
        static Identities generate() {
            return new Identities(ZkCredentials.generate(ADMIN_USER), ZkCredentials.generate(ROUTER_USER));
        }

        /** Writes them to {@code file} (replaced atomically), readable by its owner only. */
        void write(Path file) throws IOException {
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.deleteIfExists(tmp);
            OwnerOnly.create(tmp);
            try (Writer w = Files.newBufferedWriter(tmp)) {
                w.write("# ZooKeeper identities of this Shardline cluster: admin for the rebalancer, monitor, console"
                        + " and command line; router for the driver (zkUser, zkPassword)\n");
                w.write("admin.user=" + admin.user() + "\nadmin.password=" + admin.password() + "\n");
                w.write("router.user=" + router.user() + "\nrouter.password=" + router.password() + "\n");
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }

        static Identities read(Path file) {
            return new Identities(ZkCredentials.read(file, "admin"), ZkCredentials.read(file, "router"));
        }

        /** {@code url} with the router identity's {@code zkUser} and {@code zkPassword}. */
        String routerUrl(String url) {
            return url + (url.contains("?") ? "&" : "?") + "zkUser=" + enc(router.user()) + "&zkPassword="
                    + enc(router.password());
        }

        private static String enc(String s) {
            return URLEncoder.encode(s, StandardCharsets.UTF_8);
        }
    }

    /**
     * Makes this process's ZooKeeper clients authenticate as the admin identity of the cluster directory
     * {@code dir}, when it holds a credentials file.
     */
    static void useCredentialsOf(Path dir) {
        Path file = dir.resolve(ZkCredentials.FILE);
        ZkCredentials.useForThisProcess(Files.isRegularFile(file) ? ZkCredentials.read(file, "admin") : null);
    }

    @Command(
            name = "secure",
            mixinStandardHelpOptions = true,
            description = {
                "Turn on ZooKeeper authentication and ACLs for a cluster: only its admin identity (rebalancer,"
                        + " monitor, console, command line) may change it, its router identity (the driver) reads"
                        + " and writes only its registrations, acknowledgements, two-phase-commit decisions and the"
                        + " DDL mark; nobody else reads or writes anything of it.",
                "The identities come from --credentials FILE when it exists (admin.user, admin.password,"
                        + " router.user, router.password), else are generated and written there (owner-only)."
                        + " Running it again with the same file sets every node's ACL anew."
            })
    static final class Secure implements Callable<Integer> {
        @ArgGroup(exclusive = true, multiplicity = "1")
        ClusterTarget target = new ClusterTarget();

        @Option(
                names = "--credentials",
                paramLabel = "FILE",
                description = "Credentials file (default: the cluster directory's " + ZkCredentials.FILE + ").")
        Path credentials;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Path file = credentials != null
                    ? credentials
                    : target.dir != null ? target.dir.resolve(ZkCredentials.FILE) : null;
            if (file == null) {
                throw new ParameterException(
                        spec.commandLine(), "name the credentials file: --credentials FILE (it is made when missing)");
            }
            PrintWriter out = spec.commandLine().getOut();
            Identities ids;
            if (Files.exists(file)) {
                ids = Identities.read(file);
                for (ZkCredentials c : List.of(ids.admin(), ids.router())) {
                    if (c.password().length() < 16) {
                        throw new ParameterException(
                                spec.commandLine(),
                                "the password of " + c.user() + " in " + file
                                        + " is shorter than 16 characters: ZooKeeper's digest of it is readable by every"
                                        + " application, so a short one could be guessed offline");
                    }
                }
                out.println("Identities read from " + file + ".");
            } else {
                ids = Identities.generate();
                ids.write(file);
                out.println("Identities generated into " + file + " (readable by you only).");
            }
            int nodes;
            String zk = target.zk();
            try (CuratorFramework client = ZooKeeperTopologyStore.newClient(zk, Duration.ofSeconds(10), ids.admin())) {
                nodes = ZooKeeperSecurity.secure(client, target.name(), ids.admin(), ids.router());
                // a client of another process that had found the cluster open may still create an open node for
                // up to ZooKeeperAcls.OPEN_RECHECK: set the ACLs once more after that
                Thread.sleep(ZooKeeperAcls.OPEN_RECHECK.plusSeconds(1).toMillis());
                nodes = ZooKeeperSecurity.secure(client, target.name(), ids.admin(), ids.router());
            }
            out.printf("Cluster %s secured: %d nodes' ACLs set.%n", target.name(), nodes);
            out.println("The driver: add zkUser=" + ids.router().user()
                    + "&zkPassword=<router.password of the file> to the jdbc:shardline: URL.");
            out.println("The processes and the command line: --dir of a local cluster, or SHARDLINE_ZK_USER="
                    + ids.admin().user() + " and SHARDLINE_ZK_PASSWORD=<admin.password>, or"
                    + " SHARDLINE_ZK_CREDENTIALS=" + file + ".");
            return 0;
        }
    }
}
