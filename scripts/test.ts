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
async function uvu(dir: string, pattern: string, env: NodeJS.ProcessEnv = process.env, lane?: string): Promise<number> {
  // a lane's stdout and stderr are kept and printed whole at its end, so two lanes never interleave
  // test/hook-errors.ts: a before/after hook's error printed (uvu itself drops it)
  const p = $({ env, stdio: ['inherit', 'pipe', 'pipe'], verbose: false })`node --import tsx --import ./test/hook-errors.ts node_modules/uvu/bin.js ${dir} ${pattern}`.nothrow();
  if (!lane) {
    p.stdout.on('data', (d: Buffer) => process.stdout.write(d));
    p.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  }
  const r = await p;
  if (lane) process.stdout.write(`\n[test] ${dir} ${lane}:\n${r.stdout}${r.stderr}\n`);
  const plain = r.stdout.replace(/\x1b\[[0-9;]*m/g, '');
  const num = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(plain)?.[1] ?? NaN);
  const [total, passed, skipped] = [num('Total'), num('Passed'), num('Skipped')];
  if (r.exitCode !== 0) {
    failures.push(`${dir}${lane ? ` ${lane}` : ''}:\n${failureExcerpt(plain, r.stderr.replace(/\x1b\[[0-9;]*m/g, ''))}`);
    return r.exitCode ?? 1;
  }
  if (!(total > 0) || passed !== total || skipped !== 0) {
    const hidden = [...plain.matchAll(/^(\S+\.test\.ts)\n[^\n]*\((\d+) \/ (\d+)\)/gm)].filter((m) => m[2] !== m[3]).map((m) => `${m[1]} (${m[2]}/${m[3]})`);
    const line = `[test] ${dir}${lane ? ` ${lane}` : ''}: uvu counted ${total} tests, ${passed} passed, ${skipped} skipped${hidden.length ? `; not all run: ${hidden.join(', ')} (a before-hook failed?)` : ''}: FAIL`;
    console.error(line);
    const hooks = r.stderr.split(/^\[uvu hook\] /m).slice(1).map((h) => `  [uvu hook] ${h.split('\n').slice(0, 12).join('\n')}`);
    failures.push([line, ...hooks.slice(0, 6)].join('\n'));
    return 1;
  }
  return 0;
}

/** What failed in a tier, repeated at the very end of the run (a CI log's tail is what gets read). */
const failures: string[] = [];
function failureExcerpt(out: string, err: string): string {
  const lines = out.split('\n');
  const blocks: string[] = [];
  // uvu's failure blocks: "  FAIL  suite  "test"" then the message, the diff and the stack
  lines.forEach((l, i) => {
    if (!/^\s+FAIL\s/.test(l)) return;
    let j = i + 1;
    while (j < lines.length && j < i + 40 && !/^\s+FAIL\s|^\S+\.test\.ts$|^\s+Total:/.test(lines[j])) j++;
    blocks.push(lines.slice(i, j).join('\n').trimEnd());
  });
  const files = lines.filter((l, i) => /^\S+\.test\.ts$/.test(l) && /✘/.test(lines[i + 1] ?? '')).map((l) => `  file with a failure: ${l}`);
  // no failure block (a crash, "Exiting early"): the output's and stderr's last lines
  const tail = blocks.length ? [] : [...lines.slice(-30), '  stderr:', ...err.split('\n').slice(-30)];
  return [...files, ...blocks.slice(0, 8), ...tail].join('\n').slice(0, 20_000);
}

/**
 * The vm tier's files in lanes run side by side: every guest is QEMU TCG `-smp 1`, so on 2 cores two
 * lanes take about half the wall time. Files are dealt longest first (rough seconds from earlier runs,
 * only for balance; an unknown file counts 90) to the lane with the least so far. Each lane's output
 * is printed whole when the lane ends. NBDFORGE_TEST_LANES=1 runs them one after another.
 */
