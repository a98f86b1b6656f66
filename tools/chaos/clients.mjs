// The three kinds of clients the workload runs, each turning one operation into an
// observed outcome with its call and return times:
//
//   sdk      @distcache/client (createNodeCacheClient): its own routing, retries and
//            write sessions; reaches nodes through their client proxies with addressMap
//   raw      Connect JSON over HTTP/1.1 to a node drawn per call (it forwards), no session:
//            one attempt per operation
//   session  like raw, but every write carries a session and sequence (RequestHeader), and
//            a write whose outcome is unknown is resent with the same session and sequence,
//            to any node, until it is answered
//
// An outcome is one of:
//   ok             answered, with its output
//   rejected       answered: a condition did not hold (output { ok: false }), nothing applied
//   notApplied     refused in a way that proves it took no effect (left out of histories)
//   indeterminate  a write that may or may not have taken effect (no output, no return time)
//   readFailed     a read that failed (left out of histories)
import http from "node:http";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  CounterOverflowError,
  IndeterminateWriteError,
  InvalidArgumentError,
  KeyExistsError,
  NotACounterError,
  ResourceExhaustedError,
  TimeoutError,
  UnavailableError,
  VersionMismatchError,
  WriteResultForgottenError,
} from "@distcache/client";
import { createNodeCacheClient } from "@distcache/client/node";
import { CacheService, Consistency, SetCondition } from "@distcache/proto";
import { classifyWriteError, errorCode } from "./rpc-errors.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const decoder = new TextDecoder();

/**
 * @typedef {object} Op
 * @property {"register" | "counter" | "ttl"} cls
 * @property {string} key
 * @property {"get" | "set" | "delete" | "incr"} kind
 * @property {string} [value]
 * @property {{ kind: "none" } | { kind: "if_absent" } | { kind: "if_version", version: bigint }} [condition]
 * @property {number} [ttlMs]
 * @property {number} [delta]
 */

/**
 * @typedef {object} Outcome
 * @property {number} callTime
 * @property {number} [returnTime]
 * @property {"ok" | "rejected" | "notApplied" | "indeterminate" | "readFailed"} outcome
 * @property {any} [output]
 * @property {string} [code]
 * @property {number} attempts
 * @property {string} [node]    the node a raw call went to (its last attempt)
 */

/** A value read back: text, or bytes decoded as UTF-8. */
function textOf(payload) {
  if (!payload) return "";
  if (payload.case === "text") return payload.value;
  if (payload.case === "value") return decoder.decode(payload.value);
  return "";
}

/** A counter read: its value, 0 when absent, null when the key holds something else (which no history allows). */
function counterValue(found, text) {
  if (!found) return 0n;
  try {
    return BigInt(text);
  } catch {
    return null;
  }
}

const isWrite = (op) => op.kind !== "get";

// ---------------------------------------------------------------------------------------

export class SdkClient {
  /**
   * @param {{ id: number, name: string, endpoints: string[], addressMap: ((address: string) => string) | undefined, timeoutMs: number,
   *           now: () => number }} options
   *   addressMap follows nodes that join later too; the SDK finds them in the topology
   */
  constructor(options) {
    this.id = options.id;
    this.name = options.name;
    this.kind = "sdk";
    this.now = options.now;
    this.timeoutMs = options.timeoutMs;
    /** SDK retries by reason, from its onEvent. */
    this.retries = new Map();
    this.cache = createNodeCacheClient({
      endpoints: options.endpoints,
      addressMap: options.addressMap,
      timeoutMs: options.timeoutMs,
      onEvent: (e) => {
        if (e.type === "retry") this.retries.set(e.reason, (this.retries.get(e.reason) ?? 0) + 1);
      },
    });
  }

  /** @param {Op} op @returns {Promise<Outcome>} */
  async perform(op) {
    const callTime = this.now();
    try {
      const output = await this.call(op);
      return { callTime, returnTime: this.now(), outcome: "ok", output, attempts: 1 };
    } catch (err) {
      const returnTime = this.now();
      const code = err?.name ?? "Error";
      if (!isWrite(op)) return { callTime, outcome: "readFailed", code, attempts: 1 };
      if (err instanceof KeyExistsError || err instanceof VersionMismatchError) {
        return { callTime, returnTime, outcome: "rejected", output: { ok: false }, code, attempts: 1 };
      }
      // The SDK's contract: these mean the write took no effect (packages/client/README.md, Errors).
      const noEffect = [TimeoutError, UnavailableError, ResourceExhaustedError, InvalidArgumentError, NotACounterError, CounterOverflowError];
      if (!(err instanceof IndeterminateWriteError) && !(err instanceof WriteResultForgottenError) && noEffect.some((c) => err instanceof c)) {
        return { callTime, outcome: "notApplied", code, attempts: 1 };
      }
      return { callTime, outcome: "indeterminate", code, attempts: 1 };
    }
  }

