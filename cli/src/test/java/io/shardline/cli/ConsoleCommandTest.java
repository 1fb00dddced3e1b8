package io.shardline.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.security.crypto.factory.PasswordEncoderFactories;
import picocli.CommandLine;

class ConsoleCommandTest {
    private record Run(int rc, String out, String err) {}

    private static Run run(String stdin, String... args) {
        InputStream saved = System.in;
        System.setIn(new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
        try {
            StringWriter out = new StringWriter();
            StringWriter err = new StringWriter();
            CommandLine cli = ShardlineCli.commandLine();
            cli.setOut(new PrintWriter(out));
            cli.setErr(new PrintWriter(err));
            int rc = cli.execute(args);
            return new Run(rc, out.toString(), err.toString());
        } finally {
            System.setIn(saved);
        }
    }

    @Test
    void needsACluster() {
        Run r = run("", "console");
        assertThat(r.rc).isNotZero();
        assertThat(r.err).contains("name the cluster: --dir DIR, or --zk ZK --name NAME");
    }

    @Test
    void refusesABadUsersFileBeforeConnecting(@TempDir Path dir) throws Exception {
        Path users = dir.resolve("users.yaml");
        Files.writeString(users, "users: [{name: alice, role: OPERATOR, password: secret123}]");
        Run r = run("", "console", "--zk", "127.0.0.1:1", "--name", "x", "--users", users.toString());
        assertThat(r.rc).isNotZero();
        assertThat(r.err)
                .contains(users + ": user 'alice': the password must be a bcrypt hash")
                .doesNotContain("secret123");
    }

    @Test
    void hashesAPasswordForTheUsersFile() {
        Run r = run("correct horse battery\n", "console", "hash-password");
        assertThat(r.rc).as(r.err).isZero();
        String hash = r.out.trim();
        assertThat(hash).startsWith("{bcrypt}$2a$");
        assertThat(PasswordEncoderFactories.createDelegatingPasswordEncoder().matches("correct horse battery", hash))
                .isTrue();
        Run tooShort = run("short\n", "console", "hash-password");
        assertThat(tooShort.rc).isNotZero();
        assertThat(tooShort.err).contains("at least 8 characters");
    }
}
