// A TCP proxy in front of one node's client port, for client traffic (SDK clients reach
// it through their addressMap, raw clients by its URL). HTTP is not parsed: faults act
// on chunks as they arrive. A cut link swallows bytes both ways (calls hang until their
// deadline); a slow one delays them; `reset` resets the connection, with its
// probability, when an answer arrives, so a write may have applied while its caller
// sees a broken connection (an indeterminate write).
//
// While its node is down (killed by the nemesis) the proxy stops listening, so clients
// see a refused connection, as they would without it.
import net from "node:net";
import { DelayLine, LinkPolicy } from "./link-policy.mjs";

export class ClientProxy {
  /** @param {{ nodeId: string, upstream: { host: string, port: number }, random: () => number }} options */
  constructor(options) {
    this.nodeId = options.nodeId;
    this.upstream = options.upstream;
    this.random = options.random;
    this.policy = new LinkPolicy();
    this.stats = { connections: 0, resets: 0, chunksSwallowed: 0 };
    /** @type {Set<{ down: net.Socket, up: net.Socket }>} */
    this.connections = new Set();
    this.server = undefined;
    this.port = 0;
    this.listening = false;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens on 127.0.0.1 (the port it had, or a free one at first). */
  async listen() {
    if (this.listening) return this.port;
    const server = net.createServer({ noDelay: true }, (down) => this.accept(down));
    await new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve(undefined);
      });
    });
    server.on("error", () => undefined);
    this.server = server;
    this.port = /** @type {net.AddressInfo} */ (server.address()).port;
    this.listening = true;
    return this.port;
  }

  /** Stops listening and resets every connection (its node is down). */
  async unlisten() {
    if (!this.listening) return;
    this.listening = false;
    const server = this.server;
    this.server = undefined;
    this.resetAll();
    await new Promise((resolve) => server.close(() => resolve(undefined)));
  }

  resetAll() {
    for (const c of this.connections) {
      c.down.destroy();
      c.up.destroy();
    }
  }

  async close() {
    await this.unlisten();
  }

  /** @param {net.Socket} down */
  accept(down) {
    this.stats.connections++;
    const up = net.connect({ host: this.upstream.host, port: this.upstream.port, noDelay: true });
    const conn = { down, up };
    this.connections.add(conn);
    const toUp = new DelayLine((bytes) => {
      if (!up.destroyed) up.write(bytes);
    });
    const toDown = new DelayLine((bytes) => {
      if (!down.destroyed) down.write(bytes);
    });
    const closeBoth = () => {
      toUp.close();
      toDown.close();
      down.destroy();
      up.destroy();
      this.connections.delete(conn);
    };
    down.on("data", (chunk) => {
      const p = this.policy.effective;
      if (p.cut) {
        this.stats.chunksSwallowed++;
        return;
      }
      toUp.push(chunk, p.delayMs + (p.jitterMs > 0 ? this.random() * p.jitterMs : 0));
    });
    up.on("data", (chunk) => {
      const p = this.policy.effective;
      if (p.cut) {
        this.stats.chunksSwallowed++;
        return;
      }
      if (p.reset > 0 && this.random() < p.reset) {
        this.stats.resets++;
        closeBoth();
        return;
      }
      toDown.push(chunk, p.delayMs + (p.jitterMs > 0 ? this.random() * p.jitterMs : 0));
    });
    down.on("error", closeBoth);
    up.on("error", closeBoth);
    down.on("close", closeBoth);
    up.on("close", closeBoth);
  }
}
