package io.shardline.topology;

import org.apache.zookeeper.ClientCnxnSocketNetty;
import org.apache.zookeeper.client.ZKClientConfig;
import org.apache.zookeeper.common.ClientX509Util;

/**
 * ZooKeeper over TLS: the client port is a secure one, the server's certificate checked against a trust store
 * (and the host it is reached by, as ZooKeeper checks by default). The password is never shown by
 * {@link #toString()}.
 *
 * @param trustStore the certificate authorities trusted to sign ZooKeeper's certificate: a PEM file ({@code .pem},
 *     {@code .crt}), or a JKS or PKCS#12 store ({@code .jks}, {@code .p12})
 * @param trustStorePassword the store's password; null for a PEM file
 */
public record ZkTls(String trustStore, String trustStorePassword) {
    private static volatile ZkTls processDefault;

    public ZkTls {
        if (trustStore == null || trustStore.isBlank()) {
            throw new IllegalArgumentException("ZooKeeper TLS needs a trust store (the CA certificates, PEM)");
        }
    }

    /**
     * This process's setting: the one {@link #useForThisProcess} set, else {@code SHARDLINE_ZK_TRUSTSTORE} (and
     * {@code SHARDLINE_ZK_TRUSTSTORE_PASSWORD}) from the environment, else none (plain ZooKeeper).
     */
    public static ZkTls processDefault() {
        ZkTls set = processDefault;
        if (set != null) {
            return set;
        }
        String store = System.getenv("SHARDLINE_ZK_TRUSTSTORE");
        return store == null ? null : new ZkTls(store, System.getenv("SHARDLINE_ZK_TRUSTSTORE_PASSWORD"));
    }

    /** Makes {@code tls} this process's setting (tests, embedding); null goes back to the environment's. */
    public static void useForThisProcess(ZkTls tls) {
        processDefault = tls;
    }

    /** A client configuration for this: secure, Netty, this trust store. */
    ZKClientConfig clientConfig() {
        ZKClientConfig config = new ZKClientConfig();
        config.setProperty(ZKClientConfig.SECURE_CLIENT, "true");
        config.setProperty(ZKClientConfig.ZOOKEEPER_CLIENT_CNXN_SOCKET, ClientCnxnSocketNetty.class.getName());
        try (ClientX509Util x509 = new ClientX509Util()) {
            config.setProperty(x509.getSslTruststoreLocationProperty(), trustStore);
            String lower = trustStore.toLowerCase(java.util.Locale.ROOT);
            if (lower.endsWith(".pem") || lower.endsWith(".crt")) {
                config.setProperty(x509.getSslTruststoreTypeProperty(), "PEM");
            }
            if (trustStorePassword != null) {
                config.setProperty(x509.getSslTruststorePasswdProperty(), trustStorePassword);
            }
        }
        return config;
    }

    @Override
    public String toString() {
        return "ZkTls[trustStore=" + trustStore + "]";
    }
}
