// The longest synchronous step of each part of a shard snapshot, in one process with
// no other load: the node runs one such step per turn of its event loop, so these
// bound how long a snapshot holds the loop. Medians of --runs runs.
//
//   npm run build && node --expose-gc tools/bench/snapshot-steps.mjs [--keys 83334] [--value-bytes 100] [--runs 5]
import { parseArgs } from "node:util";
import { Store } from "../../packages/store/dist/index.js";
import { ShardStateMachine } from "../../apps/cache-node/dist/state-machine/shard-state-machine.js";

const { values } = parseArgs({
  options: {
    keys: { type: "string", default: "83334" },
    "value-bytes": { type: "string", default: "100" },
    runs: { type: "string", default: "5" },
  },
});
const keys = Number(values.keys);
const value = new Uint8Array(Number(values["value-bytes"])).fill(118);
const CAPTURE_KEYS_PER_STEP = 20_000; // as in apps/cache-node/src/consensus/replica-snapshots.ts

const store = new Store({ policy: "lru", entriesMax: keys * 2, bytesMax: keys * 2 * (value.length + 256) });
for (let i = 0; i < keys; i++) store.set(`key-${i}`, value, {}, 1_700_000_000_000);
const machine = new ShardStateMachine(0, store);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = { capture: [], encode: [], decode: [], install: [], digest: [], totalCapture: [], totalEncode: [], totalDecode: [] };
let chunkCount = 0;
let snapshotBytes = 0;
for (let run = 0; run < Number(values.runs); run++) {
  globalThis.gc?.();
  let worst = 0;
  let total = 0;
  const capture = machine.snapshotCapture();
  for (;;) {
    const t = performance.now();
    const done = capture.step(CAPTURE_KEYS_PER_STEP);
    const ms = performance.now() - t;
    worst = Math.max(worst, ms);
    total += ms;
    if (done) break;
  }
  rows.capture.push(worst);
  rows.totalCapture.push(total);

  const chunks = [];
  worst = 0;
  total = 0;
  const iterator = capture.snapshot().chunks()[Symbol.iterator]();
  for (;;) {
    const t = performance.now();
    const next = iterator.next();
    const ms = performance.now() - t;
    worst = Math.max(worst, ms);
    total += ms;
    if (next.done) break;
    chunks.push(next.value);
  }
  rows.encode.push(worst);
  rows.totalEncode.push(total);
  chunkCount = chunks.length;
  snapshotBytes = chunks.reduce((a, c) => a + c.length, 0);

  globalThis.gc?.();
  const target = new ShardStateMachine(0, new Store({ policy: "lru", entriesMax: keys * 2, bytesMax: keys * 2 * (value.length + 256) }));
  const restorer = target.restorer();
  worst = 0;
  total = 0;
  for (const chunk of chunks) {
    const t = performance.now();
    restorer.push(chunk);
    const ms = performance.now() - t;
    worst = Math.max(worst, ms);
    total += ms;
  }
  const t = performance.now();
  const state = restorer.finish();
  const finishMs = performance.now() - t;
  rows.decode.push(Math.max(worst, finishMs));
  rows.totalDecode.push(total + finishMs);
  const t2 = performance.now();
  target.install(state);
  rows.install.push(performance.now() - t2);
  const t3 = performance.now();
  const digest = machine.digest();
  rows.digest.push(performance.now() - t3);
  if (target.digest() !== digest) throw new Error("restored replica differs");
}

const f = (ms) => ms.toFixed(1);
console.log(
  `one shard of ${keys} keys, ${value.length} B values: ${chunkCount} chunks, ${(snapshotBytes / 1048576).toFixed(1)} MiB; medians of ${values.runs} runs`,
);
console.log(`| part | longest step (ms) | whole snapshot (ms) |`);
console.log(`| --- | ---: | ---: |`);
console.log(`| capture (${CAPTURE_KEYS_PER_STEP} keys per step) | ${f(median(rows.capture))} | ${f(median(rows.totalCapture))} |`);
console.log(`| encode (one chunk per step) | ${f(median(rows.encode))} | ${f(median(rows.totalEncode))} |`);
console.log(`| decode (one chunk per step, then finish) | ${f(median(rows.decode))} | ${f(median(rows.totalDecode))} |`);
console.log(`| install (swap in the decoded state) | ${f(median(rows.install))} | ${f(median(rows.install))} |`);
console.log(`| digest (Stats with include_digests; one step) | ${f(median(rows.digest))} | ${f(median(rows.digest))} |`);
