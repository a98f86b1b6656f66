export { simulateBelady } from "./belady.js";
export {
  formatHitRatioTable,
  measureHitRatios,
  runHitRatioBenchmark,
  standardTraces,
  type HitRatioBenchmarkOptions,
  type HitRatioRow,
} from "./hit-ratio-benchmark.js";
export { replayTrace, traceKeys } from "./replay-trace.js";
export {
  scanPollutedTrace,
  shiftingHotSetTrace,
  ZipfSampler,
  zipfTrace,
  type ScanPollutedTraceOptions,
  type ShiftingHotSetTraceOptions,
  type Trace,
  type ZipfTraceOptions,
} from "./trace.js";
