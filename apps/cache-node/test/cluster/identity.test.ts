import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain JS helper shared with `npm start`
import { freePorts, planCluster, startCluster, startMember, startNode, stopNode } from "../../../../tools/scripts/local-nodes.mjs";

/*
 * A data dir remembers what it was bootstrapped for. A node restarted with another
 * --shards or --replicas refuses to start, and a node of another cluster (same secret,
 * other cluster id) is refused at the peer handshake, with the reason logged on both sides.
 */

interface Node {
  nodeId: string;
  pid: number;
  child: { exitCode: number | null };
}
interface Plan {
  members: { id: string; clientPort: number; peerPort: number }[];
  initialCluster: string;
  secret: string;
}

const root = mkdtempSync(join(tmpdir(), "distcache-identity-"));
const dataRoot = join(root, "a");
const started: Node[] = [];
const logs = new Map<string, string[]>();
let plan: Plan;
const ARGS = ["--raft-tick-ms", "50"];

function logOf(key: string): string[] {
  let lines = logs.get(key);
  if (!lines) logs.set(key, (lines = []));
  return lines;
}

beforeAll(async () => {
  plan = (await planCluster({ count: 3 })) as Plan;
  const nodes = (await startCluster(plan, { dataRoot, args: ARGS, onLog: (id: string, line: string) => logOf(`a/${id}`).push(line) })) as Node[];
  started.push(...nodes);
}, 60_000);

afterAll(async () => {
  await Promise.all(started.map((n) => stopNode(n, "SIGKILL")));
  rmSync(root, { recursive: true, force: true });
});

/** Starts n3 of cluster A again with extra flags; resolves with how the start failed. */
async function restartN3(extra: string[]): Promise<string> {
  const n3 = started.find((n) => n.nodeId === "n3" && n.child.exitCode === null);
  if (n3) await stopNode(n3, "SIGTERM");
  try {
    const node = (await startMember(plan, "n3", { dataRoot, args: [...ARGS, ...extra] })) as Node;
    started.push(node);
    return "started";
  } catch (err) {
    return (err as Error).message;
  }
}

describe("a data dir's identity", () => {
  it("records the cluster id, shards and replicas at bootstrap", () => {
    const identity = JSON.parse(readFileSync(join(dataRoot, "n1", "identity.json"), "utf8")) as Record<string, unknown>;
    expect(identity).toMatchObject({ format: 1, nodeId: "n1", members: ["n1", "n2", "n3"], shards: 12, replicas: 3 });
    const other = JSON.parse(readFileSync(join(dataRoot, "n2", "identity.json"), "utf8")) as Record<string, unknown>;
    // Every node of the cluster derived the same id, with no coordinator.
    expect(other["clusterId"]).toBe(identity["clusterId"]);
  });

  it("a node restarted with another --shards refuses to start, naming the difference", async () => {
    const outcome = await restartN3(["--shards", "8"]);
    expect(outcome).toMatch(/exited during start \(code [1-9]\d*,/);
    expect(outcome).toContain("--shards 8 differs from the data dir's 12 (set at bootstrap)");
  }, 60_000);

  it("a node restarted with another --replicas refuses to start, naming the difference", async () => {
    const outcome = await restartN3(["--replicas", "2"]);
    expect(outcome).toMatch(/exited during start \(code [1-9]\d*,/);
    expect(outcome).toContain("--replicas 2 differs from the data dir's 3 (set at bootstrap)");
  }, 60_000);

  it("restarted with its own flags, it starts again", async () => {
    expect(await restartN3([])).toBe("started");
  }, 60_000);
});

describe("a node of another cluster", () => {
  it("is refused at the handshake, with the reason logged on both sides", async () => {
    // Cluster B: the same ids and secret, but 6 shards, so another cluster id. Its n3
    // lists cluster A's n1 and n2 as its peers and dials them.
    const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
    const a = (id: string) => plan.members.find((m) => m.id === id)!;
    const initialCluster = [
      `n1=127.0.0.1:${a("n1").clientPort}/127.0.0.1:${a("n1").peerPort}`,
      `n2=127.0.0.1:${a("n2").clientPort}/127.0.0.1:${a("n2").peerPort}`,
      `n3=127.0.0.1:${clientPort}/127.0.0.1:${peerPort}`,
    ].join(",");
    const stranger = (await startNode({
      nodeId: "n3",
      port: clientPort,
      dataDir: join(root, "b", "n3"),
      args: [...ARGS, "--initial-cluster", initialCluster, "--peer-secret", plan.secret, "--shards", "6"],
      onLog: (line: string) => logOf("b/n3").push(line),
    })) as Node;
    started.push(stranger);
    const idA = (JSON.parse(readFileSync(join(dataRoot, "n1", "identity.json"), "utf8")) as { clusterId: string }).clusterId;
    const idB = (JSON.parse(readFileSync(join(root, "b", "n3", "identity.json"), "utf8")) as { clusterId: string }).clusterId;
    expect(idB).not.toBe(idA);

    const dialerSide = `refusing to connect: peer n1 belongs to cluster ${idA}, this node to cluster ${idB}`;
    const listenerSide = `refusing an inbound peer connection: peer n3 belongs to cluster ${idB}, this node to cluster ${idA}`;
    const deadline = Date.now() + 20_000;
    const seen = () => logOf("b/n3").some((l) => l.includes(dialerSide)) && logOf("a/n1").some((l) => l.includes(listenerSide));
    while (!seen() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(logOf("b/n3").find((l) => l.includes(dialerSide))).toBeDefined();
    expect(logOf("a/n1").find((l) => l.includes(listenerSide))).toBeDefined();
    // Logged at error.
    expect(JSON.parse(logOf("a/n1").find((l) => l.includes(listenerSide))!) as { level: number }).toMatchObject({ level: 50 });

    // Cluster A still serves: a write through n1 commits.
    const response = await fetch(`http://127.0.0.1:${a("n1").clientPort}/distcache.v1.CacheService/Set`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: "after-stranger", text: "ok" }),
    });
    expect(response.status).toBe(200);
  }, 60_000);
});

describe("a member whose data dir was wiped", () => {
  it("is refused at the handshake under its old id, with the reason logged at error", async () => {
    const n3 = started.find((n) => n.nodeId === "n3" && n.child.exitCode === null);
    if (n3) await stopNode(n3, "SIGKILL");
    rmSync(join(dataRoot, "n3"), { recursive: true, force: true });
    // It cannot tell by itself: its flags are those of a first start.
    expect(await restartN3([])).toBe("started");
    const refusal = "peer n3 presents data dir incarnation";
    const deadline = Date.now() + 20_000;
    while (!logOf("a/n1").some((l) => l.includes(refusal)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const line = logOf("a/n1").find((l) => l.includes(refusal));
    expect(line).toBeDefined();
    expect(JSON.parse(line!) as { level: number; msg: string }).toMatchObject({
      level: 50,
      msg: expect.stringContaining("its data dir was wiped or replaced"),
    });
    // The others still serve.
    const a = (id: string) => plan.members.find((m) => m.id === id)!;
    const response = await fetch(`http://127.0.0.1:${a("n2").clientPort}/distcache.v1.CacheService/Set`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: "after-wipe", text: "ok" }),
    });
    expect(response.status).toBe(200);
  }, 60_000);
});
