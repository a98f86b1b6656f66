import { join } from "node:path";
import { isHostPort, type ClusterMember } from "../config/cluster-config.js";
import { ConfigError } from "../config/config-error.js";
import { readJsonFile, writeFileDurably } from "../config/durable-file.js";
import type { MemberDirectory } from "../routing/forwarder.js";

export const NODE_BOOK_FILE = "nodes.json";
const NODE_BOOK_FORMAT = 1;
const ID = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The nodes this node knows, with their addresses: the cluster's nodes from the meta
 * document as last seen, kept in `<data-dir>/nodes.json`, so a restarted node finds
 * its peers (those that joined after it, too) before it reaches the meta group.
 * --initial-cluster only seeds it; a node's own entry is what it advertises.
 */
export class NodeBook implements MemberDirectory {
  private readonly nodes = new Map<string, ClusterMember>();
  /** The incarnation each peer presented first (its data dir's; see data-dir-identity.ts). */
  private readonly incarnations = new Map<string, string>();
  /**
   * A joined node's --initial-cluster as the cluster was bootstrapped (its identity and
   * placement derive from it); kept when those nodes leave the document.
   */
  bootstrap: ClusterMember[] = [];
  /** The epoch that made this node a member, when it joined a running cluster (0 for a bootstrap member). */
  joinedAt = 0;

  private constructor(private readonly path: string) {}

  /** The book of `dataDir`, with `seed` (flags' addresses win over recorded ones for the same id). */
  static async open(dataDir: string, seed: readonly ClusterMember[]): Promise<NodeBook> {
    const book = new NodeBook(join(dataDir, NODE_BOOK_FILE));
    const recorded = await readBook(book.path);
    book.joinedAt = recorded.joinedAt;
    book.bootstrap = recorded.bootstrap;
    for (const [id, incarnation] of Object.entries(recorded.incarnations)) book.incarnations.set(id, incarnation);
    for (const node of recorded.nodes) book.nodes.set(node.id, node);
    for (const node of seed) book.nodes.set(node.id, { ...node });
    return book;
  }

  clientAddress(id: string): string | undefined {
    return this.nodes.get(id)?.clientAddress;
  }

  peerAddress(id: string): string | undefined {
    return this.nodes.get(id)?.peerAddress;
  }

  get(id: string): ClusterMember | undefined {
    return this.nodes.get(id);
  }

  all(): ClusterMember[] {
    return [...this.nodes.values()];
  }

  /**
   * Takes the document's nodes: adds those not known, updates addresses that changed,
   * and drops known nodes the document no longer holds (`complete`). Writes the file when
   * anything changed. Answers the nodes added or changed, and those dropped.
   */
  async learn(nodes: readonly ClusterMember[], complete: boolean): Promise<{ added: ClusterMember[]; dropped: string[] }> {
    const added = nodes.filter((n) => {
      const known = this.nodes.get(n.id);
      return !known || known.clientAddress !== n.clientAddress || known.peerAddress !== n.peerAddress;
    });
    const dropped = complete ? [...this.nodes.keys()].filter((id) => !nodes.some((n) => n.id === id)) : [];
    for (const n of added) this.nodes.set(n.id, { id: n.id, clientAddress: n.clientAddress, peerAddress: n.peerAddress });
    for (const id of dropped) {
      this.nodes.delete(id);
      this.incarnations.delete(id);
    }
    if (added.length > 0 || dropped.length > 0) await this.save();
    return { added, dropped };
  }

  /**
   * Why `peer`, presenting `incarnation` at its handshake, is refused: this node knew it
   * under another, so its data dir was wiped or replaced. The first incarnation a peer
   * presents is recorded (and written to the file).
   */
  incarnationProblem(peer: string, incarnation: string, onSaveError: (err: unknown) => void): string | undefined {
    const known = this.incarnations.get(peer);
    if (known === undefined) {
      this.incarnations.set(peer, incarnation);
      this.save().catch(onSaveError);
      return undefined;
    }
    if (known === incarnation) return undefined;
    return (
      `peer ${peer} presents data dir incarnation ${incarnation}, but this node knows it as ${known}: its data dir was wiped or replaced, ` +
      `so it forgot what it promised; a node never comes back under its id without its data: remove it (RemoveNode ${peer}) ` +
      "and start it under a new --node-id with --join"
    );
  }

  /** Writes the book, after any write before it (each writes the book as it is when it runs). */
  save(): Promise<void> {
    const run = this.saving.then(() => this.write());
    this.saving = run.catch(() => undefined);
    return run;
  }

  private saving: Promise<void> = Promise.resolve();

  private async write(): Promise<void> {
    const book = {
      format: NODE_BOOK_FORMAT,
      ...(this.joinedAt > 0 ? { joinedAt: this.joinedAt } : {}),
      ...(this.bootstrap.length > 0 ? { bootstrap: this.bootstrap } : {}),
      nodes: this.all(),
      incarnations: Object.fromEntries(this.incarnations),
    };
    await writeFileDurably(this.path, `${JSON.stringify(book, null, 2)}\n`);
  }
}

async function readBook(path: string): Promise<{ joinedAt: number; nodes: ClusterMember[]; bootstrap: ClusterMember[]; incarnations: Record<string, string> }> {
  const parsed = await readJsonFile(path);
  if (parsed === undefined) return { joinedAt: 0, nodes: [], bootstrap: [], incarnations: {} };
  const nodes = (parsed as { format?: unknown; nodes?: unknown }).nodes;
  const joinedAt = (parsed as { joinedAt?: unknown }).joinedAt ?? 0;
  const incarnations = (parsed as { incarnations?: unknown }).incarnations ?? {};
  const bootstrap = (parsed as { bootstrap?: unknown }).bootstrap ?? [];
  const valid =
    (parsed as { format?: unknown }).format === NODE_BOOK_FORMAT &&
    Array.isArray(nodes) &&
    nodes.every(isMember) &&
    Array.isArray(bootstrap) &&
    bootstrap.every(isMember) &&
    typeof incarnations === "object" &&
    incarnations !== null &&
    Object.entries(incarnations).every(([id, v]) => ID.test(id) && typeof v === "string" && /^[0-9a-f]{32}$/.test(v));
  if (!valid || !Number.isSafeInteger(joinedAt) || (joinedAt as number) < 0) {
    throw new ConfigError(`${path} is not a node book of format ${NODE_BOOK_FORMAT}; remove it to rebuild it from --initial-cluster and the cluster`);
  }
  return { joinedAt: joinedAt as number, nodes, bootstrap: bootstrap as ClusterMember[], incarnations: incarnations as Record<string, string> };
}

function isMember(value: unknown): value is ClusterMember {
  const m = value as Partial<ClusterMember> | null;
  return (
    typeof m === "object" &&
    m !== null &&
    typeof m.id === "string" &&
    ID.test(m.id) &&
    typeof m.clientAddress === "string" &&
    isHostPort(m.clientAddress) &&
    typeof m.peerAddress === "string" &&
    isHostPort(m.peerAddress)
  );
}
