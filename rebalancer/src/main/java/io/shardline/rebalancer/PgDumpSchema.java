package io.shardline.rebalancer;

import io.shardline.topology.ClusterTopology;
import io.shardline.topology.Node;
import io.shardline.topology.PgTls;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * Copies a table's definition with {@code pg_dump --schema-only --table}: columns, defaults, constraints and
 * indexes exactly as on the source. The password, if any, goes to pg_dump through {@code PGPASSWORD} in its
 * environment, never on its command line.
 */
public final class PgDumpSchema implements LogicalCopy.SchemaCopier {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(PgDumpSchema.class);
    private final Path pgDump;
    private final ClusterTopology topology;
    private final String password;
    private final MoveEstimate.Connector connector;

    public PgDumpSchema(Path pgDump, ClusterTopology topology, String password, MoveEstimate.Connector connector) {
        this.pgDump = pgDump;
        this.topology = topology;
        this.password = password;
        this.connector = connector;
    }

    /**
     * {@code pg_dump} from {@code SHARDLINE_PG_BIN}, else {@code PG_BIN} (where the local clusters' servers come
     * from), else the newest {@code /usr/lib/postgresql/N/bin}, else {@code PATH}.
     *
     * @throws MoveException when none is found, saying where it looked
     */
    public static Path locatePgDump() throws MoveException {
        for (String variable : new String[] {"SHARDLINE_PG_BIN", "PG_BIN"}) {
            String configured = System.getenv(variable);
            if (configured != null && !configured.isBlank()) {
                Path p = Path.of(configured, "pg_dump");
                if (Files.isExecutable(p)) {
                    return p;
                }
                throw new MoveException(variable + "=" + configured + " holds no executable pg_dump");
            }
        }
        Path debian = Path.of("/usr/lib/postgresql");
        if (Files.isDirectory(debian)) {
            try (var versions = Files.list(debian)) {
                var newest = versions.map(v -> v.resolve("bin/pg_dump"))
                        .filter(Files::isExecutable)
                        .max((a, b) -> Integer.compare(major(a), major(b)));
                if (newest.isPresent()) {
                    return newest.get();
                }
            } catch (IOException e) {
                // fall through to PATH
            }
        }
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path p = Path.of(dir, "pg_dump");
            if (!dir.isEmpty() && Files.isExecutable(p)) {
                return p;
            }
        }
        throw new MoveException("pg_dump not found (looked in SHARDLINE_PG_BIN, PG_BIN, /usr/lib/postgresql/*/bin and"
                + " PATH):"
                + " install the PostgreSQL client of the servers' version");
    }

    private static int major(Path pgDump) {
        try {
            return Integer.parseInt(pgDump.getParent().getParent().getFileName().toString());
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    @Override
    public void copy(String schema, String table, Node from, Node to) throws MoveException {
        String name = schema + "." + table;
        String ddl = dump(name, from, "--table=" + LogicalCopy.qualified(schema, table));
        try (Connection c = connector.connect(to);
                Statement s = c.createStatement()) {
            s.execute(ddl);
        } catch (SQLException e) {
            throw new MoveException(
                    "creating " + name + " on " + to.name() + " from pg_dump's DDL: " + e.getMessage(), e);
        }
    }

    /**
     * Everything but relations: schemas, extensions, types, domains, functions, operators... (not Shardline's own
     * schema, publications or subscriptions), in one transaction. Objects that exist already (a copy run before)
     * are reported and left.
     */
    @Override
    public void copyObjects(Node from, Node to) throws MoveException {
        String ddl = dump(
                "the schema objects",
                from,
                "--exclude-table=*.*",
                "--exclude-schema=shardline",
                "--no-publications",
                "--no-subscriptions");
        try (Connection c = connector.connect(to);
                Statement s = c.createStatement()) {
            s.execute(ddl);
        } catch (SQLException e) {
            if (!java.util.Set.of("42710", "42723", "42P06", "42P07").contains(e.getSQLState())) {
                throw new MoveException(
                        "creating the schema objects (types, functions...) on " + to.name() + " from pg_dump's DDL: "
                                + e.getMessage(),
                        e);
            }
            LOG.warn("{} has schema objects already ({}): leaving them as they are", to.name(), e.getMessage());
        }
    }

    private String dump(String what, Node from, String... selection) throws MoveException {
        List<String> command = new java.util.ArrayList<>(List.of(
                pgDump.toString(),
                "--schema-only",
                "--no-owner",
                "--no-privileges",
                // a table locked by a long transaction fails the step (retried) instead of holding it
                "--lock-wait-timeout=10s"));
        command.addAll(List.of(selection));
        command.addAll(List.of(
                "--host=" + from.host(),
                "--port=" + from.port(),
                "--username=" + (topology.user() == null ? "postgres" : topology.user()),
                "--dbname=" + topology.database()));
        Path errors = null;
        Path output = null;
        try {
            // both to files: the wait below is then bounded (a read of its output would block as long as pg_dump)
            errors = Files.createTempFile("shardline-pg_dump-", ".err");
            output = Files.createTempFile("shardline-pg_dump-", ".sql");
            ProcessBuilder builder =
                    new ProcessBuilder(command).redirectError(errors.toFile()).redirectOutput(output.toFile());
            builder.environment().keySet().removeIf(k -> k.startsWith("SHARDLINE_"));
            if (password != null) {
                builder.environment().put("PGPASSWORD", password);
            }
            // the same TLS settings as this process's own connections, by libpq's variables
            PgTls tls = PgTls.processDefault();
            putIfSet(builder.environment(), "PGSSLMODE", tls.mode());
            putIfSet(builder.environment(), "PGSSLROOTCERT", tls.rootCert());
            putIfSet(builder.environment(), "PGSSLCERT", tls.cert());
            putIfSet(builder.environment(), "PGSSLKEY", tls.key());
            Process process = builder.start();
            process.getOutputStream().close();
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new MoveException("pg_dump of " + what + " on " + from.name() + " did not finish in 60 s");
            }
            if (process.exitValue() != 0) {
                String err = Files.readString(errors, StandardCharsets.UTF_8);
                throw new MoveException("pg_dump of " + what + " on " + from.name() + " failed: " + err.strip());
            }
            // psql meta-commands (lines starting with a backslash, e.g. restrict) are not SQL; the rest runs as one
            // script
            return Files.readString(output, StandardCharsets.UTF_8)
                    .lines()
                    .filter(line -> !line.startsWith("\\"))
                    .collect(Collectors.joining("\n"));
        } catch (IOException e) {
            throw new MoveException("running " + pgDump + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MoveException("interrupted while running pg_dump", e);
        } finally {
            for (Path file : Arrays.asList(errors, output)) {
                if (file != null) {
                    try {
                        Files.deleteIfExists(file);
                    } catch (IOException ignored) {
                        // a temporary file
                    }
                }
            }
        }
    }

    private static void putIfSet(Map<String, String> environment, String name, String value) {
        if (value != null) {
            environment.put(name, value);
        }
    }
}
