package io.shardline.console;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.compose.PgNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.openqa.selenium.By;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The console in a real browser (Debian's chromium and chromium-driver, headless, driven by Selenium): a viewer sees
 * the cascade tree and a lag chart with data and no start button; an operator previews a move to the empty shard,
 * starts it, and watches the progress bar reach done. Screenshots go to {@code target/screenshots/}.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ConsoleBrowserIT {
    static final Path CHROMIUM = Path.of(System.getProperty("shardline.chromium", "/usr/bin/chromium"));
    static final Path CHROMEDRIVER = Path.of(System.getProperty("shardline.chromedriver", "/usr/bin/chromedriver"));
    static final Path SCREENSHOTS = Path.of("target", "screenshots");

    private static ConsoleCluster env;
    private static WebDriver browser;
    private static Path profile;

    @BeforeAll
    static void start() throws Exception {
        assertThat(Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER))
                .as(
                        "the browser test needs Debian's chromium and chromium-driver (%s, %s): apt-get install chromium"
                                + " chromium-driver (bash .ci/run installs them)",
                        CHROMIUM, CHROMEDRIVER)
                .isTrue();
        Files.createDirectories(SCREENSHOTS);
        env = new ConsoleCluster("browser", 20_000);
        profile = Files.createTempDirectory("shardline-chromium-");
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments(
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--user-data-dir=" + profile,
                "--window-size=1400,1250");
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort()
                .build();
        browser = new ChromeDriver(service, options);
        browser.manage().window().setSize(new Dimension(1400, 1250));
    }

    /** s1-leaf1 re-pointed from its hub to the primary: the tree and the overview follow its WAL receiver. */
    private static void theTreeShowsWhereAReplicaReallyStreamsFrom(WebDriverWait wait) throws Exception {
        PgNode leaf = env.cluster.node("s1-leaf1");
        String configured = leaf.queryString("SHOW primary_conninfo");
        String toPrimary = configured.replaceAll(
                "port=\\d+", "port=" + env.cluster.primary(1).port());
        assertThat(toPrimary).isNotEqualTo(configured);
        String slot = leaf.queryString("SHOW primary_slot_name");
        setConninfo(leaf, toPrimary, ""); // its slot is on the hub
        try {
            // under the primary: on the hubs' row
            wait.until(d -> {
                d.get(env.url() + "/replication");
                return yOf("s1-leaf1") == yOf("s1-hub1");
            });
            browser.get(env.url() + "/");
            assertThat(browser.findElement(By.cssSelector("tr[data-node='s1-leaf1']"))
                            .getText())
                    .contains("s1-primary (configured: s1-hub1)");
        } finally {
            setConninfo(leaf, configured, slot);
        }
        wait.until(d -> {
            d.get(env.url() + "/replication");
            return yOf("s1-leaf1") > yOf("s1-hub1");
        });
    }

    /** The top of {@code node}'s box in the cascade tree ({@code translate(x,y)}). */
    private static int yOf(String node) {
        String t = browser.findElement(By.cssSelector("g.node[data-node='" + node + "']"))
                .getAttribute("transform");
        return Integer.parseInt(t.substring(t.indexOf(',') + 1, t.indexOf(')')).trim());
    }

    private static void setConninfo(PgNode node, String conninfo, String slot) throws java.sql.SQLException {
        try (java.sql.Connection c = node.connect();
                java.sql.Statement s = c.createStatement()) {
            s.execute("ALTER SYSTEM SET primary_conninfo = '" + conninfo.replace("'", "''") + "'");
            s.execute("ALTER SYSTEM SET primary_slot_name = '" + slot.replace("'", "''") + "'");
            s.execute("SELECT pg_reload_conf()");
        }
    }

    @AfterAll
    static void stop() throws IOException {
        if (browser != null) {
            browser.quit();
        }
        if (env != null) {
            env.close();
        }
        if (profile != null) {
            try (var files = Files.walk(profile)) {
                files.sorted(java.util.Comparator.reverseOrder())
                        .forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    void viewerWatchesReplicationAndOperatorRunsAMoveToTheEnd() throws Exception {
        WebDriverWait wait = new WebDriverWait(browser, Duration.ofSeconds(30));

        // anonymous: the login page
        browser.get(env.url() + "/replication");
        wait.until(ExpectedConditions.urlContains("/login"));
        logIn(env.viewer);
        browser.get(env.url() + "/replication");

        // the cascade tree: every node of shard 0, the replicas coloured by their measured lag
        WebElement tree = wait.until(ExpectedConditions.presenceOfElementLocated(By.id("cascade-s0")));
        assertThat(tree.findElements(By.cssSelector("g.node"))).hasSize(3);
        assertThat(tree.findElements(By.cssSelector("line.edge"))).hasSize(2);
        wait.until(d -> d.findElement(By.cssSelector("g.node[data-node='s0-leaf1']"))
                .getAttribute("class")
                .contains("ok"));
        wait.until(d -> d.findElement(By.cssSelector("g.node[data-node='s0-leaf1'] text.detail"))
                .getText()
                .contains(" ms"));
        // a lag chart with data: at least 5 measured seconds, drawn by uPlot
        WebElement chart = browser.findElement(By.id("chart-s0-hub1"));
        wait.until(d -> Integer.parseInt(orZero(chart.getAttribute("data-points"))) >= 5);
        assertThat(chart.findElements(By.tagName("canvas"))).isNotEmpty();
        // a leaf that stops replaying falls behind: highlighted past the thresholds, then back to ok
        env.cluster.node("s1-leaf1").pauseReplay();
        try {
            new WebDriverWait(browser, Duration.ofSeconds(30))
                    .until(d -> d.findElement(By.cssSelector("g.node[data-node='s1-leaf1']"))
                            .getAttribute("class")
                            .contains("critical"));
            assertThat(browser.findElement(By.cssSelector("[data-now='s1-leaf1']"))
                            .getAttribute("class"))
                    .contains("critical");
            screenshot("replication");
        } finally {
            env.cluster.node("s1-leaf1").resumeReplay();
        }
        wait.until(d -> d.findElement(By.cssSelector("g.node[data-node='s1-leaf1']"))
                .getAttribute("class")
                .contains("ok"));
        theTreeShowsWhereAReplicaReallyStreamsFrom(wait);

        // a viewer may preview, but has no start button
        browser.get(env.url() + "/rebalance");
        browser.findElement(By.id("preview-plan")).click();
        wait.until(ExpectedConditions.presenceOfElementLocated(By.id("plan-table")));
        assertThat(browser.findElements(By.id("start-move"))).isEmpty();
        assertThat(browser.findElements(By.id("abort-move"))).isEmpty();
        screenshot("rebalance-viewer");
        browser.get(env.url() + "/shards");
        assertThat(browser.findElements(By.cssSelector("button.switchover"))).isEmpty();
        logOut();

        // an operator previews, starts, and watches the move to the end
        logIn(env.operator);
        browser.get(env.url() + "/rebalance");
        browser.findElement(By.id("preview-plan")).click();
        WebElement summary = wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("plan-summary")));
        assertThat(summary.getText()).contains("filling empty shard(s) 2");
        assertThat(browser.findElements(By.cssSelector("#plan-table tbody tr"))).hasSize(2);
        WebElement start = wait.until(ExpectedConditions.elementToBeClickable(By.id("start-move")));
        screenshot("rebalance-plan");
        start.click();
        wait.until(ExpectedConditions.elementToBeClickable(By.id("confirm-start")))
                .click();
        WebElement progress = wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("move-progress")));
        new WebDriverWait(browser, Duration.ofSeconds(20))
                .until(d -> !progress.getAttribute("data-state").isEmpty());
        screenshot("rebalance-running");
        new WebDriverWait(browser, Duration.ofSeconds(180))
                .until(d -> "done".equals(progress.getAttribute("data-state")));
        assertThat(browser.findElement(By.id("move-percent")).getText()).isEqualTo("100 %");
        assertThat(browser.findElement(By.id("move-bar")).getAttribute("style")).contains("width: 100%");
        assertThat(browser.findElement(By.id("move-detail")).getText()).startsWith("Done in");
        wait.until(d -> d.findElement(By.cssSelector("#history tbody tr:first-child"))
                .getText()
                .contains("done"));
        screenshot("rebalance-done");

        browser.get(env.url() + "/shards");
        assertThat(browser.findElements(By.cssSelector("#shards tbody tr"))).hasSize(3);
        assertThat(browser.findElement(By.cssSelector("tr[data-shard='0'] .primary-name"))
                        .getText())
                .isEqualTo("s0-primary");
        screenshot("shards");
        // an operator switches shard 0's primary over from the page
        browser.findElement(By.cssSelector("tr[data-shard='0'] button.switchover"))
                .click();
        wait.until(ExpectedConditions.elementToBeClickable(By.id("confirm-primary")))
                .click();
        WebElement switched = new WebDriverWait(browser, Duration.ofSeconds(120)).until(d -> {
            WebElement r = d.findElement(By.id("primary-result"));
            return r.getAttribute("class").equals("ok")
                            || r.getAttribute("class").equals("error")
                    ? r
                    : null;
        });
        assertThat(switched.getAttribute("class")).as(switched.getText()).isEqualTo("ok");
        assertThat(switched.getText()).contains("Shard 0: s0-hub1 is the primary (was s0-primary)");
        assertThat(browser.findElement(By.cssSelector("tr[data-shard='0'] .primary-name"))
                        .getText())
                .isEqualTo("s0-hub1");
        screenshot("shards-switched");
        browser.get(env.url() + "/audit");
        assertThat(browser.findElement(By.id("audit")).getText())
                .contains("move.start", "operator", "login", "shard.switchover");
        screenshot("audit");
        browser.get(env.url() + "/");
        wait.until(d -> d.findElement(By.id("ring-version")).getText().equals("2"));
        screenshot("overview");
    }

    private static String orZero(String value) {
        return value == null || value.isEmpty() ? "0" : value;
    }

    private static void logIn(ConsoleUsers.Generated user) {
        if (!browser.getCurrentUrl().contains("/login")) {
            browser.get(env.url() + "/login");
        }
        browser.findElement(By.id("username")).sendKeys(user.user().name());
        browser.findElement(By.id("password")).sendKeys(user.password());
        browser.findElement(By.id("login")).click();
        new WebDriverWait(browser, Duration.ofSeconds(10))
                .until(d -> !d.getCurrentUrl().contains("/login"));
        assertThat(browser.findElement(By.id("who")).getText())
                .contains(user.user().name(), user.user().role().name());
    }

    private static void logOut() {
        browser.findElement(By.cssSelector("form[action='/logout'] button")).click();
        new WebDriverWait(browser, Duration.ofSeconds(10)).until(ExpectedConditions.urlContains("/login?logout"));
    }

    private static void screenshot(String name) throws IOException {
        Path file = SCREENSHOTS.resolve(name + ".png");
        Files.copy(
                ((TakesScreenshot) browser).getScreenshotAs(OutputType.FILE).toPath(),
                file,
                StandardCopyOption.REPLACE_EXISTING);
    }
}
