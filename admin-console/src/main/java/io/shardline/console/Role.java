package io.shardline.console;

/** What a console user may do. */
public enum Role {
    /** Reads every page and the API. */
    VIEWER,
    /** Also starts and aborts moves and adds shards. */
    OPERATOR;

    /** The Spring Security authorities of the role: an operator is a viewer too. */
    String[] authorities() {
        return this == OPERATOR ? new String[] {"ROLE_VIEWER", "ROLE_OPERATOR"} : new String[] {"ROLE_VIEWER"};
    }
}
