package io.shardline.router.exec;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.router.ShardlineUrl;
import java.sql.SQLException;
import java.util.Properties;
import org.junit.jupiter.api.Test;

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
}
