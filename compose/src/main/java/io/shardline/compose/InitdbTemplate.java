package io.shardline.compose;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * One {@code initdb} per JVM and set of binaries, copied into each new primary's data directory: initdb takes 1-2 s
 * on a small host, a copy of its 40 MB a tenth of that, and a test suite or a demo creates many primaries. The copies
 * share initdb's database system identifier, which nothing of a local cluster reads (each node is told apart by its
 * port and name). The template is deleted when the JVM exits.
 */
final class InitdbTemplate {
    private static final Map<String, Path> TEMPLATES = new HashMap<>();

    private InitdbTemplate() {}

    /**
     * Fills the empty directory {@code dataDir} (owned by the server user) with a fresh initdb's files, as
     * {@code initdb -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync} makes them.
     */
    static void copyInto(Path dataDir, PgBinaries binaries, ServerUser serverUser, String name) {
        Path template = template(binaries, serverUser);
        serverUser.run(
                List.of("cp", "-a", template + "/.", dataDir.toString()),
                Duration.ofSeconds(120),
                "copying the initdb template into " + dataDir + " for " + name);
    }

    private static synchronized Path template(PgBinaries binaries, ServerUser serverUser) {
        String initdb = binaries.binary("initdb");
        Path made = TEMPLATES.get(initdb);
        if (made != null) {
            return made;
        }
        try {
            Path parent = Files.createTempDirectory("shardline-initdb-");
            Runtime.getRuntime().addShutdownHook(new Thread(() -> delete(parent), "shardline-initdb-cleanup"));
            serverUser.createPrivateDirectory(parent);
            Path data = parent.resolve("data");
            serverUser.createPrivateDirectory(data);
            serverUser.run(
                    List.of(
                            initdb,
                            "-D",
                            data.toString(),
                            "-U",
                            ServerUser.POSTGRES,
                            "--auth=trust",
                            "--encoding=UTF8",
                            "--locale=C",
                            "--no-sync"),
                    Duration.ofSeconds(120),
                    "initdb of the template data directory " + data);
            TEMPLATES.put(initdb, data);
            return data;
        } catch (IOException e) {
            throw new LocalClusterException("could not create the initdb template directory: " + e, e);
        }
    }

    private static void delete(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // the JVM is exiting: a temporary directory left behind is all that can go wrong
        }
    }
}
