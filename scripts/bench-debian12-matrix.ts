#!/usr/bin/env tsx
/**
 * The whole debian12 catalog (every line and flavour of kernels/debian12/lines.json) as one matrix:
 *   0. sources of every kernel into the cache (timed apart, with the bytes fetched: not part of the goal)
 *   1. a first `nbdforge matrix` pass (fills the derived cache), then `nbdforge matrix --force --jobs 2`
 *      with sources cached (goal: 5 s a kernel on 2 cores, so the goal follows the catalog: 3 minutes for 36)
 *   2. the re-run of the finished matrix, every kernel a cache hit (goal: under 2 s), median of N
 * Writes the section between the bench:debian12-matrix markers of docs/BENCHMARKS.md.
 * Usage: npm run bench -- debian12-matrix [--runs 3] [--jobs 2] [--no-write]
 */
import { $, fs, os, path } from 'zx';
import { connectEngine } from '../src/docker/engine.ts';
import { dockerContainers } from '../src/docker/containers.ts';
import { getFamily } from '../src/families/index.ts';
import { resolvePaths } from '../src/paths.ts';
import type { Debian12Kernel } from '../src/families/debian12/catalog.ts';
import { opt } from './bench-options.ts';

$.verbose = false;
const args = process.argv.slice(2);
const runs = Number(opt('runs') ?? 3);
const jobs = opt('jobs') ?? '2';
const paths = resolvePaths(process.env);
const ctx = { containers: dockerContainers(await connectEngine(process.env)), paths };
const family = getFamily('debian12', process.env);
const kernels = (await family.catalog(ctx)).kernels as Debian12Kernel[];
const cli = path.resolve('bin/nbdforge.js');
const log = (s: string) => console.error(`[bench] ${s}`);
const fmt = (x: number) => `${x.toFixed(2)} s`;
const load = () => os.loadavg()[0].toFixed(2);

const debs = path.join(paths.cache, 'debian12', 'debs');
const du = async () => Number((await $`du -sb ${debs}`.nothrow()).stdout.split('\t')[0] || 0);
log(`sources for all ${kernels.length} kernels`);
const bytes0 = await du();
let t0 = performance.now();
for (const k of kernels) await family.ensureSources(ctx, k);
const fetchS = (performance.now() - t0) / 1000;
const fetchedMB = ((await du()) - bytes0) / 1e6;

interface Summary { wallMs: number; counts: Record<string, number>; kernels: Array<{ kernelRelease: string; status: string; error?: string }> }
async function matrix(extra: string[]): Promise<{ s: number; sum: Summary }> {
  const t = performance.now();
  const r = await $`${cli} matrix --jobs ${jobs} --json ${extra}`.nothrow();
  const s = (performance.now() - t) / 1000;
  if (!r.stdout.trim()) throw new Error(`nbdforge matrix printed no summary (exit ${r.exitCode}):\n${r.stderr.slice(-2000)}`);
  return { s, sum: JSON.parse(r.stdout) as Summary };
}

// As scripts/bench-build.ts does: one untimed pass fills the derived cache (kbuild trees unpacked, nbd.c
// streamed out of each source tarball, each shipped module pulled out of its image), so the timed
// pass measures builds with every source cached. Its time is reported too.
log(`first pass: matrix --jobs ${jobs} (fills the store and the derived cache; load ${load()})`);
const first = await matrix([]);
log(`first pass took ${fmt(first.s)}: ${JSON.stringify(first.sum.counts)}`);
const loadBefore = load();
log(`matrix of ${kernels.length} kernels, sources cached, --force --jobs ${jobs} (load ${loadBefore})`);
const full = await matrix(['--force']);
log(`matrix took ${fmt(full.s)}: ${JSON.stringify(full.sum.counts)}`);
const rerun: number[] = [];
for (let i = 0; i < runs; i++) rerun.push((await matrix([])).s);
const r = [...rerun].sort((a, b) => a - b)[Math.floor(runs / 2)];

const groups = new Map<string, { n: number; ok: number }>();
for (const k of kernels) {
  const g = groups.get(`${k.line} ${k.flavour}`) ?? { n: 0, ok: 0 };
  g.n++;
  if (full.sum.kernels.find((x) => x.kernelRelease === k.kernelRelease)?.status === 'built') g.ok++;
  groups.set(`${k.line} ${k.flavour}`, g);
}
const failed = full.sum.kernels.filter((k) => k.status === 'failed');
const section = `<!-- bench:debian12-matrix -->
## Full debian12 matrix (every line and flavour)

Measured ${new Date().toISOString().slice(0, 16)}Z on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), load average before the matrix ${loadBefore}
(the machine was shared with other jobs). Command: \`npm run bench -- debian12-matrix\` (scripts/bench-debian12-matrix.ts).
Catalog: ${kernels.length} kernels from kernels/debian12/lines.json. Fetching what the cache lacked took ${fmt(fetchS)} (${fetchedMB.toFixed(0)} MB; not part of the figures below).
A first, untimed-for-the-goal pass (\`nbdforge matrix\`, what the store lacked: ${first.sum.counts.built ?? 0} built, ${first.sum.counts.cached ?? 0} cached, ${first.sum.counts.failed ?? 0} failed) took ${fmt(first.s)}, filling the derived cache.

| What | Time | Goal |
|---|---|---|
| \`nbdforge matrix --force --jobs ${jobs}\`, ${kernels.length} kernels, sources cached (whole CLI process: build, verify against the shipped module, store) | ${fmt(full.s)} (${(full.s / kernels.length).toFixed(1)} s a kernel) | under ${kernels.length * 5} s (5 s a kernel: 3 minutes for 36) |
| Re-run of the finished matrix (\`nbdforge matrix\`, all cache hits, median of ${runs}) | ${fmt(r)} | under 2 s |

Passed (built and verified, oracle included) per line and flavour: ${[...groups].map(([g, v]) => `${g} ${v.ok}/${v.n}`).join(', ')};
in all ${full.sum.counts.built ?? 0} of ${kernels.length}${failed.length ? `; failed: ${failed.map((k) => `${k.kernelRelease} (${(k.error ?? '').split('\n')[0]})`).join('; ')}` : ''}.
Raw re-runs: ${rerun.map(fmt).join(', ')}.
<!-- /bench:debian12-matrix -->`;

console.log(section);
if (!args.includes('--no-write')) {
  const doc = 'docs/BENCHMARKS.md';
  let text = await fs.readFile(doc, 'utf8');
  const re = /<!-- bench:debian12-matrix -->[\s\S]*<!-- \/bench:debian12-matrix -->/;
  text = re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}\n`;
  await fs.writeFile(doc, text);
  log(`wrote ${doc}`);
}
process.exit(failed.length ? 1 : 0);
