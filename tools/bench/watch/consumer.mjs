// A process that holds watch streams and reads them as fast as they come, counting
// events. The parent sends { urls, prefixes } to start, and "stop" to get the counts.
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CacheService } from "@distcache/proto";

const stop = new AbortController();
let events = 0;
let failures = 0;
const streams = [];

process.on("message", (message) => {
  if (message === "stop") {
    stop.abort();
    void Promise.allSettled(streams).then(() =>
      process.send({ events, failures, cpuUs: process.cpuUsage().user + process.cpuUsage().system }, () => process.exit(0)),
    );
    return;
  }
  const { urls, prefixes } = message;
  let opened = 0;
  prefixes.forEach((prefix, i) => {
    const client = createClient(CacheService, createConnectTransport({ baseUrl: urls[i % urls.length], httpVersion: "1.1", useBinaryFormat: true }));
    streams.push(
      (async () => {
        try {
          for await (const m of client.watch({ key: prefix, prefix: true }, { signal: stop.signal })) {
            if (m.progress && ++opened === prefixes.length) process.send("ready");
            events += m.events.length;
          }
        } catch {
          if (!stop.signal.aborted) failures++;
        }
      })(),
    );
  });
});
