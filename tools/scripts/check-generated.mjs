// Fails when packages/proto/src/gen differs from what `npm run generate` would produce.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const repo = new URL("../../", import.meta.url).pathname;
const committed = join(repo, "packages/proto/src/gen");
const scratch = mkdtempSync(join(tmpdir(), "distcache-gen-"));
const list = (dir) => {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
};
try {
  const bin = join(repo, "node_modules/.bin");
  execFileSync(join(bin, "buf"), ["generate", "--output", scratch], {
    cwd: repo,
    stdio: "inherit",
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  const fresh = join(scratch, "packages/proto/src/gen");
  const a = list(committed);
  const b = list(fresh);
  const stale = [];
  for (const f of new Set([...a, ...b])) {
    const x = a.includes(f) ? readFileSync(join(committed, f), "utf8") : null;
    const y = b.includes(f) ? readFileSync(join(fresh, f), "utf8") : null;
    if (x !== y) stale.push(f);
  }
  if (stale.length > 0) {
    console.error(`generated protobuf code is stale (${stale.join(", ")}); run \`npm run generate\` and commit the result`);
    process.exit(1);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
