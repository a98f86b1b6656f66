import type { CallOptions, Client } from "@connectrpc/connect";
import { SetCondition, type CacheService, type Consistency } from "@distcache/proto";
import { groupByLeader, groupByShard, settleAll } from "./batch-plan.js";
import { randomSessionId, resolveOptions, TIMEOUT_MS_MAX, type CacheClientOptions, type ResolvedOptions } from "./client-options.js";
import { isWrite, toCacheError, type FailureContext, type Operation } from "./error-mapping.js";
import { CanceledError, ClientClosedError, InvalidArgumentError, KeyExistsError, ResourceExhaustedError } from "./errors.js";
import { sendMembershipChange, type ClusterNode, type MembershipOperation, type MembershipSend } from "./membership.js";
import { NodeClients } from "./node-clients.js";
import {
  adminTokenOf,
  checkBatch,
  checkDistinct,
  checkKey,
  checkNodeId,
  checkShard,
  checkValue,
  clusterNodeOf,
  consistencyOf,
  deltaOf,
  expectedVersionOf,
  ttlMsOf,
  type ReadConsistency,
} from "./request-checks.js";
import { RoutingTable } from "./routing-table.js";
import { ShardRouter, type CallBudget, type WriteSessionHandle } from "./shard-router.js";
import { nodeStatsFromMessage, type ClusterStats } from "./stats.js";
import type { Topology } from "./topology.js";
import { fromGetResponse, resultText, toPayload, type CacheValue, type GetResult } from "./values.js";
import { SingleFlight, type SingleFlightStats } from "./single-flight.js";
import { configureStoreRequest, shardSettingsFromMessage, type ShardStoreSettings, type StoreSettingsChange } from "./store-settings.js";
import { WriteSession } from "./write-session.js";
import { WriteSlots } from "./write-slots.js";
import { TopologyWatch } from "./topology-watch.js";
import { WatchStream, type CacheWatch, type WatchOptions, type WatchPosition } from "./cache-watch.js";

/** Per-call options shared by every method. */
export interface RequestOptions {
  /** Deadline of this call, retries included; defaults to the client's timeoutMs. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export type { ReadConsistency } from "./request-checks.js";

export interface GetOptions extends RequestOptions {
  /** "strong" (default) reflects every write acknowledged before the read began; "eventual" may lag. */
  consistency?: ReadConsistency;
}

export interface SetOptions extends RequestOptions {
  /** Time to live in milliseconds; 0 or absent means no expiry. */
  ttlMs?: number;
  /** Write only if the key is absent; otherwise KeyExistsError. */
  ifAbsent?: boolean;
  /** Write only if the key is at this version, in [1, 2^53 - 1] (0: only if absent); otherwise VersionMismatchError. */
  ifVersion?: bigint | number;
}

export type WriteOptions = Omit<SetOptions, "ifAbsent" | "ifVersion">;

export interface StatsOptions extends RequestOptions {
  /** Also fetch each replica's digest. Nodes hash every key for it: about a second per million keys. */
  includeDigests?: boolean;
}

/** Options of the calls that change the cluster's membership. */
export interface AdminOptions extends RequestOptions {
  /**
   * The admin token: HMAC-SHA256 of "distcache-cluster-admin-v1" keyed by the cluster's
   * peer secret, as 64 hex digits; sent as the distcache-admin-token header.
   */
  adminToken: string;
}

export interface GetOrLoadOptions extends GetOptions {
  /** Time to live of the value stored after a miss; 0 or absent means no expiry. */
  ttlMs?: number;
}

export interface SetItem {
  key: string;
  value: CacheValue;
  ttlMs?: number;
}

