/**
 * The protocol's hard ceilings: what the replicated state machine accepts whatever a
 * node is configured with. A node's configured limits (--key-bytes-max, ...) may only
 * lower them, and the SDK checks them before any I/O. Apply checks every command
 * against these and the shard's own settings alone, so a refusal is the same on every
 * replica (invariant 8 of docs/design.md).
 */
export const PROTOCOL_LIMITS = {
  /** Longest key, in UTF-8 bytes. */
  keyBytesMax: 64 * 1024,
  /** Longest value, in bytes. */
  valueBytesMax: 64 * 1024 * 1024,
  /** Longest TTL, in milliseconds (100 years): a stamp plus any TTL stays a safe integer. */
  ttlMsMax: 100 * 365 * 24 * 3600 * 1000,
  /** Largest version a condition can name: versions are counted in safe integers. */
  versionMax: 2n ** 53n - 1n,
  /** Largest session sequence number; sequences start at 1. */
  sequenceMax: 2n ** 53n - 1n,
  /** Longest session id, in UTF-8 bytes. */
  sessionIdBytesMax: 128,
  /** Most keys or items in one batch request or replicated batch. */
  batchItemsMax: 10_000,
  /** Most keys in one replicated access-hint batch. */
  accessHintKeysMax: 65_536,
  /** Largest eviction bound a ConfigureStore command may set (entries or bytes). */
  storeBoundMax: 2 ** 53 - 1,
} as const;

/** A node id: 1 to 64 of letters, digits, "_", "." and "-" (node ids appear in logs, URLs and file names). */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
