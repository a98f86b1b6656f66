/** Which bound a message would have passed. */
export type QueueBound = "messages" | "bytes";

/**
 * The messages a stream holds for its consumer, bounded by count and by bytes (as `size`
 * measures them). A message that would pass a bound is refused, and the stream drops its
 * consumer instead of holding more.
 */
export class StreamQueue<T> {
  private items: { message: T; bytes: number }[] = [];
  private head = 0;
  private bytes = 0;

  constructor(
    private readonly messagesMax: number,
    private readonly bytesMax: number,
    private readonly size: (message: T) => number = () => 0,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  /** Bytes held now. */
  get heldBytes(): number {
    return this.bytes;
  }

  /** Whether less than half of each bound is used: a source that paces itself reads on while this holds. */
  hasRoom(): boolean {
    return this.length < this.messagesMax / 2 && this.bytes < this.bytesMax / 2;
  }

  /** Holds `message`, unless that would pass a bound: then it names the bound and holds nothing more. */
  offer(message: T): QueueBound | undefined {
    const bytes = this.size(message);
    if (this.length >= this.messagesMax) return "messages";
    if (this.length > 0 && this.bytes + bytes > this.bytesMax) return "bytes";
    this.add(message, bytes);
    return undefined;
  }

  /** Holds `message` whatever the bounds (a stream's first messages). */
  force(message: T): void {
    this.add(message, this.size(message));
  }

  take(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const { message, bytes } = this.items[this.head]!;
    this.items[this.head++] = undefined as never;
    this.bytes -= bytes;
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return message;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.bytes = 0;
  }

  private add(message: T, bytes: number): void {
    this.items.push({ message, bytes });
    this.bytes += bytes;
  }
}
