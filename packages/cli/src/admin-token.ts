import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseAdminToken, type Parsed } from "./parse.js";

/*
 * The admin token AddNode and RemoveNode need, from a flag, the cluster's peer secret
 * file, or the environment. Nodes derive it from the peer secret; this derivation must
 * stay the node's exactly (apps/cache-node/src/peer/control-token.ts, adminToken).
 */

export const ADMIN_TOKEN_ENV = "DISTCACHE_ADMIN_TOKEN";
const ADMIN_LABEL = "distcache-cluster-admin-v1";

/** HMAC-SHA256 of "distcache-cluster-admin-v1" keyed by the peer secret, in hex, as nodes compute it. */
export function adminTokenOf(peerSecret: string): string {
  return createHmac("sha256", peerSecret).update(ADMIN_LABEL).digest("hex");
}

/** The peer secret in a file, read as nodes read --peer-secret-file: UTF-8, trimmed. */
export function readPeerSecret(path: string): Parsed<string> {
  let secret: string;
  try {
    secret = readFileSync(path, "utf8").trim();
  } catch (err) {
    return { ok: false, error: `--peer-secret-file: cannot read ${path}: ${(err as Error).message}` };
  }
  if (secret === "") return { ok: false, error: `--peer-secret-file: ${path} is empty` };
  return { ok: true, value: secret };
}

export interface TokenFlags {
  /** As given: 64 hex digits, any case. */
  adminToken?: string;
  peerSecretFile?: string;
}

export const HOW_TO_SUPPLY =
  `pass --peer-secret-file <path> (the cluster's peer secret file, as the nodes read it), ` +
  `--admin-token <hex> (HMAC-SHA256 of "${ADMIN_LABEL}" keyed by the peer secret), or set $${ADMIN_TOKEN_ENV}`;

/** The token from --admin-token, else --peer-secret-file, else $DISTCACHE_ADMIN_TOKEN; both flags at once are refused. */
export function resolveAdminToken(flags: TokenFlags, env: Record<string, string | undefined>): Parsed<string> {
  if (flags.adminToken !== undefined && flags.peerSecretFile !== undefined)
    return { ok: false, error: "--admin-token and --peer-secret-file cannot be combined" };
  if (flags.adminToken !== undefined) {
    const parsed = parseAdminToken(flags.adminToken);
    return parsed.ok ? parsed : { ok: false, error: `--admin-token: ${parsed.error}` };
  }
  if (flags.peerSecretFile !== undefined) {
    const secret = readPeerSecret(flags.peerSecretFile);
    return secret.ok ? { ok: true, value: adminTokenOf(secret.value) } : secret;
  }
  const fromEnv = env[ADMIN_TOKEN_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== "") {
    const parsed = parseAdminToken(fromEnv);
    return parsed.ok ? parsed : { ok: false, error: `${ADMIN_TOKEN_ENV}: ${parsed.error}` };
  }
  return { ok: false, error: `this command needs the cluster's admin token: ${HOW_TO_SUPPLY}` };
}
