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
import { PeerStreamSplitter } from "./peer-stream.mjs";

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
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", () => {
        this.server.off("error", reject);
        resolve(undefined);
      });
    });
    this.port = /** @type {net.AddressInfo} */ (this.server.address()).port;
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
    this.stats.connections++;
    const up = net.connect({ host: this.upstream.host, port: this.upstream.port, noDelay: true });
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
    down.on("data", (chunk) => {
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
    });
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
  }
}
