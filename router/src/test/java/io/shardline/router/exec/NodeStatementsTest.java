package io.shardline.router.exec;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.router.route.ReplicaHealth;
import io.shardline.topology.Node;
import io.shardline.topology.NodeRole;
import java.lang.reflect.Proxy;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class NodeStatementsTest {
    private static final ReplicaHealth HEALTH = new ReplicaHealth(Map.of(), 1000, n -> false, () -> new Node[0], "t");

    private static Physical physical(String name) {
        Node node = new Node(name, NodeRole.HUB, "localhost", 5432, "s0-primary");
        return new Physical(node, 0, null, HEALTH.node(node), 0);
    }

    private static Statement statement() {
        return (Statement) Proxy.newProxyInstance(
                Statement.class.getClassLoader(), new Class<?>[] {Statement.class}, (proxy, method, args) -> {
                    if (method.getName().equals("equals")) {
                        return proxy == args[0];
                    }
                    if (method.getName().equals("hashCode")) {
                        return System.identityHashCode(proxy);
                    }
                    throw new UnsupportedOperationException(method.getName());
                });
    }

    @Test
    void findsEachNodesStatementByIdentityAcrossGrowthAndRemoval() {
        NodeStatements table = new NodeStatements();
        assertThat(table.size()).isZero();
        assertThat(table.get(physical("s0-hub1"))).isNull();
        assertThat(table.values()).isEmpty();
        assertThat(table.nodes()).isEmpty();

        List<Physical> nodes = new ArrayList<>();
        List<Statement> statements = new ArrayList<>();
        for (int i = 0; i < 7; i++) { // past the first arrays' two slots, twice
            nodes.add(physical("n" + i));
            statements.add(statement());
            table.put(nodes.get(i), statements.get(i));
        }
        assertThat(table.size()).isEqualTo(7);
        for (int i = 0; i < 7; i++) {
            assertThat(table.get(nodes.get(i))).isSameAs(statements.get(i));
        }
        // another connection to the same node is another physical: not found
        assertThat(table.get(physical("n3"))).isNull();

        assertThat(table.remove(nodes.get(1))).isSameAs(statements.get(1));
        assertThat(table.remove(nodes.get(1))).isNull();
        assertThat(table.size()).isEqualTo(6);
        assertThat(table.get(nodes.get(1))).isNull();
        for (int i = 0; i < 7; i++) {
            if (i != 1) {
                assertThat(table.get(nodes.get(i))).isSameAs(statements.get(i));
            }
        }
        assertThat(table.values())
                .containsExactlyInAnyOrderElementsOf(
                        statements.stream().filter(s -> s != statements.get(1)).toList());
        List<Statement> seen = new ArrayList<>();
        for (int i = 0; i < table.size(); i++) {
            seen.add(table.statement(i));
        }
        assertThat(seen).containsExactlyInAnyOrderElementsOf(table.values());

        // copies: changing the table later does not change what was handed out
        List<Physical> handedOut = table.nodes();
        table.clear();
        assertThat(handedOut).hasSize(6);
        assertThat(table.size()).isZero();
        assertThat(table.get(nodes.get(0))).isNull();
        table.put(nodes.get(0), statements.get(0));
        assertThat(table.get(nodes.get(0))).isSameAs(statements.get(0));
        assertThat(table.size()).isEqualTo(1);
    }
}
