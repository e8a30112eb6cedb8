/**
 * The token that library modules pass to constructors taking raw native handles (Buffer
 * storage, CommandBuffer). It is not exported from the package entry point, so code using the
 * public API cannot wrap an arbitrary number as a handle and have it reach the shim.
 */
export const fromNative: unique symbol = Symbol("bun-mlx-native: handle from the backend");
