#!/usr/bin/env tsx
/**
 * The compile floor against nbdforge's forced build, in the same run (issue 20 item 1). For each kernel
 * line and flavour it names (the newest kernel of each), with every source cached:
 *   floor   the bare `make -C <headers> M=<dir> modules` of the module's sources inside one builder
 *           container, tree linked and sources in place beforehand (median of N); one more run with
 *           V=1 and a timestamp per line splits it into make's set-up, cc, modpost, link and BTF
 *   build   nbdforge's forced build of the same kernel in this process (buildOne, median of N), split
 *           by its stages, and the whole CLI process (`nbdforge build --force`, median of N)
 *   matrix  (--matrix) the floor of every catalog kernel, summed, against `nbdforge matrix --force --jobs 2`
 * Writes the section between the bench:floor markers of docs/BENCHMARKS.md.
 * Usage: npm run bench -- floor [--runs 3] [--matrix] [--no-write]
 */
import { $, fs, os, path } from 'zx';
import { connectEngine } from '../src/docker/engine.ts';
import { dockerContainers, onceImages } from '../src/docker/containers.ts';
import { getFamily } from '../src/families/index.ts';
import { resolvePaths } from '../src/paths.ts';
import { loadModuleSpec } from '../src/build/module-spec.ts';
import { loadPatchRules } from '../src/build/patches.ts';
import { buildOne, type Stage } from '../src/build/build-one.ts';
import { DirStore } from '../src/artifacts/dir-store.ts';
import { floorScript, parseFloor, type FloorRun } from './bench-floor-make.ts';
import type { Debian12Kernel } from '../src/families/debian12/catalog.ts';

$.verbose = false;
const args = process.argv.slice(2);
const opt = (name: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined);
const runs = Number(opt('runs') ?? 3);
const GROUPS = [['6.1', 'amd64'], ['6.12', 'amd64'], ['6.12', 'rt-amd64']] as const;
const paths = resolvePaths(process.env);
const engine = await connectEngine(process.env);
const ctx = { docker: engine, containers: onceImages(dockerContainers(engine)), paths };
const family = getFamily('debian12', process.env);
const catalog = (await family.catalog(ctx)).kernels as Debian12Kernel[];
const module = await loadModuleSpec('nbd');
const patchRules = loadPatchRules(module);
const store = new DirStore(paths.store);
const cli = path.resolve('bin/nbdforge.js');
const log = (s: string) => console.error(`[bench] ${s}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x: number) => `${x.toFixed(2)} s`;
const load = () => os.loadavg()[0].toFixed(2);

const picked = GROUPS.map(([line, flavour]) => {
  const k = catalog.filter((x) => x.line === line && x.flavour === flavour).at(-1);
  if (!k) throw new Error(`no ${line} ${flavour} kernel in the catalog`);
  return k;
});
const measured = args.includes('--matrix') ? catalog : picked;

log(`sources and a first build of ${measured.length} kernels (not timed)`);
for (const k of measured) await family.ensureSources(ctx, k);
await $`${cli} matrix --jobs 2 ${measured.flatMap((k) => ['--kernel', k.kernelRelease])}`.nothrow();

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
async function forced(k: Debian12Kernel): Promise<Forced> {
  const marks: Array<[Stage, number]> = [];
  const t0 = performance.now();
  await buildOne(ctx, { family, kernelRelease: k.kernelRelease, module, store, force: true, toolVersion: 'bench', catalog, patchRules, onStage: (s) => void marks.push([s, performance.now()]) });
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
  const whole: number[] = [];
  for (let i = 0; i < runs; i++) {
    inproc.push(await forced(k));
    whole.push(await timedCli(['build', '--kernel', k.kernelRelease, '--force']));
  }
  const f = floor.get(k.kernelRelease)!;
  const mid = inproc.find((x) => x.wall === median(inproc.map((y) => y.wall)))!;
  const w = median(whole);
  rows.push(`| ${k.line} ${k.flavour} (${k.kernelRelease}) | ${fmt(f.median)} | ${fmt(mid.wall)} = **${(mid.wall / f.median).toFixed(2)}x** | ${fmt(w)} = ${(w / f.median).toFixed(2)}x |`);
  stageRows.push(`| ${k.kernelRelease} | ${STAGES.map((s) => (mid.stages[s] ?? 0).toFixed(2)).join(' | ')} | ${f.split.map(([p, s]) => `${p} ${s.toFixed(2)}`).join(', ')} |`);
}

let matrixText = '';
if (args.includes('--matrix')) {
  log(`floors of all ${catalog.length} kernels, one plain make each`);
  const all = await floors(catalog, 1);
  const sum = [...all.values()].reduce((n, f) => n + f.median, 0);
  log(`matrix --force --jobs 2 over ${catalog.length} kernels (load ${load()})`);
  const m = await timedCli(['matrix', '--force', '--jobs', '2']);
  const target = sum / 2;
  matrixText = `\nMatrix, same run: the floors of all ${catalog.length} catalog kernels sum to ${fmt(sum)}, so 2 cores' floor is ${fmt(target)};
\`nbdforge matrix --force --jobs 2\` (whole CLI process) took ${fmt(m)} = **${(m / target).toFixed(2)}x** that floor (goal: at most 1.3x).\n`;
}

const section = `<!-- bench:floor -->
## The compile floor against the forced build

Measured ${new Date().toISOString().slice(0, 16)}Z on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), load average before the run ${loadBefore}.
Command: \`npm run bench -- floor${args.includes('--matrix') ? ' --matrix' : ''}\` (scripts/bench-floor.ts). Every source cached (derived cache filled by a first, untimed build).
Floor: the bare \`make -C /usr/src/linux-headers-<release> M=<dir> modules\` of nbd.c inside one running builder container,
tree linked and nbd.c + Kbuild in place beforehand (median of ${runs}). Forced build: \`buildOne\` with \`force\` in one process
(median of ${runs}; what \`build --force\` does after start-up), and the whole \`nbdforge build --force\` process.

| Line, flavour (kernel) | Floor | Forced build (in process) | Whole CLI process |
|---|---|---|---|
${rows.join('\n')}

Stages of the median forced build (s), and the floor's own split (one \`make V=1\` run, each line timestamped: make's
set-up until the first command, cc of nbd.c, modpost, the final link of nbd.ko, BTF by pahole + resolve_btfids where 6.12 does it):

| Kernel | ${STAGES.join(' | ')} | Floor split (s) |
|---|${STAGES.map(() => '---|').join('')}---|
${stageRows.join('\n')}
${matrixText}<!-- /bench:floor -->`;

console.log(section);
if (!args.includes('--no-write')) {
  const doc = 'docs/BENCHMARKS.md';
  let text = await fs.readFile(doc, 'utf8');
  const re = /<!-- bench:floor -->[\s\S]*<!-- \/bench:floor -->/;
  text = re.test(text) ? text.replace(re, section) : text.replace('<!-- bench:prepare-host -->', `${section}\n\n<!-- bench:prepare-host -->`);
  await fs.writeFile(doc, text);
  log(`wrote ${doc}`);
}
