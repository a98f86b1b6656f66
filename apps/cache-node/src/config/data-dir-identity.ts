import { createHmac, randomBytes } from "node:crypto";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { ConfigError } from "./config-error.js";
import { readJsonFile, writeFileDurably } from "./durable-file.js";

/**
 * What a data dir was bootstrapped for, recorded once in `<data-dir>/identity.json`
 * and checked at every later start: the cluster it belongs to and the flags its
 * placement was computed from. A node started with other ones would host other
 * groups, or the same groups with other voters, so it refuses to start.
 */
export interface DataDirIdentity {
  /** The identity file's own format version. */
  readonly format: number;
  /** 16 bytes, hex: the cluster this data dir belongs to; peers of another cluster are refused at the handshake. */
  readonly clusterId: string;
  readonly nodeId: string;
  /** The ids of --initial-cluster, in order (placement depends on the order). */
  readonly members: readonly string[];
  readonly shards: number;
  readonly replicas: number;
  /**
   * 16 random bytes, hex, drawn when the data dir is bootstrapped and presented at every
   * peer handshake: a peer that knew this node under another incarnation refuses it (its
   * data dir was wiped, so it forgot what it promised).
   */
  readonly incarnation: string;
}

/** What a start is configured with. */
export interface IdentityInputs {
  readonly nodeId: string;
  readonly members: readonly string[];
  readonly shards: number;
  /** Replicas per shard in effect (--replicas, or its default). */
  readonly replicas: number;
  /** True when --replicas was left to its default, min(3, members). */
  readonly replicasDefaulted: boolean;
  /** The peer secret; it keys the derivation of the cluster id and is never stored. */
  readonly secret: string;
}

export const IDENTITY_FILE = "identity.json";
export const IDENTITY_FORMAT = 1;
export const CLUSTER_ID_BYTES = 16;
const CLUSTER_ID_LABEL = "distcache-cluster-id-v1";

/**
 * The cluster id every node of a new cluster derives alike, with no coordinator: an
 * HMAC, keyed by the peer secret, of the ordered member ids, the shard count and the
 * replica count. Two clusters bootstrapped with the same members, shards, replicas and
 * secret get the same id (docs/decisions.md). Addresses are left out, so a member may
 * move to another address.
 */
export function deriveClusterId(inputs: Pick<IdentityInputs, "members" | "shards" | "replicas" | "secret">): string {
  const body = JSON.stringify({ members: inputs.members, shards: inputs.shards, replicas: inputs.replicas });
  return createHmac("sha256", inputs.secret).update(CLUSTER_ID_LABEL).update("\0").update(body).digest().subarray(0, CLUSTER_ID_BYTES).toString("hex");
}

/** Each way the configured start differs from the recorded identity, as the operator should read it. */
export function identityDifferences(recorded: DataDirIdentity, inputs: IdentityInputs): string[] {
  const out: string[] = [];
  const atBootstrap = "(set at bootstrap)";
  if (recorded.nodeId !== inputs.nodeId) out.push(`--node-id ${inputs.nodeId} differs from the data dir's ${recorded.nodeId} ${atBootstrap}`);
  if (recorded.members.join(",") !== inputs.members.join(",")) {
    out.push(`--initial-cluster members ${inputs.members.join(",")} differ from the data dir's ${recorded.members.join(",")} ${atBootstrap}`);
  }
  if (recorded.shards !== inputs.shards) out.push(`--shards ${inputs.shards} differs from the data dir's ${recorded.shards} ${atBootstrap}`);
  if (recorded.replicas !== inputs.replicas) {
    const flag = inputs.replicasDefaulted ? `--replicas (default min(3, members) = ${inputs.replicas})` : `--replicas ${inputs.replicas}`;
    out.push(`${flag} differs from the data dir's ${recorded.replicas} ${atBootstrap}`);
  }
  return out;
}

/**
 * Reads the data dir's identity and checks this start against it; a data dir without
 * one is bootstrapped now (the file is written atomically: a temporary file, fsync,
 * rename, fsync of the directory). Throws ConfigError naming every difference.
 */
