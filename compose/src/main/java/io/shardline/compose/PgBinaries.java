package io.shardline.compose;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * The PostgreSQL server binaries ({@code initdb}, {@code postgres}, {@code pg_basebackup}, {@code pg_ctl})
 * of one installation.
 *
 * <p>Found in this order: an explicit directory, the {@code PG_BIN} environment variable, {@code pg_config
 * --bindir}, then {@code /usr/lib/postgresql/<newest version>/bin}. An explicit directory or {@code PG_BIN}
 * that does not hold the binaries is an error, not a reason to look elsewhere: the user asked for it.
 */
public final class PgBinaries {
    static final List<String> REQUIRED = List.of("initdb", "postgres", "pg_basebackup", "pg_ctl");
    private static final Path DEBIAN_ROOT = Path.of("/usr/lib/postgresql");
    /** The oldest PostgreSQL major version a local cluster runs. */
    public static final int MIN_MAJOR = 15;

    private final Path binDir;

    private PgBinaries(Path binDir) {
        this.binDir = binDir;
    }

    /** The directory holding the binaries. */
    public Path binDir() {
        return binDir;
    }

    /**
     * Refuses binaries older than PostgreSQL {@code major} ({@code postgres --version}): moves publish row-filtered
     * publications, which PostgreSQL 15 brought; an older server would start and fail at the first move.
     *
     * @throws LocalClusterException naming the directory and the version found
     */
    public void requireVersion(int major) {
        String version;
        try {
            Process process = new ProcessBuilder(binary("postgres"), "--version")
                    .redirectErrorStream(true)
                    .start();
            version = new String(process.getInputStream().readAllBytes()).trim();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                return; // it did not answer: the start says what is wrong with it
            }
        } catch (IOException e) {
            return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        java.util.regex.Matcher m =
                java.util.regex.Pattern.compile("\\(PostgreSQL\\) (\\d+)").matcher(version);
        if (m.find() && Integer.parseInt(m.group(1)) < major) {
            throw new LocalClusterException(binDir + " holds PostgreSQL " + m.group(1) + " (" + version + "); Shardline"
                    + " needs PostgreSQL " + major + " or newer (shard moves publish row-filtered publications). Set"
                    + " PG_BIN to a newer installation's bin directory.");
        }
    }

    /** The path of one binary, e.g. {@code binary("initdb")}. */
    public String binary(String name) {
        return binDir.resolve(name).toString();
    }

    /**
     * Locates the binaries using the process environment.
     *
     * @param explicit a directory the caller chose, or {@code null}
     * @throws LocalClusterException naming every place that was tried
     */
    public static PgBinaries locate(Path explicit) {
        return locate(explicit, System.getenv(), PgBinaries::pgConfigBindir, DEBIAN_ROOT);
    }

    static PgBinaries locate(Path explicit, Map<String, String> env, Supplier<Path> pgConfigBindir, Path debianRoot) {
        if (explicit != null) {
            return require(explicit, "the configured PostgreSQL bin directory");
        }
        String pgBin = env.get("PG_BIN");
        if (pgBin != null && !pgBin.isBlank()) {
            return require(Path.of(pgBin), "PG_BIN");
        }
        List<String> tried = new ArrayList<>();
        tried.add("PG_BIN (not set)");
        Path fromPgConfig = pgConfigBindir.get();
        if (fromPgConfig != null) {
            if (holdsAll(fromPgConfig)) {
                return new PgBinaries(fromPgConfig);
            }
            tried.add("pg_config --bindir = " + fromPgConfig + " (" + missing(fromPgConfig) + ")");
        } else {
            tried.add("pg_config --bindir (pg_config not on PATH)");
        }
        for (Path candidate : debianCandidates(debianRoot)) {
            if (holdsAll(candidate)) {
                return new PgBinaries(candidate);
            }
            tried.add(candidate + " (" + missing(candidate) + ")");
        }
        tried.add(debianRoot + "/*/bin");
        throw new LocalClusterException("PostgreSQL server binaries not found; tried: " + String.join(", ", tried)
                + ". Install PostgreSQL 15+ server binaries (Debian: apt-get install postgresql-15)"
                + " or set PG_BIN to the directory holding initdb and postgres.");
    }

    private static PgBinaries require(Path dir, String source) {
        if (!holdsAll(dir)) {
            throw new LocalClusterException(source + " = " + dir + " does not hold the PostgreSQL server binaries ("
                    + missing(dir) + "). Point it at the directory holding initdb and postgres,"
                    + " e.g. /usr/lib/postgresql/15/bin.");
        }
        return new PgBinaries(dir);
    }

    private static boolean holdsAll(Path dir) {
        return REQUIRED.stream().allMatch(name -> Files.isExecutable(dir.resolve(name)));
    }

    private static String missing(Path dir) {
        List<String> missing = REQUIRED.stream()
                .filter(name -> !Files.isExecutable(dir.resolve(name)))
                .toList();
        return "missing " + String.join(", ", missing);
    }

    private static List<Path> debianCandidates(Path root) {
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        try (Stream<Path> versions = Files.list(root)) {
            return versions.filter(Files::isDirectory)
                    .sorted(Comparator.comparing(PgBinaries::majorVersion).reversed())
                    .map(v -> v.resolve("bin"))
                    .toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private static int majorVersion(Path versionDir) {
        try {
            return Integer.parseInt(versionDir.getFileName().toString());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static Path pgConfigBindir() {
        try {
            Process process = new ProcessBuilder("pg_config", "--bindir")
                    .redirectErrorStream(true)
                    .start();
            String out = new String(process.getInputStream().readAllBytes()).trim();
            if (!process.waitFor(10, TimeUnit.SECONDS) || process.exitValue() != 0 || out.isEmpty()) {
                return null;
            }
            return Path.of(out);
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }
}
