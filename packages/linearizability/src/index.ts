export type { CheckOptions, CheckResult, Model, Operation, Verdict } from "./model.js";
export { checkOperations } from "./check-operations.js";
export { canonicalKey } from "./canonical-key.js";
export type { RegisterInput, RegisterOutput, RegisterState } from "./register-model.js";
export { registerModel } from "./register-model.js";
export type {
  SetCondition,
  Version,
  VersionedRegisterInput,
  VersionedRegisterOutput,
  VersionedRegisterState,
} from "./versioned-register-model.js";
export { versionedRegisterModel } from "./versioned-register-model.js";
export type { CounterInput, CounterOutput, CounterState } from "./counter-model.js";
export { counterModel } from "./counter-model.js";
export { keyedModel } from "./keyed-model.js";