/** The distcache SDK: a key-value API over a routed, retrying connection to the cluster. */
export interface CacheClient {
  /** The key's value, or null when absent or expired. */
  get(key: string, options?: GetOptions): Promise<GetResult | null>;
  /**
   * The key's value; on a miss, `load(key)` computes it and it is stored only if the key
   * is still absent (so concurrent loaders in other processes agree on one value, the
   * first stored). Concurrent calls for one key on this client share a single read and
   * load (single flight), so a burst of misses on a hot key reaches the backend once.
   * The first caller's options apply to the shared call; a load error reaches every
   * caller waiting on it, and nothing is stored.
   */
  getOrLoad(key: string, load: (key: string) => Promise<CacheValue>, options?: GetOrLoadOptions): Promise<GetResult>;
  /** getOrLoad calls on this client, and how many joined a load already in flight. */
  readonly loadStats: Readonly<SingleFlightStats>;
  /** The value as a string (text as written, or bytes decoded as UTF-8), or null. */
  getText(key: string, options?: GetOptions): Promise<string | null>;
  /**
   * get(), with the position of the shard state the read saw, present or absent key alike:
   * watch(key, { from: position }) then receives exactly the changes after this read.
   */
  getWithPosition(key: string, options?: GetOptions): Promise<{ result: GetResult | null; position: WatchPosition | undefined }>;
  /** Writes the key and returns its new version. */
  set(key: string, value: CacheValue, options?: SetOptions): Promise<bigint>;
  /** Writes the key only if absent; KeyExistsError otherwise. */
  create(key: string, value: CacheValue, options?: WriteOptions): Promise<bigint>;
  /**
   * Writes the key only if it is at expectedVersion, in [1, 2^53 - 1] (0: only if the key
   * is absent); VersionMismatchError otherwise.
   */
  update(key: string, value: CacheValue, expectedVersion: bigint | number, options?: WriteOptions): Promise<bigint>;
  /** Removes the key; true when it existed. */
  delete(key: string, options?: RequestOptions): Promise<boolean>;
  /** Adds delta (default 1) to a signed 64-bit counter, creating it at 0; returns the new value. */
  incr(key: string, delta?: bigint | number, options?: RequestOptions): Promise<bigint>;
  /** Reads 1 to batchKeysMax keys (a key may repeat); one result per position, in request order. */
  mget(keys: readonly string[], options?: GetOptions): Promise<(GetResult | null)[]>;
  /** Writes 1 to batchKeysMax distinct keys (each shard's part atomically); new versions in request order. */
  mset(items: readonly SetItem[], options?: RequestOptions): Promise<bigint[]>;
  /** Removes 1 to batchKeysMax distinct keys; returns how many existed. */
  mdelete(keys: readonly string[], options?: RequestOptions): Promise<number>;
  /** Every node's counters. */
  stats(options?: StatsOptions): Promise<ClusterStats>;
  /**
   * Moves a shard's leadership to voter `toNodeId` (or, when left out, to the leader's
   * most caught-up follower) and resolves with the new leader's id; routing follows it.
   */
  transferLeader(shard: number, toNodeId?: string, options?: RequestOptions): Promise<string>;
  /** The topology, freshly fetched (and used for routing from now on). */
  topology(options?: RequestOptions): Promise<Topology>;
  /**
   * Changes the store settings (eviction policy, keys and bytes per shard) of `shards`
   * (every shard when left out) through their logs, so every replica applies the same
   * change; resolves with each shard's settings once its leader applied it. Fields left
   * out keep each shard's current value. Safe to retry.
   */
  configureStore(change: StoreSettingsChange, options?: RequestOptions): Promise<ShardStoreSettings[]>;
  /**
   * Adds a node to the cluster's placement and resolves with the placement epoch after
   * it; the cluster then moves the node its share of replicas. Any node takes the call
   * and forwards it to the meta group's leader. Adding a member again with the same
   * addresses answers the current epoch, so it is safe to repeat; a member with other
   * addresses is refused (ServerError, already_exists). A wrong admin token fails with
   * UnauthenticatedError. Retried only after a node's `unavailable` answer.
   */
  addNode(node: ClusterNode, options: AdminOptions): Promise<bigint>;
  /**
   * Marks a node as leaving and resolves with the placement epoch after it: the cluster
   * moves its replicas to the others (from the node, or from each group's surviving
   * majority when it is gone), then forgets it, and a live one stops. Removing a node
   * that is leaving already answers the current epoch, so it is safe to repeat; an
   * unknown id is refused (ServerError, not_found). A wrong admin token fails with
   * UnauthenticatedError. Retried only after a node's `unavailable` answer.
   */
  removeNode(nodeId: string, options: AdminOptions): Promise<bigint>;
  /** Releases connections; later calls fail with ClientClosedError. */
  /**
   * Watches one key, or every key with a prefix (`prefix: true`), for committed changes:
   * puts, deletes, expirations and evictions. Iterate the result; it reconnects and
   * resumes by itself, never losing or repeating an event. Start `from` a resume token or
   * a get()'s position to continue exactly there.
   */
  watch(keyOrPrefix: string, options?: WatchOptions): CacheWatch;
  close(): Promise<void>;
}

