/**
 * Thrown when a precondition, postcondition or invariant does not hold. It marks a
 * programmer error (a caller broke the contract, or the store has a bug), never an
 * operating error: those are returned as result objects.
 */
export class StoreAssertionError extends Error {
  override readonly name = "StoreAssertionError";
}

/** Crashes with a StoreAssertionError when `condition` is false. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new StoreAssertionError(message);
}

/** True for a safe integer in [minimum, Number.MAX_SAFE_INTEGER]. */
export function isSafeIntegerAtLeast(value: number, minimum: number): boolean {
  return Number.isSafeInteger(value) && value >= minimum;
}
