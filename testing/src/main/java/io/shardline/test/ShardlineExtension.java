package io.shardline.test;

import java.util.Optional;
import javax.sql.DataSource;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * The extension behind {@link ShardlineCluster}: starts the cluster before the class's tests (in the class's store,
 * closed after them; in the root store for a shared one, closed at the end of the run) and hands it to parameters of
 * type {@link ShardlineTestCluster} or {@link DataSource}.
 */
public final class ShardlineExtension implements BeforeAllCallback, ParameterResolver {
    private static final ExtensionContext.Namespace NAMESPACE =
            ExtensionContext.Namespace.create(ShardlineExtension.class);

    @Override
    public void beforeAll(ExtensionContext context) {
        cluster(context);
    }

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        Class<?> type = parameter.getParameter().getType();
        return type == ShardlineTestCluster.class || type == DataSource.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
        ShardlineTestCluster cluster = cluster(context);
        return parameter.getParameter().getType() == DataSource.class ? cluster.dataSource() : cluster;
    }

    private static ShardlineTestCluster cluster(ExtensionContext context) {
        Class<?> testClass = context.getRequiredTestClass();
        Class<?> annotated = annotated(testClass)
                .orElseThrow(() -> new ParameterResolutionException(
                        testClass.getName() + " has no @ShardlineCluster: annotate the class to get a cluster"));
        ShardlineCluster shape = AnnotationSupport.findAnnotation(annotated, ShardlineCluster.class)
                .orElseThrow();
        check(shape, annotated);
        if (shape.shared()) {
            String key = "shared:" + shape.shards() + "x" + shape.hubs() + "x" + shape.leaves() + ":" + shape.monitor();
            return context.getRoot()
                    .getStore(NAMESPACE)
                    .computeIfAbsent(
                            key,
                            k -> ShardlineTestCluster.start("shared" + (key.hashCode() & 0xffff), shape),
                            ShardlineTestCluster.class);
        }
        // the annotated class's own cluster, in its context's store: nested classes and methods use it too
        ExtensionContext owner = context;
        while (!owner.getTestClass().map(annotated::equals).orElse(false)
                || owner.getTestMethod().isPresent()) {
            owner = owner.getParent().orElseThrow();
        }
        return owner.getStore(NAMESPACE)
                .computeIfAbsent(
                        "cluster",
                        k -> ShardlineTestCluster.start(clusterName(annotated), shape),
                        ShardlineTestCluster.class);
    }

    /** The class carrying {@code @ShardlineCluster} (itself or inherited): the test class or an enclosing one. */
    private static Optional<Class<?>> annotated(Class<?> testClass) {
        for (Class<?> c = testClass; c != null; c = c.getEnclosingClass()) {
            if (AnnotationSupport.isAnnotated(c, ShardlineCluster.class)) {
                return Optional.of(c);
            }
        }
        return Optional.empty();
    }

    private static void check(ShardlineCluster shape, Class<?> testClass) {
        String problem = shape.shards() < 1
                ? "shards must be at least 1, not " + shape.shards()
                : shape.hubs() < 0 || shape.leaves() < 0
                        ? "hubs and leaves cannot be negative"
                        : shape.leaves() > 0 && shape.hubs() == 0
                                ? "leaves stream from hubs: leaves = " + shape.leaves() + " needs hubs >= 1"
                                : null;
        if (problem != null) {
            throw new ExtensionConfigurationException("@ShardlineCluster on " + testClass.getName() + ": " + problem);
        }
    }

    /** A cluster name from the class's simple name: letters and digits, lower case, at most 24 characters. */
    private static String clusterName(Class<?> testClass) {
        String name = testClass.getSimpleName().replaceAll("[^A-Za-z0-9]", "").toLowerCase(java.util.Locale.ROOT);
        if (name.isEmpty()) {
            name = "test";
        }
        return name.length() > 24 ? name.substring(0, 24) : name;
    }
}
