import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createRouterTransport, type ServiceImpl, type Transport } from "@connectrpc/connect";
import {
  CacheService,
  ClusterService,
  LimitExceededSchema,
  NotLeaderSchema,
  SessionExpiredSchema,
  SessionResultForgottenSchema,
  SetCondition,
  type RequestHeader,
  type WatchRequest,
  type WatchResponseSchema,
} from "@distcache/proto";
import { Ring } from "@distcache/ring";
import type { Clock, Sleep } from "../client-options.js";

/*
 * A protocol-level stand-in for a distcache cluster, for SDK tests: several fake nodes,
 * each behind its own in-memory Connect transport (createRouterTransport), sharing one
 * keyspace. Leadership is set by the test and may move; a node that does not lead a
 * shard answers as the real node does (FAILED_PRECONDITION or UNAVAILABLE with a
 * NotLeader detail); a node can be "down" (connection refused) and any call can be made
 * to fail once, before or after its write is applied, or be held in flight. A test can
 * expire a client session on some shards: writes naming it there are then refused, not
 * applied, with FAILED_PRECONDITION and a SessionExpired detail, as a real node does.
 * Like a real shard, a fake applies a write's session sequence once and answers a
 * repeat with the first outcome. Membership changes (AddNode, RemoveNode) need the
 * admin token in the distcache-admin-token header, as on a real node, and are idempotent
 * in the same way; Stats reports each hosted replica's applied index (the shard's writes
 * so far unless a test sets it), term and leader.
 */

const WRITE_METHODS: ReadonlySet<string> = new Set(["set", "mSet", "delete", "mDelete", "incr"]);

type Payload = { case: "value"; value: Uint8Array } | { case: "text"; value: string } | { case: undefined; value?: undefined };

interface Entry {
  payload: Payload;
  version: bigint;
}

/** One request a fake node received. */
export interface ReceivedCall {
  nodeId: string;
  method: string;
  keys: string[];
  header: RequestHeader | undefined;
  /** The distcache-admin-token header of a membership call (null when absent). */
  adminToken?: string | null;
}

/** A node added with AddNode: its addresses, and whether RemoveNode marked it leaving. */
export interface AddedMember {
  clientAddress: string;
  peerAddress: string;
  leaving: boolean;
}

interface Fault {
  nodeId: string;
  method: string;
  error: ConnectError;
  /** Apply the write first, then fail: the client cannot tell whether it happened. */
  afterApply: boolean;
}

export interface FakeClusterOptions {
  nodeIds?: string[];
  shardCount?: number;
  /** Few points keep ring construction cheap in tests. */
  pointsPerShard?: number;
  valueBytesMax?: number;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A clock that only moves when the fake sleep is awaited, and records every sleep. */
export function fakeTime(startMs = 1_000_000): { clock: Clock; sleep: Sleep; sleeps: number[] } {
  let nowMs = startMs;
  const sleeps: number[] = [];
  return {
    clock: { nowMs: () => nowMs },
    sleep: async (ms) => {
      sleeps.push(ms);
      nowMs += ms;
    },
    sleeps,
  };
}

export class FakeCluster {
  readonly nodeIds: string[];
  readonly shardCount: number;
  readonly pointsPerShard: number;
  readonly ring: Ring;
  readonly calls: ReceivedCall[] = [];
  readonly down = new Set<string>();
  private readonly leaders = new Map<number, string | undefined>();
  /** Per node, shards whose leader it believes to be other than the truth. */
  private readonly staleViews = new Map<string, Map<number, string | undefined>>();
  private readonly faults: Fault[] = [];
  private readonly breaks: { nodeId: string; method: string; afterApply: boolean }[] = [];
  private readonly holds: { nodeId: string; method: string; released: Promise<void> }[] = [];
  private readonly befores: { nodeId: string; method: string; action: () => void | Promise<void> }[] = [];
  /** Per session id, the shards that no longer hold it. */
  private readonly expiredSessions = new Map<string, Set<number>>();
  /** The time a new session must begin after, as refusing shards name it. */
  private sessionsStartedAfterMs = 0n;
  private readonly entries = new Map<string, Entry>();
  /** Per shards, session and sequence, the outcome of the write that used them. */
  private readonly outcomes = new Map<string, { value: unknown } | { error: unknown }>();
  private readonly revisions = new Map<number, bigint>();
  private readonly valueBytesMax: number;
  /** Per shard, the store settings ConfigureStore set (policy as the API enum's number). */
  readonly storeSettings = new Map<number, { policy: number; entriesMax: bigint; bytesMax: bigint }>();
  /** The token AddNode and RemoveNode need; empty: the nodes run without a peer secret and refuse both. */
  adminToken = "ab".repeat(32);
  /** Nodes AddNode added (the fake's own nodes are not listed), in the order added. */
  readonly added = new Map<string, AddedMember>();
  /** Fake nodes RemoveNode marked leaving. */
  readonly leaving = new Set<string>();
  /** Per shard, its voters and learners when a test set them (else every fake node votes). */
  private readonly placement = new Map<number, { voters: string[]; learners: string[] }>();
  private readonly terms = new Map<number, bigint>();
  /** Per "node/shard", the applied index a test set for that replica. */
  private readonly appliedIndexes = new Map<string, bigint>();

