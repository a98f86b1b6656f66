// The fault state of one proxied link (one direction of a peer link, or a node's client
// port), built from layers: every fault the nemesis applies adds a layer under its own id
// and removes it when it heals, so overlapping faults (a partition during a slow-link
// fault) combine and heal independently.

/**
 * @typedef {object} LinkLayer
 * @property {boolean} [cut]      drop everything (a blackhole: connections stay open, bytes vanish)
 * @property {number} [delayMs]   hold every unit this long before forwarding (order kept)
 * @property {number} [jitterMs]  plus up to this much more, drawn per unit
 * @property {number} [drop]      drop each peer frame with this probability
 * @property {number} [reset]     reset the connection at a unit with this probability
 */

/** @typedef {{ cut: boolean, delayMs: number, jitterMs: number, drop: number, reset: number }} EffectivePolicy */

export const CLEAR = Object.freeze({ cut: false, delayMs: 0, jitterMs: 0, drop: 0, reset: 0 });

export class LinkPolicy {
  constructor() {
    /** @type {Map<string, LinkLayer>} */
    this.layers = new Map();
    /** @type {EffectivePolicy} */
    this.effective = CLEAR;
    /** Called after every change of the effective policy (the node-side fault hook follows it this way). */
    this.onChange = () => undefined;
  }

  /** @param {string} id @param {LinkLayer} layer */
  add(id, layer) {
    this.layers.set(id, layer);
    this.recompute();
  }

  /** @param {string} id */
  remove(id) {
    if (this.layers.delete(id)) this.recompute();
  }

  clear() {
    this.layers.clear();
    this.recompute();
  }

  get faulty() {
    return this.layers.size > 0;
  }

  recompute() {
    let cut = false;
    let delayMs = 0;
    let jitterMs = 0;
    let keep = 1;
    let survive = 1;
    for (const l of this.layers.values()) {
      cut ||= l.cut === true;
      delayMs += l.delayMs ?? 0;
      jitterMs += l.jitterMs ?? 0;
      keep *= 1 - (l.drop ?? 0);
      survive *= 1 - (l.reset ?? 0);
    }
    this.effective = this.layers.size === 0 ? CLEAR : { cut, delayMs, jitterMs, drop: 1 - keep, reset: 1 - survive };
    this.onChange();
  }
}

/**
 * Forwards buffers to `write` after a delay each, in the order they were pushed (a
 * buffer never overtakes an earlier one, so a delayed TCP stream stays a stream).
 */
export class DelayLine {
  /** @param {(bytes: Buffer) => void} write */
  constructor(write) {
    this.write = write;
    /** @type {{ at: number, bytes: Buffer }[]} */
    this.queue = [];
    this.lastAt = 0;
    this.timer = undefined;
    this.closed = false;
  }

  /** @param {Buffer} bytes @param {number} delayMs */
  push(bytes, delayMs) {
    if (this.closed) return;
    const now = performance.now();
    if (delayMs <= 0 && this.queue.length === 0) {
      this.lastAt = now;
      this.write(bytes);
      return;
    }
    const at = Math.max(this.lastAt, now + delayMs);
    this.lastAt = at;
    this.queue.push({ at, bytes });
    if (this.timer === undefined) this.arm();
  }

  get queuedBytes() {
    let n = 0;
    for (const q of this.queue) n += q.bytes.length;
    return n;
  }

  arm() {
    const head = this.queue[0];
    if (!head) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        const now = performance.now();
        while (this.queue.length > 0 && this.queue[0].at <= now + 1) {
          if (this.closed) return;
          this.write(this.queue.shift().bytes);
        }
        this.arm();
      },
      Math.max(0, head.at - performance.now()),
    );
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.queue = [];
  }
}
