// The chaos harness's checkers on hand-made histories: each flags the fault it exists
// for, and passes the same history without it. (The harness itself runs against real
// nodes in test/chaos-smoke.test.ts, in the cluster project.)
import { describe, expect, it } from "vitest";

// The harness is plain ESM without declarations: loaded by URL, so its exports are untyped here.
const load = (file: string) => import(new URL(file, import.meta.url).href);
const { checkTtl } = await load("./check-ttl.mjs");
const { checkAcknowledged, judgeReplicas } = await load("./check-durability.mjs");
const { judgeMembership } = await load("./check-membership.mjs");
const { checkLinearizability } = await load("./check-linearizability.mjs");
const { History } = await load("./workload.mjs");
const { LinkPolicy } = await load("./link-policy.mjs");
const { checkHealth, RSS_WARMUP_MS } = await load("./check-health.mjs");

type Entry = Record<string, unknown>;

/** A history of one key, its entries completed in the given order. */
function historyOf(key: string, cls: string, entries: Entry[]) {
  const history = new History();
  history.addKey(key, cls);
  entries.forEach((e, i) => history.keys.get(key).ops.push({ client: i, clientName: `c${i}`, clientKind: "raw", cls, key, attempts: 1, ...e }));
  return history;
}

const ttlWrite = (value: string, callTime: number, returnTime: number, ttlMs: number): Entry => ({
  kind: "set",
  value,
  ttlMs,
  callTime,
  returnTime,
  outcome: "ok",
});
const read = (callTime: number, returnTime: number, value?: string): Entry => ({
  kind: "get",
  callTime,
  returnTime,
  outcome: "ok",
  output: value === undefined ? { found: false } : { found: true, value, version: 1n },
});

describe("the TTL checker", () => {
  const eps = 100;
  it("passes reads that see the key before its TTL and miss it after", () => {
    const h = historyOf("t", "ttl", [ttlWrite("a", 0, 10, 1000), read(20, 30, "a"), read(500, 510, "a"), read(1200, 1210), read(2000, 2010)]);
    const { violations, judged } = checkTtl(h, { epsilonMs: eps });
    expect(violations).toEqual([]);
    expect(judged.presentRule).toBe(2);
    expect(judged.expiredRule).toBe(2);
  });

  it("flags a read that starts after A + T + ε and still sees the value", () => {
    const h = historyOf("t", "ttl", [ttlWrite("a", 0, 10, 1000), read(1111, 1120, "a")]);
    expect(checkTtl(h, { epsilonMs: eps }).violations.map((v: Entry) => v.rule)).toEqual(["expired"]);
  });

  it("takes a read within ε of the expiry either way", () => {
    const h = historyOf("t", "ttl", [ttlWrite("a", 0, 10, 1000), read(1050, 1060, "a"), read(905, 915)]);
    expect(checkTtl(h, { epsilonMs: eps }).violations).toEqual([]);
  });

  it("flags a key gone before C + T − ε", () => {
    const h = historyOf("t", "ttl", [ttlWrite("a", 0, 10, 1000), read(400, 410)]);
    expect(checkTtl(h, { epsilonMs: eps }).violations.map((v: Entry) => v.rule)).toEqual(["present"]);
  });

  it("does not expect the value when another write may have come between", () => {
    const unknown = { kind: "set", value: "b", ttlMs: 1000, callTime: 100, outcome: "indeterminate" };
    const h = historyOf("t", "ttl", [ttlWrite("a", 0, 10, 1000), unknown, read(400, 410)]);
    expect(checkTtl(h, { epsilonMs: eps }).violations).toEqual([]);
  });

  it("flags a value overwritten before the read started, and one nobody wrote", () => {
    const h = historyOf("t", "ttl", [ttlWrite("a", 0, 10, 5000), ttlWrite("b", 20, 30, 5000), read(40, 50, "a"), read(60, 70, "zz")]);
    const rules = checkTtl(h, { epsilonMs: eps }).violations.map((v: Entry) => v.rule);
    expect(rules).toEqual(expect.arrayContaining(["ordered", "present"]));
    expect(rules.filter((r: string) => r === "ordered")).toHaveLength(2);
  });
});

