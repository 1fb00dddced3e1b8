package io.shardline.router.route;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.shardline.topology.Lsn;
import org.junit.jupiter.api.Test;

class CausalTokenTest {
    @Test
    void advancesOnlyForwardAndRoundTripsAsText() {
        CausalToken t = CausalToken.empty("demo")
                .advance(1, Lsn.parse("0/2F000A8"))
                .advance(0, Lsn.parse("16/B374D848"))
                .advance(1, Lsn.parse("0/1000"));
        assertThat(t.lsn(1)).isEqualTo(0x2F000A8L);
        assertThat(t.lsn(2)).isZero();
        assertThat(t.format()).isEqualTo("demo@0=16/B374D848,1=0/2F000A8");
        assertThat(CausalToken.parse(t.format(), "demo")).isEqualTo(t);
        assertThat(CausalToken.parse("demo@", "demo").isEmpty()).isTrue();
        assertThat(CausalToken.empty("demo").format()).isEqualTo("demo@");
    }

    @Test
    void mergeKeepsTheLaterPositionOfEachShard() {
        CausalToken a = CausalToken.parse("demo@0=0/500,1=0/900", "demo");
        CausalToken b = CausalToken.parse("demo@0=0/700,2=0/100", "demo");
        assertThat(a.merge(b).format()).isEqualTo("demo@0=0/700,1=0/900,2=0/100");
    }

    @Test
    void anUnknownPositionBlocksReplicasUntilARealOneReplacesIt() {
        CausalToken t = CausalToken.empty("demo").advance(0, CausalToken.UNKNOWN);
        assertThat(t.lsn(0)).isEqualTo(CausalToken.UNKNOWN);
        assertThat(t.format()).isEqualTo("demo@");
        assertThat(t.advance(0, 0x500).lsn(0)).isEqualTo(0x500);
    }

    @Test
    void malformedTokensAndOtherClustersAreRefusedClearly() {
        assertThatThrownBy(() -> CausalToken.parse("0=0/500", "demo")).hasMessageContaining("cluster@shard=LSN");
        assertThatThrownBy(() -> CausalToken.parse("other@0=0/500", "demo"))
                .hasMessageContaining("of cluster 'other', but this connection is to cluster 'demo'");
        assertThatThrownBy(() -> CausalToken.parse("demo@0=zz", "demo")).hasMessageContaining("has '0=zz'");
        assertThatThrownBy(() -> CausalToken.parse("demo@x=0/1", "demo")).hasMessageContaining("has 'x=0/1'");
        assertThatThrownBy(() -> CausalToken.parse("demo@0=0/1,", "demo")).hasMessageContaining("has ''");
    }

    @Test
    void lsnTextMatchesPostgresql() {
        assertThat(Lsn.format(Lsn.parse("16/B374D848"))).isEqualTo("16/B374D848");
        assertThat(Lsn.parse("0/0")).isZero();
        assertThat(Lsn.parse("FFFFFFFF/FFFFFFFF")).isEqualTo(-1L);
        assertThatThrownBy(() -> Lsn.parse("16B374D848")).hasMessageContaining("not a PostgreSQL LSN");
        assertThatThrownBy(() -> Lsn.parse("1/123456789")).hasMessageContaining("not a PostgreSQL LSN");
    }
}
