package io.shardline.console;

import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;
import org.springframework.boot.health.actuate.endpoint.HealthEndpoint;
import org.springframework.boot.micrometer.metrics.autoconfigure.export.prometheus.PrometheusScrapeEndpoint;
import org.springframework.boot.security.autoconfigure.actuate.web.servlet.EndpointRequest;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.ApplicationListener;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.HttpMethod;
import org.springframework.security.authentication.AnonymousAuthenticationToken;
import org.springframework.security.authentication.AuthenticationEventPublisher;
import org.springframework.security.authentication.DefaultAuthenticationEventPublisher;
import org.springframework.security.authentication.InsufficientAuthenticationException;
import org.springframework.security.authentication.event.AbstractAuthenticationEvent;
import org.springframework.security.authentication.event.AuthenticationFailureBadCredentialsEvent;
import org.springframework.security.authentication.event.AuthenticationSuccessEvent;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.core.Authentication;
import org.springframework.security.core.context.SecurityContextHolder;
import org.springframework.security.core.userdetails.User;
import org.springframework.security.core.userdetails.UserDetailsService;
import org.springframework.security.crypto.factory.PasswordEncoderFactories;
import org.springframework.security.crypto.password.PasswordEncoder;
import org.springframework.security.provisioning.InMemoryUserDetailsManager;
import org.springframework.security.web.AuthenticationEntryPoint;
import org.springframework.security.web.SecurityFilterChain;
import org.springframework.security.web.access.AccessDeniedHandler;
import org.springframework.security.web.authentication.LoginUrlAuthenticationEntryPoint;
import org.springframework.security.web.authentication.UsernamePasswordAuthenticationFilter;
import org.springframework.security.web.authentication.WebAuthenticationDetails;
import org.springframework.security.web.context.SecurityContextHolderFilter;
import org.springframework.security.web.csrf.CsrfException;
import org.springframework.security.web.savedrequest.HttpSessionRequestCache;
import org.springframework.security.web.servlet.util.matcher.PathPatternRequestMatcher;
import org.springframework.security.web.util.matcher.NegatedRequestMatcher;
import org.springframework.security.web.util.matcher.OrRequestMatcher;
import org.springframework.security.web.util.matcher.RequestMatcher;

/**
 * Who may do what. VIEWER reads the pages, the API and the metrics; OPERATOR also starts and aborts moves, adds
 * shards, and switches or fails a shard's primary over. Browsers log in with a form and keep a session, whose mutating requests need the CSRF token; scripts
 * send HTTP Basic credentials on every request and need no token (see {@link #scriptRequest}). Anonymous
 * requests get 401 on the API and the login page in the browser. Of the Actuator endpoints only health (details
 * for users) and prometheus (users) are open. Failed logins slow further ones down ({@link LoginThrottle}).
 */
@Configuration
class SecurityConfig {
    private static final String REALM = "Shardline console";

    @Bean
    PasswordEncoder passwordEncoder() {
        return PasswordEncoderFactories.createDelegatingPasswordEncoder();
    }

    @Bean
    UserDetailsService users(ConsoleSettings settings) {
        InMemoryUserDetailsManager users = new InMemoryUserDetailsManager();
        for (ConsoleUser u : settings.users()) {
            users.createUser(User.withUsername(u.name())
                    .password(u.passwordHash())
                    .authorities(u.role().authorities())
                    .build());
        }
        return users;
    }

    @Bean
    LoginThrottle loginThrottle() {
        return new LoginThrottle();
    }

    /** Publishes every login's success or failure, for {@link #loginAttempts}. */
    @Bean
    AuthenticationEventPublisher authenticationEventPublisher(ApplicationEventPublisher publisher) {
        return new DefaultAuthenticationEventPublisher(publisher);
    }

    /** Counts failed logins (an unknown user name is a bad password too) per name and address; a success clears. */
    @Bean
    ApplicationListener<AbstractAuthenticationEvent> loginAttempts(LoginThrottle throttle) {
        return event -> {
            Authentication auth = event.getAuthentication();
            String address = auth.getDetails() instanceof WebAuthenticationDetails d ? d.getRemoteAddress() : null;
            if (event instanceof AuthenticationFailureBadCredentialsEvent) {
                throttle.failed(auth.getName(), address);
            } else if (event instanceof AuthenticationSuccessEvent) {
                throttle.succeeded(auth.getName());
            }
        };
    }

