import { createCacheClient, type CacheClient } from "../cache-client.js";
import type { CacheClientOptions } from "../client-options.js";
import type { CacheEvent } from "../events.js";
import { FakeCluster, fakeTime } from "./fake-cluster.js";

/** A client of a fake cluster, with the fake time it runs on and every event it reported. */
export interface ClientSetup {
  cluster: FakeCluster;
  client: CacheClient;
  time: ReturnType<typeof fakeTime>;
  events: CacheEvent[];
}

/**
 * A client of cluster (a new three-node fake by default), seeded with n1, on fake time
 * (it only moves when the client sleeps), with backoff jitter fixed at 0.5 and write
 * session "s-test", and no topology watch. Options override any of these.
 */
export function setupClient(options: Partial<CacheClientOptions> = {}, cluster = new FakeCluster()): ClientSetup {
  const time = fakeTime();
  const events: CacheEvent[] = [];
  const client = createCacheClient({
    transport: cluster.transport,
    seeds: [cluster.urlOf("n1")],
    clock: time.clock,
    sleep: time.sleep,
    random: () => 0.5,
    sessionId: "s-test",
    onEvent: (e) => events.push(e),
    watchTopology: false,
    ...options,
  });
  return { cluster, client, time, events };
}

/** Has the client learn the topology, so later calls go straight to the leaders. */
export async function warm(client: CacheClient): Promise<void> {
  await client.topology();
}
