import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCacheClient } from "@distcache/client";
import { afterAll, describe, expect, it } from "vitest";
import { FakeCluster, fakeTime } from "../../client/src/testing/fake-cluster.js";
import { runCli } from "./run-cli.js";

/*
 * `distcache cluster ...` run in-process against the SDK's fake cluster: real SDK calls
 * over in-memory Connect transports, the admin token checked by the fake nodes.
 */

const SECRET = "correct-horse-battery-staple-42";
/** printf distcache-cluster-admin-v1 | openssl dgst -sha256 -hmac correct-horse-battery-staple-42 */
const TOKEN = "123dbec4622457ae79dcc319669be49794bd320363735a6ed73f2e88e59289cd";
const ENDPOINTS = { DISTCACHE_ENDPOINTS: "http://10.0.0.1:7301" };

const dir = mkdtempSync(join(tmpdir(), "distcache-cli-cluster-"));
const secretFile = join(dir, "peer-secret");
// Nodes trim the file's text: so must the command.
writeFileSync(secretFile, `  ${SECRET}\n`);
const wrongSecretFile = join(dir, "wrong-secret");
writeFileSync(wrongSecretFile, "another-secret-of-some-length\n");
const emptyFile = join(dir, "empty");
writeFileSync(emptyFile, " \n");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(cluster: FakeCluster, argv: string[], env: Record<string, string> = ENDPOINTS) {
  const time = fakeTime();
  const connects: unknown[] = [];
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, {
    connect: ({ endpoints, timeoutMs }) => {
      connects.push(endpoints);
      return createCacheClient({ transport: cluster.transport, seeds: endpoints, timeoutMs, clock: time.clock, sleep: time.sleep, watchTopology: false });
    },
    env,
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
  });
  return { code, stdout, stderr, connects };
}

function adminCluster(): FakeCluster {
  const cluster = new FakeCluster({ shardCount: 3 });
  cluster.adminToken = TOKEN;
  return cluster;
}

