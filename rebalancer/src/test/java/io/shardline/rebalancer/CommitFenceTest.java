package io.shardline.rebalancer;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The fence's standby name carries what to restore, so a run after one that died with the fence up restores it. */
class CommitFenceTest {
    @Test
    void theFenceLeftUpSaysWhatToRestore() {
        assertThat(CommitFence.restoredFrom("shardline_switchover_fence")).isEmpty();
        String operators = "ANY 1 (\"s0-hub1\", 's0''hub2')";
        String hex = java.util.HexFormat.of().formatHex(operators.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        assertThat(CommitFence.restoredFrom("\"shardline_switchover_fence:" + hex + "\""))
                .isEqualTo(operators);
        assertThat(CommitFence.restoredFrom("ANY 1 (s0-hub1)")).as("no fence").isNull();
        assertThat(CommitFence.restoredFrom("\"shardline_switchover_fence:zz\""))
                .isNull();
        assertThat(CommitFence.restoredFrom("")).isNull();
        assertThat(CommitFence.literal("a'b")).isEqualTo("'a''b'");
    }
}