/** Creates a client; options are validated here (RangeError on a bad limit). No I/O until the first call. */
export function createCacheClient(options: CacheClientOptions): CacheClient {
  return new RoutedCacheClient(resolveOptions(options));
}

type Header = { noForward: true; sessionId?: string; sequence?: bigint; ackedSequence?: bigint; sessionStartedMs?: bigint };
type KeyedSend<R> = (client: Client<typeof CacheService>, header: Header, options: CallOptions) => Promise<R>;

const READ_HEADER: Header = { noForward: true };

class RoutedCacheClient implements CacheClient {
  private readonly table: RoutingTable;
  private readonly clients: NodeClients;
  private readonly router: ShardRouter;
  /** The session new writes begin on; replaced when a shard reports it expired. */
  private session: WriteSession;
  private readonly loads = new SingleFlight<GetResult>();
  private readonly writeSlots: WriteSlots;
  private readonly topologyWatch: TopologyWatch | undefined;
  private closed = false;
  private readonly watches = new Set<WatchStream>();

  constructor(private readonly options: ResolvedOptions) {
    this.table = new RoutingTable(options.onEvent);
    this.clients = new NodeClients(options.transport, options.seeds[0]!.protocol, options.dialAddress, options.autoBatch);
    this.router = new ShardRouter(options, this.table, this.clients);
    this.session = new WriteSession(options.sessionId, BigInt(Date.now()));
    this.writeSlots = new WriteSlots(options.writesInFlightMax);
    this.topologyWatch = options.watchTopology ? new TopologyWatch(options, this.table, this.clients) : undefined;
  }

  async get(key: string, options?: GetOptions): Promise<GetResult | null> {
    checkKey(key);
    const consistency = consistencyOf(options?.consistency);
    const response = await this.keyed(key, "get", (c, header, o) => c.get({ key, consistency, header }, o), options);
    return fromGetResponse(response);
  }

  async getWithPosition(key: string, options?: GetOptions): Promise<{ result: GetResult | null; position: WatchPosition | undefined }> {
    checkKey(key);
    const consistency = consistencyOf(options?.consistency);
    const response = await this.keyed(key, "get", (c, header, o) => c.get({ key, consistency, header }, o), options);
    const p = response.position;
    return { result: fromGetResponse(response), position: p ? { shard: p.shard, index: p.index, ordinal: p.ordinal } : undefined };
  }

  async getOrLoad(key: string, load: (key: string) => Promise<CacheValue>, options?: GetOrLoadOptions): Promise<GetResult> {
    checkKey(key);
    consistencyOf(options?.consistency);
    ttlMsOf(options?.ttlMs);
    return this.loads.run(key, async () => {
      const cached = await this.get(key, options);
      if (cached) return cached;
      const value = await load(key);
      const write = { ttlMs: options?.ttlMs, timeoutMs: options?.timeoutMs, signal: options?.signal };
      // Stored only while the key is absent, never over another value, however new.
      for (let round = 1; ; round++) {
        try {
          return loadedResult(value, await this.create(key, value, write), options?.ttlMs);
        } catch (err) {
          if (!(err instanceof KeyExistsError) || round >= GET_OR_LOAD_ROUNDS_MAX) throw err;
        }
        // Another client stored the key first: return what it stored, as everyone else will.
        const stored = await this.get(key, { ...options, consistency: "strong" });
        if (stored) return stored;
        // That value is already gone (deleted or expired): try to store ours, again only if absent.
      }
    });
  }

  get loadStats(): Readonly<SingleFlightStats> {
    return this.loads.stats;
  }

