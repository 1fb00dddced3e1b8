package io.shardline.cli;

import io.shardline.compose.LocalClusterException;
import io.shardline.topology.TopologyException;
import java.io.IOException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * The {@code ./shardline} command: one launcher for everything a person runs. Each subcommand prints
 * {@code --help}.
 */
@Command(
        name = "shardline",
        mixinStandardHelpOptions = true,
        versionProvider = ShardlineCli.Version.class,
        description = "Replication and sharding middleware for PostgreSQL.",
        subcommands = {
            DemoCommand.class,
            ClusterCommand.class,
            TableCommand.class,
            FunctionCommand.class,
            TopologyCommand.class,
            MonitorCommand.class,
            ShardCommand.class,
            MoveCommand.class,
            RebalancerCommand.class,
            ConsoleCommand.class,
            TxnCommand.class,
            ZkCommand.class,
            CommandLine.HelpCommand.class
        })
public final class ShardlineCli implements Runnable {
    @Spec
    CommandSpec spec;

    /** Runs the command line and exits with its status. */
    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line: errors the user can act on print one line, not a stack trace. */
    static CommandLine commandLine() {
        CommandLine cmd = new CommandLine(new ShardlineCli());
        cmd.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            PrintWriter err = commandLine.getErr();
            if (e instanceof LocalClusterException
                    || e instanceof TopologyException
                    || e instanceof IllegalArgumentException
                    || e instanceof IOException) {
                err.println("shardline: " + e.getMessage());
                err.flush();
                return 1;
            }
            throw e;
        });
        return cmd;
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = ShardlineCli.class.getPackage().getImplementationVersion();
            return new String[] {"shardline " + (v == null ? "(development build)" : v)};
        }
    }
}