  constructor(options: FakeClusterOptions = {}) {
    this.nodeIds = options.nodeIds ?? ["n1", "n2", "n3"];
    this.shardCount = options.shardCount ?? 6;
    this.pointsPerShard = options.pointsPerShard ?? 16;
    this.valueBytesMax = options.valueBytesMax ?? 1024;
    this.ring = new Ring(
      Array.from({ length: this.shardCount }, (_, i) => i),
      { pointsPerShard: this.pointsPerShard },
    );
    // Leaders spread like the real placement: shard s led by member s mod N.
    for (let s = 0; s < this.shardCount; s++) this.leaders.set(s, this.nodeIds[s % this.nodeIds.length]);
  }

  addressOf(nodeId: string): string {
    return `10.0.0.${this.nodeIds.indexOf(nodeId) + 1}:7301`;
  }

  /** The peer (Raft) address a fake node reports. */
  peerAddressOf(nodeId: string): string {
    return `10.0.0.${this.nodeIds.indexOf(nodeId) + 1}:7401`;
  }

  /** Sets a shard's voters and learners, as every node reports them (topology and Stats). */
  setPlacement(shard: number, voters: string[], learners: string[] = []): void {
    this.placement.set(shard, { voters: [...voters], learners: [...learners] });
  }

  /** The shard's voters and learners. */
  placementOf(shard: number): { voters: string[]; learners: string[] } {
    return this.placement.get(shard) ?? { voters: [...this.nodeIds], learners: [] };
  }

  /** Sets the term every node reports for the shard (1 by default). */
  setTerm(shard: number, term: bigint): void {
    this.terms.set(shard, term);
  }

  /** Sets the applied index nodeId's replica of the shard reports in Stats. */
  setAppliedIndex(nodeId: string, shard: number, index: bigint): void {
    this.appliedIndexes.set(`${nodeId}/${shard}`, index);
  }

  urlOf(nodeId: string): string {
    return `http://${this.addressOf(nodeId)}`;
  }

  leaderOf(shard: number): string | undefined {
    return this.leaders.get(shard);
  }

  /** Moves a shard's leadership (undefined: an election is running); every node learns it. */
  setLeader(shard: number, nodeId: string | undefined): void {
    this.leaders.set(shard, nodeId);
    for (const view of this.staleViews.values()) view.delete(shard);
    this.leaderChanges++;
    for (const wake of this.watchers.splice(0)) wake();
  }

  /** GetTopology calls answered, by any node. */
  topologyCalls = 0;

  /** The placement epoch every node reports (in topologies and NotLeader details). */
  epoch = 1n;

  /** WatchTopology streams open now, by the node serving them. */
  readonly watching = new Map<string, number>();
  private readonly watchers: (() => void)[] = [];
  private leaderChanges = 0;

