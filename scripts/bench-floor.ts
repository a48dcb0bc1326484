#!/usr/bin/env tsx
/**
 * The compile floor against nbdforge's forced build, in the same run (issue 20 item 1). For each kernel
 * line and flavour it names (the newest kernel of each), with every source cached:
 *   floor   the bare `make -C <headers> M=<dir> modules` of the module's sources inside one builder
 *           container kept for the whole run, tree linked, sources in place and one untimed make beforehand;
 *           one more run with V=1 and a timestamp per line splits it into make's set-up, cc, modpost, link, BTF
 *   build   nbdforge's forced build of the same kernel as the CLI runs it now: in this process (buildOne)
 *           in the builder kept between builds (its creation, by one untimed build first, not counted),
 *           split by its stages; in a container of its own (before); and the whole `nbdforge build --force`
 *   pairs   floor and builds alternate, N times (floor make, builds, floor make, builds, ...): this machine's
 *           load moves between minutes, so each ratio is the median of the per-pair ratios
 *   matrix  (--matrix [N]) the floors of the catalog's first N kernels (default all; each warm: one untimed
 *           make first), summed, against the same forced matrix at --jobs 2 in this process: a container per
 *           kernel, one kept builder per worker, and the builders kept between processes (the CLI's default)
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
import { SharedBuilders } from '../src/builder/shared-builders.ts';
import { keepContainer } from '../src/docker/kept.ts';
import { runMatrix } from '../src/builder/matrix.ts';
import { DirStore } from '../src/artifacts/dir-store.ts';
import { floorPrepare, floorTimed, parseFloor } from './bench-floor-make.ts';
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

/** The floors' container, kept for the whole run: each kernel prepared (and made once, untimed) before it is timed. */
const floorImage = await ctx.containers.ensureImage(family.recipe(ctx, measured[0], module, { oracle: true, patchRules }).image);
const floorBox = await keepContainer(engine, {
  image: floorImage.tag,
  binds: family.recipe(ctx, measured[0], module, { oracle: true, patchRules }).binds,
  tmpfs: { '/work': 'rw,exec,size=2g' },
  labels: { 'nbdforge.role': 'bench' },
  network: 'none',
});
const envOf = (k: Debian12Kernel) => family.recipe(ctx, k, module, { oracle: true, patchRules }).env;
/** Timed makes (and, annotated, the V=1 split) of prepared kernels, in the floors' container. */
async function floorLines(krels: string[], n = 1, annotated = false) {
  const lines: string[] = [];
  await floorBox.exec({ cmd: ['sh', '-c', floorTimed(krels, n, annotated)], onLine: (l) => void lines.push(l) });
  return parseFloor(lines);
}

