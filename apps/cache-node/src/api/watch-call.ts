import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { WatchRequest } from "@distcache/proto";
import type { Ring } from "@distcache/ring";
import type { Limits } from "../config/config.js";
import type { ConsensusPort } from "../consensus/consensus-port.js";
import type { Position } from "../state-machine/watch-history.js";
import type { WatchHub } from "../watch/watch-hub.js";
import { compactedError, Watcher, type WatchedReplica, type WatchMessage } from "../watch/watcher.js";
import type { StreamGate, StreamSource } from "./stream-gate.js";
import type { StreamPlaces } from "./stream-places.js";
import { checkWatchRequest, positionNow, type CheckedWatch } from "./watch-request.js";

export interface WatchDeps {
  ring: Ring;
  consensus: Pick<ConsensusPort, "shardCount" | "hosts" | "replica">;
  limits: Limits;
  hub: WatchHub;
  /** The limits every server stream shares. */
  streams: StreamGate;
  /** The bounds on watchers (--watchers-max, --connection-watchers-max). */
  watchers: StreamPlaces;
  /** How long a watch whose call has no deadline waits for this node's replicas to reach its start. */
  operationTimeoutMs: number;
}

/** How often a watch waiting for a replica to reach its start looks again. */
const START_POLL_MS = 10;

/**
 * CacheService.Watch: checks the request, takes a stream place and a watcher place, waits
 * (within the call's deadline) until this node's replicas applied up to the start, then
 * streams: a progress message with the start positions at once, the retained events
 * after them, then each new one.
 */
export function watchHandler(deps: WatchDeps) {
  return async function* watch(req: WatchRequest, ctx: HandlerContext): AsyncGenerator<WatchMessage> {
    const checked = checkWatchRequest(req, deps.ring, deps.consensus.shardCount, deps.limits);
    yield* deps.streams.serve(() => prepare(deps, checked, ctx), ctx.signal, deps.watchers);
  };
}

async function prepare(deps: WatchDeps, checked: CheckedWatch, ctx: HandlerContext): Promise<StreamSource<WatchMessage>> {
  const replicaOf = (shard: number): WatchedReplica | undefined => (deps.consensus.hosts(shard) ? deps.consensus.replica(shard) : undefined);
  for (const shard of checked.shards) {
    if (replicaOf(shard) === undefined) {
      throw new ConnectError(
        `this node holds no replica of shard ${shard}; watch on a node that does (GetTopology lists each shard's replicas)`,
        Code.Unavailable,
      );
    }
  }
  const deadline = performance.now() + (ctx.timeoutMs() ?? deps.operationTimeoutMs);
  for (const [shard, start] of checked.start) await reach(shard, start, replicaOf, deadline, ctx.signal);
  const cursors = new Map<number, Position>();
  for (const shard of checked.shards) {
    const replica = replicaOf(shard)!;
    const start = checked.start.get(shard);
    if (start !== undefined && replica.history.after(start, 0) === "compacted") {
      throw compactedError(shard, replica.history.floor, "the watch starts before the change history this replica retains");
    }
    cursors.set(shard, start ?? positionNow(replica.appliedIndex));
  }
  // Messages go to `first` until the stream subscribes, then to the stream.
  const early: WatchMessage[] = [];
  let failure: ConnectError | undefined;
  const sink: { push: (m: WatchMessage) => void; fail: (e: ConnectError) => void } = {
    push: (m) => void early.push(m),
    fail: (e) => void (failure = e),
  };
  const watcher = new Watcher(
    checked.spec,
    cursors,
    replicaOf,
    (m) => sink.push(m),
    (e) => sink.fail(e),
  );
  return {
    first: () => {
      const opening = watcher.progress();
      for (const shard of checked.shards) watcher.pull(shard);
      if (failure) throw failure;
      return [opening, ...early];
    },
    subscribe: (push, fail) => {
      sink.push = push;
      sink.fail = fail;
      return deps.hub.add(watcher);
    },
    progress: () => watcher.progress(),
  };
}

/** Waits until shard's replica here applied up to `start`, within the deadline; it never answers early. */
async function reach(
  shard: number,
  start: Position,
  replicaOf: (shard: number) => WatchedReplica | undefined,
  deadline: number,
  signal: AbortSignal,
): Promise<void> {
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
    await new Promise((resolve) => setTimeout(resolve, START_POLL_MS));
  }
}