  /** As a node's WatchTopology: the topology at once, then after every leader change, until the caller goes away. */
  private async *watchTopologyAt(nodeId: string, signal: AbortSignal) {
    this.calls.push({ nodeId, method: "watchTopology", keys: [], header: undefined });
    this.watching.set(nodeId, (this.watching.get(nodeId) ?? 0) + 1);
    try {
      while (!signal.aborted && !this.down.has(nodeId)) {
        const sent = this.leaderChanges;
        yield { topology: this.topologyAt(nodeId), progress: false };
        if (sent !== this.leaderChanges) continue;
        await new Promise<void>((resolve) => {
          this.watchers.push(resolve);
          signal.addEventListener("abort", () => resolve(), { once: true });
        });
      }
      if (this.down.has(nodeId)) throw connectionReset();
    } finally {
      this.watching.set(nodeId, this.watching.get(nodeId)! - 1);
    }
  }

  /** Makes nodeId believe (and report) that leaderId leads the shard. */
  setStaleView(nodeId: string, shard: number, leaderId: string | undefined): void {
    let view = this.staleViews.get(nodeId);
    if (!view) this.staleViews.set(nodeId, (view = new Map()));
    view.set(shard, leaderId);
  }

  /** The next call of method at nodeId fails with error (after applying its write, if afterApply). */
  failNext(nodeId: string, method: string, error: ConnectError, afterApply = false): void {
    this.faults.push({ nodeId, method, error, afterApply });
  }

  /** A key the ring maps to shard. */
  keyForShard(shard: number, prefix = "k"): string {
    for (let i = 0; i < 100_000; i++) if (this.ring.shardFor(`${prefix}${i}`) === shard) return `${prefix}${i}`;
    throw new Error(`no key for shard ${shard}`);
  }

  /** The stored value as text, for assertions. */
  peek(key: string): { text: string; version: bigint } | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const p = entry.payload;
    return { text: p.case === "text" ? p.value : decoder.decode(p.value ?? new Uint8Array(0)), version: entry.version };
  }

  /** Writes applied on the shard so far. */
  revisionOf(shard: number): bigint {
    return this.revisions.get(shard) ?? 0n;
  }

  /**
   * The next call of method at nodeId loses its connection: before the request reaches
   * the node, or (afterApply) after the node applied it but before the answer arrived.
   * The client sees what connect-node reports for a reset stream: aborted, no headers.
   */
  breakNext(nodeId: string, method: string, afterApply: boolean): void {
    this.breaks.push({ nodeId, method, afterApply });
  }

  /**
   * Holds the next call of method at nodeId in flight, before the node sees it, until
   * the returned function is called.
   */
  holdNext(nodeId: string, method: string): () => void {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    this.holds.push({ nodeId, method, released });
    return release;
  }

  /**
   * Runs action (for example another client's writes) when the next call of method
   * reaches nodeId, before the node sees that call.
   */
  beforeNext(nodeId: string, method: string, action: () => void | Promise<void>): void {
    this.befores.push({ nodeId, method, action });
  }

  /** The shards (every one by default) forget the session: its writes there are refused from now on. */
  expireSession(sessionId: string, shards: readonly number[] = Array.from({ length: this.shardCount }, (_, i) => i), startedAfterMs = 0n): void {
    this.sessionsStartedAfterMs = startedAfterMs;
    let expired = this.expiredSessions.get(sessionId);
    if (!expired) this.expiredSessions.set(sessionId, (expired = new Set()));
    for (const shard of shards) expired.add(shard);
  }

  callsTo(method: string): ReceivedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** The transport factory to give the SDK: one in-memory server per fake node. */
  readonly transport = (baseUrl: string): Transport => {
    const host = new URL(baseUrl).host;
    const nodeId = this.nodeIds.find((id) => this.addressOf(id) === host);
    const inner = nodeId === undefined ? undefined : this.routerFor(nodeId);
    const refuse = () => Promise.reject(connectionRefused(host));
    return {
      unary: async (...args) => {
        const held = this.holds.findIndex((h) => h.nodeId === nodeId && h.method === args[0].localName);
        if (held >= 0) await this.holds.splice(held, 1)[0]!.released;
        const before = this.befores.findIndex((b) => b.nodeId === nodeId && b.method === args[0].localName);
        if (before >= 0) await this.befores.splice(before, 1)[0]!.action();
        if (!inner || this.down.has(nodeId!)) return refuse();
        const at = this.breaks.findIndex((b) => b.nodeId === nodeId && b.method === args[0].localName);
        if (at < 0) return inner.unary(...args);
        const broken = this.breaks.splice(at, 1)[0]!;
        if (broken.afterApply) await inner.unary(...args);
        throw connectionReset();
      },
      stream: (...args) => (!inner || this.down.has(nodeId!) ? refuse() : inner.stream(...args)),
    };
  };

