#!/usr/bin/env tsx
/**
 * Build benchmarks, every figure a ratio against a baseline measured in the same run (the machine is
 * shared and noisy). Writes the section between the bench:build markers of docs/BENCHMARKS.md.
 *   1. one kernel's warm build (sources cached, --force) vs the classic full-tree recipe, same ABI
 *   2. a matrix of the catalog's newest --matrix N kernels (default 6, named in the table) with sources
 *      cached (--force --jobs 2); the whole catalog is scripts/bench-debian12-matrix.ts's
 *   3. a re-run of that finished matrix (every kernel a cache hit)
 * Usage: npm run bench -- build [--kernel 6.1.0-56-amd64] [--matrix 6] [--runs 3] [--no-write]
 */
import { $, fs, path, os } from 'zx';
import { connectEngine } from '../src/docker/engine.ts';
import { dockerContainers } from '../src/docker/containers.ts';
import { ensureImage } from '../src/docker/image.ts';
import { runContainer } from '../src/docker/run.ts';
import { getFamily } from '../src/families/index.ts';
import { resolvePaths } from '../src/paths.ts';
import { opt, median } from './bench-options.ts';

$.verbose = false;
const args = process.argv.slice(2);
const runs = Number(opt('runs') ?? 3);
const paths = resolvePaths(process.env);
const docker = await connectEngine(process.env);
const family = getFamily('debian12', process.env);
const ctx = { containers: dockerContainers(docker), paths };
const { kernels } = await family.catalog(ctx);
const kernel = kernels.find((k) => k.kernelRelease === (opt('kernel') ?? kernels[kernels.length - 1].kernelRelease))!;
// The matrix rows measure a fixed number of kernels whatever the catalog's size, so their goal stays true to what ran.
const matrixN = Number(opt('matrix') ?? 6);
const matrixKernels = kernels.slice(-matrixN).map((k) => k.kernelRelease);
const matrixArgs = ['--latest', String(matrixN)];
const cli = path.resolve('bin/nbdforge.js');
const log = (s: string) => console.error(`[bench] ${s}`);

async function timed(cmd: string[]): Promise<number> {
  const t0 = performance.now();
  const r = await $`${cmd}`.nothrow();
  if (r.exitCode !== 0) throw new Error(`${cmd.join(' ')} failed:\n${r.stderr}`);
  return (performance.now() - t0) / 1000;
}

log(`sources for the ${matrixN} newest kernels and ${kernel.kernelRelease} (not timed)`);
for (const k of kernels.filter((x) => x === kernel || matrixKernels.includes(x.kernelRelease))) await family.ensureSources(ctx, k);
await $`${cli} matrix --jobs 2 ${matrixArgs}`.nothrow();
await $`${cli} build --kernel ${kernel.kernelRelease}`.nothrow();

log(`warm build of ${kernel.kernelRelease}, ${runs} runs`);
const warm: number[] = [];
for (let i = 0; i < runs; i++) warm.push(await timed([cli, 'build', '--kernel', kernel.kernelRelease, '--force']));

const img = await ensureImage(docker, { repo: 'nbdforge/fulltree-bench', contextDir: path.resolve('containers/fulltree'), buildArgs: {}, baseImage: 'debian:bookworm' });
const file = (role: string) => kernel.files.find((f) => f.role === role)!.filename;