export async function openDataDirIdentity(dataDir: string, inputs: IdentityInputs, logger?: Logger): Promise<DataDirIdentity> {
  const path = join(dataDir, IDENTITY_FILE);
  const recorded = await readIdentity(path);
  if (recorded === undefined) {
    const identity: DataDirIdentity = {
      format: IDENTITY_FORMAT,
      clusterId: deriveClusterId(inputs),
      nodeId: inputs.nodeId,
      members: [...inputs.members],
      shards: inputs.shards,
      replicas: inputs.replicas,
      incarnation: newIncarnation(),
    };
    const earlier = await hasEntries(join(dataDir, "wal"));
    await mkdir(dataDir, { recursive: true });
    await writeIdentity(dataDir, identity);
    if (earlier)
      logger?.warn(
        { dataDir, clusterId: identity.clusterId },
        "the data dir predates its identity file: recorded this start's --initial-cluster, --shards and --replicas as its identity",
      );
    else logger?.info({ dataDir, clusterId: identity.clusterId }, "data dir bootstrapped");
    return identity;
  }
  const differences = identityDifferences(recorded, inputs);
  if (differences.length > 0) {
    throw new ConfigError(
      `the data dir ${dataDir} was bootstrapped with other flags: ${differences.join("; ")}. ` +
        "Start the node with the flags it was bootstrapped with, or with an empty --data-dir",
    );
  }
  if (recorded.incarnation) return recorded;
  // Recorded before identities carried an incarnation: drawn now, once.
  const upgraded = { ...recorded, incarnation: newIncarnation() };
  await writeIdentity(dataDir, upgraded);
  return upgraded;
}

function newIncarnation(): string {
  return randomBytes(16).toString("hex");
}

/** The identity recorded in `dataDir`, or undefined when it holds none (a fresh data dir). */
export function readDataDirIdentity(dataDir: string): Promise<DataDirIdentity | undefined> {
  return readIdentity(join(dataDir, IDENTITY_FILE));
}

async function readIdentity(path: string): Promise<DataDirIdentity | undefined> {
  const parsed = await readJsonFile(path);
  return parsed === undefined ? undefined : checkIdentity(path, parsed);
}

/** Validates a parsed identity file; throws ConfigError naming the file and the problem. */
export function checkIdentity(path: string, parsed: unknown): DataDirIdentity {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new ConfigError(`${path} is not a JSON object`);
  const o = parsed as Record<string, unknown>;
  if (o["format"] !== IDENTITY_FORMAT) {
    throw new ConfigError(
      `${path} is in identity format ${JSON.stringify(o["format"])}; this build reads format ${IDENTITY_FORMAT} (no rolling upgrades before 1.0)`,
    );
  }
  const problem = (what: string) => new ConfigError(`${path}: ${what}`);
  if (typeof o["clusterId"] !== "string" || !/^[0-9a-f]{32}$/.test(o["clusterId"])) throw problem("clusterId must be 32 lowercase hex digits");
  if (typeof o["nodeId"] !== "string" || o["nodeId"].length === 0) throw problem("nodeId must be a non-empty string");
  const members = o["members"];
  if (!Array.isArray(members) || members.length === 0 || !members.every((m) => typeof m === "string" && m.length > 0))
    throw problem("members must be a non-empty list of node ids");
  for (const key of ["shards", "replicas"] as const) {
    if (!Number.isSafeInteger(o[key]) || (o[key] as number) < 1) throw problem(`${key} must be a positive integer`);
  }
  const incarnation = o["incarnation"] ?? "";
  if (typeof incarnation !== "string" || (incarnation !== "" && !/^[0-9a-f]{32}$/.test(incarnation)))
    throw problem("incarnation must be 32 lowercase hex digits");
  return {
    format: IDENTITY_FORMAT,
    clusterId: o["clusterId"],
    nodeId: o["nodeId"],
    members: members as string[],
    shards: o["shards"] as number,
    replicas: o["replicas"] as number,
    incarnation,
  };
}

/** Writes the identity file atomically and durably. */
export async function writeIdentity(dataDir: string, identity: DataDirIdentity): Promise<void> {
  await writeFileDurably(join(dataDir, IDENTITY_FILE), `${JSON.stringify(identity, null, 2)}\n`);
}

async function hasEntries(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length > 0;
  } catch {
    return false;
  }
}