  private routerFor(nodeId: string): Transport {
    return createRouterTransport((router) => {
      router.service(CacheService, this.cacheService(nodeId));
      router.service(ClusterService, {
        getTopology: () => {
          this.topologyCalls++;
          return { topology: this.topologyAt(nodeId) };
        },
        watchTopology: (_req, ctx) => this.watchTopologyAt(nodeId, ctx.signal),
        addNode: (req, ctx) => ({ epoch: this.changeMembers(nodeId, "addNode", ctx.requestHeader, () => this.addMember(req.node)) }),
        removeNode: (req, ctx) => ({ epoch: this.changeMembers(nodeId, "removeNode", ctx.requestHeader, () => this.removeMember(req.nodeId)) }),
        // Like a node: the leader moves it at once; anyone else forwards it.
        transferLeader: (req) => {
          this.calls.push({ nodeId, method: "transferLeader", keys: [], header: undefined });
          if (req.shard >= this.shardCount) throw new ConnectError(`unknown shard ${req.shard}`, Code.InvalidArgument);
          const current = this.leaders.get(req.shard);
          const to = req.toNodeId || this.nodeIds.find((id) => id !== current)!;
          if (!this.nodeIds.includes(to)) throw new ConnectError(`unknown node "${to}"`, Code.InvalidArgument);
          this.setLeader(req.shard, to);
          return { leaderId: to };
        },
        // Like a node: checks the request, then changes every named shard (all when none).
        configureStore: (req) => {
          this.calls.push({ nodeId, method: "configureStore", keys: [], header: undefined });
          const bad = req.shards.find((s) => s >= this.shardCount);
          if (bad !== undefined) throw new ConnectError(`unknown shard ${bad}`, Code.InvalidArgument);
          if (req.bytesMax > 0n && req.bytesMax < 4096n) throw new ConnectError("bytes_max must be at least 4096", Code.InvalidArgument);
          const shards = req.shards.length > 0 ? [...new Set(req.shards)].sort((a, b) => a - b) : Array.from({ length: this.shardCount }, (_, i) => i);
          return {
            shards: shards.map((shard) => {
              const current = this.storeSettings.get(shard) ?? { policy: 1, entriesMax: 1000n, bytesMax: 1n << 20n };
              const next = {
                policy: req.policy || current.policy,
                entriesMax: req.entriesMax || current.entriesMax,
                bytesMax: req.bytesMax || current.bytesMax,
              };
              this.storeSettings.set(shard, next);
              return { shard, ...next };
            }),
          };
        },
      });
    });
  }

  private viewOf(nodeId: string, shard: number): string | undefined {
    const view = this.staleViews.get(nodeId);
    return view?.has(shard) ? view.get(shard) : this.leaders.get(shard);
  }

  private topologyAt(nodeId: string) {
    const added = [...this.added].map(([id, m]) => ({ id, clientAddress: m.clientAddress, peerAddress: m.peerAddress }));
    return {
      epoch: this.epoch,
      ring: { shardCount: this.shardCount, pointsPerShard: this.pointsPerShard },
      nodes: [...this.nodeIds.map((id) => ({ id, clientAddress: this.addressOf(id), peerAddress: this.peerAddressOf(id) })), ...added],
      shards: Array.from({ length: this.shardCount }, (_, id) => {
        const { voters, learners } = this.placementOf(id);
        return { id, replicas: voters, learners, leaderId: this.viewOf(nodeId, id) ?? "", term: this.terms.get(id) ?? 1n };
      }),
    };
  }

