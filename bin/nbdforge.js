#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx: no build step between a checkout and a run.
import { register } from 'tsx/esm/api';
import { guardOutput, finishOutput } from './output.js';

register();
guardOutput(process);
const { main } = await import('../src/cli.ts');
const code = await main(process.argv.slice(2));
// No process.exit here: it would drop what is still queued for a pipe whose reader is slow (more
// than the pipe's 64 KiB). finishOutput waits until stdout and stderr took every byte, sets the
// exit status, and lets Node end once nothing is left open.
await finishOutput(process, code);
