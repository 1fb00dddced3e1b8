package io.shardline.console;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.shardline.rebalancer.MoveRunner;
import io.shardline.topology.MoveRecord;
import io.shardline.topology.MoveRecord.MoveState;
import io.shardline.topology.ZooKeeperTopologyStore;
import java.net.CookieManager;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The role x endpoint matrix through HTTP against a console on a real cluster: anonymous gets 401, a viewer 403 on
 * every mutating endpoint (nothing started), an operator is let through; a browser session without its CSRF token
 * gets 403 and starts nothing; every mutating request, allowed or denied, is in the audit log; no password or hash
 * in any response; Actuator health and prometheus as documented, the rest closed.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ConsoleSecurityIT {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final List<String> READS = List.of(
            "/api/topology",
            "/api/lag",
            "/api/lag/s0-hub1/history?minutes=15",
            "/api/shards",
            "/api/moves",
            "/api/moves/plan",
            "/api/audit",
            "/v3/api-docs");
    private static final List<String> WRITES = List.of(
            "/api/moves", "/api/moves/m1/abort", "/api/shards", "/api/shards/1/switchover", "/api/shards/1/failover");

    private static ConsoleCluster env;
    private static final HttpClient HTTP = HttpClient.newBuilder()
            .followRedirects(HttpClient.Redirect.NEVER)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
    /** Every body the console answered, to check no secret leaks. */
    private static final List<String> BODIES = new ArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        env = new ConsoleCluster("console", 2_000);
    }

    @AfterAll
    static void stop() {
        if (env != null) {
            env.close();
        }
    }

    @Test
    @Order(1)
    void anonymousGets401OnTheApiAndTheLoginPageInTheBrowser() throws Exception {
        for (String path : READS) {
            HttpResponse<String> r = send(get(path));
            assertThat(r.statusCode()).as("GET %s", path).isEqualTo(401);
            assertThat(r.headers().firstValue("WWW-Authenticate"))
                    .hasValueSatisfying(v -> assertThat(v).startsWith("Basic"));
        }
        for (String path : WRITES) {
            HttpResponse<String> r = send(post(path, "{}"));
            assertThat(r.statusCode()).as("POST %s", path).isEqualTo(401);
            assertAudited(r, "anonymous", "denied: not authenticated");
        }
        HttpResponse<String> page = send(get("/replication").header("Accept", "text/html"));
        assertThat(page.statusCode()).isEqualTo(302);
        assertThat(page.headers().firstValue("Location"))
                .hasValueSatisfying(v -> assertThat(v).endsWith("/login"));
        assertThat(moves()).isEmpty();
    }

    @Test
    @Order(2)
    void viewerReadsEverythingAndIsRefusedEveryChange() throws Exception {
        for (String path : READS) {
            HttpResponse<String> r = send(get(path).header("Authorization", basic(env.viewer)));
            assertThat(r.statusCode()).as("GET %s: %s", path, r.body()).isEqualTo(200);
        }
        JsonNode topology = JSON.readTree(send(get("/api/topology").header("Authorization", basic(env.viewer)))
                .body());
        assertThat(topology.get("shards")).hasSize(3);
        assertThat(topology.get("shards").get(0).get("nodes")).hasSize(3);
        for (String path : WRITES) {
            HttpResponse<String> r = send(post(path, "{}").header("Authorization", basic(env.viewer)));
            assertThat(r.statusCode()).as("POST %s", path).isEqualTo(403);
            assertThat(r.body()).contains("role VIEWER may not POST " + path);
            assertAudited(r, "viewer", "denied: role VIEWER may not POST " + path);
        }
        assertThat(moves()).as("nothing started").isEmpty();
    }

    @Test
    @Order(3)
    void browserSessionWithoutCsrfTokenIsRefusedAndStartsNothing() throws Exception {
        Session session = Session.login(env.operator);
        HttpResponse<String> noToken = session.send(session.post("/api/moves", "{}"));
        assertThat(noToken.statusCode()).isEqualTo(403);
        assertThat(noToken.body()).contains("CSRF");
        assertAudited(noToken, "operator", "denied: missing or invalid CSRF token");
        HttpResponse<String> wrongToken =
                session.send(session.post("/api/moves", "{}").header(session.csrfHeader, "not-the-token"));
        assertThat(wrongToken.statusCode()).isEqualTo(403);
        // Basic credentials do not exempt a request that comes from a browser (it sends Origin)
        HttpResponse<String> basicFromBrowser =
                session.send(session.post("/api/moves", "{}").header("Authorization", basic(env.operator)));
        assertThat(basicFromBrowser.statusCode()).isEqualTo(403);
        assertThat(moves()).as("nothing started").isEmpty();

        HttpResponse<String> started =
                session.send(session.post("/api/moves", "{}").header(session.csrfHeader, session.csrfToken));
        assertThat(started.statusCode()).as(started.body()).isEqualTo(201);
        String id = JSON.readTree(started.body()).get("id").asString();
        assertAudited(started, "operator", "ok");
        assertThat(audit(started).get("target").asString()).isEqualTo(id);
        HttpResponse<String> abort = session.send(
                session.post("/api/moves/" + id + "/abort", "").header(session.csrfHeader, session.csrfToken));
        assertThat(abort.statusCode()).as(abort.body()).isEqualTo(202);
        assertAudited(abort, "operator", "ok");
        assertThat(awaitEnd(id)).isEqualTo(MoveState.ABORTED);
    }

    @Test
    @Order(4)
    void operatorScriptStartsAndAbortsMovesAndGetsClearErrors() throws Exception {
        HttpResponse<String> badBody =
                send(post("/api/moves", "{\"bogus\": 1}").header("Authorization", basic(env.operator)));
        assertThat(badBody.statusCode()).isEqualTo(400);
        assertThat(badBody.body()).contains("bogus");
        assertAudited(badBody, "operator", "failed: ");
        HttpResponse<String> stale =
                send(post("/api/moves", "{\"expectedRingVersion\": 99}").header("Authorization", basic(env.operator)));
        assertThat(stale.statusCode()).isEqualTo(409);
        assertThat(stale.body()).contains("not 99 as previewed");
        HttpResponse<String> unknown =
                send(post("/api/moves/nope/abort", "").header("Authorization", basic(env.operator)));
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(unknown.body()).contains("no move 'nope'");
        HttpResponse<String> badShard = send(
                post("/api/shards", "{\"primary\": \"127.0.0.1:1\"}").header("Authorization", basic(env.operator)));
        assertThat(badShard.statusCode()).isEqualTo(422);
        assertThat(badShard.body()).contains("cannot connect to 127.0.0.1:1");
        assertAudited(badShard, "operator", "failed: cannot connect to 127.0.0.1:1");
        // an address that would add to the connection URL (and send the cluster's password where it says) is refused
        // before any connection
        HttpResponse<String> injected =
                send(post("/api/shards", "{\"primary\": \"127.0.0.1:1/postgres?sslmode=disable&x=:1\"}")
                        .header("Authorization", basic(env.operator)));
        assertThat(injected.statusCode()).isEqualTo(422);
        assertThat(injected.body())
                .contains("must be a host name, an IPv4 address or an IPv6 address in brackets")
                .doesNotContain("cannot connect");
        assertThat(moves()).as("nothing started by refused requests").hasSize(1);

        HttpResponse<String> plan = send(get("/api/moves/plan").header("Authorization", basic(env.operator)));
        long ringVersion = JSON.readTree(plan.body()).get("fromRingVersion").asLong();
        // asked again (a page, a script, a viewer looping): the rows are not counted again on the sources
        Thread.sleep(1_500); // PostgreSQL's statistics are flushed within a second of a session's end
        long scans = ordersScans();
        assertThat(scans).as("scans of orders by the previews so far").isPositive();
        for (int i = 0; i < 5; i++) {
            HttpResponse<String> again = send(get("/api/moves/plan").header("Authorization", basic(env.viewer)));
            assertThat(again.statusCode()).isEqualTo(200);
            assertThat(JSON.readTree(again.body()).get("rows").asLong())
                    .isEqualTo(JSON.readTree(plan.body()).get("rows").asLong());
        }
        Thread.sleep(1_500); // as long again: a scan by these previews would be flushed by now
        assertThat(ordersScans()).as("scans of orders on the primaries").isEqualTo(scans);
        HttpResponse<String> started = send(post("/api/moves", "{\"expectedRingVersion\": " + ringVersion + "}")
                .header("Authorization", basic(env.operator)));
        assertThat(started.statusCode()).as(started.body()).isEqualTo(201);
        String id = JSON.readTree(started.body()).get("id").asString();
        assertThat(started.headers().firstValue("Location")).hasValue("/api/moves/" + id);
        HttpResponse<String> second = send(post("/api/moves", "").header("Authorization", basic(env.operator)));
        assertThat(second.statusCode()).isEqualTo(409);
        assertThat(second.body()).contains("one move at a time");
        HttpResponse<String> abort =
                send(post("/api/moves/" + id + "/abort", "").header("Authorization", basic(env.operator)));
        assertThat(abort.statusCode()).as(abort.body()).isEqualTo(202);
        assertThat(awaitEnd(id)).isEqualTo(MoveState.ABORTED);
        HttpResponse<String> again =
                send(post("/api/moves/" + id + "/abort", "").header("Authorization", basic(env.operator)));
        assertThat(again.statusCode()).isEqualTo(409);
        assertThat(again.body()).contains("nothing to abort");
    }

    @Test
    @Order(5)
    void auditLogListsEveryMutatingRequestNewestFirst() throws Exception {
        JsonNode entries = JSON.readTree(send(get("/api/audit?limit=1000").header("Authorization", basic(env.viewer)))
                .body());
        assertThat(auditActions())
                .contains(
                        "anonymous move.start denied: not authenticated",
                        "viewer shard.add denied: role VIEWER may not POST /api/shards",
                        "operator login ok",
                        "operator move.abort ok");
        for (JsonNode e : entries) {
            assertThat(e.get("requestId").asString()).isNotBlank();
            assertThat(e.get("timeMillis").asLong()).isPositive();
        }
        assertThat(entries.get(0).get("seq").asString())
                .isGreaterThan(entries.get(1).get("seq").asString());
        HttpResponse<String> badLimit = send(get("/api/audit?limit=0").header("Authorization", basic(env.viewer)));
        assertThat(badLimit.statusCode()).isEqualTo(400);
        assertThat(badLimit.body()).contains("limit must be 1 to 1000");
        HttpResponse<String> failedLogin = Session.tryLogin("operator", "wrong-password");
        assertThat(failedLogin.headers().firstValue("Location"))
                .hasValueSatisfying(v -> assertThat(v).contains("error"));
        JsonNode newest = JSON.readTree(send(get("/api/audit?limit=1").header("Authorization", basic(env.viewer)))
                        .body())
                .get(0);
        assertThat(newest.get("action").asString()).isEqualTo("login");
        assertThat(newest.get("target").asString()).isEqualTo("operator");
        assertThat(newest.get("outcome").asString()).isEqualTo("denied: bad credentials");
        // a password typed in the name field is not written where every viewer reads it
        HttpResponse<String> passwordAsName = Session.tryLogin("Tr0ub4dor&3", "");
        assertThat(passwordAsName.headers().firstValue("Location"))
                .hasValueSatisfying(v -> assertThat(v).contains("error"));
        JsonNode entry = audit(passwordAsName);
        assertThat(entry.get("action").asString()).isEqualTo("login");
        assertThat(entry.get("target").asString()).isEqualTo("(not a user's name)");
        assertThat(send(get("/api/audit?limit=1000").header("Authorization", basic(env.viewer)))
                        .body())
                .doesNotContain("Tr0ub4dor");
    }

    @Test
    @Order(6)
    void actuatorHealthAndPrometheusAreOpenAsDocumentedAndTheRestIsClosed() throws Exception {
        HttpResponse<String> anonymous = send(get("/actuator/health"));
        assertThat(anonymous.statusCode()).isEqualTo(200);
        JsonNode status = JSON.readTree(anonymous.body());
        assertThat(status.get("status").asString()).isEqualTo("UP");
        assertThat(anonymous.body()).doesNotContain("connectString").doesNotContain("components");
        // the open endpoint asks the primaries at most once per 3 s, whoever calls it how often
        long before = sessions();
        List<CompletableFuture<Integer>> flood = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            flood.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return send(get("/actuator/health")).statusCode();
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            }));
        }
        for (CompletableFuture<Integer> r : flood) {
            assertThat(r.get(30, TimeUnit.SECONDS)).isEqualTo(200);
        }
        assertThat(sessions() - before)
                .as("sessions the console opened on s0-primary for 40 anonymous health checks")
                .isLessThan(6);
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            JsonNode health = JSON.readTree(send(get("/actuator/health").header("Authorization", basic(env.viewer)))
                    .body());
            JsonNode components = health.get("components");
            assertThat(components.get("zookeeper").get("status").asString()).isEqualTo("UP");
            assertThat(components.get("monitor").get("status").asString()).isEqualTo("UP");
            assertThat(components.get("shards").get("components").propertyNames())
                    .containsExactlyInAnyOrder("shard0", "shard1", "shard2");
            assertThat(components
                            .get("shards")
                            .get("components")
                            .get("shard0")
                            .get("details")
                            .get("primary")
                            .asString())
                    .startsWith("s0-primary");
        });
        assertThat(send(get("/actuator/prometheus")).statusCode()).isEqualTo(401);
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            String metrics = send(get("/actuator/prometheus").header("Authorization", basic(env.viewer)))
                    .body();
            assertThat(metrics)
                    .contains("shardline_replica_lag_seconds{node=\"s0-hub1\",role=\"hub\",shard=\"0\"}")
                    .contains("shardline_replica_lag_bytes{node=\"s1-leaf1\",role=\"leaf\",shard=\"1\"}")
                    .contains("shardline_replica_up{node=\"s0-leaf1\",role=\"leaf\",shard=\"0\"} 1.0")
                    .contains("shardline_move_phase{cluster=\"console\"} 8.0")
                    .contains("shardline_move_rows_expected{cluster=\"console\"}");
        });
        for (String closed :
                List.of("/actuator/env", "/actuator/configprops", "/actuator/beans", "/actuator/heapdump")) {
            HttpResponse<String> r = send(get(closed).header("Authorization", basic(env.operator)));
            assertThat(r.statusCode()).as(closed).isIn(403, 404);
        }
    }

    @Test
    @Order(7)
    void noPasswordOrHashInAnyResponse() {
        assertThat(BODIES).isNotEmpty();
        for (String body : BODIES) {
            assertThat(body)
                    .doesNotContain(env.operator.password())
                    .doesNotContain(env.viewer.password())
                    .doesNotContain("{bcrypt}")
                    .doesNotContain("$2a$");
        }
    }

    private static MoveState awaitEnd(String id) throws Exception {
        await().atMost(Duration.ofSeconds(60)).until(() -> move(id).state().isTerminal());
        return move(id).state();
    }

    private static MoveRecord move(String id) throws Exception {
        return moves().stream().filter(m -> m.id().equals(id)).findFirst().orElseThrow();
    }

    @Test
    @Order(8)
    void operatorSwitchesAPrimaryOverAndGetsClearRefusals() throws Exception {
        HttpResponse<String> alive =
                send(post("/api/shards/1/failover", "").header("Authorization", basic(env.operator)));
        assertThat(alive.statusCode()).as(alive.body()).isEqualTo(409);
        assertThat(alive.body()).contains("s1-primary answers: it is not dead. Use a switchover");
        assertAudited(alive, "operator", "failed: ");
        HttpResponse<String> leaf = send(post("/api/shards/1/switchover", "{\"to\": \"s1-leaf1\"}")
                .header("Authorization", basic(env.operator)));
        assertThat(leaf.statusCode()).as(leaf.body()).isEqualTo(409);
        assertThat(leaf.body()).contains("s1-leaf1 streams from s1-hub1, not from the primary s1-primary");
        HttpResponse<String> bad = send(post("/api/shards/1/switchover", "{\"to\": 7, \"bogus\": true}")
                .header("Authorization", basic(env.operator)));
        assertThat(bad.statusCode()).as(bad.body()).isEqualTo(400);

        HttpResponse<String> done =
                send(post("/api/shards/1/switchover", "").header("Authorization", basic(env.operator)));
        assertThat(done.statusCode()).as(done.body()).isEqualTo(200);
        JsonNode body = JSON.readTree(done.body());
        assertThat(body.get("from").asString()).isEqualTo("s1-primary");
        assertThat(body.get("to").asString()).isEqualTo("s1-hub1");
        assertAudited(done, "operator", "ok");
        assertThat(audit(done).get("target").asString()).isEqualTo("shard 1");
        assertThat(env.cluster.node("s1-hub1").queryString("SELECT pg_is_in_recovery()"))
                .isEqualTo("f");
    }

    private static List<MoveRecord> moves() throws Exception {
        return MoveRunner.moves(env.client, "console");
    }

    @Test
    @Order(9)
    void failedLoginsMakeTheNextAttemptsForThatNameWaitEvenWithTheRightPassword() throws Exception {
        String wrong = "Basic " + Base64.getEncoder().encodeToString("viewer:not-it".getBytes(StandardCharsets.UTF_8));
        for (int i = 0; i < LoginThrottle.FREE_FAILURES; i++) {
            assertThat(send(get("/api/topology").header("Authorization", wrong)).statusCode())
                    .as("guess %d", i + 1)
                    .isEqualTo(401);
        }
        HttpResponse<String> right = send(post("/api/moves", "{}").header("Authorization", basic(env.viewer)));
        assertThat(right.statusCode()).as(right.body()).isEqualTo(429);
        assertThat(right.headers().firstValue("Retry-After")).hasValue("1");
        assertThat(right.body()).contains("too many failed logins for this user name or from this address");
        assertAudited(right, "anonymous", "denied: throttled after failed logins");
        assertThat(Session.tryLogin("viewer", env.viewer.password()).statusCode())
                .as("the login form waits too")
                .isEqualTo(429);
        // the form login under another spelling of its path and of the name (no session, no CSRF token: the malformed
        // Basic header makes it a script's request) is the same login and waits as well
        HttpResponse<String> respelled = send(HttpRequest.newBuilder(URI.create(env.url() + "/%6cogin"))
                .header("Authorization", "Basic x")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString("username=Viewer+&password="
                        + URLEncoder.encode(env.viewer.password(), StandardCharsets.UTF_8))));
        assertThat(respelled.statusCode()).as(respelled.body()).isEqualTo(429);
        assertAudited(respelled, "anonymous", "denied: throttled after failed logins");
        assertThat(audit(respelled).get("action").asString()).isEqualTo("login");
        assertThat(send(get("/api/topology").header("Authorization", basic(env.operator)))
                        .statusCode())
                .as("another name from the same address")
                .isEqualTo(200);
        TimeUnit.MILLISECONDS.sleep(1_100);
        assertThat(send(get("/api/topology").header("Authorization", basic(env.viewer)))
                        .statusCode())
                .as("after the wait, and the success clears the count")
                .isEqualTo(200);
        assertThat(send(get("/api/topology").header("Authorization", basic(env.viewer)))
                        .statusCode())
                .isEqualTo(200);
    }

    @Test
    @Order(10)
    void aFloodOfAnonymousRequestsIsCountedNotStoredOneByOne() throws Exception {
        long before = anonymousEntries();
        int flood = 200;
        for (int i = 0; i < flood; i++) {
            assertThat(send(post("/api/moves", "{}")).statusCode()).isEqualTo(401);
        }
        long stored = anonymousEntries() - before;
        assertThat(stored).as("stored one by one").isLessThanOrEqualTo(2L * AnonymousEntries.PER_WINDOW);
        String metrics = send(get("/actuator/prometheus").header("Authorization", basic(env.viewer)))
                .body();
        Matcher suppressed = Pattern.compile(
                        "^shardline_console_audit_suppressed_total(?:\\{[^}]*})? (\\S+)$", Pattern.MULTILINE)
                .matcher(metrics);
        assertThat(suppressed.find())
                .as("the counter in %s", "/actuator/prometheus")
                .isTrue();
        assertThat(Double.parseDouble(suppressed.group(1))).isGreaterThanOrEqualTo(flood - stored);
        assertThat(auditActions()).as("an operator's trail is still there").contains("operator move.abort ok");
        // a user's refused requests are limited the same way (before: every one stored, a viewer could grow the log
        // past what ZooKeeper lists in one reply in minutes)
        long viewerBefore = viewerDenied();
        for (int i = 0; i < 50; i++) {
            assertThat(send(post("/api/moves", "{}").header("Authorization", basic(env.viewer)))
                            .statusCode())
                    .isEqualTo(403);
        }
        assertThat(viewerDenied() - viewerBefore)
                .as("a viewer's refusals stored one by one")
                .isLessThanOrEqualTo(2L * AnonymousEntries.PER_WINDOW);
        // and so are a user's logins, right password or not (before: a loop of good logins was stored one by one)
        long loginsBefore = viewerLogins();
        for (int i = 0; i < 50; i++) {
            HttpResponse<String> login = Session.tryLogin("viewer", env.viewer.password());
            assertThat(login.statusCode()).isEqualTo(302);
            assertThat(login.headers().firstValue("Location").orElse("")).doesNotContain("error");
        }
        assertThat(viewerLogins() - loginsBefore)
                .as("a viewer's logins stored one by one")
                .isLessThanOrEqualTo(2L * AnonymousEntries.PER_WINDOW);
        assertThat(auditActions()).as("an operator's trail is still there").contains("operator move.abort ok");
    }

    private static long viewerLogins() throws Exception {
        return auditActions().stream()
                .filter(a -> a.startsWith("viewer login ok"))
                .count();
    }

    private static long viewerDenied() throws Exception {
        return auditActions().stream()
                .filter(a -> a.startsWith("viewer move.start denied"))
                .count();
    }

    @Test
    @Order(11)
    void entriesAreDeletedByAgeOnly() throws Exception {
        // a log of its own: entries are trimmed oldest first, in the order ZooKeeper numbered them
        ConsoleSettings settings =
                ConsoleSettings.of(env.cluster.zkConnectString(), "audit-trim", List.of(env.viewer.user()), null);
        AuditLog log = new AuditLog(env.client, settings, new SimpleMeterRegistry());
        try {
            String audit = ZooKeeperTopologyStore.clusterPath("audit-trim") + "/audit";
            long now = System.currentTimeMillis();
            long day = Duration.ofDays(1).toMillis();
            // an earlier version's entries, audit/e-<seq>
            String old = writeEntry(audit, now - 401 * day);
            String alsoOld = writeEntry(audit, now - 400 * day - 60_000);
            String young = writeEntry(audit, now - 399 * day);
            // this version's, an hour's entries under audit/h-<yyyyMMddHH>
            String oldHour = writeEntry(audit + "/" + hour(now - 401 * day), now - 401 * day);
            String youngHour = writeEntry(audit + "/" + hour(now - 399 * day), now - 399 * day);
            // the first entry of an hour trims the log
            log.record(new AuditLog.Entry("", now, "operator", "OPERATOR", "test", "", "ok", 200, "r", "127.0.0.1"));
            assertThat(env.client.checkExists().forPath(old)).as(old).isNull();
            assertThat(env.client.checkExists().forPath(alsoOld)).as(alsoOld).isNull();
            assertThat(env.client.checkExists().forPath(young)).as(young).isNotNull();
            assertThat(env.client.checkExists().forPath(oldHour.substring(0, oldHour.lastIndexOf('/'))))
                    .as("the expired hour, whole")
                    .isNull();
            assertThat(env.client.checkExists().forPath(youngHour))
                    .as(youngHour)
                    .isNotNull();
            assertThat(log.recent(1000))
                    .as("newest first")
                    .extracting(AuditLog.Entry::timeMillis)
                    .containsExactly(now, now - 399 * day, now - 399 * day);
            assertThat(log.recent(2)).extracting(AuditLog.Entry::seq).allMatch(q -> q.startsWith("h-"));
        } finally {
            log.destroy();
        }
    }

    /** The node of the UTC hour holding {@code timeMillis}. */
    private static String hour(long timeMillis) {
        return AuditLog.HOUR_PREFIX
                + java.time.format.DateTimeFormatter.ofPattern("uuuuMMddHH")
                        .withZone(java.time.ZoneOffset.UTC)
                        .format(java.time.Instant.ofEpochMilli(timeMillis));
    }

    private static String writeEntry(String audit, long timeMillis) throws Exception {
        AuditLog.Entry entry =
                new AuditLog.Entry("", timeMillis, "operator", "OPERATOR", "aged", "", "ok", 200, "t", "127.0.0.1");
        return env.client
                .create()
                .creatingParentsIfNeeded()
                .withMode(CreateMode.PERSISTENT_SEQUENTIAL)
                .forPath(audit + "/" + AuditLog.PREFIX, JSON.writeValueAsBytes(entry));
    }

    private static long anonymousEntries() throws Exception {
        return auditActions().stream().filter(a -> a.startsWith("anonymous ")).count();
    }

    /** Sessions ever opened on s0-primary's database. */
    private static long sessions() throws Exception {
        return Long.parseLong(env.cluster
                .node("s0-primary")
                .queryString("SELECT sessions FROM pg_stat_database WHERE datname = current_database()"));
    }

    /** Every entry of the audit log as "user action outcome", newest first. */
    private static List<String> auditActions() throws Exception {
        JsonNode entries = JSON.readTree(send(get("/api/audit?limit=1000").header("Authorization", basic(env.viewer)))
                .body());
        List<String> actions = new ArrayList<>();
        entries.forEach(e -> actions.add(e.get("user").asString() + " "
                + e.get("action").asString() + " " + e.get("outcome").asString()));
        return actions;
    }

    /** Sequential scans of {@code orders} summed over the primaries (the preview counts rows with one). */
    private static long ordersScans() throws SQLException {
        long scans = 0;
        for (int shard = 0; shard < 2; shard++) {
            try (Connection c = env.cluster.primary(shard).connect();
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery(
                            "SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_user_tables WHERE relname = 'orders'")) {
                rs.next();
                scans += rs.getLong(1);
            }
        }
        return scans;
    }

    /** The audit entry of {@code r}'s request: who and how it ended. */
    private static void assertAudited(HttpResponse<String> r, String user, String outcomePrefix) throws Exception {
        JsonNode entry = audit(r);
        assertThat(entry)
                .as("audit entry of request %s", r.headers().firstValue("X-Request-Id"))
                .isNotNull();
        assertThat(entry.get("user").asString()).isEqualTo(user);
        assertThat(entry.get("outcome").asString()).startsWith(outcomePrefix);
        assertThat(entry.get("status").asInt()).isEqualTo(r.statusCode());
    }

    private static JsonNode audit(HttpResponse<String> r) throws Exception {
        String id = r.headers().firstValue("X-Request-Id").orElseThrow();
        JsonNode entries = JSON.readTree(send(get("/api/audit?limit=1000").header("Authorization", basic(env.operator)))
                .body());
        for (JsonNode e : entries) {
            if (e.get("requestId").asString().equals(id)) {
                return e;
            }
        }
        return null;
    }

    private static String basic(ConsoleUsers.Generated user) {
        return "Basic "
                + Base64.getEncoder()
                        .encodeToString((user.user().name() + ":" + user.password()).getBytes(StandardCharsets.UTF_8));
    }

    private static HttpRequest.Builder get(String path) {
        return HttpRequest.newBuilder(URI.create(env.url() + path)).GET().timeout(Duration.ofSeconds(30));
    }

    private static HttpRequest.Builder post(String path, String json) {
        return HttpRequest.newBuilder(URI.create(env.url() + path))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json))
                .timeout(Duration.ofSeconds(30));
    }

    private static HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
        HttpResponse<String> r = HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
        synchronized (BODIES) {
            BODIES.add(r.body());
            BODIES.add(r.headers().map().toString());
        }
        return r;
    }

    /** A browser's session: form login, cookies, and the headers a browser adds (Origin, Sec-Fetch-*). */
    private static final class Session {
        private static final Pattern FORM_TOKEN = Pattern.compile("name=\"_csrf\" value=\"([^\"]+)\"");
        private static final Pattern META_TOKEN = Pattern.compile("<meta name=\"_csrf\" content=\"([^\"]+)\"");
        private static final Pattern META_HEADER = Pattern.compile("<meta name=\"_csrf_header\" content=\"([^\"]+)\"");

        final HttpClient http;
        final String csrfToken;
        final String csrfHeader;

        private Session(HttpClient http, String csrfToken, String csrfHeader) {
            this.http = http;
            this.csrfToken = csrfToken;
            this.csrfHeader = csrfHeader;
        }

        static HttpClient browser() {
            return HttpClient.newBuilder()
                    .cookieHandler(new CookieManager())
                    .followRedirects(HttpClient.Redirect.NEVER)
                    .build();
        }

        static HttpResponse<String> tryLogin(String user, String password) throws Exception {
            return login(browser(), user, password);
        }

        private static HttpResponse<String> login(HttpClient http, String user, String password) throws Exception {
            String page = http.send(get("/login").build(), HttpResponse.BodyHandlers.ofString())
                    .body();
            Matcher token = FORM_TOKEN.matcher(page);
            assertThat(token.find()).as("CSRF token in the login form").isTrue();
            String form = "username=" + URLEncoder.encode(user, StandardCharsets.UTF_8) + "&password="
                    + URLEncoder.encode(password, StandardCharsets.UTF_8) + "&_csrf=" + token.group(1);
            HttpResponse<String> r = http.send(
                    HttpRequest.newBuilder(URI.create(env.url() + "/login"))
                            .header("Content-Type", "application/x-www-form-urlencoded")
                            .header("Origin", env.url())
                            .header("Sec-Fetch-Site", "same-origin")
                            .POST(HttpRequest.BodyPublishers.ofString(form))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            BODIES.add(r.body());
            return r;
        }

        static Session login(ConsoleUsers.Generated user) throws Exception {
            HttpClient http = browser();
            HttpResponse<String> r = login(http, user.user().name(), user.password());
            assertThat(r.statusCode()).isEqualTo(302);
            assertThat(r.headers().firstValue("Location"))
                    .hasValueSatisfying(v -> assertThat(v).doesNotContain("error"));
            String page = http.send(get("/rebalance").build(), HttpResponse.BodyHandlers.ofString())
                    .body();
            BODIES.add(page);
            Matcher token = META_TOKEN.matcher(page);
            Matcher header = META_HEADER.matcher(page);
            assertThat(token.find() && header.find())
                    .as("CSRF token in the page")
                    .isTrue();
            assertThat(page).contains("id=\"start-move\"");
            return new Session(http, token.group(1), header.group(1));
        }

        HttpRequest.Builder post(String path, String json) {
            return ConsoleSecurityIT.post(path, json)
                    .header("Origin", env.url())
                    .header("Sec-Fetch-Site", "same-origin")
                    .header("Sec-Fetch-Mode", "cors");
        }

        HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
            HttpResponse<String> r = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
            BODIES.add(r.body());
            return r;
        }
    }
}
