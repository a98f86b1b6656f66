import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "../config/config-error.js";
import { NODE_BOOK_FILE, NodeBook } from "./node-book.js";

const dirs: string[] = [];
const dataDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "distcache-book-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const node = (id: string, port: number) => ({ id, clientAddress: `127.0.0.1:${port}`, peerAddress: `127.0.0.1:${port + 100}` });

describe("NodeBook", () => {
  it("learns the document's nodes, keeps them across a reopen, and drops those the document lost", async () => {
    const dir = dataDir();
    const book = await NodeBook.open(dir, [node("n1", 1), node("n2", 2)]);
    expect(await book.learn([node("n1", 1), node("n2", 2), node("n4", 4)], true)).toEqual({ added: [node("n4", 4)], dropped: [] });
    expect((await NodeBook.open(dir, [])).all().map((n) => n.id)).toEqual(["n1", "n2", "n4"]);
    // n2 moved, n1 was removed.
    expect(await book.learn([node("n2", 22), node("n4", 4)], true)).toEqual({ added: [node("n2", 22)], dropped: ["n1"] });
    const reopened = await NodeBook.open(dir, []);
    expect([reopened.clientAddress("n2"), reopened.peerAddress("n2"), reopened.get("n1")]).toEqual(["127.0.0.1:22", "127.0.0.1:122", undefined]);
  });

  it("writes nothing when nothing changed, and lets the flags' addresses win", async () => {
    const dir = dataDir();
    const book = await NodeBook.open(dir, [node("n1", 1)]);
    expect(await book.learn([node("n1", 1)], true)).toEqual({ added: [], dropped: [] });
    expect(existsSync(join(dir, NODE_BOOK_FILE))).toBe(false);
    await book.learn([node("n1", 5)], false);
    expect((await NodeBook.open(dir, [node("n1", 1)])).clientAddress("n1")).toBe("127.0.0.1:1");
  });

  it("records the first incarnation each peer presents, across a reopen, and refuses another", async () => {
    const dir = dataDir();
    const book = await NodeBook.open(dir, [node("n1", 1), node("n2", 2)]);
    const first = "a".repeat(32);
    const errors: unknown[] = [];
    expect(book.incarnationProblem("n2", first, (e) => errors.push(e))).toBeUndefined();
    expect(book.incarnationProblem("n2", first, (e) => errors.push(e))).toBeUndefined();
    await book.save();
    const reopened = await NodeBook.open(dir, [node("n2", 2)]);
    expect(reopened.incarnationProblem("n2", "b".repeat(32), (e) => errors.push(e))).toMatch(/peer n2 .* knows it as a{32}: its data dir was wiped/);
    expect(reopened.incarnationProblem("n2", first, (e) => errors.push(e))).toBeUndefined();
    // A node the document dropped is forgotten with its incarnation.
    await reopened.learn([node("n1", 1)], true);
    expect(reopened.incarnationProblem("n2", "b".repeat(32), (e) => errors.push(e))).toBeUndefined();
    expect(errors).toEqual([]);
  });

  it("keeps a joined node's bootstrap members when the document drops them", async () => {
    const dir = dataDir();
    const book = await NodeBook.open(dir, [node("n1", 1), node("n2", 2), node("n4", 4)]);
    book.bootstrap = [node("n1", 1), node("n2", 2)];
    book.joinedAt = 2;
    await book.save();
    await book.learn([node("n2", 2), node("n4", 4)], true);
    const reopened = await NodeBook.open(dir, []);
    expect([reopened.get("n1"), reopened.bootstrap, reopened.joinedAt]).toEqual([undefined, [node("n1", 1), node("n2", 2)], 2]);
  });

  it("refuses a file that is not a node book", async () => {
    const dir = dataDir();
    writeFileSync(join(dir, NODE_BOOK_FILE), JSON.stringify({ format: 1, nodes: [{ id: "bad id", clientAddress: "x", peerAddress: "y" }] }));
    await expect(NodeBook.open(dir, [])).rejects.toThrow(ConfigError);
    writeFileSync(join(dir, NODE_BOOK_FILE), "{");
    await expect(NodeBook.open(dir, [])).rejects.toThrow(/not valid JSON/);
    expect(readFileSync(join(dir, NODE_BOOK_FILE), "utf8")).toBe("{");
  });
});
