import { fromBinary, type DescMessage, type DescMethodUnary, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport, type UnaryResponse } from "@connectrpc/connect";
import { codeFromString } from "@connectrpc/connect/protocol-connect";
import type { ForwardedAnswer } from "@distcache/proto/raft";
import { randomInt } from "node:crypto";
import { encodeForwardedCall } from "../peer/wire/forwarded-calls-wire.js";
import { encodeUnaryInput } from "./unary-call-context.js";

/** What forwarded calls need of the peer transport. */
export interface PeerLinks {
  /** Queues a frame for the peer; false when it was dropped (queue full, unknown peer, closed). */
  send(to: string, payload: Uint8Array): boolean;
  /** Whether connections to and from the peer are up now, so a frame queued now leaves at once and an answer can come back. */
  connected(to: string): boolean;
  /** Bytes queued for the peer or buffered in its socket. */
  backlogBytes(to: string): number;
  /** Opens the connection to the peer if none is up or being opened. */
  dial(to: string): void;
}

/** The CacheService methods a node forwards on its peer links: writes, whose answers are small. */
export const PEER_FORWARDED_METHODS: ReadonlySet<string> = new Set(["Set", "Delete", "Incr", "Batch"]);

/** The longest a Node timer holds (a longer one fires at once). */
export const TIMER_MS_MAX = 2 ** 31 - 1;

/** A call goes on a peer link only while less than this is waiting to leave on it (heartbeats and log entries queue there too). */
export const FORWARD_BACKLOG_BYTES_MAX = 1024 * 1024;

/** Calls to one peer in flight at once, by default. */
export const PEER_CALLS_MAX = 1024;

interface Pending {
  finish(outcome: ConnectError | { message: Uint8Array }): void;
}

/**
 * The sending half of forwarding on peer links: a Connect transport per peer whose unary
 * calls travel as frames on the peer connection, next to the log entries they become,
 * instead of as HTTP requests to the peer's client port. Each call settles once: with the
 * peer's answer, at its deadline, when it is aborted, or when a connection to the peer
 * closes while it waits (then, like a reset HTTP connection, its outcome is unknown).
 */
export class PeerCallClient {
  /** Calls sent on peer links; sent on the client port because the link was down; failed because a link closed while they waited. */
  readonly stats = { sent: 0, viaClientPort: 0, lost: 0 };
  // Ids start at a random point, so an answer a peer kept for this node's previous process
  // (one it restarted away from) matches no call of this one.
  private nextId = randomInt(1, 2 ** 47);
  private readonly pending = new Map<string, Map<number, Pending>>();

  constructor(
    private readonly links: PeerLinks,
    private readonly callsMax = PEER_CALLS_MAX,
  ) {}

  /** Calls waiting for an answer from `peer`. */
  waiting(peer: string): number {
    return this.pending.get(peer)?.size ?? 0;
  }

  /**
   * The transport for calls to `peer`. A call goes on the peer link while the link is up
   * both ways (the call out on this node's connection, the answer back on the peer's) and
   * its backlog is short, so forwarded writes never crowd out Raft traffic; otherwise, and
   * whenever it is refused before its frame is queued, it goes through `fallback`, the
   * peer's client port (and a link not yet opened is dialled for the calls after it).
   */
  transport(peer: string, fallback?: Transport): Transport {
    return {
      unary: <I extends DescMessage, O extends DescMessage>(
        method: DescMethodUnary<I, O>,
        signal: AbortSignal | undefined,
        timeoutMs: number | undefined,
        header: HeadersInit | undefined,
        input: MessageInitShape<I>,
      ): Promise<UnaryResponse<I, O>> => {
        const sent = this.send(peer, method, signal, timeoutMs, input);
        if (sent instanceof ConnectError) {
          if (!fallback || sent.code === Code.Canceled) return Promise.reject(sent);
          this.stats.viaClientPort++;
          return fallback.unary(method, signal, timeoutMs, header, input);
        }
        return sent.then((bytes) => {
          let message;
          try {
            message = fromBinary(method.output, bytes);
          } catch (err) {
            throw new ConnectError(`malformed answer from ${peer}: ${(err as Error).message}`, Code.Internal);
          }
          return { stream: false, service: method.parent, method, header: new Headers(), message, trailer: new Headers() };
        });
      },
      stream: () => Promise.reject(new ConnectError("peer links carry unary calls only", Code.Unimplemented)),
    };
  }

