package io.shardline.chaos;

/**
 * One fault the nemesis injected: its kind, what it hit, when it began and when it was healed (wall-clock ms).
 */
record Fault(Nemesis.Kind kind, String target, long startMs, long healMs) {}
