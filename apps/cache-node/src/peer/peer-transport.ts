import net from "node:net";
import type { Logger } from "pino";
import { SEND_BACKLOG_BYTES, SNAPSHOT_FRAME_BYTES_MAX } from "./wire/snapshot-wire.js";
import { FrameReader, encodeFrames } from "./wire/frame-reader.js";
import {
  ACCEPTED,
  ANSWER_BYTES_MAX,
  CHALLENGE_BYTES,
  answer,
  clusterIdBytes,
  clusterRefusal,
  newChallenge,
  parseAnswer,
  parseChallenge,
  verify,
  versionNotice,
  versionRefusal,
} from "./peer-handshake.js";
import { PeerProtocolError } from "./wire/protocol-error.js";
import type { PeerFaultHook } from "./peer-faults.js";

export interface PeerTransportOptions {
  nodeId: string;
  /** Shared cluster secret for the HMAC handshake. */
  secret: string;
  /** The cluster this node belongs to (16 bytes, hex; from the data dir's identity): peers of another are refused. */
  clusterId: string;
  /** This node's data dir incarnation (16 bytes, hex), presented at every handshake. */
  incarnation?: string;
  /**
   * Why a peer presenting `incarnation` is refused (it knew the peer under another: its
   * data dir was wiped); undefined to take it.
   */
  incarnationProblem?: (peer: string, incarnation: string) => string | undefined;
  /** Where to dial each peer ("host:port"); can be overridden later per peer. */
  peers: ReadonlyMap<string, string>;
  /**
   * Called for every frame of an authenticated peer. Throwing a PeerProtocolError closes
   * that peer's connection (the frame broke the protocol); the peer may reconnect.
   */
  onMessage: (from: string, payload: Buffer) => void;
  /**
   * Called when a connection to or from `peer` that had completed its handshake closes:
   * frames on it may not have arrived (forwarded calls waiting for an answer fail then).
   */
  onLinkDown?: (peer: string) => void;
  /**
   * Frames still queued for a peer when its connection closes are sent on the next one,
   * except those this says to drop: ones that must not arrive late (forwarded calls,
   * which the sender fails when the connection closes, and their answers).
   */
  dropOnClose?: (payload: Uint8Array) => boolean;
  logger: Logger;
  /** Messages queued for one peer beyond this many bytes are dropped (Raft retransmits). */
  queueBytesMax?: number;
  /** Largest single message accepted on the wire. */
  frameBytesMax?: number;
  /** Stop writing to a peer while its socket buffers this much; resume on drain. */
  socketBufferBytesMax?: number;
  /**
   * A connection, inbound or outbound, that has not completed its handshake this long
   * after it opened is closed (and an outbound one dialled again). The handshake is three
   * one-way trips. The bound also caps how long a dial swallowed by a partition delays
   * the reconnection once the partition heals, so it is short: a few election timeouts.
   */
  handshakeTimeoutMs?: number;
  /** An authenticated connection that stops this long in the middle of a frame is closed. */
  frameStallMs?: number;
  reconnectDelayMsMin?: number;
  reconnectDelayMsMax?: number;
  /** The test-only fault hook (the links of --testing-control): drops or delays outbound frames per destination. */
  faults?: PeerFaultHook;
}

export interface PeerStats {
  sent: number;
  dropped: number;
  received: number;
  /** Inbound connections closed before or at the handshake (garbage, bad MAC, unknown peer, deadline). */
  rejectedHandshakes: number;
  /** Authenticated inbound connections closed because a frame broke the protocol (or stalled). */
  protocolErrors: number;
  /** Bytes written to peers, and read from authenticated peers, handshakes not counted. */
  bytesSent: number;
  bytesReceived: number;
}

/** A refusal for the same reason is logged at error at most this often (peers redial every few seconds). */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * Default queue and frame limits. A snapshot chunk is queued while at most
 * SEND_BACKLOG_BYTES wait for the peer, so the queue holds that much and one snapshot
 * frame more; and a reader takes any snapshot frame.
 */
