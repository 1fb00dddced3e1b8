package io.shardline.console;

import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Slows password guessing down: after {@link #FREE_FAILURES} failed logins in a row for a user name, or
 * {@link #FREE_FAILURES_PER_ADDRESS} from a client address, each further attempt for that name or from that address
 * (form or HTTP Basic, right password or not) is refused until a wait has passed: 1 s after the first failure over
 * the limit, doubling with each further failure, at most {@link #MAX_WAIT}. A successful login clears its name's count
 * (names compared as the login compares them: trimmed, any case); a count is forgotten {@link #MAX_WAIT} after its last
 * failure. Per console process, in memory.
 */
final class LoginThrottle {
    static final int FREE_FAILURES = 5;
    static final int FREE_FAILURES_PER_ADDRESS = 20;
    static final Duration MAX_WAIT = Duration.ofMinutes(15);
    /** At most this many names and addresses are remembered; the ones failing longest ago are forgotten first. */
    static final int MAX_TRACKED = 100_000;

    private static final class Failures {
        int count;
        long lastMillis;
    }

    private final LongSupplier clock;
    /** Keys {@code u:<name>} and {@code a:<address>}, least recently failed first. */
    private final LinkedHashMap<String, Failures> failures = new LinkedHashMap<>();

    LoginThrottle(LongSupplier clock) {
        this.clock = clock;
    }

    LoginThrottle() {
        this(System::currentTimeMillis);
    }

    /**
     * How long an attempt for {@code user} from {@code address} must still wait; zero when it may go ahead.
     * Either may be null (unknown).
     */
    synchronized Duration wait(String user, String address) {
        long now = clock.getAsLong();
        long waitMillis = Math.max(
                waitMillis(nameKey(user), FREE_FAILURES, now),
                waitMillis(address == null ? null : "a:" + address, FREE_FAILURES_PER_ADDRESS, now));
        return Duration.ofMillis(waitMillis);
    }

    synchronized void failed(String user, String address) {
        long now = clock.getAsLong();
        count(nameKey(user), now);
        count(address == null ? null : "a:" + address, now);
        forgetOld(now);
    }

    /**
     * Clears the count of the name that logged in. Not its address's: another account's success from the same
     * address (a viewer's valid request between two guesses of the operator's password) must not reset the guesses.
     */
    synchronized void succeeded(String user) {
        String key = nameKey(user);
        if (key != null) {
            failures.remove(key);
        }
    }

    /**
     * The key of a user name as the login finds the user: Spring Security trims the form's name and the user store
     * ignores case, so {@code "Operator "} and {@code "operator"} are one name and share one count.
     */
    private static String nameKey(String user) {
        return user == null ? null : "u:" + user.trim().toLowerCase(Locale.ROOT);
    }

    private long waitMillis(String key, int free, long now) {
        Failures f = key == null ? null : failures.get(key);
        if (f == null || f.count < free) {
            return 0;
        }
        int over = Math.min(f.count - free, 30);
        long wait = Math.min(1000L << over, MAX_WAIT.toMillis());
        return Math.max(0, f.lastMillis + wait - now);
    }

    private void count(String key, long now) {
        if (key == null) {
            return;
        }
        Failures f = failures.remove(key);
        if (f == null) {
            f = new Failures();
        }
        failures.put(key, f);
        if (now - f.lastMillis > MAX_WAIT.toMillis()) {
            f.count = 0;
        }
        f.count++;
        f.lastMillis = now;
    }

    private void forgetOld(long now) {
        Iterator<Map.Entry<String, Failures>> oldest = failures.entrySet().iterator();
        while (oldest.hasNext()) {
            Failures f = oldest.next().getValue();
            if (failures.size() <= MAX_TRACKED && now - f.lastMillis <= MAX_WAIT.toMillis()) {
                return;
            }
            oldest.remove();
        }
    }
}
