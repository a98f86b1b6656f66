// distcache through its SDK: binary Connect over HTTP/2, each key routed by the client to
// its shard's leader. With `batch` > 1 each operation is one MGet or MSet of `batch` keys
// from the key given on. With `autoBatch` false, the SDK sends every call alone.
import { createNodeCacheClient } from "@distcache/client/node";
import { keyName, keyNames } from "../generator/keys.mjs";
import { valueOf } from "./open.mjs";

export async function openSdkDriver(config) {
  // autoBatch: concurrent calls to one node coalesce into Batch requests (the SDK's default).
  const client = createNodeCacheClient({ endpoints: config.endpoints, autoBatch: config.autoBatch ?? true });
  await client.topology();
  const value = valueOf(config.valueBytes);
  const consistency = config.consistency ?? "strong";
  const batch = config.batch ?? 1;
  const keysFrom = (key) => keyNames(key, batch);
  return {
    async run(op, key) {
      if (batch > 1) {
        if (op === "read") await client.mget(keysFrom(key), { consistency });
        else await client.mset(keysFrom(key).map((k) => ({ key: k, value })));
        return;
      }
      if (op === "read") await client.get(keyName(key), { consistency });
      else await client.set(keyName(key), value);
    },
    close: async () => client.close(),
  };
}
