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

/**
 * uvu, with its own verdict checked: uvu exits 0 when a file's before-hook throws (that file shows
 * "(0 / N)" and its tests are neither passed nor failed), so a broken setup would hide a whole file.
 * The run passes only if uvu exits 0 AND every test it counted passed, none skipped.
 */
async function uvu(dir: string, pattern: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const p = $({ env, stdio: ['inherit', 'pipe', 'inherit'], verbose: false })`node --import tsx node_modules/uvu/bin.js ${dir} ${pattern}`.nothrow();
  p.stdout.on('data', (d: Buffer) => process.stdout.write(d));
  const r = await p;
  const plain = r.stdout.replace(/\x1b\[[0-9;]*m/g, '');
  const num = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(plain)?.[1] ?? NaN);
  const [total, passed, skipped] = [num('Total'), num('Passed'), num('Skipped')];
  if (r.exitCode !== 0) return r.exitCode ?? 1;
  if (!(total > 0) || passed !== total || skipped !== 0) {
    const hidden = [...plain.matchAll(/^(\S+\.test\.ts)\n[^\n]*\((\d+) \/ (\d+)\)/gm)].filter((m) => m[2] !== m[3]).map((m) => `${m[1]} (${m[2]}/${m[3]})`);
    console.error(`[test] ${dir}: uvu counted ${total} tests, ${passed} passed, ${skipped} skipped${hidden.length ? `; not all run: ${hidden.join(', ')} (a before-hook failed?)` : ''}: FAIL`);
    return 1;
  }
  return 0;
}

const results: Array<[string, number, number]> = [];
for (const t of tiers) {
  const t0 = Date.now();
  let code: number;
  if (t === 'el7-userland') {
    // bash started as `sh` runs in POSIX mode: CentOS 7's /bin/sh, for the shell-level unit tests
    const bin = path.join(ensureEl7Userland(), 'bin');
    const shDir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-el7-sh-'));
    await fs.symlink(path.join(bin, 'bash'), path.join(shDir, 'sh'));
    // NBDFORGE_EL7_BIN: the kernel hook's kABI test runs kmod 20's own depmod and modprobe from there
    const env = { ...process.env, NBDFORGE_TEST_SH: path.join(shDir, 'sh'), NBDFORGE_EL7_BIN: bin, PATH: `${shDir}:${process.env.PATH}` };
    const u = await uvu('test/unit', '^(host|map)-.*\\.test\\.ts$', env);
    const e = await uvu('test/el7-userland', '\\.test\\.ts$');
    await fs.remove(shDir);
    code = u === 0 && e === 0 ? 0 : 1;
  } else {
    code = await uvu(`test/${t}`, '\\.test\\.ts$');
  }
  results.push([t, code, Date.now() - t0]);
}
for (const [t, code, ms] of results) console.error(`[test] ${t.padEnd(12)} ${code === 0 ? 'PASS' : 'FAIL'} ${(ms / 1000).toFixed(1)} s`);
process.exit(results.every(([, c]) => c === 0) ? 0 : 1);
