import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CacheService, Consistency } from "@distcache/proto";
import { Ring } from "@distcache/ring";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// @ts-expect-error plain JS helper shared with `npm start`
import { freePorts, planCluster, startCluster, startMember, startNode, stopNode } from "../../../../tools/scripts/local-nodes.mjs";

export interface NodeProcess {
  nodeId: string;
  pid: number;
  url: string;
  child: ChildProcess;
  /** The node's log lines at warn and above, the latest 2000. */
  warnings: string[];
}

export const SHARDS = 12;
export const ring = new Ring(Array.from({ length: SHARDS }, (_, i) => i));

/** A key that the ring maps to `shard`. */
export function keyForShard(shard: number, prefix = "k"): string {
  for (let i = 0; ; i++) if (ring.shardFor(`${prefix}${i}`) === shard) return `${prefix}${i}`;
}

/**
 * A 3-node cluster of real processes on 127.0.0.1, with clients for each node. Every
 * process it starts is tracked by PID and killed by `destroy`.
 */
export class TestCluster {
  readonly nodes = new Map<string, NodeProcess>();
  private readonly all: NodeProcess[] = [];
  private readonly dataRoot = mkdtempSync(join(tmpdir(), "distcache-cluster-"));
  private plan: { members: { id: string; clientPort: number; peerPort: number }[] } | undefined;
  /** Flags every node starts (and restarts) with. */
  private args: string[] = [];
  /** Extra flags of single nodes, after the common ones. */
  private nodeArgs: Record<string, string[]> = {};
  /** Nodes started with --join: their client port and flags. */
  private joiners = new Map<string, { port: number; args: string[] }>();

  static async start(count = 3, args: string[] = [], nodeArgs: Record<string, string[]> = {}): Promise<TestCluster> {
    const cluster = new TestCluster();
    const plan = (cluster.plan = (await planCluster({ count })) as { members: { id: string; clientPort: number; peerPort: number }[] });
    cluster.args = ["--raft-tick-ms", "50", ...args];
    cluster.nodeArgs = nodeArgs;
    if (Object.keys(nodeArgs).length === 0) {
      const nodes = (await startCluster(cluster.plan, { dataRoot: cluster.dataRoot, args: cluster.args })) as NodeProcess[];
      for (const n of nodes) cluster.track(n);
    } else {
      const started = await Promise.allSettled(plan.members.map((m) => cluster.restart(m.id)));
      const failed = started.find((r) => r.status === "rejected");
      if (failed) {
        await cluster.destroy();
        throw failed.reason;
      }
    }
    return cluster;
  }

  private track(node: NodeProcess): void {
    this.nodes.set(node.nodeId, node);
    this.all.push(node);
  }

  client(id: string): Client<typeof CacheService> {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return createClient(CacheService, createConnectTransport({ baseUrl: node.url, httpVersion: "1.1" }));
  }

  /** The leader of a shard as reported by the live nodes, once they agree on one. */
  async leaderOf(shard: number, timeoutMs = 10_000, exclude?: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = new Set<string>();
      for (const id of this.nodes.keys()) {
        if (id === exclude) continue;
        try {
          const stats = await this.client(id).stats({}, { timeoutMs: 1000 });
          const leader = stats.shards.find((s) => s.shard === shard)?.leaderId;
          if (leader && leader !== exclude) seen.add(leader);
        } catch {
          // a stopped node
        }
      }
      if (seen.size === 1) return [...seen][0]!;
      if (Date.now() > deadline) throw new Error(`no agreed leader for shard ${shard} (saw ${[...seen].join(", ") || "none"})`);
      await sleep(50);
    }
  }

  /** Where node `id` keeps its data (its write-ahead log and snapshots). */
  dataDir(id: string): string {
    return join(this.dataRoot, id);
  }

  /** The peer secret every node was started with. */
  secret(): string {
    return (this.plan as unknown as { secret: string }).secret;
  }

  /** The data dir incarnation node `id` presents at peer handshakes (from its identity.json). */
  incarnation(id: string): Buffer {
    const identity = JSON.parse(readFileSync(join(this.dataDir(id), "identity.json"), "utf8")) as { incarnation: string };
    return Buffer.from(identity.incarnation, "hex");
  }

  peerPort(id: string): number {
    return this.plan!.members.find((m) => m.id === id)!.peerPort;
  }

  /** A counter of a node's multi-Raft driver (distcache_raft_driver in /metrics); 0 when absent. */
  async driverCounter(id: string, counter: string): Promise<number> {
    const body = await (await fetch(`${this.nodes.get(id)!.url}/metrics`)).text();
    const line = body.split("\n").find((l) => l.startsWith(`distcache_raft_driver{counter="${counter}"}`));
    return line ? Number(line.split(" ").pop()) : 0;
  }

  /** Stops a node with signal (SIGKILL by default) and waits for it to exit. */
  async kill(id: string, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    await stopNode(this.nodes.get(id)!, signal);
  }

  /** SIGSTOP / SIGCONT: the process freezes with its sockets open, like a long GC pause. */
  pause(id: string): void {
    process.kill(this.nodes.get(id)!.pid, "SIGSTOP");
  }

  resume(id: string): void {
    process.kill(this.nodes.get(id)!.pid, "SIGCONT");
  }

  /**
   * Starts a new node `id` with --join through node `via` (its own free ports, the
   * cluster's secret), resolving once it serves; restart(id) starts it again alike.
   */
  async join(id: string, via: string): Promise<NodeProcess> {
    const [port, peerPort] = (await freePorts(2)) as number[];
    const args = [...this.args, "--peer-port", String(peerPort), "--join", this.nodes.get(via)!.url, "--peer-secret", this.secret()];
    this.joiners.set(id, { port: port!, args: [...args, ...(this.nodeArgs[id] ?? [])] });
    return this.restart(id);
  }

  async restart(id: string): Promise<NodeProcess> {
    const joiner = this.joiners.get(id);
    if (joiner) {
      const node = (await startNode({ nodeId: id, dataDir: this.dataDir(id), port: joiner.port, args: joiner.args, startTimeoutMs: 60_000 })) as NodeProcess;
      this.track(node);
      return node;
    }
    const node = (await startMember(this.plan, id, { dataRoot: this.dataRoot, args: [...this.args, ...(this.nodeArgs[id] ?? [])] })) as NodeProcess;
    this.track(node);
    return node;
  }

  /** Kills every process this cluster started, by PID, and removes its data. */
  async destroy(): Promise<void> {
    for (const node of this.all) {
      try {
        process.kill(node.pid, "SIGCONT");
      } catch {
        // already gone
      }
    }
    await Promise.all(this.all.map((n) => stopNode(n, "SIGKILL")));
    rmSync(this.dataRoot, { recursive: true, force: true });
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const STRONG = Consistency.STRONG;
export const EVENTUAL = Consistency.EVENTUAL;

/** True for errors that say "try again" (no leader yet, leader moved, timeout). */
export function retryable(err: unknown): boolean {
  const code = ConnectError.from(err).code;
  return code === Code.Unavailable || code === Code.FailedPrecondition || code === Code.DeadlineExceeded || code === Code.Canceled || code === Code.Aborted;
}

/**
 * Runs `call` until it succeeds, retrying (after 100 ms) while it fails with a retryable error,
 * e.g. while shards a killed node led are still electing. Only for idempotent calls.
 */
export async function retrying<T>(call: () => Promise<T>, attempts = 100): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!retryable(err) || attempt >= attempts) throw err;
      await sleep(100);
    }
  }
}

export function text(value: string) {
  return { case: "text" as const, value };
}
