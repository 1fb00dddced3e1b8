package io.shardline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class QualifiedNameTest {
    @Test
    void namesFoldLikePostgresUnlessQuoted() {
        assertThat(QualifiedName.parse("Users")).isEqualTo(new QualifiedName("public", "users"));
        assertThat(QualifiedName.parse("Sales.Orders")).isEqualTo(new QualifiedName("sales", "orders"));
        assertThat(QualifiedName.parse("\"Sales\".\"Order.Items\""))
                .isEqualTo(new QualifiedName("Sales", "Order.Items"));
        assertThat(QualifiedName.parse("\"say \"\"hi\"\"\"")).isEqualTo(new QualifiedName("public", "say \"hi\""));
    }

    @Test
    void badNamesAreRefusedWithTheText() {
        assertThatThrownBy(() -> QualifiedName.parse("bad name")).hasMessageContaining("'bad name'");
        assertThatThrownBy(() -> QualifiedName.parse("x;drop table y")).hasMessageContaining("invalid table name");
        assertThatThrownBy(() -> QualifiedName.identifier("\"a\"b\"", "column"))
                .hasMessageContaining("malformed quoted column");
    }
}
