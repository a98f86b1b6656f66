// The client side of each target, as the load generator's workers use it: run(op, key)
// sends one read or one write of key `key` (an index), and close() lets go of the
// connections. Every driver writes the same values and reads the same keys.
import { openConnectDriver } from "./connect.mjs";
import { openEtcdDriver } from "./etcd-grpc.mjs";
import { openHttpDriver } from "./http.mjs";
import { openRedisDriver } from "./redis.mjs";
import { openSdkDriver } from "./distcache-sdk.mjs";

const OPENERS = {
  "distcache-sdk": openSdkDriver,
  connect: openConnectDriver,
  "etcd-grpc": openEtcdDriver,
  redis: openRedisDriver,
  http: openHttpDriver,
};

/**
 * @param {{ kind: string, endpoints: string[], valueBytes: number, consistency?: "strong" | "eventual", batch?: number }} config
 * @returns {Promise<{ run(op: "read" | "write", key: number): Promise<void>, close(): Promise<void> }>}
 */
export async function openDriver(config) {
  const open = OPENERS[config.kind];
  if (!open) throw new Error(`unknown driver ${config.kind}; use one of ${Object.keys(OPENERS).join(", ")}`);
  return open(config);
}

/** The value every driver writes: `bytes` bytes of "x". */
export const valueOf = (bytes) => new Uint8Array(bytes).fill(120);
