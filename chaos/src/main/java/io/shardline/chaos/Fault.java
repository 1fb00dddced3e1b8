package io.shardline.chaos;

/**
 * One fault the nemesis injected: its kind, what it hit, when it began and when it was healed (wall-clock ms), and
 * how long ZooKeeper did not serve the workload's router because of it (the ensemble without a leader, or the
 * router cut from it; 0 for the other faults).
 */
record Fault(Nemesis.Kind kind, String target, long startMs, long healMs, long zooKeeperOutageMs) {}
