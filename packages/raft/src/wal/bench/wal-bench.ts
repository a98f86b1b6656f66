/**
 * Measures the node write-ahead log on the real file system:
 *
 *   batched     G groups x W writers per group, each writer with one proposal in
 *               flight; once per event-loop tick the host gathers every pending
 *               proposal of every group into ONE append with sync (the shape a
 *               node's Raft host uses: one Ready per group per tick, one fsync).
 *   concurrent  the same writers each call append themselves, with no host
 *               batching: the log's group commit coalesces what queues up.
 *   unbatched   one synced append per entry, one at a time (the baseline).
 *   recovery    time for NodeWal.open to replay a log of N entries.
 *
 * Build, then run:  node [--expose-gc] packages/raft/dist/wal/bench/wal-bench.js [--seconds 5]
 *   [--groups 3] [--writers 64] [--payload-bytes 16] [--recover-entries 1000000] [--dir PATH]
 */
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Entry } from "../../entry.js";
import type { LogIndex, NodeId, Term } from "../../types.js";
import { NodeWal } from "../node-wal.js";
import type { WalAppend } from "../node-wal.js";

interface BenchOptions {
  readonly seconds: number;
  readonly groups: number;
  readonly writers: number;
  readonly payloadBytes: number;
  readonly recoverEntries: number;
  readonly dir: string | undefined;
}

interface LoadResult {
  readonly entries: number;
  readonly elapsedMs: number;
  readonly fsyncs: number;
  readonly batches: number;
  readonly latenciesMs: number[];
}

const TERM = 1 as Term;
const LEADER = "n1" as NodeId;

function options(): BenchOptions {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "5" },
      groups: { type: "string", default: "3" },
      writers: { type: "string", default: "64" },
      "payload-bytes": { type: "string", default: "16" },
      "recover-entries": { type: "string", default: "1000000" },
      dir: { type: "string" },
    },
  });
  return {
    seconds: Number(values.seconds),
    groups: Number(values.groups),
    writers: Number(values.writers),
    payloadBytes: Number(values["payload-bytes"]),
    recoverEntries: Number(values["recover-entries"]),
    dir: values.dir,
  };
}

