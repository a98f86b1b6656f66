// CacheService Get and Set over binary Connect, sent to the endpoints in turn with no
// routing: for the bare connect-node ceiling, and for distcache reached through one
// node's endpoint (which forwards what it does not lead).
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CacheService, Consistency } from "@distcache/proto";
import { keyName } from "../generator/keys.mjs";
import { valueOf } from "./open.mjs";

export async function openConnectDriver(config) {
  const clients = config.endpoints.map((baseUrl) =>
    createClient(CacheService, createConnectTransport({ baseUrl, httpVersion: config.httpVersion ?? "2", useBinaryFormat: true })),
  );
  const value = valueOf(config.valueBytes);
  const consistency = config.consistency === "eventual" ? Consistency.EVENTUAL : Consistency.STRONG;
  let turn = 0;
  return {
    async run(op, key) {
      const client = clients[turn++ % clients.length];
      if (op === "read") await client.get({ key: keyName(key), consistency });
      else await client.set({ key: keyName(key), payload: { case: "value", value } });
    },
    close: async () => {},
  };
}