  async getText(key: string, options?: GetOptions): Promise<string | null> {
    const result = await this.get(key, options);
    return result === null ? null : resultText(result);
  }

  async set(key: string, value: CacheValue, options?: SetOptions): Promise<bigint> {
    checkKey(key);
    checkValue(value);
    if (options?.ifAbsent && options.ifVersion !== undefined) throw new InvalidArgumentError("ifAbsent and ifVersion cannot be combined");
    const ttlMs = ttlMsOf(options?.ttlMs);
    const condition = options?.ifAbsent ? SetCondition.IF_ABSENT : options?.ifVersion !== undefined ? SetCondition.IF_VERSION : SetCondition.UNSPECIFIED;
    const expectedVersion = options?.ifVersion === undefined ? 0n : expectedVersionOf(options.ifVersion, "ifVersion");
    const payload = toPayload(value);
    const response = await this.keyed(key, "set", (c, header, o) => c.set({ key, payload, ttlMs, condition, expectedVersion, header }, o), options);
    return response.version;
  }

  create(key: string, value: CacheValue, options?: WriteOptions): Promise<bigint> {
    return this.set(key, value, { ...options, ifAbsent: true, ifVersion: undefined });
  }

  async update(key: string, value: CacheValue, expectedVersion: bigint | number, options?: WriteOptions): Promise<bigint> {
    return this.set(key, value, { ...options, ifAbsent: false, ifVersion: expectedVersionOf(expectedVersion, "expectedVersion") });
  }

  async delete(key: string, options?: RequestOptions): Promise<boolean> {
    checkKey(key);
    return (await this.keyed(key, "delete", (c, header, o) => c.delete({ key, header }, o), options)).deleted;
  }

  async incr(key: string, delta: bigint | number = 1n, options?: RequestOptions): Promise<bigint> {
    checkKey(key);
    const d = deltaOf(delta);
    return (await this.keyed(key, "incr", (c, header, o) => c.incr({ key, delta: d, header }, o), options)).value;
  }

  async mget(keys: readonly string[], options?: GetOptions): Promise<(GetResult | null)[]> {
    checkBatch(keys, this.options.batchKeysMax, "keys");
    keys.forEach((key, i) => checkKey(key, `keys[${i}]`));
    const consistency = consistencyOf(options?.consistency);
    // Keys may repeat: every position gets its own answer.
    const budget = await this.begin(options);
    const results = new Array<GetResult | null>(keys.length).fill(null);
    const read = (shards: readonly number[], indexes: readonly number[], once: boolean) =>
      this.readPart(keys, indexes, shards[0]!, consistency, budget, once, results);
    const groups = groupByLeader(
      groupByShard(keys, (k) => this.table.shardFor(k)),
      (s) => this.router.leaderIdOf(s),
    );
    await settleAll(
      groups.map(async (group) => {
        // One request per leader first; if it fails, each shard retries on its own.
        if (group.shards.length > 1 && (await read(group.shards, group.indexes, true))) return;
        const byShard = groupByShard(group.indexes, (i) => this.table.shardFor(keys[i]!));
        await settleAll(
          [...byShard].map(([shard, at]) =>
            read(
              [shard],
              at.map((j) => group.indexes[j]!),
              false,
            ),
          ),
        );
      }),
    );
    return results;
  }

  async mset(items: readonly SetItem[], options?: RequestOptions): Promise<bigint[]> {
    checkBatch(items, this.options.batchKeysMax, "items");
    const wire = items.map((item, i) => {
      checkKey(item?.key, `items[${i}].key`);
      checkValue(item.value, `items[${i}].value`);
      return { key: item.key, payload: toPayload(item.value), ttlMs: ttlMsOf(item.ttlMs, `items[${i}].ttlMs`) };
    });
    checkDistinct(
      wire.map((item) => item.key),
      (i) => `items[${i}].key`,
    );
    const budget = await this.begin(options);
    const versions = new Array<bigint>(items.length).fill(0n);
    // Writes go one request per shard: a refusal then proves the whole request did not
    // apply, which a request spanning shards could not (another shard may have applied).
    const parts = [...groupByShard(wire, (item) => this.table.shardFor(item.key))].map(async ([shard, indexes]) => {
      const got = await this.write(shard, { operation: "mset" }, (c, header, o) => c.mSet({ items: indexes.map((i) => wire[i]!), header }, o), budget);
      got.versions.forEach((v, j) => (versions[indexes[j]!] = v));
    });
    await settleAll(parts);
    return versions;
  }

