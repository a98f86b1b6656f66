import { DigestHasher } from "@distcache/store";
import type { CommandResult } from "./shard-state-machine.js";

/**
 * Client sessions of one shard, for exactly-once writes across retries (Raft thesis
 * §6.3, invariant 4 of docs/design.md). Part of the replicated state: every replica applies the same
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
 * session. At most tombstonesMax tombstones are kept, the oldest going first. A dropped
 * tombstone raises the table's floor to the latest of its session's start time (as the
 * client gave it) and last use: a session the table does not know at all that began at
 * or before the floor may be one whose every trace is gone, so it is refused ("expired")
 * too, and the client starts a new session after the floor. So however many sessions a
 * client creates, a late retry is never applied twice.
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

/**
 * Target length of one chunk of the table in a snapshot, in UTF-16 code units of its JSON
 * text (ids are at most 128 bytes and results are small, so a chunk is at most a few
 * times this in UTF-8 bytes; the snapshot bounds its chunks' bytes on its own).
 */
export const SESSION_CHUNK_CHARS_TARGET = 256 * 1024;

/**
 * How far ahead of the shard's time a new session's start may be: a client whose clock is
 * further ahead is refused, since its start time could otherwise raise the floor past
 * every honest client's.
 */
export const SESSION_START_AHEAD_MS_MAX = 10 * 60_000;

/** Expired sessions removed per applied command, so expiry never costs a full scan. */
const EXPIRE_PER_APPLY_MAX = 8;

interface Session {
  lastStampMs: number;
  /** When the client says the session began (Unix ms by its clock). */
  startedMs: number;
  /** Every sequence at or below this was acknowledged by the client and forgotten here. */
  acked: number;
  /** The highest sequence whose result was recorded. */
  highest: number;
  results: Map<number, CommandResult>;
}

interface Tombstone {
  /** The highest sequence the session recorded or acknowledged. */
  mark: number;
  /** The latest of its start and its last use: the floor rises to this when the tombstone goes. */
  boundMs: number;
}

export type SessionLookup =
  | { kind: "new" }
  | { kind: "done"; result: CommandResult }
  | { kind: "forgotten" }
  | { kind: "too-many" }
  /** A new session must begin after startedAfterMs. */
  | { kind: "expired"; startedAfterMs: number }
  | { kind: "ahead" };

export class SessionTable {
  // Map order is least recently used first: a use deletes and re-inserts.
  private readonly sessions = new Map<string, Session>();
  /** Forgotten sessions' high-water marks, oldest first. */
  private readonly tombstones = new Map<string, Tombstone>();
  /** Unknown sessions that began at or before this are refused (0: none is). */
  private floorMsValue = 0;