/** The classic recipe once, its tree on `where`: 'disk' (a host directory, as a user builds) or 'tmpfs' (its best case). */
async function classic(where: 'disk' | 'tmpfs'): Promise<{ total: number; steps: Record<string, number> }> {
  log(`classic full-tree recipe on the same ABI, tree on ${where} (one run)`);
  const steps: Record<string, number> = {};
  const hostDir = path.join(paths.cache, `bench-fulltree-${process.pid}`);
  if (where === 'disk') await fs.mkdirp(hostDir);
  const t0 = performance.now();
  try {
    await runContainer(docker, {
      image: img.tag,
      cmd: ['/usr/local/lib/nbdforge/fulltree.sh'],
      env: { KREL: kernel.kernelRelease, HEADERS_DEB: file('headers'), SOURCE_DEB: file('source') },
      binds: [`${path.join(paths.cache, 'debian12', 'debs')}:/debs:ro`, ...(where === 'disk' ? [`${hostDir}:/work`] : [])],
      tmpfs: where === 'tmpfs' ? { '/work': 'rw,exec,size=6g' } : undefined,
      labels: { 'nbdforge.role': 'bench' },
      onLine: (l) => {
        const m = /^@@time (\S+) ([\d.]+)/.exec(l);
        if (m) steps[m[1]] = Number(m[2]);
      },
    });
  } finally {
    await fs.remove(hostDir);
  }
  return { total: (performance.now() - t0) / 1000, steps };
}
const onDisk = await classic('disk');
const onTmpfs = await classic('tmpfs');

log(`matrix of ${matrixN} kernels (${matrixKernels.join(', ')}), sources cached, --force --jobs 2`);
const matrix = await timed([cli, 'matrix', '--jobs', '2', '--force', ...matrixArgs]);
log('re-run of the finished matrix');
const rerun: number[] = [];
for (let i = 0; i < runs; i++) rerun.push(await timed([cli, 'matrix', '--jobs', '2', ...matrixArgs]));

const w = median(warm);
const r = median(rerun);
const fmt = (x: number) => `${x.toFixed(2)} s`;
const section = `<!-- bench:build -->
## Build pipeline (debian12)

Measured ${new Date().toISOString().slice(0, 16)}Z on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), load average before the run ${os.loadavg()[0].toFixed(2)}.
Command: \`npm run bench -- build\` (scripts/bench-build.ts). Sources were in the cache for every figure; each ratio's
two sides ran in the same bench run. The whole catalog's matrix is the debian12-matrix section's.

| What | Time | Ratio (same run) | Goal |
|---|---|---|---|
| Warm build of ${kernel.kernelRelease} (\`nbdforge build --force\`, median of ${runs}, whole CLI process incl. verify + store) | ${fmt(w)} | baseline | |
| Classic full-tree recipe, same ABI (extract tree, olddefconfig, modules_prepare, \`make M=drivers/block\`), tree in a host directory as a user builds it | ${fmt(onDisk.total)} | **${(onDisk.total / w).toFixed(1)}x slower** than the warm build | warm build at least 20x faster |
| The same classic recipe with its tree on tmpfs (its best case) | ${fmt(onTmpfs.total)} | **${(onTmpfs.total / w).toFixed(1)}x slower** than the warm build | |
| Matrix of the catalog's ${matrixN} newest kernels (\`nbdforge matrix --force --jobs 2 --latest ${matrixN}\`: ${matrixKernels.join(', ')}) | ${fmt(matrix)} | ${(matrix / w).toFixed(1)}x one warm build | under ${matrixN * 10} s (10 s a kernel) |
| Re-run of that finished matrix (\`nbdforge matrix --latest ${matrixN}\`, all cache hits, median of ${runs}) | ${fmt(r)} | ${(r / w).toFixed(2)}x one warm build | under 2 s |

Full-tree steps on disk: ${Object.entries(onDisk.steps).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')}; on tmpfs: ${Object.entries(onTmpfs.steps).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')}.
See the note below the section for how far these ratios move between runs.
Raw warm runs: ${warm.map(fmt).join(', ')}; raw re-runs: ${rerun.map(fmt).join(', ')}.
<!-- /bench:build -->`;

console.log(section);
if (!args.includes('--no-write')) {
  const doc = 'docs/BENCHMARKS.md';
  let text = (await fs.pathExists(doc)) ? await fs.readFile(doc, 'utf8') : '# Benchmarks\n\nEach figure with the command that reproduces it.\n';
  text = /<!-- bench:build -->[\s\S]*<!-- \/bench:build -->/.test(text)
    ? text.replace(/<!-- bench:build -->[\s\S]*<!-- \/bench:build -->/, section)
    : `${text.trimEnd()}\n\n${section}\n`;
  await fs.writeFile(doc, text);
  log(`wrote ${doc}`);
}