  /**
   * A membership call at nodeId, as a real node answers it: injected faults first, then
   * the admin token (failed_precondition without one configured, unauthenticated when
   * it does not match), then the change; the epoch after it.
   */
  private changeMembers(nodeId: string, method: string, headers: Headers, change: () => bigint): bigint {
    const adminToken = headers.get("distcache-admin-token");
    this.calls.push({ nodeId, method, keys: [], header: undefined, adminToken });
    const fault = this.takeFault(nodeId, method);
    if (fault && !fault.afterApply) throw fault.error;
    if (!this.adminToken) throw new ConnectError("this node runs without a peer secret, so its membership cannot change", Code.FailedPrecondition);
    if (adminToken !== this.adminToken) throw new ConnectError("AddNode and RemoveNode need the distcache-admin-token header", Code.Unauthenticated);
    const epoch = change();
    if (fault) throw fault.error;
    return epoch;
  }

  /** AddNode: a member again with the same addresses answers the epoch; with others, already_exists. */
  private addMember(node: { id: string; clientAddress: string; peerAddress: string } | undefined): bigint {
    if (!node) throw new ConnectError("node is required", Code.InvalidArgument);
    const own = this.nodeIds.includes(node.id) ? { clientAddress: this.addressOf(node.id), peerAddress: this.peerAddressOf(node.id) } : undefined;
    const current = own ?? this.added.get(node.id);
    const leaving = this.leaving.has(node.id) || this.added.get(node.id)?.leaving === true;
    if (current && !leaving && current.clientAddress === node.clientAddress && current.peerAddress === node.peerAddress) return this.epoch;
    if (current) throw new ConnectError(`node ${node.id} is a member already, with other addresses or leaving`, Code.AlreadyExists);
    this.added.set(node.id, { clientAddress: node.clientAddress, peerAddress: node.peerAddress, leaving: false });
    return ++this.epoch;
  }

  /** RemoveNode: marks the member leaving; one that is leaving already answers the epoch. */
  private removeMember(id: string): bigint {
    const added = this.added.get(id);
    if (!added && !this.nodeIds.includes(id)) throw new ConnectError(`node ${id} is not a member`, Code.NotFound);
    if (added?.leaving || this.leaving.has(id)) return this.epoch;
    if (added) added.leaving = true;
    else this.leaving.add(id);
    return ++this.epoch;
  }

  /** Takes the next injected fault for method at nodeId, if any. */
  private takeFault(nodeId: string, method: string): Fault | undefined {
    const at = this.faults.findIndex((f) => f.nodeId === nodeId && f.method === method);
    return at >= 0 ? this.faults.splice(at, 1)[0] : undefined;
  }

  /** Runs a request at nodeId as the real node would: leadership check, faults, then apply. */
  private serve<R>(nodeId: string, method: string, keys: string[], header: RequestHeader | undefined, apply: () => R): R {
    this.calls.push({ nodeId, method, keys, header });
    const fault = this.takeFault(nodeId, method);
    if (fault && !fault.afterApply) throw fault.error;
    for (const key of keys) if (key === "") throw new ConnectError("key must not be empty", Code.InvalidArgument);
    for (const shard of new Set(keys.map((k) => this.ring.shardFor(k)))) {
      const leader = this.viewOf(nodeId, shard);
      if (leader !== nodeId) throw this.notLeader(shard, leader);
    }
    const sessionId = header?.sessionId ?? "";
    const expired = this.expiredSessions.get(sessionId);
    for (const shard of new Set(keys.map((k) => this.ring.shardFor(k))))
      if (expired?.has(shard)) throw sessionExpired(shard, sessionId, this.sessionsStartedAfterMs);
    // As a shard's session table does: a write's sequence applies once, and a repeat gets the first outcome.
    const sequence = header?.sequence ?? 0n;
    const once =
      WRITE_METHODS.has(method) && sessionId !== "" && sequence > 0n
        ? `${[...new Set(keys.map((k) => this.ring.shardFor(k)))].sort().join(",")}/${sessionId}/${sequence}`
        : undefined;
    const earlier = once === undefined ? undefined : this.outcomes.get(once);
    if (earlier && "error" in earlier) throw earlier.error;
    let result: R;
    if (earlier) result = earlier.value as R;
    else {
      try {
        result = apply();
      } catch (err) {
        if (once !== undefined) this.outcomes.set(once, { error: err });
        throw err;
      }
      if (once !== undefined) this.outcomes.set(once, { value: result });
    }
    if (fault) throw fault.error;
    return result;
  }