  async mdelete(keys: readonly string[], options?: RequestOptions): Promise<number> {
    checkBatch(keys, this.options.batchKeysMax, "keys");
    keys.forEach((key, i) => checkKey(key, `keys[${i}]`));
    checkDistinct(keys, (i) => `keys[${i}]`);
    const budget = await this.begin(options);
    const parts = [...groupByShard(keys, (k) => this.table.shardFor(k))].map(async ([shard, indexes]) => {
      const got = await this.write(shard, { operation: "mdelete" }, (c, header, o) => c.mDelete({ keys: indexes.map((i) => keys[i]!), header }, o), budget);
      return got.deleted;
    });
    return (await settleAll(parts)).reduce((a, b) => a + b, 0);
  }

  async stats(options?: StatsOptions): Promise<ClusterStats> {
    const budget = await this.begin(options);
    const nodes = this.table.nodes();
    const settled = await Promise.allSettled(
      nodes.map(async ({ address }) => {
        const timeoutMs = Math.max(1, budget.deadlineMs - this.options.clock.nowMs());
        return nodeStatsFromMessage(
          address,
          await this.clients.forAddress(address).cache.stats({ includeDigests: options?.includeDigests ?? false }, { timeoutMs, signal: budget.signal }),
        );
      }),
    );
    const stats: ClusterStats = { nodes: [], unreachable: [] };
    settled.forEach((s, i) => {
      if (s.status === "fulfilled") stats.nodes.push(s.value);
      else stats.unreachable.push({ nodeId: nodes[i]!.id, address: nodes[i]!.address, error: toCacheError(s.reason, { operation: "stats" }) });
    });
    return stats;
  }

  async topology(options?: RequestOptions): Promise<Topology> {
    return this.router.topology(this.budget(options));
  }

  async transferLeader(shard: number, toNodeId?: string, options?: RequestOptions): Promise<string> {
    checkShard(shard);
    if (toNodeId !== undefined) checkNodeId(toNodeId, "toNodeId");
    const budget = this.budget(options);
    const topology = await this.router.topology(budget);
    // The shard's leader does it; any other node forwards the call there.
    const address = this.table.leaderOf(shard)?.address ?? topology.nodes[0]?.address;
    if (address === undefined) throw new InvalidArgumentError("the cluster reported no nodes");
    try {
      const timeoutMs = Math.max(1, budget.deadlineMs - this.options.clock.nowMs());
      const response = await this.clients.forAddress(address).cluster.transferLeader({ shard, toNodeId: toNodeId ?? "" }, { timeoutMs, signal: budget.signal });
      await this.router.topology(budget).catch(() => undefined);
      return response.leaderId;
    } catch (err) {
      throw toCacheError(err, { operation: "transferLeader" });
    }
  }

  async configureStore(change: StoreSettingsChange, options?: RequestOptions): Promise<ShardStoreSettings[]> {
    const request = configureStoreRequest(change);
    const budget = this.budget(options);
    const topology = await this.router.topology(budget);
    // Any node takes it and forwards each shard's part to that shard's leader.
    const address = (request.shards.length > 0 ? this.table.leaderOf(request.shards[0]!)?.address : undefined) ?? topology.nodes[0]?.address;
    if (address === undefined) throw new InvalidArgumentError("the cluster reported no nodes");
    try {
      const timeoutMs = Math.max(1, budget.deadlineMs - this.options.clock.nowMs());
      const response = await this.clients.forAddress(address).cluster.configureStore(request, { timeoutMs, signal: budget.signal });
      return response.shards.map(shardSettingsFromMessage);
    } catch (err) {
      throw toCacheError(err, { operation: "configureStore" });
    }
  }

  async addNode(node: ClusterNode, options: AdminOptions): Promise<bigint> {
    const member = clusterNodeOf(node);
    const adminToken = adminTokenOf(options?.adminToken);
    return (await this.changeMembership("addNode", adminToken, options, (c, o) => c.addNode({ node: member }, o))).epoch;
  }

