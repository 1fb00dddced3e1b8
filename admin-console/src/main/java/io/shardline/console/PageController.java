package io.shardline.console;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.springframework.security.core.Authentication;
import org.springframework.stereotype.Controller;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.ModelAttribute;

/** The server-rendered pages; live parts are updated by {@code /api/events} (see static/js/console.js). */
@Controller
final class PageController {
    private final ClusterView cluster;
    private final MoveService moves;
    private final AuditLog audit;
    private final ConsoleSettings settings;

    PageController(ClusterView cluster, MoveService moves, AuditLog audit, ConsoleSettings settings) {
        this.cluster = cluster;
        this.moves = moves;
        this.audit = audit;
        this.settings = settings;
    }

    @ModelAttribute
    void common(Model model, Authentication auth) {
        model.addAttribute("cluster", settings.cluster());
        if (auth != null) {
            boolean operator = auth.getAuthorities().stream()
                    .anyMatch(a -> a.getAuthority().equals("ROLE_OPERATOR"));
            model.addAttribute("user", auth.getName());
            model.addAttribute("role", operator ? Role.OPERATOR.name() : Role.VIEWER.name());
            model.addAttribute("operator", operator);
        }
    }

    @GetMapping("/login")
    String login() {
        return "login";
    }

    @GetMapping("/")
    String overview(Model model) {
        Views.Topology topology = cluster.topology();
        model.addAttribute("page", "overview");
        model.addAttribute("topology", topology);
        model.addAttribute(
                "nodes",
                topology.shards().stream().mapToInt(s -> s.nodes().size()).sum());
        model.addAttribute("rebalancer", topology.rebalancer());
        return "overview";
    }

    @GetMapping("/replication")
    String replication(Model model) {
        Views.Topology topology = cluster.topology();
        model.addAttribute("page", "replication");
        model.addAttribute("topology", topology);
        model.addAttribute(
                "graphs", topology.shards().stream().map(CascadeLayout::of).toList());
        model.addAttribute("boxWidth", CascadeLayout.BOX_WIDTH);
        model.addAttribute("boxHeight", CascadeLayout.BOX_HEIGHT);
        return "replication";
    }

    @GetMapping("/shards")
    String shards(Model model) {
        model.addAttribute("page", "shards");
        model.addAttribute("shards", cluster.shards());
        model.addAttribute("referenceTables", cluster.referenceTables());
        Map<Integer, String> primaries = new HashMap<>();
        for (Views.ShardView s : cluster.topology().shards()) {
            s.nodes().stream()
                    .filter(n -> n.role().equals("primary"))
                    .findFirst()
                    .ifPresent(n -> primaries.put(s.id(), n.name()));
        }
        model.addAttribute("primaries", primaries);
        return "shards";
    }

    @GetMapping("/rebalance")
    String rebalance(Model model) {
        List<Views.MoveView> all = moves.list();
        model.addAttribute("page", "rebalance");
        model.addAttribute("moves", all);
        model.addAttribute(
                "active",
                all.stream()
                        .filter(m -> !m.state().equals("done") && !m.state().equals("aborted"))
                        .findFirst()
                        .orElse(null));
        model.addAttribute("rebalancer", cluster.rebalancer());
        return "rebalance";
    }

    @GetMapping("/audit")
    String audit(Model model) {
        model.addAttribute("page", "audit");
        model.addAttribute("entries", audit.recent(200));
        return "audit";
    }
}
