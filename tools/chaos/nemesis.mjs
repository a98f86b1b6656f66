// Runs a schedule against the cluster: opens each window's faults at its start and heals
// them at its end, and records what it did (kind, target, times, how it went), so the
// report can count faults by kind and tell latency during faults from latency after.
import { Ring } from "@distcache/ring";
import { errorCode } from "./rpc-errors.mjs";
import { describeFault } from "./schedule.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** How long vote-loss waits for its candidate to lead before it asks for the transfer again. */
const TRANSFER_RETRY_MS = 1200;

/**
 * @typedef {{ kind: string, startMs: number, endMs?: number, detail: string, applied: boolean, note?: string }} FaultRecord
 */

export class Nemesis {
  /**
   * @param {{ cluster: import("./nodes.mjs").ChaosCluster, schedule: import("./schedule.mjs").Schedule,
   *           now: () => number, log: (line: string) => void }} options
   */
  constructor(options) {
    this.cluster = options.cluster;
    this.schedule = options.schedule;
    this.now = options.now;
    this.log = options.log;
    /** @type {FaultRecord[]} */
    this.records = [];
    /** Actual [start, end] of each window, as applied. */
    this.windows = [];
    this.transfers = { attempts: 0, ok: 0, failed: new Map() };
    this.stopped = false;
    this.layerSerial = 0;
    /** Keys written by writeEntries so far. */
    this.ownSerial = 0;
    /** Start of the window open now, if any. */
    this.openSince = undefined;
  }

  /** Runs every window in turn; resolves after the last one healed (or stop()). */
  async run() {
    for (const w of this.schedule.windows) {
      if (!(await this.waitUntil(w.startMs))) return;
      const started = this.now();
      this.openSince = started;
      const active = await Promise.all(w.faults.map((f) => this.open(f, w.endMs)));
      const applied = active.map((a) => a.record.detail + (a.record.applied ? "" : ` (skipped: ${a.record.note})`));
      this.log(`  nemesis +${(started / 1000).toFixed(1)} s: ${applied.join(" + ")}`);
      await this.waitUntil(w.endMs);
      await Promise.all(active.map((a) => this.close(a)));
      this.windows.push([started, this.now()]);
      this.openSince = undefined;
    }
  }

  stop() {
    this.stopped = true;
  }

  async waitUntil(ms) {
    while (!this.stopped && this.now() < ms) await sleep(Math.min(100, ms - this.now()));
    return !this.stopped;
  }

  /** Whether a fault window was open at time t (harness ms). */
  faultAt(t) {
    return this.windows.some(([a, b]) => t >= a && t <= b) || (this.openSince !== undefined && t >= this.openSince);
  }

  /** Resolves a target to a node id: the current leader of a shard, a follower of one, or a fixed node. */
  async resolve(target) {
    if (target.node) return target.node;
    const { shards } = await this.cluster.leaders();
    if (target.leaderOf !== undefined) return shards.get(target.leaderOf)?.leaderId || undefined;
    const s = shards.get(target.followerOf);
    if (!s?.leaderId) return undefined;
    const followers = s.replicas.filter((r) => r !== s.leaderId);
    return followers[target.pick % followers.length];
  }

  /** Down or paused nodes right now. */
  impaired() {
    return [...this.cluster.members.values()].filter((m) => m.state !== "up").length;
  }

  cut(a, b, layer) {
    this.cluster.link(a, b).policy.add(layer, { cut: true });
  }

  /** Cuts every link between the two groups, both ways; returns the heal. */
  partition(g1, g2) {
    const layer = `partition-${++this.layerSerial}`;
    const touched = [];
    for (const a of g1) {
      for (const b of g2) {
        this.cut(a, b, layer);
        this.cut(b, a, layer);
        touched.push(this.cluster.link(a, b), this.cluster.link(b, a));
      }
    }
    return () => touched.forEach((l) => l.policy.remove(layer));
  }

