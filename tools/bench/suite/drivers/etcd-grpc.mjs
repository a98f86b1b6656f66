// etcd's KV API over gRPC through connect-node: Put, and Range (linearizable, or
// serializable for eventual reads), sent to the endpoints in turn (the bench gives the
// leader's alone, etcd's best case).
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { keyName } from "../generator/keys.mjs";
import { EtcdKV } from "./etcd-kv.mjs";
import { valueOf } from "./open.mjs";

const encoder = new TextEncoder();

export async function openEtcdDriver(config) {
  const clients = config.endpoints.map((baseUrl) => createClient(EtcdKV, createGrpcTransport({ baseUrl })));
  const value = valueOf(config.valueBytes);
  const serializable = config.consistency === "eventual";
  let turn = 0;
  return {
    async run(op, key) {
      const client = clients[turn++ % clients.length];
      const k = encoder.encode(keyName(key));
      if (op === "read") await client.range({ key: k, serializable });
      else await client.put({ key: k, value });
    },
    close: async () => {},
  };
}
