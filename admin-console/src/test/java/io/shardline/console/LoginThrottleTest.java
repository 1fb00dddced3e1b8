package io.shardline.console;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Base64;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class LoginThrottleTest {
    private final AtomicLong now = new AtomicLong(1_000_000);
    private final LoginThrottle throttle = new LoginThrottle(now::get);

    private void fail(String user, String address, int times) {
        for (int i = 0; i < times; i++) {
            assertThat(throttle.wait(user, address)).as("attempt %d", i + 1).isZero();
            throttle.failed(user, address);
        }
    }

    @Test
    void fiveFailuresForANameMakeTheNextAttemptWaitAndTheWaitDoubles() {
        fail("operator", "10.0.0.1", LoginThrottle.FREE_FAILURES);
        assertThat(throttle.wait("operator", "10.0.0.1")).isEqualTo(Duration.ofSeconds(1));
        assertThat(throttle.wait("operator", "10.0.0.9"))
                .as("from another address too")
                .isEqualTo(Duration.ofSeconds(1));
        assertThat(throttle.wait("viewer", "10.0.0.9"))
                .as("another name, another address")
                .isZero();
        now.addAndGet(1_000);
        assertThat(throttle.wait("operator", "10.0.0.1")).isZero();
        throttle.failed("operator", "10.0.0.1");
        assertThat(throttle.wait("operator", "10.0.0.1")).isEqualTo(Duration.ofSeconds(2));
        now.addAndGet(2_000);
        throttle.failed("operator", "10.0.0.1");
        assertThat(throttle.wait("operator", "10.0.0.1")).isEqualTo(Duration.ofSeconds(4));
    }

    @Test
    void theWaitStopsAtFifteenMinutesAndACountIsForgottenFifteenMinutesAfterItsLastFailure() {
        fail("operator", null, LoginThrottle.FREE_FAILURES);
        for (int i = 0; i < 40; i++) {
            throttle.failed("operator", null);
        }
        assertThat(throttle.wait("operator", null)).isEqualTo(LoginThrottle.MAX_WAIT);
        now.addAndGet(LoginThrottle.MAX_WAIT.toMillis() + 1);
        assertThat(throttle.wait("operator", null)).isZero();
        throttle.failed("operator", null);
        assertThat(throttle.wait("operator", null)).as("counted from one again").isZero();
    }

    @Test
    void aSuccessClearsItsNamesCount() {
        fail("operator", "10.0.0.1", LoginThrottle.FREE_FAILURES - 1);
        throttle.succeeded("operator");
        fail("operator", "10.0.0.1", LoginThrottle.FREE_FAILURES - 1);
        assertThat(throttle.wait("operator", "10.0.0.1")).isZero();
    }

    /** A viewer's valid login between guesses of the operator's password clears neither count. */
    @Test
    void anotherAccountsSuccessFromTheAddressDoesNotClearItsCount() {
        for (int i = 0; i < LoginThrottle.FREE_FAILURES_PER_ADDRESS; i++) {
            fail("guess" + i, "10.0.0.1", 1);
            throttle.succeeded("viewer");
        }
        assertThat(throttle.wait("operator", "10.0.0.1")).isEqualTo(Duration.ofSeconds(1));
    }

    /** The login trims the name and finds it in any case: so does the count. */
    @Test
    void aNamesSpellingsShareOneCount() {
        fail("operator", "10.0.0.1", 2);
        fail("Operator ", "10.0.0.2", 2);
        fail(" OPERATOR", "10.0.0.3", 1);
        assertThat(throttle.wait("operaTor", "10.0.0.4")).isEqualTo(Duration.ofSeconds(1));
    }

    @Test
    void anAddressTryingManyNamesWaitsForEveryName() {
        for (int i = 0; i < LoginThrottle.FREE_FAILURES_PER_ADDRESS; i++) {
            fail("user" + i, "10.0.0.66", 1);
        }
        assertThat(throttle.wait("someone-new", "10.0.0.66")).isEqualTo(Duration.ofSeconds(1));
        assertThat(throttle.wait("someone-new", "10.0.0.1")).isZero();
    }

    @Test
    void theBasicUserNameIsReadAndMalformedCredentialsAreNone() {
        String encoded = Base64.getEncoder().encodeToString("op:er:ator".getBytes());
        assertThat(LoginThrottleFilter.basicUser("Basic " + encoded)).isEqualTo("op");
        assertThat(LoginThrottleFilter.basicUser("basic " + encoded)).isEqualTo("op");
        assertThat(LoginThrottleFilter.basicUser("Basic !!!")).isNull();
        assertThat(LoginThrottleFilter.basicUser("Basic " + Base64.getEncoder().encodeToString("nocolon".getBytes())))
                .isNull();
        assertThat(LoginThrottleFilter.basicUser("Bearer x")).isNull();
        assertThat(LoginThrottleFilter.basicUser(null)).isNull();
    }
}
