package io.shardline.compose;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One PostgreSQL server of a {@link LocalCluster}: a shard's primary, a hub streaming from it, or a leaf
 * streaming from a hub.
 *
 * <p>Besides its address, a node offers the operations tests need to exercise failures: {@link #stop()},
 * {@link #kill()}, {@link #start()}, {@link #pauseReplay()}/{@link #resumeReplay()} and
 * {@link #setApplyDelay(Duration)}.
 */
public final class PgNode {
    private static final Optional<Path> SETSID = Stream.of("/usr/bin/setsid", "/bin/setsid")
            .map(Path::of)
            .filter(Files::isExecutable)
            .findFirst();
    private static final Logger LOG = LoggerFactory.getLogger(PgNode.class);
    private static final String HOST = "127.0.0.1";
    private static final long STOP_TIMEOUT_SECONDS = 60;
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(STOP_TIMEOUT_SECONDS);
    private static final int LOG_TAIL_LINES = 25;

    private final String name;
    private final int shard;
    private final NodeRole role;
    private final PgNode upstream;
    private final int port;
    private final Path dataDir;
    private final Path logFile;
    private final String database;
    private final PgBinaries binaries;
    private final ServerUser serverUser;
    private final Map<String, String> settings;
    private volatile Process process;

    PgNode(
            String name,
            int shard,
            NodeRole role,
            PgNode upstream,
            int port,
            Path dataDir,
            Path logFile,
            String database,
            PgBinaries binaries,
            ServerUser serverUser,
            Map<String, String> settings) {
        this.name = name;
        this.shard = shard;
        this.role = role;
        this.upstream = upstream;
        this.port = port;
        this.dataDir = dataDir;
        this.logFile = logFile;
        this.database = database;
        this.binaries = binaries;
        this.serverUser = serverUser;
        this.settings = Map.copyOf(settings);
    }

    /** The node's name, e.g. {@code s0-hub1}. */
    public String name() {
        return name;
    }

    /** The shard this node belongs to, from 0. */
    public int shard() {
        return shard;
    }

    /** Primary, hub or leaf. */
    public NodeRole role() {
        return role;
    }

    /** The node this one streams from; empty for a primary. */
    public Optional<PgNode> upstream() {
        return Optional.ofNullable(upstream);
    }

    /** Always the loopback address: a local cluster listens nowhere else. */
    public String host() {
        return HOST;
    }

    /** The TCP port the server listens on. */
    public int port() {
        return port;
    }

    /** The server's data directory. */
    public Path dataDir() {
        return dataDir;
    }

    /** The file the server's output goes to. */
    public Path logFile() {
        return logFile;
    }

    /** The name of the physical replication slot this node streams through, on its upstream. */
    public String slotName() {
        return name.replace('-', '_');
    }

    /** A pgjdbc URL for this node's cluster database. */
    public String jdbcUrl() {
        return "jdbc:postgresql://" + HOST + ":" + port + "/" + database;
    }

    /** Opens a plain pgjdbc connection to this node's cluster database as the {@code postgres} user. */
    public Connection connect() throws SQLException {
        return connect(database);
    }

    /** Opens a plain pgjdbc connection to {@code db} on this node as the {@code postgres} user. */
    public Connection connect(String db) throws SQLException {
        Properties props = new Properties();
        props.setProperty("user", ServerUser.POSTGRES);
        props.setProperty("connectTimeout", "5");
        props.setProperty("ApplicationName", "shardline-compose");
        return DriverManager.getConnection("jdbc:postgresql://" + HOST + ":" + port + "/" + db, props);
    }

    /** Whether the server process is alive. */
    public boolean isRunning() {
        return postmaster().map(ProcessHandle::isAlive).orElse(false);
    }

    /** The postmaster's process id, while it runs. */
    public Optional<Long> pid() {
        return postmaster().filter(ProcessHandle::isAlive).map(ProcessHandle::pid);
    }

    /**
     * Starts the server (again) and waits until it accepts connections. A standby resumes streaming on its
     * own once its upstream is reachable; see {@link #awaitStreaming(Duration)}.
     *
     * @throws LocalClusterException with the tail of the server log when it does not come up
     */
    public synchronized void start() {
        if (isRunning()) {
            return;
        }
        List<String> command = new ArrayList<>();
        if (SETSID.isPresent()) {
            // its own session: a Ctrl-C in the terminal stops the JVM, which stops the servers in order,
            // instead of reaching every postgres at once
            command.add(SETSID.get().toString());
        }
        command.addAll(List.of(binaries.binary("postgres"), "-D", dataDir.toString(), "-p", String.valueOf(port)));
        try {
            Files.writeString(
                    logFile,
                    "---- starting " + name + " on port " + port + "\n",
                    StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
            ProcessBuilder builder = new ProcessBuilder(serverUser.command(command))
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
            // the server needs none of Shardline's secrets
            builder.environment().keySet().removeIf(k -> k.startsWith("SHARDLINE_"));
            process = builder.start();
            process.getOutputStream().close();
        } catch (IOException e) {
            throw new LocalClusterException("could not start " + name + ": " + e.getMessage(), e);
        }
        awaitAcceptingConnections(Duration.ofSeconds(60));
        LOG.info("{} ({}) is up on port {}", name, role.jsonName(), port);
    }

    /**
     * Stops the server with a fast shutdown (clients disconnected, no waiting for them) and waits for it to
     * exit; after {@value #STOP_TIMEOUT_SECONDS} s it is killed.
     */
    public synchronized void stop() {
        Optional<ProcessHandle> handle = postmaster().filter(ProcessHandle::isAlive);
        if (handle.isEmpty()) {
            return;
        }
        signal(handle.get().pid(), "INT");
        if (!awaitExit(handle.get(), STOP_TIMEOUT)) {
            LOG.warn("{} did not stop within {} s; killing it", name, STOP_TIMEOUT.toSeconds());
            kill();
        }
        process = null;
    }

    /**
     * Kills the server and every process it forked with SIGKILL, as a crash would, and waits until they are
     * gone. The data directory is left as the crash left it; {@link #start()} recovers it.
     */
    public synchronized void kill() {
        Optional<ProcessHandle> handle = postmaster().filter(ProcessHandle::isAlive);
        if (handle.isEmpty()) {
            return;
        }
        List<ProcessHandle> all = new ArrayList<>();
        all.add(handle.get());
        handle.get().descendants().forEach(all::add);
        all.forEach(ProcessHandle::destroyForcibly);
        for (ProcessHandle p : all) {
            if (!awaitExit(p, Duration.ofSeconds(10))) {
                throw new LocalClusterException("process " + p.pid() + " of " + name + " survived SIGKILL");
            }
        }
        process = null;
    }

    /**
     * Stops the server and every process it forked with SIGSTOP: a hung node. Connections to it stay open and
     * nothing answers on them until {@link #thaw()}; new ones are accepted by the kernel and then wait.
     */
    public void freeze() {
        everyProcess().forEach(p -> signal(p.pid(), "STOP"));
    }

    /** Lets a {@link #freeze() frozen} server run again (SIGCONT). */
    public void thaw() {
        everyProcess().forEach(p -> signal(p.pid(), "CONT"));
    }

    private List<ProcessHandle> everyProcess() {
        List<ProcessHandle> all = new ArrayList<>();
        postmaster().filter(ProcessHandle::isAlive).ifPresent(h -> {
            all.add(h);
            h.descendants().forEach(all::add);
        });
        return all;
    }

    /** Pauses WAL replay on this standby ({@code pg_wal_replay_pause()}); it keeps receiving WAL. */
    public void pauseReplay() {
        requireStandby("pause replay");
        execute("SELECT pg_wal_replay_pause()");
    }

    /** Resumes WAL replay paused by {@link #pauseReplay()}. */
    public void resumeReplay() {
        requireStandby("resume replay");
        execute("SELECT pg_wal_replay_resume()");
    }

    /**
     * Sets {@code recovery_min_apply_delay} on this standby and reloads its configuration: it then applies
     * each commit no sooner than {@code delay} after the primary made it. {@link Duration#ZERO} removes the
     * delay.
     */
    public void setApplyDelay(Duration delay) {
        requireStandby("set recovery_min_apply_delay");
        execute("ALTER SYSTEM SET recovery_min_apply_delay = '" + delay.toMillis() + "ms'");
        execute("SELECT pg_reload_conf()");
    }

    /**
     * Waits until this standby's upstream lists it in {@code pg_stat_replication} with state
     * {@code streaming}.
     *
     * @throws LocalClusterException when it does not within {@code timeout}
     */
    public void awaitStreaming(Duration timeout) {
        requireStandby("wait for streaming");
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "not connected";
        while (System.nanoTime() < deadline) {
            if (!isRunning()) {
                throw new LocalClusterException(
                        name + " stopped while waiting for it to stream from " + upstream.name + "\n" + logTail());
            }
            try (Connection c = upstream.connect("postgres");
                    PreparedStatement ps =
                            c.prepareStatement("SELECT state FROM pg_stat_replication WHERE application_name = ?")) {
                ps.setString(1, name);
                try (ResultSet rs = ps.executeQuery()) {
                    last = rs.next() ? rs.getString(1) : "not listed";
                }
                if ("streaming".equals(last)) {
                    return;
                }
            } catch (SQLException e) {
                last = "upstream unreachable: " + e.getMessage();
            }
            pause(Duration.ofMillis(100));
        }
        throw new LocalClusterException(name + " is not streaming from " + upstream.name + " after "
                + timeout.toSeconds() + " s (last seen: " + last + ")\n" + logTail());
    }

    @Override
    public String toString() {
        return name + "@" + HOST + ":" + port;
    }

    /**
     * Creates a primary's data directory (a copy of one initdb per JVM: {@link InitdbTemplate}) with the
     * cluster's settings; {@code hbaFirst} go before initdb's lines in {@code pg_hba.conf} (the standbys copy
     * both files).
     */
    void initPrimary(Map<String, String> clusterSettings, List<String> hbaFirst) {
        try {
            serverUser.createPrivateDirectory(dataDir);
            InitdbTemplate.initdb(dataDir, binaries, serverUser, name);
            appendAsServerUser(dataDir.resolve("postgresql.conf"), confLines(clusterSettings));
            if (!hbaFirst.isEmpty()) {
                Path hba = dataDir.resolve("pg_hba.conf");
                List<String> lines = new ArrayList<>(hbaFirst);
                lines.addAll(Files.readAllLines(hba, StandardCharsets.UTF_8));
                Files.write(hba, lines, StandardCharsets.UTF_8);
                serverUser.handOver(hba);
            }
            appendAsServerUser(dataDir.resolve("postgresql.auto.conf"), confLines(settings));
        } catch (IOException e) {
            throw new LocalClusterException("could not create " + dataDir + " for " + name + ": " + e, e);
        }
    }

    /**
     * Creates a standby's data directory as a base backup of its upstream, streaming through a physical
     * replication slot created on the upstream.
     */
    void initStandby() {
        upstream.execute("SELECT pg_create_physical_replication_slot('" + slotName() + "')");
        try {
            serverUser.createPrivateDirectory(dataDir);
            serverUser.run(
                    List.of(
                            binaries.binary("pg_basebackup"),
                            "-h",
                            HOST,
                            "-p",
                            String.valueOf(upstream.port),
                            "-U",
                            ServerUser.POSTGRES,
                            "-D",
                            dataDir.toString(),
                            "-X",
                            "stream",
                            "-S",
                            slotName(),
                            "--checkpoint=fast",
                            "--no-sync"),
                    Duration.ofSeconds(300),
                    "pg_basebackup of " + name + " from " + upstream.name);
            Map<String, String> standby = new LinkedHashMap<>();
            standby.put(
                    "primary_conninfo",
                    "host=" + HOST + " port=" + upstream.port + " user=" + ServerUser.POSTGRES + " application_name="
                            + name);
            standby.put("primary_slot_name", slotName());
            standby.putAll(settings);
            // The backup carries the upstream's own postgresql.auto.conf (a hub's primary_conninfo, say):
            // replace it rather than append to it.
            Path auto = dataDir.resolve("postgresql.auto.conf");
            Files.deleteIfExists(auto);
            appendAsServerUser(auto, confLines(standby));
            // A backup taken from a hub already carries its standby.signal.
            Path signal = dataDir.resolve("standby.signal");
            if (!Files.exists(signal)) {
                Files.createFile(signal);
            }
            serverUser.handOver(signal);
        } catch (IOException e) {
            throw new LocalClusterException("could not prepare " + dataDir + " for " + name + ": " + e, e);
        }
    }

    /**
     * The first column of the first row of {@code sql} on this node's cluster database, as text.
     *
     * @throws LocalClusterException naming the node and the statement when it fails
     */
    public String queryString(String sql) {
        try (Connection c = connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            return rs.next() ? rs.getString(1) : null;
        } catch (SQLException e) {
            throw new LocalClusterException("on " + name + ": " + sql + ": " + e.getMessage(), e);
        }
    }

    /** Runs one statement on this node's {@code postgres} database. */
    void execute(String sql) {
        try (Connection c = connect("postgres");
                Statement s = c.createStatement()) {
            s.execute(sql);
        } catch (SQLException e) {
            throw new LocalClusterException("on " + name + ": " + sql + ": " + e.getMessage(), e);
        }
    }

    /** The last lines of the server log, for error messages. */
    String logTail() {
        try {
            List<String> lines = Files.readAllLines(logFile, StandardCharsets.UTF_8);
            List<String> tail = lines.subList(Math.max(0, lines.size() - LOG_TAIL_LINES), lines.size());
            return "---- last lines of " + logFile + ":\n" + String.join("\n", tail);
        } catch (IOException e) {
            return "(no log at " + logFile + ")";
        }
    }

    private void awaitAcceptingConnections(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        SQLException last = null;
        while (System.nanoTime() < deadline) {
            Process p = process;
            if (p == null || !p.isAlive()) {
                throw new LocalClusterException(name + " exited during start-up\n" + logTail());
            }
            try (Connection c = connect("postgres")) {
                return;
            } catch (SQLException e) {
                last = e;
            }
            pause(Duration.ofMillis(50));
        }
        throw new LocalClusterException(name + " did not accept connections on port " + port + " within "
                + timeout.toSeconds() + " s (" + (last == null ? "" : last.getMessage()) + ")\n" + logTail());
    }

    /** The running postmaster: the process this JVM started, or the one named in {@code postmaster.pid}. */
    private Optional<ProcessHandle> postmaster() {
        Process p = process;
        if (p != null) {
            return Optional.of(p.toHandle());
        }
        return readPidFile(dataDir).flatMap(ProcessHandle::of);
    }

    /** The postmaster pid recorded in a data directory's {@code postmaster.pid}, if any. */
    static Optional<Long> readPidFile(Path dataDir) {
        Path pidFile = dataDir.resolve("postmaster.pid");
        try {
            List<String> lines = Files.readAllLines(pidFile, StandardCharsets.UTF_8);
            return lines.isEmpty()
                    ? Optional.empty()
                    : Optional.of(Long.parseLong(lines.get(0).trim()));
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    /** Sends a signal by name ({@code INT}, {@code TERM}, ...) with {@code kill}. */
    static void signal(long pid, String signal) {
        try {
            Process kill = new ProcessBuilder("kill", "-s", signal, String.valueOf(pid))
                    .redirectErrorStream(true)
                    .start();
            kill.getInputStream().readAllBytes();
            kill.waitFor(10, TimeUnit.SECONDS);
        } catch (IOException e) {
            throw new LocalClusterException("could not send SIG" + signal + " to " + pid + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static boolean awaitExit(ProcessHandle handle, Duration timeout) {
        try {
            handle.onExit().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (TimeoutException e) {
            return false;
        } catch (ExecutionException e) {
            return !handle.isAlive();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return !handle.isAlive();
        }
    }

    private void requireStandby(String what) {
        if (role == NodeRole.PRIMARY) {
            throw new LocalClusterException("cannot " + what + " on " + name + ": it is a primary, not a standby");
        }
    }

    private void appendAsServerUser(Path file, List<String> lines) throws IOException {
        Files.write(file, lines, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        serverUser.handOver(file);
    }

    private static List<String> confLines(Map<String, String> settings) {
        List<String> lines = new ArrayList<>();
        settings.forEach((key, value) -> lines.add(key + " = '" + value.replace("'", "''") + "'"));
        return lines;
    }

    static void pause(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LocalClusterException("interrupted", e);
        }
    }
}
