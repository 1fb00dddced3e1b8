package io.shardline.spring;

import java.util.LinkedHashMap;
import java.util.Map;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * The driver's properties as {@code shardline.*} configuration ({@code shardline.max-staleness-ms=500}), for every
 * data source whose URL is {@code jdbc:shardline:}; unset ones keep the driver's defaults. The connection's user and
 * password stay {@code spring.datasource.username}/{@code password}. Generated from the driver's
 * {@code ShardlineProperty} list ({@code ShardlinePropertiesTest} keeps them equal).
 */
@ConfigurationProperties(prefix = "shardline")
public class ShardlineProperties {
    /** Where autocommit reads go: 'replica' (a replica of the shard within maxStalenessMs, the one with fewer requests in flight of two drawn at random; the primary when none is) or 'primary'. Per connection: SET shardline.read_from = 'primary'. Driver default: replica. */
    private String readFrom;

    /** How stale a replica read may be, in ms: a read goes to a replica whose lag, as measured by the replication monitor, plus the age of that measurement, is at most this; -1 reads any replica regardless of lag. Without a running monitor no lag is known and bounded reads go to the primary. Per connection: SET shardline.max_staleness = '200ms'. Driver default: 1000. */
    private Long maxStalenessMs;

    /** When no replica is within maxStalenessMs: 'primary' (read from the primary) or 'error' (fail the read with SQLState 55000). Driver default: primary. */
    private String fallback;

    /** A lag report older than this (the monitor stopped publishing) makes its replica ineligible for bounded reads. Driver default: 2000. */
    private Long lagFreshnessMs;

    /** After a write commits on a shard, this connection's reads there go only to replicas known to have replayed it (else to the primary). Costs one pg_current_wal_insert_lsn() per write transaction. Tokens move between connections with ShardlineConnection.causalToken() and SET shardline.causal_token. Driver default: true. */
    private Boolean readYourWrites;

    /** With readYourWrites, how long a read may wait for a replica to replay the session's writes (it polls the replica) before going to the primary; 0 goes to the primary at once. Driver default: 0. */
    private Long rywWaitMs;

    /** Relative share of reads per replica, e.g. 's0-hub1:3,s0-leaf1:1'; unlisted replicas weigh 1, weight 0 takes no reads. */
    private String replicaWeights;

    /** Let a transaction write on several shards: it commits with PostgreSQL's two-phase commit, the decision recorded in ZooKeeper (every primary needs max_prepared_transactions &gt; 0). Off: a transaction that reaches a second shard fails with 0A000. Needs a ZooKeeper URL. Driver default: false. */
    private Boolean twoPhaseCommit;

    /** During a shard move's cutover, how long a write to a moving key range is held before it fails with SQLState 40001 (retry it); writes to other ranges are never held. Driver default: 2000. */
    private Long fenceWaitMs;

    /** Milliseconds to wait for ZooKeeper at connect, and for a connection to a node. Driver default: 10000. */
    private Long connectTimeoutMs;

    /** ZooKeeper digest user of a secured cluster: its router identity (./shardline zk secure prints it, a local cluster keeps it in its zookeeper-credentials.properties). Unset: none (an open cluster). */
    private String zkUser;

    /** Password of zkUser. Never logged. */
    private String zkPassword;

    /** Reach ZooKeeper over TLS (its secure client port), its certificate signed by a CA of this file (PEM: .pem/.crt; or a .jks/.p12 store) and naming the host it is reached by. Unset: plain ZooKeeper. */
    private String zkTrustStore;

    /** Password of a .jks/.p12 zkTrustStore. Never logged. */
    private String zkTrustStorePassword;

    /** Maximum physical connections per node (one HikariCP pool per node). A logical connection holds one physical connection per node it has used until it closes, so make this at least the application's own pool size. Driver default: 20. */
    private Integer poolSize;

    /** A read no single shard can answer fetches each shard's rows (or partial aggregates) and combines them on one node: it fails with SQLState 54000 when the shards return more rows than this, rather than exhaust memory. Aggregates of one table need only a few rows per group. Driver default: 1000000. */
    private Long crossShardMaxRows;

    /** 'atomic': a cross-shard read sees every multi-shard (two-phase-commit) transaction whole or not at all: it reads every shard's primary in one snapshot per shard, checked and retaken while a transaction is committed on one shard and not yet on another (40001 after 5 s of that); a read-only REPEATABLE READ or SERIALIZABLE transaction takes such snapshots of every shard at its first statement and reads them throughout. 'relaxed': each shard read as it stands, from replicas under maxStalenessMs. Driver default: atomic. */
    private String crossShardConsistency;

    /** Connections with the same URL and credentials share one runtime (ZooKeeper session, node pools, threads); it closes this many ms after its last connection closed, unless a new one opens. Driver default: 10000. */
    private Long idleCloseMs;

    /** Statements whose analysis is cached, by SQL text. Prepared statements are analyzed once. Driver default: 10000. */
    private Integer analysisCacheSize;