  /** The call's answer, or the refusal (nothing was sent, the caller may retry) when its frame could not be queued. */
  private send<I extends DescMessage, O extends DescMessage>(
    peer: string,
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    input: MessageInitShape<I>,
  ): Promise<Uint8Array> | ConnectError {
    if (!PEER_FORWARDED_METHODS.has(method.name)) return new ConnectError(`${method.name} is not forwarded on peer links`, Code.Unimplemented);
    if (signal?.aborted) return new ConnectError("the call was canceled", Code.Canceled);
    if (!this.links.connected(peer)) {
      this.links.dial(peer);
      return new ConnectError(`no connection to ${peer} both ways right now; nothing was sent, retry`, Code.Unavailable);
    }
    if (this.links.backlogBytes(peer) > FORWARD_BACKLOG_BYTES_MAX) {
      return new ConnectError(`the link to ${peer} is backed up; nothing was sent, retry`, Code.Unavailable);
    }
    let calls = this.pending.get(peer);
    if (!calls) this.pending.set(peer, (calls = new Map()));
    if (calls.size >= this.callsMax)
      return new ConnectError(`${this.callsMax} calls to ${peer} are in flight, the limit; nothing was sent, retry`, Code.Unavailable);
    const request = encodeUnaryInput(method, input);
    const id = this.nextId++;
    const waitMs = Math.min(TIMER_MS_MAX, Math.max(1, Math.floor(timeoutMs ?? TIMER_MS_MAX)));
    if (!this.links.send(peer, encodeForwardedCall({ id: BigInt(id), method: method.name, timeoutMs: timeoutMs === undefined ? 0 : waitMs, request }))) {
      return new ConnectError(`the link to ${peer} is full; nothing was sent, retry`, Code.Unavailable);
    }
    this.stats.sent++;
    const waiting = calls;
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = (): void => finish(new ConnectError("the call was canceled", Code.Canceled));
      const timer = setTimeout(() => finish(new ConnectError("the operation timed out", Code.DeadlineExceeded)), waitMs);
      const finish = (outcome: ConnectError | { message: Uint8Array }): void => {
        if (!waiting.delete(id)) return;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (outcome instanceof ConnectError) reject(outcome);
        else resolve(outcome.message);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      waiting.set(id, { finish });
    });
  }

  /** Settles the call an answer from `from` is for; an answer for no waiting call (it timed out) is dropped. */
  answer(from: string, answer: ForwardedAnswer): void {
    const call = this.pending.get(from)?.get(Number(answer.id));
    if (!call) return;
    if (!answer.errorCode) return call.finish({ message: answer.response });
    const err = new ConnectError(answer.errorMessage, codeFromString(answer.errorCode) ?? Code.Unknown, ANSWERED);
    for (const detail of answer.errorDetails) err.details.push({ type: detail.type, value: detail.value });
    call.finish(err);
  }

  /**
   * A connection to `peer` closed (or the transport closed them all, stopping): an answer
   * to a waiting call may never come, and its write may or may not have applied.
   */
  linkDown(peer: string): void {
    const calls = this.pending.get(peer);
    if (!calls || calls.size === 0) return;
    const lost = `the connection to ${peer} closed before its answer came`;
    this.stats.lost += calls.size;
    for (const call of [...calls.values()]) call.finish(new ConnectError(lost, Code.Aborted));
  }
}

/**
 * An error the peer answered with carries a response content type, as one read from an
 * HTTP answer does: that is how the router and the client tell the node's own answer
 * from a failure to reach it.
 */
const ANSWERED: HeadersInit = [["content-type", "application/proto"]];
