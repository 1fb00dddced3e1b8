package io.shardline.router.route;

/** What the router needs to know of shard moves in progress. */
public interface Moves {
    /** No moves: a static cluster file. */
    Moves NONE = new Moves() {
        @Override
        public String activeMove() {
            return null;
        }

        @Override
        public long cutoverLsn(int shard) {
            return 0;
        }
    };

    /** The id of a move past planning, or null: its rows are on two shards until its cleanup. */
    String activeMove();

    /** Since a move made {@code shard} a target, the position its replicas must have replayed (0: none). */
    long cutoverLsn(int shard);

    /**
     * The lowest ring version a move in progress that gives {@code shard} ranges switches to, without its SWITCHED
     * record seen yet ({@link Long#MAX_VALUE}: none): a ring at or past it routes moved ranges to the shard before its
     * replicas' cutover position is known, so its reads go to its primary meanwhile.
     */
    default long awaitedSwitch(int shard) {
        return Long.MAX_VALUE;
    }
}
