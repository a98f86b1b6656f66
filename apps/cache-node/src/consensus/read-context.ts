/**
 * ReadIndex contexts of one shard replica. The leader echoes a context back unchanged, so
 * it must name the read that asked, and nothing else:
 *
 *   u8 id length | node id (UTF-8) | u8 nonce length | nonce | u32 shard | u64 counter (big-endian)
 *
 * The nonce is drawn once per start of the node (its incarnation): a leader's answer
 * queued before this node restarted carries the old nonce and settles nothing, though the
 * new incarnation's counter starts at 1 again. A context that is not exactly this
 * replica's prefix followed by a counter (another node's, another shard's, another
 * incarnation's, or garbage of any length) is foreign, never an error.
 */
export class ReadContexts {
  private readonly prefix: Uint8Array;
  private next = 1;

  constructor(nodeId: string, nonce: Uint8Array, shard: number) {
    const id = new TextEncoder().encode(nodeId);
    if (id.length === 0 || id.length > 255) throw new RangeError(`node id must be 1-255 bytes, got ${id.length}`);
    if (nonce.length === 0 || nonce.length > 255) throw new RangeError(`the incarnation nonce must be 1-255 bytes, got ${nonce.length}`);
    if (!Number.isInteger(shard) || shard < 0 || shard > 0xffffffff) throw new RangeError(`shard must be a u32, got ${shard}`);
    const prefix = new Uint8Array(1 + id.length + 1 + nonce.length + 4);
    prefix[0] = id.length;
    prefix.set(id, 1);
    prefix[1 + id.length] = nonce.length;
    prefix.set(nonce, 2 + id.length);
    new DataView(prefix.buffer).setUint32(prefix.length - 4, shard);
    this.prefix = prefix;
  }

  /** The bytes of a context, for tests and the wire limit. */
  get bytes(): number {
    return this.prefix.length + 8;
  }

  /** A fresh context and the counter it carries. */
  create(): { id: number; context: Uint8Array } {
    const id = this.next++;
    const context = new Uint8Array(this.bytes);
    context.set(this.prefix);
    new DataView(context.buffer).setBigUint64(this.prefix.length, BigInt(id));
    return { id, context };
  }

  /** The counter of one of this replica's contexts, or undefined for any other bytes. */
  idOf(context: Uint8Array): number | undefined {
    const prefix = this.prefix;
    if (context.length !== prefix.length + 8) return undefined;
    for (let i = 0; i < prefix.length; i++) if (context[i] !== prefix[i]) return undefined;
    const id = new DataView(context.buffer, context.byteOffset, context.length).getBigUint64(prefix.length);
    return id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : undefined;
  }
}
