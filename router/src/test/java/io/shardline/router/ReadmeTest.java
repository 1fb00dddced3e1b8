package io.shardline.router;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The README's property table is generated from {@link ShardlineProperty}: this keeps it true. */
class ReadmeTest {
    private static final String START = "<!-- properties:start -->\n";
    private static final String END = "<!-- properties:end -->";

    @Test
    void thePropertyTableMatchesTheEnum() throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"));
        int start = readme.indexOf(START);
        int end = readme.indexOf(END);
        assertThat(start).as("README.md has a %s marker", START.trim()).isPositive();
        assertThat(readme.substring(start + START.length(), end))
                .as("README.md property table; regenerate it from ShardlineProperty.markdownTable()")
                .isEqualTo(ShardlineProperty.markdownTable());
    }
}