  private notLeader(shard: number, leaderId: string | undefined): ConnectError {
    const detail = { shard, leaderId: leaderId ?? "", leaderAddress: leaderId ? this.addressOf(leaderId) : "", epoch: this.epoch };
    const code = leaderId ? Code.FailedPrecondition : Code.Unavailable;
    return new ConnectError(`node does not lead shard ${shard}`, code, undefined, [{ desc: NotLeaderSchema, value: detail }]);
  }

  private nextVersion(key: string): bigint {
    const shard = this.ring.shardFor(key);
    const revision = (this.revisions.get(shard) ?? 0n) + 1n;
    this.revisions.set(shard, revision);
    return revision;
  }

  private getShape(key: string) {
    const entry = this.entries.get(key);
    if (!entry) return { found: false, payload: { case: undefined }, version: 0n, ttlRemainingMs: 0n } as const;
    return { found: true, payload: entry.payload, version: entry.version, ttlRemainingMs: 0n };
  }

  private put(key: string, payload: Payload): bigint {
    const size = payload.case === "text" ? encoder.encode(payload.value).length : (payload.value?.length ?? 0);
    if (size > this.valueBytesMax) {
      const detail = { limit: "value_bytes_max", max: BigInt(this.valueBytesMax), actual: BigInt(size) };
      throw new ConnectError(`value is ${size} bytes, above the limit of ${this.valueBytesMax} (value_bytes_max)`, Code.InvalidArgument, undefined, [
        { desc: LimitExceededSchema, value: detail },
      ]);
    }
    const version = this.nextVersion(key);
    this.entries.set(key, { payload, version });
    return version;
  }

  private checkCondition(key: string, condition: SetCondition, expectedVersion: bigint): void {
    const current = this.entries.get(key)?.version ?? 0n;
    if (condition === SetCondition.IF_ABSENT && current !== 0n) throw new ConnectError(`key "${key}" already exists (version ${current})`, Code.AlreadyExists);
    if (condition === SetCondition.IF_VERSION && current !== expectedVersion) {
      throw new ConnectError(`key "${key}" is at version ${current}, not the expected ${expectedVersion}`, Code.FailedPrecondition);
    }
  }

  private incr(key: string, delta: bigint): { value: bigint; version: bigint } {
    const text = this.peek(key)?.text ?? "0";
    if (!/^-?\d+$/.test(text)) throw new ConnectError(`value of "${key}" is not a signed 64-bit integer`, Code.FailedPrecondition);
    const value = BigInt(text) + delta;
    if (value < INT64_MIN || value > INT64_MAX) throw new ConnectError(`incrementing "${key}" by ${delta} overflows a signed 64-bit integer`, Code.OutOfRange);
    return { value, version: this.put(key, { case: "text", value: value.toString() }) };
  }

  /** Stats of the replicas nodeId holds (as a voter or a learner). */
  private replicaStats(nodeId: string) {
    const zero = { hits: 0n, misses: 0n, evictions: 0n, expirations: 0n, keys: 0n, bytes: 0n };
    return Array.from({ length: this.shardCount }, (_, shard) => shard)
      .filter((shard) => [...this.placementOf(shard).voters, ...this.placementOf(shard).learners].includes(nodeId))
      .map((shard) => ({
        shard,
        store: zero,
        appliedIndex: this.appliedIndexes.get(`${nodeId}/${shard}`) ?? this.revisionOf(shard),
        term: this.terms.get(shard) ?? 1n,
        leaderId: this.viewOf(nodeId, shard) ?? "",
        evictionPolicy: "lru",
        entriesMax: 1000n,
        bytesMax: 1n << 20n,
        digest: "",
      }));
  }