  async removeNode(nodeId: string, options: AdminOptions): Promise<bigint> {
    checkNodeId(nodeId, "nodeId");
    const adminToken = adminTokenOf(options?.adminToken);
    return (await this.changeMembership("removeNode", adminToken, options, (c, o) => c.removeNode({ nodeId }, o))).epoch;
  }

  watch(keyOrPrefix: string, options: WatchOptions = {}): CacheWatch {
    if (this.closed) throw new ClientClosedError();
    if (!(options.prefix && keyOrPrefix === "")) checkKey(keyOrPrefix);
    const ensure = (signal: AbortSignal) => this.router.ensureTopology({ deadlineMs: this.options.clock.nowMs() + this.options.timeoutMs, signal });
    const watch = new WatchStream(keyOrPrefix, options, this.options, this.table, this.clients, ensure, (ended) => this.watches.delete(ended));
    if (!watch.closed) this.watches.add(watch);
    return watch;
  }

  async close(): Promise<void> {
    for (const watch of this.watches) watch.close();
    if (this.closed) return;
    this.closed = true;
    this.topologyWatch?.close();
    await this.options.onClose();
  }

  /** Sends a membership change to the node that has just answered GetTopology (so was up), which forwards it to the meta leader. */
  private async changeMembership<R>(operation: MembershipOperation, adminToken: string, options: RequestOptions, send: MembershipSend<R>): Promise<R> {
    const budget = this.budget(options);
    const topology = await this.router.topology(budget);
    const fallback = topology.nodes.find((n) => n.address !== "")?.address;
    const baseUrl = this.router.lastTopologySource ?? (fallback === undefined ? undefined : this.clients.baseUrlForAddress(fallback));
    if (baseUrl === undefined) throw new InvalidArgumentError("the cluster reported no nodes");
    return sendMembershipChange(this.options, this.clients.forBaseUrl(baseUrl).cluster, operation, adminToken, budget, send);
  }

