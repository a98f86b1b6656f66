import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { WatchRequest } from "@distcache/proto";
import type { Ring } from "@distcache/ring";
import type { Limits } from "../config/config.js";
import type { ConsensusPort } from "../consensus/consensus-port.js";
import type { Position } from "../state-machine/watch-history.js";
import type { WatchHub } from "../watch/watch-hub.js";
import { compactedError, messageBytes, Watcher, type WatchedReplica, type WatchMessage } from "../watch/watcher.js";
import type { StreamGate, StreamSource } from "./stream-gate.js";
import type { StreamPlaces } from "./stream-places.js";
import { checkWatchRequest, positionNow, type CheckedWatch } from "./watch-request.js";
import { FORWARDED_HEADER } from "./forwarded-header.js";
import { openRelays, relayEnded, type Relay, type RelaySources } from "./watch-relay.js";

export interface WatchDeps {
  ring: Ring;
  nodeId: string;
  consensus: Pick<ConsensusPort, "shardCount" | "hosts" | "replica" | "voters">;
  limits: Limits;
  hub: WatchHub;
  /** The limits every server stream shares. */
  streams: StreamGate;
  /** The bounds on watchers (--watchers-max, --connection-watchers-max). */
  watchers: StreamPlaces;
  /** Where the shards this node holds no replica of are watched; undefined on a single node. */
  relays?: RelaySources;
  /** How long a watch whose call has no deadline waits for this node's replicas to reach its start. */
  operationTimeoutMs: number;
}

/** The longest a watch waiting for a replica to reach its start goes without looking at its call's signal again. */
const START_RECHECK_MS = 250;

/**
 * CacheService.Watch: checks the request, takes a stream place and a watcher place, waits
 * (within the call's deadline) until this node's replicas applied up to the start, then
 * streams: a progress message with the start positions at once, the retained events
 * after them, then each new one.
 */
export function watchHandler(deps: WatchDeps) {
  return async function* watch(req: WatchRequest, ctx: HandlerContext): AsyncGenerator<WatchMessage> {
    const checked = checkWatchRequest(req, deps.ring, deps.consensus.shardCount, deps.limits);
    yield* deps.streams.serve(() => prepare(deps, checked, ctx), ctx, deps.watchers);
  };
}

async function prepare(deps: WatchDeps, checked: CheckedWatch, ctx: HandlerContext): Promise<StreamSource<WatchMessage>> {
  const replicaOf = (shard: number): WatchedReplica | undefined => (deps.consensus.hosts(shard) ? deps.consensus.replica(shard) : undefined);
  const { local, remote } = splitShards(deps, checked.shards);
  if (remote.length > 0 && (deps.relays === undefined || ctx.requestHeader.get(FORWARDED_HEADER) !== null)) {
    throw new ConnectError(
      `this node holds no caught-up replica of shard ${remote[0]}; watch on a node that does (GetTopology lists each shard's replicas)`,
      Code.Unavailable,
    );
  }
  const deadline = performance.now() + (ctx.timeoutMs() ?? deps.operationTimeoutMs);
  const cursors = await localCursors(checked, local, replicaOf, { hub: deps.hub, deadline, signal: ctx.signal });
  const relays = remote.length > 0 ? await openRelays(deps.relays!, checked.spec, remote, checked.start, deadline) : [];
  for (const relay of relays) for (const p of relay.first.resume) cursors.set(p.shard, { index: Number(p.index), ordinal: p.ordinal });
  deps.hub.relaysOpen += relays.length;
  // Messages wait in `early` until the stream subscribes, then go to the stream.
  const early: WatchMessage[] = [];
  const sink: Sink = {
    push: (m) => void early.push(m),
    fail: (e) => void (sink.failure ??= e),
  };
  const watcher = new Watcher(
    checked.spec,
    cursors,
    local,
    replicaOf,
    (m) => {
      deps.hub.eventsSent += m.events?.length ?? 0;
      sink.push(m);
    },
    (e) => sink.fail(e),
  );
  // The opening names every start before any relayed message can move a cursor.
  const opening = watcher.progress();
  const pacer = new Pacer(() => watcher.room());
  for (const relay of relays) void pump(relay, watcher, pacer);
  return {
    first: () => [opening, ...early],
    subscribe: (push, fail, room) => {
      sink.push = push;
      sink.fail = fail;
      watcher.room = room;
      if (sink.failure) fail(sink.failure);
      const remove = deps.hub.add(watcher);
      try {
        for (const shard of local) watcher.pull(shard);
      } catch (err) {
        watcher.stop(ConnectError.from(err, Code.Internal));
      }
      return remove;
    },
    resume: () => {
      try {
        watcher.resumeWaiting();
      } catch (err) {
        watcher.stop(ConnectError.from(err, Code.Internal));
      }
      pacer.release();
    },
    progress: () => watcher.progress(),
    size: messageBytes,
    close: () => {
      deps.hub.relaysOpen -= relays.length;
      relays.forEach((relay) => relay.close());
      pacer.release();
    },
  };
}

