package io.shardline.router;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.compose.LocalCluster;
import io.shardline.topology.KeyType;
import io.shardline.topology.ShardedTable;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Driver;
import java.sql.ResultSet;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/** The self-contained driver jar works as a tool's only driver file: loaded alone, it connects and routes. */
class ShadedJarIT {

    @Test
    void theShadedJarAloneConnectsAndRoutes() throws Exception {
        Path jar = shadedJar();
        try (LocalCluster cluster = LocalCluster.builder()
                        .name("shaded")
                        .shards(2)
                        .hubs(0)
                        .leaves(0)
                        .start();
                URLClassLoader loader =
                        new URLClassLoader(new URL[] {jar.toUri().toURL()}, ClassLoader.getPlatformClassLoader())) {
            RouterClusters.publish(cluster, List.of(new ShardedTable("public", "kv", "k", KeyType.TEXT)));
            Driver driver = (Driver) loader.loadClass("io.shardline.router.ShardlineDriver")
                    .getDeclaredConstructor()
                    .newInstance();
            assertThat(loader.loadClass("io.shardline.shaded.jsqlparser.parser.CCJSqlParserUtil"))
                    .isNotNull();
            try (Connection c = driver.connect(cluster.shardlineUrl(), new Properties())) {
                c.createStatement().execute("CREATE TABLE kv (k text PRIMARY KEY, v text)");
                c.createStatement().executeUpdate("INSERT INTO kv (k, v) VALUES ('a', 'one')");
                try (ResultSet rs = c.createStatement().executeQuery("SELECT v FROM kv WHERE k = 'a'")) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getString(1)).isEqualTo("one");
                }
            }
            loader.loadClass("io.shardline.router.ShardlineDriver")
                    .getMethod("closeAll")
                    .invoke(null);
        }
    }

    private static Path shadedJar() throws Exception {
        try (DirectoryStream<Path> jars = Files.newDirectoryStream(Path.of("target"), "shardline-router-*-all.jar")) {
            for (Path jar : jars) {
                return jar;
            }
        }
        throw new IllegalStateException("no shaded jar in target/: run the package phase first");
    }
}
