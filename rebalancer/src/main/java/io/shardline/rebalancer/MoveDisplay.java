package io.shardline.rebalancer;

import io.shardline.topology.MoveRecord;
import io.shardline.topology.MoveRecord.MoveState;
import java.util.Locale;

/** How a move is shown to people, the same in the CLI and the console: phase, share done, the phase's figures. */
public final class MoveDisplay {
    private MoveDisplay() {}

    /** {@code catching up} for {@code CATCHING_UP}. */
    public static String phase(MoveState state) {
        return state.name().toLowerCase(Locale.ROOT).replace('_', ' ');
    }

    /** Steps done out of all of them, and within the copy and the cleanup the share of rows done: 0 to 1. */
    public static double fractionDone(MoveRecord move) {
        int steps = MoveState.DONE.ordinal();
        if (move.state() == MoveState.ABORTED) {
            return 0;
        }
        double done = Math.min(move.state().ordinal(), steps);
        MoveRecord.Progress p = move.progress();
        if (move.state() == MoveState.COPYING && p.rowsTotal() > 0) {
            done += Math.min(1.0, (double) p.rowsCopied() / p.rowsTotal());
        } else if (move.state() == MoveState.CLEANING && p.rowsCopied() > 0) {
            done += Math.min(1.0, (double) p.rowsCleaned() / p.rowsCopied());
        }
        return done / steps;
    }

    /** The current phase's figures: rows copied, catch-up lag, rows cleaned, time left; empty when none. */
    public static String progress(MoveRecord move) {
        MoveRecord.Progress p = move.progress();
        String eta = p.etaSeconds() < 0 ? "" : String.format(Locale.ROOT, ", about %d s left", p.etaSeconds());
        switch (move.state()) {
            case COPYING:
                return p.equals(MoveRecord.Progress.NONE)
                        ? "starting the copy"
                        : String.format(
                                Locale.ROOT,
                                "%,d of %,d rows copied (%d%%)%s",
                                p.rowsCopied(),
                                p.rowsTotal(),
                                p.rowsTotal() == 0 ? 100 : Math.min(100, 100 * p.rowsCopied() / p.rowsTotal()),
                                eta);
            case CATCHING_UP:
                return (p.lagBytes() < 0 ? "" : "targets " + bytes(p.lagBytes()) + " behind" + eta)
                        + (move.error() == null ? "" : " (" + move.error() + ")");
            case FENCED:
                return "writes to the moving ranges held for the switch";
            case CLEANING:
                return String.format(Locale.ROOT, "%,d moved rows deleted from the sources%s", p.rowsCleaned(), eta);
            default:
                return "";
        }
    }

    /** {@code 12.3 kB} or {@code 4.5 MB}. */
    public static String bytes(long bytes) {
        if (bytes < 1024 * 1024) {
            return String.format(Locale.ROOT, "%.1f kB", bytes / 1024.0);
        }
        return String.format(Locale.ROOT, "%.1f MB", bytes / (1024.0 * 1024));
    }
}
