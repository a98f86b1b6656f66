import { Code, ConnectError } from "@connectrpc/connect";

export interface StreamPlacesOptions {
  /** What the places are for, as messages name them ("streams", "watchers"). */
  what: string;
  perNodeMax: number;
  perConnectionMax: number;
  /** The flags that set the two bounds, named in refusals. */
  nodeFlag: string;
  connectionFlag: string;
}

/**
 * Places for streams of one kind, bounded per node and per client connection. A refused
 * acquire throws resource_exhausted naming the flag of the bound it hit.
 */
export class StreamPlaces {
  private open = 0;
  private readonly perConnection = new WeakMap<object, number>();

  constructor(private readonly options: StreamPlacesOptions) {}

  /** Places taken now. */
  get size(): number {
    return this.open;
  }

  /** Takes a place for a stream on `connection` (undefined: a call without one); returns the function that frees it. */
  acquire(connection: object | undefined): () => void {
    const { what, perNodeMax, perConnectionMax, nodeFlag, connectionFlag } = this.options;
    if (this.open >= perNodeMax) {
      throw new ConnectError(`this node serves ${perNodeMax} ${what}, its limit (${nodeFlag}); retry later or on another node`, Code.ResourceExhausted);
    }
    const onConnection = connection ? (this.perConnection.get(connection) ?? 0) : 0;
    if (connection && onConnection >= perConnectionMax) {
      throw new ConnectError(
        `this connection has ${perConnectionMax} ${what} open, the limit per connection (${connectionFlag}); close one or open another connection`,
        Code.ResourceExhausted,
      );
    }
    this.open++;
    if (connection) this.perConnection.set(connection, onConnection + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
      if (connection) this.perConnection.set(connection, (this.perConnection.get(connection) ?? 1) - 1);
    };
  }
}
