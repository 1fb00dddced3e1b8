package io.shardline.spring;

import static org.assertj.core.api.Assertions.assertThat;

import io.shardline.router.ShardlineProperty;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** {@link ShardlineProperties} has a field for every driver property but the credentials, and no other. */
class ShardlinePropertiesTest {
    @Test
    void oneFieldPerDriverProperty() {
        Set<String> fields = Arrays.stream(ShardlineProperties.class.getDeclaredFields())
                .filter(f -> !Modifier.isStatic(f.getModifiers()))
                .map(Field::getName)
                .collect(Collectors.toSet());
        Set<String> driver = Arrays.stream(ShardlineProperty.values())
                .filter(p -> p != ShardlineProperty.USER && p != ShardlineProperty.PASSWORD)
                .map(ShardlineProperty::getName)
                .collect(Collectors.toSet());
        driver.add("pg");
        assertThat(fields).isEqualTo(driver);
    }
}
