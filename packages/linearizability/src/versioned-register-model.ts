import { canonicalKey } from "./canonical-key.js";
import type { Model } from "./model.js";

/** A version as the API returns it: a number, or a bigint for uint64 fields. Compared by value. */
export type Version = number | bigint;

/** if_version with version 0 means "only if absent", as in the API (real versions start at 1). */
export type SetCondition = { kind: "none" } | { kind: "if_absent" } | { kind: "if_version"; version: Version };

export type VersionedRegisterInput = { kind: "get" } | { kind: "set"; value: unknown; condition?: SetCondition } | { kind: "delete" };

/** get: found or not (with value and version). set: ok with the new version, or a failed condition. delete: deleted. */
export type VersionedRegisterOutput =
  { found: false } | { found: true; value: unknown; version: Version } | { ok: true; version: Version } | { ok: false } | { deleted: boolean };

/**
 * Versions are opaque numbers that strictly increase with every successful
 * write of the key, deletes included (as with versions taken from a log index
 * or revision): a write's version must exceed every version issued before it.
 */
export interface VersionedRegisterState {
  readonly present: boolean;
  /** canonicalKey of the value; "" when absent. */
  readonly valueKey: string;
  /**
   * The current version, or undefined when absent or when the value came from
   * an indeterminate set whose version nobody has observed yet. In the latter
   * case it is only known to exceed versionFloor; the first read that returns
   * it pins it.
   */
  readonly version: Version | undefined;
  /** The highest version known to have been issued so far (-Infinity before any). */
  readonly versionFloor: Version;
}

const INITIAL: VersionedRegisterState = {
  present: false,
  valueKey: "",
  version: undefined,
  versionFloor: Number.NEGATIVE_INFINITY,
};

type Truth = "yes" | "no" | "maybe";

// Relational operators already compare numbers with bigints by value; only
// equality needs care, since 1 === 1n is false.
function sameVersion(a: Version, b: Version): boolean {
  return typeof a === typeof b ? a === b : BigInt(a) === BigInt(b);
}

function conditionHolds(state: VersionedRegisterState, condition: SetCondition | undefined): Truth {
  if (condition === undefined || condition.kind === "none") return "yes";
  // As in the API, if_version 0 means "only if absent": real versions start at 1.
  if (condition.kind === "if_absent" || sameVersion(condition.version, 0)) return state.present ? "no" : "yes";
  if (!state.present) return "no";
  if (state.version !== undefined) return sameVersion(state.version, condition.version) ? "yes" : "no";
  // Unobserved version: it is above the floor, and may or may not equal this one.
  return condition.version > state.versionFloor ? "maybe" : "no";
}

function written(state: VersionedRegisterState, value: unknown, version: Version | undefined): VersionedRegisterState {
  return { present: true, valueKey: canonicalKey(value), version, versionFloor: version ?? state.versionFloor };
}

function stepGet(state: VersionedRegisterState, output: VersionedRegisterOutput): { ok: boolean; next: VersionedRegisterState } {
  if (!("found" in output)) throw new TypeError("versionedRegisterModel: a get must output { found, ... }");
  if (!output.found) return { ok: !state.present, next: state };
  if (!state.present || canonicalKey(output.value) !== state.valueKey) return { ok: false, next: state };
  if (state.version !== undefined) return { ok: sameVersion(output.version, state.version), next: state };
  const ok = output.version > state.versionFloor;
  return { ok, next: ok ? { ...state, version: output.version, versionFloor: output.version } : state };
}

function stepSet(
  state: VersionedRegisterState,
  input: Extract<VersionedRegisterInput, { kind: "set" }>,
  output: VersionedRegisterOutput,
): { ok: boolean; next: VersionedRegisterState } {
  if (!("ok" in output)) throw new TypeError("versionedRegisterModel: a set must output { ok, ... }");
  const holds = conditionHolds(state, input.condition);
  if (!output.ok) return { ok: holds !== "yes", next: state };
  const ok = holds !== "no" && output.version > state.versionFloor;
  return { ok, next: ok ? written(state, input.value, output.version) : state };
}

function stepDelete(state: VersionedRegisterState, output: VersionedRegisterOutput): { ok: boolean; next: VersionedRegisterState } {
  if (!("deleted" in output)) throw new TypeError("versionedRegisterModel: a delete must output { deleted }");
  return { ok: output.deleted === state.present, next: { ...INITIAL, versionFloor: state.versionFloor } };
}

/**
 * A key with a value and a version: get, set (unconditional, if_absent,
 * if_version) and delete. A failed conditional set changes nothing.
 *
 * Lenient where the version is unobserved (an indeterminate set took effect
 * and no one has read its version): an if_version set may succeed or fail,
 * and a later write is only required to exceed the last observed version.
 */
export const versionedRegisterModel: Model<VersionedRegisterState, VersionedRegisterInput, VersionedRegisterOutput> = {
  init: () => INITIAL,
  step(state, input, output) {
    if (output === undefined || output === null) throw new TypeError("versionedRegisterModel: missing output");
    switch (input.kind) {
      case "get":
        return stepGet(state, output);
      case "set":
        return stepSet(state, input, output);
      case "delete":
        return stepDelete(state, output);
    }
  },
  stepUnknown(state, input) {
    switch (input.kind) {
      case "get":
        return state;
      case "set":
        // Where the condition may hold, "took effect" is this branch and
        // "failed" is the same as never taking effect, which the checker covers.
        return conditionHolds(state, input.condition) === "no" ? state : written(state, input.value, undefined);
      case "delete":
        return { ...INITIAL, versionFloor: state.versionFloor };
    }
  },
  key: (state) => `${state.present ? state.valueKey : "absent"}|v${state.version ?? "?"}|floor${state.versionFloor}`,
  describeState: (state) => (state.present ? `${state.valueKey} @ version ${state.version ?? `? (> ${state.versionFloor})`}` : "absent"),
  describeOperation: describeVersionedOperation,
};

function describeVersionedOperation(input: VersionedRegisterInput, output: VersionedRegisterOutput | undefined): string {
  const result = output === undefined ? "?" : canonicalKey(output);
  switch (input.kind) {
    case "get":
      return `get() -> ${result}`;
    case "set": {
      const condition = input.condition ?? { kind: "none" };
      const suffix = condition.kind === "none" ? "" : condition.kind === "if_absent" ? ", if_absent" : `, if_version ${condition.version}`;
      return `set(${canonicalKey(input.value)}${suffix}) -> ${result}`;
    }
    case "delete":
      return `delete() -> ${result}`;
  }
}
