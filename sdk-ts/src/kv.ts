// Durable storage: the `kv` global. Buckets of keys in the node's store,
// shared with Rust guests (`rusm_rs::kv`); every call needs the `storage`
// capability, and a refusal throws with the host's message.

import { native } from "./natives";

export interface Kv {
  /** The value of `key` as text (UTF-8), or null when it is not set. */
  get(bucket: string, key: string): string | null;
  /** The value of `key` as bytes, or null. */
  getBytes(bucket: string, key: string): Uint8Array | null;
  /** The value of `key` as JSON decoded, or null. */
  getJson<T = unknown>(bucket: string, key: string): T | null;
  /** Sets `key`; on disk when it returns. */
  set(bucket: string, key: string, value: string | Uint8Array): void;
  setJson(bucket: string, key: string, value: unknown): void;
  /** Removes `key`; whether it was set. */
  delete(bucket: string, key: string): boolean;
  exists(bucket: string, key: string): boolean;
  /** Keys that start with `prefix` (default: all), in byte order, at most `limit` (at most 1000). */
  list(bucket: string, prefix?: string, limit?: number): string[];
}

export const kv: Kv = {
  get: (bucket, key) => native.kvGet(bucket, key, true),
  getBytes: (bucket, key) => native.kvGet(bucket, key, false),
  getJson<T>(bucket: string, key: string): T | null {
    const text = native.kvGet(bucket, key, true);
    return text === null ? null : (JSON.parse(text) as T);
  },
  set: (bucket, key, value) => native.kvSet(bucket, key, value),
  setJson: (bucket, key, value) => native.kvSet(bucket, key, JSON.stringify(value)),
  delete: (bucket, key) => native.kvDelete(bucket, key),
  exists: (bucket, key) => native.kvExists(bucket, key),
  list: (bucket, prefix, limit) => native.kvList(bucket, prefix, limit),
};

declare global {
  /** Durable storage (needs the `storage` capability). */
  var kv: Kv;
}
