#!/usr/bin/env tsx
/**
 * The compile floor against nbdforge's forced build, in the same run (issue 20 item 1). For each kernel
 * line and flavour it names (the newest kernel of each), with every source cached:
 *   floor   the bare `make -C <headers> M=<dir> modules` of the module's sources inside one builder
 *           container, tree linked and sources in place beforehand (median of N); one more run with
 *           V=1 and a timestamp per line splits it into make's set-up, cc, modpost, link and BTF
 *   build   nbdforge's forced build of the same kernel in this process (buildOne, median of N), split
 *           by its stages, and the whole CLI process (`nbdforge build --force`, median of N)
 *   matrix  (--matrix [N]) the floors of the catalog's first N kernels (default all), summed, against the same
 *           forced matrix at --jobs 2 in this process: a container per kernel (before) and kept builders (now)
 * Writes the section between the bench:floor markers of docs/BENCHMARKS.md.
 * Usage: npm run bench -- floor [--runs 3] [--matrix [N]] [--no-write]
 */
import { $, fs, os, path } from 'zx';
import { writeBenchSection } from './bench-doc.ts';
import { connectEngine } from '../src/docker/engine.ts';
import { dockerContainers, onceImages } from '../src/docker/containers.ts';
import { getFamily } from '../src/families/index.ts';
import { resolvePaths } from '../src/paths.ts';
import { loadModuleSpec } from '../src/module-spec/module-spec.ts';
import { loadPatchRules } from '../src/module-spec/patches.ts';
import { buildOne, type Stage } from '../src/builder/build-one.ts';
import { KeptBuilders } from '../src/builder/kept-builders.ts';
import { runMatrix } from '../src/builder/matrix.ts';
import { DirStore } from '../src/artifacts/dir-store.ts';
import { floorScript, parseFloor, type FloorRun } from './bench-floor-make.ts';
import type { Debian12Kernel } from '../src/families/debian12/catalog.ts';
import { opt, median } from './bench-options.ts';

$.verbose = false;
const args = process.argv.slice(2);
const runs = Number(opt('runs') ?? 3);
const GROUPS = [['6.1', 'amd64'], ['6.12', 'amd64'], ['6.12', 'rt-amd64']] as const;
const paths = resolvePaths(process.env);
const engine = await connectEngine(process.env);
const ctx = { containers: onceImages(dockerContainers(engine)), paths };
const family = getFamily('debian12', process.env);
const catalog = (await family.catalog(ctx)).kernels as Debian12Kernel[];
const module = await loadModuleSpec('nbd');
const patchRules = loadPatchRules(module);
const store = new DirStore(paths.store);
const cli = path.resolve('bin/nbdforge.js');
const log = (s: string) => console.error(`[bench] ${s}`);
const fmt = (x: number) => `${x.toFixed(2)} s`;
const load = () => os.loadavg()[0].toFixed(2);

const picked = GROUPS.map(([line, flavour]) => {
  const k = catalog.filter((x) => x.line === line && x.flavour === flavour).at(-1);
  if (!k) throw new Error(`no ${line} ${flavour} kernel in the catalog`);
  return k;
});
// --matrix N: the catalog's first N kernels (all of them without N) as one matrix, against the sum of their floors.
const matrixN = args.includes('--matrix') ? Number(opt('matrix') && /^\d+$/.test(opt('matrix')!) ? opt('matrix') : catalog.length) : 0;
const matrixKernels = catalog.slice(0, matrixN);
const measured = [...new Set([...matrixKernels, ...picked])];

log(`sources and a first build of ${measured.length} kernels (not timed)`);
for (const k of measured) await family.ensureSources(ctx, k);
// Modules as this checkout builds them: fills the derived cache (kbuild trees, nbd.c, shipped modules) the floors read.
await $`${cli} matrix --jobs 2 --kernels ${measured.map((k) => k.kernelRelease).join(',')}`.nothrow();
for (const k of measured) await family.ensureSources(ctx, k, module);

/** Every floor in one container: the kernels one after the other, `runs` plain makes each plus one annotated. */
async function floors(kernels: Debian12Kernel[], n: number): Promise<Map<string, FloorRun>> {
  const image = await ctx.containers.ensureImage(family.recipe(ctx, kernels[0], module, { oracle: true, patchRules }).image);
  const env = kernels.map((k) => family.recipe(ctx, k, module, { oracle: true, patchRules }).env);
  const lines: string[] = [];
  await ctx.containers.run({
    image: image.tag,
    cmd: ['sh', '-c', floorScript(env, n)],
    binds: family.recipe(ctx, kernels[0], module, { oracle: true, patchRules }).binds,
    tmpfs: { '/work': 'rw,exec,size=2g' },
    labels: { 'nbdforge.role': 'bench' },
    onLine: (l) => void lines.push(l),
  });
  return parseFloor(lines);
}

interface Forced { wall: number; stages: Partial<Record<Stage, number>> }
/** One forced build in this process: in a kept builder as `build` and `matrix` run it (released at the end), or in a container of its own as before. */
async function forced(k: Debian12Kernel, kept: boolean): Promise<Forced> {
  const marks: Array<[Stage, number]> = [];
  const t0 = performance.now();
  const builders = kept ? new KeptBuilders(ctx.containers) : undefined;
  try {
    await buildOne(ctx, { family, kernelRelease: k.kernelRelease, module, store, force: true, toolVersion: 'bench', catalog, patchRules, builders, onStage: (s) => void marks.push([s, performance.now()]) });
  } finally {
    await builders?.release();
  }
  const end = performance.now();
  const stages: Forced['stages'] = {};
  marks.forEach(([s, t], i) => (stages[s] = (stages[s] ?? 0) + ((marks[i + 1]?.[1] ?? end) - t) / 1000));
  return { wall: (end - t0) / 1000, stages };
}