  async call(op) {
    const c = this.cache;
    switch (`${op.cls}:${op.kind}`) {
      case "register:get":
      case "ttl:get": {
        const r = await c.get(op.key);
        return r ? { found: true, value: r.text ?? decoder.decode(r.value), version: r.version } : { found: false };
      }
      case "counter:get": {
        const r = await c.get(op.key);
        return counterValue(r !== null, r ? (r.text ?? decoder.decode(r.value)) : "");
      }
      case "register:set":
      case "ttl:set": {
        const cond = op.condition ?? { kind: "none" };
        const options = {
          ttlMs: op.ttlMs || undefined,
          ifAbsent: cond.kind === "if_absent" || undefined,
          ifVersion: cond.kind === "if_version" ? cond.version : undefined,
        };
        return { ok: true, version: await c.set(op.key, op.value, options) };
      }
      case "register:delete":
        return { deleted: await c.delete(op.key) };
      case "counter:incr":
        return await c.incr(op.key, op.delta);
    }
    throw new Error(`no such operation ${op.cls}:${op.kind}`);
  }

  async close() {
    await this.cache.close();
  }
}

// ---------------------------------------------------------------------------------------

export class RawClient {
  /**
   * @param {{ id: number, name: string, urls: string[], ids: string[], timeoutMs: number, random: () => number, now: () => number,
   *           routable?: (id: string) => boolean }} options
   *   routable: whether a node may be sent calls (a node asked to leave, or gone, is not)
   */
  constructor(options) {
    this.id = options.id;
    this.name = options.name;
    this.kind = "raw";
    this.now = options.now;
    this.random = options.random;
    this.timeoutMs = options.timeoutMs;
    this.ids = [...options.ids];
    this.routable = options.routable ?? (() => true);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    this.nodes = [];
    options.urls.forEach((url, i) => this.addNode(this.ids[i], url, false));
    this.retries = new Map();
  }

  /** Sends calls to node `id` (at `url`) too, from now on: a node that joined. */
  addNode(id, url, record = true) {
    if (record) this.ids.push(id);
    const transport = createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: false, nodeOptions: { agent: this.agent } });
    this.nodes.push(createClient(CacheService, transport));
  }

  /** The nodes calls may go to now (every node, if none may). */
  targets() {
    const open = this.ids.flatMap((id, i) => (this.routable(id) ? [i] : []));
    return open.length > 0 ? open : this.ids.map((_, i) => i);
  }

  pickNode() {
    const open = this.targets();
    return open[Math.floor(this.random() * open.length)];
  }

  /** Another node than i to resend to, drawn among those calls may go to. */
  otherNode(i) {
    const open = this.targets().filter((j) => j !== i);
    return open.length > 0 ? open[Math.floor(this.random() * open.length)] : i;
  }

  /** One RPC to node i; resolves to the operation's output. */
  async rpc(op, i, header) {
    const client = this.nodes[i];
    // The caller's deadline, and a hard stop a little after it for a connection that hangs.
    const call = { timeoutMs: this.timeoutMs, signal: AbortSignal.timeout(this.timeoutMs + 1500) };
    switch (`${op.cls}:${op.kind}`) {
      case "register:get":
      case "ttl:get": {
        const r = await client.get({ key: op.key, consistency: Consistency.STRONG }, call);
        return r.found ? { found: true, value: textOf(r.payload), version: r.version } : { found: false };
      }
      case "counter:get": {
        const r = await client.get({ key: op.key, consistency: Consistency.STRONG }, call);
        return counterValue(r.found, textOf(r.payload));
      }
      case "register:set":
      case "ttl:set": {
        const cond = op.condition ?? { kind: "none" };
        const condition = cond.kind === "if_absent" ? SetCondition.IF_ABSENT : cond.kind === "if_version" ? SetCondition.IF_VERSION : SetCondition.UNSPECIFIED;
        const r = await client.set(
          {
            key: op.key,
            payload: { case: "text", value: op.value },
            ttlMs: BigInt(op.ttlMs ?? 0),
            condition,
            expectedVersion: cond.kind === "if_version" ? BigInt(cond.version) : 0n,
            header,
          },
          call,
        );
        return { ok: true, version: r.version };
      }
      case "register:delete":
        return { deleted: (await client.delete({ key: op.key, header }, call)).deleted };
      case "counter:incr":
        return (await client.incr({ key: op.key, delta: BigInt(op.delta), header }, call)).value;
    }
    throw new Error(`no such operation ${op.cls}:${op.kind}`);
  }

  /** @param {Op} op @returns {Promise<Outcome>} */
  async perform(op) {
    const i = this.pickNode();
    const callTime = this.now();
    try {
      const output = await this.rpc(op, i, undefined);
      return { callTime, returnTime: this.now(), outcome: "ok", output, attempts: 1, node: this.ids[i] };
    } catch (err) {
      const returnTime = this.now();
      if (!isWrite(op)) return { callTime, outcome: "readFailed", code: errorCode(err), attempts: 1, node: this.ids[i] };
      const c = classifyWriteError(err);
      if (c.verdict === "rejected") return { callTime, returnTime, outcome: "rejected", output: { ok: false }, code: c.code, attempts: 1, node: this.ids[i] };
      if (c.verdict === "notApplied") return { callTime, outcome: "notApplied", code: c.notLeader ? "not_leader" : c.code, attempts: 1, node: this.ids[i] };
      return { callTime, outcome: "indeterminate", code: c.code, attempts: 1, node: this.ids[i] };
    }
  }

  async close() {
    this.agent.destroy();
  }
}

