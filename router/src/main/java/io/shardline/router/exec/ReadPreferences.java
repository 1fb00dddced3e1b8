package io.shardline.router.exec;

import io.shardline.router.SqlStates;
import io.shardline.router.route.CausalToken;
import io.shardline.topology.LagSnapshot;
import java.sql.SQLException;
import java.util.Arrays;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A session's read preferences: whether reads go to the primary, the staleness bound of replica reads, and its
 * causal token (what it wrote, per shard, and on which shards it committed since it last read the position: see
 * {@link #committed(int, LagSnapshot)}). The connection's properties give the defaults; {@code SET / RESET / SHOW
 * shardline.read_from | shardline.max_staleness | shardline.causal_token} change and show them.
 */
final class ReadPreferences {
    private static final Pattern SET_VALUE =
            Pattern.compile("(?is)^\\s*set\\s+(?:session\\s+)?[\\w.\"]+\\s*(?:=|to)\\s*'?([^';]*)'?\\s*;?\\s*$");

    private final RuntimeSettings defaults;
    private final String cluster;
    private boolean readFromPrimary;
    /** The staleness bound for replica reads, ms; negative: unbounded. */
    private long maxStalenessMs;

    private CausalToken causalToken;
    /**
     * By shard id: null, or the lag reports the driver had when the session last committed there without reading the
     * commit's position (nothing in them can show a replica holding the commit).
     */
    private LagSnapshot[] pendingSince = new LagSnapshot[0];

    ReadPreferences(RuntimeSettings defaults, String cluster) {
        this.defaults = defaults;
        this.cluster = cluster;
        this.readFromPrimary = defaults.readFromPrimary();
        this.maxStalenessMs = defaults.maxStalenessMs();
        this.causalToken = CausalToken.empty(cluster);
    }

    boolean readFromPrimary() {
        return readFromPrimary;
    }

    long maxStalenessMs() {
        return maxStalenessMs;
    }

    /** The token's position on {@code shard}, {@link CausalToken#PENDING} when a commit there is not read yet. */
    long writtenLsn(int shard) {
        return pendingSince(shard) != null ? CausalToken.PENDING : causalToken.lsn(shard);
    }

    /**
     * A write committed on {@code shard} whose position is not read: until {@link #resolved(int, long)} gives it, no
     * replica serves the session's reads there. Costs no round trip: a session that writes and never reads, or reads
     * before a newer lag report could show a replica holding its write (the primary serves those reads anyway), never
     * reads it.
     *
     * @param known the lag reports the driver has now (made before the commit: none shows a replica holding it)
     */
    void committed(int shard, LagSnapshot known) {
        if (shard >= pendingSince.length) {
            pendingSince = Arrays.copyOf(pendingSince, shard + 1);
        }
        pendingSince[shard] = known;
    }

    /** Null, or the lag reports the driver had when a commit on {@code shard} left its position unread. */
    LagSnapshot pendingSince(int shard) {
        return shard < pendingSince.length ? pendingSince[shard] : null;
    }

    /**
     * The position of the session's commits on {@code shard}: {@code lsn}, read on its primary after them
     * ({@link CausalToken#UNKNOWN} when it could not be read).
     */
    void resolved(int shard, long lsn) {
        if (shard < pendingSince.length) {
            pendingSince[shard] = null;
        }
        causalToken = causalToken.advance(shard, lsn);
    }

    /** The shards with a commit whose position is not read yet. */
    int[] pendingShards() {
        int n = 0;
        for (LagSnapshot since : pendingSince) {
            n += since != null ? 1 : 0;
        }
        int[] shards = new int[n];
        n = 0;
        for (int shard = 0; shard < pendingSince.length; shard++) {
            if (pendingSince[shard] != null) {
                shards[n++] = shard;
            }
        }
        return shards;
    }

    String causalToken() {
        return causalToken.format();
    }

    /**
     * {@code SET} or {@code RESET} of a {@code shardline.*} setting.
     *
     * @throws SQLException 22023 naming the setting or the value when either is unknown
     */
    void apply(String command, String setting, String sql) throws SQLException {
        boolean reset = command.equals("RESET");
        Matcher m = SET_VALUE.matcher(sql);
        String raw = reset || !m.matches() ? "" : m.group(1).trim();
        String value = raw.toLowerCase(Locale.ROOT);
        switch (setting) {
            case "shardline.read_from":
                if (reset) {
                    readFromPrimary = defaults.readFromPrimary();
                } else if (value.equals("primary") || value.equals("replica")) {
                    readFromPrimary = value.equals("primary");
                } else {
                    throw new SQLException(
                            "shardline.read_from must be 'replica' or 'primary', not '" + value + "'",
                            SqlStates.INVALID_PARAMETER);
                }
                return;
            case "shardline.max_staleness":
                maxStalenessMs = reset ? defaults.maxStalenessMs() : parseStaleness(value);
                return;
            case "shardline.causal_token":
                if (reset) {
                    causalToken = CausalToken.empty(cluster);
                    Arrays.fill(pendingSince, null);
                    return;
                }
                try {
                    causalToken = causalToken.merge(CausalToken.parse(raw, cluster));
                } catch (IllegalArgumentException e) {
                    throw new SQLException(e.getMessage(), SqlStates.INVALID_PARAMETER, e);
                }
                return;
            default:
                throw unknown(setting);
        }
    }

    /**
     * The value {@code SHOW setting} gives.
     *
     * @throws SQLException 22023 for an unknown setting
     */
    String show(String setting) throws SQLException {
        return switch (setting) {
            case "shardline.read_from" -> readFromPrimary ? "primary" : "replica";
            case "shardline.max_staleness" -> maxStalenessMs < 0 ? "unbounded" : maxStalenessMs + "ms";
            case "shardline.causal_token" -> causalToken.format();
            default -> throw unknown(setting);
        };
    }

    private static SQLException unknown(String setting) {
        return new SQLException(
                "unknown Shardline setting '" + setting + "': the settings are shardline.read_from ('replica' or"
                        + " 'primary'), shardline.max_staleness (e.g. '200ms', '2s', 'unbounded') and"
                        + " shardline.causal_token (from causalToken())",
                SqlStates.INVALID_PARAMETER);
    }

    /** {@code 200ms}, {@code 2s}, {@code 500} (ms) or {@code unbounded}; as ms, -1 for unbounded. */
    static long parseStaleness(String value) throws SQLException {
        String v = value.trim().toLowerCase(Locale.ROOT);
        if (v.equals("unbounded") || v.equals("-1")) {
            return -1;
        }
        double ms = -1;
        try {
            if (v.endsWith("ms")) {
                ms = Double.parseDouble(v.substring(0, v.length() - 2).trim());
            } else if (v.endsWith("s")) {
                ms = Double.parseDouble(v.substring(0, v.length() - 1).trim()) * 1000;
            } else {
                ms = Double.parseDouble(v);
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        if (!(ms >= 0) || Double.isInfinite(ms)) {
            throw new SQLException(
                    "shardline.max_staleness must be like '200ms', '2s' or 'unbounded', not '" + value + "'",
                    SqlStates.INVALID_PARAMETER);
        }
        return Math.round(ms);
    }
}