  /**
   * Applies one fault; returns its record and its heal.
   * @param {import("./schedule.mjs").Fault} f
   */
  async open(f, endMs) {
    /** @type {FaultRecord} */
    const record = { kind: f.kind, startMs: this.now(), detail: describeFault(f), applied: true };
    this.records.push(record);
    let heal = async () => {};
    const skip = (note) => {
      record.applied = false;
      record.note = note;
      return { record, heal };
    };
    const ids = this.cluster.ids;
    const minority = Math.floor((ids.length - 1) / 2);
    const p = f.params;
    switch (f.kind) {
      case "kill":
      case "crash":
      case "pause": {
        if (this.impaired() >= minority) return skip("a minority is already down or paused");
        const id = await this.resolve(p.target);
        if (!id) return skip("no leader known");
        if (this.cluster.members.get(id).state !== "up") return skip(`${id} is not running`);
        record.detail = `${f.kind} ${id}${p.target.leaderOf !== undefined ? ` (leader of shard ${p.target.leaderOf})` : ""}`;
        if (f.kind === "kill" || f.kind === "crash") {
          await this.cluster.kill(id, { lossy: f.kind === "crash" });
          heal = () => this.restart(id, record);
        } else {
          this.cluster.pause(id);
          heal = async () => void this.cluster.resume(id);
        }
        break;
      }
      case "partition-leader": {
        const id = await this.resolve({ leaderOf: p.shard });
        if (!id) return skip("no leader known");
        record.detail = `isolate ${id} (leader of shard ${p.shard})`;
        const undo = this.partition(
          [id],
          ids.filter((x) => x !== id),
        );
        heal = async () => undo();
        break;
      }
      case "partition-halves": {
        const undo = this.partition(
          p.minority,
          ids.filter((x) => !p.minority.includes(x)),
        );
        heal = async () => undo();
        break;
      }
      case "partition-bridge": {
        const undo = this.partition(p.a, p.b);
        heal = async () => undo();
        break;
      }
      case "partition-oneway": {
        const id = await this.resolve(p.target);
        if (!id) return skip("no leader known");
        record.detail = `cut ${p.direction === "out" ? "outbound" : "inbound"} links of ${id}`;
        const layer = `oneway-${++this.layerSerial}`;
        const links = ids.filter((x) => x !== id).map((x) => (p.direction === "out" ? this.cluster.link(id, x) : this.cluster.link(x, id)));
        links.forEach((l) => l.policy.add(layer, { cut: true }));
        heal = async () => links.forEach((l) => l.policy.remove(layer));
        break;
      }
      case "slow":
      case "lossy": {
        const layer = `${f.kind}-${++this.layerSerial}`;
        const links = p.links.map(([a, b]) => this.cluster.link(a, b));
        const spec = f.kind === "slow" ? { delayMs: p.delayMs, jitterMs: p.jitterMs } : { drop: p.drop, reset: p.reset };
        links.forEach((l) => l.policy.add(layer, spec));
        heal = async () => links.forEach((l) => l.policy.remove(layer));
        break;
      }
      case "transfer": {
        let running = true;
        const loop = this.transferLoop(p, endMs, () => running);
        heal = async () => {
          running = false;
          await loop;
        };
        break;
      }
      case "client-faults": {
        const proxies = p.nodes.map((id) => this.cluster.members.get(id).clientProxy).filter(Boolean);
        if (proxies.length === 0) return skip("client traffic is not proxied");
        const layer = `client-${++this.layerSerial}`;
        const spec = p.mode === "reset" ? { reset: p.reset } : p.mode === "slow" ? { delayMs: p.delayMs, jitterMs: p.delayMs / 2 } : { cut: true };
        proxies.forEach((x) => x.policy.add(layer, spec));
        heal = async () => proxies.forEach((x) => x.policy.remove(layer));
        break;
      }
      case "crash-majority": {
        // A power loss on a majority at once: the leader of a shard and enough others.
        const leader = await this.resolve({ leaderOf: p.shard });
        const up = ids.filter((id) => this.cluster.members.get(id).state === "up");
        const count = Math.floor(ids.length / 2) + 1;
        const victims = [...new Set([leader, ...p.order.map((i) => up[i % up.length])].filter(Boolean))].slice(0, count);
        if (victims.length < count) return skip("not enough nodes running");
        record.detail = `crash ${victims.join(",")} (lossy, a majority; ${leader ? `${leader} led shard ${p.shard}` : "no leader known"})`;
        // With lagMs, the survivors hear nothing for that long first, so the writes acknowledged
        // meanwhile are held by the victims alone when they lose power.
        const lagged = p.lagMs ? ids.filter((id) => !victims.includes(id)) : [];
        const layer = `lag-${++this.layerSerial}`;
        const links = lagged.flatMap((s) => ids.filter((x) => x !== s).map((x) => this.cluster.link(x, s)));
        links.forEach((l) => l.policy.add(layer, { cut: true }));
        if (links.length > 0) {
          record.detail += `, after cutting the links into ${lagged.join(",")} for ${p.lagMs} ms`;
          await sleep(p.lagMs);
        }
        await Promise.all(victims.map((id) => this.cluster.kill(id, { lossy: true })));
        links.forEach((l) => l.policy.remove(layer));
        heal = async () => void (await Promise.all(victims.map((id) => this.restart(id, record))));
        break;
      }
      case "transfer-away": {
        // Moves a shard's leadership off the node that leads it now, after afterMs.
        const from = await this.resolve({ leaderOf: p.shard });
        if (!from) return skip("no leader known");
        record.detail = `transfer shard ${p.shard} away from ${from} after ${p.afterMs} ms`;
        const timer = setTimeout(() => void this.transferAway(p.shard, from), p.afterMs);
        heal = async () => clearTimeout(timer);
        break;
      }
      case "vote-loss": {
        const opened = await this.openVoteLoss(p, record);
        if (typeof opened === "string") return skip(opened);
        heal = opened;
        break;
      }
      case "clock-step":
      case "clock-skew":
      case "clock-strobe": {
        const id = await this.resolve(p.target);
        if (!id) return skip("no leader known");
        record.detail = describeFault({ kind: f.kind, params: { ...p, target: { node: id } } });
        if (p.target.leaderOf !== undefined) record.detail += ` (leader of shard ${p.target.leaderOf})`;
        const layer = `${f.kind}-${++this.layerSerial}`;
        const spec =
          f.kind === "clock-step"
            ? { stepMs: p.stepMs }
            : f.kind === "clock-skew"
              ? { rate: p.rate }
              : { strobe: { amplitudeMs: p.amplitudeMs, periodMs: p.periodMs } };
        this.cluster.setClock(id, layer, spec);
        heal = async () => this.cluster.setClock(id, layer, undefined);
        break;
      }
      default:
        return skip("unknown nemesis");
    }
    return { record, heal };
  }

