package io.shardline.router.metrics;

/**
 * Whether the OpenTelemetry API (1.57 or later: {@code GlobalOpenTelemetry.getOrNoop}) is on the class path: the
 * driver's spans need it, the driver does not.
 */
final class OpenTelemetryPresence {
    static final boolean PRESENT = present();

    private OpenTelemetryPresence() {}

    private static boolean present() {
        try {
            Class<?> global = Class.forName(
                    "io.opentelemetry.api.GlobalOpenTelemetry", false, OpenTelemetryPresence.class.getClassLoader());
            global.getMethod("getOrNoop");
            return true;
        } catch (ClassNotFoundException | NoSuchMethodException | LinkageError e) {
            return false;
        }
    }
}
