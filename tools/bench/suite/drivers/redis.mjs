// Redis through node-redis (one connection per worker; commands pipeline on it): SET and
// GET, or MSET and MGET of `batch` keys from the key given on.
import { createClient } from "redis";
import { keyName, keyNames } from "../generator/keys.mjs";
import { valueOf } from "./open.mjs";

export async function openRedisDriver(config) {
  const client = createClient({ url: config.endpoints[0].replace(/^http/, "redis") });
  client.on("error", () => undefined);
  await client.connect();
  const value = Buffer.from(valueOf(config.valueBytes));
  const batch = config.batch ?? 1;
  const keysFrom = (key) => keyNames(key, batch);
  return {
    async run(op, key) {
      if (batch > 1) {
        if (op === "read") await client.mGet(keysFrom(key));
        else await client.mSet(keysFrom(key).map((k) => [k, value]));
        return;
      }
      if (op === "read") await client.get(keyName(key));
      else await client.set(keyName(key), value);
    },
    close: async () => {
      await client.quit().catch(() => undefined);
    },
  };
}
