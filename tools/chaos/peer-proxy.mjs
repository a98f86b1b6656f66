// A TCP proxy for one ordered peer link, `from` → `to`: node `from` dials it (its
// --peer-dial names it for `to`), and it dials `to`'s peer port. A peer connection
// carries Raft traffic one way only (dialer to listener), so this proxy is the whole of
// the from → to direction, and a one-way partition is one proxy cut.
//
// Faults act on whole units (peer-stream.mjs): the handshake answer, then each frame.
// A cut link drops every unit (and the listener's challenge), leaving the connection
// open, as a partition does; a lossy one drops frames or resets the connection with a
// probability; a slow one holds units back, in order.
import net from "node:net";
import { CLEAR, DelayLine, LinkPolicy } from "./link-policy.mjs";
import { parseAnswer, PeerStreamSplitter } from "./peer-stream.mjs";

/** Listens on 127.0.0.1:port (0: a free one); resolves with the port. @param {net.Server} server @param {number} port */
async function listenOn(server, port) {
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve(undefined);
    });
  });
  return /** @type {net.AddressInfo} */ (server.address()).port;
}

/** A connection whose outgoing side holds more than this stops reading its source until it drains. */
const BACKLOG_BYTES_MAX = 8 * 1024 * 1024;

export class PeerLinkProxy {
  /**
   * @param {{ from: string, to: string, upstream: { host: string, port: number }, random: () => number, actsOnPolicy?: boolean }} options
   */
  constructor(options) {
    this.from = options.from;
    this.to = options.to;
    this.upstream = options.upstream;
    this.random = options.random;
    this.policy = new LinkPolicy();
    /** False when the nodes' fault hook acts on the policy instead (--link-faults node): frames then pass untouched. */
    this.actsOnPolicy = options.actsOnPolicy ?? true;
    this.stats = { connections: 0, framesForwarded: 0, framesDroppedLoss: 0, framesDroppedCut: 0, bytesForwarded: 0, resets: 0 };
    /** When the last frame was passed on (performance.now()): a link with a live connection carries heartbeats or their answers. */
    this.lastFrameAtMs = -Infinity;
    /** @type {Set<{ down: net.Socket, up: net.Socket }>} */
    this.connections = new Set();
    this.server = net.createServer({ noDelay: true }, (down) => this.accept(down));
    this.server.on("error", () => undefined);
    this.port = 0;
  }

  get name() {
    return `${this.from}->${this.to}`;
  }

  /** Listens on 127.0.0.1 (a free port unless given); resolves with the port. */
  async listen(port = 0) {
    this.port = await listenOn(this.server, port);
    return this.port;
  }

  /** Resets every open connection (both sides); the dialer redials. */
  resetAll() {
    for (const c of this.connections) {
      c.down.destroy();
      c.up.destroy();
    }
  }

  async close() {
    this.resetAll();
    await new Promise((resolve) => this.server.close(() => resolve(undefined)));
  }

  /** @param {net.Socket} down */
  accept(down) {
    this.adopt(down, net.connect({ host: this.upstream.host, port: this.upstream.port, noDelay: true }), []);
  }

