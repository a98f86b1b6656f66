import { PROTOCOL_LIMITS } from "@distcache/proto/limits";
import { SetCondition, EvictionPolicy, type Command, type SetOp } from "@distcache/proto/raft";
import { COUNTER_MAX, COUNTER_MIN, ENTRY_MEMORY_OVERHEAD_BYTES, isWellFormedKey, utf8Length, type ResolvedStoreOptions } from "@distcache/store";

/**
 * The checks apply makes on every decoded command before it changes anything
 * (invariant 8 of docs/design.md: apply is total). They read only the command and the shard's replicated
 * store settings, never a node's local flags, so every replica refuses exactly the
 * same commands. The edge (request validation, the SDK) refuses all of this earlier
 * with a clearer message; a command that still fails here is answered invalid_argument.
 */

/** Largest stamp accepted: any stamp plus the longest TTL stays a safe integer. */
export const STAMP_MS_MAX = Number.MAX_SAFE_INTEGER - PROTOCOL_LIMITS.ttlMsMax;

/** The longest decimal form of a signed 64-bit counter ("-9223372036854775808"). */
const COUNTER_TEXT_BYTES_MAX = 20;

const KNOWN_CONDITIONS: ReadonlySet<number> = new Set([SetCondition.UNSPECIFIED, SetCondition.IF_ABSENT, SetCondition.IF_VERSION]);
const KNOWN_POLICIES: ReadonlySet<number> = new Set([
  EvictionPolicy.UNSPECIFIED,
  EvictionPolicy.LRU,
  EvictionPolicy.LFU,
  EvictionPolicy.FIFO,
  EvictionPolicy.RANDOM,
]);

/** The session fields, as a command and a request header both carry them. */
export type SessionFields = Pick<Command, "sessionId" | "sequence" | "ackedSequence" | "sessionStartedMs">;

/** Why a command's (or a request header's) session fields are refused, or undefined when they are valid. */
export function sessionRefusal({ sessionId, sequence, ackedSequence, sessionStartedMs }: SessionFields): string | undefined {
  if (sessionId === "") return sequence === 0n && ackedSequence === 0n && sessionStartedMs === 0n ? undefined : "a sequence number needs a session id";
  if (!isWellFormedKey(sessionId) || utf8Length(sessionId) > PROTOCOL_LIMITS.sessionIdBytesMax) {
    return `session id must be well-formed UTF-8 of at most ${PROTOCOL_LIMITS.sessionIdBytesMax} bytes`;
  }
  if (sequence < 1n || sequence > PROTOCOL_LIMITS.sequenceMax) return `sequence must be in [1, 2^53 - 1], got ${sequence}`;
  if (ackedSequence >= sequence) return `acked_sequence (${ackedSequence}) must be below sequence (${sequence})`;
  if (sessionStartedMs > BigInt(STAMP_MS_MAX)) return `session_started_ms ${sessionStartedMs} is out of range`;
  return undefined;
}

/** Why the command's stamp is refused, or undefined. Stamps come from the leader, never a client. */
export function stampRefusal(command: Command): string | undefined {
  const stampMs = command.stampMs;
  return stampMs < 0n || stampMs > BigInt(STAMP_MS_MAX) ? `stamp ${stampMs} ms is out of range` : undefined;
}

/** Why the command's operation is refused against the shard's settings, or undefined. */
export function operationRefusal(command: Command, settings: ResolvedStoreOptions): string | undefined {
  const op = command.op;
  switch (op.case) {
    case undefined:
    case "noop":
      return undefined;
    case "set":
      return setRefusal(op.value, settings, "");
    case "delete":
      return keyRefusal(op.value.key, "key");
    case "incr":
      return incrRefusal(op.value.key, op.value.delta, settings);
    case "mset":
      return batchRefusal(
        op.value.items.map((item) => item.key),
        "items",
        (i) => setRefusal(op.value.items[i]!, settings, `items[${i}].`),
      );
    case "mdelete":
      return batchRefusal(op.value.keys, "keys", (i) => keyRefusal(op.value.keys[i]!, `keys[${i}]`));
    case "access":
      return accessRefusal(op.value.keys);
    case "configure":
      return configureRefusal(op.value.policy, op.value.entriesMax, op.value.bytesMax);
  }
}

function keyRefusal(key: string, field: string): string | undefined {
  if (key.length === 0) return `${field} must not be empty`;
  if (!isWellFormedKey(key)) return `${field} is not well-formed UTF-8`;
  const bytes = utf8Length(key);
  if (bytes > PROTOCOL_LIMITS.keyBytesMax) return `${field} is ${bytes} bytes, above the ceiling of ${PROTOCOL_LIMITS.keyBytesMax}`;
  return undefined;
}

