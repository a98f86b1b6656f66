import type { CommandResult } from "./shard-state-machine.js";

/**
 * Client sessions of one shard, for exactly-once writes across retries (Raft thesis
 * §6.3, DESIGN invariant 4). Part of the replicated state: every replica applies the same
 * commands to it, so it is in digests and snapshots, and it uses only command stamps
 * for time.
 *
 * A session keeps the result of each sequence number it sent until the client's
 * acknowledged watermark passes it; a retried command finds its stored result and is
 * not applied again. Sessions idle for sessionIdleMsMax (by stamps) are forgotten, and at
 * most sessionsMax are kept (the least recently used goes first).
 *
 * A forgotten session leaves a tombstone with its high-water mark: the highest sequence
 * it had seen or had acknowledged. A write of that session at or below the mark may be a
 * late retry of one applied before, whose result is gone, so it is refused ("expired")
 * and never applied twice; a higher sequence was never applied, so it revives the
 * session. At most tombstonesMax tombstones are kept (the oldest goes first): a retry
 * that arrives after its session's tombstone is gone too is the one case not caught.
 */
export interface SessionLimits {
  sessionsMax: number;
  sessionIdleMsMax: number;
  /** Results kept per session: a client with more writes in flight than this is refused. */
  resultsPerSessionMax: number;
  /** Forgotten sessions whose high-water mark is kept. */
  tombstonesMax: number;
}

export const SESSION_LIMITS_DEFAULT: SessionLimits = { sessionsMax: 10_000, sessionIdleMsMax: 10 * 60_000, resultsPerSessionMax: 1024, tombstonesMax: 10_000 };

/** Expired sessions removed per applied command, so expiry never costs a full scan. */
const EXPIRE_PER_APPLY_MAX = 8;

interface Session {
  lastStampMs: number;
  /** Every sequence at or below this was acknowledged by the client and forgotten here. */
  acked: number;
  /** The highest sequence whose result was recorded. */
  highest: number;
  results: Map<number, CommandResult>;
}

export type SessionLookup = { kind: "new" } | { kind: "done"; result: CommandResult } | { kind: "forgotten" } | { kind: "too-many" } | { kind: "expired" };

export class SessionTable {
  // Map order is least recently used first: a use deletes and re-inserts.
  private readonly sessions = new Map<string, Session>();
  /** Forgotten sessions' high-water marks, oldest first. */
  private readonly tombstones = new Map<string, number>();

  constructor(readonly limits: SessionLimits = SESSION_LIMITS_DEFAULT) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Looks up (session, sequence) before applying, after dropping what the client acknowledged. */
  begin(id: string, sequence: number, acked: number, nowMs: number): SessionLookup {
    this.expire(nowMs);
    const mark = this.tombstones.get(id);
    if (mark !== undefined && !this.sessions.has(id)) {
      if (sequence <= mark) return { kind: "expired" };
      this.tombstones.delete(id);
    }
    const session = this.touch(id, nowMs, mark ?? 0);
    if (acked > session.acked) {
      for (const seq of session.results.keys()) if (seq <= acked) session.results.delete(seq);
      session.acked = acked;
    }
    const done = session.results.get(sequence);
    if (done) return { kind: "done", result: done };
    if (sequence <= session.acked) return { kind: "forgotten" };
    if (session.results.size >= this.limits.resultsPerSessionMax) return { kind: "too-many" };
    return { kind: "new" };
  }

  record(id: string, sequence: number, result: CommandResult): void {
    const session = this.sessions.get(id);
    if (session === undefined) return;
    session.results.set(sequence, result);
    session.highest = Math.max(session.highest, sequence);
  }

  /** A new session starts with everything at or below `acked` treated as acknowledged. */
  private touch(id: string, nowMs: number, acked: number): Session {
    let session = this.sessions.get(id);
    if (session) this.sessions.delete(id);
    else {
      session = { lastStampMs: nowMs, acked, highest: acked, results: new Map() };
      if (this.sessions.size >= this.limits.sessionsMax) {
        const oldest = this.sessions.keys().next();
        if (oldest.done !== true) this.forget(oldest.value);
      }
    }
    session.lastStampMs = nowMs;
    this.sessions.set(id, session);
    return session;
  }

  private expire(nowMs: number): void {
    let removed = 0;
    for (const [id, session] of this.sessions) {
      if (removed >= EXPIRE_PER_APPLY_MAX || session.lastStampMs >= nowMs - this.limits.sessionIdleMsMax) break;
      this.forget(id);
      removed++;
    }
  }

  /** Drops a session, keeping its high-water mark as a tombstone. */
  private forget(id: string): void {
    const session = this.sessions.get(id);
    if (session === undefined) return;
    this.sessions.delete(id);
    this.tombstones.delete(id);
    this.tombstones.set(id, Math.max(session.highest, session.acked));
    if (this.tombstones.size > this.limits.tombstonesMax) {
      const oldest = this.tombstones.keys().next();
      if (oldest.done !== true) this.tombstones.delete(oldest.value);
    }
  }

  /** Forgotten sessions whose high-water mark is still kept. */
  get tombstoneCount(): number {
    return this.tombstones.size;
  }

  /** Canonical text of the whole table, for digests and snapshots. */
  serialize(): string {
    const rows = [...this.sessions].map(([id, s]) => [id, s.lastStampMs, s.acked, [...s.results], s.highest]);
    const table = { sessions: rows, tombstones: [...this.tombstones] };
    return JSON.stringify(table, (_k, v: unknown) => (typeof v === "bigint" ? { bigint: v.toString() } : v));
  }

  /** Reads serialize()'s text; also the earlier form, a bare array of session rows without marks. */
  static deserialize(text: string, limits?: SessionLimits): SessionTable {
    const table = new SessionTable(limits);
    const parsed = JSON.parse(text, (_k, v: unknown) => (isBigintBox(v) ? BigInt(v.bigint) : v)) as SerializedTable | SessionRow[];
    const { sessions, tombstones } = Array.isArray(parsed) ? { sessions: parsed, tombstones: [] } : parsed;
    for (const [id, lastStampMs, acked, results, highest] of sessions) {
      const recorded = results.reduce((max, [sequence]) => Math.max(max, sequence), acked);
      table.sessions.set(id, { lastStampMs, acked, highest: highest ?? recorded, results: new Map(results) });
    }
    for (const [id, mark] of tombstones) table.tombstones.set(id, mark);
    return table;
  }
}

type SessionRow = [string, number, number, [number, CommandResult][], number?];
interface SerializedTable {
  sessions: SessionRow[];
  tombstones: [string, number][];
}

function isBigintBox(v: unknown): v is { bigint: string } {
  return typeof v === "object" && v !== null && typeof (v as { bigint?: unknown }).bigint === "string" && Object.keys(v).length === 1;
}
