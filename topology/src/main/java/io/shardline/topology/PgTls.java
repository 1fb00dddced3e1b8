package io.shardline.topology;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

/**
 * How Shardline's processes (replication monitor, rebalancer and the subscriptions it creates, admin console,
 * command line) reach PostgreSQL over TLS: libpq's settings, by libpq's environment variables ({@code PGSSLMODE},
 * {@code PGSSLROOTCERT}, {@code PGSSLCERT}, {@code PGSSLKEY}), so pg_dump and psql started beside them agree. None
 * set: pgjdbc's and libpq's default ({@code prefer}: TLS when the server offers it, unverified). The driver inside
 * applications takes pgjdbc's own properties instead ({@code pg.sslmode}, ...).
 *
 * @param mode {@code disable}, {@code allow}, {@code prefer}, {@code require}, {@code verify-ca} or {@code verify-full};
 *     null: the default
 * @param rootCert file of the certificate authorities trusted to sign the servers' certificates, or null
 * @param cert the client certificate file, or null
 * @param key the client certificate's key file (unencrypted PKCS#8 PEM serves pgjdbc and libpq alike), or null
 */
public record PgTls(String mode, String rootCert, String cert, String key) {
    private static final Set<String> MODES =
            Set.of("disable", "allow", "prefer", "require", "verify-ca", "verify-full");
    /** No setting: the clients' defaults. */
    public static final PgTls NONE = new PgTls(null, null, null, null);

    private static volatile PgTls processDefault;

    public PgTls {
        if (mode != null && !MODES.contains(mode)) {
            throw new IllegalArgumentException("sslmode '" + mode + "' is none of " + MODES);
        }
        if ((cert == null) != (key == null)) {
            throw new IllegalArgumentException("a client certificate needs its key and a key its certificate"
                    + " (PGSSLCERT and PGSSLKEY go together)");
        }
    }

    /** From libpq's environment variables. */
    public static PgTls fromEnvironment() {
        return new PgTls(
                System.getenv("PGSSLMODE"),
                System.getenv("PGSSLROOTCERT"),
                System.getenv("PGSSLCERT"),
                System.getenv("PGSSLKEY"));
    }

    /** This process's settings: the ones {@link #useForThisProcess} set, else the environment's. */
    public static PgTls processDefault() {
        PgTls set = processDefault;
        return set != null ? set : fromEnvironment();
    }

    /** Makes {@code tls} this process's settings (tests, embedding); null goes back to the environment's. */
    public static void useForThisProcess(PgTls tls) {
        processDefault = tls;
    }

    /** The settings by libpq's keyword ({@code sslmode}, ...), the unset ones left out. */
    public Map<String, String> keywords() {
        Map<String, String> k = new LinkedHashMap<>();
        if (mode != null) {
            k.put("sslmode", mode);
        }
        if (rootCert != null) {
            k.put("sslrootcert", rootCert);
        }
        if (cert != null) {
            k.put("sslcert", cert);
            k.put("sslkey", key);
        }
        return k;
    }

    /** Adds these settings to pgjdbc connection properties (pgjdbc takes libpq's keywords). */
    public Properties addTo(Properties props) {
        keywords().forEach(props::setProperty);
        return props;
    }
}
