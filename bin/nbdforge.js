#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx: no build step between a checkout and a run.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli.ts');
const code = await main(process.argv.slice(2));
// Exit now: Node's keep-alive agent would hold the Docker socket open for a while after the work
// is done. stdout/stderr are synchronous for files, pipes and terminals on Linux, so nothing is lost.
process.exit(code);
