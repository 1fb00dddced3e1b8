package io.shardline.compose;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The operating-system user the PostgreSQL servers run as.
 *
 * <p>PostgreSQL refuses to run as root. When this JVM is root, every server binary is started through
 * {@code setpriv} as the {@code postgres} OS user (which the Debian packages create), and the data
 * directories are handed to that user. Otherwise the binaries run as the current user.
 */
final class ServerUser {
    static final String POSTGRES = "postgres";

    private final boolean dropPrivileges;

    private ServerUser(boolean dropPrivileges) {
        this.dropPrivileges = dropPrivileges;
    }

    static ServerUser detect() {
        return new ServerUser("root".equals(System.getProperty("user.name")));
    }

    /** Whether the servers run as {@code postgres} because this JVM is root. */
    boolean dropsPrivileges() {
        return dropPrivileges;
    }

    /** The command line that runs {@code command} as the server user. */
    List<String> command(List<String> command) {
        if (!dropPrivileges) {
            return command;
        }
        List<String> wrapped = new ArrayList<>(
                List.of("setpriv", "--reuid=" + POSTGRES, "--regid=" + POSTGRES, "--init-groups", "--reset-env", "--"));
        wrapped.addAll(command);
        return wrapped;
    }

    /** Creates {@code dir} (and parents) owned by the server user with mode 0700, as initdb wants. */
    void createPrivateDirectory(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        handOver(dir);
    }

    /** Makes the server user the owner of {@code path} (no-op when not root). */
    void handOver(Path path) throws IOException {
        if (!dropPrivileges) {
            return;
        }
        UserPrincipalLookupService lookup = path.getFileSystem().getUserPrincipalLookupService();
        try {
            Files.setOwner(path, lookup.lookupPrincipalByName(POSTGRES));
            Files.getFileAttributeView(path, PosixFileAttributeView.class)
                    .setGroup(lookup.lookupPrincipalByGroupName(POSTGRES));
        } catch (UserPrincipalNotFoundException e) {
            throw new LocalClusterException("running as root, so PostgreSQL must run as the '" + POSTGRES
                    + "' OS user, but there is no such user. Install the PostgreSQL server package"
                    + " (it creates the user) or run as a non-root user.");
        }
    }

    /**
     * Checks that the server user can write to {@code dir}: as root, every parent directory must be
     * searchable by {@code postgres}.
     *
     * @throws LocalClusterException naming the directory when it cannot
     */
    void checkWritable(Path dir) {
        if (!dropPrivileges) {
            return;
        }
        try {
            run(List.of("test", "-w", dir.toString()), Duration.ofSeconds(10), "checking " + dir);
        } catch (LocalClusterException e) {
            throw new LocalClusterException("the '" + POSTGRES + "' OS user cannot write to " + dir
                    + ": a parent directory is not searchable by it. Choose a data directory under a path"
                    + " every user can enter (e.g. under /tmp).");
        }
    }

    /**
     * Runs {@code command} as the server user to completion and returns its output.
     *
     * @param what what the command does, for the error message
     * @throws LocalClusterException with the command's output when it fails or times out
     */
    String run(List<String> command, Duration timeout, String what) {
        List<String> full = command(command);
        try {
            Process process = new ProcessBuilder(full).redirectErrorStream(true).start();
            process.getOutputStream().close();
            CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> readAll(process));
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                throw new LocalClusterException(
                        what + " did not finish within " + timeout.toSeconds() + " s: " + String.join(" ", command));
            }
            String out = output.join();
            if (process.exitValue() != 0) {
                throw new LocalClusterException(what + " failed (exit " + process.exitValue() + "): "
                        + String.join(" ", command) + "\n" + out.strip());
            }
            return out;
        } catch (IOException e) {
            throw new LocalClusterException(what + ": could not run " + full.get(0) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LocalClusterException(what + " was interrupted", e);
        }
    }

    private static String readAll(Process process) {
        try {
            return new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
