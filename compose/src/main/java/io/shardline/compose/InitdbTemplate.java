package io.shardline.compose;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * New primaries' data directories: one {@code initdb} per JVM and set of binaries, copied into each (initdb takes
 * 1-2 s on a small host, a copy of its 40 MB and the steps below a tenth of that, and a test suite or a demo creates
 * many primaries). Each copy gets a database system identifier of its own — written into {@code pg_control} and
 * carried into a new WAL by {@code pg_resetwal}, which refuses a {@code pg_control} whose CRC is wrong — so that, as between separately initialized servers, a standby
 * pointed at another shard's primary is refused by PostgreSQL rather than streaming its WAL. When any of that fails,
 * the primary gets a plain initdb, as before. The template is deleted when the JVM exits.
 */
final class InitdbTemplate {
    private static final Logger LOG = LoggerFactory.getLogger(InitdbTemplate.class);
    private static final Map<String, Path> TEMPLATES = new HashMap<>();
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Duration STEP_TIMEOUT = Duration.ofSeconds(120);
    private static int copies;

    private InitdbTemplate() {}

    /** How many primaries of this JVM were made from a template (the others by initdb). */
    static synchronized int copies() {
        return copies;
    }

    /**
     * Fills the empty directory {@code dataDir} (owned by the server user) with what {@code initdb -U postgres
     * --auth=trust --encoding=UTF8 --locale=C --no-sync} makes.
     */
    static void initdb(Path dataDir, PgBinaries binaries, ServerUser serverUser, String name) {
        Path template = template(binaries, serverUser);
        if (template != null) {
            try {
                serverUser.run(
                        List.of("cp", "-a", template + "/.", dataDir.toString()),
                        STEP_TIMEOUT,
                        "copying the initdb template into " + dataDir + " for " + name);
                newSystemIdentifier(dataDir.resolve("global").resolve("pg_control"));
                serverUser.run(
                        // without -f: a pg_control whose CRC this got wrong is refused (then initdb), not reset
                        List.of(binaries.binary("pg_resetwal"), "-D", dataDir.toString()),
                        STEP_TIMEOUT,
                        "pg_resetwal of " + dataDir + " for " + name);
                synchronized (InitdbTemplate.class) {
                    copies++;
                }
                return;
            } catch (LocalClusterException | IOException e) {
                LOG.warn("copying the initdb template for {} failed ({}): running initdb", name, e.getMessage());
                emptyDirectory(dataDir);
            }
        }
        serverUser.run(command(binaries.binary("initdb"), dataDir), STEP_TIMEOUT, "initdb for " + name);
    }

    private static List<String> command(String initdb, Path dataDir) {
        return List.of(
                initdb,
                "-D",
                dataDir.toString(),
                "-U",
                ServerUser.POSTGRES,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync");
    }

    /** The template of these binaries, made on first use; null when it cannot be made (initdb then runs per node). */
    private static synchronized Path template(PgBinaries binaries, ServerUser serverUser) {
        String initdb = binaries.binary("initdb");
        if (TEMPLATES.containsKey(initdb)) {
            Path made = TEMPLATES.get(initdb);
            if (made == null || Files.isRegularFile(made.resolve("global").resolve("pg_control"))) {
                return made;
            }
            LOG.warn("the initdb template {} was removed (a temporary-file cleaner?): making it again", made);
        }
        Path made = null;
        try {
            Path parent = Files.createTempDirectory("shardline-initdb-");
            Runtime.getRuntime().addShutdownHook(new Thread(() -> delete(parent), "shardline-initdb-cleanup"));
            serverUser.createPrivateDirectory(parent);
            Path data = parent.resolve("data");
            serverUser.createPrivateDirectory(data);
            serverUser.run(command(initdb, data), STEP_TIMEOUT, "initdb of the template " + data);
            made = data;
        } catch (IOException | LocalClusterException e) {
            LOG.warn("no initdb template ({}): each primary runs initdb", e.getMessage());
        }
        TEMPLATES.put(initdb, made);
        return made;
    }

    /**
     * Writes a random system identifier into {@code pg_control} (its first 8 bytes) and the file's CRC-32C after it
     * again. The CRC's place is found, not assumed: the first 4-byte-aligned offset whose 4 bytes are the CRC of all
     * before it (the control data's layout differs between major versions).
     *
     * @throws IOException when the file cannot be read or written, or holds no such CRC
     */
    static void newSystemIdentifier(Path pgControl) throws IOException {
        byte[] control = Files.readAllBytes(pgControl);
        ByteBuffer bytes = ByteBuffer.wrap(control).order(ByteOrder.LITTLE_ENDIAN);
        int crcAt = -1;
        for (int at = 16; at + 4 <= Math.min(control.length, 1024); at += 4) {
            if (crc(control, at) == bytes.getInt(at)) {
                crcAt = at;
                break;
            }
        }
        if (crcAt < 0) {
            throw new IOException("no CRC found in " + pgControl);
        }
        bytes.putLong(0, RANDOM.nextLong() & Long.MAX_VALUE);
        bytes.putInt(crcAt, crc(control, crcAt));
        Files.write(pgControl, control);
    }

    private static int crc(byte[] data, int length) {
        CRC32C crc = new CRC32C();
        crc.update(data, 0, length);
        return (int) crc.getValue();
    }

    /** Removes what a failed copy left in {@code dir}, keeping the directory (owned by the server user). */
    private static void emptyDirectory(Path dir) {
        try (Stream<Path> children = Files.list(dir)) {
            children.forEach(InitdbTemplate::delete);
        } catch (IOException e) {
            throw new LocalClusterException("could not empty " + dir + " after a failed copy: " + e, e);
        }
    }

    private static void delete(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // the JVM is exiting, or the caller reports what is left
        }
    }
}
