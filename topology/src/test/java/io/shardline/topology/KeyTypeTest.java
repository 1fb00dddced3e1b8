package io.shardline.topology;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigDecimal;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class KeyTypeTest {
    @Test
    void integerValuesOfEveryJavaTypeHashAlike() {
        long expected = KeyHash.hashInt8(42);
        assertThat(KeyType.INTEGER.hash(42)).isEqualTo(expected);
        assertThat(KeyType.INTEGER.hash(42L)).isEqualTo(expected);
        assertThat(KeyType.INTEGER.hash((short) 42)).isEqualTo(expected);
        assertThat(KeyType.INTEGER.hash(new BigDecimal("42"))).isEqualTo(expected);
        assertThat(KeyType.INTEGER.hash(" 42 ")).isEqualTo(expected);
    }

    /**
     * A number with a fraction or an exponent is the key PostgreSQL gives it: a numeric assigned to a bigint rounds
     * half away from zero (and no bigint equals a value with a fraction, so reading its shard finds nothing).
     */
    @Test
    void numbersInOtherSpellingsHashAsTheIntegerPostgresqlMakesOfThem() {
        long twelve = KeyType.INTEGER.hash(12L);
        for (Object spelling :
                List.of("12.0", " 0012 ", ".12e2", "1.2e1", "11.5", new BigDecimal("12.00"), new BigDecimal("11.5"))) {
            assertThat(KeyType.INTEGER.hash(spelling))
                    .as(String.valueOf(spelling))
                    .isEqualTo(twelve);
        }
        assertThat(KeyType.INTEGER.hash("-11.5")).isEqualTo(KeyType.INTEGER.hash(-12L));
        // a double is rounded as PostgreSQL rounds a float8 into a bigint: half to even
        assertThat(KeyType.INTEGER.hash(6.5d)).isEqualTo(KeyType.INTEGER.hash(6L));
        assertThat(KeyType.INTEGER.hash(7.5d)).isEqualTo(KeyType.INTEGER.hash(8L));
        assertThat(KeyType.INTEGER.hash(7.0f)).isEqualTo(KeyType.INTEGER.hash(7L));
        assertThat(KeyType.INTEGER.hash(Double.POSITIVE_INFINITY)).isEqualTo(KeyType.INTEGER.hash(Long.MAX_VALUE));
        assertThatThrownBy(() -> KeyType.INTEGER.hash(9007199254740993.0d))
                .as("PostgreSQL compares a bigint with a float8 as float8: several keys equal it")
                .hasMessageContaining("bind it as a long");
        // a numeric literal assigned to a text key is PostgreSQL's text of it
        assertThat(KeyType.TEXT.hash(new BigDecimal("0.0000001"))).isEqualTo(KeyType.TEXT.hash("0.0000001"));
        assertThat(KeyType.INTEGER.hash("1e-999999999")).isEqualTo(KeyType.INTEGER.hash(0L));
        assertThat(KeyType.INTEGER.hash("-9223372036854775808")).isEqualTo(KeyType.INTEGER.hash(Long.MIN_VALUE));
        // no bigint: nothing to find, nothing PostgreSQL stores (22003), on whichever shard
        assertThat(KeyType.INTEGER.hash("9223372036854775808")).isEqualTo(KeyType.INTEGER.hash(Long.MAX_VALUE));
        assertThat(KeyType.INTEGER.hash(new BigDecimal("-1e30"))).isEqualTo(KeyType.INTEGER.hash(Long.MIN_VALUE));
        assertThat(KeyType.INTEGER.hash("1e999999999")).isEqualTo(KeyType.INTEGER.hash(Long.MAX_VALUE));
    }

    @Test
    void badKeyValuesAreNamed() {
        assertThatThrownBy(() -> KeyType.INTEGER.hash("forty-two"))
                .hasMessageContaining("'forty-two' is not an integer");
        assertThatThrownBy(() -> KeyType.INTEGER.hash("12,5")).hasMessageContaining("'12,5' is not an integer");
        assertThatThrownBy(() -> KeyType.UUID.hash("not-a-uuid")).hasMessageContaining("'not-a-uuid' is not a uuid");
        assertThatThrownBy(() -> KeyType.TEXT.hash(null)).hasMessageContaining("cannot be NULL");
    }

    @Test
    void uuidAcceptsObjectsAndText() {
        UUID id = UUID.fromString("123e4567-e89b-12d3-a456-426614174000");
        assertThat(KeyType.UUID.hash(id)).isEqualTo(KeyType.UUID.hash(id.toString()));
        // the forms PostgreSQL's uuid input takes
        for (String form : new String[] {
            "{123e4567-e89b-12d3-a456-426614174000}",
            "123E4567-E89B-12D3-A456-426614174000",
            "123e4567e89b12d3a456426614174000",
            "123e-4567-e89b-12d3-a456-4266-1417-4000"
        }) {
            assertThat(KeyType.UUID.hash(form)).as(form).isEqualTo(KeyType.UUID.hash(id));
        }
        for (String bad : new String[] {
            "123e4567-e89b-12d3-a456-42661417400",
            "-123e4567e89b12d3a456426614174000",
            "123e4567--e89b12d3a456426614174000",
            "123e4567e89b12d3a456426614174000-",
            "{123e4567e89b12d3a456426614174000",
            "1-1-1-1-1",
            "\u0663" + "23e4567e89b12d3a456426614174000"
        }) {
            assertThatThrownBy(() -> KeyType.UUID.hash(bad)).as(bad).hasMessageContaining("is not a uuid");
        }
    }

    @Test
    void sqlTypesMapToKeyTypes() {
        assertThat(KeyType.fromSqlType("BIGINT")).isEqualTo(KeyType.INTEGER);
        assertThat(KeyType.fromSqlType("int4")).isEqualTo(KeyType.INTEGER);
        assertThat(KeyType.fromSqlType("varchar(20)")).isEqualTo(KeyType.TEXT);
        assertThat(KeyType.fromSqlType("uuid")).isEqualTo(KeyType.UUID);
        assertThatThrownBy(() -> KeyType.fromSqlType("numeric")).hasMessageContaining("'numeric' is not supported");
        assertThat(KeyType.INTEGER.sqlHashExpression("\"id\"")).isEqualTo("hashint8extended(\"id\"::bigint, 0)");
    }
}