    /** Register the driver's meters (statements, fallbacks, waits, retries, two-phase commits, node pools) with Micrometer when it is on the class path: its global registry, or the one given to ShardlineMetrics.use(registry). false: none. Driver default: true. */
    private Boolean metrics;

    /** Make an OpenTelemetry span per statement (children per shard of a cross-shard read and per phase of a two-phase commit) when the OpenTelemetry API is on the class path, through the application's GlobalOpenTelemetry or ShardlineTracing.use(openTelemetry). false: none. Driver default: true. */
    private Boolean tracing;

    /** Add each statement's text to its span (db.query.text), literals replaced by ? and comments removed. Driver default: false. */
    private Boolean traceQueryText;

    /** PostgreSQL (pgjdbc) connection properties for every node, e.g. {@code shardline.pg.sslmode=verify-full}. */
    private Map<String, String> pg = new LinkedHashMap<>();

    public String getReadFrom() {
        return readFrom;
    }

    public void setReadFrom(String readFrom) {
        this.readFrom = readFrom;
    }

    public Long getMaxStalenessMs() {
        return maxStalenessMs;
    }

    public void setMaxStalenessMs(Long maxStalenessMs) {
        this.maxStalenessMs = maxStalenessMs;
    }

    public String getFallback() {
        return fallback;
    }

    public void setFallback(String fallback) {
        this.fallback = fallback;
    }

    public Long getLagFreshnessMs() {
        return lagFreshnessMs;
    }

    public void setLagFreshnessMs(Long lagFreshnessMs) {
        this.lagFreshnessMs = lagFreshnessMs;
    }

    public Boolean getReadYourWrites() {
        return readYourWrites;
    }

    public void setReadYourWrites(Boolean readYourWrites) {
        this.readYourWrites = readYourWrites;
    }

    public Long getRywWaitMs() {
        return rywWaitMs;
    }

    public void setRywWaitMs(Long rywWaitMs) {
        this.rywWaitMs = rywWaitMs;
    }

    public String getReplicaWeights() {
        return replicaWeights;
    }

    public void setReplicaWeights(String replicaWeights) {
        this.replicaWeights = replicaWeights;
    }

    public Boolean getTwoPhaseCommit() {
        return twoPhaseCommit;
    }

    public void setTwoPhaseCommit(Boolean twoPhaseCommit) {
        this.twoPhaseCommit = twoPhaseCommit;
    }

    public Long getFenceWaitMs() {
        return fenceWaitMs;
    }

    public void setFenceWaitMs(Long fenceWaitMs) {
        this.fenceWaitMs = fenceWaitMs;
    }

    public Long getConnectTimeoutMs() {
        return connectTimeoutMs;
    }

    public void setConnectTimeoutMs(Long connectTimeoutMs) {
        this.connectTimeoutMs = connectTimeoutMs;
    }

    public String getZkUser() {
        return zkUser;
    }

    public void setZkUser(String zkUser) {
        this.zkUser = zkUser;
    }

    public String getZkPassword() {
        return zkPassword;
    }

    public void setZkPassword(String zkPassword) {
        this.zkPassword = zkPassword;
    }

    public String getZkTrustStore() {
        return zkTrustStore;
    }

    public void setZkTrustStore(String zkTrustStore) {
        this.zkTrustStore = zkTrustStore;
    }

    public String getZkTrustStorePassword() {
        return zkTrustStorePassword;
    }

    public void setZkTrustStorePassword(String zkTrustStorePassword) {
        this.zkTrustStorePassword = zkTrustStorePassword;
    }

    public Integer getPoolSize() {
        return poolSize;
    }

    public void setPoolSize(Integer poolSize) {
        this.poolSize = poolSize;
    }

    public Long getCrossShardMaxRows() {
        return crossShardMaxRows;
    }

    public void setCrossShardMaxRows(Long crossShardMaxRows) {
        this.crossShardMaxRows = crossShardMaxRows;
    }

    public String getCrossShardConsistency() {
        return crossShardConsistency;
    }

    public void setCrossShardConsistency(String crossShardConsistency) {
        this.crossShardConsistency = crossShardConsistency;
    }

    public Long getIdleCloseMs() {
        return idleCloseMs;
    }

    public void setIdleCloseMs(Long idleCloseMs) {
        this.idleCloseMs = idleCloseMs;
    }

    public Integer getAnalysisCacheSize() {
        return analysisCacheSize;
    }

    public void setAnalysisCacheSize(Integer analysisCacheSize) {
        this.analysisCacheSize = analysisCacheSize;
    }

    public Boolean getMetrics() {
        return metrics;
    }

    public void setMetrics(Boolean metrics) {
        this.metrics = metrics;
    }

    public Boolean getTracing() {
        return tracing;
    }

    public void setTracing(Boolean tracing) {
        this.tracing = tracing;
    }

    public Boolean getTraceQueryText() {
        return traceQueryText;
    }

    public void setTraceQueryText(Boolean traceQueryText) {
        this.traceQueryText = traceQueryText;
    }

    public Map<String, String> getPg() {
        return pg;
    }

    public void setPg(Map<String, String> pg) {
        this.pg = pg;
    }
}
