// The few messages of etcd's KV API the bench uses, and the KV service, described at run
// time from the field numbers etcd publishes (etcdserverpb/rpc.proto, mvccpb/kv.proto):
// Range and Put over gRPC, with no generated code. Fields the bench does not read are
// left out; their bytes are kept as unknown fields.
import { create } from "@bufbuild/protobuf";
import { createFileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

const T = { bool: 8, bytes: 12, int64: 3, uint64: 4, message: 11 };
const OPTIONAL = 1;
const REPEATED = 3;
const field = (name, number, type, extra = {}) => ({ name, number, type, label: OPTIONAL, jsonName: name, ...extra });

const file = create(FileDescriptorProtoSchema, {
  name: "bench/etcd_kv.proto",
  package: "etcdserverpb",
  syntax: "proto3",
  messageType: [
    {
      name: "ResponseHeader",
      field: [field("cluster_id", 1, T.uint64), field("member_id", 2, T.uint64), field("revision", 3, T.int64), field("raft_term", 4, T.uint64)],
    },
    {
      name: "KeyValue",
      field: [
        field("key", 1, T.bytes),
        field("create_revision", 2, T.int64),
        field("mod_revision", 3, T.int64),
        field("version", 4, T.int64),
        field("value", 5, T.bytes),
      ],
    },
    { name: "RangeRequest", field: [field("key", 1, T.bytes), field("range_end", 2, T.bytes), field("limit", 3, T.int64), field("serializable", 7, T.bool)] },
    {
      name: "RangeResponse",
      field: [
        field("header", 1, T.message, { typeName: ".etcdserverpb.ResponseHeader" }),
        field("kvs", 2, T.message, { typeName: ".etcdserverpb.KeyValue", label: REPEATED }),
        field("more", 3, T.bool),
        field("count", 4, T.int64),
      ],
    },
    { name: "PutRequest", field: [field("key", 1, T.bytes), field("value", 2, T.bytes), field("lease", 3, T.int64), field("prev_kv", 4, T.bool)] },
    { name: "PutResponse", field: [field("header", 1, T.message, { typeName: ".etcdserverpb.ResponseHeader" })] },
  ],
  service: [
    {
      name: "KV",
      method: [
        { name: "Range", inputType: ".etcdserverpb.RangeRequest", outputType: ".etcdserverpb.RangeResponse" },
        { name: "Put", inputType: ".etcdserverpb.PutRequest", outputType: ".etcdserverpb.PutResponse" },
      ],
    },
  ],
});

const registry = createFileRegistry(file, () => undefined);

/** etcdserverpb.KV, for createClient(). */
export const EtcdKV = registry.getService("etcdserverpb.KV");
