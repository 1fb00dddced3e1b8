package io.shardline.topology;

import com.fasterxml.jackson.annotation.JsonProperty;

/** A node's place in its shard's cascade. */
public enum NodeRole {
    /** The read-write primary. */
    @JsonProperty("primary")
    PRIMARY,
    /** A hot standby streaming from the primary. */
    @JsonProperty("hub")
    HUB,
    /** A hot standby streaming from a hub. */
    @JsonProperty("leaf")
    LEAF;

    /** Whether the node serves reads only. */
    public boolean isReplica() {
        return this != PRIMARY;
    }
}