  private budget(options: RequestOptions | undefined): CallBudget {
    if (this.closed) throw new ClientClosedError();
    const timeoutMs = options?.timeoutMs ?? this.options.timeoutMs;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > TIMEOUT_MS_MAX) {
      throw new InvalidArgumentError(`timeoutMs must be an integer in [1, ${TIMEOUT_MS_MAX}], got ${String(timeoutMs)}`);
    }
    return { deadlineMs: this.options.clock.nowMs() + timeoutMs, signal: options?.signal };
  }

  /** The call's budget, once the topology is known (fetched on first use). */
  private async begin(options: RequestOptions | undefined): Promise<CallBudget> {
    const budget = this.budget(options);
    await this.router.ensureTopology(budget);
    this.topologyWatch?.start();
    return budget;
  }

  private async keyed<R>(key: string, operation: Operation, send: KeyedSend<R>, options: RequestOptions | undefined): Promise<R> {
    const budget = await this.begin(options);
    const shard = this.table.shardFor(key);
    const context: FailureContext = { operation, key };
    if (isWrite(operation)) return this.write(shard, context, send, budget);
    return this.router.call(shard, context, (c, o) => send(c, READ_HEADER, o), budget);
  }

  /**
   * Reads keys[indexes] (all led by shard's leader) into results. With `once`, makes a
   * single attempt and resolves false when it failed in a way worth retrying per shard.
   */
  private async readPart(
    keys: readonly string[],
    indexes: readonly number[],
    shard: number,
    consistency: Consistency,
    budget: CallBudget,
    once: boolean,
    results: (GetResult | null)[],
  ): Promise<boolean> {
    const send = async (c: Client<typeof CacheService>, o: CallOptions) =>
      (await c.mGet({ keys: indexes.map((i) => keys[i]!), consistency, header: READ_HEADER }, o)).results.map(fromGetResponse);
    const context: FailureContext = { operation: "mget" };
    const got = once ? await this.router.tryReadOnce(shard, context, send, budget) : { value: await this.router.call(shard, context, send, budget) };
    if (!got) return false;
    if (got.value.length !== indexes.length) throw toCacheError(new Error(`MGet answered ${got.value.length} results for ${indexes.length} keys`), context);
    got.value.forEach((result, j) => (results[indexes[j]!] = result));
    return true;
  }

  /**
   * A write RPC: one session sequence, kept across its retries (invariant 4 of docs/design.md). If a
   * shard reports the session expired, the write moves to a new session (the router
   * decides whether it is resent); it always finishes on the session it was last sent
   * under, so writes in flight on a replaced session still finish there.
   */
  private async write<R>(shard: number, context: FailureContext, send: KeyedSend<R>, budget: CallBudget): Promise<R> {
    await this.takeWriteSlot(context, budget);
    try {
      return await this.writeInSession(shard, context, send, budget);
    } finally {
      this.writeSlots.release();
    }
  }

  /** Waits for one of the client's writesInFlightMax slots; nothing is sent before. */
  private async takeWriteSlot(context: FailureContext, budget: CallBudget): Promise<void> {
    const waitMs = budget.deadlineMs - this.options.clock.nowMs();
    if (await this.writeSlots.acquire(waitMs, this.options.sleep, budget.signal)) return;
    if (budget.signal?.aborted) throw new CanceledError(`${context.operation} was canceled while waiting for a write slot`);
    const what = `${context.operation}${context.key === undefined ? "" : ` of "${context.key}"`}`;
    throw new ResourceExhaustedError(
      `${what} was not sent: all ${this.writeSlots.max} write slots of the client (writesInFlightMax) stayed in use until its deadline`,
    );
  }

  private async writeInSession<R>(shard: number, context: FailureContext, send: KeyedSend<R>, budget: CallBudget): Promise<R> {
    let session = this.currentSession();
    /** The write's sequence in `session`; undefined once it will not be sent again. */
    let sequence: bigint | undefined = session.begin(shard);
    const handle: WriteSessionHandle = {
      get sessionId() {
        return session.sessionId;
      },
      renew: (refusedBy, resend, startedAfterMs) => {
        // Never sent again under the expired session: release its sequence there.
        if (sequence !== undefined) session.finish(shard, sequence);
        sequence = undefined;
        if (this.session === session) this.replaceSession(refusedBy, startedAfterMs);
        if (!resend) return;
        session = this.currentSession();
        sequence = session.begin(shard);
      },
    };
    try {
      return await this.router.call(
        shard,
        context,
        (c, o) =>
          send(
            c,
            {
              noForward: true,
              sessionId: session.sessionId,
              sequence: sequence!,
              ackedSequence: session.ackedSequence(shard),
              sessionStartedMs: session.startedMs,
            },
            o,
          ),
        budget,
        handle,
      );
    } finally {
      if (sequence !== undefined) session.finish(shard, sequence);
    }
  }

  /** The session for a new write: a fresh one once the current one used every sequence. */
  private currentSession(): WriteSession {
    if (this.session.exhausted) this.session = new WriteSession(randomSessionId(), BigInt(Date.now()));
    return this.session;
  }

  /**
   * Starts a new session (random id, sequences from 1, watermark 0) for every later write,
   * beginning after the time the refusing shard named (so a slow clock cannot keep it refused).
   */
  private replaceSession(shard: number, startedAfterMs: bigint): void {
    const expiredSessionId = this.session.sessionId;
    const nowMs = BigInt(Date.now());
    this.session = new WriteSession(randomSessionId(), nowMs > startedAfterMs ? nowMs : startedAfterMs + 1n);
    this.options.onEvent({ type: "sessionRenewed", shard, expiredSessionId, sessionId: this.session.sessionId });
  }
}

/** Rounds of create-then-read getOrLoad makes while the key keeps appearing and vanishing. */
const GET_OR_LOAD_ROUNDS_MAX = 3;

/** What getOrLoad returns for a value it loaded and stored itself. */
function loadedResult(value: CacheValue, version: bigint, ttlMs: number | undefined): GetResult {
  const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
  return typeof value === "string" ? { value: bytes, text: value, version, ttlRemainingMs: ttlMs ?? 0 } : { value: bytes, version, ttlRemainingMs: ttlMs ?? 0 };
}
