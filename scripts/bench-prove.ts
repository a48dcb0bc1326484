#!/usr/bin/env tsx
/**
 * What proving costs on top of building: the same debian12 matrix with and without --prove.
 *   0. a first `nbdforge matrix --prove` pass into the bench's own store (fills the store, the
 *      derived cache, the unpacked kernels and the initramfs images: not part of the figures)
 *   1. `nbdforge matrix --force --jobs N` (the baseline), then `nbdforge matrix --prove --force --jobs N`
 *      (every kernel built and booted again); the ratio of the two (goal: the proven matrix of every
 *      debian12 kernel under 15 minutes on 2 cores under TCG)
 *   2. the per-kernel boot-to-verdict time (QEMU start to end) of the proven run
 *   3. a re-run of `nbdforge matrix --prove`: every build and proof a cache hit (no boot)
 * Writes the section between the bench:prove markers of docs/BENCHMARKS.md.
 * Usage: npm run bench -- prove [--kernels a,b | --latest N] [--jobs 2] [--no-write]
 */
import { $, fs, os, path } from 'zx';
import { resolvePaths } from '../src/paths.ts';
import { opt } from './bench-options.ts';

$.verbose = false;
const args = process.argv.slice(2);
const jobs = opt('jobs') ?? '2';
const select = opt('kernels') ? ['--kernels', opt('kernels')!] : opt('latest') ? ['--latest', opt('latest')!] : [];
const store = path.join(resolvePaths(process.env).home, 'bench-prove', 'store');
const cli = path.resolve('bin/nbdforge.js');
const log = (s: string) => console.error(`[bench] ${s}`);
const fmt = (x: number) => `${x.toFixed(1)} s`;
const load = () => os.loadavg()[0].toFixed(2);

interface Proofs { wallMs: number; counts: Record<string, number>; kernels: Array<{ kernelRelease: string; status: string; bootMs: number; reason?: string; qemu?: { version: string; accel: string } }> }
interface Summary { wallMs: number; counts: Record<string, number>; kernels: Array<{ kernelRelease: string; status: string }>; proofs?: Proofs }
async function matrix(extra: string[]): Promise<{ s: number; sum: Summary }> {
  const t = performance.now();
  const r = await $`${cli} matrix --jobs ${jobs} --store ${store} --json ${select} ${extra}`.nothrow();
  const s = (performance.now() - t) / 1000;
  if (!r.stdout.trim()) throw new Error(`nbdforge matrix printed no summary (exit ${r.exitCode}):\n${r.stderr.slice(-2000)}`);
  return { s, sum: JSON.parse(r.stdout) as Summary };
}

log(`first pass: matrix --prove ${select.join(' ')} --jobs ${jobs} into ${store} (load ${load()})`);
const first = await matrix(['--prove']);
const n = first.sum.kernels.length;
log(`first pass: ${n} kernels in ${fmt(first.s)}: ${JSON.stringify(first.sum.counts)} ${JSON.stringify(first.sum.proofs?.counts)}`);
const loadBefore = load();
log(`baseline: matrix --force (load ${loadBefore})`);
const base = await matrix(['--force']);
log(`baseline took ${fmt(base.s)}; proven: matrix --prove --force (load ${load()})`);
const proven = await matrix(['--prove', '--force']);
const loadAfter = load();
log(`proven took ${fmt(proven.s)}: ${JSON.stringify(proven.sum.proofs?.counts)}`);
const again = await matrix(['--prove']);
log(`re-run took ${fmt(again.s)}: ${JSON.stringify(again.sum.proofs?.counts)}`);

const boots = (proven.sum.proofs?.kernels ?? []).map((k) => k.bootMs / 1000).filter((b) => b > 0).sort((a, b) => a - b);
const median = boots.length ? boots[Math.floor(boots.length / 2)] : NaN;
const qemu = proven.sum.proofs?.kernels.find((k) => k.qemu)?.qemu;
const failed = (proven.sum.proofs?.kernels ?? []).filter((k) => k.status !== 'proven');
const perKernel = proven.s / n;
const section = `<!-- bench:prove -->
## prove: the matrix with and without proofs

Measured ${new Date().toISOString().slice(0, 16)}Z on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), load average ${loadBefore} before and ${loadAfter} after
(the machine was shared with other jobs). Command: \`npm run bench -- prove ${[...select, '--jobs', jobs].join(' ')}\` (scripts/bench-prove.ts).
Kernels: ${n} (${first.sum.kernels.map((k) => k.kernelRelease).join(', ')}); ${qemu ? `QEMU ${qemu.version} under ${qemu.accel} (prove's choice)` : 'no proof recorded QEMU'}.

| What | Time | Ratio |
|---|---|---|
| \`nbdforge matrix --force --jobs ${jobs}\` (baseline: build, verify, store) | ${fmt(base.s)} | 1 |
| \`nbdforge matrix --prove --force --jobs ${jobs}\` (the same, then every module booted in its own kernel) | ${fmt(proven.s)} (${perKernel.toFixed(1)} s a kernel) | ${(proven.s / base.s).toFixed(1)} |
| Re-run \`nbdforge matrix --prove\` (every build and proof a cache hit, no boot) | ${fmt(again.s)} | ${(again.s / base.s).toFixed(2)} |

Boot to verdict per kernel (QEMU start to end, ${boots.length} boots at --jobs ${jobs}): median ${fmt(median)}, min ${fmt(boots[0] ?? NaN)}, max ${fmt(boots[boots.length - 1] ?? NaN)}.
At this rate the ${n}-kernel figure extrapolates to ${fmt((proven.s / n) * 36)} for 36 kernels (goal: the whole proven debian12 matrix under 15 minutes).
${failed.length ? `Not proven: ${failed.map((k) => `${k.kernelRelease} (${k.status}: ${k.reason ?? ''})`).join('; ')}.` : `All ${n} proven.`}
<!-- /bench:prove -->`;

console.log(section);
if (!args.includes('--no-write')) {
  const doc = 'docs/BENCHMARKS.md';
  let text = await fs.readFile(doc, 'utf8');
  const re = /<!-- bench:prove -->[\s\S]*<!-- \/bench:prove -->/;
  text = re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}\n`;
  await fs.writeFile(doc, text);
  log(`wrote ${doc}`);
}
process.exit(failed.length ? 1 : 0);