function setRefusal(op: SetOp, settings: ResolvedStoreOptions, field: string): string | undefined {
  const key = keyRefusal(op.key, `${field}key`);
  if (key !== undefined) return key;
  if (op.value.length > PROTOCOL_LIMITS.valueBytesMax)
    return `${field}value is ${op.value.length} bytes, above the ceiling of ${PROTOCOL_LIMITS.valueBytesMax}`;
  if (op.ttlMs < 0n || op.ttlMs > BigInt(PROTOCOL_LIMITS.ttlMsMax)) return `${field}ttl_ms must be in [0, ${PROTOCOL_LIMITS.ttlMsMax}], got ${op.ttlMs}`;
  if (!KNOWN_CONDITIONS.has(op.condition)) return `${field}condition ${op.condition} is not a known condition`;
  if (op.condition === SetCondition.IF_VERSION) {
    if (op.expectedVersion > PROTOCOL_LIMITS.versionMax) return `${field}expected_version must be at most 2^53 - 1, got ${op.expectedVersion}`;
  } else if (op.expectedVersion !== 0n) {
    return `${field}expected_version is only allowed with SET_CONDITION_IF_VERSION`;
  }
  const sizeBytes = utf8Length(op.key) + op.value.length + ENTRY_MEMORY_OVERHEAD_BYTES;
  if (sizeBytes > settings.bytesMax) return `${field}entry is ${sizeBytes} accounted bytes, above the shard's bytes_max of ${settings.bytesMax}`;
  return undefined;
}

function incrRefusal(key: string, delta: bigint, settings: ResolvedStoreOptions): string | undefined {
  const refusal = keyRefusal(key, "key");
  if (refusal !== undefined) return refusal;
  if (delta < COUNTER_MIN || delta > COUNTER_MAX) return `delta ${delta} is not a signed 64-bit integer`;
  const sizeBytes = utf8Length(key) + COUNTER_TEXT_BYTES_MAX + ENTRY_MEMORY_OVERHEAD_BYTES;
  if (sizeBytes > settings.bytesMax)
    return `a counter under this key needs up to ${sizeBytes} accounted bytes, above the shard's bytes_max of ${settings.bytesMax}`;
  return undefined;
}

/** A batch: 1 to batchItemsMax entries, each valid, no key twice. */
function batchRefusal(keys: readonly string[], field: string, itemRefusal: (index: number) => string | undefined): string | undefined {
  if (keys.length === 0) return `${field} must not be empty`;
  if (keys.length > PROTOCOL_LIMITS.batchItemsMax) return `${field} holds ${keys.length} entries, above the ceiling of ${PROTOCOL_LIMITS.batchItemsMax}`;
  for (let i = 0; i < keys.length; i++) {
    const refusal = itemRefusal(i);
    if (refusal !== undefined) return refusal;
  }
  return duplicateRefusal(keys, field);
}

/** Names the first key that appears twice in a batch write, or undefined. */
export function duplicateRefusal(keys: readonly string[], field: string): string | undefined {
  const first = new Map<string, number>();
  for (let i = 0; i < keys.length; i++) {
    const seen = first.get(keys[i]!);
    if (seen !== undefined) return `${field}[${i}] repeats the key of ${field}[${seen}]; a batch write names each key once`;
    first.set(keys[i]!, i);
  }
  return undefined;
}

function accessRefusal(keys: readonly string[]): string | undefined {
  if (keys.length > PROTOCOL_LIMITS.accessHintKeysMax)
    return `access hints hold ${keys.length} keys, above the ceiling of ${PROTOCOL_LIMITS.accessHintKeysMax}`;
  // Hints for absent keys are skipped by the store, so any well-formed key is harmless.
  for (const key of keys) if (!isWellFormedKey(key)) return "an access hint key is not well-formed UTF-8";
  return undefined;
}

function configureRefusal(policy: number, entriesMax: bigint, bytesMax: bigint): string | undefined {
  if (!KNOWN_POLICIES.has(policy)) return `eviction policy ${policy} is not a known policy`;
  const boundMax = BigInt(PROTOCOL_LIMITS.storeBoundMax);
  if (entriesMax > boundMax || bytesMax > boundMax) return `eviction bounds must be at most ${PROTOCOL_LIMITS.storeBoundMax}`;
  return undefined;
}
