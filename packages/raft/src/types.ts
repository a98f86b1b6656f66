/**
 * Branded scalar types. They keep kinds of number (and string) apart at compile
 * time so a term is never passed where an index is expected.
 *
 * NodeId is a string: the server names nodes like "n1", and a string id keeps
 * traces readable. Ids are compared with `===` and ordered with plain string
 * comparison wherever a deterministic order is needed.
 */
export type Term = number & { readonly __brand: "Term" };
export type LogIndex = number & { readonly __brand: "LogIndex" };
export type NodeId = string & { readonly __brand: "NodeId" };

function checkCounter(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer, got ${value}`);
  }
}

export function asTerm(value: number): Term {
  checkCounter(value, "term");
  return value as Term;
}

export function asLogIndex(value: number): LogIndex {
  checkCounter(value, "log index");
  return value as LogIndex;
}

export function asNodeId(value: string): NodeId {
  if (value.length === 0) throw new RangeError("node id must be a non-empty string");
  return value as NodeId;
}

/** Term 0 precedes every real term; messages with term 0 are local (never sent on the wire with it). */
export const TERM_NONE = 0 as Term;
/** Index 0 precedes the first entry of every log. */
export const INDEX_NONE = 0 as LogIndex;

export function compareNodeIds(a: NodeId, b: NodeId): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