  constructor(readonly limits: SessionLimits = SESSION_LIMITS_DEFAULT) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Looks up (session, sequence) before applying, after dropping what the client acknowledged. */
  begin(id: string, sequence: number, acked: number, startedMs: number, nowMs: number): SessionLookup {
    this.expire(nowMs);
    let mark = 0;
    if (!this.sessions.has(id)) {
      const tombstone = this.tombstones.get(id);
      if (tombstone !== undefined) {
        if (sequence <= tombstone.mark) return { kind: "expired", startedAfterMs: this.floorMsValue };
        this.tombstones.delete(id);
        mark = tombstone.mark;
      } else {
        if (this.floorMsValue > 0 && startedMs <= this.floorMsValue) return { kind: "expired", startedAfterMs: this.floorMsValue };
        if (startedMs > nowMs + SESSION_START_AHEAD_MS_MAX) return { kind: "ahead" };
      }
    }
    const session = this.touch(id, nowMs, mark, startedMs);
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
  private touch(id: string, nowMs: number, acked: number, startedMs: number): Session {
    let session = this.sessions.get(id);
    if (session) this.sessions.delete(id);
    else {
      session = { lastStampMs: nowMs, startedMs, acked, highest: acked, results: new Map() };
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
    this.tombstones.set(id, { mark: Math.max(session.highest, session.acked), boundMs: Math.max(session.lastStampMs, session.startedMs) });
    if (this.tombstones.size > this.limits.tombstonesMax) {
      const oldest = this.tombstones.entries().next();
      if (oldest.done === true) return;
      this.tombstones.delete(oldest.value[0]);
      this.floorMsValue = Math.max(this.floorMsValue, oldest.value[1].boundMs);
    }
  }

  /** Unknown sessions that began at or before this are refused as expired; 0 while no tombstone was dropped. */
  get floorMs(): number {
    return this.floorMsValue;
  }

  /** Forgotten sessions whose high-water mark is still kept. */
  get tombstoneCount(): number {
    return this.tombstones.size;
  }

  /**
   * The table as JSON texts of about charsTarget code units each, in canonical order
   * (snapshot format 4): `{"sessions":[row...],"tombstones":[[id,mark]...]}`, a row being
   * `[id, lastStampMs, acked, [[sequence, result]...], highest]`. A session whose results
   * do not fit in one chunk goes on in a row of the same id at the start of the next one.
   * Yields at least one text; the table must not change until the last.
   */
  *chunks(charsTarget: number = SESSION_CHUNK_CHARS_TARGET): Generator<string, void, void> {
    let rows: string[] = [];
    let marks: string[] = [];
    let size = 0;
    let yielded = 0;
    const take = (): string => {
      const text = `{"sessions":[${rows.join(",")}],"tombstones":[${marks.join(",")}],"floorMs":${this.floorMsValue}}`;
      rows = [];
      marks = [];
      size = 0;
      yielded++;
      return text;
    };
    for (const [id, session] of this.sessions) {
      const head = `${JSON.stringify(id)},${session.lastStampMs},${session.acked}`;
      const row = (results: readonly string[]) => `[${head},[${results.join(",")}],${session.highest},${session.startedMs}]`;
      const rowBase = head.length + 24;
      let results: string[] = [];
      let rowSize = rowBase;
      for (const [sequence, result] of session.results) {
        const item = stringify([sequence, result]);
        if (size + rowSize + item.length > charsTarget && (size > 0 || results.length > 0)) {
          if (results.length > 0) rows.push(row(results));
          yield take();
          results = [];
          rowSize = rowBase;
        }
        results.push(item);
        rowSize += item.length + 1;
      }
      rows.push(row(results));
      size += rowSize;
      if (size >= charsTarget) yield take();
    }
    for (const [id, { mark, boundMs }] of this.tombstones) {
      const item = `[${JSON.stringify(id)},${mark},${boundMs}]`;
      if (size > 0 && size + item.length > charsTarget) yield take();
      marks.push(item);
      size += item.length + 1;
    }
    if (size > 0 || yielded === 0) yield take();
  }

  /**
   * Rebuilds a table from chunks() texts pushed in order; a single push also reads the
   * earlier forms (snapshot format 3: one text of the whole table; format 2: a bare array
   * of session rows without marks). Results are kept compact (see compactResult).
   */
  static restorer(limits?: SessionLimits): { push(text: string): void; finish(): SessionTable } {
    const table = new SessionTable(limits);
    let last: { id: string; session: Session } | undefined;
    return {
      push: (text) => {
        const parsed = JSON.parse(text, (_k, v: unknown) => (isBigintBox(v) ? BigInt(v.bigint) : v)) as SerializedTable | SessionRow[];
        const { sessions, tombstones, floorMs } = checkTable(Array.isArray(parsed) ? { sessions: parsed, tombstones: [] } : parsed);
        table.floorMsValue = Math.max(table.floorMsValue, floorMs ?? 0);
        for (const [id, lastStampMs, acked, results, highest, startedMs] of sessions) {
          if (last?.id === id) {
            // The rest of a session the previous row began.
            for (const [sequence, result] of results) last.session.results.set(sequence, compactResult(result));
            continue;
          }
          const recorded = results.reduce((max, [sequence]) => Math.max(max, sequence), acked);
          const session: Session = {
            lastStampMs,
            startedMs: startedMs ?? 0,
            acked,
            highest: highest ?? recorded,
            results: new Map(results.map(([sequence, result]) => [sequence, compactResult(result)])),
          };
          table.sessions.set(id, session);
          last = { id, session };
        }
        for (const [id, mark, boundMs] of tombstones) table.tombstones.set(id, { mark, boundMs: boundMs ?? 0 });
      },
      finish: () => table,
    };
  }

  /** Reads one text of the whole table (snapshot formats 2 and 3, or a table with a single chunk). */
  static deserialize(text: string, limits?: SessionLimits): SessionTable {
    const restorer = SessionTable.restorer(limits);
    restorer.push(text);
    return restorer.finish();
  }

  /**
   * Hashes the table in its canonical order, up to piecesPerStep pieces (a session's
   * head, one result, one tombstone) per step, and returns the digest; the same whatever
   * the step size, and however the table was chunked in a snapshot. The table must not
   * change until the last step.
   */
  *digestSteps(piecesPerStep: number = Number.MAX_SAFE_INTEGER): Generator<void, string, void> {
    const hasher = new DigestHasher();
    let budget = piecesPerStep;
    const piece = function* (kind: number, text: string): Generator<void, void, void> {
      hasher.u8(kind);
      hasher.text(text);
      if (--budget > 0) return;
      budget = piecesPerStep;
      yield;
    };
    for (const [id, session] of this.sessions) {
      yield* piece(PIECE_SESSION, `${JSON.stringify(id)},${session.lastStampMs},${session.acked},${session.highest},${session.startedMs}`);
      for (const [sequence, result] of session.results) yield* piece(PIECE_RESULT, stringify([sequence, result]));
    }
    for (const [id, { mark, boundMs }] of this.tombstones) yield* piece(PIECE_TOMBSTONE, `${JSON.stringify(id)},${mark},${boundMs}`);
    yield* piece(PIECE_FLOOR, String(this.floorMsValue));
    return hasher.hex();
  }

  /** digestSteps() in one go. */
  digest(): string {
    const steps = this.digestSteps();
    for (;;) {
      const next = steps.next();
      if (next.done === true) return next.value;
    }
  }
}

const PIECE_SESSION = 1;
const PIECE_RESULT = 2;
const PIECE_TOMBSTONE = 3;
const PIECE_FLOOR = 4;

function stringify(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? { bigint: v.toString() } : v));
}

