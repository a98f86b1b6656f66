import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CacheService, type WatchResponse } from "@distcache/proto";
import type { Position } from "../state-machine/watch-history.js";
import type { WatchSpec } from "../watch/watcher.js";
import { FORWARDED_HEADER } from "./forwarded-header.js";

export type WatchClient = Pick<Client<typeof CacheService>, "watch">;

/** Where a node finds the shards it holds no replica of. */
export interface RelaySources {
  selfId: string;
  /** The nodes holding a replica of `shard`, best first; empty while none is known. */
  holders: (shard: number) => string[];
  /** A client of `node`'s client port; undefined when its address is unknown. */
  client: (node: string) => WatchClient | undefined;
}

/** One relayed watch of some shards: the holder's first message (its start positions), then the rest of its stream. */
export interface Relay {
  node: string;
  shards: number[];
  first: WatchResponse;
  rest: AsyncIterator<WatchResponse>;
  close(): void;
}

/** A shared client per node for relayed watches: Connect binary over HTTP/1.1, so each stream has a connection of its own. */
export function watchClients(address: (node: string) => string | undefined): (node: string) => WatchClient | undefined {
  const clients = new Map<string, { address: string; client: WatchClient }>();
  return (node) => {
    const at = address(node);
    if (!at) return undefined;
    let known = clients.get(node);
    if (known?.address !== at) {
      known = {
        address: at,
        client: createClient(CacheService, createConnectTransport({ baseUrl: `http://${at}`, httpVersion: "1.1", useBinaryFormat: true })),
      };
      clients.set(node, known);
    }
    return known.client;
  };
}

/**
 * Opens watches of `shards` on nodes that hold them, as few as can cover them, each
 * marked forwarded so it is never forwarded again, and waits (until `deadline`) for each
 * one's first message. A holder that fails is replaced by another, and so is one whose
 * history starts after the start (replicas' histories start where each one's snapshot or
 * retention put it); a bad argument is the answer at once, and a compacted start once
 * every holder found it so. Throws unavailable when no holder of some shard answered in
 * time.
 */
export async function openRelays(
  sources: RelaySources,
  spec: WatchSpec,
  shards: readonly number[],
  start: ReadonlyMap<number, Position>,
  deadline: number,
): Promise<Relay[]> {
  const relays: Relay[] = [];
  const failed = new Set<string>();
  let remaining = [...shards];
  let lastError: unknown;
  let compacted: ConnectError | undefined;
  try {
    while (remaining.length > 0) {
      const node = bestHolder(remaining, sources, failed);
      if (node === undefined) {
        // Every holder that answered found the start older than its history: that is the answer.
        if (compacted) throw compacted;
        const why = lastError instanceof Error ? `the last one answered: ${lastError.message}` : "no holder of them is known yet";
        throw new ConnectError(`no node holding shards ${remaining.join(",")} could relay this watch (${why}); retry`, Code.Unavailable);
      }
      const subset = remaining.filter((shard) => sources.holders(shard).includes(node));
      try {
        relays.push(await openRelay(sources, node, spec, subset, start, deadline));
        remaining = remaining.filter((shard) => !subset.includes(shard));
      } catch (err) {
        if (err instanceof ConnectError && err.code === Code.InvalidArgument) throw err;
        // A replica's history may start later than another's (it restarted, or installed a snapshot): try the others.
        if (err instanceof ConnectError && err.code === Code.OutOfRange) compacted = err;
        else lastError = err;
        failed.add(node);
      }
    }
    return relays;
  } catch (err) {
    for (const relay of relays) relay.close();
    throw err;
  }
}

/** Errors every replica gives alike: they answer the watch as they are. */
const PASSED_THROUGH = new Set([Code.OutOfRange, Code.InvalidArgument]);

/**
 * Why a relay ended, as the watch's error: an error every replica gives alike stays as it
 * is; any other failure of the holder (it stopped, its link broke) is unavailable, and the
 * client resumes from its last token.
 */
export function relayEnded(relay: Pick<Relay, "node" | "shards">, err: unknown): ConnectError {
  if (err instanceof ConnectError && (PASSED_THROUGH.has(err.code) || err.code === Code.ResourceExhausted)) return err;
  const why = err instanceof Error ? err.message : "it ended the stream";
  return new ConnectError(
    `node ${relay.node}, which relayed shards ${relay.shards.join(",")}, stopped (${why}); resume with the last resume token`,
    Code.Unavailable,
  );
}

/** The holder, not yet failed, of the most remaining shards (the first holder named breaks ties). */
function bestHolder(remaining: readonly number[], sources: RelaySources, failed: ReadonlySet<string>): string | undefined {
  const count = new Map<string, number>();
  for (const shard of remaining) {
    for (const node of sources.holders(shard)) {
      if (node !== sources.selfId && !failed.has(node) && sources.client(node)) count.set(node, (count.get(node) ?? 0) + 1);
    }
  }
  let best: string | undefined;
  for (const [node, n] of count) if (best === undefined || n > count.get(best)!) best = node;
  return best;
}

async function openRelay(
  sources: RelaySources,
  node: string,
  spec: WatchSpec,
  shards: number[],
  start: ReadonlyMap<number, Position>,
  deadline: number,
): Promise<Relay> {
  const abort = new AbortController();
  const request = {
    key: spec.key,
    prefix: spec.prefix,
    withValues: spec.withValues,
    shards,
    start: shards.flatMap((shard) => {
      const p = start.get(shard);
      return p ? [{ shard, index: BigInt(p.index), ordinal: p.ordinal }] : [];
    }),
  };
  const stream = sources.client(node)!.watch(request, { signal: abort.signal, headers: { [FORWARDED_HEADER]: sources.selfId } });
  const rest = stream[Symbol.asyncIterator]();
  const timer = setTimeout(() => abort.abort(), Math.max(0, deadline - performance.now()));
  try {
    const first = await rest.next();
    if (first.done) throw new ConnectError(`node ${node} ended the watch before its first message`, Code.Unavailable);
    return { node, shards, first: first.value, rest, close: () => abort.abort() };
  } catch (err) {
    abort.abort();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
