package io.shardline.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A certificate authority made for one test with {@code openssl}, and server certificates it signs. */
final class ThrowawayCa {
    final Path dir;
    final Path certificate;
    private final Path key;

    ThrowawayCa(Path dir, String name) throws Exception {
        this.dir = dir;
        // the server user (postgres, when the tests run as root) reads the CA certificate for subscriptions
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        certificate = dir.resolve(name + ".crt");
        key = dir.resolve(name + ".key");
        openssl(
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=" + name,
                "-keyout",
                key.toString(),
                "-out",
                certificate.toString());
        Files.setPosixFilePermissions(certificate, PosixFilePermissions.fromString("rw-r--r--"));
    }

    /** A server certificate and key ({@code [cert, key]}) for {@code subjectAltName} (e.g. {@code IP:127.0.0.1}). */
    Path[] server(String name, String subjectAltName) throws Exception {
        Path serverKey = dir.resolve(name + ".key");
        Path csr = dir.resolve(name + ".csr");
        Path cert = dir.resolve(name + ".crt");
        Path ext = dir.resolve(name + ".ext");
        Files.writeString(ext, "subjectAltName = " + subjectAltName + "\n");
        openssl(
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=" + name,
                "-keyout",
                serverKey.toString(),
                "-out",
                csr.toString());
        openssl(
                "x509",
                "-req",
                "-in",
                csr.toString(),
                "-CA",
                certificate.toString(),
                "-CAkey",
                key.toString(),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                ext.toString(),
                "-out",
                cert.toString());
        return new Path[] {cert, serverKey};
    }

    private void openssl(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Path log = dir.resolve("openssl.log");
        Process p = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException("openssl " + String.join(" ", args) + " failed: " + Files.readString(log));
        }
    }
}
