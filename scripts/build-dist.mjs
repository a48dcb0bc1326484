#!/usr/bin/env node
/**
 * Compile src/ to dist/ (plain JavaScript: no TypeScript transpiler at run time), copy the shell
 * files the code reads beside its modules, and stamp the source tree's state so bin/nbdforge.js
 * can tell a fresh dist/ from a stale one. Built beside and renamed into place. Runs at `npm ci`
 * (prepare) and `npm pack` (prepack); plain JS so it needs nothing but typescript.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceState } from '../bin/dist-state.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const out = path.join(root, 'dist');
const tmp = path.join(root, `.dist-${process.pid}`);
const t0 = Date.now();
const before = sourceState(src);
fs.rmSync(tmp, { recursive: true, force: true });
try {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', tmp], { stdio: 'inherit' });
  for (const rel of fs.readdirSync(src, { recursive: true })) {
    if (!String(rel).endsWith('.sh')) continue;
    fs.mkdirSync(path.dirname(path.join(tmp, String(rel))), { recursive: true });
    fs.copyFileSync(path.join(src, String(rel)), path.join(tmp, String(rel)));
  }
  fs.writeFileSync(path.join(tmp, 'package.json'), '{ "type": "module" }\n');
  fs.writeFileSync(path.join(tmp, 'source-state.json'), JSON.stringify(before) + '\n');
  fs.rmSync(out, { recursive: true, force: true });
  fs.renameSync(tmp, out);
} catch (err) {
  fs.rmSync(tmp, { recursive: true, force: true });
  console.error(`build-dist: ${err.message}`);
  process.exit(1);
}
console.error(`build-dist: dist/ from ${before.files} source files in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
