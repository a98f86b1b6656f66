// Fault schedules, drawn from the run's seed: a list of windows, each a few seconds of
// one or more faults, separated by calm gaps, and a final healed stretch with no fault.
// Every parameter (which shard's leader, which links, how slow, how lossy) is drawn
// here, up front, so a seed names the whole schedule; only "the leader of shard s" is
// resolved when its window opens.
//
// Nemeses:
//   process faults (one per window, at most a minority of nodes)
//     kill               kill -9 a node (often a shard's leader), restart it when the window ends
//     pause              SIGSTOP a node (often a shard's leader), SIGCONT when the window ends
//     crash              a power loss: the node cuts its files to what it synced (sometimes tearing
//                        the last write) and dies; restarted when the window ends (half the kills,
//                        from a stream of their own)
//   partitions (one per window; every peer link across the cut is blackholed both ways)
//     partition-leader   isolate one shard's leader from every other node
//     partition-halves   a random minority against the majority
//     partition-bridge   two sides that cannot reach each other, and one node that reaches both
//     partition-oneway   a node (often a leader) whose outbound, or inbound, links are cut
//   link and client faults (added to a window on their own draw)
//     slow               some links delayed (with jitter), in order
//     lossy              some links drop whole frames, or reset the connection, with a probability
//     transfer           ClusterService.TransferLeader of random shards every ~0.5-1.5 s
//     client-faults      a node's client proxy resets connections as answers arrive, or is slow, or cut
//   clock faults (added to a window on their own draw, from their own stream of the seed)
//     clock-step         a node's wall clock (often a leader's) stepped by ±60 s
//     clock-skew         a node's clocks run 5% fast or slow
//     clock-strobe       a node's wall clock stepped back and forth by ±1-5 s every 50-200 ms
//   membership (added to a window with no process fault, from their own stream of the seed,
//   within the node budget, ctx.nodesMax, and never below MEMBERS_MIN members)
//     add-node           a new node (a fresh id) joins with --join, waited for until the cluster lists it
//     remove-node        ClusterService.RemoveNode of a node (one added in the run first): its replicas
//                        move away, and it stops by itself
//     kill-during-move   with an add-node or remove-node of its own: kill -9 the source, the destination
//                        or the meta leader of one of the replica moves it starts, restarted 1-4 s later
import { Prng } from "../fuzz/prng.mjs";

export const PROCESS_NEMESES = ["kill", "pause"];
/** Drawn as half of the kills, so enabling it leaves the other draws of a seed as they were. */
export const CRASH_NEMESIS = "crash";
export const PARTITION_NEMESES = ["partition-leader", "partition-halves", "partition-bridge", "partition-oneway"];
export const LINK_NEMESES = ["slow", "lossy", "transfer", "client-faults"];
export const CLOCK_NEMESES = ["clock-step", "clock-skew", "clock-strobe"];
export const MEMBERSHIP_NEMESES = ["add-node", "remove-node", "kill-during-move"];
export const NEMESES = [...PROCESS_NEMESES, CRASH_NEMESIS, ...PARTITION_NEMESES, ...LINK_NEMESES, ...CLOCK_NEMESES, ...MEMBERSHIP_NEMESES];
/** The fewest members a cluster is left with: no removal that would leave fewer is drawn (nor made). */
export const MEMBERS_MIN = 3;
/** The share of eligible windows that get a membership change. */
const MEMBERSHIP_CHANCE = 0.15;
/** Which node of a replica move kill-during-move kills. */
export const MOVE_VICTIMS = ["source", "destination", "meta-leader"];
/** The largest rate skew the clock nemesis applies: it stretches or shortens a TTL by up to this share. */
export const CLOCK_SKEW_MAX = 0.05;

/**
 * @typedef {{ kind: string, params: any }} Fault
 * @typedef {{ startMs: number, endMs: number, faults: Fault[] }} Window
 * @typedef {{ windows: Window[], healAtMs: number, maxLinkDelayMs: number, clockSkewMax: number, mix?: { register: number, counter: number, ttl: number },
 *             clients?: { sdk: number, raw: number, session: number }, proxyClients?: boolean, about?: string }} Schedule
 */

