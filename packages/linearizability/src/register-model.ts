import { canonicalKey } from "./canonical-key.js";
import type { Model } from "./model.js";

export type RegisterInput = { kind: "read" } | { kind: "write"; value: unknown } | { kind: "delete" };
/**
 * read: the value read, null or undefined when absent. write: ignored.
 * delete: whether something was deleted (checked when a boolean, else ignored).
 */
export type RegisterOutput = unknown;
/** The canonical key of the current value (see canonicalKey), or ABSENT. */
export type RegisterState = string;

const ABSENT = "absent";

function readKey(output: unknown): RegisterState {
  return output === null || output === undefined ? ABSENT : canonicalKey(output);
}

function writtenKey(value: unknown): RegisterState {
  if (value === null || value === undefined) {
    throw new TypeError("registerModel: cannot write null or undefined, which a read reports as absent");
  }
  return canonicalKey(value);
}

/**
 * A single register that starts absent: read, write, delete. Values compare by
 * content (canonicalKey), so strings, numbers and byte arrays all work.
 */
export const registerModel: Model<RegisterState, RegisterInput, RegisterOutput> = {
  init: () => ABSENT,
  step(state, input, output) {
    switch (input.kind) {
      case "read":
        return { ok: readKey(output) === state, next: state };
      case "write":
        return { ok: true, next: writtenKey(input.value) };
      case "delete":
        return { ok: typeof output !== "boolean" || output === (state !== ABSENT), next: ABSENT };
    }
  },
  stepUnknown(state, input) {
    switch (input.kind) {
      case "read":
        return state;
      case "write":
        return writtenKey(input.value);
      case "delete":
        return ABSENT;
    }
  },
  key: (state) => state,
  describeOperation(input, output) {
    switch (input.kind) {
      case "read":
        return `read() -> ${output === undefined ? "? / absent" : readKey(output)}`;
      case "write":
        return `write(${canonicalKey(input.value)})`;
      case "delete":
        return `delete()${typeof output === "boolean" ? ` -> ${output}` : ""}`;
    }
  },
};
