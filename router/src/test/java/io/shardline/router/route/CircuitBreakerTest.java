package io.shardline.router.route;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class CircuitBreakerTest {
    @Test
    void theWorkedExampleOfTheJavadoc() {
        CircuitBreaker b = new CircuitBreaker(500, 10_000);
        assertThat(b.isClosed()).isTrue();
        assertThat(b.recordFailure(0)).isTrue();
        assertThat(b.isClosed()).isFalse();
        assertThat(b.probeDue(499)).isFalse();
        assertThat(b.probeDue(500)).isTrue();
        b.recordProbe(false, 500);
        assertThat(b.probeAtMillis()).isEqualTo(1500);
        b.recordProbe(false, 1500);
        assertThat(b.probeAtMillis()).isEqualTo(3500);
        b.recordProbe(true, 3500);
        assertThat(b.isClosed()).isTrue();
        assertThat(b.probeDue(100_000)).isFalse();
        b.recordFailure(5000);
        assertThat(b.probeAtMillis()).isEqualTo(5500);
    }

    @Test
    void errorsOfRequestsAlreadyInFlightDoNotExtendTheEjection() {
        CircuitBreaker b = new CircuitBreaker(500, 10_000);
        b.recordFailure(0);
        assertThat(b.recordFailure(400)).isFalse();
        assertThat(b.probeAtMillis()).isEqualTo(500);
        assertThat(b.ejections()).isEqualTo(1);
        b.recordProbe(true, 500);
        b.recordFailure(600);
        assertThat(b.ejections()).isEqualTo(2);
    }

    @Test
    void theBackOffStopsAtItsCeiling() {
        CircuitBreaker b = new CircuitBreaker(500, 2000);
        b.recordFailure(0);
        long now = 0;
        for (int i = 0; i < 10; i++) {
            now = b.probeAtMillis();
            b.recordProbe(false, now);
        }
        assertThat(b.probeAtMillis() - now).isEqualTo(2000);
        assertThatThrownBy(() -> new CircuitBreaker(0, 10)).hasMessageContaining("0 < base <= ceiling");
    }
}
