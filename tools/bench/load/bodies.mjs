// Request bodies for each load operation, prepared before the run.
import { create, toBinary } from "@bufbuild/protobuf";
import { Consistency, GetRequestSchema, SetRequestSchema } from "@distcache/proto";

/** Bodies for `op` over keys key:0..key:N-1, or only those keyFilter accepts. */
export function bodiesFor(op, keyCount, valueBytes, keyFilter = () => true) {
  const keys = Array.from({ length: keyCount }, (_, i) => `key:${i}`).filter(keyFilter);
  const value = new Uint8Array(valueBytes).fill(120);
  const b64 = (s) => Buffer.from(s).toString("base64");
  switch (op) {
    case "set":
      return {
        path: "/distcache.v1.CacheService/Set",
        contentType: "application/proto",
        bodies: keys.map((key) => toBinary(SetRequestSchema, create(SetRequestSchema, { key, payload: { case: "value", value } }))),
      };
    case "get":
    case "get-eventual":
      return {
        path: "/distcache.v1.CacheService/Get",
        contentType: "application/proto",
        bodies: keys.map((key) =>
          toBinary(GetRequestSchema, create(GetRequestSchema, { key, consistency: op === "get" ? Consistency.STRONG : Consistency.EVENTUAL })),
        ),
      };
    case "etcd-put":
      return {
        path: "/v3/kv/put",
        contentType: "application/json",
        bodies: keys.map((key) => Buffer.from(JSON.stringify({ key: b64(key), value: Buffer.from(value).toString("base64") }))),
      };
    case "etcd-get":
      return { path: "/v3/kv/range", contentType: "application/json", bodies: keys.map((key) => Buffer.from(JSON.stringify({ key: b64(key) }))) };
    default:
      throw new Error(`unknown op ${op}; use set, get, get-eventual, etcd-put or etcd-get`);
  }
}