/** Every ordered pair of distinct node ids. */
function orderedLinks(ids) {
  return ids.flatMap((a) => ids.filter((b) => b !== a).map((b) => [a, b]));
}

/** Every link into node `to`. */
function linksInto(to, ids) {
  return ids.filter((from) => from !== to).map((from) => [from, to]);
}

function shuffle(prng, items) {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = prng.int(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** A node to act on: the leader of a shard (resolved when the window opens), or a fixed node. */
function target(prng, ctx, leaderBias = 0.6) {
  return prng.bool(leaderBias) ? { leaderOf: prng.int(ctx.shardCount) } : { node: prng.pick(ctx.ids) };
}

/** The parameters of one fault of `kind` lasting lengthMs. */
export function drawFault(prng, kind, ctx, lengthMs) {
  const n = ctx.ids.length;
  const minorityMax = Math.floor((n - 1) / 2);
  switch (kind) {
    case "kill":
    case "crash":
    case "pause":
      return { kind, params: { target: target(prng, ctx) } };
    case "partition-leader":
      return { kind, params: { shard: prng.int(ctx.shardCount) } };
    case "partition-halves":
      return { kind, params: { minority: shuffle(prng, ctx.ids).slice(0, 1 + prng.int(minorityMax)) } };
    case "partition-bridge": {
      const order = shuffle(prng, ctx.ids);
      const side = Math.floor((n - 1) / 2);
      return { kind, params: { bridge: order[0], a: order.slice(1, 1 + side), b: order.slice(1 + side) } };
    }
    case "partition-oneway":
      return { kind, params: { target: target(prng, ctx, 0.7), direction: prng.pick(["out", "in"]) } };
    case "slow": {
      const links = prng.bool(0.5) ? linksOfNode(prng.pick(ctx.ids), ctx.ids) : shuffle(prng, orderedLinks(ctx.ids)).slice(0, 1 + prng.int(n));
      return { kind, params: { links, delayMs: prng.range(20, ctx.maxDelayMs), jitterMs: prng.range(0, 40) } };
    }
    case "lossy": {
      const links = shuffle(prng, orderedLinks(ctx.ids)).slice(0, 1 + prng.int(n * 2));
      const reset = prng.bool(0.3) ? prng.pick([0.002, 0.01]) : 0;
      return { kind, params: { links, drop: prng.pick([0.05, 0.1, 0.2, 0.4]), reset } };
    }
    case "transfer": {
      const everyMs = prng.range(400, 1500);
      const draws = Array.from({ length: Math.max(1, Math.ceil(lengthMs / everyMs)) }, () => ({ shard: prng.int(ctx.shardCount), to: prng.int(3) }));
      return { kind, params: { everyMs, draws } };
    }
    case "client-faults": {
      const mode = prng.weighted([
        [3, "reset"],
        [2, "slow"],
        [1, "cut"],
      ]);
      const nodes = prng.bool(0.3) ? [...ctx.ids] : [prng.pick(ctx.ids)];
      return { kind, params: { nodes, mode, reset: prng.pick([0.05, 0.15, 0.3]), delayMs: prng.range(30, 200) } };
    }
  }
  const clock = drawClockFault(prng, kind, ctx);
  if (clock) return clock;
  throw new Error(`no such nemesis: ${kind}`);
}

/** A clock fault on a node, 60% of the time a shard's leader. */
function drawClockFault(prng, kind, ctx) {
  const target = prng.bool(0.6) ? { leaderOf: prng.int(ctx.shardCount) } : { node: prng.pick(ctx.ids) };
  switch (kind) {
    case "clock-step":
      return { kind, params: { target, stepMs: prng.pick([60_000, -60_000]) } };
    case "clock-skew":
      return { kind, params: { target, rate: prng.pick([1 + CLOCK_SKEW_MAX, 1 - CLOCK_SKEW_MAX]) } };
    case "clock-strobe":
      return { kind, params: { target, amplitudeMs: prng.range(1000, 5000), periodMs: prng.range(50, 200) } };
    default:
      return undefined;
  }
}

function linksOfNode(id, ids) {
  return ids
    .filter((p) => p !== id)
    .flatMap((p) => [
      [id, p],
      [p, id],
    ]);
}

/**
 * The default schedule: windows of 2-8 s with one process fault or partition (when any
 * is enabled) and, on their own draws, link and client faults and leadership transfers;
 * gaps of 1-4 s; nothing in the first warmupMs nor in the last healMs.
 * @param {{ seed: string, durationMs: number, warmupMs: number, healMs: number, ids: string[], shardCount: number, enabled: string[],
 *           proxyClients: boolean, maxDelayMs: number }} ctx
 * @returns {Schedule}
 */
export function randomSchedule(ctx) {
  const prng = Prng.derive(ctx.seed, "schedule");
  const crashAlone = ctx.enabled.includes(CRASH_NEMESIS) && !ctx.enabled.includes("kill");
  const primaries = ctx.enabled.filter((k) => PROCESS_NEMESES.includes(k) || PARTITION_NEMESES.includes(k) || (k === CRASH_NEMESIS && crashAlone));
  const secondaries = ctx.enabled.filter((k) => LINK_NEMESES.includes(k) && (k !== "client-faults" || ctx.proxyClients));
  const healAtMs = ctx.durationMs - ctx.healMs;
  const windows = [];
  let t = ctx.warmupMs;
  const clocks = ctx.enabled.filter((k) => CLOCK_NEMESES.includes(k));
  const clockOnly = primaries.length + secondaries.length === 0;
  const membershipOnly = clockOnly && clocks.length === 0 && ctx.enabled.some((k) => MEMBERSHIP_NEMESES.includes(k));
  while (primaries.length + secondaries.length + clocks.length > 0 || membershipOnly) {
    const lengthMs = prng.range(2000, 8000);
    const endMs = Math.min(t + lengthMs, healAtMs);
    if (endMs - t < 1500) break;
    const faults = [];
    if (primaries.length > 0 && (secondaries.length === 0 || prng.bool(0.85))) faults.push(drawFault(prng, prng.pick(primaries), ctx, endMs - t));
    for (const kind of secondaries) if (prng.bool(kind === "transfer" ? 0.4 : 0.3)) faults.push(drawFault(prng, kind, ctx, endMs - t));
    if (faults.length === 0 && !clockOnly && !membershipOnly) {
      const kind = prng.pick(secondaries.length > 0 ? secondaries : primaries);
      faults.push(drawFault(prng, kind, ctx, endMs - t));
    }
    windows.push({ startMs: t, endMs, faults });
    t = endMs + prng.range(1000, 4000);
  }
  if (ctx.enabled.includes(CRASH_NEMESIS) && !crashAlone) {
    const crashPrng = Prng.derive(ctx.seed, "schedule", "crash");
    for (const w of windows) for (const f of w.faults) if (f.kind === "kill" && crashPrng.bool(0.5)) f.kind = CRASH_NEMESIS;
  }
  // Clock faults come from a stream of their own, so enabling them leaves the other draws of a seed as they were.
  const clockPrng = Prng.derive(ctx.seed, "schedule", "clock");
  for (const w of windows)
    if (clocks.length > 0 && (clockOnly || clockPrng.bool(0.35))) w.faults.push(drawFault(clockPrng, clockPrng.pick(clocks), ctx, w.endMs - w.startMs));
  drawMembership(windows, ctx, healAtMs, membershipOnly ? 0.4 : MEMBERSHIP_CHANCE);
  // With membership changes alone, the windows that got none are dropped.
  const kept = windows.filter((w) => w.faults.length > 0);
  return { windows: kept, healAtMs, maxLinkDelayMs: maxDelay(kept), clockSkewMax: maxSkew(kept) };
}

/** The most members the run may have at once: --nodes-max (by default 2 more than it starts with). */
export function nodesMaxOf(ctx) {
  return ctx.nodesMax ?? ctx.ids.length + 2;
}

/**
 * The membership as a schedule plans it: its member count, the ids the run added (in
 * order, those still members), and the next fresh id (n<k> after the highest id so far).
 */
class MembershipPlan {
  constructor(ctx) {
    this.initial = [...ctx.ids];
    this.members = [...ctx.ids];
    this.added = [];
    this.max = nodesMaxOf(ctx);
    this.next = 1 + Math.max(0, ...ctx.ids.map((id) => Number(/\d+$/.exec(id)?.[0] ?? 0)));
  }

  canAdd() {
    return this.members.length < this.max;
  }

  canRemove() {
    return this.members.length > MEMBERS_MIN;
  }

  /** An add-node fault, for a fresh id. */
  add(prng) {
    const id = `n${this.next++}`;
    this.members.push(id);
    this.added.push(id);
    return { kind: "add-node", params: { id, via: prng.int(1 << 16) } };
  }

  /** A remove-node fault: the earliest node the run added still a member, else any. */
  remove(prng) {
    const pick = prng.int(1 << 16);
    const node = this.added.shift() ?? this.members[pick % this.members.length];
    this.members = this.members.filter((m) => m !== node);
    return { kind: "remove-node", params: { node, pick } };
  }
}

/**
 * Membership changes, from a stream of their own (so a seed's other faults stay as they
 * were): added to windows with no process fault that end 10 s or more before the heal,
 * within the node budget (in 15% of them; 40% when they are the only nemeses).
 * kill-during-move brings the add-node (or, with the budget full, the remove-node)
 * whose replica moves it kills a node of.
 */
function drawMembership(windows, ctx, healAtMs, chanceOf) {
  const kinds = ctx.enabled.filter((k) => MEMBERSHIP_NEMESES.includes(k));
  if (kinds.length === 0) return;
  const prng = Prng.derive(ctx.seed, "schedule", "membership");
  const plan = new MembershipPlan(ctx);
  const processKinds = [...PROCESS_NEMESES, CRASH_NEMESIS];
  for (const w of windows) {
    // Every window takes these two draws, whether it gets a change or not.
    const chance = prng.bool(chanceOf);
    const which = prng.float();
    const eligible = kinds.filter((k) => (k === "add-node" ? plan.canAdd() : k === "remove-node" ? plan.canRemove() : plan.canAdd() || plan.canRemove()));
    const open = !w.faults.some((f) => processKinds.includes(f.kind)) && w.endMs <= healAtMs - 10_000;
    if (!chance || !open || eligible.length === 0) continue;
    const kind = eligible[Math.floor(which * eligible.length)];
    if (kind === "add-node") w.faults.push(plan.add(prng));
    else if (kind === "remove-node") w.faults.push(plan.remove(prng));
    else {
      const adds = plan.canAdd() && (!plan.canRemove() || prng.bool(0.6));
      w.faults.push(adds ? plan.add(prng) : plan.remove(prng), drawMoveKill(prng));
    }
  }
}

function drawMoveKill(prng) {
  return { kind: "kill-during-move", params: { victim: prng.pick(MOVE_VICTIMS), skipSteps: prng.int(4), downMs: prng.range(1000, 4000) } };
}

/**
 * The membership schedule: a node joins and settles; a second one joins (or, with room
 * for one node only, the first leaves) while a node of one of its replica moves is killed;
 * then the first node added leaves. Windows split the time between warm-up and heal.
 */
function membershipWindows(prng, ctx) {
  const plan = new MembershipPlan(ctx);
  if (!plan.canAdd()) throw new Error(`the membership schedule adds a node: --nodes-max must be above ${ctx.ids.length}`);
  const healAtMs = ctx.durationMs - ctx.healMs;
  const span = healAtMs - ctx.warmupMs;
  const first = plan.add(prng);
  first.params.settle = true;
  const windows = [{ startMs: ctx.warmupMs, endMs: ctx.warmupMs + Math.round(span * 0.3), faults: [first] }];
  const secondAt = windows[0].endMs + 1000;
  const twoAdds = plan.canAdd();
  const cause = twoAdds ? plan.add(prng) : plan.remove(prng);
  windows.push({ startMs: secondAt, endMs: secondAt + Math.round(span * 0.3), faults: [cause, drawMoveKill(prng)] });
  if (twoAdds && plan.canRemove()) windows.push({ startMs: windows[1].endMs + 1000, endMs: healAtMs, faults: [plan.remove(prng)] });
  return windows;
}

/** The largest rate skew any window applies (0 without clock-skew faults). */
function maxSkew(windows) {
  let max = 0;
  for (const w of windows) for (const f of w.faults) if (f.kind === "clock-skew") max = Math.max(max, Math.abs(f.params.rate - 1));
  return max;
}

function maxDelay(windows) {
  let max = 0;
  for (const w of windows) {
    let sum = 0;
    for (const f of w.faults) if (f.kind === "slow") sum += f.params.delayMs + f.params.jitterMs;
    max = Math.max(max, sum);
  }
  return max;
}

/**
 * Targeted schedules for planted-bug runs (30 s by default): each aims its faults and
 * its workload at one kind of bug. Their windows repeat one pattern with seeded details.
 */
export const TARGETED = {
  "leader-isolation": {
    about: "isolates shard leaders (and kills some) under register and counter writes: catches a write acknowledged before it commits",
    mix: { register: 0.6, counter: 0.4, ttl: 0 },
    clients: { sdk: 4, raw: 2, session: 2 },
    build: (prng, ctx) =>
      repeat(prng, ctx, [2500, 4000], [800, 1500], () => [
        prng.bool(0.75) ? drawFault(prng, "partition-leader", ctx, 0) : { kind: "kill", params: { target: { leaderOf: prng.int(ctx.shardCount) } } },
      ]),
  },
  "lagging-follower": {
    about:
      "cuts every link into one follower (it falls behind, unaware) while raw clients read from every node: " +
      "catches a STRONG read a follower serves without ReadIndex",
    mix: { register: 0.7, counter: 0.3, ttl: 0 },
    clients: { sdk: 1, raw: 6, session: 1 },
    build: (prng, ctx) =>
      repeat(prng, ctx, [3000, 5000], [800, 1500], () => [
        { kind: "partition-oneway", params: { target: { followerOf: prng.int(ctx.shardCount), pick: prng.int(2) }, direction: "in" } },
      ]),
  },
  "indeterminate-writes": {
    about:
      "resets client connections as answers arrive and pauses leaders, so writes are resent with their session and sequence: " +
      "catches a retried write (Incr) applied twice",
    mix: { register: 0.3, counter: 0.7, ttl: 0 },
    clients: { sdk: 3, raw: 1, session: 5 },
    proxyClients: true,
    build: (prng, ctx) =>
      repeat(prng, ctx, [3000, 5000], [500, 1000], (lengthMs) => [
        { kind: "client-faults", params: { nodes: [...ctx.ids], mode: "reset", reset: prng.pick([0.2, 0.3]), delayMs: 0 } },
        ...(prng.bool(0.5) ? [{ kind: "pause", params: { target: { leaderOf: prng.int(ctx.shardCount) } } }] : [drawFault(prng, "transfer", ctx, lengthMs)]),
      ]),
  },
  "leader-churn": {
    about:
      "drops 60% of the frames into one node for 2-4 s at a time (its log falls behind while some ReadIndex answers arrive), " +
      "over slow links, with some leaderships moved, while raw clients read from every node: catches a ReadIndex answered with a stale index",
    mix: { register: 0.75, counter: 0.25, ttl: 0 },
    clients: { sdk: 1, raw: 12, session: 1 },
    // A follower whose last applied stamp trails the leader's time by more than the bound
    // sends its reads to the leader; a wide bound leaves the read index alone to order them.
    nodeArgs: ["--read-stamp-lag-ms-max", "10000"],
    build: (prng, ctx) =>
      repeat(prng, ctx, [2000, 4000], [300, 600], (lengthMs) => [
        { kind: "lossy", params: { links: linksInto(prng.pick(ctx.ids), ctx.ids), drop: 0.6, reset: 0 } },
        { kind: "slow", params: { links: orderedLinks(ctx.ids), delayMs: prng.range(5, 20), jitterMs: prng.range(0, 10) } },
        ...(prng.bool(0.5) ? [transfers(prng, ctx, lengthMs, 1500, 3000)] : []),
      ]),
  },
  "majority-crash": {
    about:
      "a power loss on a majority of the nodes at once (the leader of a shard among them), restarted a few seconds later, " +
      "the other nodes cut off for a moment first, under register and counter writes: catches an append acknowledged before it is fsynced",
    mix: { register: 0.6, counter: 0.4, ttl: 0 },
    clients: { sdk: 3, raw: 2, session: 2 },
    build: (prng, ctx) =>
      repeat(prng, ctx, [2000, 3000], [2500, 4000], () => [
        {
          kind: "crash-majority",
          params: { shard: prng.int(ctx.shardCount), order: Array.from({ length: 5 }, () => prng.int(ctx.ids.length)), lagMs: prng.range(300, 600) },
        },
      ]),
  },
  "vote-loss": {
    about:
      "a shard leader hands its leadership to a follower whose messages reach only it, then loses power as soon as the follower leads, " +
      "while the other replicas never hear of the new term: catches a vote granted before it is durable",
    mix: { register: 0.7, counter: 0.3, ttl: 0 },
    clients: { sdk: 2, raw: 8, session: 2 },
    logLevelMin: "info",
    build: (prng, ctx) =>
      repeat(prng, ctx, [3000, 4000], [500, 1000], () => [
        { kind: "vote-loss", params: { shard: prng.int(ctx.shardCount), pick: prng.int(2), delayMs: prng.range(250, 350) } },
      ]),
  },
  "clock-step-transfer": {
    about:
      "TTL keys only: a shard leader's wall clock stepped +60 s, then the shard's leadership moved away from it: " +
      "TTLs must neither stretch nor shrink beyond ε (checks the time rule of docs/decisions.md)",
    mix: { register: 0, counter: 0, ttl: 1 },
    clients: { sdk: 3, raw: 3, session: 2 },
    build: (prng, ctx) =>
      repeat(prng, ctx, [3000, 5000], [1500, 2500], () => {
        const shard = prng.int(ctx.shardCount);
        return [
          { kind: "clock-step", params: { target: { leaderOf: shard }, stepMs: 60_000 } },
          { kind: "transfer-away", params: { shard, afterMs: prng.range(800, 2000) } },
        ];
      }),
  },
  membership: {
    about:
      "a node joins and settles; another joins while a node of one of its replica moves (source, destination or meta leader) " +
      "is killed; then the first node added is removed: acknowledged writes, linearizability and digests must survive each change",
    mix: { register: 0.45, counter: 0.3, ttl: 0.25 },
    clients: { sdk: 3, raw: 3, session: 3 },
    // kill-during-move follows the placement driver's "replica move step" lines (info).
    logLevelMin: "info",
    durationDefault: "60s",
    build: membershipWindows,
  },
  "ttl-clock": {
    about:
      "TTL keys only, leaderships moved between nodes every ~second: with a clock offset between nodes (a node-side hook), " +
      "catches a STRONG read judging expiry by the local wall clock",
    mix: { register: 0, counter: 0, ttl: 1 },
    clients: { sdk: 3, raw: 3, session: 2 },
    build: (prng, ctx) => repeat(prng, ctx, [4000, 6000], [500, 1000], (lengthMs) => [transfers(prng, ctx, lengthMs, 600, 1200)]),
  },
};

/** Leadership transfers every everyMin-everyMax ms through a window of lengthMs. */
function transfers(prng, ctx, lengthMs, everyMin, everyMax) {
  const everyMs = prng.range(everyMin, everyMax);
  const draws = Array.from({ length: Math.ceil(lengthMs / everyMin) }, () => ({ shard: prng.int(ctx.shardCount), to: prng.int(3) }));
  return { kind: "transfer", params: { everyMs, draws } };
}

/** Windows of length in lengthMs, separated by gaps in gapMs, from warmup to the heal. */
function repeat(prng, ctx, [lenMin, lenMax], [gapMin, gapMax], faults) {
  const healAtMs = ctx.durationMs - ctx.healMs;
  const windows = [];
  for (let t = ctx.warmupMs; ;) {
    const endMs = Math.min(t + prng.range(lenMin, lenMax), healAtMs);
    if (endMs - t < 1000) break;
    windows.push({ startMs: t, endMs, faults: faults(endMs - t) });
    t = endMs + prng.range(gapMin, gapMax);
  }
  return windows;
}

/**
 * The targeted schedule `name`, drawn from the seed.
 * @returns {Schedule}
 */
export function targetedSchedule(name, ctx) {
  const def = TARGETED[name];
  if (!def) throw new Error(`no such schedule: ${name} (one of ${Object.keys(TARGETED).join(", ")})`);
  const prng = Prng.derive(ctx.seed, "schedule", name);
  const windows = def.build(prng, ctx);
  const healAtMs = ctx.durationMs - ctx.healMs;
  return {
    windows,
    healAtMs,
    maxLinkDelayMs: maxDelay(windows),
    clockSkewMax: maxSkew(windows),
    mix: def.mix,
    clients: def.clients,
    proxyClients: def.proxyClients,
    about: def.about,
  };
}

/** One line per window, for the log. */
export function describeSchedule(schedule) {
  return schedule.windows.map((w) => `  ${(w.startMs / 1000).toFixed(1)}-${(w.endMs / 1000).toFixed(1)} s: ${w.faults.map(describeFault).join(" + ")}`);
}

export function describeFault(f) {
  const p = f.params;
  const who = (t) => (t.leaderOf !== undefined ? `leader of shard ${t.leaderOf}` : t.followerOf !== undefined ? `a follower of shard ${t.followerOf}` : t.node);
  const links = (ls) => (ls.length > 4 ? `${ls.length} links` : ls.map(([a, b]) => `${a}->${b}`).join(","));
  switch (f.kind) {
    case "kill":
    case "pause":
      return `${f.kind} ${who(p.target)}`;
    case "crash":
      return `crash ${who(p.target)} (lossy)`;
    case "crash-majority":
      return `crash a majority (lossy), the leader of shard ${p.shard} among them${p.lagMs ? `, the others cut off for ${p.lagMs} ms first` : ""}`;
    case "vote-loss":
      return `vote-loss on shard ${p.shard}`;
    case "transfer-away":
      return `move shard ${p.shard}'s leadership away after ${p.afterMs} ms`;
    case "partition-leader":
      return `isolate the leader of shard ${p.shard}`;
    case "partition-halves":
      return `partition ${p.minority.join(",")} | rest`;
    case "partition-bridge":
      return `bridge ${p.bridge} between ${p.a.join(",")} | ${p.b.join(",")}`;
    case "partition-oneway":
      return `cut ${p.direction === "out" ? "outbound" : "inbound"} links of ${who(p.target)}`;
    case "slow":
      return `slow ${links(p.links)} +${p.delayMs}±${p.jitterMs} ms`;
    case "lossy":
      return `lossy ${links(p.links)} drop ${p.drop}${p.reset ? ` reset ${p.reset}` : ""}`;
    case "transfer":
      return `transfers every ${p.everyMs} ms`;
    case "client-faults":
      return `client ${p.mode} on ${p.nodes.join(",")}${p.mode === "reset" ? ` p=${p.reset}` : p.mode === "slow" ? ` +${p.delayMs} ms` : ""}`;
    case "clock-step":
      return `step the wall clock of ${who(p.target)} by ${p.stepMs > 0 ? "+" : ""}${p.stepMs / 1000} s`;
    case "clock-skew":
      return `run the clocks of ${who(p.target)} at ×${p.rate}`;
    case "clock-strobe":
      return `strobe the wall clock of ${who(p.target)} ±${p.amplitudeMs} ms every ${p.periodMs} ms`;
    case "add-node":
      return `add node ${p.id} (--join)${p.settle ? ", until its replicas settle" : ""}`;
    case "remove-node":
      return `remove ${p.node} (RemoveNode)`;
    case "kill-during-move":
      return `kill the ${p.victim} of a replica move (at step ${p.skipSteps + 1} seen), down ${p.downMs} ms`;
  }
  return f.kind;
}
