package io.shardline.console;

import io.shardline.rebalancer.Switchover;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.tags.Tag;
import jakarta.servlet.http.HttpServletRequest;
import java.net.URI;
import java.util.List;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.SseEmitter;

/** The JSON API: everything the pages show and do. Described at {@code /v3/api-docs}, browsable at /swagger-ui. */
@RestController
@RequestMapping(path = "/api", produces = MediaType.APPLICATION_JSON_VALUE)
@Tag(name = "console", description = "Shardline cluster: topology, replication lag, shards, moves, audit")
final class ApiController {
    private final ClusterView cluster;
    private final MoveService moves;
    private final AuditLog audit;
    private final LiveEvents events;
    private final ShardService shards;

    ApiController(ClusterView cluster, MoveService moves, AuditLog audit, LiveEvents events, ShardService shards) {
        this.shards = shards;
        this.cluster = cluster;
        this.moves = moves;
        this.audit = audit;
        this.events = events;
    }

    @GetMapping("/topology")
    @Operation(summary = "Shards and their nodes (cascade, lag, health), ring version, routers, services")
    Views.Topology topology() {
        return cluster.topology();
    }

    @GetMapping("/lag")
    @Operation(summary = "The newest lag of every replica, with the thresholds")
    Views.LagList lag() {
        return cluster.lag();
    }

    @GetMapping("/lag/{node}/history")
    @Operation(summary = "A replica's lag, a point a second, for the last 1-60 minutes")
    Views.LagHistory history(@PathVariable String node, @RequestParam(defaultValue = "15") int minutes) {
        if (minutes < 1 || minutes > 60) {
            throw new ConsoleException(HttpStatus.BAD_REQUEST, "minutes must be 1 to 60, not " + minutes);
        }
        return cluster.history(node, minutes);
    }

    @GetMapping("/shards")
    @Operation(summary = "Ranges, rows and size per shard, and the skew")
    Views.Shards shards() {
        return cluster.shards();
    }

    @GetMapping("/moves")
    @Operation(summary = "Every move, newest first")
    List<Views.MoveView> moves() {
        return moves.list();
    }

    @GetMapping("/moves/plan")
    @Operation(summary = "What starting a move would do: ranges, rows, bytes and time per source and target")
    Views.Plan plan() {
        return moves.preview();
    }

    @GetMapping("/moves/{id}")
    @Operation(summary = "One move")
    Views.MoveView move(@PathVariable String id) {
        return moves.get(id);
    }

    /** The body of {@code POST /api/moves}; optional. */
    record StartRequest(Long expectedRingVersion) {}

    @PostMapping(
            path = "/moves",
            consumes = {MediaType.APPLICATION_JSON_VALUE, MediaType.ALL_VALUE})
    @Operation(
            summary = "Start the planned move (OPERATOR)",
            description = "Gives every empty shard its share of the ring. With expectedRingVersion, refused (409)"
                    + " when the ring changed since the preview.")
    ResponseEntity<Views.Started> start(@RequestBody(required = false) StartRequest body, HttpServletRequest request) {
        Views.Started started = moves.start(body == null ? null : body.expectedRingVersion());
        request.setAttribute(AuditFilter.TARGET, started.id());
        return ResponseEntity.created(URI.create("/api/moves/" + started.id())).body(started);
    }

    @PostMapping("/moves/{id}/abort")
    @Operation(summary = "Abort a move before its switch (OPERATOR): the ring stays, copied rows are removed")
    ResponseEntity<Views.MoveView> abort(@PathVariable String id) {
        return ResponseEntity.accepted().body(moves.abort(id));
    }

    /** The body of {@code POST /api/shards}. */
    record AddShardRequest(String primary, List<String> replicas) {}

    @PostMapping(path = "/shards", consumes = MediaType.APPLICATION_JSON_VALUE)
    @Operation(
            summary = "Register a running primary and its replicas as a new, empty shard (OPERATOR)",
            description = "Each replica's place in the cascade is read from its pg_stat_wal_receiver. The shard owns"
                    + " no ranges until a move gives it some.")
    ResponseEntity<Views.AddedShard> addShard(@RequestBody AddShardRequest body, HttpServletRequest request) {
        if (body.primary() == null || body.primary().isBlank()) {
            throw new ConsoleException(
                    HttpStatus.BAD_REQUEST, "'primary' (HOST:PORT of the new shard's primary) is missing");
        }
        request.setAttribute(AuditFilter.TARGET, body.primary());
        Views.AddedShard added = shards.add(body.primary(), body.replicas() == null ? List.of() : body.replicas());
        return ResponseEntity.created(URI.create("/api/topology")).body(added);
    }

    /** The body of {@code POST /api/shards/{shard}/switchover} and {@code .../failover}; optional. */
    record PrimaryChangeRequest(String to) {}

    @PostMapping(
            path = "/shards/{shard}/switchover",
            consumes = {MediaType.APPLICATION_JSON_VALUE, MediaType.ALL_VALUE})
    @Operation(
            summary = "Switch the shard's live primary over to a hub (OPERATOR)",
            description = "Every router holds the shard's writes while the hub (\"to\", or the one that received the"
                    + " most WAL) replays the primary's last write and is promoted; the old primary stays read-only"
                    + " and out of the topology. 409 with the reason when it cannot (a move running, a leaf named,"
                    + " another switchover of the shard under way...).")
    Switchover.Result switchover(
            @PathVariable int shard,
            @RequestBody(required = false) PrimaryChangeRequest body,
            HttpServletRequest request) {
        request.setAttribute(AuditFilter.TARGET, "shard " + shard);
        return shards.changePrimary(shard, body == null ? null : body.to(), false);
    }

    @PostMapping(
            path = "/shards/{shard}/failover",
            consumes = {MediaType.APPLICATION_JSON_VALUE, MediaType.ALL_VALUE})
    @Operation(
            summary = "Replace the shard's dead primary by a hub (OPERATOR)",
            description = "Refused (409) while the primary answers. What the promoted hub had not received is lost:"
                    + " nothing acknowledged when the primary commits synchronously to its hubs.")
    Switchover.Result failover(
            @PathVariable int shard,
            @RequestBody(required = false) PrimaryChangeRequest body,
            HttpServletRequest request) {
        request.setAttribute(AuditFilter.TARGET, "shard " + shard);
        return shards.changePrimary(shard, body == null ? null : body.to(), true);
    }

    @GetMapping("/audit")
    @Operation(summary = "The audit log, newest first: who did what, when, with what outcome")
    List<AuditLog.Entry> audit(@RequestParam(defaultValue = "100") int limit) {
        if (limit < 1 || limit > 1000) {
            throw new ConsoleException(HttpStatus.BAD_REQUEST, "limit must be 1 to 1000, not " + limit);
        }
        return audit.recent(limit);
    }

    @GetMapping(path = "/events", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
    @Operation(summary = "Server-Sent Events: a 'tick' each second with the lag of every replica and the active move")
    SseEmitter events() {
        return events.subscribe();
    }
}
