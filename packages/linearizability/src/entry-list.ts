import type { Operation } from "./model.js";

/** Node 0 is the list head; NONE marks the end of the list. */
export const HEAD = 0;
export const NONE = -1;

/**
 * The history as a doubly linked list of call and return events in time
 * order, so linearizing an operation can unlink its two events in O(1) and
 * backtracking can relink them (dancing links).
 *
 * Equal times: calls sort before returns, so an operation called at the tick
 * another returned counts as concurrent with it. Ticks are coarse, and treating
 * such pairs as ordered could report a correct system as illegal.
 *
 * Indeterminate operations get a call event only: their return is at +infinity,
 * so the search never has to pass it.
 */
export class EntryList {
  readonly next: Int32Array;
  readonly previous: Int32Array;
  /** The operation an event belongs to. */
  readonly operationOf: Int32Array;
  /** 1 for a return event, 0 for a call. */
  readonly isReturn: Uint8Array;
  /** Per operation: its call node and its return node (NONE when indeterminate). */
  readonly callNode: Int32Array;
  readonly returnNode: Int32Array;

  constructor(operations: readonly Operation<unknown, unknown>[]) {
    const events = sortedEvents(operations);
    const nodeCount = events.length + 1;
    this.next = new Int32Array(nodeCount);
    this.previous = new Int32Array(nodeCount);
    this.operationOf = new Int32Array(nodeCount).fill(NONE);
    this.isReturn = new Uint8Array(nodeCount);
    this.callNode = new Int32Array(operations.length).fill(NONE);
    this.returnNode = new Int32Array(operations.length).fill(NONE);
    for (let node = 0; node < nodeCount; node++) {
      this.previous[node] = node - 1;
      this.next[node] = node + 1 < nodeCount ? node + 1 : NONE;
    }
    events.forEach((event, index) => {
      const node = index + 1;
      this.operationOf[node] = event.operation;
      this.isReturn[node] = event.isReturn ? 1 : 0;
      (event.isReturn ? this.returnNode : this.callNode)[event.operation] = node;
    });
  }

  /** Unlinks an operation's events (call first, then return). */
  lift(operation: number): void {
    this.#unlink(this.callNode[operation]!);
    const returnNode = this.returnNode[operation]!;
    if (returnNode !== NONE) this.#unlink(returnNode);
  }

  /** Undoes lift(operation); must mirror its order exactly (return first, then call). */
  unlift(operation: number): void {
    const returnNode = this.returnNode[operation]!;
    if (returnNode !== NONE) this.#relink(returnNode);
    this.#relink(this.callNode[operation]!);
  }

  #unlink(node: number): void {
    const before = this.previous[node]!;
    const after = this.next[node]!;
    this.next[before] = after;
    if (after !== NONE) this.previous[after] = before;
  }

  // Relinking trusts the node's own stale links, which still name its old
  // neighbours as long as unlinks are undone in reverse order.
  #relink(node: number): void {
    const before = this.previous[node]!;
    const after = this.next[node]!;
    this.next[before] = node;
    if (after !== NONE) this.previous[after] = node;
  }
}

interface Event {
  time: number;
  isReturn: boolean;
  operation: number;
}

function sortedEvents(operations: readonly Operation<unknown, unknown>[]): Event[] {
  const events: Event[] = [];
  operations.forEach((operation, index) => {
    events.push({ time: operation.callTime, isReturn: false, operation: index });
    if (operation.returnTime !== undefined) {
      events.push({ time: operation.returnTime, isReturn: true, operation: index });
    }
  });
  return events.sort((a, b) => a.time - b.time || Number(a.isReturn) - Number(b.isReturn) || a.operation - b.operation);
}
