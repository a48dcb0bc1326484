#!/usr/bin/env node
// Runs the compiled JavaScript in dist/ (built at `npm ci` and `npm pack`) when it matches the
// sources; otherwise (an edited checkout) the TypeScript sources through tsx.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { guardOutput, finishOutput } from './output.js';
import { pickEntry } from './dist-state.js';

guardOutput(process);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let main;
if (process.env.NBDFORGE_FROM_SOURCE !== '1' && pickEntry(root) === 'dist') {
  ({ main } = await import('../dist/cli.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli.ts'));
}
const code = await main(process.argv.slice(2));
// No process.exit here: it would drop what is still queued for a pipe whose reader is slow (more
// than the pipe's 64 KiB). finishOutput waits until stdout and stderr took every byte, sets the
// exit status, and lets Node end once nothing is left open.
await finishOutput(process, code);