describe("the admin token", () => {
  it("the fixed vector is HMAC-SHA256 of the label keyed by the secret", () => {
    expect(createHmac("sha256", SECRET).update("distcache-cluster-admin-v1").digest("hex")).toBe(TOKEN);
  });

  it.each([
    ["--peer-secret-file", ["--peer-secret-file", secretFile], {}],
    ["--admin-token", ["--admin-token", TOKEN.toUpperCase()], {}],
    ["DISTCACHE_ADMIN_TOKEN", [], { DISTCACHE_ADMIN_TOKEN: TOKEN }],
    ["--admin-token over the environment", ["--admin-token", TOKEN], { DISTCACHE_ADMIN_TOKEN: "0".repeat(64) }],
  ])("comes from %s and reaches the node as derived there", async (_, flags, env) => {
    const cluster = adminCluster();
    const r = await run(cluster, ["cluster", "add-node", "n4", "10.0.0.4:7301", "10.0.0.4:7401", ...flags], { ...ENDPOINTS, ...env });
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "2\n", ""]);
    expect(cluster.callsTo("addNode").map((c) => c.adminToken)).toEqual([TOKEN]);
    expect(cluster.added.get("n4")).toEqual({ clientAddress: "10.0.0.4:7301", peerAddress: "10.0.0.4:7401", leaving: false });
  });

  it("a token the cluster refuses exits 3 with the node's message and how to supply the right one", async () => {
    const cluster = adminCluster();
    const r = await run(cluster, ["cluster", "remove-node", "n2", "--peer-secret-file", wrongSecretFile]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^error: AddNode and RemoveNode need the distcache-admin-token header \(UnauthenticatedError\)\nhint: .*--peer-secret-file/);
    expect(cluster.leaving.size).toBe(0);
    expect(cluster.callsTo("removeNode")).toHaveLength(1);
  });

  /** [argv, what stderr says]: usage errors exit 2 and never connect. */
  const USAGE: [string[], RegExp, Record<string, string>?][] = [
    [
      ["cluster", "add-node", "n4", "10.0.0.4:7301", "10.0.0.4:7401"],
      /needs the cluster's admin token: pass --peer-secret-file .*--admin-token .*DISTCACHE_ADMIN_TOKEN/,
    ],
    [["cluster", "remove-node", "n4"], /needs the cluster's admin token: pass --peer-secret-file/],
    [["cluster", "remove-node", "n4"], /needs the cluster's admin token/, { DISTCACHE_ADMIN_TOKEN: "  " }],
    [["cluster", "remove-node", "n4", "--admin-token", TOKEN, "--peer-secret-file", secretFile], /--admin-token and --peer-secret-file cannot be combined/],
    [["cluster", "remove-node", "n4", "--admin-token", "c0ffee"], /--admin-token.*expected 64 hex digits, got 6 characters/],
    [["cluster", "remove-node", "n4"], /DISTCACHE_ADMIN_TOKEN: expected 64 hex digits/, { DISTCACHE_ADMIN_TOKEN: "not-a-token" }],
    [["cluster", "remove-node", "n4", "--peer-secret-file", join(dir, "absent")], /--peer-secret-file: cannot read .*absent: ENOENT/],
    [["cluster", "remove-node", "n4", "--peer-secret-file", emptyFile], /--peer-secret-file: .*empty is empty/],
    [["cluster", "remove-node", "bad/id", "--admin-token", TOKEN], /id: expected a node id/],
    [["cluster", "add-node", "n4", "10.0.0.4", "10.0.0.4:7401", "--admin-token", TOKEN], /client-address: expected host:port/],
    [["cluster", "add-node", "n4", "10.0.0.4:7301", "http://10.0.0.4:7401", "--admin-token", TOKEN], /peer-address: expected host:port/],
    [["cluster", "add-node", "n4", "10.0.0.4:7301", "10.0.0.4:0", "--admin-token", TOKEN], /peer-address: expected host:port/],
    [["cluster", "add-node", "n4", "10.0.0.4:7301"], /missing required argument 'peer-address'/],
    [["cluster", "remove-node"], /missing required argument 'id'/],
    [["cluster", "transfer-leader", "x"], /expected a shard number/],
    [["cluster", "nope"], /unknown command 'nope'/],
    [["cluster"], /Usage: distcache cluster/],
  ];

  it.each(USAGE)("%j is a usage error", async (argv, message, env = {}) => {
    const r = await run(adminCluster(), argv, { ...ENDPOINTS, ...env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.connects).toEqual([]);
  });

  it("never prints the token or the secret in an error", async () => {
    const r = await run(adminCluster(), ["cluster", "remove-node", "n4", "--admin-token", `${TOKEN}0`]);
    expect([r.code, r.stderr]).toEqual([2, "error: --admin-token: expected 64 hex digits, got 65 characters (Error)\n"]);
    const env = await run(adminCluster(), ["cluster", "remove-node", "n4"], { ...ENDPOINTS, DISTCACHE_ADMIN_TOKEN: SECRET });
    expect([env.code, env.stderr]).toEqual([2, "error: DISTCACHE_ADMIN_TOKEN: expected 64 hex digits, got 31 characters (Error)\n"]);
  });
});

describe("membership changes", () => {
  it("print the epoch, as JSON with --json, and a repeat answers the same epoch", async () => {
    const cluster = adminCluster();
    const flags = ["--peer-secret-file", secretFile];
    expect((await run(cluster, ["cluster", "add-node", "n4", "10.0.0.4:7301", "10.0.0.4:7401", ...flags, "--json"])).stdout).toBe(
      '{"nodeId":"n4","epoch":"2"}\n',
    );
    expect((await run(cluster, ["cluster", "add-node", "n4", "10.0.0.4:7301", "10.0.0.4:7401", ...flags])).stdout).toBe("2\n");
    expect((await run(cluster, ["cluster", "remove-node", "n4", ...flags])).stdout).toBe("3\n");
    expect((await run(cluster, ["--endpoints", "http://10.0.0.2:7301", "cluster", "remove-node", "n4", ...flags], {})).stdout).toBe("3\n");
    expect(cluster.callsTo("removeNode").map((c) => c.nodeId)).toEqual(["n1", "n2"]);
    expect(cluster.added.get("n4")?.leaving).toBe(true);
  });

  it("a refusal of the cluster exits 3 with its class", async () => {
    const cluster = adminCluster();
    const other = await run(cluster, ["cluster", "add-node", "n2", "10.0.0.9:7301", "10.0.0.9:7401", "--admin-token", TOKEN]);
    expect([other.code, other.stdout, other.stderr]).toEqual([3, "", "error: node n2 is a member already, with other addresses or leaving (ServerError)\n"]);
    const unknown = await run(cluster, ["cluster", "remove-node", "n9", "--admin-token", TOKEN]);
    expect([unknown.code, unknown.stderr]).toEqual([3, "error: node n9 is not a member (ServerError)\n"]);
    cluster.adminToken = "";
    const open = await run(cluster, ["cluster", "remove-node", "n2", "--admin-token", TOKEN]);
    expect([open.code, open.stderr]).toEqual([3, "error: this node runs without a peer secret, so its membership cannot change (ServerError)\n"]);
  });
});

/** Three nodes, three shards: shard 1 has a learner (n3), shard 0 runs in term 4; n3 does not answer. */
function statusCluster(): FakeCluster {
  const cluster = new FakeCluster({ shardCount: 3 });
  cluster.setPlacement(1, ["n1", "n2"], ["n3"]);
  cluster.setTerm(0, 4n);
  for (const [node, shard, index] of [
    ["n1", 0, 120n],
    ["n2", 0, 117n],
    ["n3", 0, 120n],
    ["n1", 1, 40n],
    ["n2", 1, 41n],
    ["n1", 2, 9n],
    ["n2", 2, 9n],
  ] as const)
    cluster.setAppliedIndex(node, shard, index);
  cluster.beforeNext("n3", "stats", () => void cluster.down.add("n3"));
  return cluster;
}

describe("cluster status", () => {
  it("prints the nodes, then per shard its leader, term, voters, learners and each replica's applied index and lag", async () => {
    const r = await run(statusCluster(), ["cluster", "status"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toBe(
      [
        "epoch 1, 3 shards, 3 nodes",
        "",
        "NODE  CLIENT ADDRESS  PEER ADDRESS   STATS",
        "n1    10.0.0.1:7301   10.0.0.1:7401  ok",
        "n2    10.0.0.2:7301   10.0.0.2:7401  ok",
        "n3    10.0.0.3:7301   10.0.0.3:7401  -",
        "",
        "SHARD  LEADER  TERM  VOTERS    LEARNERS  REPLICA  ROLE     APPLIED  LAG",
        "0      n1      4     n1,n2,n3  -         n1       leader   120      0",
        "                                         n2       voter    117      3",
        "                                         n3       voter    -        -",
        "1      n2      1     n1,n2     n3        n1       voter    40       1",
        "                                         n2       leader   41       0",
        "                                         n3       learner  -        -",
        // n3 leads shard 2 but did not answer: no lag can be computed.
        "2      n3      1     n1,n2,n3  -         n1       voter    9        -",
        "                                         n2       voter    9        -",
        "                                         n3       leader   -        -",
        "",
        "notes:",
        "  n3 did not answer Stats: connect ECONNREFUSED 10.0.0.3:7301",
        "",
      ].join("\n"),
    );
  });

  it("prints one JSON document with --json, 64-bit numbers as strings", async () => {
    const r = await run(statusCluster(), ["cluster", "status", "--json", "--endpoints", "http://10.0.0.2:7301"], {});
    expect(r.code).toBe(0);
    expect(r.stdout.endsWith("}\n") && r.stdout.indexOf("\n") === r.stdout.length - 1).toBe(true);
    const replica = (nodeId: string, role: string, appliedIndex: string | null, lag: string | null) => ({ nodeId, role, appliedIndex, lag });
    expect(JSON.parse(r.stdout)).toEqual({
      epoch: "1",
      shardCount: 3,
      nodes: [
        { id: "n1", clientAddress: "10.0.0.1:7301", peerAddress: "10.0.0.1:7401", answeredStats: true },
        { id: "n2", clientAddress: "10.0.0.2:7301", peerAddress: "10.0.0.2:7401", answeredStats: true },
        { id: "n3", clientAddress: "10.0.0.3:7301", peerAddress: "10.0.0.3:7401", answeredStats: false },
      ],
      shards: [
        {
          id: 0,
          leaderId: "n1",
          term: "4",
          voters: ["n1", "n2", "n3"],
          learners: [],
          replicas: [replica("n1", "leader", "120", "0"), replica("n2", "voter", "117", "3"), replica("n3", "voter", null, null)],
        },
        {
          id: 1,
          leaderId: "n2",
          term: "1",
          voters: ["n1", "n2"],
          learners: ["n3"],
          replicas: [replica("n1", "voter", "40", "1"), replica("n2", "leader", "41", "0"), replica("n3", "learner", null, null)],
        },
        {
          id: 2,
          leaderId: "n3",
          term: "1",
          voters: ["n1", "n2", "n3"],
          learners: [],
          replicas: [replica("n1", "voter", "9", null), replica("n2", "voter", "9", null), replica("n3", "leader", null, null)],
        },
      ],
      unreachable: [{ nodeId: "n3", address: "10.0.0.3:7301", error: "connect ECONNREFUSED 10.0.0.3:7301" }],
    });
  });

  it("notes a replica its answering node did not report, and shows a shard without a leader", async () => {
    const cluster = new FakeCluster({ nodeIds: ["n1", "n2"], shardCount: 2 });
    cluster.setLeader(0, undefined);
    cluster.setPlacement(1, ["n1"], ["n2"]);
    cluster.setAppliedIndex("n1", 0, 5n);
    cluster.setAppliedIndex("n2", 0, 4n);
    cluster.setAppliedIndex("n1", 1, 8n);
    // The learner is gone by the time n2 answers Stats.
    cluster.beforeNext("n2", "stats", () => cluster.setPlacement(1, ["n1"], []));
    const r = await run(cluster, ["cluster", "status"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toBe(
      [
        "epoch 1, 2 shards, 2 nodes",
        "",
        "NODE  CLIENT ADDRESS  PEER ADDRESS   STATS",
        "n1    10.0.0.1:7301   10.0.0.1:7401  ok",
        "n2    10.0.0.2:7301   10.0.0.2:7401  ok",
        "",
        "SHARD  LEADER  TERM  VOTERS  LEARNERS  REPLICA  ROLE     APPLIED  LAG",
        "0      (none)  1     n1,n2   -         n1       voter    5        -",
        "                                       n2       voter    4        -",
        "1      n2      1     n1      n2        n1       voter    8        -",
        "                                       n2       learner  -        -",
        "",
        "notes:",
        "  n2 reported no replica of shard(s) 1 (not created there yet, or removed)",
        "",
      ].join("\n"),
    );
  });

  it("exits 3 when no node answered Stats, after printing what the topology says", async () => {
    const cluster = new FakeCluster({ shardCount: 1 });
    for (const id of cluster.nodeIds) cluster.beforeNext(id, "stats", () => void cluster.down.add(id));
    const r = await run(cluster, ["cluster", "status"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe("error: no node answered Stats\n");
    expect(r.stdout).toContain(
      [
        "SHARD  LEADER  TERM  VOTERS    LEARNERS  REPLICA  ROLE    APPLIED  LAG",
        "0      n1      1     n1,n2,n3  -         n1       leader  -        -",
        "                                         n2       voter   -        -",
        "",
      ].join("\n"),
    );
    expect(r.stdout).toContain("  n2 did not answer Stats: connect ECONNREFUSED 10.0.0.2:7301\n");
  });
});

describe("transfer-leader and help", () => {
  it("cluster transfer-leader does what the top-level command does", async () => {
    for (const argv of [
      ["cluster", "transfer-leader", "1", "n3"],
      ["transfer-leader", "1", "n3"],
    ]) {
      const cluster = new FakeCluster({ shardCount: 3 });
      const r = await run(cluster, argv);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, "n3\n", ""]);
      expect(cluster.leaderOf(1)).toBe("n3");
    }
  });

  it("distcache --help shows the cluster group, and cluster --help its subcommands", async () => {
    const top = await run(new FakeCluster(), ["--help"]);
    expect(top.stdout).toMatch(/\n {2}cluster +show the cluster's nodes/);
    expect(top.stdout).toMatch(/\n {2}topology \[options\][\s\S]*\n {2}transfer-leader <shard> \[node\][\s\S]*\n {2}configure \[options\]/);
    const group = await run(new FakeCluster(), ["cluster", "--help"]);
    expect(group.code).toBe(0);
    const commands = [...group.stdout.matchAll(/^ {2}([a-z-]+) /gm)].map((m) => m[1]);
    expect(commands).toEqual(["status", "add-node", "remove-node", "transfer-leader", "help"]);
    for (const sub of ["status", "add-node", "remove-node", "transfer-leader"]) {
      const r = await run(new FakeCluster(), ["cluster", sub, "--help"]);
      expect([r.code, r.stdout]).toEqual([0, expect.stringMatching(new RegExp(`^Usage: distcache cluster ${sub}`))]);
    }
    expect((await run(new FakeCluster(), ["cluster", "add-node", "--help"])).stdout).toMatch(/--admin-token <hex>[\s\S]*--peer-secret-file <path>/);
  });
});