// ---------------------------------------------------------------------------------------

export class SessionClient extends RawClient {
  /**
   * @param {ConstructorParameters<typeof RawClient>[0] & { retryForMs: number, sessionTag: string }} options
   */
  constructor(options) {
    super(options);
    this.kind = "session";
    this.retryForMs = options.retryForMs;
    this.sessionTag = options.sessionTag;
    this.sessions = 0;
    this.stopping = false;
    /** Writes answered only after a resend with the same sequence. */
    this.answeredAfterResend = 0;
    this.newSession();
  }

  newSession() {
    this.sessions++;
    this.session = { id: `${this.sessionTag}-${this.name}-${this.sessions}`, startedMs: Date.now(), next: 1 };
  }

  /** @param {Op} op @returns {Promise<Outcome>} */
  async perform(op) {
    if (!isWrite(op)) return super.perform(op);
    const session = this.session;
    const sequence = session.next++;
    // One write in flight per client: every earlier sequence of this session has its final answer.
    const header = { sessionId: session.id, sequence: BigInt(sequence), ackedSequence: BigInt(sequence - 1), sessionStartedMs: BigInt(session.startedMs) };
    const callTime = this.now();
    let attempts = 0;
    let mayHaveApplied = false;
    let backoff = 50;
    let i = this.pickNode();
    let lastCode = "";
    for (;;) {
      attempts++;
      try {
        const output = await this.rpc(op, i, header);
        if (attempts > 1) this.answeredAfterResend++;
        return { callTime, returnTime: this.now(), outcome: "ok", output, attempts, node: this.ids[i] };
      } catch (err) {
        const c = classifyWriteError(err);
        lastCode = c.notLeader ? "not_leader" : c.code;
        if (c.verdict === "rejected") {
          if (attempts > 1) this.answeredAfterResend++;
          return { callTime, returnTime: this.now(), outcome: "rejected", output: { ok: false }, code: c.code, attempts, node: this.ids[i] };
        }
        if (c.verdict === "sessionExpired" || c.verdict === "resultForgotten") {
          // The shard no longer answers for this session: what an earlier send did is unknown.
          this.newSession();
          const reason = c.verdict === "sessionExpired" ? "session_expired" : "result_forgotten";
          return { callTime, outcome: mayHaveApplied ? "indeterminate" : "notApplied", code: reason, attempts, node: this.ids[i] };
        }
        if (c.verdict === "indeterminate") mayHaveApplied = true;
        if (this.now() - callTime > this.retryForMs || (this.stopping && this.now() - callTime > 2000)) {
          // Given up: later writes start a new session, so the watermark never passes this one.
          this.newSession();
          return { callTime, outcome: mayHaveApplied ? "indeterminate" : "notApplied", code: lastCode, attempts, node: this.ids[i] };
        }
        this.retries.set(c.verdict, (this.retries.get(c.verdict) ?? 0) + 1);
        await sleep(backoff / 2 + this.random() * (backoff / 2));
        backoff = Math.min(backoff * 2, 500);
        i = this.otherNode(i);
      }
    }
  }
}