/**
 * A result as a session keeps it: without the keys a write evicted, which the store
 * reports but no answer uses (results of snapshots before format 4 still carry them).
 */
export function compactResult(result: CommandResult): CommandResult {
  if ((result.type === "set" || result.type === "incr") && "evicted" in result.result) {
    const { evicted: _evicted, ...outcome } = result.result as Record<string, unknown>;
    return { ...result, result: outcome } as CommandResult;
  }
  return result;
}

type SessionRow = [string, number, number, [number, CommandResult][], number?, number?];
interface SerializedTable {
  sessions: SessionRow[];
  tombstones: [string, number, number?][];
  floorMs?: number;
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isResultRow = (r: unknown): boolean =>
  Array.isArray(r) && r.length === 2 && isCount(r[0]) && typeof r[1] === "object" && r[1] !== null && typeof (r[1] as { type?: unknown }).type === "string";
const isSessionRow = (row: unknown): boolean =>
  Array.isArray(row) &&
  typeof row[0] === "string" &&
  isCount(row[1]) &&
  isCount(row[2]) &&
  Array.isArray(row[3]) &&
  (row[3] as unknown[]).every(isResultRow) &&
  (row[4] === undefined || isCount(row[4])) &&
  (row[5] === undefined || isCount(row[5]));
const isTombstone = (row: unknown): boolean =>
  Array.isArray(row) && (row.length === 2 || row.length === 3) && typeof row[0] === "string" && isCount(row[1]) && (row[2] === undefined || isCount(row[2]));

/** A session table read from a snapshot is checked whole: a damaged one is refused, never installed. */
function checkTable(table: unknown): SerializedTable {
  const t = table as Partial<SerializedTable> | null;
  if (
    typeof t !== "object" ||
    t === null ||
    !Array.isArray(t.sessions) ||
    !Array.isArray(t.tombstones) ||
    !t.sessions.every(isSessionRow) ||
    !t.tombstones.every(isTombstone) ||
    !(t.floorMs === undefined || isCount(t.floorMs))
  ) {
    throw new Error("not a session table: a row has the wrong shape or a count that is not a safe integer");
  }
  return t as SerializedTable;
}

function isBigintBox(v: unknown): v is { bigint: string } {
  return typeof v === "object" && v !== null && typeof (v as { bigint?: unknown }).bigint === "string" && Object.keys(v).length === 1;
}