describe("the acknowledged-writes check", () => {
  const incr = (outcome: string, callTime: number): Entry => ({ kind: "incr", delta: 1, callTime, returnTime: callTime + 1, outcome });
  const counter = (final: bigint, entries: Entry[]) => {
    const h = historyOf("c", "counter", entries);
    h.keys.get("c").final = final;
    return checkAcknowledged(h).problems;
  };

  it("passes a counter between its acknowledged and its possible increments", () => {
    expect(counter(2n, [incr("ok", 0), incr("ok", 5), incr("indeterminate", 9)])).toEqual([]);
    expect(counter(3n, [incr("ok", 0), incr("ok", 5), incr("indeterminate", 9)])).toEqual([]);
  });

  it("flags a lost increment and one applied twice", () => {
    expect(counter(1n, [incr("ok", 0), incr("ok", 5)])[0].what).toMatch(/1 lost/);
    expect(counter(3n, [incr("ok", 0), incr("ok", 5)])[0].what).toMatch(/more than once/);
  });

  it("flags a register that holds a value an acknowledged write replaced", () => {
    const set = (value: string, callTime: number): Entry => {
      return { kind: "set", value, callTime, returnTime: callTime + 1, outcome: "ok", output: { ok: true, version: BigInt(callTime + 1) } };
    };
    const h = historyOf("r", "register", [set("a", 0), set("b", 10)]);
    h.keys.get("r").final = { found: true, value: "a", version: 1n };
    expect(checkAcknowledged(h).problems[0].what).toMatch(/lost/);
    h.keys.get("r").final = { found: true, value: "b", version: 11n };
    expect(checkAcknowledged(h).problems).toEqual([]);
  });
});

describe("the linearizability check", () => {
  const set = (value: string, callTime: number, version: bigint): Entry => ({
    kind: "set",
    value,
    condition: { kind: "none" },
    callTime,
    returnTime: callTime + 5,
    outcome: "ok",
    output: { ok: true, version },
  });
  const get = (callTime: number, value: string, version: bigint): Entry => {
    return { kind: "get", callTime, returnTime: callTime + 5, outcome: "ok", output: { found: true, value, version } };
  };

  it("finds a stale read and names its minimal history", () => {
    const h = historyOf("r", "register", [set("a", 0, 1n), set("b", 10, 2n), get(20, "a", 1n)]);
    const [result] = checkLinearizability(h, { budgetMs: 5000 });
    expect(result.verdict).toBe("illegal");
    expect(result.failing.operations.length).toBeGreaterThan(0);
  });

  it("passes the same history read fresh", () => {
    const h = historyOf("r", "register", [set("a", 0, 1n), set("b", 10, 2n), get(20, "b", 2n)]);
    expect(checkLinearizability(h, { budgetMs: 5000 })[0].verdict).toBe("ok");
  });
});

describe("link fault layers", () => {
  it("combine while they overlap and heal one by one", () => {
    const p = new LinkPolicy();
    p.add("a", { cut: true });
    p.add("b", { delayMs: 20, drop: 0.5 });
    p.add("c", { delayMs: 30, drop: 0.5 });
    expect(p.effective).toMatchObject({ cut: true, delayMs: 50, drop: 0.75 });
    p.remove("a");
    p.remove("c");
    expect(p.effective).toMatchObject({ cut: false, delayMs: 20, drop: 0.5 });
    p.remove("b");
    expect(p.faulty).toBe(false);
  });
});

describe("the memory check", () => {
  const MiB = 2 ** 20;
  /** A node sampled every second from startMs to 60 s, its RSS growing by growth MiB a second. */
  const member = (id: string, startMs: number, growth: number) => ({
    id,
    incarnations: [
      { pid: 1, startedMs: 0 },
      { pid: 2, startedMs: startMs },
    ],
    rss: Array.from({ length: (60_000 - startMs) / 1000 }, (_, i) => ({ t: startMs + i * 1000, pid: 2, rss: (100 + growth * i) * MiB })),
  });
  const check = (...members: ReturnType<typeof member>[]) =>
    checkHealth(
      { members: new Map(members.map((m) => [m.id, m])), exits: [], startFailures: [] },
      { secondHalfFromMs: 30_000, rssRatioMax: 1.2, samplesMin: 5 },
    );

  it("flags a node whose memory keeps growing through the second half", () => {
    const [result] = check(member("n1", 0, 6)).rss;
    expect(result).toMatchObject({ judged: true, ok: false });
  });

  it("judges a restarted node only from its warm-up's end, when it warmed up long enough before the end", () => {
    // Up at +45 s: it grows from 60 to 140 MiB in its first 10 s, then stays flat; judged
    // on all its samples, it would end at 1.21 times their median.
    const warm = member("n2", 45_000, 0);
    warm.rss.forEach((s, i) => (s.rss = (60 + Math.min(i, RSS_WARMUP_MS / 1000) * 8) * MiB));
    expect(check(warm).rss[0]).toMatchObject({ judged: true, ok: true });
    // Up at +52 s: too few samples after its warm-up, so not judged at all.
    expect(check(member("n3", 52_000, 5)).rss[0]).toMatchObject({ judged: false });
  });
});

describe("the memory check with a changing node set", () => {
  it("does not judge a node removed from the cluster", () => {
    const removed = { id: "n4", state: "removed", removedAtMs: 20_000, incarnations: [{ pid: 4, startedMs: 0 }], rss: [] };
    const health = checkHealth({ members: new Map([["n4", removed]]), exits: [], startFailures: [] }, { secondHalfFromMs: 0, rssRatioMax: 1.2, samplesMin: 5 });
    expect(health.rss[0]).toMatchObject({ id: "n4", judged: false });
    expect(health.rss[0].note).toContain("removed");
  });
});

