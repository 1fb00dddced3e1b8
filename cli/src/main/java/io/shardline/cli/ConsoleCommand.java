package io.shardline.cli;

import io.shardline.console.ConsoleServer;
import io.shardline.console.ConsoleSettings;
import io.shardline.console.ConsoleUser;
import io.shardline.console.ConsoleUsers;
import io.shardline.console.Role;
import java.io.BufferedReader;
import java.io.Console;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code shardline console}: the admin console (web UI, REST API, Actuator) for one cluster. */
@Command(
        name = "console",
        mixinStandardHelpOptions = true,
        description = {
            "Run the admin console for a cluster: pages for DBAs and operators, the JSON API (/api, described at"
                    + " /v3/api-docs), /actuator/health and /actuator/prometheus.",
            "Users come from --users FILE (YAML: users: [{name, role: VIEWER|OPERATOR, password: \"{bcrypt}...\"}];"
                    + " 'console hash-password' makes the hash). Without it, a viewer and an operator with random"
                    + " passwords are made for this run and printed.",
            "The database password (for row counts and primary health) comes from SHARDLINE_PASSWORD or PGPASSWORD."
        },
        subcommands = {ConsoleCommand.HashPassword.class})
final class ConsoleCommand implements Callable<Integer> {
    @ArgGroup(exclusive = true, multiplicity = "0..1")
    ClusterTarget target;

    @Option(
            names = "--port",
            defaultValue = "8080",
            description = "HTTP port; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(
            names = "--bind",
            defaultValue = "127.0.0.1",
            description = "Address to listen on; 0.0.0.0 for every interface (default: ${DEFAULT-VALUE}).")
    String bind;

    @Option(names = "--users", paramLabel = "FILE", description = "The users file (YAML).")
    Path users;

    @Option(
            names = "--lag-warn-ms",
            defaultValue = "1000",
            description = "Lag highlighted as a warning above this (default: ${DEFAULT-VALUE}).")
    long lagWarnMs;

    @Option(
            names = "--lag-critical-ms",
            defaultValue = "5000",
            description = "Lag highlighted as critical above this (default: ${DEFAULT-VALUE}).")
    long lagCriticalMs;

    @Option(
            names = "--audit-retention-days",
            defaultValue = "400",
            description = "Audit entries older than this are deleted; none is deleted for want of room"
                    + " (default: ${DEFAULT-VALUE}).")
    long auditRetentionDays;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (target == null) {
            throw new ParameterException(spec.commandLine(), "name the cluster: --dir DIR, or --zk ZK --name NAME");
        }
        PrintWriter out = spec.commandLine().getOut();
        List<ConsoleUser> accounts;
        List<ConsoleUsers.Generated> generated = List.of();
        if (users != null) {
            accounts = ConsoleUsers.read(users);
        } else {
            generated = generateUsers();
            accounts = generated.stream().map(ConsoleUsers.Generated::user).toList();
        }
        ConsoleSettings settings = new ConsoleSettings(
                target.zk(),
                target.name(),
                bind,
                port,
                accounts,
                ClusterTarget.password(),
                Duration.ofMillis(lagWarnMs),
                Duration.ofMillis(lagCriticalMs),
                Duration.ofDays(auditRetentionDays));
        ConsoleServer console = start(settings);
        Runtime.getRuntime().addShutdownHook(new Thread(console::close, "shardline-console-stop"));
        out.printf("Admin console for cluster %s: %s (Ctrl-C to stop)%n", target.name(), console.url());
        if (users == null) {
            out.println("No --users file: users made for this run (write a file to keep them):");
            printUsers(out, generated);
        }
        out.flush();
        new CountDownLatch(1).await();
        return 0;
    }

    static List<ConsoleUsers.Generated> generateUsers() {
        return List.of(ConsoleUsers.generate("viewer", Role.VIEWER), ConsoleUsers.generate("operator", Role.OPERATOR));
    }

    static void printUsers(PrintWriter out, List<ConsoleUsers.Generated> users) {
        for (ConsoleUsers.Generated g : users) {
            out.printf("  %-9s %-9s password %s%n", g.user().name(), g.user().role(), g.password());
        }
    }

    /** Starts the console; a failure to start says why in one line (port taken, ZooKeeper, unknown cluster). */
    static ConsoleServer start(ConsoleSettings settings) {
        try {
            return ConsoleServer.start(settings);
        } catch (RuntimeException e) {
            Throwable root = e;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            String why = root instanceof java.net.BindException
                    ? "port " + settings.port() + " on " + settings.bindAddress()
                            + " is taken (choose another with --port)"
                    : root.getMessage();
            throw new IllegalArgumentException("the admin console could not start: " + why, e);
        }
    }

    @Command(
            name = "hash-password",
            mixinStandardHelpOptions = true,
            description = "Read a password (from the terminal without echo, else one line of standard input) and print"
                    + " it as a users-file password: \"{bcrypt}$2a$10$...\".")
    static final class HashPassword implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Console terminal = System.console();
            char[] password;
            if (terminal != null) {
                password = terminal.readPassword("Password: ");
            } else {
                String line = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
                password = line == null ? new char[0] : line.toCharArray();
            }
            if (password == null || password.length < 8) {
                spec.commandLine().getErr().println("shardline: a console password needs at least 8 characters");
                return 1;
            }
            spec.commandLine().getOut().println(ConsoleUsers.hash(new String(password)));
            return 0;
        }
    }
}
