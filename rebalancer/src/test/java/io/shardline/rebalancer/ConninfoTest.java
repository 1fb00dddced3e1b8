package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ConninfoTest {
    private static final Node HUB1 = new Node("s0-hub1", NodeRole.HUB, "10.0.0.2", 5432, "s0-primary");

    @Test
    void aConnectionStringKeepsEverySettingButTheAddressWithValuesQuoted() {
        String conninfo = "user=replicator password='it''s a \\'secret\\' \\\\ too' host=10.0.0.1 hostaddr=10.0.0.1"
                + " port=5432 application_name=s0-hub2 sslmode=verify-full";
        Map<String, String> parsed = Conninfo.parse(conninfo.replace("''", ""));
        assertThat(parsed)
                .containsEntry("password", "its a 'secret' \\ too")
                .containsEntry("application_name", "s0-hub2");

        String moved = Conninfo.withHostAndPort(conninfo.replace("''", ""), HUB1);
        assertThat(Conninfo.parse(moved))
                .containsExactly(
                        Map.entry("user", "replicator"),
                        Map.entry("password", "its a 'secret' \\ too"),
                        Map.entry("host", "10.0.0.2"),
                        Map.entry("port", "5432"),
                        Map.entry("application_name", "s0-hub2"),
                        Map.entry("sslmode", "verify-full"));
    }

    @Test
    void aMalformedConnectionStringIsRefusedNamingTheProblem() {
        assertThatThrownBy(() -> Conninfo.parse("host=a port"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("without '='");
        assertThatThrownBy(() -> Conninfo.parse("host='a"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unterminated quoted value of host");
    }

    @Test
    void aSubscriptionsConnectionKeepsAPasswordWithSpacesQuotesAndBackslashesWhole() {
        String password = "it's a \\ secret with spaces";
        String conninfo = Conninfo.of(HUB1, "shop db", "app", password);
        assertThat(Conninfo.parse(conninfo))
                .containsExactly(
                        Map.entry("host", "10.0.0.2"),
                        Map.entry("port", "5432"),
                        Map.entry("dbname", "shop db"),
                        Map.entry("user", "app"),
                        Map.entry("password", password));
        assertThat(Conninfo.parse(Conninfo.of(HUB1, "shardline", "postgres", null)))
                .doesNotContainKey("password");
    }
}
