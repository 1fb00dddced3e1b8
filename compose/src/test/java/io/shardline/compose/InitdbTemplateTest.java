package io.shardline.compose;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InitdbTemplateTest {
    private static final int CRC_AT = 288; // PostgreSQL 15's place of it

    private static int crc(byte[] data, int length) {
        CRC32C crc = new CRC32C();
        crc.update(data, 0, length);
        return (int) crc.getValue();
    }

    @Test
    void aNewSystemIdentifierIsWrittenWithTheControlFilesCrcAgain(@TempDir Path dir) throws IOException {
        byte[] control = new byte[8192];
        new Random(7).nextBytes(control);
        ByteBuffer bytes = ByteBuffer.wrap(control).order(ByteOrder.LITTLE_ENDIAN);
        bytes.putInt(CRC_AT, crc(control, CRC_AT));
        Path file = dir.resolve("pg_control");
        Files.write(file, control);

        InitdbTemplate.newSystemIdentifier(file);

        byte[] after = Files.readAllBytes(file);
        ByteBuffer read = ByteBuffer.wrap(after).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(read.getLong(0)).isNotEqualTo(bytes.getLong(0)).isPositive();
        assertThat(read.getInt(CRC_AT)).as("the CRC of the new contents").isEqualTo(crc(after, CRC_AT));
        for (int i = 8; i < after.length; i++) {
            if (i < CRC_AT || i >= CRC_AT + 4) {
                assertThat(after[i]).as("byte %d", i).isEqualTo(control[i]);
            }
        }
    }

    @Test
    void aFileWithoutTheCrcIsLeftAsItWasAndRefused(@TempDir Path dir) throws IOException {
        byte[] control = new byte[8192];
        new Random(8).nextBytes(control);
        Path file = dir.resolve("pg_control");
        Files.write(file, control);
        assertThatThrownBy(() -> InitdbTemplate.newSystemIdentifier(file))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("no CRC");
        assertThat(Files.readAllBytes(file)).isEqualTo(control);
    }
}
