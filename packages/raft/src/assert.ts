/**
 * An assertion failure is a programmer error (or corrupted durable state): the
 * core's invariants no longer hold and continuing could break safety. It is never
 * used for operating errors such as a dead peer or a rejected proposal.
 */
export class RaftAssertionError extends Error {
  override readonly name = "RaftAssertionError";
}

export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new RaftAssertionError(message);
}

/** For hot paths: the caller tests the condition and only pays for the message on failure. */
export function fail(message: string): never {
  throw new RaftAssertionError(message);
}
