package io.shardline.chaos;

/**
 * One fault the nemesis injected: its kind, what it hit, when it began and when it was healed (wall-clock ms), and
 * how long ZooKeeper did not serve the workload's router because of it (servers down: the longest pause between two
 * answers to {@link ZooKeeperProbe}'s client; the router cut from it: the cut; 0 for the other faults).
 */
record Fault(Nemesis.Kind kind, String target, long startMs, long healMs, long zooKeeperOutageMs) {}
