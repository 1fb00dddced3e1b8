package io.shardline.test;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Runs a test class against a local Shardline cluster: real PostgreSQL processes ({@code shards} primaries, each
 * with {@code hubs} hub replicas streaming from it and {@code leaves} leaf replicas streaming from the hubs), an
 * embedded ZooKeeper holding the topology and an even hash ring, and a replication monitor so that reads go to
 * replicas. Started before the class's first test, stopped after its last (or, {@link #shared()}, once per test run).
 * Test methods, constructors and lifecycle methods receive it as a {@link ShardlineTestCluster} parameter, or its
 * {@link javax.sql.DataSource}.
 *
 * <p>Needs PostgreSQL 15+ server binaries ({@code initdb}, {@code pg_ctl}) under {@code /usr/lib/postgresql/N/bin},
 * or in {@code PG_BIN}; no Docker.
 */
@Target({ElementType.TYPE, ElementType.ANNOTATION_TYPE})
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Inherited
@ExtendWith(ShardlineExtension.class)
public @interface ShardlineCluster {
    /** Shards, each with its own primary. */
    int shards() default 2;

    /** Hub replicas per shard, streaming from its primary. */
    int hubs() default 1;

    /** Leaf replicas per shard, streaming from its hubs (cascading); needs at least one hub. */
    int leaves() default 1;

    /**
     * Run a replication monitor: the driver sends a read to a replica only when a monitor has measured its lag, so
     * without one every read goes to a primary.
     */
    boolean monitor() default true;

    /**
     * One cluster for every test class of the run that asks for this same shape with {@code shared = true}: started by
     * the first, stopped when the run ends. The classes then share its data: use tables of their own.
     */
    boolean shared() default false;
}
