/**
 * Thrown by Store.restore for chunks that are not a well-formed snapshot of this
 * format (truncated, corrupted, reordered, or from an unknown format version). The
 * chunks come from storage or a peer, so this is an input error, not an assertion.
 */
export class StoreSnapshotError extends Error {
  override readonly name = "StoreSnapshotError";

  constructor(message: string, options?: ErrorOptions) {
    super(`invalid store snapshot: ${message}`, options);
  }
}
