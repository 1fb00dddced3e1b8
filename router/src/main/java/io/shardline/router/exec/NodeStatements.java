package io.shardline.router.exec;

import java.sql.Statement;
import java.util.Arrays;
import java.util.List;

/**
 * A logical statement's physical statements by node, found by identity: most statements run on one node or two, and
 * kits prepare one per execution, so a linear search of two small arrays, made on first use, replaces a map (its
 * table, and an iterator at every close).
 */
final class NodeStatements {
    private Physical[] nodes;
    private Statement[] statements;
    private int size;

    /** The statement made on {@code p}, or null. */
    Statement get(Physical p) {
        for (int i = 0; i < size; i++) {
            if (nodes[i] == p) {
                return statements[i];
            }
        }
        return null;
    }

    /** Keeps {@code s} as the statement of {@code p}, which has none. */
    void put(Physical p, Statement s) {
        if (nodes == null) {
            nodes = new Physical[2];
            statements = new Statement[2];
        } else if (size == nodes.length) {
            nodes = Arrays.copyOf(nodes, size * 2);
            statements = Arrays.copyOf(statements, size * 2);
        }
        nodes[size] = p;
        statements[size] = s;
        size++;
    }

    /** Forgets the statement of {@code p} and returns it, or null when it had none. */
    Statement remove(Physical p) {
        for (int i = 0; i < size; i++) {
            if (nodes[i] == p) {
                Statement s = statements[i];
                size--;
                nodes[i] = nodes[size];
                statements[i] = statements[size];
                nodes[size] = null;
                statements[size] = null;
                return s;
            }
        }
        return null;
    }

    int size() {
        return size;
    }

    /** The {@code i}-th statement (from 0, below {@link #size()}). */
    Statement statement(int i) {
        return statements[i];
    }

    /** The nodes, a copy. */
    List<Physical> nodes() {
        return size == 0 ? List.of() : Arrays.asList(Arrays.copyOf(nodes, size));
    }

    /** The statements, a copy. */
    List<Statement> values() {
        return size == 0 ? List.of() : Arrays.asList(Arrays.copyOf(statements, size));
    }

    void clear() {
        if (nodes != null) {
            Arrays.fill(nodes, 0, size, null);
            Arrays.fill(statements, 0, size, null);
        }
        size = 0;
    }
}
