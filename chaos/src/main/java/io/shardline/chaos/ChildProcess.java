package io.shardline.chaos;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * A {@link ChildMain} process that can be killed (SIGKILL), paused (SIGSTOP/SIGCONT) and started again. Its
 * standard error goes to a log file; lines it prints other than {@code started} go to a consumer.
 */
final class ChildProcess implements AutoCloseable {
    private final String name;
    private final List<String> args;
    private final Path log;
    private final Consumer<String> lines;
    private Process process;
    private boolean stopped;

    ChildProcess(String name, Path dir, Consumer<String> lines, String... args) {
        this.name = name;
        this.args = List.of(args);
        this.log = dir.resolve(name + ".log");
        this.lines = lines;
    }

    String name() {
        return name;
    }

    Path log() {
        return log;
    }

    /** Starts it and waits (60 s at most) until it says it started; nothing when it runs already. */
    synchronized void start() {
        if (isAlive()) {
            return;
        }
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("-Xmx256m");
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=info");
        command.add("-Dorg.slf4j.simpleLogger.log.org.apache.zookeeper=warn");
        command.add("-Dorg.slf4j.simpleLogger.log.org.apache.curator=warn");
        command.add("-Dorg.slf4j.simpleLogger.showDateTime=true");
        command.add(ChildMain.class.getName());
        command.addAll(args);
        try {
            Files.createDirectories(log.getParent());
            Process p = new ProcessBuilder(command)
                    .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .start();
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            CompletableFuture<String> first = CompletableFuture.supplyAsync(() -> {
                try {
                    return out.readLine();
                } catch (IOException e) {
                    return null;
                }
            });
            String said;
            try {
                said = first.get(60, TimeUnit.SECONDS);
            } catch (ExecutionException | TimeoutException e) {
                said = "nothing within 60 s";
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                said = "interrupted";
            }
            if (!"started".equals(said)) {
                p.destroyForcibly();
                throw new IllegalStateException(name + " did not start (see " + log + "): " + said);
            }
            Thread reader = new Thread(
                    () -> {
                        try {
                            for (String line = out.readLine(); line != null; line = out.readLine()) {
                                lines.accept(line);
                            }
                        } catch (IOException e) {
                            // the process ended
                        }
                    },
                    name + "-output");
            reader.setDaemon(true);
            reader.start();
            process = p;
            stopped = false;
        } catch (IOException e) {
            throw new IllegalStateException("cannot start " + name + ": " + e.getMessage(), e);
        }
    }

    synchronized boolean isAlive() {
        return process != null && process.isAlive();
    }

    /** SIGKILL, and waits for it to end. */
    synchronized void kill() throws InterruptedException {
        if (process != null) {
            if (stopped) {
                signal("CONT");
            }
            process.destroyForcibly();
            process.waitFor();
        }
    }

    synchronized void pause() {
        signal("STOP");
        stopped = true;
    }

    synchronized void resume() {
        signal("CONT");
        stopped = false;
    }

    /** Writes one line to its standard input. */
    synchronized void tell(String line) throws IOException {
        OutputStream in = process.getOutputStream();
        in.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        in.flush();
    }

    /** Waits for it to end by itself; false when it still runs after {@code ms}. */
    boolean awaitExit(long ms) throws InterruptedException {
        Process p;
        synchronized (this) {
            p = process;
        }
        return p == null || p.waitFor(ms, TimeUnit.MILLISECONDS);
    }

    private void signal(String signal) {
        if (process == null || !process.isAlive()) {
            return;
        }
        try {
            new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid()))
                    .start()
                    .waitFor();
        } catch (IOException e) {
            throw new IllegalStateException("kill -" + signal + " " + name + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() throws InterruptedException {
        kill();
    }
}
