// Runs a schedule against the cluster: opens each window's faults at its start and heals
// them at its end, and records what it did (kind, target, times, how it went), so the
// report can count faults by kind and tell latency during faults from latency after.
import { Ring } from "@distcache/ring";
import { errorCode } from "./rpc-errors.mjs";
import { describeFault, MEMBERS_MIN } from "./schedule.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** How long vote-loss waits for its candidate to lead before it asks for the transfer again. */
const TRANSFER_RETRY_MS = 1200;
/** How long add-node waits for the cluster to list its node, and then (with settle) for the placement to settle. */
const MEMBER_WAIT_MS = 40_000;
const SETTLE_WAIT_MS = 40_000;
/** How long remove-node's heal waits for its node to stop by itself. */
const REMOVE_WAIT_MS = 30_000;
/** How long kill-during-move waits for a replica move step it can act on (its add-node may take 40 s to become a member). */
const MOVE_WAIT_MS = 60_000;
/** Answers to RemoveNode that prove it changed nothing. */
const REMOVE_REFUSALS = new Set(["failed_precondition", "invalid_argument", "not_found", "unauthenticated", "already_exists", "resource_exhausted"]);

/**
 * @typedef {{ kind: string, startMs: number, endMs?: number, detail: string, applied: boolean, note?: string }} FaultRecord
 */