const VM_WEIGHT: Record<string, number> = { 'kernel-hook-disk': 650, 'prove': 150, 'prove-el7': 120, 'publish-dir': 150, 'map-hostile-host': 150, 'map': 150, 'compose': 120, 'map-hostile-image': 120, 'kernel-hook-dpkg': 90, 'kernel-612': 60, 'kernel-hook': 60, 'prepare-host': 60, 'prepare-host-ssh': 60, 'secure-boot': 60, 'sign': 60, 'map-local': 15 };
async function lanes(dir: string, count: number): Promise<number> {
  const files = (await fs.readdir(dir)).filter((f: string) => f.endsWith('.test.ts')).sort();
  if (count <= 1 || files.length < 2) return uvu(dir, '\\.test\\.ts$');
  const weight = (f: string): number => VM_WEIGHT[f.replace(/\.test\.ts$/, '')] ?? 90;
  const lane: Array<{ files: string[]; sum: number }> = Array.from({ length: count }, () => ({ files: [], sum: 0 }));
  for (const f of [...files].sort((a, b) => weight(b) - weight(a))) {
    const l = lane.reduce((a, b) => (b.sum < a.sum ? b : a));
    l.files.push(f);
    l.sum += weight(f);
  }
  const escape = (f: string): string => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const codes = await Promise.all(
    lane.map(async (l, i) => {
      console.error(`[test] ${dir} lane ${i + 1}/${count}: ${l.files.join(' ')}`);
      return uvu(dir, `^(${l.files.map(escape).join('|')})$`, process.env, `lane ${i + 1}`);
    }),
  );
  return codes.every((c) => c === 0) ? 0 : 1;
}

/** One tier; `label` set means its output is kept and printed whole at its end (another tier runs beside it). */
async function runTier(t: string, label?: string): Promise<number> {
  if (t === 'el7-userland') {
    // bash started as `sh` runs in POSIX mode: CentOS 7's /bin/sh, for the shell-level unit tests
    const bin = path.join(ensureEl7Userland(), 'bin');
    const shDir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-el7-sh-'));
    await fs.symlink(path.join(bin, 'bash'), path.join(shDir, 'sh'));
    // NBDFORGE_EL7_BIN: the kernel hook's kABI test runs kmod 20's own depmod and modprobe from there
    const env = { ...process.env, NBDFORGE_TEST_SH: path.join(shDir, 'sh'), NBDFORGE_EL7_BIN: bin, PATH: `${shDir}:${process.env.PATH}` };
    const u = await uvu('test/unit', '^(host|map)-.*\\.test\\.ts$', env, label);
    const e = await uvu('test/el7-userland', '\\.test\\.ts$', process.env, label);
    await fs.remove(shDir);
    return u === 0 && e === 0 ? 0 : 1;
  }
  if (t === 'vm') return lanes('test/vm', Number(process.env.NBDFORGE_TEST_LANES ?? 2));
  return uvu(`test/${t}`, '\\.test\\.ts$', process.env, label);
}

/**
 * `all` runs the tiers two at a time, pairs measured side by side on 2 cores: unit beside docker (the
 * unit tier is mostly shells and waits, docker mostly the engine's builds), then vm beside el7-userland
 * (two vm lanes and the el7 guests). Each tier's output is printed whole at its end. Paired, the four
 * tiers took about 17 minutes where one after another took about 27 (docs in scripts/vm/README.md).
 * NBDFORGE_TEST_PARALLEL=0 runs them one after another, output streamed.
 */
const paired = tier === 'all' && process.env.NBDFORGE_TEST_PARALLEL !== '0';
const groups: string[][] = paired ? [['unit', 'docker'], ['vm', 'el7-userland']] : tiers.map((t) => [t]);
const results: Array<[string, number, number]> = [];
const running = new Map<string, number>();
// paired tiers print only at their end: a line a minute says what is still running
const beat = setInterval(() => {
  if (running.size > 1) console.error(`[test] still running: ${[...running].map(([t, t0]) => `${t} ${Math.round((Date.now() - t0) / 1000)} s`).join(', ')}`);
}, 60_000);
for (const group of groups) {
  await Promise.all(
    group.map(async (t) => {
      const t0 = Date.now();
      running.set(t, t0);
      if (group.length > 1) console.error(`[test] ${t}: started beside ${group.filter((o) => o !== t).join(', ')}`);
      const code = await runTier(t, group.length > 1 ? t : undefined);
      results.push([t, code, Date.now() - t0]);
      running.delete(t);
    }),
  );
}
clearInterval(beat);
results.sort((a, b) => TIERS.indexOf(a[0]) - TIERS.indexOf(b[0]));
if (failures.length) console.error(`\n[test] what failed:\n${failures.join('\n\n')}\n`);
for (const [t, code, ms] of results) console.error(`[test] ${t.padEnd(12)} ${code === 0 ? 'PASS' : 'FAIL'} ${(ms / 1000).toFixed(1)} s`);
process.exit(results.every(([, c]) => c === 0) ? 0 : 1);
