package io.shardline.console;

/**
 * One user of the console.
 *
 * @param passwordHash a Spring Security encoded password, {@code {bcrypt}...}; never shown (see {@link #toString()})
 */
public record ConsoleUser(String name, Role role, String passwordHash) {
    @Override
    public String toString() {
        return "ConsoleUser[name=" + name + ", role=" + role + "]";
    }
}
