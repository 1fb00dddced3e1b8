package io.shardline.cli;

import io.shardline.compose.ClusterDescriptor;
import io.shardline.topology.ZkCredentials;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Option;

/**
 * Which cluster a command acts on: a local one by its directory, or any by ZooKeeper address and name. Used
 * as {@code @ArgGroup(exclusive = true, multiplicity = "1")}.
 */
final class ClusterTarget {
    @Option(names = "--dir", description = "Directory of a local cluster (reads its cluster.json).")
    Path dir;

    @ArgGroup(exclusive = false)
    Remote remote;

    static final class Remote {
        @Option(names = "--zk", required = true, description = "ZooKeeper connect string, host:port[,host:port].")
        String zk;

        @Option(names = "--name", required = true, description = "Cluster name.")
        String name;
    }

    /**
     * The ZooKeeper connect string. A local cluster's directory also gives this process its ZooKeeper credentials
     * (the admin identity of its {@code zookeeper-credentials.properties}).
     */
    String zk() throws IOException {
        if (dir == null) {
            ZkCredentials.useForThisProcess(null); // the environment's, never another cluster's
            return remote.zk;
        }
        ClusterDescriptor d = ClusterDescriptor.read(dir);
        ZkCommand.useCredentialsOf(dir);
        return d.zk();
    }

    /** The cluster name. */
    String name() throws IOException {
        return dir != null ? ClusterDescriptor.read(dir).name() : remote.name;
    }

    /** The database password for the nodes: {@code SHARDLINE_PASSWORD}, else {@code PGPASSWORD}, else none. */
    static String password() {
        String password = System.getenv("SHARDLINE_PASSWORD");
        return password != null ? password : System.getenv("PGPASSWORD");
    }

    /** The options that name this cluster again, for hints in messages. */
    String describe() throws IOException {
        return dir != null ? "--dir " + dir : "--zk " + remote.zk + " --name " + remote.name;
    }
}
