package io.shardline.topology;

import java.util.Objects;

/**
 * A function that reads (or writes) sharded tables for one key, declared distributed by the argument holding that
 * key: a call runs on the shard the argument's value hashes to, as a read of a sharded table by that key would.
 *
 * <p>Names are stored folded as in {@link ShardedTable}.
 *
 * @param keyArgument the position of the key among the arguments, from 1
 * @param keyType how the key is hashed (the argument's type)
 * @param writes whether a call is a write (the function is VOLATILE): it then runs on the primary
 */
public record DistributedFunction(String schema, String name, int keyArgument, KeyType keyType, boolean writes) {
    public DistributedFunction {
        Objects.requireNonNull(schema, "schema");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(keyType, "key type of " + name);
        if (keyArgument < 1) {
            throw new IllegalArgumentException(
                    "the key argument of " + name + " is counted from 1, not " + keyArgument);
        }
    }

    /** {@code schema.name}. */
    public String qualifiedName() {
        return schema + "." + name;
    }

    /** Whether this is the function {@code schema.name}; a {@code null} schema matches any. */
    public boolean matches(String otherSchema, String otherName) {
        return name.equals(otherName) && (otherSchema == null || schema.equals(otherSchema));
    }
}