function entry(index: number, payload: Uint8Array): Entry {
  return { term: TERM, index: index as LogIndex, kind: "command", data: payload };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/** One append per tick carrying every group's pending proposals (and hard state), synced. */
async function runBatched(wal: NodeWal, bench: BenchOptions): Promise<LoadResult> {
  const payload = new Uint8Array(bench.payloadBytes).fill(7);
  const lastIndex = new Map<number, number>();
  for (let group = 1; group <= bench.groups; group++) lastIndex.set(group, wal.storage(group).lastIndex());
  let pending: Array<{ group: number; resolve: () => void }> = [];
  let stopped = false;
  let entries = 0;
  const latenciesMs: number[] = [];
  const writer = async (group: number): Promise<void> => {
    while (!stopped) {
      await new Promise<void>((resolve) => pending.push({ group, resolve }));
      entries += 1;
    }
  };
  const host = async (): Promise<void> => {
    while (!stopped || pending.length > 0) {
      await new Promise((resolve) => setImmediate(resolve));
      if (pending.length === 0) continue;
      const taken = pending;
      pending = [];
      const byGroup = new Map<number, Entry[]>();
      for (const { group } of taken) {
        const index = lastIndex.get(group)! + 1;
        lastIndex.set(group, index);
        let list = byGroup.get(group);
        if (list === undefined) byGroup.set(group, (list = []));
        list.push(entry(index, payload));
      }
      const batch: WalAppend[] = [...byGroup].map(([group, list]) => ({
        group,
        entries: list,
        hardState: { term: TERM, vote: LEADER, commit: (list[0]!.index - 1) as LogIndex },
      }));
      const started = performance.now();
      await wal.append(batch, true);
      latenciesMs.push(performance.now() - started);
      for (const proposal of taken) proposal.resolve();
    }
  };
  return measure(
    wal,
    bench.seconds,
    () => stop(),
    latenciesMs,
    () => entries,
    async () => {
      const writers: Promise<void>[] = [];
      for (let group = 1; group <= bench.groups; group++) for (let i = 0; i < bench.writers; i++) writers.push(writer(group));
      await Promise.all([host(), ...writers]);
    },
  );
  function stop(): void {
    stopped = true;
  }
}

/** Every writer appends its own entry; only the log's group commit batches them. */
async function runConcurrent(wal: NodeWal, bench: BenchOptions): Promise<LoadResult> {
  const payload = new Uint8Array(bench.payloadBytes).fill(7);
  let stopped = false;
  let entries = 0;
  const latenciesMs: number[] = [];
  const writer = async (group: number): Promise<void> => {
    const storage = wal.storage(group);
    while (!stopped) {
      const started = performance.now();
      await wal.append([{ group, entries: [entry(storage.lastIndex() + 1, payload)] }], true);
      latenciesMs.push(performance.now() - started);
      entries += 1;
    }
  };
  return measure(
    wal,
    bench.seconds,
    () => (stopped = true),
    latenciesMs,
    () => entries,
    async () => {
      const writers: Promise<void>[] = [];
      for (let group = 1; group <= bench.groups; group++) for (let i = 0; i < bench.writers; i++) writers.push(writer(group));
      await Promise.all(writers);
    },
  );
}

/** One synced append per entry, one at a time. */
async function runUnbatched(wal: NodeWal, bench: BenchOptions): Promise<LoadResult> {
  const payload = new Uint8Array(bench.payloadBytes).fill(7);
  let stopped = false;
  let entries = 0;
  const latenciesMs: number[] = [];
  return measure(
    wal,
    Math.min(bench.seconds, 3),
    () => (stopped = true),
    latenciesMs,
    () => entries,
    async () => {
      for (let i = 0; !stopped; i++) {
        const group = 1 + (i % bench.groups);
        const started = performance.now();
        await wal.append([{ group, entries: [entry(wal.storage(group).lastIndex() + 1, payload)] }], true);
        latenciesMs.push(performance.now() - started);
        entries += 1;
      }
    },
  );
}

async function measure(
  wal: NodeWal,
  seconds: number,
  stop: () => void,
  latenciesMs: number[],
  entries: () => number,
  run: () => Promise<void>,
): Promise<LoadResult> {
  const fsyncs = wal.stats.fsyncs;
  const batches = wal.stats.batches;
  const started = performance.now();
  const timer = setTimeout(stop, seconds * 1000);
  await run();
  clearTimeout(timer);
  return { entries: entries(), elapsedMs: performance.now() - started, fsyncs: wal.stats.fsyncs - fsyncs, batches: wal.stats.batches - batches, latenciesMs };
}

function report(name: string, result: LoadResult): void {
  const sorted = [...result.latenciesMs].sort((a, b) => a - b);
  const perSecond = (result.entries / result.elapsedMs) * 1000;
  const p50 = percentile(sorted, 50).toFixed(2);
  const p99 = percentile(sorted, 99).toFixed(2);
  console.log(
    `${name.padEnd(10)} entries=${result.entries} in ${(result.elapsedMs / 1000).toFixed(1)} s  entries/s=${perSecond.toFixed(0)}  ` +
      `fsyncs=${result.fsyncs}  fsyncs/entry=${(result.fsyncs / Math.max(1, result.entries)).toFixed(4)}  ` +
      `entries/flush=${(result.entries / Math.max(1, result.batches)).toFixed(1)}  append ms p50=${p50} p99=${p99}`,
  );
}

/** Writes `total` entries across the groups in per-tick-sized appends (unsynced, one sync at the end). */
async function writeForRecovery(dir: string, bench: BenchOptions): Promise<void> {
  const wal = await NodeWal.open(dir);
  const payload = new Uint8Array(bench.payloadBytes).fill(9);
  const perAppend = bench.writers;
  let written = 0;
  for (let next = 1; written < bench.recoverEntries; next += perAppend) {
    const batch: WalAppend[] = [];
    for (let group = 1; group <= bench.groups && written < bench.recoverEntries; group++) {
      const count = Math.min(perAppend, bench.recoverEntries - written);
      const list: Entry[] = [];
      for (let i = 0; i < count; i++) list.push(entry(next + i, payload));
      batch.push({ group, entries: list, hardState: { term: TERM, vote: LEADER, commit: (next - 1) as LogIndex } });
      written += count;
    }
    await wal.append(batch, false);
  }
  await wal.close();
}

async function runRecovery(dir: string, bench: BenchOptions): Promise<void> {
  await writeForRecovery(dir, bench);
  const names = (await readdir(dir)).filter((name) => name.startsWith("wal-"));
  let bytes = 0;
  for (const name of names) bytes += (await stat(join(dir, name))).size;
  // With --expose-gc the heap growth is what the recovered log retains; without, it is not reported.
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  const wal = await NodeWal.open(dir);
  const elapsedMs = performance.now() - started;
  gc?.();
  const heap = gc === undefined ? "" : `  retained heap ${((process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024).toFixed(0)} MiB`;
  let recovered = 0;
  for (const group of wal.groups()) recovered += wal.storage(group).lastIndex();
  await wal.close();
  const logMib = (bytes / 1024 / 1024).toFixed(1);
  console.log(
    `recovery   entries=${recovered} groups=${bench.groups} payload=${bench.payloadBytes} B  log=${logMib} MiB in ${names.length} segment(s)  ` +
      `open=${elapsedMs.toFixed(0)} ms  (${(((recovered / elapsedMs) * 1000) / 1e6).toFixed(2)} M entries/s, page cache warm)${heap}`,
  );
}

async function main(): Promise<void> {
  const bench = options();
  const root = bench.dir ?? (await mkdtemp(join(tmpdir(), "distcache-wal-bench-")));
  console.log(`wal-bench  node ${process.version}  dir=${root}  groups=${bench.groups} writers/group=${bench.writers} payload=${bench.payloadBytes} B`);
  try {
    for (const [name, run] of [
      ["batched", runBatched],
      ["concurrent", runConcurrent],
      ["unbatched", runUnbatched],
    ] as const) {
      const dir = join(root, name);
      const wal = await NodeWal.open(dir);
      report(name, await run(wal, bench));
      await wal.close();
    }
    await runRecovery(join(root, "recovery"), bench);
  } finally {
    if (bench.dir === undefined) await rm(root, { recursive: true, force: true });
  }
}

await main();
