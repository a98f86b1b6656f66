import { createHmac, timingSafeEqual } from "node:crypto";

/** The header that carries a node's proof of the peer secret on ReplicaControlService calls. */
export const PEER_TOKEN_HEADER = "distcache-peer-token";

const TOKEN_LABEL = "distcache-replica-control-v1";
const ADMIN_LABEL = "distcache-cluster-admin-v1";

/** The header that carries an administrator's token on ClusterService.AddNode and RemoveNode. */
export const ADMIN_TOKEN_HEADER = "distcache-admin-token";

/**
 * The token a ReplicaControlService call carries: an HMAC, keyed by the peer secret, of
 * a fixed label and the call's audience: `node:<id>` for a call to that node, `join` for
 * a Join. The secret itself never travels, and a token sent to one node (even to an
 * address an attacker got into the cluster) is worth nothing at another. Like the client
 * port's other traffic it is not encrypted: a network that can read it can read the
 * cluster's data too.
 */
export function controlToken(secret: string, audience: string): string {
  return createHmac("sha256", secret).update(TOKEN_LABEL).update("\0").update(audience).digest("hex");
}

/** The audience of control calls to node `id`. */
export const nodeAudience = (id: string) => `node:${id}`;
export const JOIN_AUDIENCE = "join";

/**
 * The token AddNode and RemoveNode need: HMAC-SHA256, keyed by the peer secret, of the
 * label `distcache-cluster-admin-v1`, in hex; with openssl,
 * `printf distcache-cluster-admin-v1 | openssl dgst -sha256 -hmac "$(cat peer-secret)"`.
 */
export function adminToken(secret: string): string {
  return createHmac("sha256", secret).update(ADMIN_LABEL).digest("hex");
}

/** Whether `presented` is `expected`, compared in constant time. */
export function tokenMatches(expected: string, presented: string | null): boolean {
  if (presented === null) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
