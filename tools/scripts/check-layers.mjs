#!/usr/bin/env node
// Checks the server host's layers (docs/design.md, "Layers of the server host"): a file
// imports only from its own layer or one below it, no two folders import each other
// (directly or around a cycle), and production code never imports a test or a test double.
//
//   node tools/scripts/check-layers.mjs            checks apps/cache-node/src
//   node tools/scripts/check-layers.mjs --src DIR  checks another tree with the same layers
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The layers of apps/cache-node/src, top to bottom. "." is the composition root (files directly in src). */
export const HOST_LAYERS = [".", "api", "watch", "background", "placement", "http", "routing", "consensus", "peer", "state-machine", "config"];

const IMPORT = /(?:^|[^\w$.])(?:import|export)\s*(?:type\s+)?(?:[\w$*{}\s,]+?\s+from\s+)?\(?\s*["'](\.{1,2}\/[^"']+)["']/g;

function sources(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) out.push(...sources(file));
    else if (/\.(m?ts|mjs|js)$/.test(name) && !name.endsWith(".d.ts")) out.push(file);
  }
  return out;
}

/** The relative specifiers a source file imports or re-exports, static and dynamic. */
export function importsOf(text) {
  return [...text.matchAll(IMPORT)].map((match) => match[1]);
}

const isTestFile = (rel) => /\.test\.m?ts$/.test(rel);
const isTestDouble = (rel) => rel.split("/").includes("testing");

/**
 * Every breach of the layer rules in the tree at srcDir, as readable lines; empty when it
 * keeps them. `layers` lists the top-level folders from the top layer to the bottom one.
 */
export function checkLayers(srcDir, layers = HOST_LAYERS) {
  const problems = [];
  const rank = new Map(layers.map((layer, index) => [layer, index]));
  const layerOf = (rel) => (rel.includes("/") ? rel.slice(0, rel.indexOf("/")) : ".");
  const folderEdges = new Map();
  for (const file of sources(srcDir)) {
    const rel = path.relative(srcDir, file).split(path.sep).join("/");
    const layer = layerOf(rel);
    if (!rank.has(layer)) {
      problems.push(`${rel}: folder ${layer}/ is in no layer (layers: ${layers.join(", ")})`);
      continue;
    }
    const folder = path.posix.dirname(rel);
    for (const spec of importsOf(readFileSync(file, "utf8"))) {
      const target = path.posix.normalize(path.posix.join(folder, spec)).replace(/\.js$/, ".ts");
      if (target.startsWith("../")) {
        if (!isTestFile(rel) && !isTestDouble(rel)) problems.push(`${rel}: imports ${spec}, outside the host's sources`);
        continue;
      }
      const targetLayer = layerOf(target);
      if (rank.has(targetLayer) && rank.get(targetLayer) < rank.get(layer)) {
        problems.push(`${rel}: imports ${spec}: layer ${layer} may not import from ${targetLayer}, which sits above it`);
      }
      if (!isTestFile(rel) && !isTestDouble(rel) && (isTestFile(target) || isTestDouble(target))) {
        problems.push(`${rel}: imports ${spec}: production code may not import tests or test doubles`);
      }
      // A test file is a leaf (nothing imports it), so its imports close no cycle.
      const targetFolder = path.posix.dirname(target);
      if (targetFolder !== folder && !isTestFile(rel)) {
        if (!folderEdges.has(folder)) folderEdges.set(folder, new Map());
        const edges = folderEdges.get(folder);
        if (!edges.has(targetFolder)) edges.set(targetFolder, `${rel} → ${spec}`);
      }
    }
  }
  for (const cycle of folderCycles(folderEdges)) problems.push(`folder cycle: ${cycle}`);
  return problems;
}

/** Each strongly connected set of folders (Tarjan), described by the imports that close it. */
function folderCycles(edges) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const cycles = [];
  let next = 0;
  const visit = (folder) => {
    index.set(folder, next);
    low.set(folder, next);
    next++;
    stack.push(folder);
    onStack.add(folder);
    for (const target of edges.get(folder)?.keys() ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(folder, Math.min(low.get(folder), low.get(target)));
      } else if (onStack.has(target)) {
        low.set(folder, Math.min(low.get(folder), index.get(target)));
      }
    }
    if (low.get(folder) !== index.get(folder)) return;
    const members = [];
    let member;
    do {
      member = stack.pop();
      onStack.delete(member);
      members.push(member);
    } while (member !== folder);
    if (members.length < 2) return;
    const inCycle = new Set(members);
    const imports = members.flatMap((from) => [...(edges.get(from) ?? [])].filter(([to]) => inCycle.has(to)).map(([, via]) => via)).sort();
    cycles.push(`${members.sort().join(" ↔ ")} (${imports.join("; ")})`);
  };
  for (const folder of [...edges.keys()].sort()) if (!index.has(folder)) visit(folder);
  return cycles;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const srcFlag = process.argv.indexOf("--src");
  const srcDir = srcFlag > 0 ? path.resolve(process.argv[srcFlag + 1]) : fileURLToPath(new URL("../../apps/cache-node/src", import.meta.url));
  const problems = checkLayers(srcDir);
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) {
    const where = path.relative(process.cwd(), srcDir) || ".";
    console.error(`check-layers: ${problems.length} breach(es) of the layer order in ${where} (docs/design.md, "Layers of the server host")`);
    process.exit(1);
  }
}
