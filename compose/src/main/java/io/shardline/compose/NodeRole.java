package io.shardline.compose;

import java.util.Locale;

/** Where a PostgreSQL node sits in its shard's cascade: the primary, a hub streaming from it, or a leaf. */
public enum NodeRole {
    /** The shard's read-write primary. */
    PRIMARY,
    /** A hot standby streaming from the primary; leaves stream from it. */
    HUB,
    /** A hot standby streaming from a hub (cascading replication). */
    LEAF;

    /** The lower-case name used in {@code cluster.json}: {@code primary}, {@code hub}, {@code leaf}. */
    public String jsonName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Parses the {@code cluster.json} name.
     *
     * @throws IllegalArgumentException naming the value when it is none of {@code primary}, {@code hub}, {@code leaf}
     */
    public static NodeRole fromJsonName(String name) {
        for (NodeRole role : values()) {
            if (role.jsonName().equals(name)) {
                return role;
            }
        }
        throw new IllegalArgumentException("unknown node role '" + name + "': expected primary, hub or leaf");
    }
}