    @Bean
    SecurityFilterChain securityFilterChain(
            HttpSecurity http, AuditLog audit, LoginThrottle throttle, ConsoleSettings settings) throws Exception {
        PathPatternRequestMatcher.Builder path = PathPatternRequestMatcher.withDefaults();
        RequestMatcher machine = new OrRequestMatcher(
                path.matcher("/api/**"), path.matcher("/actuator/**"), path.matcher("/v3/api-docs/**"));
        AuthenticationEntryPoint unauthenticated = (request, response, e) -> {
            request.setAttribute(AuditFilter.OUTCOME, "denied: not authenticated");
            response.setHeader("WWW-Authenticate", "Basic realm=\"" + REALM + "\"");
            ApiErrors.write(
                    request,
                    response,
                    HttpServletResponse.SC_UNAUTHORIZED,
                    "authentication required: log in, or send HTTP Basic credentials");
        };
        AccessDeniedHandler denied = (request, response, e) -> {
            if (e instanceof CsrfException && !loggedIn()) {
                // nobody to forge a request for: what is missing is the login
                unauthenticated.commence(request, response, new InsufficientAuthenticationException(e.getMessage()));
                return;
            }
            String why = e instanceof CsrfException
                    ? "missing or invalid CSRF token (a browser session must send the token of its page)"
                    : "role " + role(request) + " may not " + request.getMethod() + " " + request.getRequestURI();
            request.setAttribute(AuditFilter.OUTCOME, "denied: " + why);
            ApiErrors.write(request, response, HttpServletResponse.SC_FORBIDDEN, "forbidden: " + why);
        };
        Set<String> userNames = settings.users().stream()
                .map(u -> u.name().toLowerCase(Locale.ROOT))
                .collect(Collectors.toUnmodifiableSet());
        http.addFilterAfter(
                        new AuditFilter(
                                audit, name -> userNames.contains(name.trim().toLowerCase(Locale.ROOT))),
                        SecurityContextHolderFilter.class)
                .addFilterBefore(new LoginThrottleFilter(throttle), UsernamePasswordAuthenticationFilter.class)
                .authorizeHttpRequests(a -> a.dispatcherTypeMatchers(DispatcherType.ASYNC, DispatcherType.ERROR)
                        .permitAll()
                        .requestMatchers("/login", "/css/**", "/js/**", "/webjars/**", "/favicon.ico")
                        .permitAll()
                        .requestMatchers(EndpointRequest.to(HealthEndpoint.class))
                        .permitAll()
                        .requestMatchers(EndpointRequest.to(PrometheusScrapeEndpoint.class))
                        .hasRole("VIEWER")
                        .requestMatchers(EndpointRequest.toAnyEndpoint())
                        .denyAll()
                        .requestMatchers(HttpMethod.GET, "/**")
                        .hasRole("VIEWER")
                        .requestMatchers(HttpMethod.POST, "/logout")
                        .authenticated()
                        .requestMatchers(
                                HttpMethod.POST,
                                "/api/moves",
                                "/api/moves/*/abort",
                                "/api/shards",
                                "/api/shards/*/switchover",
                                "/api/shards/*/failover")
                        .hasRole("OPERATOR")
                        .anyRequest()
                        .denyAll())
                .formLogin(
                        f -> f.loginPage("/login").defaultSuccessUrl("/", false).permitAll())
                .httpBasic(b -> b.realmName(REALM).authenticationEntryPoint(unauthenticated))
                .logout(l -> l.logoutUrl("/logout").logoutSuccessUrl("/login?logout"))
                .csrf(c -> c.ignoringRequestMatchers(SecurityConfig::scriptRequest))
                .requestCache(c -> c.requestCache(pagesOnly(machine)))
                .exceptionHandling(e -> e.defaultAuthenticationEntryPointFor(unauthenticated, machine)
                        .defaultAuthenticationEntryPointFor(
                                new LoginUrlAuthenticationEntryPoint("/login"), request -> true)
                        .accessDeniedHandler(denied));
        return http.build();
    }

    /** Remembers a page asked for before the login (to return to it), not an API call (no session for scripts). */
    private static HttpSessionRequestCache pagesOnly(RequestMatcher machine) {
        HttpSessionRequestCache cache = new HttpSessionRequestCache();
        cache.setRequestMatcher(new NegatedRequestMatcher(machine));
        return cache;
    }

    /**
     * A script's request: HTTP Basic credentials and no sign of a browser. Browsers add {@code Origin} to every
     * cross-site POST (and {@code Sec-Fetch-Site} to every request), so a forged form cannot pass as a script
     * even when the browser has Basic credentials cached.
     */
    static boolean scriptRequest(HttpServletRequest request) {
        String authorization = request.getHeader("Authorization");
        return authorization != null
                && authorization.regionMatches(true, 0, "Basic ", 0, 6)
                && request.getHeader("Origin") == null
                && request.getHeader("Sec-Fetch-Site") == null
                && request.getHeader("Sec-Fetch-Mode") == null;
    }

    private static boolean loggedIn() {
        Authentication auth = SecurityContextHolder.getContext().getAuthentication();
        return auth != null && auth.isAuthenticated() && !(auth instanceof AnonymousAuthenticationToken);
    }

    private static String role(HttpServletRequest request) {
        if (request.isUserInRole("OPERATOR")) {
            return Role.OPERATOR.name();
        }
        return request.isUserInRole("VIEWER") ? Role.VIEWER.name() : "anonymous";
    }
}
