#!/usr/bin/env tsx
/**
 * The main job on a fresh machine: set the host up (Docker engine, base image), then build, verify
 * and store nbd.ko for the newest Debian 12 kernel the archive offers, with the local defaults.
 * Extra arguments go to `nbdforge matrix` (e.g. `npm run quickstart -- --latest 3`).
 */
import { $ } from 'zx';
import { nextSteps } from './quickstart-next.ts';

$.verbose = false;
const extra = process.argv.slice(2);
const setup = await $({ stdio: 'inherit' })`tsx scripts/setup-host.ts`.nothrow();
if (setup.exitCode !== 0) process.exit(setup.exitCode ?? 1);
const args = extra.length ? extra : ['--latest', '1'];
console.error(`[quickstart] nbdforge matrix --family debian12 ${args.join(' ')}`);
const r = await $({ stdio: ['inherit', 'pipe', 'inherit'] })`node bin/nbdforge.js matrix --family debian12 ${args} --json`.nothrow();
if (r.exitCode !== 0 && !r.stdout.trim()) process.exit(r.exitCode ?? 1);
const summary = JSON.parse(r.stdout) as { store: string; kernels: Array<{ kernelRelease: string; status: string; path?: string; error?: string }> };
for (const k of summary.kernels) {
  console.log(k.path ? `${k.kernelRelease}: ${k.status}, ${k.path}` : `${k.kernelRelease}: ${k.status}: ${k.error}`);
}
for (const line of nextSteps(summary.store, summary.kernels.find((k) => k.path)?.kernelRelease)) console.log(line);
process.exit(r.exitCode ?? 1);
