package io.shardline.router.exec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.shardline.router.ShardlineUrl;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RuntimesTest {
    private static Properties props(String... pairs) {
        Properties p = new Properties();
        for (int i = 0; i < pairs.length; i += 2) {
            p.setProperty(pairs[i], pairs[i + 1]);
        }
        return p;
    }

    @Test
    void runtimesAreKeyedByADigestOfEachPasswordNeverThePasswordItself() throws SQLException {
        ShardlineUrl url = ShardlineUrl.parse("jdbc:shardline:zk://127.0.0.1:2181/shardline/clusters/demo");
        String one = Runtimes.key(url, props("user", "app", "password", "s3cret-one", "pg.sslpassword", "k3y-pass"));
        String same = Runtimes.key(url, props("user", "app", "password", "s3cret-one", "pg.sslpassword", "k3y-pass"));
        String other = Runtimes.key(url, props("user", "app", "password", "s3cret-two", "pg.sslpassword", "k3y-pass"));
        assertThat(one).doesNotContain("s3cret").doesNotContain("k3y-pass").contains("user=app");
        assertThat(one).isEqualTo(same);
        assertThat(other).isNotEqualTo(one);
        assertThat(Runtimes.key(url, props("user", "app", "poolSize", "5")))
                .isNotEqualTo(Runtimes.key(url, props("user", "app", "poolSize", "6")));
    }

    private static ShardlineUrl clusterFile(Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("cluster.yaml"), """
                cluster: unit
                database: db
                user: app
                shards:
                  - id: 0
                    nodes:
                      - {name: s0-primary, role: primary, host: 127.0.0.1, port: 1}
                tables: []
                """);
        return ShardlineUrl.parse("jdbc:shardline:file:" + file);
    }

    @Test
    void connectsShareARuntimeThatClosesAfterTheLastOneUnlessANewOneComes(@TempDir Path dir) throws Exception {
        ShardlineUrl url = clusterFile(dir);
        Properties props = props("idleCloseMs", "200");
        Runtimes runtimes = new Runtimes();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<ClusterRuntime>> opened = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                opened.add(pool.submit(() -> runtimes.acquire(url, props)));
            }
            ClusterRuntime first = opened.get(0).get();
            for (Future<ClusterRuntime> f : opened) {
                assertThat(f.get()).as("one runtime for 8 concurrent connects").isSameAs(first);
            }
            assertThat(runtimes.size()).isEqualTo(1);
            for (int i = 0; i < 8; i++) {
                runtimes.release(first);
            }
            // a connect inside the grace period keeps it
            assertThat(runtimes.acquire(url, props)).isSameAs(first);
            Thread.sleep(400);
            assertThat(runtimes.size()).isEqualTo(1);
            runtimes.release(first);
            await().atMost(Duration.ofSeconds(5)).until(() -> runtimes.size() == 0);
            assertThat(runtimes.acquire(url, props))
                    .as("a new runtime after the close")
                    .isNotSameAs(first);
        } finally {
            pool.shutdownNow();
            runtimes.closeAll();
        }
    }

    @Test
    void aRuntimeThatCannotOpenFailsEveryConnectWaitingForIt(@TempDir Path dir) {
        Runtimes runtimes = new Runtimes();
        ShardlineUrl[] missing = new ShardlineUrl[1];
        assertThatThrownBy(() -> {
                    missing[0] = ShardlineUrl.parse("jdbc:shardline:file:" + dir.resolve("missing.yaml"));
                    runtimes.acquire(missing[0], props());
                })
                .isInstanceOf(SQLException.class)
                .hasMessageContaining("missing.yaml");
        assertThat(runtimes.size()).isZero();
    }
}
