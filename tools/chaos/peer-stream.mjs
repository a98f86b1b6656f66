// Splits the dialer → listener half of a peer connection into the units a link fault
// acts on: first the dialer's handshake answer, then whole frames.
//
//   listener → dialer: the challenge, then one ACCEPTED byte (nothing else, ever)
//   dialer → listener: the answer (MAGIC | u32 version | u8 len | from | cluster id |
//                      u8 len | to | HMAC), then frames: u32 little-endian length | payload
//
// The answer is parsed with the node's own built module
// (apps/cache-node/dist/peer/peer-handshake.js), so the proxy follows the protocol's
// version; framing is apps/cache-node/src/peer/wire/frame-reader.ts. A stream the
// splitter cannot follow (another version, garbage) is passed on as raw chunks.

const handshake = await import(new URL("../../apps/cache-node/dist/peer/peer-handshake.js", import.meta.url).href);

/**
 * The dialer's handshake answer in the bytes so far: "partial" until it is whole, then
 * (whatever its state) `from`, the dialer's id, when the answer names one.
 * @param {Buffer} data @returns {{ state: string, from?: string }}
 */
export function parseAnswer(data) {
  return handshake.parseAnswer(data);
}

/** The node's frame_bytes_max: a longer length prefix means the stream is not framed as expected. */
const FRAME_BYTES_MAX = 64 * 1024 * 1024;

/** @typedef {{ kind: "handshake" | "frame" | "raw", bytes: Buffer }} StreamUnit */

export class PeerStreamSplitter {
  constructor() {
    /** @type {"handshake" | "frames" | "raw"} */
    this.state = "handshake";
    /** @type {Buffer[]} */
    this.pending = [];
    this.pendingBytes = 0;
    this.needed = 1;
  }

  /**
   * Feeds bytes; returns every unit they complete.
   * @param {Buffer} chunk
   * @returns {StreamUnit[]}
   */
  push(chunk) {
    if (this.state === "raw") return [{ kind: "raw", bytes: chunk }];
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < this.needed) return [];
    let data = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    /** @type {StreamUnit[]} */
    const units = [];
    let offset = 0;
    if (this.state === "handshake") {
      const parsed = handshake.parseAnswer(data);
      if (parsed.state === "partial") {
        // Any further byte may complete the answer.
        this.keep(data, data.length + 1);
        return units;
      }
      if (parsed.state !== "complete") return this.toRaw(data);
      units.push({ kind: "handshake", bytes: data.subarray(0, parsed.consumed) });
      offset = parsed.consumed;
      this.state = "frames";
    }
    while (data.length - offset >= 4) {
      const length = data.readUInt32LE(offset);
      if (length > FRAME_BYTES_MAX) {
        units.push(...this.toRaw(data.subarray(offset)));
        return units;
      }
      if (data.length - offset - 4 < length) break;
      units.push({ kind: "frame", bytes: data.subarray(offset, offset + 4 + length) });
      offset += 4 + length;
    }
    data = data.subarray(offset);
    this.keep(data, data.length >= 4 ? 4 + data.readUInt32LE(0) : 4);
    return units;
  }

  /** Keeps the bytes of an unfinished unit; `needed` is the byte count that may finish it. @param {Buffer} rest @param {number} needed */
  keep(rest, needed) {
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    this.needed = needed;
  }

  /** @param {Buffer} data @returns {StreamUnit[]} */
  toRaw(data) {
    this.state = "raw";
    this.pending = [];
    this.pendingBytes = 0;
    return data.length > 0 ? [{ kind: "raw", bytes: data }] : [];
  }
}
