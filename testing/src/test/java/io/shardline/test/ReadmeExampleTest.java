package io.shardline.test;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The README's {@code @ShardlineCluster} example is {@link OrdersRepositoryIT}, which runs in the suite. */
class ReadmeExampleTest {
    private static String between(String text, String start, String end) {
        int from = text.indexOf(start);
        int to = text.indexOf(end, from);
        assertThat(from).as("'%s' is there", start).isNotNegative();
        assertThat(to).as("'%s' is there", end).isPositive();
        return text.substring(from + start.length(), to).strip();
    }

    @Test
    void theReadmesExampleIsTheTestThatRuns() throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"));
        String test = Files.readString(Path.of("src/test/java/io/shardline/test/OrdersRepositoryIT.java"));
        String example = between(readme, "<!-- junit-example:start -->", "<!-- junit-example:end -->");
        assertThat(example).startsWith("```java").endsWith("```");
        String code = example.substring("```java".length(), example.length() - "```".length())
                .strip();
        assertThat(code).isEqualTo(between(test, "// example:start", "// example:end"));
    }
}
