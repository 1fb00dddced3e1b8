package io.shardline.topology;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigDecimal;
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

    @Test
    void badKeyValuesAreNamed() {
        assertThatThrownBy(() -> KeyType.INTEGER.hash("forty-two"))
                .hasMessageContaining("'forty-two' is not an integer");
        assertThatThrownBy(() -> KeyType.INTEGER.hash(new BigDecimal("1e30")))
                .hasMessageContaining("is not an integer");
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
