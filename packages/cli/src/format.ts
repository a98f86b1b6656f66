import type { ClusterStats, GetResult, ShardStoreSettings, StoreCounters, Topology } from "@distcache/client";

/*
 * Output of each command: plain text for people by default, one JSON document with
 * --json for scripts. 64-bit numbers are JSON strings (as in the server's JSON API),
 * and a value is "text" when it was written as text, else base64 "value".
 */

const utf8 = new TextDecoder("utf-8", { fatal: true });

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** JSON with bigints as strings and bytes as base64, ending in a newline. */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(value, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? base64(v) : v))}\n`;
}

/** A value for a terminal: text as is; bytes as UTF-8 when they decode, else "base64:...". */
export function displayValue(result: GetResult): string {
  if (result.text !== undefined) return result.text;
  try {
    return utf8.decode(result.value);
  } catch {
    return `base64:${base64(result.value)}`;
  }
}

function valueJson(key: string, result: GetResult | null): Record<string, unknown> {
  if (!result) return { key, found: false };
  const payload = result.text !== undefined ? { text: result.text } : { value: result.value };
  return { key, found: true, ...payload, version: result.version, ttlRemainingMs: result.ttlRemainingMs };
}

export function formatGet(key: string, result: GetResult | null, json: boolean): string {
  if (json) return jsonLine(valueJson(key, result));
  return result ? `${displayValue(result)}\n` : "";
}

export function formatVersion(key: string, version: bigint, json: boolean): string {
  return json ? jsonLine({ key, version }) : `${version}\n`;
}

export function formatDeleted(deleted: number, json: boolean): string {
  return json ? jsonLine({ deleted }) : `${deleted}\n`;
}

export function formatCounter(key: string, value: bigint, json: boolean): string {
  return json ? jsonLine({ key, value }) : `${value}\n`;
}

/** One line per key, in request order: key, a tab, then the value or "(not found)". */
export function formatMget(keys: readonly string[], results: readonly (GetResult | null)[], json: boolean): string {
  if (json) return jsonLine({ results: keys.map((key, i) => valueJson(key, results[i] ?? null)) });
  return keys.map((key, i) => `${key}\t${results[i] ? displayValue(results[i]) : "(not found)"}\n`).join("");
}

function counters(c: StoreCounters): string {
  return `keys=${c.keys} bytes=${c.bytes} hits=${c.hits} misses=${c.misses} evictions=${c.evictions} expirations=${c.expirations}`;
}

export function formatStats(stats: ClusterStats, json: boolean): string {
  if (json)
    return jsonLine({ nodes: stats.nodes, unreachable: stats.unreachable.map((u) => ({ nodeId: u.nodeId, address: u.address, error: u.error.message })) });
  const lines = stats.nodes.map((n) => `${n.nodeId}\t${n.address}\t${counters(n.total)}\tshards=${n.shards.length}`);
  for (const u of stats.unreachable) lines.push(`${u.nodeId}\t${u.address}\tunreachable: ${u.error.message}`);
  return lines.map((l) => `${l}\n`).join("");
}

/** The fields `topology --json` has always printed (`cluster status` shows peer addresses and learners). */
function topologyJson(t: Topology): Record<string, unknown> {
  return {
    epoch: t.epoch,
    shardCount: t.shardCount,
    pointsPerShard: t.pointsPerShard,
    nodes: t.nodes.map((n) => ({ id: n.id, address: n.address })),
    shards: t.shards.map((s) => ({ id: s.id, leaderId: s.leaderId, replicas: s.replicas, term: s.term })),
  };
}

export function formatTopology(topology: Topology, json: boolean): string {
  if (json) return jsonLine(topologyJson(topology));
  const lines = [`epoch ${topology.epoch}, ${topology.shardCount} shards, ${topology.pointsPerShard} points per shard`, "nodes:"];
  for (const n of topology.nodes) lines.push(`  ${n.id}\t${n.address}`);
  lines.push("shards:");
  for (const s of topology.shards) lines.push(`  ${s.id}\tleader=${s.leaderId ?? "(none)"}\tterm=${s.term}\treplicas=${s.replicas.join(",")}`);
  return lines.map((l) => `${l}\n`).join("");
}

/** Each shard's store settings after a configure, one line per shard. */
export function formatStoreSettings(settings: readonly ShardStoreSettings[], json: boolean): string {
  if (json) return jsonLine({ shards: settings });
  return settings.map((s) => `shard ${s.shard}\tpolicy=${s.policy}\tentries_max=${s.entriesMax}\tbytes_max=${s.bytesMax}\n`).join("");
}

/** An error for stderr: the message and the error's class, so scripts can tell kinds apart. */
export function formatError(err: unknown): string {
  if (err instanceof Error) return `error: ${err.message} (${err.name})\n`;
  return `error: ${String(err)}\n`;
}