interface Sink {
  push: (m: WatchMessage) => void;
  fail: (e: ConnectError) => void;
  failure?: ConnectError;
}

/**
 * The shards this node streams from its own replicas, and those it relays from another
 * node's: a replica that is not a voter here (a learner being added, which a snapshot may
 * still replace) is relayed from one that is, where there is one to relay from.
 */
function splitShards(deps: WatchDeps, shards: readonly number[]): { local: number[]; remote: number[] } {
  const local: number[] = [];
  const remote: number[] = [];
  for (const shard of shards) {
    const hosted = deps.consensus.hosts(shard);
    const caughtUp = hosted && deps.consensus.voters(shard).includes(deps.nodeId);
    (hosted && (caughtUp || deps.relays === undefined) ? local : remote).push(shard);
  }
  return { local, remote };
}

/** Holds relayed messages back while the stream's queue has no room; release() lets them go on. */
class Pacer {
  private waiters: (() => void)[] = [];

  constructor(private readonly room: () => boolean) {}

  async wait(): Promise<void> {
    while (!this.room()) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}

/** Each local shard's start, once its replica applied up to it (a start older than its history is compacted); "now" without one. */
async function localCursors(
  checked: CheckedWatch,
  local: readonly number[],
  replicaOf: (shard: number) => WatchedReplica | undefined,
  wait: StartWait,
): Promise<Map<number, Position>> {
  const cursors = new Map<number, Position>();
  for (const shard of local) {
    const start = checked.start.get(shard);
    if (start !== undefined) await reach(shard, start, replicaOf, wait);
    const replica = replicaOf(shard);
    if (replica === undefined) throw new ConnectError(`this node no longer holds a replica of shard ${shard}; watch on another node`, Code.Unavailable);
    if (start !== undefined && replica.history.after(start, 0) === "compacted") {
      throw compactedError(shard, replica.history.floor, "the watch starts before the change history this replica retains");
    }
    cursors.set(shard, start ?? positionNow(replica.appliedIndex));
  }
  return cursors;
}

/** Hands a relay's messages to the watcher, as the stream's queue has room, until the relay ends; its end ends the watch. */
async function pump(relay: Relay, watcher: Watcher, pacer: Pacer): Promise<void> {
  try {
    for (;;) {
      await pacer.wait();
      const next = await relay.rest.next();
      if (next.done) break;
      watcher.relayed(next.value);
    }
    watcher.stop(relayEnded(relay, undefined));
  } catch (err) {
    watcher.stop(relayEnded(relay, err));
  }
}

interface StartWait {
  hub: WatchHub;
  deadline: number;
  signal: AbortSignal;
}

/** Waits until shard's replica here applied up to `start`, within the deadline, waking at each of its applies; it never answers early. */
async function reach(shard: number, start: Position, replicaOf: (shard: number) => WatchedReplica | undefined, wait: StartWait): Promise<void> {
  const { hub, deadline, signal } = wait;
  for (;;) {
    const replica = replicaOf(shard);
    if (replica === undefined) throw new ConnectError(`this node no longer holds a replica of shard ${shard}; watch on another node`, Code.Unavailable);
    if (replica.appliedIndex >= start.index) return;
    if (signal.aborted) throw new ConnectError("the call was cancelled", Code.Canceled);
    if (performance.now() >= deadline) {
      throw new ConnectError(
        `this node's replica of shard ${shard} has applied up to index ${replica.appliedIndex}, before the start position ${start.index}; ` +
          "retry, or watch on another node",
        Code.Unavailable,
      );
    }
    await hub.nextChange(shard, Math.min(START_RECHECK_MS, deadline - performance.now()), signal);
  }
}
