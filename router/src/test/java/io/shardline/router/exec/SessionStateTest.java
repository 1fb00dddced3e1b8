package io.shardline.router.exec;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class SessionStateTest {

    /** PostgreSQL's RESET ALL leaves the role and the session user: the replay for nodes attached later must too. */
    @Test
    void resetAllKeepsTheRoleAndTheSessionUserAndDiscardAllForgetsThem() {
        SessionState s = new SessionState();
        s.set("session", "SET SESSION AUTHORIZATION app");
        s.set("role", "SET ROLE tenant_ro");
        s.set("search_path", "SET search_path = app");
        s.set("app.tenant", "SELECT set_config('app.tenant', 'acme', false)");
        int before = s.version();

        s.reset("all");
        assertThat(s.replay()).containsExactly("SET SESSION AUTHORIZATION app", "SET ROLE tenant_ro");
        assertThat(s.version()).isGreaterThan(before);

        s.reset("role");
        assertThat(s.replay()).containsExactly("SET SESSION AUTHORIZATION app");

        s.set("role", "SET ROLE tenant_ro");
        s.discardAll();
        assertThat(s.replay()).isEmpty();
    }
}
