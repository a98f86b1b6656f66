// The watch checker on hand-made histories and events: a watcher that saw every change
// exactly once passes, and each kind of fault (a lost, repeated, reordered or invented
// event, a final state that disagrees) is flagged without flagging what a correct system
// may do (an indeterminate write seen once or never, a key absent once it expired).
import { describe, expect, it } from "vitest";

const load = (file: string) => import(new URL(file, import.meta.url).href);
const { checkWatch, pendingKeys, watchExpectations } = await load("./check-watch.mjs");
const { History } = await load("./workload.mjs");

type Entry = Record<string, unknown>;
type Seen = { shard: number; index: bigint; ordinal: number; type: string; key: string; version: bigint; text?: string };

/** A history of several keys: [key, cls, entries] each. */
function historyOf(keys: [string, string, Entry[]][]) {
  const history = new History();
  for (const [key, cls, entries] of keys) {
    history.addKey(key, cls);
    entries.forEach((e, i) => history.keys.get(key).ops.push({ client: i, clientName: `c${i}`, clientKind: "raw", cls, key, attempts: 1, ...e }));
  }
  return history;
}

const set = (value: string, version: number, outcome = "ok", extra: Entry = {}): Entry => ({
  kind: "set",
  value,
  condition: { kind: "none" },
  callTime: version * 10,
  returnTime: outcome === "indeterminate" || outcome === "notApplied" ? undefined : version * 10 + 5,
  outcome,
  output: outcome === "ok" ? { ok: true, version: BigInt(version) } : outcome === "rejected" ? { ok: false } : undefined,
  ...extra,
});
const del = (deleted: boolean, at: number, outcome = "ok"): Entry => ({
  kind: "delete",
  callTime: at,
  returnTime: outcome === "ok" ? at + 5 : undefined,
  outcome,
  output: outcome === "ok" ? { deleted } : undefined,
});
const incr = (delta: number, value: number | undefined, at: number, outcome = "ok"): Entry => ({
  kind: "incr",
  delta,
  callTime: at,
  returnTime: outcome === "ok" ? at + 5 : undefined,
  outcome,
  output: outcome === "ok" ? BigInt(value!) : undefined,
});

/** Events on shard 0 at index 1, 2, ...: [type, key, text?, version?]. */
function eventsOf(list: [string, string, string?, number?][]): Seen[] {
  return list.map(([type, key, text, version], i) => ({ shard: 0, index: BigInt(i + 1), ordinal: 0, type, key, text, version: BigInt(version ?? 0) }));
}

function watcher(events: Seen[], extra: Entry = {}) {
  const last = events.at(-1);
  const resume = [{ shard: 0, index: (last?.index ?? 0n) + 100n, ordinal: 0xffff_ffff }];
  return { name: "w", kind: "raw", events, reconnects: 0, errors: new Map(), compacted: [], ended: undefined, readyAtMs: 0, resume, ...extra };
}

const read = (text?: string, version?: number) => ({
  ...(text === undefined ? { found: false } : { found: true, text, version: BigInt(version!) }),
  position: { shard: 0, index: 50n, ordinal: 0xffff_ffff },
});

function check(history: unknown, w: unknown, finals: [string, unknown][] = []) {
  return checkWatch(history, [w], { finals: new Map(finals), unread: [], waitedMs: 0, caughtUp: true });
}

const kindsOf = (result: { watchers: { problems: { kind: string }[] }[] }) => result.watchers[0]!.problems.map((p) => p.kind);

