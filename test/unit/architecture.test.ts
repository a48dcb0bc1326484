/**
 * The import rule of src/ (docs/ARCHITECTURE.md), as data in src/layers.json: a file imports its own
 * folder and folders of lower layers only, every folder is in a layer, every named exception is used,
 * and no files form an import cycle. Imports are read with TypeScript's own pre-processor (static,
 * `export ... from`, dynamic `import()`, type-only: a type is a dependency too; comments are not).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

interface Rules {
  layers: Array<{ rank: number; name: string; folders: string[] }>;
  exceptions: Array<{ from: string; to: string; reason: string }>;
}

/** file (relative to src, '/'-separated) -> the src files it imports, in the same form. */
type Graph = Map<string, string[]>;

function readGraph(root: string): Graph {
  const graph: Graph = new Map();
  for (const rel of fs.readdirSync(root, { recursive: true }).map(String).sort()) {
    if (!rel.endsWith('.ts')) continue;
    const file = rel.split(path.sep).join('/');
    const text = fs.readFileSync(path.join(root, rel), 'utf8');
    const targets = ts
      .preProcessFile(text, true, true)
      .importedFiles.map((f) => f.fileName)
      .filter((s) => s.startsWith('.'))
      .map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)))
      .filter((t) => !t.startsWith('../'));
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

const unitOf = (file: string): string => file.split('/')[0];

/** One line per import the rule refuses, per folder in no layer, per exception no import uses. */
export function layerViolations(graph: Graph, rules: Rules): string[] {
  const layerOf = new Map<string, { rank: number; name: string }>();
  for (const l of rules.layers) for (const f of l.folders) layerOf.set(f, l);
  const out: string[] = [];
  const unplaced = new Set<string>();
  const used = new Set<number>();
  for (const [file, targets] of graph) {
    const from = layerOf.get(unitOf(file));
    if (!from) {
      unplaced.add(unitOf(file));
      continue;
    }
    for (const t of targets) {
      if (unitOf(t) === unitOf(file)) continue;
      const to = layerOf.get(unitOf(t));
      if (!to || to.rank < from.rank) continue;
      const ex = rules.exceptions.findIndex((e) => e.from === file && e.to === t);
      if (ex >= 0) {
        used.add(ex);
        continue;
      }
      const where = to.rank === from.rank ? 'a peer in its own layer' : 'a layer above it';
      out.push(`src/${file} (${unitOf(file)}: layer ${from.rank} ${from.name}) imports src/${t} (${unitOf(t)}: layer ${to.rank} ${to.name}), ${where}`);
    }
  }
  for (const u of unplaced) out.push(`src/${u} is in no layer of src/layers.json`);
  rules.exceptions.forEach((e, i) => {
    if (!used.has(i)) out.push(`exception src/${e.from} -> src/${e.to} is not used (or not needed): remove it from src/layers.json`);
  });
  return out;
}

/** Each set of files that import each other in a loop, as "a -> b -> a". */
export function importCycles(graph: Graph): string[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push([...scc.reverse(), scc[0]].map((f) => `src/${f}`).join(' -> '));
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

const rules = JSON.parse(fs.readFileSync(path.join(SRC, 'layers.json'), 'utf8')) as Rules;

test('src/ keeps the layers of src/layers.json: no folder imports a peer or a layer above it', () => {
  const bad = layerViolations(readGraph(SRC), rules);
  assert.equal(bad, [], `\n${bad.join('\n')}\n`);
});

test('no files of src/ import each other in a cycle', () => {
  const cycles = importCycles(readGraph(SRC));
  assert.equal(cycles, [], `\n${cycles.join('\n')}\n`);
});

test('the rule itself: every layer has a distinct rank and every folder one layer', () => {
  const ranks = rules.layers.map((l) => l.rank);
  assert.equal(ranks, [...ranks].sort((a, b) => a - b), 'layers are listed bottom to top');
  assert.is(new Set(ranks).size, ranks.length, 'distinct ranks');
  const folders = rules.layers.flatMap((l) => l.folders);
  assert.is(new Set(folders).size, folders.length, 'each folder in one layer');
  for (const e of rules.exceptions) assert.ok(e.reason.length > 20, `exception ${e.from} -> ${e.to} says why`);
});

test('the check sees an import upwards, a peer import, a dynamic import, a folder in no layer and a stale exception', () => {
  const tiny: Rules = {
    layers: [
      { rank: 0, name: 'low', folders: ['a', 'b'] },
      { rank: 1, name: 'high', folders: ['c'] },
    ],
    exceptions: [{ from: 'c/x.ts', to: 'a/gone.ts', reason: 'a test of a stale exception' }],
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-arch-'));
  try {
    const put = (f: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), text);
    };
    put('a/up.ts', "import type { C } from '../c/x.ts';\n");
    put('a/peer.ts', "export const p = () => import('../b/y.ts');\n");
    put('a/fine.ts', "// import '../c/x.ts'\nexport const s = '../c/x.ts';\n");
    put('b/y.ts', 'export const y = 1;\n');
    put('c/x.ts', "import { y } from '../b/y.ts';\nexport type C = typeof y;\n");
    put('d/z.ts', "import { y } from '../b/y.ts';\n");
    const bad = layerViolations(readGraph(dir), tiny);
    assert.is(bad.length, 4, bad.join('\n'));
    assert.ok(bad.some((l) => l.startsWith('src/a/up.ts (a: layer 0 low) imports src/c/x.ts (c: layer 1 high), a layer above it')), bad.join('\n'));
    assert.ok(bad.some((l) => l.startsWith('src/a/peer.ts') && l.endsWith('a peer in its own layer')), bad.join('\n'));
    assert.ok(bad.includes('src/d is in no layer of src/layers.json'), bad.join('\n'));
    assert.ok(bad.some((l) => l.startsWith('exception src/c/x.ts -> src/a/gone.ts is not used')), bad.join('\n'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the check sees a cycle of three files and a file importing itself, and none in a chain', () => {
  const g: Graph = new Map([
    ['a/1.ts', ['a/2.ts']],
    ['a/2.ts', ['a/3.ts']],
    ['a/3.ts', ['a/1.ts']],
    ['b/1.ts', ['b/2.ts']],
    ['b/2.ts', []],
  ]);
  assert.equal(importCycles(g), ['src/a/1.ts -> src/a/2.ts -> src/a/3.ts -> src/a/1.ts']);
  assert.equal(importCycles(new Map([['x.ts', ['x.ts']]])), ['src/x.ts -> src/x.ts']);
});

test.run();
