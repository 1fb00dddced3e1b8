package io.shardline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The alert rules, their unit tests, the sample Prometheus configuration and the dashboard's queries, checked by
 * Prometheus's own {@code promtool} (Debian's {@code prometheus} package, installed by {@code .ci/run}, which sets
 * {@code SHARDLINE_REQUIRE_PROMTOOL=1} so that a missing promtool fails there instead of skipping). That every
 * metric they query exists is checked against a real scrape in {@code DemoShutdownIT}.
 */
class AlertRulesTest {
    private static final Path PROMTOOL = Path.of("/usr/bin/promtool");

    @BeforeAll
    static void promtool() {
        if ("1".equals(System.getenv("SHARDLINE_REQUIRE_PROMTOOL"))) {
            assertThat(PROMTOOL).as("promtool (Debian package prometheus)").isExecutable();
        }
        assumeTrue(Files.isExecutable(PROMTOOL), "promtool is not installed (apt-get install prometheus)");
    }

    private static String promtool(String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of(PROMTOOL.toString()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command)
                .directory(MonitoringFiles.PROMETHEUS.toFile())
                .redirectErrorStream(true)
                .start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        p.getInputStream().transferTo(out);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String text = out.toString(StandardCharsets.UTF_8);
        assertThat(p.exitValue())
                .as("promtool %s:%n%s", String.join(" ", args), text)
                .isZero();
        return text;
    }

    @Test
    void theRulesAndTheConfigurationAreValid() throws Exception {
        assertThat(promtool("check", "rules", "shardline-alerts.yml")).contains("SUCCESS: 12 rules found");
        // check config also checks the rule files it names
        assertThat(promtool("check", "config", "prometheus.yml"))
                .contains("is valid prometheus config file syntax", "SUCCESS: 12 rules found");
    }

    @Test
    void everyAlertFiresWhenItShouldAndOnlyThen() throws Exception {
        assertThat(promtool("test", "rules", "shardline-alerts.test.yml")).contains("SUCCESS");
        // every alert of the rules file has a case in the tests
        String rules = Files.readString(MonitoringFiles.RULES);
        String tests = Files.readString(MonitoringFiles.PROMETHEUS.resolve("shardline-alerts.test.yml"));
        java.util.regex.Matcher alert =
                java.util.regex.Pattern.compile("- alert: (\\w+)").matcher(rules);
        int alerts = 0;
        while (alert.find()) {
            alerts++;
            if (!alert.group(1).equals("ShardlineProcessDown")) { // Prometheus's own up series
                assertThat(tests).as(alert.group(1)).contains("alertname: " + alert.group(1));
            }
        }
        assertThat(alerts).isEqualTo(12);
    }

    @Test
    void theDashboardsQueriesParse(@TempDir Path dir) throws Exception {
        List<String> queries = MonitoringFiles.dashboardQueries();
        assertThat(queries).hasSizeGreaterThan(15);
        StringBuilder rules = new StringBuilder("groups:\n  - name: dashboard\n    rules:\n");
        for (int i = 0; i < queries.size(); i++) {
            String query = queries.get(i).replace("$__rate_interval", "1m");
            rules.append("      - record: dashboard_query_")
                    .append(i)
                    .append("\n        expr: '")
                    .append(query.replace("'", "''"))
                    .append("'\n");
        }
        Path file = dir.resolve("dashboard-queries.yml");
        Files.writeString(file, rules);
        assertThat(promtool("check", "rules", file.toString())).contains("SUCCESS: " + queries.size() + " rules found");
    }
}
