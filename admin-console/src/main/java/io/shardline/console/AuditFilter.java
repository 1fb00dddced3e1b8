package io.shardline.console;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.UUID;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.springframework.security.authentication.AnonymousAuthenticationToken;
import org.springframework.security.core.Authentication;
import org.springframework.security.core.context.SecurityContextHolder;
import org.springframework.web.filter.OncePerRequestFilter;
import org.springframework.web.util.UriUtils;

/**
 * Gives every request an id ({@code X-Request-Id}: the client's when it is a plain token, else a new one) and
 * writes an {@link AuditLog} entry for every mutating request (POST, PUT, PATCH, DELETE), allowed or denied.
 * It runs inside the security filter chain, right after the security context is loaded, so it sees the user,
 * and the refusals of the CSRF and authorization filters after it.
 */
final class AuditFilter extends OncePerRequestFilter {
    /** Request attribute: what the request acted on (set by the controller), e.g. the id of the move started. */
    static final String TARGET = AuditFilter.class.getName() + ".target";
    /** Request attribute: why the request was refused or failed, when more is known than the status. */
    static final String OUTCOME = AuditFilter.class.getName() + ".outcome";
    /** Request attribute and response header: the request id. */
    static final String REQUEST_ID = "X-Request-Id";

    private static final Set<String> MUTATING = Set.of("POST", "PUT", "PATCH", "DELETE");
    private static final Pattern ABORT = Pattern.compile("/api/moves/([^/]+)/abort");
    private static final Pattern PRIMARY_CHANGE = Pattern.compile("/api/shards/([^/]+)/(switchover|failover)");
    private static final Pattern PLAIN_ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");

    private final AuditLog audit;
    /** Whether a name given to the login is a user's (else it is not written: a password typed in its place). */
    private final Predicate<String> knownUser;

    AuditFilter(AuditLog audit, Predicate<String> knownUser) {
        this.audit = audit;
        this.knownUser = knownUser;
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        String given = request.getHeader(REQUEST_ID);
        String id = given != null && PLAIN_ID.matcher(given).matches()
                ? given
                : UUID.randomUUID().toString();
        request.setAttribute(REQUEST_ID, id);
        response.setHeader(REQUEST_ID, id);
        if (!MUTATING.contains(request.getMethod())) {
            chain.doFilter(request, response);
            return;
        }
        Authentication before = user(SecurityContextHolder.getContext().getAuthentication());
        try {
            chain.doFilter(request, response);
        } finally {
            Authentication after = user(SecurityContextHolder.getContext().getAuthentication());
            audit.record(entry(request, response, after != null ? after : before, id, knownUser));
        }
    }

    private static Authentication user(Authentication auth) {
        return auth == null || !auth.isAuthenticated() || auth instanceof AnonymousAuthenticationToken ? null : auth;
    }

    private static AuditLog.Entry entry(
            HttpServletRequest request,
            HttpServletResponse response,
            Authentication auth,
            String id,
            Predicate<String> knownUser) {
        String path = path(request);
        String action;
        String target = (String) request.getAttribute(TARGET);
        Matcher abort = ABORT.matcher(path);
        if (path.equals("/login")) {
            action = "login";
            String name = request.getParameter("username");
            // a name that is nobody's may be a password typed in the wrong field: every viewer reads the log
            target = name == null ? "" : knownUser.test(name) ? claimed(name) : "(not a user's name)";
        } else if (path.equals("/logout")) {
            action = "logout";
        } else if (path.equals("/api/moves")) {
            action = "move.start";
        } else if (abort.matches()) {
            action = "move.abort";
            target = claimed(abort.group(1));
        } else if (path.equals("/api/shards")) {
            action = "shard.add";
        } else if (PRIMARY_CHANGE.matcher(path).matches()) {
            Matcher change = PRIMARY_CHANGE.matcher(path);
            change.matches();
            action = "shard." + change.group(2);
            if (target == null) {
                target = "shard " + claimed(change.group(1));
            }
        } else {
            action = request.getMethod() + " " + claimed(path);
        }
        int status = response.getStatus();
        String outcome = (String) request.getAttribute(OUTCOME);
        if (outcome == null) {
            if (action.equals("login")) {
                outcome = auth != null ? "ok" : "denied: bad credentials";
            } else if (status < 400) {
                outcome = "ok";
            } else if (status == 401) {
                outcome = "denied: not authenticated";
            } else if (status == 403) {
                outcome = "denied";
            } else {
                outcome = "failed (HTTP " + status + ")";
            }
        }
        String user = auth != null ? auth.getName() : AuditLog.ANONYMOUS;
        String role = auth == null
                ? "-"
                : auth.getAuthorities().stream().anyMatch(a -> a.getAuthority().equals("ROLE_OPERATOR"))
                        ? Role.OPERATOR.name()
                        : Role.VIEWER.name();
        return new AuditLog.Entry(
                "",
                System.currentTimeMillis(),
                user,
                role,
                action,
                target == null ? "" : target,
                outcome,
                status,
                id,
                request.getRemoteAddr());
    }

    /**
     * The request's path within the application, percent-decoded as Spring's request matchers and handler mappings
     * see it ({@code POST /%6cogin} is a login, {@code POST /api/m%6fves} starts a move): what a request is must not
     * depend on how its path was spelled. The firewall refuses encoded slashes, dots and semicolons before this.
     */
    static String path(HttpServletRequest request) {
        String raw = request.getRequestURI().substring(request.getContextPath().length());
        try {
            return UriUtils.decode(raw, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException malformed) {
            return raw;
        }
    }

    /** A client-chosen text as it may appear in the log: at most 100 characters, no control characters. */
    private static String claimed(String text) {
        if (text == null) {
            return "";
        }
        String clean = text.replaceAll("\\p{Cntrl}", "?");
        return clean.length() > 100 ? clean.substring(0, 100) + "..." : clean;
    }
}
