// One load-generating process. It opens the driver the parent names, then runs either
// closed-loop (`concurrency` loops, each sending its next operation when the last one
// answers) or open-loop (operations due at a fixed `rate`, at most `concurrency` in
// flight, each latency measured from when it was due, so a stall is not hidden). It
// records latencies in an HDR histogram (microseconds) and sends it back encoded.
import hdr from "hdr-histogram-js";
import { openDriver } from "../drivers/open.mjs";
import { keyPicker } from "./keys.mjs";

const task = await new Promise((resolve) => process.once("message", resolve));
const driver = await openDriver(task.driver);
const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
const pick = keyPicker({ count: task.keys, distribution: task.distribution, seed: task.seed });
const errors = {};
let ok = 0;
let failed = 0;
/** Operations acknowledged over the whole run, warm-up included, by kind: what the servers' counters saw. */
const acknowledged = { read: 0, write: 0 };
const start = performance.now();
const measureFrom = start + task.warmupMs;
const end = measureFrom + task.durationMs;

/** The next operation: a read or a write, by the workload's read share. */
const random = (() => {
  let x = task.seed * 7919 + 1;
  return () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
})();
const nextOp = () => (task.readShare >= 1 ? "read" : task.readShare <= 0 ? "write" : random() < task.readShare ? "read" : "write");

async function one(dueAt) {
  const op = nextOp();
  try {
    await driver.run(op, pick());
    acknowledged[op]++;
    const done = performance.now();
    if (dueAt >= measureFrom && done <= end + 1000) {
      ok++;
      histogram.recordValue(Math.max(1, Math.round((done - dueAt) * 1000)));
    }
  } catch (err) {
    if (dueAt >= measureFrom) {
      failed++;
      const name = String(err?.code ?? err?.name ?? "error");
      errors[name] = (errors[name] ?? 0) + 1;
    }
  }
}

async function closedLoop() {
  const loop = async () => {
    while (performance.now() < end) await one(performance.now());
  };
  await Promise.all(Array.from({ length: task.concurrency }, loop));
}

async function openLoop() {
  const interval = 1000 / task.rate;
  let inFlight = 0;
  let sent = 0;
  let late = 0;
  const pending = new Set();
  while (performance.now() < end) {
    const dueAt = start + sent * interval;
    const now = performance.now();
    if (dueAt > now) {
      await new Promise((r) => setTimeout(r, Math.max(0, dueAt - now - 0.5)));
      continue;
    }
    if (inFlight >= task.concurrency) {
      // Every connection busy: the operation stays due and its latency keeps growing.
      await Promise.race(pending);
      continue;
    }
    if (now - dueAt > 1) late++;
    sent++;
    inFlight++;
    const p = one(dueAt).finally(() => {
      inFlight--;
      pending.delete(p);
    });
    pending.add(p);
  }
  await Promise.all(pending);
  return late;
}

/** Writes keys [from, to) once each, `concurrency` at a time: the keys a read workload reads. */
async function preload() {
  let next = task.preload.from;
  const loop = async () => {
    while (next < task.preload.to) {
      const key = next;
      next += task.preload.step ?? 1;
      await driver.run("write", key).then(
        () => (ok++, acknowledged.write++),
        () => failed++,
      );
    }
  };
  await Promise.all(Array.from({ length: task.concurrency }, loop));
}

const late = task.preload ? (await preload(), 0) : task.rate ? await openLoop() : (await closedLoop(), 0);
await driver.close();
const cpu = process.cpuUsage();
process.send(
  {
    ok,
    failed,
    errors,
    late,
    acknowledged,
    histogram: hdr.encodeIntoCompressedBase64(histogram),
    cpuUs: cpu.user + cpu.system,
    seconds: task.durationMs / 1000,
  },
  () => process.exit(0),
);
