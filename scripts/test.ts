#!/usr/bin/env tsx
/**
 * Test tiers. `all` first runs the host setup (engine, base image, VM and RPM tools), then every tier.
 *   unit   : pure TypeScript, no engine
 *   docker : real Docker engine, real Debian packages
 *   vm     : real kernels under QEMU TCG
 * Every tier runs for real; a missing prerequisite is a failure, never a skip.
 */
import { $ } from 'zx';

$.verbose = true;
const tier = process.argv[2] ?? 'all';
const tiers = tier === 'all' ? ['unit', 'docker', 'vm'] : [tier];
if (!tiers.every((t) => ['unit', 'docker', 'vm'].includes(t))) {
  console.error(`usage: scripts/test.ts [all|unit|docker|vm]`);
  process.exit(2);
}
if (tiers.some((t) => t !== 'unit')) await $`tsx scripts/setup-host.ts --with vm,rpm,pkgrepo,sign,publish,oci`;

const results: Array<[string, number, number]> = [];
for (const t of tiers) {
  const t0 = Date.now();
  const r = await $({ stdio: 'inherit' })`node --import tsx node_modules/uvu/bin.js test/${t} ${'\\.test\\.ts$'}`.nothrow();
  results.push([t, r.exitCode ?? 1, Date.now() - t0]);
}
for (const [t, code, ms] of results) console.error(`[test] ${t.padEnd(6)} ${code === 0 ? 'PASS' : 'FAIL'} ${(ms / 1000).toFixed(1)} s`);
process.exit(results.every(([, c]) => c === 0) ? 0 : 1);
