package io.shardline.console;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.springframework.security.crypto.factory.PasswordEncoderFactories;

class ConsoleUsersTest {
    private static final String HASH = ConsoleUsers.hash("correct horse battery");

    @Test
    void readsUsersWithBcryptPasswords() {
        List<ConsoleUser> users = ConsoleUsers.parse(
                "users:\n  - {name: alice, role: OPERATOR, password: \"" + HASH + "\"}\n"
                        + "  - name: bob\n    role: viewer\n    password: \"" + HASH + "\"\n",
                "users.yaml");
        assertThat(users)
                .extracting(ConsoleUser::name, ConsoleUser::role)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple("alice", Role.OPERATOR),
                        org.assertj.core.groups.Tuple.tuple("bob", Role.VIEWER));
        assertThat(PasswordEncoderFactories.createDelegatingPasswordEncoder()
                        .matches("correct horse battery", users.get(0).passwordHash()))
                .isTrue();
    }

    @Test
    void refusesPlainPasswordsWithoutShowingThem() {
        assertThatThrownBy(() ->
                        ConsoleUsers.parse("users: [{name: alice, role: OPERATOR, password: hunter22}]", "users.yaml"))
                .hasMessageContaining("users.yaml: user 'alice': the password must be a bcrypt hash")
                .hasMessageNotContaining("hunter22");
    }

    @Test
    void namesTheEntryAndTheProblem() {
        assertThatThrownBy(() -> ConsoleUsers.parse("users: [{name: a, role: ADMIN, password: \"" + HASH + "\"}]", "f"))
                .hasMessage("f: user 'a': role 'ADMIN' is unknown (VIEWER or OPERATOR)");
        assertThatThrownBy(() -> ConsoleUsers.parse("users: [{name: a, role: VIEWER}]", "f"))
                .hasMessage("f: user 'a': 'password' is missing");
        assertThatThrownBy(() -> ConsoleUsers.parse("users: [{role: VIEWER, password: x}]", "f"))
                .hasMessage("f: users[0]: 'name' is missing");
        assertThatThrownBy(() -> ConsoleUsers.parse(
                        "users: [{name: a, role: VIEWER, password: \"" + HASH + "\", email: x}]", "f"))
                .hasMessageContaining("unknown key 'email'");
        assertThatThrownBy(() -> ConsoleUsers.parse(
                        "users:\n - {name: a, role: VIEWER, password: \"" + HASH + "\"}\n - {name: a, role: VIEWER,"
                                + " password: \"" + HASH + "\"}",
                        "f"))
                .hasMessage("f: user 'a' is listed twice");
        assertThatThrownBy(() -> ConsoleUsers.parse("users: []", "f")).hasMessageContaining("nobody could log in");
        assertThatThrownBy(() -> ConsoleUsers.parse("people: []", "f")).hasMessageContaining("expected 'users:'");
        assertThatThrownBy(() -> ConsoleUsers.parse("users: [", "f")).hasMessageStartingWith("f is not valid YAML");
    }

    @Test
    void generatedUsersHideTheirSecretsInToString() {
        ConsoleUsers.Generated g = ConsoleUsers.generate("operator", Role.OPERATOR);
        assertThat(g.password()).hasSize(20);
        assertThat(g.toString()).doesNotContain(g.password()).doesNotContain("bcrypt");
        assertThat(g.user().toString()).doesNotContain(g.user().passwordHash());
        assertThat(ConsoleUsers.parse(ConsoleUsers.toYaml(List.of(g.user())), "round trip"))
                .containsExactly(g.user());
    }
}