export const PEER_QUEUE_BYTES_MAX_DEFAULT = Math.max(16 * 1024 * 1024, SEND_BACKLOG_BYTES + SNAPSHOT_FRAME_BYTES_MAX);
export const PEER_FRAME_BYTES_MAX_DEFAULT = Math.max(64 * 1024 * 1024, SNAPSHOT_FRAME_BYTES_MAX);

const DEFAULTS = {
  queueBytesMax: PEER_QUEUE_BYTES_MAX_DEFAULT,
  frameBytesMax: PEER_FRAME_BYTES_MAX_DEFAULT,
  socketBufferBytesMax: 8 * 1024 * 1024,
  handshakeTimeoutMs: 1500,
  frameStallMs: 30_000,
  reconnectDelayMsMin: 50,
  reconnectDelayMsMax: 2000,
};

/**
 * Raft traffic between nodes. Each node dials its own outbound connection to every
 * peer and only sends on it, so A→B and B→A are independent (a one-way partition can
 * be injected by cutting one). Messages to a peer are batched into one write per turn
 * of the event loop; a slow peer's queue is bounded and overflow is dropped.
 */
export class PeerTransport {
  private readonly options: PeerTransportOptions & typeof DEFAULTS;
  private readonly clusterId: Buffer;
  private readonly refusals = new RefusalLog();
  private readonly dialers = new Map<string, Dialer>();
  private readonly inbound = new Set<net.Socket>();
  /** The peer of each authenticated inbound connection. */
  private readonly inboundPeer = new WeakMap<net.Socket, string>();
  /** Authenticated inbound connections open, by peer. */
  private readonly inboundCounts = new Map<string, number>();
  private server: net.Server | undefined;
  private closed = false;
  readonly stats: PeerStats = { sent: 0, dropped: 0, received: 0, rejectedHandshakes: 0, protocolErrors: 0, bytesSent: 0, bytesReceived: 0 };

  constructor(options: PeerTransportOptions) {
    this.options = { ...DEFAULTS, ...options };
    this.clusterId = clusterIdBytes(options.clusterId);
    for (const [id, address] of options.peers) if (id !== options.nodeId) this.dialers.set(id, this.newDialer(id, address));
  }