describe("the replica check against the final topology", () => {
  /** A topology of one shard, led by the first of its voters. */
  const topology = (voters: string[], learners: string[] = []) => ({
    shardCount: 1,
    shards: new Map([[0, { leaderId: voters[0], term: 3n, replicas: voters, learners }]]),
  });
  /** Stats of node `id` holding shard 0 with `digest`. */
  const stats = (id: string, digest: string) => ({
    nodeId: id,
    shards: [{ shard: 0, digest, appliedIndex: 9n, store: { evictions: 0n, keys: 1n } }],
    total: {},
  });
  const up = (...ids: string[]) => ids.map((id) => ({ id }));

  it("compares every replica the topology names, a joined node's too, and flags one that differs", () => {
    const t = topology(["n1", "n2", "n4"]);
    const equal = judgeReplicas(t, [stats("n1", "9:a"), stats("n2", "9:a"), stats("n4", "9:a")], up("n1", "n2", "n4"), 3);
    expect(equal).toMatchObject({ agreed: true, differing: [], missing: [] });
    const lost = judgeReplicas(t, [stats("n1", "9:a"), stats("n2", "9:a"), stats("n4", "9:b")], up("n1", "n2", "n4"), 3);
    expect(lost.agreed).toBe(false);
    expect(lost.differing[0].shard).toBe(0);
  });

  it("leaves out a stray replica its group no longer counts, but not a replica that reports nothing", () => {
    const t = topology(["n1", "n2", "n4"]);
    const withStray = judgeReplicas(t, [stats("n1", "9:a"), stats("n2", "9:a"), stats("n3", "5:old"), stats("n4", "9:a")], up("n1", "n2", "n3", "n4"), 3);
    expect(withStray).toMatchObject({ agreed: true, strays: ["0@n3"] });
    const gone = judgeReplicas(t, [stats("n1", "9:a"), stats("n2", "9:a")], up("n1", "n2"), 3);
    expect(gone).toMatchObject({ agreed: false, missing: ["shard 0 on n4"] });
  });

  it("waits for a shard that still has a learner or not its replica count", () => {
    const learning = judgeReplicas(
      topology(["n1", "n2", "n3"], ["n4"]),
      ["n1", "n2", "n3", "n4"].map((id) => stats(id, "9:a")),
      up("n1", "n2", "n3", "n4"),
      3,
    );
    expect(learning.agreed).toBe(false);
    expect(learning.unsettled[0]).toMatchObject({ shard: 0, learners: ["n4"] });
    const four = judgeReplicas(
      topology(["n1", "n2", "n3", "n4"]),
      ["n1", "n2", "n3", "n4"].map((id) => stats(id, "9:a")),
      up("n1", "n2", "n3", "n4"),
      3,
    );
    expect(four.agreed).toBe(false);
  });
});

describe("the membership check", () => {
  const node = (id: string, fields: Record<string, unknown> = {}) => ({ id, joined: false, state: "up", ...fields });

  it("passes a node that joined and one removed as asked", () => {
    const members = [node("n1"), node("n2"), node("n3"), node("n4", { joined: true, memberAtMs: 5000 })];
    members.push(node("n5", { joined: true, memberAtMs: 9000, removingSinceMs: 20_000, state: "removed", removedAtMs: 25_000 }));
    const result = judgeMembership(members, ["n1", "n2", "n3", "n4"]);
    expect(result.problems).toEqual([]);
    expect(result.removed).toEqual([{ id: "n5", askedAtMs: 20_000, removedAtMs: 25_000 }]);
  });

  it("flags a node that never left, one removed but still listed, a joined node not listed, and one never started", () => {
    const members = [node("n1"), node("n2"), node("n3", { removingSinceMs: 10_000 }), node("n4", { joined: true })];
    members.push(node("n5", { joined: true, removingSinceMs: 1000, state: "removed", removedAtMs: 2000 }));
    const result = judgeMembership(members, ["n1", "n2", "n3", "n5", "n9"]);
    expect(result.problems).toHaveLength(4);
    expect(result.problems.join("\n")).toMatch(/n3 was asked to leave/);
    expect(result.problems.join("\n")).toMatch(/n5 stopped as removed/);
    expect(result.problems.join("\n")).toMatch(/n4 joined, but the final topology does not list it/);
    expect(result.problems.join("\n")).toMatch(/n9, a node the run never started/);
  });

  it("flags a member that is not running at the end", () => {
    expect(judgeMembership([node("n1"), node("n2", { state: "down" })], ["n1", "n2"]).problems).toEqual(["n2 is a member, but down at the end"]);
  });
});
