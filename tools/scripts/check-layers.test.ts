import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { checkLayers, importsOf } from "./check-layers.mjs";

const hostSrc = fileURLToPath(new URL("../../apps/cache-node/src", import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "distcache-layers-"));
  dirs.push(dir);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  return dir;
}

/** A copy of the host's sources with one line added to a file. */
function hostWith(file: string, line: string): string {
  const dir = mkdtempSync(join(tmpdir(), "distcache-layers-host-"));
  dirs.push(dir);
  cpSync(hostSrc, dir, { recursive: true });
  writeFileSync(join(dir, file), `${line}\n${readFileSync(join(dir, file), "utf8")}`);
  return dir;
}

describe("the server host's layer check", () => {
  it("passes on the host's sources as they are", () => {
    expect(checkLayers(hostSrc)).toEqual([]);
  });

  it("fails on an import from a layer above, planted in the state machine", () => {
    const dir = hostWith("state-machine/shard-state-machine.ts", 'import { createRouter } from "../routing/router.js";');
    const problems = checkLayers(dir);
    expect(problems[0]).toBe(
      "state-machine/shard-state-machine.ts: imports ../routing/router.js: layer state-machine may not import from routing, which sits above it",
    );
    // The import also closes a loop through the layers below (routing → consensus → state-machine).
    expect(problems.slice(1)).toEqual([
      expect.stringMatching(/^folder cycle: .*routing ↔ state-machine .*state-machine\/shard-state-machine\.ts → \.\.\/routing\/router\.js/),
    ]);
  });

  it("fails on a type-only import or a re-export against the order, and on a dynamic import", () => {
    const dir = tree({
      "config/a.ts": 'import type { X } from "../api/x.js";\nexport { Y } from "../http/y.js";\nconst z = await import("../consensus/z.js");\n',
      "api/x.ts": "export type X = number;\n",
      "http/y.ts": "export const Y = 1;\n",
      "consensus/z.ts": "export const Z = 1;\n",
    });
    expect(checkLayers(dir)).toEqual([
      "config/a.ts: imports ../api/x.js: layer config may not import from api, which sits above it",
      "config/a.ts: imports ../http/y.js: layer config may not import from http, which sits above it",
      "config/a.ts: imports ../consensus/z.js: layer config may not import from consensus, which sits above it",
    ]);
  });

  it("fails on folders of one layer that import each other, naming the imports", () => {
    const dir = tree({
      "peer/transport.ts": 'import { frame } from "./wire/frame.js";\nexport const send = frame;\n',
      "peer/wire/frame.ts": 'import { send } from "../transport.js";\nexport const frame = send;\n',
    });
    expect(checkLayers(dir)).toEqual(["folder cycle: peer ↔ peer/wire (peer/transport.ts → ./wire/frame.js; peer/wire/frame.ts → ../transport.js)"]);
  });

  it("lets a test use its layer's test doubles, and refuses them to production code", () => {
    const dir = tree({
      "consensus/log.ts": "export interface Log { n: number }\n",
      "consensus/testing/memory-log.ts": 'import type { Log } from "../log.js";\nexport const log: Log = { n: 1 };\n',
      "consensus/log.test.ts": 'import { log } from "./testing/memory-log.js";\nexport const n = log.n;\n',
      "consensus/driver.ts": 'import { log } from "./testing/memory-log.js";\nexport const m = log.n;\n',
    });
    expect(checkLayers(dir)).toEqual([
      "consensus/driver.ts: imports ./testing/memory-log.js: production code may not import tests or test doubles",
      "folder cycle: consensus ↔ consensus/testing (consensus/driver.ts → ./testing/memory-log.js; consensus/testing/memory-log.ts → ../log.js)",
    ]);
  });

  it("names a folder that belongs to no layer", () => {
    const dir = tree({ "misc/a.ts": "export const a = 1;\n" });
    expect(checkLayers(dir)).toEqual([
      `misc/a.ts: folder misc/ is in no layer (layers: ., api, watch, background, placement, http, routing, consensus, peer, state-machine, config)`,
    ]);
  });

  it("reads every form of relative import, and no package import", () => {
    const text = [
      'import { a } from "./a.js";',
      'import type { B } from "../b.js";',
      'import * as c from "./c.js";',
      'import "./d.js";',
      'export * from "./e.js";',
      'export { f } from "./f.js";',
      'const g = await import("./g.js");',
      'import { h } from "@distcache/raft";',
      'import {\n  i,\n  j,\n} from "./ij.js";',
    ].join("\n");
    expect(importsOf(text)).toEqual(["./a.js", "../b.js", "./c.js", "./d.js", "./e.js", "./f.js", "./g.js", "./ij.js"]);
  });
});
