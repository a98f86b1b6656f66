import { ConfigError } from "./config-error.js";

export interface ClusterMember {
  id: string;
  /** host:port serving the client API. */
  clientAddress: string;
  /** host:port of the peer (Raft) listener. */
  peerAddress: string;
}

const ID = /^[A-Za-z0-9_.-]{1,64}$/;
const ADDRESS = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;

/**
 * Whether `address` is a node address every part of a node takes alike (flags, AddNode,
 * Join, nodes.json): host:port, the host a name, an IPv4 address or a bracketed IPv6 one,
 * the port 1 to 65535, at most 255 characters.
 */
export function isHostPort(address: string): boolean {
  const m = ADDRESS.exec(address);
  const port = m ? Number(m[2]) : 0;
  return address.length <= 255 && port >= 1 && port <= 65535;
}

function checkAddress(address: string, what: string): string {
  if (!isHostPort(address)) throw new ConfigError(`${what} must be host:port, got "${address}"`);
  return address;
}

/**
 * Parses --initial-cluster: comma-separated `id=clientHost:port/peerHost:port` entries,
 * e.g. `n1=127.0.0.1:7301/127.0.0.1:7401,n2=127.0.0.1:7302/127.0.0.1:7402`.
 * The order is the placement order: shard s is led by default by member s mod N.
 */
export function parseInitialCluster(text: string): ClusterMember[] {
  const members = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((entry) => {
      const eq = entry.indexOf("=");
      const slash = entry.indexOf("/", eq);
      if (eq <= 0 || slash < 0) throw new ConfigError(`initial-cluster entry must be id=clientHost:port/peerHost:port, got "${entry}"`);
      const id = entry.slice(0, eq);
      if (!ID.test(id)) throw new ConfigError(`initial-cluster node id must be 1-64 of [A-Za-z0-9_.-], got "${id}"`);
      return {
        id,
        clientAddress: checkAddress(entry.slice(eq + 1, slash), `client address of ${id}`),
        peerAddress: checkAddress(entry.slice(slash + 1), `peer address of ${id}`),
      };
    });
  const ids = new Set(members.map((m) => m.id));
  if (ids.size !== members.length) throw new ConfigError("initial-cluster lists a node id twice");
  return members;
}

/** Parses address overrides such as --peer-dial and --client-dial: `id=host:port,...`. */
export function parsePeerDial(text: string, flag = "--peer-dial"): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = entry.indexOf("=");
    if (eq <= 0) throw new ConfigError(`${flag.slice(2)} entry must be id=host:port, got "${entry}"`);
    out.set(entry.slice(0, eq), checkAddress(entry.slice(eq + 1), `${flag.slice(2)} address of ${entry.slice(0, eq)}`));
  }
  return out;
}

/**
 * Static placement: shard s is replicated on R consecutive members starting at s mod N,
 * so replicas and default leaders spread evenly and every node computes the same map.
 */
export function placeShards(members: readonly ClusterMember[], shards: number, replicas: number): string[][] {
  if (replicas < 1 || replicas > members.length) throw new ConfigError(`replicas must be in [1, ${members.length}], got ${replicas}`);
  return Array.from({ length: shards }, (_, s) => Array.from({ length: replicas }, (_, i) => members[(s + i) % members.length]!.id));
}