export class Nemesis {
  /**
   * @param {{ cluster: import("./nodes.mjs").ChaosCluster, schedule: import("./schedule.mjs").Schedule,
   *           now: () => number, log: (line: string) => void, nodesMax?: number }} options
   */
  constructor(options) {
    this.cluster = options.cluster;
    this.nodesMax = options.nodesMax ?? Infinity;
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
    /** Membership changes still under way (they may outlast their window). @type {Promise<void>[]} */
    this.pending = [];
    /** Nodes a fault has chosen to take down and not yet has (they count as impaired). @type {Set<string>} */
    this.claimed = new Set();
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

  /** Down or paused members right now (a node removed, or joining for the first time, is none). */
  impaired() {
    return this.cluster.memberIds().filter((id) => this.cluster.members.get(id).state !== "up" || this.claimed.has(id)).length;
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
    const ids = this.cluster.memberIds();
    const minority = Math.floor((ids.length - 1) / 2);
    const p = f.params;
    switch (f.kind) {
      case "kill":
      case "crash":
      case "pause": {
        if (this.impaired() >= minority) return skip("a minority is already down or paused");
        const id = await this.resolve(p.target);
        if (!id) return skip("no leader known");
        if (this.cluster.members.get(id).state !== "up" || this.claimed.has(id)) return skip(`${id} is not running`);
        // Faults opened at once, or a kill during a move, check the same count: re-checked now that it is final.
        if (this.impaired() >= minority) return skip("a minority is already down or paused");
        record.detail = `${f.kind} ${id}${p.target.leaderOf !== undefined ? ` (leader of shard ${p.target.leaderOf})` : ""}`;
        if (f.kind === "kill" || f.kind === "crash") {
          this.claimed.add(id);
          await this.cluster.kill(id, { lossy: f.kind === "crash" }).finally(() => this.claimed.delete(id));
          heal = () => this.restart(id, record);
        } else {
          this.cluster.pause(id);
          heal = async () => void this.cluster.resume(id);
        }
        break;
      }
      case "partition-leader":
      case "partition-halves":
      case "partition-bridge":
      case "partition-oneway": {
        const opened = await this.openPartition(f, record, ids);
        if (typeof opened === "string") return skip(opened);
        heal = opened;
        break;
      }
      case "slow":
      case "lossy": {
        const layer = `${f.kind}-${++this.layerSerial}`;
        const links = p.links.map(([a, b]) => this.cluster.link(a, b)).filter(Boolean);
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
      case "add-node":
      case "remove-node":
      case "kill-during-move": {
        const opened = await (f.kind === "add-node"
          ? this.openAdd(p, record)
          : f.kind === "remove-node"
            ? this.openRemove(p, record)
            : this.openMoveKill(p, record));
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

  /**
   * One partition; returns its heal, or why it was skipped. Sides drawn over the nodes
   * the run started with act on those still members (there is a link between every two
   * members), and a minority stays one of the members there are now.
   */
  async openPartition(f, record, ids) {
    const p = f.params;
    const current = (list) => list.filter((id) => ids.includes(id));
    let undo;
    if (f.kind === "partition-leader") {
      const id = await this.resolve({ leaderOf: p.shard });
      if (!id) return "no leader known";
      record.detail = `isolate ${id} (leader of shard ${p.shard})`;
      undo = this.partition(
        [id],
        ids.filter((x) => x !== id),
      );
    } else if (f.kind === "partition-halves") {
      const side = current(p.minority).slice(0, Math.floor((ids.length - 1) / 2));
      if (side.length === 0) return "no node of its minority is a member";
      record.detail = `partition ${side.join(",")} | rest`;
      undo = this.partition(
        side,
        ids.filter((x) => !side.includes(x)),
      );
    } else if (f.kind === "partition-bridge") undo = this.partition(current(p.a), current(p.b));
    else {
      const id = await this.resolve(p.target);
      if (!id) return "no leader known";
      record.detail = `cut ${p.direction === "out" ? "outbound" : "inbound"} links of ${id}`;
      const layer = `oneway-${++this.layerSerial}`;
      const links = ids.filter((x) => x !== id).map((x) => (p.direction === "out" ? this.cluster.link(id, x) : this.cluster.link(x, id)));
      links.forEach((l) => l.policy.add(layer, { cut: true }));
      undo = () => links.forEach((l) => l.policy.remove(layer));
    }
    return async () => undo();
  }

  async close(active) {
    try {
      await active.heal();
    } finally {
      // A membership change that outlasts its window sets its end again when it ends.
      active.record.endMs ??= this.now();
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

  /**
   * Runs a membership change in the background, past its window if it takes longer, so
   * the schedule keeps its times; healAll waits for it. It logs how it went when it ends.
   * Returns the window's heal: nothing.
   */
  background(record, task) {
    const done = task()
      .catch((err) => {
        record.applied = false;
        record.note = `failed: ${String(err.message ?? err).slice(0, 200)}`;
      })
      .finally(() => {
        record.endMs = this.now();
        this.log(`  nemesis +${(this.now() / 1000).toFixed(1)} s: ${record.detail}${record.applied ? "" : ` (skipped: ${record.note})`}`);
      });
    this.pending.push(done);
    return async () => {};
  }

  /**
   * add-node: starts node p.id with --join through a running member, and waits until the
   * cluster lists it (and, with p.settle, until the placement settled), in the background.
   * Returns its heal (none: the node stays), or why it was skipped.
   */
  async openAdd(p, record) {
    const cluster = this.cluster;
    if (cluster.members.has(p.id)) return `${p.id} exists already`;
    // A node still joining counts toward the budget.
    if (cluster.ids.length >= this.nodesMax) return `the cluster has ${this.nodesMax} members, the most the run allows`;
    const up = cluster.ids.filter((id) => cluster.members.get(id).state === "up" && cluster.routable(id)).sort();
    if (up.length === 0) return "no member is running";
    const via = up[p.via % up.length];
    record.detail = `add ${p.id} (--join via ${via})`;
    await cluster.prepareMember(p.id, cluster.members.get(via).url);
    return this.background(record, async () => {
      const started = this.now();
      const start = cluster.startMember(p.id).then(
        () => undefined,
        (err) =>
          (record.note = `its start failed: ${String(err.message ?? err)
            .split("\n")[0]
            .slice(0, 200)}`),
      );
      if (!(await cluster.waitForMember(p.id, MEMBER_WAIT_MS))) {
        record.note ??= `not a member ${MEMBER_WAIT_MS / 1000} s after its start`;
        return;
      }
      record.detail += `: a member after ${((this.now() - started) / 1000).toFixed(1)} s`;
      await Promise.race([start, sleep(10_000)]);
      if (!p.settle) return;
      const settled = await cluster.waitForSettled(SETTLE_WAIT_MS);
      if (settled) record.detail += `, settled after ${((this.now() - started) / 1000).toFixed(1)} s`;
      else record.note = `the placement had not settled ${SETTLE_WAIT_MS / 1000} s after it became a member`;
    });
  }

  /**
   * remove-node: RemoveNode of p.node if it is a running member not leaving, else of the
   * earliest node the run added, else of any (by p.pick), unless that would leave fewer
   * than MEMBERS_MIN members or a member is down or paused. In the background, it waits
   * (bounded) for the node to stop by itself.
   */
  async openRemove(p, record) {
    const cluster = this.cluster;
    const staying = cluster.memberIds().filter((id) => cluster.routable(id));
    if (staying.length - 1 < MEMBERS_MIN) return `removing a node would leave fewer than ${MEMBERS_MIN} members`;
    if (this.impaired() > 0) return "a node is down or paused";
    const running = staying.filter((id) => cluster.members.get(id).state === "up");
    const joined = running.filter((id) => cluster.members.get(id).joined);
    const victim = running.includes(p.node) ? p.node : (joined[0] ?? running[p.pick % running.length]);
    const others = running.filter((id) => id !== victim).sort();
    const via = others[p.pick % others.length];
    record.detail = `remove ${victim} (RemoveNode via ${via})`;
    cluster.members.get(victim).removingSinceMs = this.now();
    return this.background(record, async () => {
      const answer = await this.askRemoval(victim, via, record);
      if (!answer) return;
      record.detail += `, epoch ${answer.epoch}`;
      const asked = this.now();
      const deadline = asked + REMOVE_WAIT_MS;
      while (cluster.members.get(victim).state !== "removed" && this.now() < deadline) await sleep(200);
      const m = cluster.members.get(victim);
      if (m.state === "removed") record.detail += `; it left after ${((m.removedAtMs - asked) / 1000).toFixed(1)} s`;
      else record.detail += `; still leaving ${((this.now() - asked) / 1000).toFixed(1)} s after it was asked`;
    });
  }

  /** RemoveNode of `victim` through `via`, tried 3 times; its answer, or undefined (the record says why). */
  async askRemoval(victim, via, record) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.cluster.removeMember(victim, via);
      } catch (err) {
        const code = errorCode(err);
        if (REMOVE_REFUSALS.has(code) || attempt === 3) {
          // A refusal changed nothing; a call that timed out may have, so the node stays leaving.
          if (REMOVE_REFUSALS.has(code)) this.cluster.members.get(victim).removingSinceMs = undefined;
          record.applied = false;
          record.note = `RemoveNode of ${victim} failed: ${code}: ${String(err.rawMessage ?? err.message).slice(0, 160)}`;
          return undefined;
        }
        await sleep(1000);
      }
    }
  }

  /**
   * kill-during-move: waits for the placement driver's "replica move step" lines (logged
   * by the meta leader) and, at the first one after p.skipSteps whose p.victim (the move's
   * source, its destination, or the meta leader; the meta leader when the move has none)
   * is running and may go down, kills it, and restarts it p.downMs later, in the background.
   */
  async openMoveKill(p, record) {
    const cluster = this.cluster;
    return this.background(record, async () => {
      const deadline = this.now() + MOVE_WAIT_MS;
      let seen = 0;
      for (;;) {
        const left = deadline - this.now();
        if (left <= 0 || this.stopped) {
          record.applied = false;
          record.note = `no replica move step it could act on within ${MOVE_WAIT_MS / 1000} s`;
          return;
        }
        const found = await cluster.waitForLogAny((e) => e.msg === "replica move step", left);
        if (!found || seen++ < p.skipSteps) continue;
        const { id: metaLeader, entry } = found;
        const role = p.victim === "source" && entry.from ? "source" : p.victim === "destination" && entry.to ? "destination" : "meta leader";
        const victim = role === "source" ? entry.from : role === "destination" ? entry.to : metaLeader;
        const ids = cluster.memberIds();
        if (cluster.members.get(victim)?.state !== "up" || this.claimed.has(victim) || this.impaired() >= Math.floor((ids.length - 1) / 2)) continue;
        if (this.stopped) return void Object.assign(record, { applied: false, note: "the heal began first" });
        this.claimed.add(victim);
        const move = `shard ${entry.shard}'s move ${entry.from ?? "-"} → ${entry.to ?? "-"} at ${entry.phase}`;
        record.detail = `kill ${victim} at +${(this.now() / 1000).toFixed(1)} s (the ${role} of ${move}; meta leader ${metaLeader})`;
        await cluster.kill(victim).finally(() => this.claimed.delete(victim));
        await sleep(p.downMs);
        await this.restart(victim, record);
        return;
      }
    });
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

  /** Heals everything: links, client proxies, paused nodes, membership changes under way, and restarts every node that is down. */
  async healAll() {
    this.cluster.clearFaults();
    // Membership changes under way end first (each is bounded): a node killed during a move is restarted by its own.
    await Promise.all(this.pending);
    for (const m of this.cluster.members.values()) {
      // A node whose first join failed is reported as such; started again, it would ask to join under a used id.
      if (m.state === "down" && !(m.joined && m.incarnations.length === 0)) await this.restart(m.id, { note: "" });
    }
  }
}
