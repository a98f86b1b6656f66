import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain JS helper shared with `npm start`
import { NODE_MAIN, planCluster, startCluster, stopNode } from "../../../../tools/scripts/local-nodes.mjs";

/*
 * `distcache cluster ...`, built, as a child process against a real 3-node cluster: the
 * status of every shard, and a membership call whose admin token the command derives
 * from the peer secret file as the nodes do. Runs only when both are built; every node
 * is killed by PID in afterAll.
 */

interface NodeProcess {
  nodeId: string;
  pid: number;
  url: string;
}

interface StatusDocument {
  epoch: string;
  nodes: { id: string; clientAddress: string; peerAddress: string; answeredStats: boolean }[];
  shards: {
    id: number;
    leaderId: string | null;
    voters: string[];
    learners: string[];
    replicas: { nodeId: string; role: string; appliedIndex: string | null; lag: string | null }[];
  }[];
  unreachable: unknown[];
}

const CLI_MAIN = fileURLToPath(new URL("../../dist/main.js", import.meta.url));
const built = existsSync(CLI_MAIN) && existsSync(NODE_MAIN as string);
const dataRoot = mkdtempSync(join(tmpdir(), "distcache-cli-cluster-e2e-"));
const secretFile = join(dataRoot, "peer-secret");
const wrongSecretFile = join(dataRoot, "wrong-secret");
let nodes: NodeProcess[] = [];
let plan: { members: { id: string; clientPort: number; peerPort: number }[]; secret: string };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, DISTCACHE_ENDPOINTS: nodes.map((n) => n.url).join(","), DISTCACHE_ADMIN_TOKEN: "" };
    execFile(process.execPath, [CLI_MAIN, ...args], { env, timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** `cluster status --json` once every shard has a leader and every node answered Stats. */
async function settledStatus(timeoutMs = 30_000): Promise<StatusDocument> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await cli(["cluster", "status", "--json"]);
    const status = r.code === 0 ? (JSON.parse(r.stdout) as StatusDocument) : undefined;
    if (status && status.shards.every((s) => s.leaderId !== null) && status.nodes.every((n) => n.answeredStats)) return status;
    if (Date.now() > deadline) throw new Error(`the cluster did not settle: ${r.code} ${r.stdout} ${r.stderr}`);
    await sleep(250);
  }
}

describe.skipIf(!built)("distcache cluster against a real 3-node cluster", () => {
  beforeAll(async () => {
    plan = await planCluster({ count: 3 });
    writeFileSync(secretFile, `${plan.secret}\n`);
    writeFileSync(wrongSecretFile, "not-the-cluster-secret-at-all\n");
    nodes = (await startCluster(plan, { dataRoot })) as NodeProcess[];
  }, 60_000);

  afterAll(async () => {
    await Promise.all(nodes.map((n) => stopNode(n, "SIGKILL")));
    rmSync(dataRoot, { recursive: true, force: true });
  });

  it("cluster status shows every node and, per shard, a leader and each replica's applied index and lag", async () => {
    const status = await settledStatus();
    expect(status.nodes.map((n) => [n.id, n.clientAddress, n.peerAddress]).sort()).toEqual(
      plan.members.map((m) => [m.id, `127.0.0.1:${m.clientPort}`, `127.0.0.1:${m.peerPort}`]),
    );
    expect(status.unreachable).toEqual([]);
    expect(status.shards).toHaveLength(12);
    for (const shard of status.shards) {
      expect([...shard.voters].sort()).toEqual(["n1", "n2", "n3"]);
      expect(shard.learners).toEqual([]);
      expect(shard.replicas.filter((r) => r.role === "leader").map((r) => r.nodeId)).toEqual([shard.leaderId]);
      for (const replica of shard.replicas) {
        // A leader has applied at least its group's first entry; a follower may still be catching up.
        expect(BigInt(replica.appliedIndex!)).toBeGreaterThanOrEqual(replica.role === "leader" ? 1n : 0n);
        expect(BigInt(replica.lag!)).toBeGreaterThanOrEqual(0n);
      }
    }
    const table = await cli(["cluster", "status"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^epoch \d+, 12 shards, 3 nodes\n\nNODE +CLIENT ADDRESS +PEER ADDRESS +STATS\nn1 /);
    expect(table.stdout).toMatch(
      /\nSHARD +LEADER +TERM +VOTERS +LEARNERS +REPLICA +ROLE +APPLIED +LAG\n0 +n\d +\d+ +n\d,n\d,n\d +- +n\d +(leader|voter) +\d+ +\d+\n/,
    );
  }, 60_000);

  it("cluster add-node derives the admin token from the peer secret file; adding a member again answers the current epoch", async () => {
    const { epoch } = await settledStatus();
    const n1 = plan.members[0]!;
    const args = ["cluster", "add-node", "n1", `127.0.0.1:${n1.clientPort}`, `127.0.0.1:${n1.peerPort}`];
    expect(await cli([...args, "--peer-secret-file", secretFile])).toEqual({ code: 0, stdout: `${epoch}\n`, stderr: "" });
    const wrong = await cli([...args, "--peer-secret-file", wrongSecretFile]);
    expect([wrong.code, wrong.stdout]).toEqual([3, ""]);
    expect(wrong.stderr).toMatch(/^error: .*distcache-admin-token.* \(UnauthenticatedError\)\nhint: /);
    const missing = await cli(args);
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringMatching(/needs the cluster's admin token: pass --peer-secret-file/)]);
    expect((await settledStatus()).epoch).toBe(epoch);
  }, 60_000);
  it("watch --prefix --json prints each change with the token after it, and --from resumes exactly after that token", async () => {
    const watching = cli(["watch", "cw/", "--prefix", "--values", "--json", "--count", "3"]);
    await sleep(1000);
    for (const [key, value] of [
      ["cw/a", "1"],
      ["other", "x"],
      ["cw/b", "2"],
      ["cw/a", "3"],
    ]) {
      expect((await cli(["set", key!, value!])).code).toBe(0);
    }
    const done = await watching;
    expect(done.code, done.stderr).toBe(0);
    const events = done.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { type: string; key: string; text: string; resume: string });
    expect(events.map((e) => `${e.type} ${e.key}=${e.text}`)).toEqual(["put cw/a=1", "put cw/b=2", "put cw/a=3"]);
    // From the token after the first event: the two after it, nothing before.
    const resumed = await cli(["watch", "cw/", "--prefix", "--values", "--from", events[0]!.resume, "--count", "2"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(
      resumed.stdout
        .trim()
        .split("\n")
        .map((l) =>
          l
            .split("\t")
            .filter((_, i) => i !== 2)
            .join(" "),
        ),
    ).toEqual(["PUT cw/b 2", "PUT cw/a 3"]);
    const bad = await cli(["watch", "cw/", "--from", "nonsense"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/shard:index:ordinal/);
  }, 60_000);
});