  /** Listens for peers; resolves with the bound port. */
  listen(port: number, host: string): Promise<number> {
    const server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Queues payload for peer `to`. Returns false when it was dropped (unknown peer, queue full, closed). */
  send(to: string, payload: Uint8Array): boolean {
    const dialer = this.dialers.get(to);
    if (!dialer || this.closed) {
      this.stats.dropped++;
      return false;
    }
    const fault = this.options.faults?.verdict(to);
    if (fault === undefined || (!fault.drop && fault.delayMs === 0)) return dialer.send(payload);
    // A fault drops the frame as a lossy network would (the sender believes it left), or sends it later.
    if (!fault.drop) setTimeout(() => this.closed || this.options.faults?.isCut(to) || dialer.send(payload), fault.delayMs).unref();
    return true;
  }

  /**
   * Whether `to` is linked both ways: this node's connection to it is up (handshake
   * done), so a frame queued now leaves at once, and so is one from it, so it can answer.
   */
  connected(to: string): boolean {
    return !this.closed && this.dialers.get(to)?.ready === true && (this.inboundCounts.get(to) ?? 0) > 0;
  }

  /** Opens the outbound connection to `to` if none is up or being opened (connections open on first use). */
  dial(to: string): void {
    if (!this.closed) this.dialers.get(to)?.dial();
  }

  /** Bytes queued for peer `to` or buffered in its socket, not yet handed to the network. */
  backlogBytes(to: string): number {
    return this.dialers.get(to)?.backlogBytes ?? 0;
  }

  /** Changes where a peer is dialed (tests put proxies in the path this way). */
  setPeerAddress(id: string, address: string): void {
    const existing = this.dialers.get(id);
    if (existing) existing.redirect(address);
    else if (id !== this.options.nodeId) this.dialers.set(id, this.newDialer(id, address));
  }

  /**
   * Stops talking to `id` (a node removed from the cluster): its outbound connection is
   * closed, its inbound ones too, and its handshakes are refused from now on.
   */
  removePeer(id: string): void {
    this.dialers.get(id)?.close();
    this.dialers.delete(id);
    for (const socket of this.inbound) if (this.inboundPeer.get(socket) === id) socket.destroy();
  }

  private newDialer(id: string, address: string): Dialer {
    return new Dialer(id, address, this.options, this.stats, this.clusterId, this.refusals);
  }

  /** Cuts the outbound connection to a peer and keeps it cut until `heal` (fault injection). */
  block(id: string): void {
    this.dialers.get(id)?.block(true);
  }

  heal(id: string): void {
    this.dialers.get(id)?.block(false);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const d of this.dialers.values()) d.close();
    for (const s of this.inbound) s.destroy();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    const { logger, secret, nodeId } = this.options;
    this.inbound.add(socket);
    socket.on("close", () => this.inbound.delete(socket));
    socket.on("error", () => socket.destroy());
    const challenge = newChallenge(this.clusterId);
    socket.write(challenge);
    // The deadline: a connection that never completes the handshake (silent, or trickling
    // bytes) is closed, so it holds no socket and timer for ever.
    const timer = setTimeout(
      () => this.reject(socket, timer, `peer handshake not completed within ${this.options.handshakeTimeoutMs} ms`),
      this.options.handshakeTimeoutMs,
    );
    socket.on("close", () => clearTimeout(timer));
    let buffered = Buffer.alloc(0);
    const onHandshake = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const parsed = parseAnswer(buffered);
      if (parsed.state === "version") return this.reject(socket, timer, versionRefusal(parsed.from, parsed.version), true);
      if (parsed.state !== "complete") {
        if (parsed.state === "invalid") this.reject(socket, timer, "malformed peer handshake");
        else if (buffered.length > ANSWER_BYTES_MAX) this.reject(socket, timer, "peer handshake too long");
        return;
      }
      if (parsed.to !== nodeId || !verify(secret, challenge, parsed)) {
        return this.reject(socket, timer, `peer handshake failed (claimed ${parsed.from} → ${parsed.to})`);
      }
      // Authenticated, so the cluster id is the peer's own claim, bound by the secret.
      if (!parsed.clusterId.equals(this.clusterId)) return this.reject(socket, timer, clusterRefusal(parsed.from, parsed.clusterId, this.clusterId), true);
      // Holding the secret is not enough: the sender must be another member of the cluster.
      if (parsed.from === nodeId || !this.dialers.has(parsed.from)) {
        return this.reject(socket, timer, `peer handshake from ${parsed.from}, which is not another member of the cluster`);
      }
      const stale = this.options.incarnationProblem?.(parsed.from, parsed.incarnation.toString("hex"));
      if (stale) return this.reject(socket, timer, stale, true);
      clearTimeout(timer);
      socket.off("data", onHandshake);
      this.inboundPeer.set(socket, parsed.from);
      socket.write(Buffer.from([ACCEPTED]));
      logger.debug({ peer: parsed.from }, "peer connected");
      this.receive(socket, parsed.from, buffered.subarray(parsed.consumed));
    };
    socket.on("data", onHandshake);
  }

  /** `refusal`: the peer is well-behaved but incompatible (another version or cluster): logged at error, throttled. */
  private reject(socket: net.Socket, timer: NodeJS.Timeout, reason: string, refusal = false): void {
    clearTimeout(timer);
    if (socket.destroyed) return;
    this.stats.rejectedHandshakes++;
    if (refusal) this.refusals.log(this.options.logger, { remote: socket.remoteAddress }, `refusing an inbound peer connection: ${reason}`);
    else this.options.logger.warn({ remote: socket.remoteAddress }, reason);
    socket.destroy();
  }

  /**
   * Reads the frames of an authenticated connection. Any violation (a length prefix above
   * frameBytesMax, a frame the handler refuses, a frame left unfinished for frameStallMs)
   * closes the connection, logged once; frames after the offending one are not delivered.
   */
  private receive(socket: net.Socket, from: string, rest: Buffer): void {
    const reader = new FrameReader(this.options.frameBytesMax);
    const violation = (reason: string): void => {
      if (socket.destroyed) return;
      this.stats.protocolErrors++;
      this.options.logger.warn({ peer: from, remote: socket.remoteAddress, err: reason }, "closing a peer connection that broke the peer protocol");
      socket.destroy();
    };
    // Idle between frames is normal (a quiet peer); stopping in the middle of one is not.
    // The timer can fire late, after the event loop was busy, with the rest of the frame
    // already waiting in the socket: decide only after that input is read (setImmediate
    // runs after the poll phase), and only if no byte came since.
    let chunks = 0;
    socket.setTimeout(this.options.frameStallMs, () => {
      const seen = chunks;
      setImmediate(() => {
        if (reader.partial && chunks === seen) violation(`a frame stayed incomplete for ${this.options.frameStallMs} ms`);
      });
    });
    const onData = (chunk: Buffer): void => {
      if (socket.destroyed) return;
      chunks++;
      this.stats.bytesReceived += chunk.length;
      let frames: Buffer[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        return violation((err as Error).message);
      }
      for (const frame of frames) {
        this.stats.received++;
        try {
          this.options.onMessage(from, frame);
        } catch (err) {
          if (!(err instanceof PeerProtocolError)) throw err;
          return violation(err.message);
        }
      }
    };
    socket.on("data", onData);
    this.inboundCounts.set(from, (this.inboundCounts.get(from) ?? 0) + 1);
    socket.on("close", () => {
      const left = (this.inboundCounts.get(from) ?? 1) - 1;
      if (left > 0) this.inboundCounts.set(from, left);
      else this.inboundCounts.delete(from);
      this.options.onLinkDown?.(from);
    });
    if (rest.length > 0) onData(rest);
  }
}

