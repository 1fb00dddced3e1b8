package io.shardline.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/** The alert rules and dashboard in {@code compose/}, and the metric names their queries use. */
final class MonitoringFiles {
    static final Path PROMETHEUS = Path.of("..", "compose", "prometheus");
    static final Path RULES = PROMETHEUS.resolve("shardline-alerts.yml");
    static final Path DASHBOARD = Path.of("..", "compose", "grafana", "shardline-dashboard.json");
    private static final Pattern METRIC = Pattern.compile("\\b(shardline_[a-z0-9_]+|hikaricp_[a-z0-9_]+)\\b");

    private MonitoringFiles() {}

    /** Every query of the dashboard's panels, as written ({@code $__rate_interval} included). */
    static List<String> dashboardQueries() throws IOException {
        JsonNode dashboard = new ObjectMapper().readTree(Files.readString(DASHBOARD));
        List<String> queries = new ArrayList<>();
        for (JsonNode panel : dashboard.path("panels")) {
            for (JsonNode target : panel.path("targets")) {
                queries.add(target.path("expr").asString());
            }
        }
        return queries;
    }

    /** The metric names the rules' expressions and the dashboard's queries use. */
    static Set<String> metricNames() throws IOException {
        Set<String> names = new TreeSet<>();
        List<String> texts = new ArrayList<>(dashboardQueries());
        for (String line : Files.readAllLines(RULES)) {
            // expressions only: annotations and comments mention names in prose
            if (!line.trim().startsWith("#") && !line.contains("summary:") && !line.contains("description:")) {
                texts.add(line);
            }
        }
        for (String text : texts) {
            Matcher m = METRIC.matcher(text);
            while (m.find()) {
                names.add(m.group(1));
            }
        }
        return names;
    }
}
