package io.shardline.compose;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** A node's WAL senders and replication slots follow the shard's shape. */
class WalSendersTest {
    @Test
    void smallShapesKeepTheDefault() {
        assertThat(LocalCluster.senders(1, 1)).containsEntry("max_wal_senders", "16");
        assertThat(LocalCluster.senders(0, 0)).containsEntry("max_replication_slots", "16");
    }

    @Test
    void aFleetLeavesRoomAfterASwitchoverForABaseBackupAndAMove() {
        // 46 leaves on 4 hubs: a promoted hub streams to its 12 leaves and the 3 other hubs, plus 6 spare
        assertThat(LocalCluster.senders(4, 46))
                .containsEntry("max_wal_senders", "21")
                .containsEntry("max_replication_slots", "21");
        // 64 leaves on 2 hubs: 32 leaves and 1 hub, plus 6
        assertThat(LocalCluster.senders(2, 64)).containsEntry("max_wal_senders", "39");
    }
}
