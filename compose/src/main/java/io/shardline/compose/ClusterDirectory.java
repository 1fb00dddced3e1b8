package io.shardline.compose;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A directory a local cluster runs from, as {@code ./shardline cluster up --dir DIR} lays it out:
 *
 * <pre>
 * DIR/cluster.json     the descriptor ({@link ClusterDescriptor}), present while the cluster is up
 * DIR/shardline.pid    the process id of the JVM that runs the cluster
 * DIR/nodes/NAME/      each PostgreSQL node's data directory (with its postmaster.pid)
 * DIR/logs/NAME.log    each node's server log
 * DIR/zookeeper/       the embedded ZooKeeper's data
 * </pre>
 *
 * <p>It lets another process find and stop that cluster: {@link #stop(Duration)}.
 */
public final class ClusterDirectory {
    /** The parts of a directory that hold a cluster's data. */
    static final List<String> DATA_PARTS = List.of("nodes", "zookeeper", "logs");

    private static final String PID_FILE = "shardline.pid";
    /** The cluster's ZooKeeper identities (topology's {@code ZkCredentials.FILE}): they go with its data. */
    private static final String CREDENTIALS_FILE = "zookeeper-credentials.properties";

    private final Path dir;

    private ClusterDirectory(Path dir) {
        this.dir = dir.toAbsolutePath().normalize();
    }

    /** The cluster directory at {@code dir}, which need not exist yet. */
    public static ClusterDirectory of(Path dir) {
        return new ClusterDirectory(dir);
    }

    /** The directory. */
    public Path path() {
        return dir;
    }

    /** Records this JVM as the process running the cluster. */
    public void writeOwnPid() throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(PID_FILE), ProcessHandle.current().pid() + "\n", StandardCharsets.UTF_8);
    }

    /** Another JVM running the cluster, when it is alive; never this process. */
    public Optional<ProcessHandle> runningOwner() {
        try {
            long pid = Long.parseLong(Files.readString(dir.resolve(PID_FILE), StandardCharsets.UTF_8)
                    .trim());
            return ProcessHandle.of(pid)
                    .filter(ProcessHandle::isAlive)
                    .filter(p -> p.pid() != ProcessHandle.current().pid())
                    .filter(ClusterDirectory::isJava);
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    /** Whether the directory holds data of a cluster (running or not). */
    public boolean holdsClusterData() {
        return DATA_PARTS.stream().anyMatch(part -> Files.exists(dir.resolve(part)))
                || Files.exists(dir.resolve(ClusterDescriptor.FILE_NAME));
    }

    /**
     * Deletes a stopped cluster's data, descriptor, ZooKeeper credentials and pid file, so the directory can hold a
     * new cluster.
     *
     * @throws LocalClusterException when a process of that cluster still runs
     */
    public void discardStoppedCluster() throws IOException {
        if (runningOwner().isPresent() || !runningPostmasters().isEmpty()) {
            throw new LocalClusterException("a cluster is still running from " + dir
                    + ": stop it first with ./shardline cluster down --dir " + dir);
        }
        for (String part : DATA_PARTS) {
            deleteRecursively(dir.resolve(part));
        }
        Files.deleteIfExists(dir.resolve(ClusterDescriptor.FILE_NAME));
        Files.deleteIfExists(dir.resolve(PID_FILE));
        Files.deleteIfExists(dir.resolve(CREDENTIALS_FILE));
    }

    /** Removes the descriptor and the pid file: the cluster is no longer up. */
    public void markStopped() throws IOException {
        Files.deleteIfExists(dir.resolve(ClusterDescriptor.FILE_NAME));
        Files.deleteIfExists(dir.resolve(PID_FILE));
    }

    /**
     * Stops the cluster running from this directory: asks its JVM to shut down (SIGTERM), then stops any
     * PostgreSQL server of it still running (fast shutdown, then SIGKILL after {@code timeout}).
     *
     * @return how many processes were stopped; 0 when nothing was running
     */
    public int stop(Duration timeout) throws IOException {
        int stopped = 0;
        Optional<ProcessHandle> owner = runningOwner();
        if (owner.isPresent()) {
            owner.get().destroy();
            if (!PgNode.awaitExit(owner.get(), timeout)) {
                owner.get().destroyForcibly();
                PgNode.awaitExit(owner.get(), Duration.ofSeconds(10));
            }
            stopped++;
        }
        stopped += stopServers(timeout);
        markStopped();
        return stopped;
    }

    /**
     * Stops every PostgreSQL server of this directory still running — also those of shards added by another
     * process ({@code cluster add-shard}), which the owner's {@link LocalCluster} does not know (fast
     * shutdown, then SIGKILL after {@code timeout}).
     *
     * @return how many servers were stopped
     */
    public int stopServers(Duration timeout) throws IOException {
        List<ProcessHandle> postmasters = runningPostmasters();
        postmasters.forEach(p -> PgNode.signal(p.pid(), "INT"));
        for (ProcessHandle p : postmasters) {
            if (!PgNode.awaitExit(p, timeout)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                PgNode.awaitExit(p, Duration.ofSeconds(10));
            }
        }
        return postmasters.size();
    }

    /** The postmasters of this directory's nodes that are alive. */
    public List<ProcessHandle> runningPostmasters() throws IOException {
        Path nodes = dir.resolve("nodes");
        if (!Files.isDirectory(nodes)) {
            return List.of();
        }
        List<ProcessHandle> running = new ArrayList<>();
        try (Stream<Path> dataDirs = Files.list(nodes)) {
            for (Path dataDir : dataDirs.toList()) {
                PgNode.readPidFile(dataDir)
                        .flatMap(ProcessHandle::of)
                        .filter(ProcessHandle::isAlive)
                        .filter(p -> p.info()
                                .command()
                                .map(c -> c.endsWith("postgres"))
                                .orElse(true))
                        .ifPresent(running::add);
            }
        }
        return running;
    }

    private static boolean isJava(ProcessHandle p) {
        return p.info().command().map(c -> c.endsWith("java")).orElse(true);
    }

    static void deleteRecursively(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
                Files.delete(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