  /**
   * Carries one connection of this link: `down` from the dialer, `up` to the listener;
   * `head` holds the dialer's bytes a PeerDemux read before it knew the dialer.
   * @param {net.Socket} down @param {net.Socket} up @param {Buffer[]} head
   */
  adopt(down, up, head) {
    this.stats.connections++;
    const conn = { down, up };
    this.connections.add(conn);
    const splitter = new PeerStreamSplitter();
    // A unit held back by a delay when a cut starts is dropped too, as the network would.
    const cutNow = () => this.actsOnPolicy && this.policy.effective.cut;
    const toUp = new DelayLine((bytes) => {
      if (cutNow()) this.stats.framesDroppedCut++;
      else if (!up.destroyed) up.write(bytes);
      // Reading pauses while too much waits; it resumes on the socket's drain, or once the delay line has emptied enough.
      const backlog = up.writableLength + toUp.queuedBytes;
      if (backlog > BACKLOG_BYTES_MAX) down.pause();
      else if (down.isPaused() && backlog < BACKLOG_BYTES_MAX / 2) down.resume();
    });
    const toDown = new DelayLine((bytes) => {
      if (!cutNow() && !down.destroyed) down.write(bytes);
    });
    const closeBoth = () => {
      toUp.close();
      toDown.close();
      down.destroy();
      up.destroy();
      this.connections.delete(conn);
    };
    up.on("drain", () => down.resume());
    const fromDialer = (chunk) => {
      for (const unit of splitter.push(chunk)) {
        const p = this.actsOnPolicy ? this.policy.effective : CLEAR;
        const isFrame = unit.kind === "frame";
        if (p.cut) {
          if (isFrame) this.stats.framesDroppedCut++;
          continue;
        }
        if (p.reset > 0 && this.random() < p.reset) {
          this.stats.resets++;
          closeBoth();
          return;
        }
        if (isFrame && p.drop > 0 && this.random() < p.drop) {
          this.stats.framesDroppedLoss++;
          continue;
        }
        if (isFrame) {
          this.stats.framesForwarded++;
          this.lastFrameAtMs = performance.now();
        }
        this.stats.bytesForwarded += unit.bytes.length;
        toUp.push(unit.bytes, p.delayMs + (p.jitterMs > 0 ? this.random() * p.jitterMs : 0));
      }
    };
    down.on("data", fromDialer);
    // The listener's challenge and its ACCEPTED byte: passed on unless the link is cut.
    up.on("data", (chunk) => {
      const p = this.actsOnPolicy ? this.policy.effective : CLEAR;
      if (p.cut) return;
      toDown.push(chunk, p.delayMs);
    });
    down.on("error", closeBoth);
    up.on("error", closeBoth);
    down.on("close", closeBoth);
    up.on("close", closeBoth);
    for (const chunk of head) if (this.connections.has(conn)) fromDialer(chunk);
  }
}

/**
 * The peer address a node that joins during the run advertises (--advertise-peer): every
 * node dials it to reach the joined node, and none can be told at start to dial a proxy
 * of its own for an id it does not know (--peer-dial names only --initial-cluster ids).
 * It passes the listener's challenge on, reads the dialer's handshake answer to learn who
 * dials (`from`), and hands the connection to the proxy of the link from → to, which acts
 * on it from then on as on its own connections. A cut link so drops the answer (and the
 * ACCEPTED byte), not the challenge: the handshake never finishes either way.
 */
export class PeerDemux {
  /**
   * @param {{ to: string, upstream: { host: string, port: number }, linkFrom: (from: string) => PeerLinkProxy | undefined }} options
   */
  constructor(options) {
    this.to = options.to;
    this.upstream = options.upstream;
    this.linkFrom = options.linkFrom;
    this.stats = { connections: 0, unknownDialers: 0 };
    /** Connections not handed over yet. @type {Set<net.Socket>} */
    this.pending = new Set();
    this.server = net.createServer({ noDelay: true }, (down) => this.accept(down));
    this.server.on("error", () => undefined);
    this.port = 0;
  }

  /** Listens on 127.0.0.1 (a free port unless given); resolves with the port. */
  async listen(port = 0) {
    this.port = await listenOn(this.server, port);
    return this.port;
  }

  async close() {
    for (const s of this.pending) s.destroy();
    await new Promise((resolve) => this.server.close(() => resolve(undefined)));
  }

  /** @param {net.Socket} down */
  accept(down) {
    this.stats.connections++;
    const up = net.connect({ host: this.upstream.host, port: this.upstream.port, noDelay: true });
    const head = [];
    let bytes = 0;
    const relay = (chunk) => down.write(chunk);
    const drop = () => {
      this.pending.delete(down);
      down.destroy();
      up.destroy();
    };
    const read = (chunk) => {
      head.push(chunk);
      bytes += chunk.length;
      const parsed = parseAnswer(Buffer.concat(head, bytes));
      if (parsed.state === "partial") return;
      const link = parsed.from === undefined ? undefined : this.linkFrom(parsed.from);
      if (!link) {
        this.stats.unknownDialers++;
        return drop();
      }
      down.off("data", read);
      up.off("data", relay);
      for (const [s, fn] of [
        [down, drop],
        [up, drop],
      ]) {
        s.off("error", fn);
        s.off("close", fn);
      }
      this.pending.delete(down);
      link.adopt(down, up, head);
    };
    this.pending.add(down);
    up.on("data", relay);
    down.on("data", read);
    for (const s of [down, up]) {
      s.on("error", drop);
      s.on("close", drop);
    }
  }
}