describe("the watch checker", () => {
  const clean = historyOf([
    ["r", "register", [set("a", 1), set("b", 2), del(true, 30), del(false, 40), set("c", 5, "indeterminate")]],
    ["c", "counter", [incr(1, 1, 10), incr(2, 3, 20), incr(1, undefined, 30, "indeterminate"), incr(2, 6, 40)]],
    ["t", "ttl", [set("x", 7, "ok", { ttlMs: 500 })]],
  ]);
  const cleanEvents = eventsOf([
    ["put", "r", "a", 1],
    ["put", "c", "1", 2],
    ["put", "r", "b", 3],
    ["put", "c", "3", 4],
    ["delete", "r"],
    ["put", "c", "4", 6],
    ["put", "t", "x", 7],
    ["put", "c", "6", 8],
    ["expire", "t"],
  ]);
  // The version the acknowledged sets returned: a, b and x at 1, 3 and 7.
  clean.keys.get("r").ops[1].output.version = 3n;
  const cleanFinals: [string, unknown][] = [
    ["r", read()],
    ["c", read("6", 8)],
    ["t", read()],
  ];

  it("passes a watcher that saw every change exactly once, in order, ending in the final state", () => {
    const result = check(clean, watcher(cleanEvents), cleanFinals);
    expect(result.watchers[0].problems).toEqual([]);
    expect(result.failures).toEqual([]);
    expect(result.watchers[0].types).toEqual({ put: 7, delete: 1, expire: 1, evict: 0 });
  });

  it("takes an indeterminate set seen once, and an indeterminate increment never applied", () => {
    const events = [...cleanEvents, ...eventsOf([["put", "r", "c", 9]]).map((e) => ({ ...e, index: 20n }))];
    const result = check(clean, watcher(events), [["r", read("c", 9)], ...cleanFinals.slice(1)]);
    expect(result.watchers[0].problems).toEqual([]);
  });

  it("flags an acknowledged set never delivered", () => {
    const events = cleanEvents.filter((e) => !(e.key === "r" && e.text === "b"));
    expect(kindsOf(check(clean, watcher(events), cleanFinals))).toContain("missing");
  });

  it("flags an event delivered twice (the same position) as out of order", () => {
    const events = [...cleanEvents.slice(0, 3), cleanEvents[2]!, ...cleanEvents.slice(3)];
    const kinds = kindsOf(check(clean, watcher(events), cleanFinals));
    expect(kinds).toContain("order");
    expect(kinds).toContain("duplicated");
  });

  it("flags an indeterminate set applied twice", () => {
    const h = historyOf([["r", "register", [set("a", 1), set("c", 2, "indeterminate")]]]);
    const events = eventsOf([
      ["put", "r", "a", 1],
      ["put", "r", "c", 2],
      ["put", "r", "c", 3],
    ]);
    expect(kindsOf(check(h, watcher(events), [["r", read("c", 3)]]))).toEqual(["duplicated"]);
  });

  it("flags a set proven not applied, a rejected one, and a value nobody wrote", () => {
    const h = historyOf([["r", "register", [set("a", 1), set("n", 2, "notApplied"), set("j", 3, "rejected"), set("z", 4, "rejected")]]]);
    const events = eventsOf([
      ["put", "r", "a", 1],
      ["put", "r", "n", 2],
      ["put", "r", "j", 3],
      ["put", "r", "q", 4],
    ]);
    expect(kindsOf(check(h, watcher(events), [["r", read("q", 4)]]))).toEqual(["unexpected", "unexpected", "unexpected"]);
  });

  it("flags an acknowledged set delivered with another version than it returned", () => {
    const h = historyOf([["r", "register", [set("a", 1)]]]);
    expect(kindsOf(check(h, watcher(eventsOf([["put", "r", "a", 2]])), [["r", read("a", 2)]]))).toEqual(["unexpected"]);
  });

  it("flags a removal of an absent key and a put whose version does not grow", () => {
    const h = historyOf([["r", "register", [set("a", 5), set("b", 2, "indeterminate"), del(true, 60, "indeterminate")]]]);
    const events = eventsOf([
      ["delete", "r"],
      ["put", "r", "a", 5],
      ["put", "r", "b", 2],
    ]);
    expect(kindsOf(check(h, watcher(events), [["r", read("b", 2)]])).sort()).toEqual(["order", "unexpected"]);
  });

  it("bounds a key's delete events by the acknowledged deletes and those of unknown outcome", () => {
    const h = historyOf([["r", "register", [set("a", 1), del(true, 20), set("b", 3), del(true, 40, "indeterminate"), set("c", 5)]]]);
    const base: [string, string, string?, number?][] = [
      ["put", "r", "a", 1],
      ["delete", "r"],
      ["put", "r", "b", 3],
    ];
    const withMaybe = eventsOf([...base, ["delete", "r"], ["put", "r", "c", 5]]);
    expect(check(h, watcher(withMaybe), [["r", read("c", 5)]]).watchers[0].problems).toEqual([]);
    const without = eventsOf([...base, ["put", "r", "c", 5]]);
    expect(check(h, watcher(without), [["r", read("c", 5)]]).watchers[0].problems).toEqual([]);
    const none = eventsOf([
      ["put", "r", "a", 1],
      ["put", "r", "b", 3],
      ["put", "r", "c", 5],
    ]);
    expect(kindsOf(check(h, watcher(none), [["r", read("c", 5)]]))).toEqual(["missing"]);
  });

  it("flags a counter value never delivered, one delivered twice, a step no increment makes, and too many puts", () => {
    const h = historyOf([["c", "counter", [incr(1, 1, 10), incr(2, 3, 20), incr(1, 4, 30)]]]);
    const lost = eventsOf([
      ["put", "c", "1", 1],
      ["put", "c", "4", 3],
    ]);
    expect(kindsOf(check(h, watcher(lost), [["c", read("4", 3)]])).sort()).toEqual(["missing", "missing"]);
    const twice = eventsOf([
      ["put", "c", "1", 1],
      ["put", "c", "3", 2],
      ["put", "c", "3", 3],
      ["put", "c", "4", 4],
    ]);
    const kinds = kindsOf(check(h, watcher(twice), [["c", read("4", 4)]])).sort();
    expect(kinds).toEqual(["duplicated", "missing", "unexpected"]);
  });

  it("compares each key's last event with the final read, once the watch reached the read's position", () => {
    const h = historyOf([["r", "register", [set("a", 1), set("b", 2)]]]);
    const events = eventsOf([
      ["put", "r", "a", 1],
      ["put", "r", "b", 2],
    ]);
    expect(check(h, watcher(events), [["r", read("b", 2)]]).watchers[0].problems).toEqual([]);
    expect(kindsOf(check(h, watcher(events), [["r", read("a", 1)]]))).toEqual(["final"]);
    expect(kindsOf(check(h, watcher(events), [["r", read()]]))).toEqual(["final"]);
    const behind = watcher(events, { resume: [{ shard: 0, index: 10n, ordinal: 0 }] });
    const result = check(h, behind, [["r", read("b", 2)]]);
    expect(result.watchers[0].problems[0].what).toMatch(/had not reached the read's position/);
  });

  it("takes a TTL key absent once its expire event came, and flags one whose expire event never came", () => {
    const h = historyOf([["t", "ttl", [set("x", 1, "ok", { ttlMs: 500 })]]]);
    const expired = eventsOf([
      ["put", "t", "x", 1],
      ["expire", "t"],
    ]);
    expect(check(h, watcher(expired), [["t", read()]]).watchers[0].problems).toEqual([]);
    const result = check(h, watcher(eventsOf([["put", "t", "x", 1]])), [["t", read()]]);
    expect(result.watchers[0].problems.map((p: { what: string }) => p.what)).toEqual([expect.stringMatching(/no expire event/)]);
  });

  it("judges the state at the read's position: a change after the read does not count against it", () => {
    const h = historyOf([["r", "register", [set("a", 1), set("b", 2, "indeterminate")]]]);
    const events = eventsOf([["put", "r", "a", 1]]);
    events.push({ shard: 0, index: 60n, ordinal: 0, type: "put", key: "r", text: "b", version: 2n });
    const w = watcher(events);
    expect(check(h, w, [["r", read("a", 1)]]).watchers[0].problems).toEqual([]);
    expect(kindsOf(check(h, w, [["r", read("b", 2)]]))).toEqual(["final"]);
  });

  it("takes a TTL key read absent while still stored at the read, when its expire event follows", () => {
    const h = historyOf([["t", "ttl", [set("x", 1, "ok", { ttlMs: 500 })]]]);
    const put = eventsOf([["put", "t", "x", 1]]);
    const expire = { shard: 0, index: 70n, ordinal: 0, type: "expire", key: "t", version: 0n };
    expect(check(h, watcher([...put, expire]), [["t", read()]]).watchers[0].problems).toEqual([]);
    expect(kindsOf(check(h, watcher(put), [["t", read()]]))).toEqual(["final"]);
  });

  it("counts events of keys the workload never wrote without judging them", () => {
    const h = historyOf([["r", "register", [set("a", 1)]]]);
    const events = eventsOf([
      ["put", "vote-loss-1", "vote-loss-1", 1],
      ["put", "r", "a", 2],
    ]);
    h.keys.get("r").ops[0].output.version = 2n;
    const result = check(h, watcher(events), [["r", read("a", 2)]]);
    expect(result.watchers[0].problems).toEqual([]);
    expect(result.watchers[0].foreign).toBe(1);
  });

  it("fails a watcher that ended early, and judges only what it received", () => {
    const h = historyOf([["r", "register", [set("a", 1), set("b", 2)]]]);
    const ended = { reason: "compacted", atMs: 30, detail: "shard 0 oldest index 9" };
    const result = check(h, watcher(eventsOf([["put", "r", "a", 1]]), { ended }), [["r", read("b", 2)]]);
    expect(result.watchers[0].problems).toEqual([]);
    expect(result.failures).toEqual([expect.stringMatching(/watch-?.*ended early \(compacted/)]);
  });

  it("names the keys a watcher has not caught up on", () => {
    const h = historyOf([
      ["r", "register", [set("a", 1)]],
      ["s", "register", [set("b", 2)]],
    ]);
    const w = watcher(eventsOf([["put", "r", "a", 1]]));
    const finals = new Map([
      ["r", read("a", 1)],
      ["s", read("b", 2)],
    ]);
    expect(pendingKeys(watchExpectations(h), w, finals)).toEqual(["s"]);
  });
});
