package io.shardline.topology;

import com.fasterxml.jackson.annotation.JsonProperty;

/** What a replica is doing, as the monitor saw it. */
public enum ReplicaState {
    /** Its WAL receiver streams and it replays. */
    @JsonProperty("streaming")
    STREAMING,
    /** Connected and replaying, but its WAL receiver is not streaming (upstream gone, reconnecting). */
    @JsonProperty("disconnected")
    DISCONNECTED,
    /** Replay is paused ({@code pg_wal_replay_pause()}). */
    @JsonProperty("paused")
    PAUSED,
    /** The monitor cannot reach it. */
    @JsonProperty("down")
    DOWN
}
