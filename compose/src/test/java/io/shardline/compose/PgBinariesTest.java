package io.shardline.compose;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PgBinariesTest {
    @TempDir
    Path tmp;

    @Test
    void badPgBinIsAnErrorNamingTheDirectoryAndWhatIsMissing() {
        Path bogus = tmp.resolve("no-such-bin");
        assertThatThrownBy(() -> PgBinaries.locate(null, Map.of("PG_BIN", bogus.toString()), () -> null, tmp))
                .isInstanceOf(LocalClusterException.class)
                .hasMessageContaining("PG_BIN = " + bogus)
                .hasMessageContaining("missing initdb, postgres, pg_basebackup, pg_ctl");
    }

    @Test
    void explicitDirectoryWinsOverPgBinAndIsNotSilentlyReplaced() throws IOException {
        Path good = fakeInstallation(tmp.resolve("15/bin"));
        Path bogus = tmp.resolve("elsewhere");
        assertThatThrownBy(() -> PgBinaries.locate(bogus, Map.of("PG_BIN", good.toString()), () -> null, tmp))
                .isInstanceOf(LocalClusterException.class)
                .hasMessageContaining(bogus.toString());
        assertThat(PgBinaries.locate(good, Map.of(), () -> null, tmp).binDir()).isEqualTo(good);
    }

    @Test
    void pgConfigComesBeforeTheDebianDirectories() throws IOException {
        Path viaPgConfig = fakeInstallation(tmp.resolve("custom/bin"));
        fakeInstallation(tmp.resolve("16/bin"));
        assertThat(PgBinaries.locate(null, Map.of(), () -> viaPgConfig, tmp).binDir())
                .isEqualTo(viaPgConfig);
    }

    @Test
    void newestDebianVersionIsChosen() throws IOException {
        fakeInstallation(tmp.resolve("14/bin"));
        Path newest = fakeInstallation(tmp.resolve("16/bin"));
        Files.createDirectories(tmp.resolve("9/bin"));
        PgBinaries found = PgBinaries.locate(null, Map.of(), () -> null, tmp);
        assertThat(found.binDir()).isEqualTo(newest);
        assertThat(found.binary("initdb")).isEqualTo(newest.resolve("initdb").toString());
    }

    @Test
    void nothingFoundListsEveryPlaceTried() throws IOException {
        Path clientOnly = Files.createDirectories(tmp.resolve("usr/bin"));
        Path emptyRoot = tmp.resolve("empty");
        assertThatThrownBy(() -> PgBinaries.locate(null, Map.of(), () -> clientOnly, emptyRoot))
                .isInstanceOf(LocalClusterException.class)
                .hasMessageContaining("PG_BIN (not set)")
                .hasMessageContaining("pg_config --bindir = " + clientOnly + " (missing initdb")
                .hasMessageContaining(emptyRoot + "/*/bin")
                .hasMessageContaining("apt-get install postgresql-15");
    }

    @Test
    void aServerOlderThanPostgreSql15IsRefusedNamingItsVersion() throws IOException {
        Path old = fakeInstallation(tmp.resolve("14/bin"));
        Files.writeString(old.resolve("postgres"), "#!/bin/sh\necho 'postgres (PostgreSQL) 14.11'\n");
        PgBinaries fourteen = PgBinaries.locate(old, Map.of(), () -> null, tmp);
        assertThatThrownBy(() -> fourteen.requireVersion(PgBinaries.MIN_MAJOR))
                .isInstanceOf(LocalClusterException.class)
                .hasMessageContaining(old + " holds PostgreSQL 14")
                .hasMessageContaining("needs PostgreSQL 15 or newer");
        Path current = fakeInstallation(tmp.resolve("15/bin"));
        Files.writeString(current.resolve("postgres"), "#!/bin/sh\necho 'postgres (PostgreSQL) 15.18'\n");
        PgBinaries.locate(current, Map.of(), () -> null, tmp).requireVersion(PgBinaries.MIN_MAJOR);
    }

    private static Path fakeInstallation(Path bin) throws IOException {
        Files.createDirectories(bin);
        for (String name : PgBinaries.REQUIRED) {
            Path file = bin.resolve(name);
            Files.writeString(file, "#!/bin/sh\n");
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        return bin;
    }
}