/** The CLI's builders kept between processes (NBDFORGE_BUILDER_IDLE's default): the in-process builds use the same container `build` does. */
const shared = new SharedBuilders(ctx.containers, { idleSeconds: 60, root: path.join(paths.cache, 'builders') });
interface Forced { wall: number; stages: Partial<Record<Stage, number>> }
/** One forced build in this process: in the shared builder as `build` runs it now, or in a container of its own as before. */
async function forced(k: Debian12Kernel, how: 'shared' | 'own'): Promise<Forced> {
  const marks: Array<[Stage, number]> = [];
  const t0 = performance.now();
  await buildOne(ctx, { family, kernelRelease: k.kernelRelease, module, store, force: true, toolVersion: 'bench', catalog, patchRules, builders: how === 'shared' ? shared : undefined, onStage: (s) => void marks.push([s, performance.now()]) });
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
log(`floors of ${measured.length} kernels prepared, one untimed make each (load ${loadBefore})`);
await floorBox.exec({ cmd: ['sh', '-c', floorPrepare(measured.map(envOf))] });
const rows: string[] = [];
const stageRows: string[] = [];
const STAGES: Stage[] = ['resolve', 'image', 'fetch', 'container', 'unpack-headers', 'extract-source', 'compile', 'oracle', 'collect', 'verify', 'store'];
const ratio = (xs: number[], fs: number[]) => median(xs.map((x, i) => x / fs[i]));
for (const k of picked) {
  log(`${k.kernelRelease}: the shared builder made by an untimed build, then ${runs} pairs of floor + forced builds`);
  await forced(k, 'shared');
  const floors: number[] = [];
  const inproc: Forced[] = [];
  const own: number[] = [];
  const whole: number[] = [];
  for (let i = 0; i < runs; i++) {
    floors.push((await floorLines([k.kernelRelease])).get(k.kernelRelease)!.median);
    inproc.push(await forced(k, 'shared'));
    own.push((await forced(k, 'own')).wall);
    whole.push(await timedCli(['build', '--kernel', k.kernelRelease, '--force']));
  }
  const split = (await floorLines([k.kernelRelease], 0, true)).get(k.kernelRelease)?.split ?? [];
  const walls = inproc.map((x) => x.wall);
  const mid = inproc.find((x) => x.wall === median(walls))!;
  const raw = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
  log(`${k.kernelRelease}: floors ${raw(floors)}; shared ${raw(walls)}; own ${raw(own)}; cli ${raw(whole)}`);
  rows.push(
    `| ${k.line} ${k.flavour} (${k.kernelRelease}) | ${fmt(median(floors))} | ${fmt(median(walls))} = **${ratio(walls, floors).toFixed(2)}x** | ${fmt(median(own))} = ${ratio(own, floors).toFixed(2)}x | ${fmt(median(whole))} = ${ratio(whole, floors).toFixed(2)}x |`,
  );
  stageRows.push(`| ${k.kernelRelease} | ${STAGES.map((s) => (mid.stages[s] ?? 0).toFixed(2)).join(' | ')} | ${split.map(([p, s]) => `${p} ${s.toFixed(2)}`).join(', ')} |`);
}

/** The whole matrix in this process, forced: a container per kernel, one kept builder per worker, or the builders kept between processes. */
async function matrixRun(how: 'own' | 'kept' | 'shared'): Promise<{ s: number; failed: number }> {
  const t0 = performance.now();
  const mode = how === 'own' ? { keep: false } : how === 'shared' ? { shared: { idleSeconds: 60, root: path.join(paths.cache, 'builders') } } : {};
  const res = await runMatrix(ctx, { family, module, store, force: true, toolVersion: 'bench', catalog, patchRules, ...mode }, matrixKernels.map((k) => k.kernelRelease), 2);
  return { s: (performance.now() - t0) / 1000, failed: res.filter((r) => r.status === 'failed').length };
}

let matrixText = '';
if (args.includes('--matrix')) {
  log(`floors of ${matrixKernels.length} kernels, one warm make each (prepared and made once above)`);
  const all = await floorLines(matrixKernels.map((k) => k.kernelRelease));
  const sum = [...all.values()].reduce((n, f) => n + f.median, 0);
  const target = sum / 2;
  const load2 = load();
  log(`matrix of ${matrixKernels.length} kernels, forced, --jobs 2: a container per kernel, kept builders, shared builders (load ${load2})`);
  const a = await matrixRun('own');
  const b = await matrixRun('kept');
  const c = await matrixRun('shared');
  log(`matrix: per kernel ${fmt(a.s)}, kept ${fmt(b.s)}, shared ${fmt(c.s)}`);
  const failed = (x: { failed: number }) => (x.failed ? ` (${x.failed} failed)` : '');
  matrixText = `\nMatrix, same run (load average ${load2} before it): the warm floors of ${matrixKernels.length === catalog.length ? `all ${catalog.length} catalog kernels` : `the catalog's first ${matrixKernels.length} kernels (${matrixKernels[0].kernelRelease} to ${matrixKernels.at(-1)!.kernelRelease})`} sum to ${fmt(sum)}, so 2 cores' floor is ${fmt(target)}.
Forced, \`--jobs 2\`, in this process, one after the other: a container per kernel ${fmt(a.s)} = ${(a.s / target).toFixed(2)}x that floor${failed(a)};
one kept builder per worker ${fmt(b.s)} = ${(b.s / target).toFixed(2)}x${failed(b)}; the builders kept between processes (the CLI's default, both workers in one) ${fmt(c.s)} = **${(c.s / target).toFixed(2)}x**${failed(c)} (goal: at most 1.3x; the CLI adds its start-up and the catalog read, see the build rows).\n`;
}
await floorBox.release();

const section = `<!-- bench:floor -->
## The compile floor against the forced build

Measured ${new Date().toISOString().slice(0, 16)}Z on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), load average before the run ${loadBefore}.
Command: \`npm run bench -- floor${runs !== 3 ? ` --runs ${runs}` : ''}${matrixN ? ` --matrix ${matrixN}` : ''}\` (scripts/bench-floor.ts). Every source cached (derived cache filled by a first, untimed build).
Floor: the bare \`make -C /usr/src/linux-headers-<release> M=<dir> modules\` of nbd.c inside one builder container kept for the run,
tree linked, nbd.c + Kbuild in place and one untimed make beforehand. Forced build: \`buildOne\` with \`force\` in one process, in the
builder kept between builds as \`nbdforge build --force\` runs it now (NBDFORGE_BUILDER_IDLE, default 60 s; its creation, by one
untimed build before the pairs, is not counted); the same in a container of its own per build (before); and the whole \`nbdforge build
--force\` process (start-up included, the same kept builder). Floor and builds alternate, ${runs} pairs (floor make, the three builds,
floor make, ...): each time is the median of ${runs}, each ratio the median of the ${runs} per-pair ratios (build / the floor just before it).

| Line, flavour (kernel) | Floor | Forced build, builder kept between builds (in process, as \`build\` runs it now) | Same, a container of its own (before) | Whole \`nbdforge build --force\` process |
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