  async close(active) {
    try {
      await active.heal();
    } finally {
      active.record.endMs = this.now();
    }
  }

  /**
   * A power loss that takes back a vote (the shape that finds a vote granted before it is
   * durable, paper §5.2). Shard p.shard's leader, the voter, moves its leadership to a
   * candidate whose messages reach only the voter (slowly) and just enough helpers for a
   * majority; the others, the bystanders, never hear of the new term. As soon as the
   * candidate leads, its link to the voter is cut (its first appends, still held back, are
   * dropped) and the voter loses power and restarts. A voter that kept its vote refuses
   * every other candidate of that term; one that lost it can elect a second leader of the
   * same term with the bystanders, and the two logs then hold different entries at the
   * same index and term: the replicas' digests differ. Returns the heal, or why it was skipped.
   */
  async openVoteLoss(p, record) {
    if (this.impaired() > 0) return "a node is down or paused";
    const { shards, shardCount } = await this.cluster.leaders();
    const s = shards.get(p.shard);
    const voter = s?.leaderId;
    if (!voter) return "no leader known";
    const others = s.replicas.filter((r) => r !== voter);
    if (others.length < 2) return "the shard has fewer than three replicas";
    // A link cut in an earlier window may still be reconnecting (backoff and handshake).
    const pairs = others.flatMap((o) => [
      [voter, o],
      [o, voter],
    ]);
    if (!(await this.cluster.waitForLinks(pairs, 5000))) return `the links between ${voter} and the other replicas did not all carry frames`;
    if ((await this.cluster.leaders()).shards.get(p.shard)?.leaderId !== voter) return `the leader of shard ${p.shard} changed`;
    const candidate = others[p.pick % others.length];
    const rest = others.filter((r) => r !== candidate);
    const helpers = rest.slice(0, Math.floor(s.replicas.length / 2) - 1);
    const bystanders = rest.slice(helpers.length);
    const layer = `vote-loss-${++this.layerSerial}`;
    const toVoter = this.cluster.link(candidate, voter);
    const toBystanders = bystanders.map((b) => this.cluster.link(candidate, b));
    toBystanders.forEach((l) => l.policy.add(layer, { cut: true }));
    toVoter.policy.add(layer, { delayMs: p.delayMs });
    const heal = async () => [toVoter, ...toBystanders].forEach((l) => l.policy.remove(layer));
    // A transfer the voter abandons (the candidate's answers, slowed, did not show it caught
    // up within an election timeout) is asked for again, up to 3 times.
    let led;
    const leads = this.cluster
      .waitForLog(candidate, (e) => e.msg === "leading the shard" && e.shard === p.shard, 3 * TRANSFER_RETRY_MS)
      .then((entry) => (led = entry));
    let transferred;
    for (let attempt = 0; attempt < 3 && !led; attempt++) {
      transferred = this.transfer(voter, p.shard, candidate, TRANSFER_RETRY_MS);
      await Promise.race([leads, sleep(TRANSFER_RETRY_MS)]);
    }
    const withHelpers = helpers.length ? ` (with ${helpers.join(",")})` : "";
    record.detail = `vote-loss on shard ${p.shard}: ${voter} votes for ${candidate}${withHelpers}, apart from ${bystanders.join(",")}`;
    if (!led) {
      await heal();
      const answer = await transferred;
      return `${candidate} did not take the lead of shard ${p.shard}${answer ? ` (TransferLeader: ${answer})` : ""}`;
    }
    toVoter.policy.add(layer, { cut: true });
    // The candidate's own entries, and after the restart others at the same indexes from
    // whichever node leads next: the workload may have no key on this shard, and two
    // leaders of one term whose entries differ are what a lost vote makes possible.
    const own = this.writeEntries(candidate, p.shard, shardCount, 0);
    record.detail += `; ${candidate} leads term ${led.term}, ${voter} loses power`;
    await this.cluster.kill(voter, { lossy: true });
    await this.restart(voter, record);
    const next = await this.writeEntries(voter, p.shard, shardCount, 2000);
    record.detail += `; writes via ${candidate} ${await own}, via ${voter} ${next}`;
    return heal;
  }

