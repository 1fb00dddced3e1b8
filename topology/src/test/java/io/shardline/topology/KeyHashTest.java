package io.shardline.topology;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.UUID;
import org.junit.jupiter.api.Test;

/** Values computed by PostgreSQL 15 ({@code SELECT hashint8extended(1, 0)}, ...); KeyHashIT checks 10,000s more. */
class KeyHashTest {

    @Test
    void int8MatchesTheServer() {
        assertThat(KeyHash.hashInt8(0)).isEqualTo(4154612158245552303L);
        assertThat(KeyHash.hashInt8(1)).isEqualTo(-3670598878359251130L);
        assertThat(KeyHash.hashInt8(-1)).isEqualTo(-1888257769727981238L);
        assertThat(KeyHash.hashInt8(Long.MAX_VALUE)).isEqualTo(1977219185673256887L);
        assertThat(KeyHash.hashInt8(Long.MIN_VALUE)).isEqualTo(-9109110466470504941L);
        // The halves are folded together: 2^32 collides with 1, as in PostgreSQL.
        assertThat(KeyHash.hashInt8(4294967296L)).isEqualTo(-3670598878359251130L);
    }

    @Test
    void int4MatchesTheServerAndAgreesWithInt8() {
        assertThat(KeyHash.hashInt4(42)).isEqualTo(8010225493015854792L);
        assertThat(KeyHash.hashInt4(-7)).isEqualTo(-4284878795861022465L);
        for (int v : new int[] {0, 1, -1, 42, -7, Integer.MAX_VALUE, Integer.MIN_VALUE}) {
            assertThat(KeyHash.hashInt4(v)).as("%d", v).isEqualTo(KeyHash.hashInt8(v));
        }
    }

    @Test
    void textMatchesTheServerForEveryTailLength() {
        assertThat(KeyHash.hashText("")).isEqualTo(-6939563903564495251L);
        assertThat(KeyHash.hashText("a")).isEqualTo(3591986179850072241L);
        assertThat(KeyHash.hashText("hello world!")).isEqualTo(-2866487628948787489L);
        assertThat(KeyHash.hashText("Grüße, 世界 🚀")).isEqualTo(4117201878950564838L);
        assertThat(KeyHash.hashText("abcdefghijklmnopqrstuvwxyz0123")).isEqualTo(-6220525620039254070L);
    }

    @Test
    void uuidMatchesTheServer() {
        assertThat(KeyHash.hashUuid(new UUID(0, 0))).isEqualTo(-6859010066814654381L);
        assertThat(KeyHash.hashUuid(UUID.fromString("123e4567-e89b-12d3-a456-426614174000")))
                .isEqualTo(-1647950126005018481L);
    }
}