  /**
   * What a node's Watch streams: a test sets it; without one, Watch is unimplemented.
   * Each call is also recorded in `watchCalls`.
   */
  watchAt: ((nodeId: string, request: WatchRequest, signal: AbortSignal) => AsyncIterable<MessageInitShape<typeof WatchResponseSchema>>) | undefined;

  /** The Watch calls nodes received, in order. */
  readonly watchCalls: { nodeId: string; request: WatchRequest }[] = [];

  private cacheService(nodeId: string): Partial<ServiceImpl<typeof CacheService>> {
    return {
      watch: (req, ctx) => {
        this.watchCalls.push({ nodeId, request: req });
        if (!this.watchAt) throw new ConnectError("Watch is not served here", Code.Unimplemented);
        return this.watchAt(nodeId, req, ctx.signal);
      },
      get: (req) => this.serve(nodeId, "get", [req.key], req.header, () => this.getShape(req.key)),
      mGet: (req) => this.serve(nodeId, "mGet", req.keys, req.header, () => ({ results: req.keys.map((k) => this.getShape(k)) })),
      set: (req) =>
        this.serve(nodeId, "set", [req.key], req.header, () => {
          this.checkCondition(req.key, req.condition, req.expectedVersion);
          return { version: this.put(req.key, req.payload) };
        }),
      mSet: (req) =>
        this.serve(
          nodeId,
          "mSet",
          req.items.map((i) => i.key),
          req.header,
          () => ({ versions: req.items.map((i) => this.put(i.key, i.payload)) }),
        ),
      delete: (req) => this.serve(nodeId, "delete", [req.key], req.header, () => ({ deleted: this.entries.delete(req.key) })),
      mDelete: (req) =>
        this.serve(nodeId, "mDelete", req.keys, req.header, () => ({ deleted: [...new Set(req.keys)].filter((k) => this.entries.delete(k)).length })),
      incr: (req) => this.serve(nodeId, "incr", [req.key], req.header, () => this.incr(req.key, req.delta)),
      stats: () => {
        if (this.down.has(nodeId)) throw connectionRefused(this.addressOf(nodeId));
        const total = { hits: 0n, misses: 0n, evictions: 0n, expirations: 0n, keys: BigInt(this.entries.size), bytes: 0n };
        return { nodeId, total, shards: this.replicaStats(nodeId) };
      },
    };
  }
}

/** A node's refusal of a write under a session its shard no longer holds; the write was not applied. */
export function sessionExpired(shard: number, sessionId: string, startedAfterMs = 0n): ConnectError {
  return new ConnectError(
    `session "${sessionId}" expired on shard ${shard}: this write was not applied; start a new session`,
    Code.FailedPrecondition,
    undefined,
    [{ desc: SessionExpiredSchema, value: { shard, sessionId, startedAfterMs } }],
  );
}

/** A node's refusal of a write in a session with too many unacknowledged writes; the write was not applied. */
export function tooManyInFlight(shard: number, sessionId: string): ConnectError {
  return new ConnectError(
    `too many unacknowledged writes in session "${sessionId}" on shard ${shard}: this write was not applied; ` +
      "retry it with the same sequence after earlier writes are acknowledged",
    Code.ResourceExhausted,
  );
}

/** A node's refusal of a write whose sequence was already acknowledged and whose result is gone. */
export function resultForgotten(shard: number, sessionId: string, sequence: bigint): ConnectError {
  return new ConnectError(
    `sequence ${sequence} of session "${sessionId}" was already acknowledged on shard ${shard}, and its result is no longer kept`,
    Code.FailedPrecondition,
    undefined,
    [{ desc: SessionResultForgottenSchema, value: { shard, sessionId, sequence } }],
  );
}

/** The error connect-node raises when the connection breaks mid-call. */
export function connectionReset(): ConnectError {
  const cause = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", syscall: "read" });
  return new ConnectError(cause.message, Code.Aborted, undefined, undefined, cause);
}

/** The error connect-node raises when nothing listens at the address. */
export function connectionRefused(host: string): ConnectError {
  const cause = Object.assign(new Error(`connect ECONNREFUSED ${host}`), { code: "ECONNREFUSED", syscall: "connect" });
  return new ConnectError(cause.message, Code.Unavailable, undefined, undefined, cause);
}
