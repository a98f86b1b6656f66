// What the watch fan-out costs per applied entry, in one process with no network and no
// other load, so the figure does not drown in a 2-core machine's noise: a shard's history
// gets one put per entry and the hub fans it out in the next turn of the event loop, with
// no watcher, 100 watchers on prefixes that match nothing, 1 and 10 watchers on every key.
// Messages are serialized as the stream would (protobuf binary); nothing is sent.
//
//   npm run build && node tools/bench/watch-fanout.mjs [--entries 50000] [--rounds 5]
import { create, toBinary } from "@bufbuild/protobuf";
import { WatchResponseSchema } from "@distcache/proto";
import { parseArgs } from "node:util";
import { WatchHub } from "../../apps/cache-node/dist/watch/watch-hub.js";
import { Watcher } from "../../apps/cache-node/dist/watch/watcher.js";
import { ORDINAL_WHOLE, WatchHistory } from "../../apps/cache-node/dist/state-machine/watch-history.js";

const { values } = parseArgs({ options: { entries: { type: "string", default: "50000" }, rounds: { type: "string", default: "5" } } });
const ENTRIES = Number(values.entries);
const CONFIGS = [
  { name: "no watcher", prefixes: [] },
  { name: "100 watchers, prefixes matching nothing", prefixes: Array.from({ length: 100 }, (_, i) => `nomatch-${i}/`) },
  { name: "1 watcher on every key", prefixes: [""] },
  { name: "10 watchers on every key", prefixes: Array.from({ length: 10 }, () => "") },
];
const value = new Uint8Array(100).fill(120);
const turn = () => new Promise((r) => setImmediate(r));

async function run(prefixes) {
  const replica = { history: new WatchHistory({ eventsMax: 4096, bytesMax: 4 * 1024 * 1024 }), appliedIndex: 0 };
  const hub = new WatchHub(() => replica);
  let bytes = 0;
  for (const prefix of prefixes) {
    const watcher = new Watcher(
      { key: prefix, prefix: true, withValues: true },
      new Map([[0, { index: 0, ordinal: ORDINAL_WHOLE }]]),
      [0],
      () => replica,
      (m) => {
        bytes += toBinary(WatchResponseSchema, create(WatchResponseSchema, m)).length;
      },
      (e) => {
        throw e;
      },
    );
    hub.add(watcher);
    watcher.pull(0);
  }
  const started = process.cpuUsage();
  for (let i = 1; i <= ENTRIES; i++) {
    const index = replica.appliedIndex + 1;
    replica.history.append({ kind: "put", key: `key:${i % 10000}`, index, ordinal: 0, entry: { value, text: false, version: i, expireAtMs: 0 } });
    replica.appliedIndex = index;
    hub.changed(0);
    await turn();
  }
  const used = process.cpuUsage(started);
  return { cpuUsPerEntry: (used.user + used.system) / ENTRIES, bytes };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = new Map(CONFIGS.map((c) => [c.name, []]));
for (let round = 0; round < Number(values.rounds); round++) {
  for (const config of CONFIGS) results.get(config.name).push(await run(config.prefixes));
}
const base = median(results.get("no watcher").map((r) => r.cpuUsPerEntry));
for (const config of CONFIGS) {
  const perEntry = median(results.get(config.name).map((r) => r.cpuUsPerEntry));
  console.log(
    JSON.stringify({
      config: config.name,
      cpuUsPerEntry: Number(perEntry.toFixed(2)),
      fanOutUsPerEntry: Number((perEntry - base).toFixed(2)),
      messageBytesPerRound: results.get(config.name)[0].bytes,
    }),
  );
}
