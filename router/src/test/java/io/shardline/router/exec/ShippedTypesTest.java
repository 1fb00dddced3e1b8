package io.shardline.router.exec;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.reflect.Proxy;
import java.sql.ResultSetMetaData;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The types a cross-shard read's shipped rows are cast back to in the final query. */
class ShippedTypesTest {
    /** Row description metadata of one column, as pgjdbc reports precision and scale. */
    private static ResultSetMetaData column(int precision, int scale) {
        return (ResultSetMetaData) Proxy.newProxyInstance(
                ShippedTypesTest.class.getClassLoader(),
                new Class<?>[] {ResultSetMetaData.class},
                (proxy, method, args) -> switch (method.getName()) {
                    case "getPrecision" -> precision;
                    case "getScale" -> scale;
                    default -> throw new UnsupportedOperationException(method.getName());
                });
    }

    @Test
    void aNumericColumnKeepsItsModifierNegativeScalesIncluded() throws Exception {
        assertThat(CrossShardRead.modifier("numeric", column(10, 2), 1)).isEqualTo("(10,2)");
        assertThat(CrossShardRead.modifier("numeric", column(3, 5), 1)).isEqualTo("(3,5)");
        // numeric(5,-2): pgjdbc gives the scale's 11 bits unsigned
        assertThat(CrossShardRead.modifier("numeric", column(5, 2046), 1)).isEqualTo("(5,-2)");
        assertThat(CrossShardRead.modifier("numeric", column(0, 0), 1)).isEmpty();
    }

    @Test
    void otherTypesKeepNone() throws Exception {
        // a varchar without a length reads as pgjdbc's unknownLength: taken as one it would cut values
        assertThat(CrossShardRead.modifier("varchar", column(255, 0), 1)).isEmpty();
        assertThat(CrossShardRead.modifier("bpchar", column(3, 0), 1)).isEmpty();
        assertThat(CrossShardRead.modifier("int8", column(19, 0), 1)).isEmpty();
    }

    @Test
    void partsThatDisagreeOnAModifierKeepNoneOfIt() {
        List<String> a = List.of("int8", "numeric(10,2)", "numeric(10,2)", "\"public\".\"mood\"");
        List<String> b = List.of("int8", "numeric(12,4)", "numeric(10,2)", "\"public\".\"mood\"");
        assertThat(CrossShardRead.agreed(a, b))
                .containsExactly("int8", "numeric", "numeric(10,2)", "\"public\".\"mood\"");
        assertThat(CrossShardRead.agreed(a, a)).isSameAs(a);
    }

    @Test
    void aTypeIsWrittenWithItsNameQuotedAndItsModifierAfterIt() {
        assertThat(CrossShardRead.typeSql("numeric(10,2)")).isEqualTo("\"numeric\"(10,2)");
        assertThat(CrossShardRead.typeSql("int8")).isEqualTo("\"int8\"");
        assertThat(CrossShardRead.typeSql("\"public\".\"mood\"")).isEqualTo("\"public\".\"mood\"");
        assertThat(CrossShardRead.withoutModifier("numeric(5,-2)")).isEqualTo("numeric");
    }
}
