package io.shardline.console;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * Refuses a login attempt (the login form's POST, or any request with HTTP Basic credentials) with 429 and
 * {@code Retry-After} while {@link LoginThrottle} says its user name or client address must wait. It runs before
 * the authentication filters, so a refused attempt checks no password.
 */
final class LoginThrottleFilter extends OncePerRequestFilter {
    private final LoginThrottle throttle;

    LoginThrottleFilter(LoginThrottle throttle) {
        this.throttle = throttle;
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        // the path as the form login's matcher sees it: POST /%6cogin is a login too
        boolean form =
                request.getMethod().equals("POST") && AuditFilter.path(request).equals("/login");
        String basic = basicUser(request.getHeader("Authorization"));
        if (!form && basic == null) {
            chain.doFilter(request, response);
            return;
        }
        String user = form ? request.getParameter("username") : basic;
        Duration wait = throttle.wait(user, request.getRemoteAddr());
        if (wait.isZero()) {
            chain.doFilter(request, response);
            return;
        }
        long seconds = Math.max(1, (wait.toMillis() + 999) / 1000);
        request.setAttribute(AuditFilter.OUTCOME, "denied: throttled after failed logins (" + seconds + " s left)");
        response.setHeader("Retry-After", Long.toString(seconds));
        ApiErrors.write(
                request,
                response,
                429,
                "too many failed logins for this user name or from this address: try again in " + seconds + " s");
    }

    /** The user name of HTTP Basic credentials, or null when there are none or they are malformed. */
    static String basicUser(String authorization) {
        if (authorization == null || !authorization.regionMatches(true, 0, "Basic ", 0, 6)) {
            return null;
        }
        try {
            String decoded = new String(
                    Base64.getDecoder().decode(authorization.substring(6).trim()), StandardCharsets.UTF_8);
            int colon = decoded.indexOf(':');
            return colon < 0 ? null : decoded.substring(0, colon);
        } catch (IllegalArgumentException malformed) {
            return null;
        }
    }
}