type DialerState = "idle" | "connecting" | "ready" | "waiting";

/** The outbound connection to one peer, with its queue and reconnect backoff. */
class Dialer {
  private state: DialerState = "idle";
  private socket: net.Socket | undefined;
  private queue: Uint8Array[] = [];
  private queueBytes = 0;
  private flushScheduled = false;
  private delayMs: number;
  private blocked = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** This node's incarnation, presented in every answer (none: the handshake's zero one). */
  private readonly incarnation: Buffer | undefined;

  constructor(
    readonly id: string,
    private address: string,
    private readonly options: PeerTransportOptions & typeof DEFAULTS,
    private readonly stats: PeerStats,
    private readonly clusterId: Buffer,
    private readonly refusals: RefusalLog,
  ) {
    this.delayMs = options.reconnectDelayMsMin;
    this.incarnation = options.incarnation ? Buffer.from(options.incarnation, "hex") : undefined;
  }

  get ready(): boolean {
    return this.state === "ready" && !this.blocked && !this.closed;
  }

  get backlogBytes(): number {
    return this.queueBytes + (this.socket?.writableLength ?? 0);
  }

  send(payload: Uint8Array): boolean {
    if (this.blocked || this.closed || this.queueBytes + payload.length > this.options.queueBytesMax) {
      this.stats.dropped++;
      return false;
    }
    this.queue.push(payload);
    this.queueBytes += payload.length;
    if (this.state === "idle") this.connect();
    else if (this.state === "ready") this.scheduleFlush();
    return true;
  }

  dial(): void {
    if (this.state === "idle") this.connect();
  }

  redirect(address: string): void {
    this.address = address;
    this.reset();
  }

  block(on: boolean): void {
    this.blocked = on;
    if (on) {
      this.dropQueue();
      this.reset();
    }
  }

  close(): void {
    this.closed = true;
    this.dropQueue();
    this.reset();
  }

  private reset(): void {
    clearTimeout(this.retryTimer);
    this.socket?.destroy();
    this.socket = undefined;
    this.state = "idle";
  }

  private dropQueued(drop: (payload: Uint8Array) => boolean): void {
    const kept = this.queue.filter((payload) => !drop(payload));
    this.stats.dropped += this.queue.length - kept.length;
    this.queue = kept;
    this.queueBytes = kept.reduce((sum, payload) => sum + payload.length, 0);
  }

  private dropQueue(): void {
    this.stats.dropped += this.queue.length;
    this.queue = [];
    this.queueBytes = 0;
  }

  private connect(): void {
    if (this.closed || this.blocked) return;
    const [host, portText] = splitAddress(this.address);
    this.state = "connecting";
    const socket = net.connect({ host, port: Number(portText), noDelay: true });
    this.socket = socket;
    let buffered = Buffer.alloc(0);
    let answered = false;
    let wasReady = false;
    const timer = setTimeout(() => socket.destroy(), this.options.handshakeTimeoutMs);
    socket.on("data", (chunk: Buffer) => {
      // The listener sends only the challenge and one ACCEPTED byte: anything after them
      // is a protocol violation (and must not pile up in memory).
      if (this.state === "ready" && this.socket === socket) {
        this.options.logger.warn({ peer: this.id }, "closing the connection to a peer that sent data after its handshake");
        socket.destroy();
        return;
      }
      buffered = Buffer.concat([buffered, chunk]);
      if (!answered) {
        const challenge = parseChallenge(buffered);
        if (challenge.state === "partial") return;
        if (challenge.state === "invalid") return socket.destroy();
        answered = true;
        if (challenge.state === "version") {
          // Tell the listener why (the part of the answer every version shares), then part.
          this.refusals.log(this.options.logger, { peer: this.id }, `refusing to connect: ${versionRefusal(this.id, challenge.version)}`);
          socket.end(versionNotice(this.options.nodeId));
          return;
        }
        const reply = answer(this.options.secret, buffered, this.options.nodeId, this.id, this.clusterId, this.incarnation);
        buffered = buffered.subarray(CHALLENGE_BYTES);
        if (!challenge.clusterId.equals(this.clusterId)) {
          // Answer anyway, so the listener logs the refusal too (its HMAC check passes; its cluster check does not).
          this.refusals.log(this.options.logger, { peer: this.id }, `refusing to connect: ${clusterRefusal(this.id, challenge.clusterId, this.clusterId)}`);
          socket.end(reply);
          return;
        }
        socket.write(reply);
      }
      if (answered && buffered.length >= 1 && this.state === "connecting") {
        clearTimeout(timer);
        if (buffered[0] !== ACCEPTED || buffered.length > 1) return socket.destroy();
        this.state = "ready";
        wasReady = true;
        this.delayMs = this.options.reconnectDelayMsMin;
        this.scheduleFlush();
      }
    });
    socket.on("drain", () => this.scheduleFlush());
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      clearTimeout(timer);
      if (wasReady) {
        const drop = this.options.dropOnClose;
        if (drop) this.dropQueued(drop);
        this.options.onLinkDown?.(this.id);
      }
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.retryLater();
    });
  }

  private retryLater(): void {
    if (this.closed || this.blocked) {
      this.state = "idle";
      return;
    }
    this.state = "waiting";
    this.retryTimer = setTimeout(() => {
      this.state = "idle";
      if (this.queue.length > 0) this.connect();
    }, this.delayMs);
    this.delayMs = Math.min(this.delayMs * 2, this.options.reconnectDelayMsMax);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes the whole queue as one buffer, unless the socket is still backed up. */
  private flush(): void {
    const socket = this.socket;
    if (this.state !== "ready" || !socket || this.queue.length === 0) return;
    if (socket.writableLength > this.options.socketBufferBytesMax) return; // resumes on "drain"
    const batch = this.queue;
    this.queue = [];
    this.queueBytes = 0;
    this.stats.sent += batch.length;
    const encoded = encodeFrames(batch);
    this.stats.bytesSent += encoded.length;
    socket.write(encoded);
  }
}

/**
 * Logs a refusal of an incompatible peer at error, once per reason per
 * REFUSAL_LOG_INTERVAL_MS (at debug in between): the peer redials, and the reason
 * does not change until an operator acts.
 */
class RefusalLog {
  private readonly lastLogged = new Map<string, number>();

  log(logger: Logger, fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    const last = this.lastLogged.get(message);
    if (last !== undefined && now - last < REFUSAL_LOG_INTERVAL_MS) {
      logger.debug(fields, message);
      return;
    }
    if (this.lastLogged.size >= 1024) this.lastLogged.clear();
    this.lastLogged.set(message, now);
    logger.error(fields, message);
  }
}

export function splitAddress(address: string): [string, string] {
  const i = address.lastIndexOf(":");
  if (i <= 0 || i === address.length - 1) throw new RangeError(`address must be host:port, got "${address}"`);
  return [address.slice(0, i).replace(/^\[|\]$/g, ""), address.slice(i + 1)];
}
