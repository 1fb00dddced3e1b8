package io.shardline.router;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The README's property and meter tables are generated from the code: this keeps them true. */
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

    @Test
    void theMeterTableMatchesTheEnum() throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"));
        String start = "<!-- meters:start -->\n";
        int from = readme.indexOf(start);
        int to = readme.indexOf("<!-- meters:end -->");
        assertThat(from).as("README.md has a %s marker", start.trim()).isPositive();
        assertThat(readme.substring(from + start.length(), to))
                .as("README.md meter table; regenerate it from Meters.markdownTable()")
                .isEqualTo(io.shardline.router.metrics.Meters.markdownTable());
    }
}
