#!/usr/bin/env tsx
/**
 * Test tiers. `all` first runs the host setup (engine, base image, VM and RPM tools), then every tier.
 *   unit   : pure TypeScript, no engine
 *   docker : real Docker engine, real Debian packages
 *   vm     : real kernels under QEMU TCG
 *   el7-userland : CentOS 7.9's host tools (bash 4.2 as sh, util-linux 2.23.2, lvm2 2.02.187, kmod 20,
 *            built once from ../shared/el7-userland/ and cached by hash; qemu 1.5.3 stand-in): the host
 *            and map unit tests again under that sh, then test/el7-userland
 * Every tier runs for real; a missing prerequisite is a failure, never a skip.
 */
import { $, fs, os, path } from 'zx';
import { el7SourcesMissing, ensureEl7Userland } from './el7-userland.ts';

$.verbose = true;
const tier = process.argv[2] ?? 'all';
const TIERS = ['unit', 'docker', 'vm', 'el7-userland'];
const tiers = tier === 'all' ? TIERS : [tier];
if (!tiers.every((t) => TIERS.includes(t))) {
  console.error(`usage: scripts/test.ts [all|${TIERS.join('|')}]`);
  process.exit(2);
}
if (tiers.includes('el7-userland')) {
  // Checked before anything runs: one line that says what is missing and how to provide it.
  const missing = el7SourcesMissing();
  if (missing) {
    console.error(missing);
    process.exit(2);
  }
}
if (tiers.some((t) => t !== 'unit')) await $`tsx scripts/setup-host.ts --with vm,rpm,pkgrepo,sign,publish,oci,el7`;

const results: Array<[string, number, number]> = [];
for (const t of tiers) {
  const t0 = Date.now();
  let code: number;
  if (t === 'el7-userland') {
    // bash started as `sh` runs in POSIX mode: CentOS 7's /bin/sh, for the shell-level unit tests
    const bin = path.join(ensureEl7Userland(), 'bin');
    const shDir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-el7-sh-'));
    await fs.symlink(path.join(bin, 'bash'), path.join(shDir, 'sh'));
    const env = { ...process.env, NBDFORGE_TEST_SH: path.join(shDir, 'sh'), PATH: `${shDir}:${process.env.PATH}` };
    const u = await $({ stdio: 'inherit', env })`node --import tsx node_modules/uvu/bin.js test/unit ${'^(host|map)-.*\\.test\\.ts$'}`.nothrow();
    const e = await $({ stdio: 'inherit' })`node --import tsx node_modules/uvu/bin.js test/el7-userland ${'\\.test\\.ts$'}`.nothrow();
    await fs.remove(shDir);
    code = u.exitCode === 0 && e.exitCode === 0 ? 0 : 1;
  } else {
    code = (await $({ stdio: 'inherit' })`node --import tsx node_modules/uvu/bin.js test/${t} ${'\\.test\\.ts$'}`.nothrow()).exitCode ?? 1;
  }
  results.push([t, code, Date.now() - t0]);
}
for (const [t, code, ms] of results) console.error(`[test] ${t.padEnd(12)} ${code === 0 ? 'PASS' : 'FAIL'} ${(ms / 1000).toFixed(1)} s`);
process.exit(results.every(([, c]) => c === 0) ? 0 : 1);