async function timedCli(argv: string[]): Promise<number> {
  const t0 = performance.now();
  const r = await $`${cli} ${argv}`.nothrow();
  if (r.exitCode !== 0) throw new Error(`nbdforge ${argv.join(' ')} failed:\n${r.stderr.slice(-2000)}`);
  return (performance.now() - t0) / 1000;
}

const loadBefore = load();
log(`floors of ${picked.map((k) => k.kernelRelease).join(', ')} (load ${loadBefore})`);
const floor = await floors(picked, runs);
const rows: string[] = [];
const stageRows: string[] = [];
const STAGES: Stage[] = ['resolve', 'image', 'fetch', 'container', 'unpack-headers', 'extract-source', 'compile', 'oracle', 'collect', 'verify', 'store'];
for (const k of picked) {
  log(`forced builds of ${k.kernelRelease}`);
  const inproc: Forced[] = [];
  const own: number[] = [];
  const whole: number[] = [];
  for (let i = 0; i < runs; i++) {
    inproc.push(await forced(k, true));
    own.push((await forced(k, false)).wall);
    whole.push(await timedCli(['build', '--kernel', k.kernelRelease, '--force']));
  }
  const f = floor.get(k.kernelRelease)!;
  const mid = inproc.find((x) => x.wall === median(inproc.map((y) => y.wall)))!;
  const w = median(whole);
  const o = median(own);
  rows.push(`| ${k.line} ${k.flavour} (${k.kernelRelease}) | ${fmt(f.median)} | ${fmt(mid.wall)} = **${(mid.wall / f.median).toFixed(2)}x** | ${fmt(o)} = ${(o / f.median).toFixed(2)}x | ${fmt(w)} = ${(w / f.median).toFixed(2)}x |`);
  stageRows.push(`| ${k.kernelRelease} | ${STAGES.map((s) => (mid.stages[s] ?? 0).toFixed(2)).join(' | ')} | ${f.split.map(([p, s]) => `${p} ${s.toFixed(2)}`).join(', ')} |`);
}

/** The whole matrix in this process, forced: kept builders (one per worker) or a container per kernel. */
async function matrixRun(keep: boolean): Promise<{ s: number; failed: number }> {
  const t0 = performance.now();
  const res = await runMatrix(ctx, { family, module, store, force: true, toolVersion: 'bench', catalog, patchRules, keep }, matrixKernels.map((k) => k.kernelRelease), 2);
  return { s: (performance.now() - t0) / 1000, failed: res.filter((r) => r.status === 'failed').length };
}

let matrixText = '';
if (args.includes('--matrix')) {
  log(`floors of ${matrixKernels.length} kernels, one plain make each`);
  const all = await floors(matrixKernels, 1);
  const sum = [...all.values()].reduce((n, f) => n + f.median, 0);
  const target = sum / 2;
  const load2 = load();
  log(`matrix of ${matrixKernels.length} kernels, forced, --jobs 2: a container per kernel, then kept builders (load ${load2})`);
  const a = await matrixRun(false);
  const b = await matrixRun(true);
  log(`matrix: per kernel ${fmt(a.s)}, kept ${fmt(b.s)}`);
  matrixText = `\nMatrix, same run (load average ${load2} before it): the floors of ${matrixKernels.length === catalog.length ? `all ${catalog.length} catalog kernels` : `the catalog's first ${matrixKernels.length} kernels (${matrixKernels[0].kernelRelease} to ${matrixKernels.at(-1)!.kernelRelease})`} sum to ${fmt(sum)}, so 2 cores' floor is ${fmt(target)}.
Forced, \`--jobs 2\`, in this process: a container per kernel (before) ${fmt(a.s)} = ${(a.s / target).toFixed(2)}x that floor${a.failed ? ` (${a.failed} failed)` : ''};
one kept builder per worker (now) ${fmt(b.s)} = **${(b.s / target).toFixed(2)}x**${b.failed ? ` (${b.failed} failed)` : ''} (goal: at most 1.3x; the CLI adds its start-up and the catalog read, see the build rows).\n`;
}

const section = `<!-- bench:floor -->
## The compile floor against the forced build

Measured ${new Date().toISOString().slice(0, 16)}Z on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), load average before the run ${loadBefore}.
Command: \`npm run bench -- floor${matrixN ? ` --matrix ${matrixN}` : ''}\` (scripts/bench-floor.ts). Every source cached (derived cache filled by a first, untimed build).
Floor: the bare \`make -C /usr/src/linux-headers-<release> M=<dir> modules\` of nbd.c inside one running builder container,
tree linked and nbd.c + Kbuild in place beforehand (median of ${runs}). Forced build: \`buildOne\` with \`force\` in one process
(median of ${runs}; what \`build --force\` does after start-up, its builder container started and released), the same
with a container of its own per build (the way before issue 20, alternating), and the whole \`nbdforge build --force\` process.

| Line, flavour (kernel) | Floor | Forced build, kept builder (in process, as \`build\` runs it now) | Same, a container of its own (before) | Whole \`nbdforge build --force\` process |
|---|---|---|---|---|
${rows.join('\n')}

Stages of the median forced build (s), and the floor's own split (one \`make V=1\` run, each line timestamped: make's
set-up until the first command, cc of nbd.c, modpost, the final link of nbd.ko, BTF by pahole + resolve_btfids where 6.12 does it):

| Kernel | ${STAGES.join(' | ')} | Floor split (s) |
|---|${STAGES.map(() => '---|').join('')}---|
${stageRows.join('\n')}
${matrixText}<!-- /bench:floor -->`;

console.log(section);
if (!args.includes('--no-write')) await writeBenchSection('floor', section, 'prepare-host');