  /**
   * Three Sets of new keys on `shard`, sent straight to node `id`, each retried for up to
   * retryMs while no leader takes it. Returns how they ended, e.g. "2 ok, 1 deadline_exceeded".
   */
  async writeEntries(id, shard, shardCount, retryMs) {
    const cache = this.cluster.control.get(id).cache;
    // The nodes run with the ring's default points per shard.
    const ring = new Ring(Array.from({ length: shardCount }, (_, i) => i));
    const keys = [];
    while (keys.length < 3) {
      const key = `vote-loss-${this.ownSerial++}`;
      if (ring.shardFor(key) === shard) keys.push(key);
    }
    const until = this.now() + retryMs;
    const outcomes = await Promise.all(
      keys.map(async (key) => {
        for (;;) {
          try {
            await cache.set({ key, payload: { case: "text", value: key } }, { timeoutMs: 1000 });
            return "ok";
          } catch (err) {
            const code = errorCode(err);
            if (this.now() >= until || code === "deadline_exceeded") return code;
            await sleep(100);
          }
        }
      }),
    );
    const counts = new Map();
    for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
    return [...counts].map(([o, n]) => `${n} ${o}`).join(", ");
  }

  /** Restarts a killed node (twice if the first start fails; each failure is reported). */
  async restart(id, record) {
    for (let attempt = 1; attempt <= 2; attempt++) {
      if (this.cluster.members.get(id).state !== "down") return;
      try {
        await this.cluster.startMember(id);
        return;
      } catch (err) {
        record.note = `restart ${attempt} failed: ${String(err.message ?? err)
          .split("\n")[0]
          .slice(0, 200)}`;
        await sleep(1000);
      }
    }
  }

  /** One TransferLeader of shard to a replica other than `from`, counted with the transfer loop's. */
  async transferAway(shard, from) {
    const { shards } = await this.cluster.leaders();
    const s = shards.get(shard);
    const to = s?.replicas.find((r) => r !== from && this.cluster.members.get(r)?.state === "up");
    if (to) await this.transfer(to, shard, to);
  }

  /** Asks node `via` to move shard's leadership to `to`; counts the attempt and how it ended. Returns the error's message, if any. */
  async transfer(via, shard, to, timeoutMs = 3000) {
    this.transfers.attempts++;
    try {
      await this.cluster.control.get(via).cluster.transferLeader({ shard, toNodeId: to }, { timeoutMs });
      this.transfers.ok++;
      return undefined;
    } catch (err) {
      const name = errorCode(err);
      this.transfers.failed.set(name, (this.transfers.failed.get(name) ?? 0) + 1);
      return String(err.message ?? err).slice(0, 200);
    }
  }

  async transferLoop(p, endMs, running) {
    for (const draw of p.draws) {
      if (!running() || this.now() >= endMs) return;
      const { shards } = await this.cluster.leaders();
      const s = shards.get(draw.shard);
      const up = [...this.cluster.members.values()].filter((m) => m.state === "up");
      if (s && up.length > 0) {
        const to = s.replicas[draw.to % s.replicas.length];
        await this.transfer(up[draw.to % up.length].id, draw.shard, to);
      }
      const until = Math.min(endMs, this.now() + p.everyMs);
      while (running() && this.now() < until) await sleep(Math.min(100, until - this.now()));
    }
  }

  /** Heals everything: links, client proxies, paused nodes, and restarts every node that is down. */
  async healAll() {
    this.cluster.clearFaults();
    for (const m of this.cluster.members.values()) {
      if (m.state === "down") await this.restart(m.id, { note: "" });
    }
  }
}
