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
 */
export interface SessionLimits {
  sessionsMax: number;
  sessionIdleMsMax: number;
  /** Results kept per session: a client with more writes in flight than this is refused. */
  resultsPerSessionMax: number;
}

export const SESSION_LIMITS_DEFAULT: SessionLimits = { sessionsMax: 10_000, sessionIdleMsMax: 10 * 60_000, resultsPerSessionMax: 1024 };

/** Expired sessions removed per applied command, so expiry never costs a full scan. */
const EXPIRE_PER_APPLY_MAX = 8;

interface Session {
  lastStampMs: number;
  /** Every sequence at or below this was acknowledged by the client and forgotten here. */
  acked: number;
  results: Map<number, CommandResult>;
}

export type SessionLookup = { kind: "new" } | { kind: "done"; result: CommandResult } | { kind: "forgotten" } | { kind: "too-many" };

export class SessionTable {
  // Map order is least recently used first: a use deletes and re-inserts.
  private readonly sessions = new Map<string, Session>();

  constructor(readonly limits: SessionLimits = SESSION_LIMITS_DEFAULT) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Looks up (session, sequence) before applying, after dropping what the client acknowledged. */
  begin(id: string, sequence: number, acked: number, nowMs: number): SessionLookup {
    this.expire(nowMs);
    const session = this.touch(id, nowMs);
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
    this.sessions.get(id)?.results.set(sequence, result);
  }

  private touch(id: string, nowMs: number): Session {
    let session = this.sessions.get(id);
    if (session) this.sessions.delete(id);
    else {
      session = { lastStampMs: nowMs, acked: 0, results: new Map() };
      if (this.sessions.size >= this.limits.sessionsMax) {
        const oldest = this.sessions.keys().next().value;
        if (oldest !== undefined) this.sessions.delete(oldest);
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
      this.sessions.delete(id);
      removed++;
    }
  }

  /** Canonical text of the whole table, for digests and snapshots. */
  serialize(): string {
    const rows = [...this.sessions].map(([id, s]) => [id, s.lastStampMs, s.acked, [...s.results]]);
    return JSON.stringify(rows, (_k, v: unknown) => (typeof v === "bigint" ? { bigint: v.toString() } : v));
  }

  static deserialize(text: string, limits?: SessionLimits): SessionTable {
    const table = new SessionTable(limits);
    const rows = JSON.parse(text, (_k, v: unknown) => (isBigintBox(v) ? BigInt(v.bigint) : v)) as [string, number, number, [number, CommandResult][]][];
    for (const [id, lastStampMs, acked, results] of rows) table.sessions.set(id, { lastStampMs, acked, results: new Map(results) });
    return table;
  }
}

function isBigintBox(v: unknown): v is { bigint: string } {
  return typeof v === "object" && v !== null && typeof (v as { bigint?: unknown }).bigint === "string" && Object.keys(v).length === 1;
}
